// citychain battery passport page (/battery?id=ID): the public passport for anyone, and, for the
// owner, running lessee or manufacturer, the Annex XIII point 4 data (status, history, health
// curve, end-of-life prediction) unlocked by a signed read request file.
//
// The read request is made by `citychain battery read-request ID --from KEY --out req.json`
// (the key never reaches the browser). The page reads the dropped file, checks that it is a
// read request file for this battery, and sends its four "requests", each signed for one route
// of this node, only to this node, in the X-Citychain-Read-Request header of four same-origin
// GETs; nothing is stored. The node answers each request once, within 60 seconds of its
// signing. Every value reaches the page through text nodes
// (h() below), never innerHTML; the health curve is built as SVG elements.

import { facts, getJson, markReady } from "/static/dom.js";
import { MAX_FILE_BYTES, isRequestFile, takeRequest, h, notice, wireDropZone } from "/static/passport-common.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const HEX64 = /^[0-9a-fA-F]{64}$/;

// --- DOM helpers ---------------------------------------------------------------------------

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : String(child));
  return el;
}

function replace(container, state, ...nodes) {
  container.replaceChildren(...nodes);
  container.dataset.state = state;
}

const number = (n) => (typeof n === "number" ? n.toLocaleString("en-GB") : "—");
const permille = (n) => `${(n / 10).toFixed(1)} %`;
const permyriad = (n) => `${(n / 100).toFixed(2)} %`;
const dateOf = (ms) => new Date(ms).toISOString().slice(0, 10);

// --- API -----------------------------------------------------------------------------------

// --- the public passport -------------------------------------------------------------------

const passportBox = document.getElementById("passport");
const ownerView = document.getElementById("owner-view");
const restricted = document.getElementById("restricted");
let current = null; // the passport shown

function showPassport(p) {
  const recycled = p.recycled_content_permille ?? {};
  const rows = [
    ["identifier", "Identifier", h("span", { class: "mono", id: "identifier" }, p.identifier)],
    ["model", "Model", p.model],
    ["category", "Category", p.category],
    ["chemistry", "Chemistry", p.chemistry],
    ["capacity", "Rated capacity", `${number(p.rated_capacity_mah / 1000)} Ah`],
    ["energy", "Rated energy", `${number(p.rated_energy_wh / 1000)} kWh`],
    ["voltage", "Nominal voltage", `${number(p.nominal_voltage_mv / 1000)} V`],
    ["weight", "Weight", `${number(p.weight_g / 1000)} kg`],
    ["lifetime", "Expected lifetime", `${number(p.expected_lifetime_cycles)} cycles`],
    ["threshold", "Capacity threshold for exhaustion", permille(p.capacity_threshold_permille)],
    ["manufactured", "Manufactured", `${p.manufacturing_date}, ${p.manufacturing_place}`],
    ["carbon", "Carbon footprint", `${number(p.carbon_footprint_g_per_kwh / 1000)} kg CO₂e per kWh`],
    [
      "recycled",
      "Recycled content",
      `cobalt ${permille(recycled.cobalt)}, lead ${permille(recycled.lead)}, lithium ${permille(recycled.lithium)}, nickel ${permille(recycled.nickel)}`,
    ],
    ["hazardous", "Hazardous substances (CAS)", (p.hazardous_substances ?? []).join(", ") || "none declared"],
    ["manufacturer", "Manufacturer", h("span", { class: "mono wrap-any" }, p.manufacturer)],
    ["battery-id", "Ledger id", h("span", { class: "mono wrap-any", id: "battery-id" }, p.id)],
    ["registered", "Registered at height", p.registered_height],
  ];
  replace(
    passportBox,
    "done",
    h("section", { class: "card", id: "passport-card" }, h("h2", {}, `${p.model} · ${p.identifier}`), facts(rows)),
  );
  current = p;
  ownerView.hidden = false;
  replace(restricted, "empty");
}

async function load(term) {
  const text = term.trim();
  if (!text) return;
  replace(passportBox, "loading", h("p", { class: "loading" }, "Loading the passport…"));
  ownerView.hidden = true;
  current = null;
  const path = HEX64.test(text) ? `/battery/${text.toLowerCase()}` : `/battery/lookup?identifier=${encodeURIComponent(text)}`;
  try {
    showPassport(await getJson(path));
  } catch (error) {
    const title = error.status === 404 ? "No such battery" : error.status === 422 ? "Not a battery id or identifier" : "Could not load the passport";
    replace(passportBox, "error", notice(title, error.message));
  }
}

