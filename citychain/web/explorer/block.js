// One block: its header, signature and transactions (route #/block/<height>).

import { facts, h } from "/static/dom.js";
import { ApiError, api } from "/static/explorer/api.js";
import { shortHash } from "/static/explorer/format.js";
import { chain } from "/static/explorer/live.js";
import { describeTx } from "/static/explorer/tx.js";
import { accountLink, badge, copyButton, hashText, section, table, timeText, txLink } from "/static/explorer/widgets.js";

const TX_DETAILS_PER_BLOCK = 50;

export async function blockView(ctx, heightText) {
  if (!/^\d+$/.test(heightText)) {
    throw new ApiError(400, `“${heightText}” is not a block height: use a whole number like 12.`);
  }
  const height = Number(heightText);
  const block = await api(`/blocks/${height}`);
  const header = block.header;
  const hashes = block.txs ?? [];

  const details = await Promise.all(
    hashes.slice(0, TX_DETAILS_PER_BLOCK).map((hash) => api(`/txs/${hash}`).catch(() => null)),
  );
  const rows = hashes.map((hash, i) => {
    const tx = details[i];
    const ok = tx ? tx.result.code === 0 : null;
    return h(
      "tr",
      {},
      h("td", { class: "num" }, String(i + 1)),
      h("td", {}, txLink(hash)),
      h("td", {}, tx ? describeTx(tx) : h("span", { class: "muted" }, "—")),
      h("td", {}, tx?.tx ? accountLink(tx.tx.sender) : h("span", { class: "muted" }, "—")),
      h("td", {}, ok === null ? "" : badge(ok, ok ? "OK" : `Failed (${tx.result.code})`)),
    );
  });

  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Neighbouring blocks" },
    height > 1 ? h("a", { href: `#/block/${height - 1}`, rel: "prev" }, `← Block ${height - 1}`) : h("span"),
    h("a", { href: `#/block/${height + 1}`, rel: "next", hidden: height >= chain.height }, `Block ${height + 1} →`),
  );
  const next = pager.querySelector('[rel="next"]');
  ctx.onBlock((b) => {
    if (b.height > height) next.hidden = false;
  });

  return h(
    "div",
    {},
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Latest blocks"), " / ", `Block ${height}`),
    h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h1", { tabindex: "-1" }, `Block ${height}`), pager),
      facts([
        ["hash", "Hash", [hashText(block.hash, { full: true }), copyButton(block.hash, "block hash")]],
        ["time", "Time", timeText(block.time_ms)],
        ["transactions", "Transactions", String(block.num_txs)],
        ["chain", "Chain", header.chain_id],
        [
          "previous-block",
          "Previous block",
          height > 1
            ? h("a", { class: "mono", href: `#/block/${height - 1}`, title: header.prev_hash }, shortHash(header.prev_hash, 12))
            : hashText(header.prev_hash),
        ],
        ["app-hash", "App hash", hashText(header.app_hash, { full: true })],
        ["transactions-hash", "Transactions hash", hashText(header.txs_hash, { full: true })],
        ["results-hash", "Results hash", hashText(header.results_hash, { full: true })],
        [
          "proposer",
          header.engine === "cometbft" ? "Proposer address" : "Proposer key",
          hashText(header.proposer, { full: true }),
        ],
      ]),
      h(
        "details",
        { class: "raw" },
        h("summary", {}, "Signature and header bytes"),
        facts([
          [
            "signature",
            "Signature",
            header.engine === "cometbft"
              ? "the validators' commit signatures are in CometBFT's block store (a proof bundle carries them)"
              : h("span", { class: "mono wrap-any" }, block.signature),
          ],
          ["header-bytes", "Header bytes", h("span", { class: "mono wrap-any" }, block.header_bytes)],
        ]),
      ),
    ),
    section(
      `Transactions (${hashes.length})`,
      table("Transactions in this block", ["#", "Hash", "What", "Sender", "Status"], rows, {
        empty: "This block has no transactions.",
        id: "block-txs",
      }),
      hashes.length > TX_DETAILS_PER_BLOCK
        ? h("p", { class: "muted small" }, `Details shown for the first ${TX_DETAILS_PER_BLOCK}.`)
        : null,
    ),
  );
}
