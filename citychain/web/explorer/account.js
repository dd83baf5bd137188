// One account: balances with their proofs, wallet tier and roles, recent transactions with
// what each moved (route #/account/<address>).

import { facts, getText, h, parseExactJson } from "/static/dom.js";
import { api } from "/static/explorer/api.js";
import { formatAmount, titleOf } from "/static/explorer/format.js";
import { accountLink, badge, blockLink, copyButton, section, table, txLink } from "/static/explorer/widgets.js";

const ACCOUNT_TXS = 25;
const REVOKE_URL_MS = 10_000; // a downloaded proof's object URL outlives the click by this much

// What each bank event moves: [from, to] attribute names (either may be absent).
const MOVES = {
  transfer: ["sender", "recipient"],
  mint: [null, "recipient"],
  burn: ["issuer", null],
  request_paid: ["payer", "merchant"],
  refund: ["merchant", "payer"],
};

/** How the events change ``address``'s balances: [{denom, delta (BigInt), other}]. */
function movesFor(events, address) {
  const out = [];
  for (const e of events) {
    const rule = MOVES[e.type];
    if (!rule || e.attributes.amount === undefined) continue;
    const [fromKey, toKey] = rule;
    const from = fromKey ? e.attributes[fromKey] : null;
    const to = toKey ? e.attributes[toKey] : null;
    const amount = BigInt(e.attributes.amount);
    if (from === address && to === address) continue;
    if (from === address) out.push({ denom: e.attributes.denom, delta: -amount, other: to });
    else if (to === address) out.push({ denom: e.attributes.denom, delta: amount, other: from });
  }
  return out;
}

export async function accountView(ctx, address) {
  const path = `/accounts/${encodeURIComponent(address)}`;
  const [account, { txs }] = await Promise.all([api(path), api(`${path}/txs?limit=${ACCOUNT_TXS}`)]);
  // The summaries carry no amounts; the receipts' events do.
  const receipts = await Promise.all(txs.map((t) => api(`/txs/${t.hash}`).catch(() => null)));

  const balanceRows = Object.entries(account.balances).map(([denom, amount]) =>
    h(
      "tr",
      { "data-denom": denom },
      h("th", { scope: "row" }, denom),
      h("td", { class: "num amount" }, formatAmount(amount, denom)),
      h("td", { class: "actions" }, proofButton(address, denom)),
    ),
  );

  const txRows = txs.map((t, i) => {
    const ok = t.code === 0;
    const receipt = receipts[i];
    const moves = receipt ? movesFor(receipt.result.events, address) : [];
    const what = t.types.map(titleOf).join(", ") || "—";
    const others = [...new Set(moves.map((m) => m.other).filter(Boolean))];
    const outgoing = moves.some((m) => m.delta < 0n) || (!moves.length && t.sender === address);
    const counterparty = others.length
      ? [outgoing ? "to " : "from ", accountLink(others[0]), others.length > 1 ? ` +${others.length - 1}` : ""]
      : t.sender !== address
        ? ["from ", accountLink(t.sender)]
        : null;
    return h(
      "tr",
      {},
      h("td", {}, blockLink(t.height)),
      h("td", {}, h("span", {}, what), counterparty ? h("span", { class: "muted" }, " ", counterparty) : null),
      h(
        "td",
        { class: "num" },
        moves.length
          ? moves.map((m) =>
              h(
                "div",
                { class: `amount ${m.delta < 0n ? "out" : "in"}` },
                `${m.delta < 0n ? "−" : "+"}${formatAmount(m.delta < 0n ? -m.delta : m.delta, m.denom)}`,
              ),
            )
          : h("span", { class: "muted" }, "—"),
      ),
      h("td", {}, badge(ok, ok ? "OK" : `Failed (${t.code})`)),
      h("td", {}, txLink(t.hash)),
    );
  });

  // Refresh when a new block touches this account (socket events name it), or on any new
  // height when polling (no events then).
  ctx.onBlock((block) => {
    const touched =
      block.resync || (block.txs ?? []).some((t) => JSON.stringify(t.events ?? []).includes(`"${address}"`));
    if (touched) ctx.rerender();
  });

  const roles = account.roles.length
    ? h("ul", { class: "chips" }, account.roles.map((r) => h("li", {}, r)))
    : h("span", { class: "muted" }, "none");

  const headline = Object.entries(account.balances).map(([denom, amount]) =>
    h("p", { class: "headline-amount", "data-denom": denom }, formatAmount(amount, denom)),
  );

  return h(
    "div",
    {},
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Latest blocks"), " / ", "Account"),
    h(
      "section",
      { class: "card" },
      h(
        "div",
        { class: "card-head" },
        h("h1", { tabindex: "-1" }, "Account"),
        account.frozen ? badge(false, "Frozen") : null,
      ),
      h(
        "p",
        { class: "address-line" },
        h("span", { class: "mono", id: "account-address" }, address),
        copyButton(address, "address"),
      ),
      h("div", { class: "account-grid" },
        h("div", { class: "headline" }, h("p", { class: "headline-label" }, "Balance"), headline),
        facts([
          ["wallet-tier", "Wallet tier", `${account.tier_name} (tier ${account.tier})`],
          ["nonce", "Nonce", `${account.nonce} (transactions sent)`],
          ["roles", "Roles", roles],
          ["frozen", "Frozen", account.frozen ? badge(false, "Yes: cannot send or receive") : "No"],
          ["as-of-block", "As of block", blockLink(account.height)],
        ]),
      ),
    ),
    section(
      "Balances and proofs",
      table("Balances", ["Denomination", ["Balance", "num"], ["Proof", "num"]], balanceRows, {
        empty: "No denominations.",
        id: "balances",
      }),
      h(
        "p",
        { class: "muted small" },
        "A balance proof is a Merkle proof of this balance against the signed block header; ",
        "anyone can check it offline with the citychain SDK (verify_bundle).",
      ),
    ),
    section(
      "Recent transactions",
      table(
        "Recent transactions of this account, newest first",
        ["Block", "What", ["Amount", "num"], "Status", "Transaction"],
        txRows,
        { empty: "No transactions yet.", id: "account-txs" },
      ),
      h("p", { class: "muted small" }, "Amounts exclude the sender’s fee."),
    ),
  );
}

function proofButton(address, denom) {
  const button = h("button", { type: "button", class: "secondary" }, "Download balance proof");
  button.setAttribute("aria-label", `Download ${denom} balance proof`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    const label = button.textContent;
    button.textContent = "Preparing…";
    try {
      // Saved byte for byte as the node sent it: re-serialising could round large integers.
      const text = await getText(
        `/accounts/${encodeURIComponent(address)}/balances/${encodeURIComponent(denom)}?prove=true`,
      );
      const height = parseExactJson(text).height;
      const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      const link = h("a", { href: url, download: `balance-proof-${address}-${denom}-h${height}.json`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), REVOKE_URL_MS);
      button.textContent = label;
    } catch (error) {
      button.textContent = "Proof unavailable";
      button.title = error.message;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
