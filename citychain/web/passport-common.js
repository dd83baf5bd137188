// What the battery (/battery) and fleet (/fleet) pages share: the element builder (dom.js),
// notices, the read-request file limits, and the drop zone that
// takes one read-request file.

import { h, notice } from "/static/dom.js";

export { h, notice };

export const MAX_FILE_BYTES = 16 * 1024;
export const REQUEST_KIND = "citychain/battery/read-request/v1";

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
