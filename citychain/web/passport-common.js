// What the battery (/battery) and fleet (/fleet) pages share: the element builder (dom.js),
// notices, the read-request file format and limits, and the drop zone that
// takes one read-request file.

import { h, notice } from "/static/dom.js";

export { h, notice };

export const MAX_FILE_BYTES = 16 * 1024;
export const REQUEST_KIND = "citychain/battery/read-request/v2";

/** Whether ``doc`` is a read-request file: the node answers each of its ``requests`` once, on
 * the one route (``"GET /battery/<id>/status"``) it was signed for. */
export function isRequestFile(doc) {
  return (
    !!doc &&
    doc.kind === REQUEST_KIND &&
    Array.isArray(doc.requests) &&
    doc.requests.every((r) => r && typeof r.route === "string" && typeof r.request === "string")
  );
}

/** The header value of an unused request of ``doc`` signed for ``route``, now used; null
 * when the file holds none (each is answered once, so none is sent twice). */
export function takeRequest(doc, route) {
  const entry = doc.requests.find((r) => r.route === route && !r.used);
  if (!entry) return null;
  entry.used = true;
  return entry.request;
}

/** Files chosen with ``input`` or dropped on ``zone`` go to ``pick``; a file dropped
 * elsewhere on the page is not opened by the browser. */
export function wireDropZone(zone, input, pick) {
  input.addEventListener("change", () => {
    pick(input.files);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.dataset.drag = "over";
  });
  zone.addEventListener("dragleave", () => {
    zone.dataset.drag = "idle";
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.dataset.drag = "idle";
    pick(event.dataTransfer?.files);
  });
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (!zone.contains(event.target)) event.preventDefault();
    });
  }
}
