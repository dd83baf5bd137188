// citychain devices page (/device?id=ID): a registered device (kind, owner, status, current
// key) or an anchored telemetry batch (root, report count, gateway, height, time), by id.
//
// Device ids and batch ids are both 64 hex characters and nothing in an id says which it is,
// so the page asks the node for both at once and shows whichever exists; the two hash domains
// differ, so at most one does. Everything is public ledger data read through same-origin GETs;
// values reach the page as text nodes only (dom.js h()), never as HTML.

import { facts as factList, getJson as fetchJson, h, markReady, notice } from "/static/dom.js";

const facts = (rows) => factList(rows, "facts fields");
const getJson = (path) => fetchJson(path, { nullOn404: true });

const HEX64 = /^[0-9a-fA-F]{64}$/;
const OWNER_PAGE = 20; // other devices of the owner listed under a device
const KIND_NAMES = {
  bms: "Battery management system",
  gateway: "Telemetry gateway",
  machine: "Machine",
  meter: "Meter",
  sensor: "Sensor",
};

const box = document.getElementById("result");
const form = document.getElementById("lookup");
const field = document.getElementById("lookup-input");
let seq = 0; // the newest lookup; answers to older ones are dropped

// --- helpers -------------------------------------------------------------------------------

function replace(state, ...nodes) {
  box.replaceChildren(...nodes);
  box.dataset.state = state;
}

const mono = (text, attrs = {}) => h("span", { ...attrs, class: "mono wrap-any" }, text);
// The explorer (/) routes accounts and blocks by hash fragment.
const accountLink = (address, id) => h("a", { class: "mono wrap-any", href: `/#/account/${encodeURIComponent(address)}`, id }, address);
const blockLink = (height) => h("a", { href: `/#/block/${height}` }, String(height));
const deviceLink = (id, text) => h("a", { class: "mono wrap-any", href: `/device?id=${id}` }, text ?? id);
const utc = (ms) => `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;

// --- views ---------------------------------------------------------------------------------

function keyVersion(version) {
  if (version === 1) return "1 (the key it was registered with)";
  return `${version} (rotated ${version - 1} ${version === 2 ? "time" : "times"})`;
}

function deviceCard(d) {
  const kind = KIND_NAMES[d.kind] ?? d.kind;
  return h(
    "section",
    { class: "card", id: "device-card", "data-kind": d.kind },
    h(
      "div",
      { class: "card-head" },
      h("h2", {}, kind),
      h("span", { class: d.status === "active" ? "badge badge-ok" : "badge badge-bad", id: "status", "data-status": d.status }, d.status),
    ),
    facts([
      ["id", "Device id", mono(d.id, { id: "device-id" })],
      ["kind", "Kind", h("span", { id: "kind" }, d.kind)],
      ["owner", "Owner", accountLink(d.owner, "owner")],
      ["public-key", "Current public key", mono(d.public_key, { id: "public-key" })],
      ["key-version", "Key version", h("span", { id: "key-version" }, keyVersion(d.key_version))],
      ["metadata", "Metadata commitment", mono(d.metadata)],
      ["registered", "Registered at height", blockLink(d.registered_height)],
      ["updated", "Last changed at height", blockLink(d.updated_height)],
    ]),
    d.status === "decommissioned" ? h("p", { class: "muted small" }, "Decommissioned for good: gateways refuse its reports.") : null,
    h("div", { id: "owner-devices" }),
  );
}

function ownerDevices(list, self) {
  const others = list.devices.filter((d) => d.id !== self);
  if (!others.length) return h("p", { class: "muted small" }, "The owner has no other devices.");
  return h(
    "section",
    { class: "subcard" },
    h("h3", {}, "Other devices of this owner"),
    h(
      "ul",
      { class: "plain", id: "owner-device-list" },
      others.map((d) => h("li", {}, deviceLink(d.id), " ", h("span", { class: "muted small" }, `${d.kind}, ${d.status}`))),
    ),
    list.next ? h("p", { class: "muted small", id: "owner-devices-more" }, "The owner has more; the first by id are listed.") : null,
  );
}

function batchCard(b) {
  return h(
    "section",
    { class: "card", id: "batch-card" },
    h("h2", {}, "Telemetry batch"),
    facts([
      ["id", "Batch id", mono(b.batch_id, { id: "batch-id" })],
      ["root", "Merkle root", mono(b.root, { id: "root" })],
      ["count", "Reports", h("span", { id: "count" }, b.count.toLocaleString("en-GB"))],
      ["gateway", "Gateway device", deviceLink(b.gateway)],
      ["owner", "Anchored by", accountLink(b.owner, "owner")],
      ["height", "Anchored at height", h("span", { id: "anchor-height" }, blockLink(b.height))],
      ["time", "Block time", h("span", { id: "anchor-time" }, utc(b.time_ms))],
    ]),
    h(
      "p",
      { class: "muted small" },
      "The root commits to the reports in the order the gateway accepted them (RFC 6962); a report proof from ",
      h("span", { class: "mono" }, "citychain device prove"),
      " shows one report is among them.",
    ),
  );
}

// --- lookup --------------------------------------------------------------------------------

async function load(term) {
  const id = term.trim().toLowerCase();
  if (!id) return;
  const mine = ++seq;
  if (!HEX64.test(id)) {
    replace("error", notice("Not a device or batch id", "An id is 64 hexadecimal characters (0–9, a–f)."));
    return;
  }
  replace("loading", h("p", { class: "loading" }, "Looking it up…"));
  try {
    const [device, batch] = await Promise.all([getJson(`/devices/${id}`), getJson(`/devices/batches/${id}`)]);
    if (mine !== seq) return;
    if (device) {
      replace("device", deviceCard(device));
      listOwnerDevices(device, mine);
    } else if (batch) {
      replace("batch", batchCard(batch));
    } else {
      replace("missing", notice("Nothing with this id", `No device and no anchored batch has the id ${id} on this ledger.`));
    }
  } catch (error) {
    if (mine !== seq) return;
    replace("error", notice("Could not look it up", error.message));
  }
}

async function listOwnerDevices(device, mine) {
  const params = new URLSearchParams({ owner: device.owner, limit: String(OWNER_PAGE + 1) });
  try {
    const list = await getJson(`/devices?${params}`);
    const slot = document.getElementById("owner-devices");
    if (mine === seq && slot && list) slot.replaceChildren(ownerDevices(list, device.id));
  } catch (error) {
    // The device itself is shown; the list is extra, so a failure only leaves it out.
    console.warn("devices of the owner:", error.message);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const term = field.value.trim();
  if (!term) return;
  history.replaceState(null, "", `/device?id=${encodeURIComponent(term)}`);
  load(term);
});

const initial = new URLSearchParams(location.search).get("id");
if (initial) {
  field.value = initial;
  load(initial);
}
markReady();