// --- the owner's view (point 4) ------------------------------------------------------------

function statusCard(status) {
  return h(
    "section",
    { class: "subcard", id: "status-card" },
    h("h3", {}, "Lifecycle"),
    facts([
      ["status", "Status", h("span", { id: "status", "data-status": status.status }, status.status)],
      ["owner", "Owner", h("span", { class: "mono wrap-any" }, status.owner)],
      ["lessee", "Lessee", status.lessee ? h("span", { class: "mono wrap-any" }, status.lessee) : "none"],
      ["lease-end", "Lease ends at height", status.lease_end_height ?? (status.lessee ? "open-ended" : "—")],
      ["holding", "Holding id", h("span", { class: "mono wrap-any", id: "holding-id" }, status.holding_id)],
    ]),
  );
}

function historyTable(history, more) {
  return h(
    "section",
    { class: "subcard" },
    h("h3", {}, "History"),
    more ? h("p", { class: "muted small", id: "history-more" }, "The first changes only: citychain battery history lists them all.") : null,
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { id: "history" },
        h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Height"), h("th", {}, "Action"), h("th", {}, "Status after"), h("th", {}, "Party"))),
        h(
          "tbody",
          {},
          history.map((c) =>
            h("tr", {}, h("td", { class: "num" }, c.height), h("td", {}, c.action.replace(/_/g, " ")), h("td", {}, c.status), h("td", { class: "mono wrap-any" }, c.party ?? "—")),
          ),
        ),
      ),
    ),
  );
}

/** State of health over equivalent full cycles, with the capacity threshold and the predicted
 * end of life's 80 % interval (in cycles, the prediction's own unit) as a shaded band. */
function healthChart(health, prediction) {
  const series = health.series ?? [];
  const W = 640;
  const H = 260;
  const pad = { left: 52, right: 16, top: 14, bottom: 40 };
  const cycles = series.map((p) => p.equivalent_full_cycles_x100 / 100);
  const maxX = Math.max(1, ...cycles, prediction ? prediction.interval_high_cycles : 0, health.expected_lifetime_cycles ?? 0) * 1.05;
  const threshold = (health.capacity_threshold_permille ?? 0) / 10;
  const socs = series.map((p) => p.soh_permyriad / 100);
  const minY = Math.max(0, Math.floor((Math.min(threshold || 100, ...socs) - 5) / 10) * 10);
  const maxY = Math.max(100, Math.ceil(Math.max(...socs, 100) / 10) * 10);
  const x = (c) => pad.left + (c / maxX) * (W - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - minY) / (maxY - minY)) * (H - pad.top - pad.bottom);

  const svg = s("svg", {
    id: "health-chart",
    class: "health-chart",
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-labelledby": "health-chart-title",
  });
  svg.append(s("title", { id: "health-chart-title" }, `State of health over ${series.length} updates, by equivalent full cycles`));
  // axes and grid
  for (let v = minY; v <= maxY; v += 10) {
    svg.append(s("line", { class: "grid", x1: pad.left, x2: W - pad.right, y1: y(v), y2: y(v) }));
    svg.append(s("text", { class: "tick", x: pad.left - 6, y: y(v) + 4, "text-anchor": "end" }, `${v} %`));
  }
  const raw = maxX / 6;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = Math.max(1, [1, 2, 5, 10].find((m) => m * magnitude >= raw) * magnitude);
  for (let c = 0; c <= maxX; c += step) {
    svg.append(s("text", { class: "tick", x: x(c), y: H - pad.bottom + 16, "text-anchor": "middle" }, number(Math.round(c))));
  }
  svg.append(s("text", { class: "axis-label", x: (W + pad.left) / 2, y: H - 6, "text-anchor": "middle" }, "equivalent full cycles"));
  if (prediction) {
    svg.append(
      s("rect", {
        class: "prediction-band",
        x: x(prediction.interval_low_cycles),
        y: pad.top,
        width: Math.max(1, x(prediction.interval_high_cycles) - x(prediction.interval_low_cycles)),
        height: H - pad.top - pad.bottom,
      }, s("title", {}, `80 % interval: ${number(prediction.interval_low_cycles)}–${number(prediction.interval_high_cycles)} cycles`)),
    );
    svg.append(s("line", { class: "prediction-eol", x1: x(prediction.eol_cycle), x2: x(prediction.eol_cycle), y1: pad.top, y2: H - pad.bottom }));
  }
  if (threshold) {
    svg.append(s("line", { class: "threshold", x1: pad.left, x2: W - pad.right, y1: y(threshold), y2: y(threshold) }));
    svg.append(s("text", { class: "tick threshold-label", x: W - pad.right - 4, y: y(threshold) - 5, "text-anchor": "end" }, `end-of-life threshold ${threshold} %`));
  }
  if (series.length > 1) {
    svg.append(s("polyline", { class: "soh-line", points: series.map((p) => `${x(p.equivalent_full_cycles_x100 / 100)},${y(p.soh_permyriad / 100)}`).join(" ") }));
  }
  for (const p of series) {
    svg.append(
      s(
        "circle",
        { class: "soh-point", cx: x(p.equivalent_full_cycles_x100 / 100), cy: y(p.soh_permyriad / 100), r: 4 },
        s("title", {}, `${dateOf(p.time_ms)} (height ${p.height}): ${permyriad(p.soh_permyriad)} at ${number(p.equivalent_full_cycles_x100 / 100)} cycles`),
      ),
    );
  }
  return svg;
}

