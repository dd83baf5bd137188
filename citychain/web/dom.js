// The web pages' one way to build elements: values become text nodes, never HTML, so ledger
// data and dropped files cannot inject markup.

/** Build an element; strings become text nodes, null/false children are skipped. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Say that the page's script has wired its controls (set as its last step): <body data-ready="1">.
 * A file chosen or a form sent before then would go unhandled, so tests wait for it. */
export function markReady() {
  document.body.dataset.ready = "1";
}

/** A card that says what went wrong (role alert), as every page shows it. */
export function notice(title, message) {
  return h("section", { class: "card notice-card", role: "alert" }, h("h2", { class: "notice-title" }, title), h("p", {}, message));
}

/** A definition list of [name, term, value] rows; falsy rows are skipped, a missing value shows "—". */
export function facts(rows, className = "facts") {
  return h(
    "dl",
    { class: className },
    rows.filter(Boolean).map(([name, term, value]) =>
      h("div", { "data-fact": name }, h("dt", {}, term), h("dd", {}, value === null || value === undefined ? "—" : value)),
    ),
  );
}

/** JSON.parse that keeps integers beyond 2^53 exact (as BigInt): balances are u64. */
export function parseExactJson(text) {
  return JSON.parse(text, (_key, value, context) => {
    if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source) {
      if (/^-?\d+$/.test(context.source)) return BigInt(context.source);
    }
    return value;
  });
}

/** The text of a same-origin GET's body, byte for byte (null for a 404 with ``nullOn404``).
 * A failure throws an Error with the node's message and the HTTP ``status`` (0: no answer). */
export async function getText(path, { header = null, nullOn404 = false } = {}) {
  const headers = { accept: "application/json" };
  if (header) headers["X-Citychain-Read-Request"] = header;
  let response;
  try {
    response = await fetch(path, { headers, cache: "no-store", credentials: "same-origin", referrerPolicy: "no-referrer" });
  } catch {
    const error = new Error("The node did not answer. Check that it is running, then try again.");
    error.status = 0;
    throw error;
  }
  if (nullOn404 && response.status === 404) return null;
  const text = await response.text();
  if (!response.ok) {
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the status line
    }
    const error = new Error(body?.error?.message ?? `The node answered ${response.status}.`);
    error.status = response.status;
    throw error;
  }
  return text;
}

/** The JSON body of a same-origin GET. ``header``, if given, is sent as the signed read request;
 * with ``nullOn404`` a 404 answers null; with ``exact`` integers beyond 2^53 come as BigInt.
 * Otherwise a failure throws an Error carrying the node's message and the HTTP ``status``. */
export async function getJson(path, { header = null, nullOn404 = false, exact = false } = {}) {
  const text = await getText(path, { header, nullOn404 });
  if (text === null) return null;
  try {
    return exact ? parseExactJson(text) : JSON.parse(text);
  } catch {
    return null; // an empty or non-JSON success body
  }
}
