// How the explorer writes the ledger's values: amounts in their denomination, block times,
// short hashes, and the names of message types and fields.

// Decimal places per denomination (genesis bank.denoms[].decimals). The API does not publish
// them yet, so the explorer knows the city currency's; other denominations show minor units.
const DECIMALS = { ccy: 2 };
export const FEE_DENOM = "ccy"; // genesis bank.params.fee_denom

const MESSAGE_TITLES = {
  "bank/send": "Payment",
  "bank/multi_send": "Payment to several recipients",
  "bank/mint": "Mint",
  "bank/burn": "Burn",
  "bank/set_tier": "Set wallet tier",
  "bank/create_request": "Payment request",
  "bank/pay_request": "Pay a request",
  "bank/cancel_request": "Cancel a request",
  "bank/refund": "Refund",
};

const FIELD_LABELS = {
  recipient: "Recipient",
  sender: "Sender",
  denom: "Denomination",
  amount: "Amount",
  outputs: "Outputs",
  account: "Account",
  tier: "Tier",
  memo: "Memo",
  expiry_height: "Expires at height",
  payer: "Payer",
  request_id: "Request",
  issuer: "Issuer",
  verifier: "Verifier",
  merchant: "Merchant",
  id: "Id",
};

export const ADDRESS_RE = /^city1[02-9ac-hj-np-z]{20,90}$/;
export const HASH_RE = /^[0-9a-fA-F]{64}$/;

export function shortHash(hex, keep = 10) {
  const s = String(hex);
  return s.length > keep * 2 + 1 ? `${s.slice(0, keep)}…${s.slice(-6)}` : s;
}

/** An integer amount in minor units as "1,234.56 ccy"; exact for amounts up to 2^64. */
export function formatAmount(amount, denom) {
  const decimals = DECIMALS[denom] ?? 0;
  let digits;
  try {
    digits = BigInt(amount).toString();
  } catch {
    return `${amount} ${denom ?? ""}`.trim();
  }
  const negative = digits.startsWith("-");
  if (negative) digits = digits.slice(1);
  digits = digits.padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = decimals ? `.${digits.slice(-decimals)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}${denom ? ` ${denom}` : ""}`;
}

function pad2(n) {
  return String(n).padStart(2, "0");
}

/** Block time in the viewer's local time, "2026-05-01 14:03:07". */
export function formatTime(ms) {
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return "—";
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  );
}

export function titleOf(type) {
  return MESSAGE_TITLES[type] ?? type;
}

export function labelOf(field) {
  return FIELD_LABELS[field] ?? field.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}