const COMMITMENT_DOMAIN = "citychain/battery/commitment/v1\u0000";
const HEALTH_FIELDS = [
  "soh_permyriad", "remaining_capacity_mah", "capacity_fade_permille", "resistance_increase_permille",
  "energy_throughput_wh", "equivalent_full_cycles_x100", "extreme_temperature_s", "deep_discharge_events",
];

function hexToBytes(hex) {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Whether the node's health values open the ledger's commitment: sha256(domain || salt ||
 * canonical JSON {"fields": {...sorted}, "part": "health"}), as citychain/modules/battery/
 * commitment.py builds it (integers only, so JSON.stringify gives the same text as Python). */
async function opensCommitment(latest) {
  const fields = Object.fromEntries([...HEALTH_FIELDS].sort().map((k) => [k, latest[k]]));
  const content = JSON.stringify({ fields, part: "health" });
  const bytes = [
    ...new TextEncoder().encode(COMMITMENT_DOMAIN),
    ...hexToBytes(latest.salt),
    ...new TextEncoder().encode(content),
  ];
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", Uint8Array.from(bytes)));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  return hex === latest.commitment;
}

function healthCard(health, prediction, opens) {
  const latest = health.health;
  if (latest && !latest.opened) {
    return h(
      "section",
      { class: "subcard", id: "health-card" },
      h("h3", {}, "Health"),
      h("p", { class: "empty", id: "health-unopened" }, `Update ${latest.updates} is committed on the ledger (height ${latest.updated_height}), but this node holds no opening of it yet.`),
    );
  }
  const check = latest
    ? h("p", { id: "health-check", class: opens ? "check-ok small" : "check-bad small" }, opens
        ? "Checked in this browser: these values open the ledger's commitment."
        : "These values do NOT open the ledger's commitment: do not trust them.")
    : null;
  const body = latest
    ? facts([
        ["soh", "State of health", h("span", { id: "soh" }, permyriad(latest.soh_permyriad))],
        ["remaining", "Remaining capacity", `${number(latest.remaining_capacity_mah / 1000)} Ah`],
        ["cycles", "Equivalent full cycles", number(latest.equivalent_full_cycles_x100 / 100)],
        ["resistance", "Internal resistance increase", permille(latest.resistance_increase_permille)],
        ["updated", "Updated", `${dateOf(latest.updated_time_ms)} (height ${latest.updated_height})`],
      ])
    : h("p", { class: "empty" }, "No health update yet.");
  const note = health.series_complete ? null : h("p", { class: "muted small" }, "Only the most recent updates are drawn.");
  return h(
    "section",
    { class: "subcard", id: "health-card" },
    h("h3", {}, "Health"),
    body,
    check,
    latest ? h("figure", { class: "chart" }, healthChart(health, prediction), h("figcaption", { class: "muted small" }, "Each dot is one oracle update; the shaded band is the prediction's 80 % interval, the dashed line its predicted end of life."), note) : null,
  );
}

// What an attested prediction was made from (the ledger's `basis`; docs/fleet.md §2).
const BASIS_TEXT = {
  capacity: "the battery's capacity telemetry",
  curves: "its lot's early-life test curves (test report)",
};

function predictionCard(answer) {
  const p = answer.prediction;
  if (!p) return h("section", { class: "subcard", id: "prediction-card" }, h("h3", {}, "Prediction"), h("p", { class: "empty" }, "No prediction attested yet."));
  const days = typeof p.days_left === "number" ? p.days_left : null;
  const dueText = days === null ? "—" : days < 0 ? `${-days} days overdue` : `${days} days from the last block`;
  return h(
    "section",
    { class: "subcard", id: "prediction-card" },
    h("h3", {}, "Predicted end of life"),
    p.due ? h("p", { class: "due-banner", id: "due-banner" }, `Replacement due within the ${answer.horizon_days}-day horizon`) : null,
    facts([
      ["eol-date", "Predicted date", h("span", { id: "eol-date" }, p.eol_date)],
      ["eol-days", "Time left", dueText],
      ["eol-cycle", "Predicted cycle", number(p.eol_cycle)],
      ["band", "80 % interval", h("span", { id: "band" }, `${number(p.interval_low_cycles)} – ${number(p.interval_high_cycles)} cycles`)],
      ["basis", "Predicted from", h("span", { id: "basis" }, BASIS_TEXT[p.basis] || p.basis || "—")],
      ["model", "Model hash", h("span", { class: "mono wrap-any" }, p.model_hash)],
      ["oracle", "Attested by", h("span", { class: "mono wrap-any" }, p.oracle)],
    ]),
  );
}

let readSeq = 0;

async function unlock(file) {
  const seq = ++readSeq;
  fileName.textContent = file.name;
  if (!current) return;
  if (file.size > MAX_FILE_BYTES) {
    replace(restricted, "error", notice("Not a read request", "The file is too large to be a read request."));
    return;
  }
  let doc;
  try {
    doc = JSON.parse(await file.text());
  } catch {
    replace(restricted, "error", notice("Not a read request", "The file is not JSON. Nothing was sent to the node."));
    return;
  }
  if (seq !== readSeq) return;
  if (!isRequestFile(doc)) {
    replace(restricted, "error", notice("Not a read request", "Make one with: citychain battery read-request ID --from KEY --out req.json. Nothing was sent."));
    return;
  }
  if (doc.battery_id !== current.id) {
    replace(restricted, "error", notice("A request for another battery", `This file is for battery ${doc.battery_id ?? "(fleet)"}, not ${current.id}. Nothing was sent.`));
    return;
  }
  replace(restricted, "loading", h("p", { class: "loading" }, "Reading…"));
  const base = `/battery/${current.id}`;
  try {
    const [status, history, health, prediction] = await Promise.all(
      ["status", "history", "health", "prediction"].map((what) => {
        const header = takeRequest(doc, `GET ${base}/${what}`);
        if (!header) throw Object.assign(new Error(`The file holds no unused request for ${what}: make a new one.`), { status: 401 });
        return getJson(`${base}/${what}`, { header });
      }),
    );
    const opens = health.health?.opened ? await opensCommitment(health.health) : false;
    if (seq !== readSeq) return;
    replace(
      restricted,
      "done",
      h("p", { class: "muted small", id: "reader" }, `Read as ${doc.reader ?? "the request's signer"} at height ${status.height}.`),
      statusCard(status),
      predictionCard(prediction),
      healthCard(health, prediction.prediction, opens),
      historyTable(history.history, history.next !== null && history.next !== undefined),
    );
  } catch (error) {
    if (seq !== readSeq) return;
    const title = error.status === 403 ? "Not allowed" : error.status === 401 ? "The request was not accepted" : "Could not read";
    replace(restricted, "error", notice(title, error.message));
  }
}

// --- wiring --------------------------------------------------------------------------------

const form = document.getElementById("lookup");
const field = document.getElementById("lookup-input");
const input = document.getElementById("file-input");
const zone = document.getElementById("drop-zone");
const fileName = document.getElementById("file-name");

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const term = field.value.trim();
  if (!term) return;
  history.replaceState(null, "", `/battery?id=${encodeURIComponent(term)}`);
  load(term);
});

function pick(files) {
  const list = Array.from(files ?? []);
  if (list.length !== 1) {
    replace(restricted, "error", notice("One file", "Drop one read request file."));
    return;
  }
  unlock(list[0]).catch((error) => {
    console.warn("battery:", error);
    replace(restricted, "error", notice("Something went wrong", "The request could not be read."));
  });
}

wireDropZone(zone, input, pick);

const initial = new URLSearchParams(location.search).get("id");
if (initial) {
  field.value = initial;
  load(initial);
}
markReady();
