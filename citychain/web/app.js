// citychain explorer: hash-routed views over the node's JSON API (citychain/node/api.py).
//
// Routes: #/ (latest blocks), #/block/<height>, #/tx/<hash>, #/account/<address>,
// #/search/<term>, each view a module of explorer/. Live updates: explorer/live.js.
//
// Every value from the node reaches the page through text nodes (dom.js h()), never
// innerHTML, so a memo or an event attribute cannot inject markup.

import { h, markReady } from "/static/dom.js";
import { accountView } from "/static/explorer/account.js";
import { ApiError, api } from "/static/explorer/api.js";
import { blockView } from "/static/explorer/block.js";
import { homeView } from "/static/explorer/home.js";
import { blockListeners, chain, connectLive, refreshStatus, setLive } from "/static/explorer/live.js";
import { txView } from "/static/explorer/tx.js";

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
markReady();
