// One transaction: its status, what it moved in plain sentences, its messages and events
// (route #/tx/<hash>).

import { facts, h } from "/static/dom.js";
import { ApiError, api } from "/static/explorer/api.js";
import { ADDRESS_RE, FEE_DENOM, HASH_RE, formatAmount, labelOf, titleOf } from "/static/explorer/format.js";
import { accountLink, badge, blockLink, copyButton, hashText, section, timeText } from "/static/explorer/widgets.js";

/** One line for a transaction: "Payment of 123.45 ccy to city1…". */
export function describeTx(tx) {
  const messages = tx.tx?.messages ?? [];
  if (!messages.length) return h("span", { class: "muted" }, "unreadable transaction");
  const first = messages[0];
  const body = first.body ?? {};
  const parts = [titleOf(first.type)];
  if (body.amount !== undefined && body.denom) parts.push(` of ${formatAmount(body.amount, body.denom)}`);
  const target = body.recipient ?? body.account;
  const line = h("span", {}, parts.join(""));
  if (target) line.append(" to ", accountLink(target));
  if (messages.length > 1) line.append(h("span", { class: "muted" }, ` and ${messages.length - 1} more`));
  return line;
}

export async function txView(ctx, hash) {
  if (!HASH_RE.test(hash)) {
    throw new ApiError(400, "A transaction hash is 64 hexadecimal characters.");
  }
  const tx = await api(`/txs/${hash.toLowerCase()}`);
  const block = await api(`/blocks/${tx.height}`).catch(() => null);
  const result = tx.result;
  const ok = result.code === 0;
  const body = tx.tx;

  const status = ok
    ? h("p", { class: "status status-ok", id: "tx-status" }, badge(true, "Success"), " Committed and applied.")
    : h(
        "div",
        { class: "status status-bad", id: "tx-status", role: "alert" },
        h("p", {}, badge(false, "Failed"), ` Code ${result.code}${result.codespace ? ` in ${result.codespace}` : ""}.`),
        result.log ? h("p", { class: "log" }, result.log) : null,
        h("p", { class: "muted small" }, "A failed transaction stays in its block; only its fee is charged."),
      );

  const summary = facts([
    ["hash", "Hash", [hashText(tx.hash, { full: true }), copyButton(tx.hash, "transaction hash")]],
    ["block", "Block", [blockLink(tx.height), h("span", { class: "muted" }, ` · transaction ${tx.index + 1} of the block`)]],
    block ? ["time", "Time", timeText(block.time_ms)] : null,
    body ? ["sender", "Sender", accountLink(body.sender, { full: true })] : null,
    body ? ["fee", "Fee", formatAmount(body.fee, FEE_DENOM)] : null,
    body ? ["nonce", "Nonce", String(body.nonce)] : null,
    body?.memo ? ["memo", "Memo", body.memo] : null,
    body?.expiry_height ? ["valid-until-height", "Valid until height", String(body.expiry_height)] : null,
    result.data ? ["result-data", "Result data", hashText(result.data, { full: true })] : null,
  ]);

  const messages = (body?.messages ?? []).map((m, i) =>
    h(
      "article",
      { class: "message" },
      h("h3", {}, titleOf(m.type), " ", h("span", { class: "type-tag" }, m.type)),
      m.body ? fieldList(m.body) : h("p", { class: "muted" }, `Message ${i + 1} could not be decoded.`),
    ),
  );

  const events = result.events.map((e) =>
    h("article", { class: "event" }, h("h3", {}, h("span", { class: "type-tag" }, e.type)), fieldList(e.attributes)),
  );

  return h(
    "div",
    {},
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: "#/" }, "Latest blocks"),
      " / ",
      h("a", { href: `#/block/${tx.height}` }, `Block ${tx.height}`),
      " / ",
      "Transaction",
    ),
    h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h1", { tabindex: "-1" }, body ? titleOf(body.messages[0]?.type) : "Transaction")),
      status,
      storyOf(result.events),
      summary,
    ),
    section(`Messages (${messages.length})`, messages.length ? messages : h("p", { class: "muted" }, "The transaction could not be decoded.")),
    section(`Events (${events.length})`, events.length ? events : h("p", { class: "muted empty" }, "No events.")),
    h(
      "details",
      { class: "card raw" },
      h("summary", {}, "Raw transaction (hex)"),
      h("p", { class: "mono wrap-any" }, tx.raw),
    ),
  );
}

/** Plain sentences for the money a transaction moved: "A paid 1.00 ccy to B." */
function storyOf(events) {
  const lines = [];
  for (const e of events) {
    const a = e.attributes;
    const amount = a.amount !== undefined ? h("strong", { class: "amount" }, formatAmount(a.amount, a.denom)) : null;
    if (e.type === "transfer") lines.push([accountLink(a.sender), " paid ", amount, " to ", accountLink(a.recipient), "."]);
    else if (e.type === "mint") lines.push([accountLink(a.issuer), " minted ", amount, " for ", accountLink(a.recipient), "."]);
    else if (e.type === "burn") lines.push([accountLink(a.issuer), " burned ", amount, "."]);
    else if (e.type === "request_paid") lines.push([accountLink(a.payer), " paid ", amount, " to merchant ", accountLink(a.merchant), "."]);
    else if (e.type === "refund") lines.push([accountLink(a.merchant), " refunded ", amount, " to ", accountLink(a.payer), "."]);
    else if (e.type === "payment_request") lines.push([accountLink(a.merchant), " asked for ", amount, "."]);
    else if (e.type === "set_tier") lines.push([accountLink(a.verifier), " set ", accountLink(a.account), ` to wallet tier ${a.tier}.`]);
  }
  if (!lines.length) return null;
  return h("ul", { class: "story", id: "tx-story" }, lines.map((line) => h("li", {}, line)));
}

/** The fields of a message body or event: addresses link, amounts use their denomination. */
function fieldList(fields) {
  const denom = typeof fields.denom === "string" ? fields.denom : undefined;
  return h(
    "dl",
    { class: "facts fields" },
    Object.entries(fields).map(([name, value]) =>
      h("div", { "data-field": name }, h("dt", {}, labelOf(name)), h("dd", {}, renderValue(name, value, denom))),
    ),
  );
}

function renderValue(name, value, denom) {
  if (value === null || value === undefined || value === "") return h("span", { class: "muted" }, "—");
  if (name === "amount" && (typeof value === "number" || typeof value === "bigint")) {
    return h("span", { class: "amount" }, formatAmount(value, denom));
  }
  if (Array.isArray(value)) {
    // multi_send outputs: [[address, amount], ...]
    return h(
      "ul",
      { class: "plain" },
      value.map((item) =>
        Array.isArray(item) && item.length === 2 && typeof item[0] === "string" && ADDRESS_RE.test(item[0])
          ? h("li", {}, accountLink(item[0]), " ", h("span", { class: "amount" }, formatAmount(item[1], denom)))
          : h("li", {}, renderValue("", item, denom)),
      ),
    );
  }
  if (typeof value === "string" && ADDRESS_RE.test(value)) return accountLink(value, { full: true });
  if (typeof value === "string" && /^[0-9a-f]{16,}$/.test(value)) return hashText(value, { full: true });
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") return h("code", {}, JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
  return String(value);
}
