// citychain explorer: hash-routed views over the node's JSON API (citychain/node/api.py).
//
// Routes: #/ (latest blocks), #/block/<height>, #/tx/<hash>, #/account/<address>,
// #/search/<term>. Live updates come from /ws; when the socket is down the page polls
// /status every POLL_MS instead and retries the socket every RECONNECT_MS.
//
// Every value from the node reaches the page through textContent (the h() helper below), never
// innerHTML, so a memo or an event attribute cannot inject markup.

const POLL_MS = 2000;
const RECONNECT_MS = 5000;
const LATEST_BLOCKS = 20;
const TX_DETAILS_PER_BLOCK = 50;
const ACCOUNT_TXS = 25;

// Decimal places per denomination (genesis bank.denoms[].decimals). The API does not publish
// them yet, so the explorer knows the city currency's; other denominations show minor units.
const DECIMALS = { ccy: 2 };
const FEE_DENOM = "ccy"; // genesis bank.params.fee_denom

const MESSAGE_TITLES = {
  "bank/send": "Payment",
  "bank/multi_send": "Payment to several recipients",
  "bank/mint": "Mint",
  "bank/burn": "Burn",
  "bank/set_tier": "Set wallet tier",
  "bank/create_request": "Payment request",
  "bank/pay_request": "Pay a request",
  "bank/cancel_request": "Cancel a request",
  "bank/refund": "Refund",
};

const FIELD_LABELS = {
  recipient: "Recipient",
  sender: "Sender",
  denom: "Denomination",
  amount: "Amount",
  outputs: "Outputs",
  account: "Account",
  tier: "Tier",
  memo: "Memo",
  expiry_height: "Expires at height",
  payer: "Payer",
  request_id: "Request",
  issuer: "Issuer",
  verifier: "Verifier",
  merchant: "Merchant",
  id: "Id",
};

const ADDRESS_RE = /^city1[02-9ac-hj-np-z]{20,90}$/;
const HASH_RE = /^[0-9a-fA-F]{64}$/;

// --- DOM helpers ---------------------------------------------------------------------------

/** Build an element; strings become text nodes, null/false children are skipped. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function shortHash(hex, keep = 10) {
  const s = String(hex);
  return s.length > keep * 2 + 1 ? `${s.slice(0, keep)}…${s.slice(-6)}` : s;
}

function hashText(hex, { full = false } = {}) {
  return h("span", { class: "mono", title: hex }, full ? hex : shortHash(hex));
}

function blockLink(height) {
  return h("a", { href: `#/block/${height}` }, String(height));
}

function txLink(hash, { full = false } = {}) {
  return h("a", { class: "mono", href: `#/tx/${hash}`, title: hash }, full ? hash : shortHash(hash));
}

function accountLink(address, { full = false } = {}) {
  if (!address) return h("span", { class: "muted" }, "—");
  return h(
    "a",
    { class: "mono", href: `#/account/${address}`, title: address },
    full ? address : shortHash(address, 12),
  );
}

function copyButton(value, what) {
  const button = h("button", { type: "button", class: "copy", "aria-label": `Copy ${what}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => (button.textContent = "Copy"), 1500);
  });
  return button;
}

function badge(ok, text) {
  return h("span", { class: `badge ${ok ? "badge-ok" : "badge-bad"}` }, text);
}

function facts(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows.filter(Boolean).map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))),
  );
}

function table(caption, headings, rows, { empty = "Nothing here yet.", id } = {}) {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { id },
      h("caption", { class: "sr-only" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headings.map((t) =>
            Array.isArray(t) ? h("th", { scope: "col", class: t[1] }, t[0]) : h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

// --- formatting ----------------------------------------------------------------------------

/** An integer amount in minor units as "1,234.56 ccy"; exact for amounts up to 2^64. */
export function formatAmount(amount, denom) {
  const decimals = DECIMALS[denom] ?? 0;
  let digits;
  try {
    digits = BigInt(amount).toString();
  } catch {
    return `${amount} ${denom ?? ""}`.trim();
  }
  const negative = digits.startsWith("-");
  if (negative) digits = digits.slice(1);
  digits = digits.padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = decimals ? `.${digits.slice(-decimals)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}${denom ? ` ${denom}` : ""}`;
}

function pad2(n) {
  return String(n).padStart(2, "0");
}

