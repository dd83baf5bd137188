// The header's chain facts and live updates: new blocks come from /ws; when the socket is down
// the page polls /status every POLL_MS instead and retries the socket every RECONNECT_MS.

import { parseExactJson } from "/static/dom.js";
import { api } from "/static/explorer/api.js";
import { shortHash } from "/static/explorer/format.js";

const POLL_MS = 2000;
const RECONNECT_MS = 5000;

export const chain = { height: 0, announced: 0, chainId: "", appHash: "" };
/** Called with each new block; the router clears them when the view changes. */
export const blockListeners = new Set();

function setChainHead({ height, chainId, appHash }) {
  if (chainId) {
    chain.chainId = chainId;
    document.getElementById("chain-id").textContent = chainId;
  }
  if (typeof height === "number" && height >= chain.height) {
    chain.height = height;
    const link = document.getElementById("chain-height");
    link.textContent = String(height);
    link.href = height > 0 ? `#/block/${height}` : "#/";
  }
  if (appHash) {
    chain.appHash = appHash;
    const el = document.getElementById("app-hash");
    el.textContent = shortHash(appHash, 8);
    el.title = appHash;
  }
}

export function setLive(state, text) {
  const live = document.getElementById("live");
  if (live.dataset.state === state) return;
  live.dataset.state = state;
  document.getElementById("live-text").textContent = text;
}

/** A new committed block, from the socket or found by polling (resync: height only). */
function announceBlock(block) {
  if (block.height <= chain.announced) return;
  chain.announced = block.height;
  setChainHead({ height: block.height, appHash: block.app_hash });
  for (const listener of blockListeners) listener(block);
}

export async function refreshStatus() {
  const status = await api("/status");
  setChainHead({ height: status.height, chainId: status.chain_id, appHash: status.app_hash });
  return status;
}

/** Polling and reconnecting know only the latest height; announceBlock ignores old ones. */
async function catchUp() {
  const status = await refreshStatus();
  announceBlock({ height: status.height, app_hash: status.app_hash, resync: true });
}

let socket = null;
let pollTimer = null;
let reconnectTimer = null;

export function connectLive() {
  clearTimeout(reconnectTimer);
  if (!("WebSocket" in window)) return startPolling();
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  try {
    socket = new WebSocket(url);
  } catch {
    return startPolling();
  }
  socket.addEventListener("open", async () => {
    stopPolling();
    setLive("live", "Live");
    // Blocks committed while the socket was down never reach it: catch up once.
    catchUp().catch(() => {}); // on failure the next block message brings the header up to date
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = parseExactJson(event.data);
    } catch {
      return;
    }
    if (message?.type === "block") announceBlock(message);
  });
  socket.addEventListener("close", () => {
    socket = null;
    startPolling();
    reconnectTimer = setTimeout(connectLive, RECONNECT_MS);
  });
}

function startPolling() {
  if (pollTimer) return;
  setLive("polling", "Polling");
  const poll = async () => {
    try {
      await catchUp();
      setLive("polling", "Polling");
    } catch {
      setLive("offline", "Offline");
    }
  };
  poll();
  pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}
