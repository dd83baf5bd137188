// citychain battery fleet page (/fleet): the battery holdings a key owns, then those it
// leases, with each one's lifecycle status and lease, from the ledger's owner and lessee
// indexes.
//
// A holding is who holds a battery (Annex XIII point 4 data), kept on the ledger under a
// holding id that nothing on the ledger links to the battery's id or identifier: the list
// names holdings, and the holder's holding files (or `citychain battery fleet`, which joins
// them) name the batteries. It needs a signed fleet request file:
// `citychain battery read-request --fleet --from KEY --out fleet.json`, signed for this node
// and valid 60 seconds. The page reads the dropped file and sends one of its "requests" per
// page only to this node, in the X-Citychain-Read-Request header (the node answers each
// once); nothing is stored. Values reach the page as text nodes only.

import { getJson, markReady } from "/static/dom.js";
import { MAX_FILE_BYTES, isRequestFile, takeRequest, h, notice, wireDropZone } from "/static/passport-common.js";

const MAX_PAGES = 20; // 100 holdings a page, and no more than the file has requests for
const FLEET_ROUTE = "GET /battery/fleet";

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

function leaseText(entry) {
  if (!entry.lessee) return "—";
  return entry.lease_end_height ? `until height ${entry.lease_end_height}` : "open-ended";
}

function table(holdings) {
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
          h("th", {}, "Role"),
          h("th", {}, "Status"),
          h("th", {}, "Holding"),
          h("th", {}, "Owner"),
          h("th", {}, "Lessee"),
          h("th", {}, "Lease"),
        ),
      ),
      h(
        "tbody",
        {},
        holdings.map((e) =>
          h(
            "tr",
            { class: "fleet-row", "data-holding": e.holding_id, "data-role": e.role, "data-status": e.status },
            h("td", {}, e.role === "owner" ? "owned" : "leased"),
            h("td", {}, e.status),
            h("td", { class: "mono wrap-any holding-id" }, e.holding_id),
            h("td", { class: "mono wrap-any" }, e.owner),
            h("td", { class: "mono wrap-any" }, e.lessee ?? "—"),
            h("td", {}, leaseText(e)),
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
  if (!isRequestFile(doc) || doc.part !== "fleet" || !doc.requests.some((r) => r.route === FLEET_ROUTE)) {
    replace("error", notice("Not a fleet request", "Make one with: citychain battery read-request --fleet --from KEY --out fleet.json. Nothing was sent."));
    return;
  }
  replace("loading", h("p", { class: "loading" }, "Reading the fleet…"));
  const holdings = [];
  let after = null;
  try {
    for (let i = 0; i < MAX_PAGES; i += 1) {
      // One request a page: the node answers each once.
      const header = takeRequest(doc, FLEET_ROUTE);
      if (!header) break;
      const answer = await page(header, after);
      holdings.push(...answer.holdings);
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
  const owned = holdings.filter((e) => e.role === "owner").length;
  const summary = h(
    "p",
    { id: "fleet-summary" },
    `${doc.reader ?? "This key"} owns ${owned} and leases ${holdings.length - owned} ${holdings.length === 1 ? "battery" : "batteries"}. `,
    "The ledger does not link a holding to its battery: your holding files do (citychain battery fleet names them).",
  );
  replace(
    "done",
    h(
      "section",
      { class: "card", id: "fleet-card" },
      h("h2", {}, "Battery holdings"),
      summary,
      holdings.length ? table(holdings) : h("p", { class: "empty" }, "This key owns and leases no battery."),
      after ? h("p", { class: "muted small" }, "Only the first holdings are shown.") : null,
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