/** Block time in the viewer's local time, "2026-05-01 14:03:07". */
function formatTime(ms) {
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return "—";
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  );
}

function timeText(ms) {
  return h("time", { datetime: new Date(Number(ms)).toISOString() }, formatTime(ms));
}

function titleOf(type) {
  return MESSAGE_TITLES[type] ?? type;
}

function labelOf(field) {
  return FIELD_LABELS[field] ?? field.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

// --- API -----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** JSON.parse that keeps integers beyond 2^53 exact (as BigInt): balances are u64. */
function parseJson(text) {
  return JSON.parse(text, (_key, value, context) => {
    if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source) {
      if (/^-?\d+$/.test(context.source)) return BigInt(context.source);
    }
    return value;
  });
}

async function fetchText(path) {
  let response;
  try {
    response = await fetch(path, { headers: { accept: "application/json" } });
  } catch {
    throw new ApiError(0, "The node did not answer. Check that it is running, then try again.");
  }
  const text = await response.text();
  if (!response.ok) {
    let message = `The node answered ${response.status}.`;
    try {
      message = JSON.parse(text).error?.message ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return text;
}

async function api(path) {
  return parseJson(await fetchText(path));
}

// --- header and live updates ---------------------------------------------------------------

const chain = { height: 0, announced: 0, chainId: "", appHash: "" };
const blockListeners = new Set();

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

function setLive(state, text) {
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

async function refreshStatus() {
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

function connectLive() {
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
      message = parseJson(event.data);
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

// --- views ---------------------------------------------------------------------------------

async function homeView(ctx) {
  const [{ blocks }, supply, status] = await Promise.all([
    api(`/blocks?limit=${LATEST_BLOCKS}`),
    api("/bank/supply"),
    refreshStatus(),
  ]);

  const tbody = h("tbody", {}, blocks.map(blockRow));
  const blocksTable = h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { id: "latest-blocks" },
      h("caption", { class: "sr-only" }, "Latest blocks, newest first"),
      h(
        "thead",
        {},
        h("tr", {}, ["Height", "Time", "Txs", "Hash"].map((t) => h("th", { scope: "col" }, t))),
      ),
      tbody,
    ),
  );
  const emptyNote = h(
    "p",
    { class: "muted empty", hidden: blocks.length > 0 },
    "No blocks yet: the chain makes one when the first transaction arrives.",
  );

  ctx.onBlock(async (block) => {
    if (block.resync || !block.hash) {
      // Polling only knows the new height: reload the list.
      const fresh = await api(`/blocks?limit=${LATEST_BLOCKS}`);
      if (!ctx.current()) return;
      tbody.replaceChildren(...fresh.blocks.map(blockRow));
      emptyNote.hidden = fresh.blocks.length > 0;
    } else if (block.height !== Number(tbody.rows[0]?.dataset.height ?? 0) + 1) {
      // A gap (the socket drops blocks for slow readers): reload rather than mis-order.
      const fresh = await api(`/blocks?limit=${LATEST_BLOCKS}`);
      if (!ctx.current()) return;
      tbody.replaceChildren(...fresh.blocks.map(blockRow));
      emptyNote.hidden = fresh.blocks.length > 0;
    } else {
      const row = blockRow(block);
      row.classList.add("fresh");
      tbody.prepend(row);
      while (tbody.rows.length > LATEST_BLOCKS) tbody.lastElementChild.remove();
      emptyNote.hidden = true;
    }
    refreshSide();
  });

  const supplyList = h("dl", { class: "facts", id: "supply" });
  const fillSupply = (s) =>
    supplyList.replaceChildren(
      ...Object.entries(s.supply).map(([denom, amount]) =>
        h("div", {}, h("dt", {}, denom), h("dd", { class: "amount" }, formatAmount(amount, denom))),
      ),
    );
  const nodeFacts = h("div");
  const fillNode = (st) =>
    nodeFacts.replaceChildren(
      facts([
        ["Chain", st.chain_id],
        ["Validator", st.validator?.name ?? "—"],
        ["Engine", st.engine ?? "—"],
        ["Mempool", `${st.mempool_size} pending`],
      ]),
    );
  const refreshSide = async () => {
    try {
      const [freshSupply, freshStatus] = await Promise.all([api("/bank/supply"), api("/status")]);
      if (!ctx.current()) return;
      fillSupply(freshSupply);
      fillNode(freshStatus);
    } catch {
      // keep the last figures
    }
  };
  fillSupply(supply);
  fillNode(status);

  return h(
    "div",
    { class: "home" },
    h(
      "section",
      { class: "card blocks-card" },
      h(
        "div",
        { class: "card-head" },
        h("h1", { tabindex: "-1" }, "Latest blocks"),
        h("span", { class: "muted small" }, "updates as blocks are committed"),
      ),
      blocksTable,
      emptyNote,
    ),
    h(
      "aside",
      { class: "side" },
      section("Money supply", supplyList),
      section("Node", nodeFacts),
    ),
  );
}

function blockRow(block) {
  return h(
    "tr",
    { "data-height": block.height },
    h("td", {}, blockLink(block.height)),
    h("td", {}, timeText(block.time_ms)),
    h("td", { class: "num" }, String(block.num_txs)),
    h("td", {}, h("a", { class: "mono", href: `#/block/${block.height}`, title: block.hash, tabindex: "-1" }, shortHash(block.hash, 12))),
  );
}

async function blockView(ctx, heightText) {
  if (!/^\d+$/.test(heightText)) {
    throw new ApiError(400, `“${heightText}” is not a block height: use a whole number like 12.`);
  }
  const height = Number(heightText);
  const block = await api(`/blocks/${height}`);
  const header = block.header;
  const hashes = block.txs ?? [];

  const details = await Promise.all(
    hashes.slice(0, TX_DETAILS_PER_BLOCK).map((hash) => api(`/txs/${hash}`).catch(() => null)),
  );
  const rows = hashes.map((hash, i) => {
    const tx = details[i];
    const ok = tx ? tx.result.code === 0 : null;
    return h(
      "tr",
      {},
      h("td", { class: "num" }, String(i + 1)),
      h("td", {}, txLink(hash)),
      h("td", {}, tx ? describeTx(tx) : h("span", { class: "muted" }, "—")),
      h("td", {}, tx?.tx ? accountLink(tx.tx.sender) : h("span", { class: "muted" }, "—")),
      h("td", {}, ok === null ? "" : badge(ok, ok ? "OK" : `Failed (${tx.result.code})`)),
    );
  });

  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Neighbouring blocks" },
    height > 1 ? h("a", { href: `#/block/${height - 1}`, rel: "prev" }, `← Block ${height - 1}`) : h("span"),
    h("a", { href: `#/block/${height + 1}`, rel: "next", hidden: height >= chain.height }, `Block ${height + 1} →`),
  );
  const next = pager.querySelector('[rel="next"]');
  ctx.onBlock((b) => {
    if (b.height > height) next.hidden = false;
  });

  return h(
    "div",
    {},
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Latest blocks"), " / ", `Block ${height}`),
    h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h1", { tabindex: "-1" }, `Block ${height}`), pager),
      facts([
        ["Hash", [hashText(block.hash, { full: true }), copyButton(block.hash, "block hash")]],
        ["Time", timeText(block.time_ms)],
        ["Transactions", String(block.num_txs)],
        ["Chain", header.chain_id],
        [
          "Previous block",
          height > 1
            ? h("a", { class: "mono", href: `#/block/${height - 1}`, title: header.prev_hash }, shortHash(header.prev_hash, 12))
            : hashText(header.prev_hash),
        ],
        ["App hash", hashText(header.app_hash, { full: true })],
        ["Transactions hash", hashText(header.txs_hash, { full: true })],
        ["Results hash", hashText(header.results_hash, { full: true })],
        [
          header.engine === "cometbft" ? "Proposer address" : "Proposer key",
          hashText(header.proposer, { full: true }),
        ],
      ]),
      h(
        "details",
        { class: "raw" },
        h("summary", {}, "Signature and header bytes"),
        facts([
          [
            "Signature",
            header.engine === "cometbft"
              ? "the validators' commit signatures are in CometBFT's block store (a proof bundle carries them)"
              : h("span", { class: "mono wrap-any" }, block.signature),
          ],
          ["Header bytes", h("span", { class: "mono wrap-any" }, block.header_bytes)],
        ]),
      ),
    ),
    section(
      `Transactions (${hashes.length})`,
      table("Transactions in this block", ["#", "Hash", "What", "Sender", "Status"], rows, {
        empty: "This block has no transactions.",
        id: "block-txs",
      }),
      hashes.length > TX_DETAILS_PER_BLOCK
        ? h("p", { class: "muted small" }, `Details shown for the first ${TX_DETAILS_PER_BLOCK}.`)
        : null,
    ),
  );
}

/** One line for a transaction: "Payment of 123.45 ccy to city1…". */
function describeTx(tx) {
  const messages = tx.tx?.messages ?? [];
  if (!messages.length) return h("span", { class: "muted" }, "unreadable transaction");
  const first = messages[0];
  const body = first.body ?? {};
  const parts = [titleOf(first.type)];
  if (body.amount !== undefined && body.denom) parts.push(` of ${formatAmount(body.amount, body.denom)}`);
  const target = body.recipient ?? body.account;
  const line = h("span", {}, parts.join(""));
  if (target) append(line, [" to ", accountLink(target)]);
  if (messages.length > 1) append(line, [h("span", { class: "muted" }, ` and ${messages.length - 1} more`)]);
  return line;
}

async function txView(ctx, hash) {
  if (!HASH_RE.test(hash)) {
    throw new ApiError(400, "A transaction hash is 64 hexadecimal characters.");
  }
  const tx = await api(`/txs/${hash.toLowerCase()}`);
  const block = await api(`/blocks/${tx.height}`).catch(() => null);
  const result = tx.result;
  const ok = result.code === 0;
  const body = tx.tx;

  const status = ok
    ? h("p", { class: "status status-ok", id: "tx-status" }, badge(true, "Success"), " Committed and applied.")
    : h(
        "div",
        { class: "status status-bad", id: "tx-status", role: "alert" },
        h("p", {}, badge(false, "Failed"), ` Code ${result.code}${result.codespace ? ` in ${result.codespace}` : ""}.`),
        result.log ? h("p", { class: "log" }, result.log) : null,
        h("p", { class: "muted small" }, "A failed transaction stays in its block; only its fee is charged."),
      );

  const summary = facts([
    ["Hash", [hashText(tx.hash, { full: true }), copyButton(tx.hash, "transaction hash")]],
    ["Block", [blockLink(tx.height), h("span", { class: "muted" }, ` · transaction ${tx.index + 1} of the block`)]],
    block ? ["Time", timeText(block.time_ms)] : null,
    body ? ["Sender", accountLink(body.sender, { full: true })] : null,
    body ? ["Fee", formatAmount(body.fee, FEE_DENOM)] : null,
    body ? ["Nonce", String(body.nonce)] : null,
    body?.memo ? ["Memo", body.memo] : null,
    body?.expiry_height ? ["Valid until height", String(body.expiry_height)] : null,
    result.data ? ["Result data", hashText(result.data, { full: true })] : null,
  ]);

  const messages = (body?.messages ?? []).map((m, i) =>
    h(
      "article",
      { class: "message" },
      h("h3", {}, titleOf(m.type), " ", h("span", { class: "type-tag" }, m.type)),
      m.body ? fieldList(m.body) : h("p", { class: "muted" }, `Message ${i + 1} could not be decoded.`),
    ),
  );

  const events = result.events.map((e) =>
    h("article", { class: "event" }, h("h3", {}, h("span", { class: "type-tag" }, e.type)), fieldList(e.attributes)),
  );

  return h(
    "div",
    {},
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: "#/" }, "Latest blocks"),
      " / ",
      h("a", { href: `#/block/${tx.height}` }, `Block ${tx.height}`),
      " / ",
      "Transaction",
    ),
    h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h1", { tabindex: "-1" }, body ? titleOf(body.messages[0]?.type) : "Transaction")),
      status,
      storyOf(result.events),
      summary,
    ),
    section(`Messages (${messages.length})`, messages.length ? messages : h("p", { class: "muted" }, "The transaction could not be decoded.")),
    section(`Events (${events.length})`, events.length ? events : h("p", { class: "muted empty" }, "No events.")),
    h(
      "details",
      { class: "card raw" },
      h("summary", {}, "Raw transaction (hex)"),
      h("p", { class: "mono wrap-any" }, tx.raw),
    ),
  );
}

