// citychain certificate check (/verify): a holder's certificate file, checked by this node.
//
// A certificate file is JSON {"presentation": <SD-JWT>, "record_proof": {...}, "issuer_key": hex},
// dropped on the drop zone or picked with the file input. The page reads it in the browser,
// refuses a file that is not JSON without sending anything, and POSTs the file's own text
// (not a re-serialisation, which could round big integers) to this node's /registry/verify.
// It shows the verdict (VALID / NOT VALID), the record's ledger status (valid, superseded,
// revoked), the reason, the certificate kind, the record id, the proof's height and time, and
// exactly the claims the presentation disclosed. The file goes nowhere but that one same-origin
// request and is not stored; every value reaches the page through textContent, never innerHTML.

import { h, markReady } from "/static/dom.js";

const MAX_FILE_BYTES = 1024 * 1024; // a certificate file is a few KB
const VERIFY_PATH = "/registry/verify";

const KIND_TITLES = { birth: "Birth certificate", death: "Death certificate" };

const STATUS_TEXT = {
  valid: "Valid: the current version of the record",
  superseded: "Superseded: the record was amended since this certificate was issued",
  revoked: "Revoked by the registrar",
};

const CLAIM_LABELS = {
  given_name: "Given name",
  family_name: "Family name",
  date_of_birth: "Date of birth",
  place_of_birth: "Place of birth",
  sex: "Sex",
  parent_1_name: "Parent 1",
  parent_2_name: "Parent 2",
  date_of_death: "Date of death",
  place_of_death: "Place of death",
  cause_of_death: "Cause of death",
  born_in_city: "Born in the city",
  age_over_18: "Aged 18 or over (when issued)",
};

// --- DOM helpers ---------------------------------------------------------------------------

function facts(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows
      .filter(Boolean)
      .map(([name, term, value]) => h("div", { "data-fact": name }, h("dt", {}, term), h("dd", {}, value))),
  );
}

