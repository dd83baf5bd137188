"""The certificate benchmark's figures as the table docs/benchmarks.md shows."""

from __future__ import annotations

from typing import Any

from citychain.credentials.qr import (
    QR_PART_BYTES,
)


def _rate_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, note) of every rate measured."""
    i, v = r["issue"], r["verify"]
    here, one, many = v["in_this_process"], v["one_process"], v["processes"]
    full = v["full_one_process"]
    return [
        ("records committed / s (ledger step)", f"{i['ledger_per_s']:,.0f}",
         f"{i['committed']:,} in {i['ledger_s']:.2f} s, {i['blocks']} blocks, "
         f"batches of {r['batch']}"),
        ("certificates finished / s (finish step)", f"{i['finish_per_s']:,.0f}",
         f"{i['issued']:,} in {i['finish_s']:.2f} s, {r['finish_workers']} {r['finish']}"),
        ("certificates issued / s (end to end)", f"{i['issued_per_s']:,.0f}",
         f"{i['issued']:,} in {i['wall_s']:.2f} s (prepare {i['prepare_s']:.2f} s)"),
        ("verifications / s, in the bench process", f"{here['per_s']:,.0f}",
         f"{here['valid']:,} valid, {here['invalid']} not, {here['seconds']:.2f} s"),
        ("verifications / s, 1 worker process", f"{one['per_s']:,.0f}",
         f"{one['valid']:,} valid, {one['invalid']} not, {one['seconds']:.2f} s"),
        (f"verifications / s, {many['processes']} processes", f"{many['per_s']:,.0f}",
         f"{many['valid']:,} valid, {many['invalid']} not, {many['seconds']:.2f} s "
         f"(+{many['startup_s']:.2f} s start-up, not counted)"),
        (f"ratio {many['processes']} processes / 1", f"{v['ratio']:.2f}", ""),
        ("verifications / s, full disclosure, bench process", f"{full['per_s']:,.0f}",
         f"{full['valid']:,} valid, {full['invalid']} not"),
    ]  # fmt: skip


def _qr_lines(q: dict[str, Any]) -> list[str]:
    """The sizes of the QR payloads, and the PNG written of a median one."""
    lines = [
        "",
        f"QR payload bytes over {q['sample']} certificates (one code holds {q['capacity']:,}; "
        f"write_qr cuts parts of {QR_PART_BYTES:,}; "
        f"record proofs cross {q['proof_levels']['min']} to {q['proof_levels']['max']} trie "
        "levels):",
    ]
    for name, label in (
        ("two_claims", "born_in_city + age_over_18"),
        ("one_claim", "age_over_18"),
        ("full", "full disclosure"),
    ):
        s = q[name]
        lines.append(
            f"  {label:<28} min {s['min']:,}  median {s['median']:,.0f}  max {s['max']:,}"
            f"  fit one code {s['fit']}/{q['sample']}  parts of {QR_PART_BYTES:,}: "
            + ", ".join(f"{n} codes x{k}" for n, k in s["codes"].items())
        )
    f = q["json_bytes"]["full_file"]
    lines.append(
        f"  certificate file (JSON, indent 2): min {f['min']:,}  median {f['median']:,.0f}"
        f"  max {f['max']:,}"
    )
    w, h = q["parts"]["two_claims_without_proof"], q["parts"]["proof_hash_bytes"]
    lines.append(
        f"  of which: 2-claim presentation without its proof, median {w['median']:,.0f}; "
        f"the proof's non-empty sibling hashes, median {h['median']:,.0f} raw bytes"
    )
    png = q["png"]
    lines.append(
        f"  QR PNG of a median 2-claim presentation ({png['payload_bytes']:,} bytes): "
        + (
            f"written as {png['codes']} code(s), {png['png_bytes']:,} bytes of PNG"
            + {
                True: ", read back with zbarimg: equal",
                False: ", READ BACK DIFFERENT",
                None: "",
            }[png.get("read_back_equal")]
            if png["written"]
            else f"NOT written: {png['error']}"
        )
    )
    return lines


def format_table(r: dict[str, Any]) -> str:
    i, v, q = r["issue"], r["verify"], r["qr"]
    many = v["processes"]
    cpu = i["cpu_s"]
    rows = _rate_rows(r)
    width = max(len(name) for name, _, _ in rows)
    lines = [
        f"Birth certificates: {r['count']:,} issued through a real node, verified offline "
        f"(2-claim presentations {'+'.join(v['presented'])}, genesis validators trusted)",
        "",
        *(f"{name:<{width}} {value:>8}  {note}" for name, value, note in rows),
        "",
        f"goal {v['goal_per_s']:,} offline verifications/s: "
        f"{'met' if v['goal_met_one_process'] else 'NOT met'} on 1 worker process, "
        f"{'met' if v['goal_met_processes'] else 'NOT met'} on {many['processes']}",
        f"CPU s, ledger step: node {cpu['ledger']['node']:.1f}, its verifier "
        f"{cpu['ledger']['node_workers']:.1f}, bench {cpu['ledger']['bench']:.1f}; finish step: "
        f"node {cpu['finish']['node']:.1f}, bench {cpu['finish']['bench']:.1f}, finishing "
        f"processes {cpu['finish']['finish_processes']:.1f}",
    ]
    if q:
        lines += _qr_lines(q)
    m = r["machine"]
    lines += [
        "",
        f"node start {r['node_start_s']:.2f} s; machine: {m['cpus']} cpus, load average "
        f"{m['loadavg']} before, {r['loadavg_after']} after (other processes share these cores)",
    ]
    if not (r["all_issued"] and r["all_valid"]):
        lines.append(
            f"FAILED: all issued {r['all_issued']} (failures {i['failures']} "
            f"{i['failure_logs']}), all valid {r['all_valid']}"
        )
    return "\n".join(lines)