// What each bank event moves: [from, to] attribute names (either may be absent).
const MOVES = {
  transfer: ["sender", "recipient"],
  mint: [null, "recipient"],
  burn: ["issuer", null],
  request_paid: ["payer", "merchant"],
  refund: ["merchant", "payer"],
};

/** Plain sentences for the money a transaction moved: "A paid 1.00 ccy to B." */
function storyOf(events) {
  const lines = [];
  for (const e of events) {
    const a = e.attributes;
    const amount = a.amount !== undefined ? h("strong", { class: "amount" }, formatAmount(a.amount, a.denom)) : null;
    if (e.type === "transfer") lines.push([accountLink(a.sender), " paid ", amount, " to ", accountLink(a.recipient), "."]);
    else if (e.type === "mint") lines.push([accountLink(a.issuer), " minted ", amount, " for ", accountLink(a.recipient), "."]);
    else if (e.type === "burn") lines.push([accountLink(a.issuer), " burned ", amount, "."]);
    else if (e.type === "request_paid") lines.push([accountLink(a.payer), " paid ", amount, " to merchant ", accountLink(a.merchant), "."]);
    else if (e.type === "refund") lines.push([accountLink(a.merchant), " refunded ", amount, " to ", accountLink(a.payer), "."]);
    else if (e.type === "payment_request") lines.push([accountLink(a.merchant), " asked for ", amount, "."]);
    else if (e.type === "set_tier") lines.push([accountLink(a.verifier), " set ", accountLink(a.account), ` to wallet tier ${a.tier}.`]);
  }
  if (!lines.length) return null;
  return h("ul", { class: "story", id: "tx-story" }, lines.map((line) => h("li", {}, line)));
}

