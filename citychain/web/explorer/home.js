// The latest blocks, live, beside the money supply and the node's facts (route #/).

import { facts, h } from "/static/dom.js";
import { api } from "/static/explorer/api.js";
import { formatAmount, shortHash } from "/static/explorer/format.js";
import { refreshStatus } from "/static/explorer/live.js";
import { blockLink, section, timeText } from "/static/explorer/widgets.js";

const LATEST_BLOCKS = 20;

export async function homeView(ctx) {
  const [{ blocks }, supply, status] = await Promise.all([
    api(`/blocks?limit=${LATEST_BLOCKS}`),
    api("/bank/supply"),
    refreshStatus(),
  ]);

  const tbody = h("tbody", {}, blocks.map(blockRow));
  const blocksTable = h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { id: "latest-blocks" },
      h("caption", { class: "sr-only" }, "Latest blocks, newest first"),
      h(
        "thead",
        {},
        h("tr", {}, ["Height", "Time", "Txs", "Hash"].map((t) => h("th", { scope: "col" }, t))),
      ),
      tbody,
    ),
  );
  const emptyNote = h(
    "p",
    { class: "muted empty", hidden: blocks.length > 0 },
    "No blocks yet: the chain makes one when the first transaction arrives.",
  );

  const reload = async () => {
    const fresh = await api(`/blocks?limit=${LATEST_BLOCKS}`);
    if (!ctx.current()) return false;
    tbody.replaceChildren(...fresh.blocks.map(blockRow));
    emptyNote.hidden = fresh.blocks.length > 0;
    return true;
  };
  ctx.onBlock(async (block) => {
    if (block.resync || !block.hash) {
      // Polling only knows the new height: reload the list.
      if (!(await reload())) return;
    } else if (block.height !== Number(tbody.rows[0]?.dataset.height ?? 0) + 1) {
      // A gap (the socket drops blocks for slow readers): reload rather than mis-order.
      if (!(await reload())) return;
    } else {
      const row = blockRow(block);
      row.classList.add("fresh");
      tbody.prepend(row);
      while (tbody.rows.length > LATEST_BLOCKS) tbody.lastElementChild.remove();
      emptyNote.hidden = true;
    }
    refreshSide();
  });

  const supplyList = h("dl", { class: "facts", id: "supply" });
  const fillSupply = (s) =>
    supplyList.replaceChildren(
      ...Object.entries(s.supply).map(([denom, amount]) =>
        h("div", {}, h("dt", {}, denom), h("dd", { class: "amount" }, formatAmount(amount, denom))),
      ),
    );
  const nodeFacts = h("div");
  const fillNode = (st) =>
    nodeFacts.replaceChildren(
      facts([
        ["chain", "Chain", st.chain_id],
        ["validator", "Validator", st.validator?.name ?? "—"],
        ["engine", "Engine", st.engine ?? "—"],
        ["mempool", "Mempool", `${st.mempool_size} pending`],
      ]),
    );
  const refreshSide = async () => {
    try {
      const [freshSupply, freshStatus] = await Promise.all([api("/bank/supply"), api("/status")]);
      if (!ctx.current()) return;
      fillSupply(freshSupply);
      fillNode(freshStatus);
    } catch {
      // keep the last figures
    }
  };
  fillSupply(supply);
  fillNode(status);

  return h(
    "div",
    { class: "home" },
    h(
      "section",
      { class: "card blocks-card" },
      h(
        "div",
        { class: "card-head" },
        h("h1", { tabindex: "-1" }, "Latest blocks"),
        h("span", { class: "muted small" }, "updates as blocks are committed"),
      ),
      blocksTable,
      emptyNote,
    ),
    h(
      "aside",
      { class: "side" },
      section("Money supply", supplyList),
      section("Node", nodeFacts),
    ),
  );
}

function blockRow(block) {
  return h(
    "tr",
    { "data-height": block.height },
    h("td", {}, blockLink(block.height)),
    h("td", {}, timeText(block.time_ms)),
    h("td", { class: "num" }, String(block.num_txs)),
    h("td", {}, h("a", { class: "mono", href: `#/block/${block.height}`, title: block.hash, tabindex: "-1" }, shortHash(block.hash, 12))),
  );
}