function labelOf(name) {
  return CLAIM_LABELS[name] ?? name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

function valueText(value) {
  if (value === true) return "Yes";
  if (value === false) return "No";
  if (value === null || value === undefined) return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function sizeText(bytes) {
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** "2026-12-01T08:40:08Z" as "2026-12-01 08:40:08 UTC" inside a <time>. */
function timeText(iso) {
  if (typeof iso !== "string" || !iso) return h("span", { class: "muted" }, "—");
  const shown = iso.replace("T", " ").replace(/Z$/, " UTC");
  return h("time", { datetime: iso }, shown);
}

// --- outcome -------------------------------------------------------------------------------

const outcome = document.getElementById("outcome");
const fileName = document.getElementById("file-name");
let checkSeq = 0;

function show(state, ...children) {
  outcome.dataset.state = state;
  outcome.setAttribute("aria-busy", state === "checking" ? "true" : "false");
  outcome.replaceChildren(...children);
}

function showError(title, message, file) {
  show(
    "error",
    h(
      "section",
      { class: "card notice-card", id: "error", role: "alert" },
      h("h2", { class: "notice-title" }, title),
      h("p", { class: "notice-text", id: "error-message" }, message),
      file ? h("p", { class: "muted small" }, "File: ", h("span", { id: "result-file" }, file.name)) : null,
    ),
  );
}

function claimsTable(claims) {
  const names = Object.keys(claims ?? {});
  if (!names.length) {
    return h(
      "p",
      { class: "muted", id: "no-claims" },
      "No claims are shown: the presentation itself did not verify, so nothing in it can be trusted.",
    );
  }
  return [
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { id: "claims" },
        h("caption", { class: "sr-only" }, "Claims the certificate discloses"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Claim"), h("th", { scope: "col" }, "Value"))),
        h(
          "tbody",
          {},
          names.map((name) =>
            h(
              "tr",
              { "data-claim": name },
              h("th", { scope: "row" }, labelOf(name), h("span", { class: "claim-name mono" }, name)),
              h("td", { class: "claim-value" }, valueText(claims[name])),
            ),
          ),
        ),
      ),
    ),
    h(
      "p",
      { class: "muted small", id: "nothing-else" },
      `Nothing else was disclosed: ${names.length === 1 ? "this claim is" : `these ${names.length} claims are`} all the certificate file shows.`,
    ),
  ];
}

function showResult(result, file) {
  const valid = result.valid === true;
  const kindTitle = KIND_TITLES[result.kind] ?? "Certificate";
  const status = result.status ?? null;
  const verdict = h(
    "div",
    { class: `verdict verdict-${valid ? "valid" : "invalid"}`, id: "verdict", "data-verdict": valid ? "valid" : "invalid" },
    h("span", { class: "verdict-mark", "aria-hidden": "true" }, valid ? "✓" : "✗"),
    h(
      "div",
      {},
      h("p", { class: "verdict-word", id: "verdict-word" }, valid ? "VALID" : "NOT VALID"),
      h("p", { class: "verdict-sub" }, `${kindTitle} · `, h("span", { id: "result-file" }, file.name)),
    ),
  );
  const rows = [
    [
      "status",
      "Ledger status",
      h(
        "span",
        { id: "status", "data-status": status ?? "unknown" },
        status ? STATUS_TEXT[status] ?? status : "Not established: the checks stopped before the record's status",
      ),
    ],
    ["reason", "Reason", h("span", { id: "reason" }, result.reason ?? "—")],
    result.revocation_reason
      ? ["revocation-reason", "Revocation reason", h("span", { id: "revocation-reason", class: "mono" }, result.revocation_reason)]
      : null,
    result.superseded_by
      ? ["superseded-by", "Replaced by record", h("span", { class: "mono wrap-any", id: "superseded-by" }, result.superseded_by)]
      : null,
    ["kind", "Certificate", h("span", { id: "kind", "data-kind": result.kind ?? "unknown" }, result.kind ? kindTitle : "—")],
    ["record-id", "Record id", h("span", { class: "mono wrap-any", id: "record-id" }, result.record_id ?? "—")],
    ["height", "Proven at height", h("span", { id: "height" }, result.height ?? "—")],
    ["time", "Block time", h("span", { id: "time" }, timeText(result.time))],
    ["check", "Deciding check", h("span", { class: "mono", id: "check" }, result.check ?? "—")],
  ];
  show(
    "done",
    h(
      "section",
      { class: `card result result-${valid ? "valid" : "invalid"}`, id: "result", "aria-labelledby": "verdict-word" },
      verdict,
      facts(rows),
    ),
    h("section", { class: "card", id: "disclosed" }, h("h2", {}, "Disclosed claims"), claimsTable(result.claims)),
  );
}

// --- reading and checking a file -----------------------------------------------------------

async function check(file) {
  const seq = ++checkSeq;
  fileName.textContent = `${file.name} (${sizeText(file.size)})`;
  if (file.size > MAX_FILE_BYTES) {
    showError("This file is too large", `A certificate file is a few KB; this one is ${sizeText(file.size)}.`, file);
    return;
  }
  show("checking", h("p", { class: "loading" }, "Checking the certificate…"));

  let text;
  try {
    text = await file.text();
  } catch {
    if (seq === checkSeq) showError("The file could not be read", "The browser could not read this file.", file);
    return;
  }
  if (seq !== checkSeq) return;
  try {
    JSON.parse(text);
  } catch {
    showError(
      "This is not a certificate file",
      "The file is not JSON. A certificate file is the .json file a registrar office hands out " +
        "(with a \u201cpresentation\u201d and a \u201crecord_proof\u201d). Nothing was sent to the node.",
      file,
    );
    return;
  }

  let response;
  try {
    response = await fetch(VERIFY_PATH, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: text,
      credentials: "same-origin",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch {
    if (seq === checkSeq) showError("Node unreachable", "The node did not answer. Check that it is running, then try again.", file);
    return;
  }
  const answer = await response.text();
  if (seq !== checkSeq) return;
  let body = null;
  try {
    body = JSON.parse(answer);
  } catch {
    // not JSON: handled below
  }
  if (!response.ok) {
    const message = body?.error?.message ?? `The node answered ${response.status}.`;
    const title = response.status < 500 ? "The node could not read this certificate file" : "The node could not check the file";
    showError(title, message, file);
    return;
  }
  if (!body || typeof body !== "object" || typeof body.valid !== "boolean") {
    showError("Unexpected answer", "The node's answer is not a verification result.", file);
    return;
  }
  showResult(body, file);
}

function pick(fileList) {
  const files = Array.from(fileList ?? []);
  if (files.length === 0) {
    showError("No file", "Drop a certificate file (a .json file), not text or a link.", null);
    return;
  }
  if (files.length > 1) {
    showError("One file at a time", `You dropped ${files.length} files; drop one certificate file.`, null);
    return;
  }
  check(files[0]).catch((error) => {
    console.error("verify:", error);
    showError("Something went wrong", "The certificate could not be checked.", files[0]);
  });
}

// --- wiring --------------------------------------------------------------------------------

const input = document.getElementById("file-input");
const zone = document.getElementById("drop-zone");

input.addEventListener("change", () => {
  pick(input.files);
  // Picking the same file again (after it was amended and refreshed) must fire "change" again.
  input.value = "";
});

let depth = 0;
zone.addEventListener("dragenter", (event) => {
  event.preventDefault();
  depth += 1;
  zone.dataset.drag = "over";
});
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  zone.dataset.drag = "over";
});
zone.addEventListener("dragleave", () => {
  depth = Math.max(0, depth - 1);
  if (depth === 0) zone.dataset.drag = "idle";
});
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  depth = 0;
  zone.dataset.drag = "idle";
  pick(event.dataTransfer?.files);
});

// A file dropped beside the zone must not make the browser open it (and leave the page).
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if (!zone.contains(event.target)) event.preventDefault();
  });
}

markReady();