/** How the events change ``address``'s balances: [{denom, delta (BigInt), other}]. */
function movesFor(events, address) {
  const out = [];
  for (const e of events) {
    const rule = MOVES[e.type];
    if (!rule || e.attributes.amount === undefined) continue;
    const [fromKey, toKey] = rule;
    const from = fromKey ? e.attributes[fromKey] : null;
    const to = toKey ? e.attributes[toKey] : null;
    const amount = BigInt(e.attributes.amount);
    if (from === address && to === address) continue;
    if (from === address) out.push({ denom: e.attributes.denom, delta: -amount, other: to });
    else if (to === address) out.push({ denom: e.attributes.denom, delta: amount, other: from });
  }
  return out;
}

/** The fields of a message body or event: addresses link, amounts use their denomination. */
function fieldList(fields) {
  const denom = typeof fields.denom === "string" ? fields.denom : undefined;
  return h(
    "dl",
    { class: "facts fields" },
    Object.entries(fields).map(([name, value]) =>
      h("div", { "data-field": name }, h("dt", {}, labelOf(name)), h("dd", {}, renderValue(name, value, denom))),
    ),
  );
}

function renderValue(name, value, denom) {
  if (value === null || value === undefined || value === "") return h("span", { class: "muted" }, "—");
  if (name === "amount" && (typeof value === "number" || typeof value === "bigint")) {
    return h("span", { class: "amount" }, formatAmount(value, denom));
  }
  if (Array.isArray(value)) {
    // multi_send outputs: [[address, amount], ...]
    return h(
      "ul",
      { class: "plain" },
      value.map((item) =>
        Array.isArray(item) && item.length === 2 && typeof item[0] === "string" && ADDRESS_RE.test(item[0])
          ? h("li", {}, accountLink(item[0]), " ", h("span", { class: "amount" }, formatAmount(item[1], denom)))
          : h("li", {}, renderValue("", item, denom)),
      ),
    );
  }
  if (typeof value === "string" && ADDRESS_RE.test(value)) return accountLink(value, { full: true });
  if (typeof value === "string" && /^[0-9a-f]{16,}$/.test(value)) return hashText(value, { full: true });
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") return h("code", {}, JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
  return String(value);
}

