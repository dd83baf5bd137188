// citychain battery fleet page (/fleet): the batteries a key owns, leases or made, soonest
// predicted end of life first, with a "due" marker on those inside the chain's replacement
// horizon (30 days by default).
//
// Predicted replacement dates are Annex XIII point 4 data, so the list needs a signed fleet
// request: `citychain battery read-request --fleet --from KEY --out fleet.json`. The page reads
// the dropped file and sends its "request" value only to this node, in the
// X-Citychain-Read-Request header; nothing is stored. Values reach the page as text nodes only.

import { getJson, markReady } from "/static/dom.js";
import { MAX_FILE_BYTES, REQUEST_KIND, h, notice, wireDropZone } from "/static/passport-common.js";

const MAX_PAGES = 20; // 100 batteries a page

const box = document.getElementById("fleet");

function replace(state, ...nodes) {
  box.replaceChildren(...nodes);
  box.dataset.state = state;
}

async function page(header, after) {
  const params = new URLSearchParams({ limit: "100" });
  if (after) params.set("after", after);
  return getJson(`/battery/fleet?${params}`, { header });
}

function daysText(b) {
  if (typeof b.days_left !== "number") return "—";
  if (b.days_left < 0) return `${-b.days_left} overdue`;
  return String(b.days_left);
}

function table(batteries, horizon) {
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { id: "fleet-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "Predicted end of life"),
          h("th", { class: "num" }, "Days left"),
          h("th", {}, h("span", { class: "sr-only" }, "Due")),
          h("th", {}, "Battery"),
          h("th", {}, "Status"),
          h("th", {}, "Owner"),
        ),
      ),
      h(
        "tbody",
        {},
        batteries.map((b) =>
          h(
            "tr",
            { class: b.due ? "fleet-row due" : "fleet-row", "data-id": b.id, "data-due": b.due ? "true" : "false" },
            h("td", {}, b.eol_date),
            h("td", { class: "num" }, daysText(b)),
            h("td", {}, b.due ? h("span", { class: "badge badge-bad due-marker", title: `within the ${horizon}-day horizon` }, "Due") : ""),
            h("td", {}, h("a", { href: `/battery?id=${encodeURIComponent(b.id)}`, class: "identifier" }, b.identifier)),
            h("td", {}, b.status),
            h("td", { class: "mono wrap-any" }, b.owner),
          ),
        ),
      ),
    ),
  );
}

let seq = 0;

async function show(file) {
  const mine = ++seq;
  fileName.textContent = file.name;
  if (file.size > MAX_FILE_BYTES) {
    replace("error", notice("Not a fleet request", "The file is too large to be a read request."));
    return;
  }
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch {
    replace("error", notice("Not a fleet request", "The file is not JSON. Nothing was sent to the node."));
    return;
  }
  if (mine !== seq) return;
  if (!doc || doc.kind !== REQUEST_KIND || typeof doc.request !== "string" || doc.part !== "fleet") {
    replace("error", notice("Not a fleet request", "Make one with: citychain battery read-request --fleet --from KEY --out fleet.json. Nothing was sent."));
    return;
  }
  replace("loading", h("p", { class: "loading" }, "Reading the fleet…"));
  const batteries = [];
  let answer = null;
  let after = null;
  try {
    for (let i = 0; i < MAX_PAGES; i += 1) {
      answer = await page(doc.request, after);
      batteries.push(...answer.batteries);
      after = answer.next;
      if (!after) break;
    }
  } catch (error) {
    if (mine !== seq) return;
    const title = error.status === 401 ? "The request was not accepted" : error.status === 403 ? "Not allowed" : "Could not read the fleet";
    replace("error", notice(title, error.message));
    return;
  }
  if (mine !== seq) return;
  const due = batteries.filter((b) => b.due).length;
  const summary = h(
    "p",
    { id: "fleet-summary" },
    `${batteries.length} ${batteries.length === 1 ? "battery" : "batteries"} with a prediction for ${doc.reader ?? "this key"}; `,
    h("strong", {}, `${due} due`),
    ` within the ${answer.horizon_days}-day horizon (from the last block's day).`,
  );
  replace(
    "done",
    h(
      "section",
      { class: "card", id: "fleet-card" },
      h("h2", {}, "Batteries by predicted replacement"),
      summary,
      batteries.length ? table(batteries, answer.horizon_days) : h("p", { class: "empty" }, "No battery with a prediction that this key may read."),
      after ? h("p", { class: "muted small" }, "Only the first batteries are shown.") : null,
    ),
  );
}

const input = document.getElementById("file-input");
const zone = document.getElementById("drop-zone");
const fileName = document.getElementById("file-name");

function pick(files) {
  const list = Array.from(files ?? []);
  if (list.length !== 1) {
    replace("error", notice("One file", "Drop one fleet request file."));
    return;
  }
  show(list[0]).catch((error) => {
    console.warn("fleet:", error);
    replace("error", notice("Something went wrong", "The request could not be read."));
  });
}

wireDropZone(zone, input, pick);
markReady();
