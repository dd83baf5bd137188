// The small pieces every explorer view is made of: links to blocks, transactions and
// accounts, hashes, badges, tables and cards. Values reach the page as text (dom.js h()).

import { h } from "/static/dom.js";
import { formatTime, shortHash } from "/static/explorer/format.js";

const COPIED_MS = 1500; // how long a copy button says "Copied"

export function hashText(hex, { full = false } = {}) {
  return h("span", { class: "mono", title: hex }, full ? hex : shortHash(hex));
}

export function blockLink(height) {
  return h("a", { href: `#/block/${height}` }, String(height));
}

export function txLink(hash, { full = false } = {}) {
  return h("a", { class: "mono", href: `#/tx/${hash}`, title: hash }, full ? hash : shortHash(hash));
}

export function accountLink(address, { full = false } = {}) {
  if (!address) return h("span", { class: "muted" }, "—");
  return h(
    "a",
    { class: "mono", href: `#/account/${address}`, title: address },
    full ? address : shortHash(address, 12),
  );
}

export function timeText(ms) {
  return h("time", { datetime: new Date(Number(ms)).toISOString() }, formatTime(ms));
}

export function copyButton(value, what) {
  const button = h("button", { type: "button", class: "copy", "aria-label": `Copy ${what}` }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => (button.textContent = "Copy"), COPIED_MS);
  });
  return button;
}

export function badge(ok, text) {
  return h("span", { class: `badge ${ok ? "badge-ok" : "badge-bad"}` }, text);
}

export function table(caption, headings, rows, { empty = "Nothing here yet.", id } = {}) {
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

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}