async function accountView(ctx, address) {
  const path = `/accounts/${encodeURIComponent(address)}`;
  const [account, { txs }] = await Promise.all([api(path), api(`${path}/txs?limit=${ACCOUNT_TXS}`)]);
  // The summaries carry no amounts; the receipts' events do.
  const receipts = await Promise.all(txs.map((t) => api(`/txs/${t.hash}`).catch(() => null)));

  const balanceRows = Object.entries(account.balances).map(([denom, amount]) =>
    h(
      "tr",
      { "data-denom": denom },
      h("th", { scope: "row" }, denom),
      h("td", { class: "num amount" }, formatAmount(amount, denom)),
      h("td", { class: "actions" }, proofButton(address, denom)),
    ),
  );

  const txRows = txs.map((t, i) => {
    const ok = t.code === 0;
    const receipt = receipts[i];
    const moves = receipt ? movesFor(receipt.result.events, address) : [];
    const what = t.types.map(titleOf).join(", ") || "—";
    const others = [...new Set(moves.map((m) => m.other).filter(Boolean))];
    const outgoing = moves.some((m) => m.delta < 0n) || (!moves.length && t.sender === address);
    const counterparty = others.length
      ? [outgoing ? "to " : "from ", accountLink(others[0]), others.length > 1 ? ` +${others.length - 1}` : ""]
      : t.sender !== address
        ? ["from ", accountLink(t.sender)]
        : null;
    return h(
      "tr",
      {},
      h("td", {}, blockLink(t.height)),
      h("td", {}, h("span", {}, what), counterparty ? h("span", { class: "muted" }, " ", counterparty) : null),
      h(
        "td",
        { class: "num" },
        moves.length
          ? moves.map((m) =>
              h(
                "div",
                { class: `amount ${m.delta < 0n ? "out" : "in"}` },
                `${m.delta < 0n ? "−" : "+"}${formatAmount(m.delta < 0n ? -m.delta : m.delta, m.denom)}`,
              ),
            )
          : h("span", { class: "muted" }, "—"),
      ),
      h("td", {}, badge(ok, ok ? "OK" : `Failed (${t.code})`)),
      h("td", {}, txLink(t.hash)),
    );
  });

  // Refresh when a new block touches this account (socket events name it), or on any new
  // height when polling (no events then).
  ctx.onBlock((block) => {
    const touched =
      block.resync || (block.txs ?? []).some((t) => JSON.stringify(t.events ?? []).includes(`"${address}"`));
    if (touched) ctx.rerender();
  });

  const roles = account.roles.length
    ? h("ul", { class: "chips" }, account.roles.map((r) => h("li", {}, r)))
    : h("span", { class: "muted" }, "none");

  const headline = Object.entries(account.balances).map(([denom, amount]) =>
    h("p", { class: "headline-amount", "data-denom": denom }, formatAmount(amount, denom)),
  );

  return h(
    "div",
    {},
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Latest blocks"), " / ", "Account"),
    h(
      "section",
      { class: "card" },
      h(
        "div",
        { class: "card-head" },
        h("h1", { tabindex: "-1" }, "Account"),
        account.frozen ? badge(false, "Frozen") : null,
      ),
      h(
        "p",
        { class: "address-line" },
        h("span", { class: "mono", id: "account-address" }, address),
        copyButton(address, "address"),
      ),
      h("div", { class: "account-grid" },
        h("div", { class: "headline" }, h("p", { class: "headline-label" }, "Balance"), headline),
        facts([
          ["Wallet tier", `${account.tier_name} (tier ${account.tier})`],
          ["Nonce", `${account.nonce} (transactions sent)`],
          ["Roles", roles],
          ["Frozen", account.frozen ? badge(false, "Yes: cannot send or receive") : "No"],
          ["As of block", blockLink(account.height)],
        ]),
      ),
    ),
    section(
      "Balances and proofs",
      table("Balances", ["Denomination", ["Balance", "num"], ["Proof", "num"]], balanceRows, {
        empty: "No denominations.",
        id: "balances",
      }),
      h(
        "p",
        { class: "muted small" },
        "A balance proof is a Merkle proof of this balance against the signed block header; ",
        "anyone can check it offline with the citychain SDK (verify_bundle).",
      ),
    ),
    section(
      "Recent transactions",
      table(
        "Recent transactions of this account, newest first",
        ["Block", "What", ["Amount", "num"], "Status", "Transaction"],
        txRows,
        { empty: "No transactions yet.", id: "account-txs" },
      ),
      h("p", { class: "muted small" }, "Amounts exclude the sender’s fee."),
    ),
  );
}

function proofButton(address, denom) {
  const button = h("button", { type: "button", class: "secondary" }, "Download balance proof");
  button.setAttribute("aria-label", `Download ${denom} balance proof`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    const label = button.textContent;
    button.textContent = "Preparing…";
    try {
      // Saved byte for byte as the node sent it: re-serialising could round large integers.
      const text = await fetchText(
        `/accounts/${encodeURIComponent(address)}/balances/${encodeURIComponent(denom)}?prove=true`,
      );
      const height = parseJson(text).height;
      const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      const link = h("a", { href: url, download: `balance-proof-${address}-${denom}-h${height}.json`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      button.textContent = label;
    } catch (error) {
      button.textContent = "Proof unavailable";
      button.title = error.message;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

async function searchView(ctx, term) {
  const q = term.trim();
  if (!q) return navigate("#/", { replace: true });
  let found;
  try {
    found = await api(`/search/${encodeURIComponent(q)}`);
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      throw new ApiError(404, `Nothing matches “${q}”.`);
    }
    throw error;
  }
  document.getElementById("search-input").value = "";
  navigate(`#/${found.kind}/${found.id}`, { replace: true });
  return null;
}

// --- router --------------------------------------------------------------------------------

const ROUTES = [
  [/^#?\/?$/, homeView],
  [/^#\/block\/([^/]+)$/, blockView],
  [/^#\/tx\/([^/]+)$/, txView],
  [/^#\/account\/([^/]+)$/, accountView],
  [/^#\/search\/(.*)$/, searchView],
];

let renderSeq = 0;

function navigate(hash, { replace = false } = {}) {
  if (replace) location.replace(hash);
  else location.hash = hash;
}

async function render({ quiet = false } = {}) {
  const seq = ++renderSeq;
  blockListeners.clear();
  const view = document.getElementById("view");
  const hash = location.hash || "#/";
  let match = null;
  let handler = notFoundView;
  for (const [pattern, fn] of ROUTES) {
    match = hash.match(pattern);
    if (match) {
      handler = fn;
      break;
    }
  }
  const arg = match?.[1] !== undefined ? decodeURIComponent(match[1]) : hash;
  const ctx = {
    current: () => seq === renderSeq,
    onBlock: (fn) => {
      const wrapped = (block) => {
        if (seq === renderSeq) Promise.resolve(fn(block)).catch(() => {});
      };
      blockListeners.add(wrapped);
    },
    rerender: () => render({ quiet: true }),
  };

  if (!quiet) {
    view.setAttribute("aria-busy", "true");
    view.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  }
  let content;
  try {
    content = await handler(ctx, arg);
  } catch (error) {
    content = errorView(error, arg);
  }
  if (seq !== renderSeq || content === null || content === undefined) return;
  view.replaceChildren(content);
  view.setAttribute("aria-busy", "false");
  document.title = `${content.querySelector("h1")?.textContent ?? "citychain"} · citychain explorer`;
  if (!quiet) {
    window.scrollTo(0, 0);
    // Move focus to the new heading so screen readers announce the view, unless the
    // reader is typing in the search box.
    if (document.activeElement?.id !== "search-input") content.querySelector("h1")?.focus({ preventScroll: true });
  }
}

function notFoundView() {
  throw new ApiError(404, "This page does not exist in the explorer.");
}

function errorView(error, arg) {
  const status = error instanceof ApiError ? error.status : -1;
  if (!(error instanceof ApiError)) console.error("explorer:", error);
  let title = "Something went wrong";
  if (status === 404) title = "Not found";
  else if (status === 400 || status === 422) title = "That does not look right";
  else if (status === 0) title = "Node unreachable";
  const message = error instanceof ApiError ? error.message : "The page could not be shown.";
  const friendly = message.replace(/^invalid address: /, "This is not a valid citychain address: ");
  return h(
    "section",
    { class: "card notice-card", role: "alert", id: "error" },
    h("h1", { tabindex: "-1" }, title),
    h("p", { class: "notice-text" }, friendly),
    h(
      "p",
      { class: "muted" },
      "Search for a block height (e.g. 12), a 64-character transaction hash, or an address starting with city1.",
    ),
    h("p", {}, h("a", { class: "button-link", href: "#/" }, "← Back to latest blocks")),
  );
}

// --- start ---------------------------------------------------------------------------------

document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("search-input");
  const term = input.value.trim();
  if (!term) {
    input.focus();
    return;
  }
  const target = `#/search/${encodeURIComponent(term)}`;
  if (location.hash === target) render();
  else navigate(target);
  input.blur();
});

window.addEventListener("hashchange", () => render());

refreshStatus()
  .then((status) => (chain.announced = Math.max(chain.announced, status.height)))
  .catch(() => setLive("offline", "Offline"));
connectLive();
render();
