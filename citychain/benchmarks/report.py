"""The text report of ``citychain bench payments`` (``--json`` prints the same dict as is)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_report"]


def format_report(r: dict[str, Any]) -> str:
    setup, node = r["setup"], r["node"]
    commit = node.get("block_commit_seconds", {})
    machine = r["machine"]
    lines = [
        f"citychain bench payments: {r['txs']:,} transfers among {r['accounts']:,} accounts "
        f"({r['senders']:,} senders), batches of {r['batch']}, {r['concurrency']} in flight, "
        f"{r['verifier_workers']} verifier worker(s)",
        "",
        f"  committed transfers/s      {r['committed_tps']:>12,.0f}",
        f"  latency p50 / p99 / max    {r['p50_ms']:>8,.0f} / {r['p99_ms']:,.0f} / "
        f"{r['max_ms']:,.0f} ms  (submission to commit)",
        f"  raw Ed25519 verify/s       {r['raw_verify_per_s']:>12,.0f}  (one core, same library)",
        f"  ratio                      {r['ratio']:>12.3f}",
        f"  committed / submitted      {r['committed']:>12,} / {r['txs']:,}"
        f"  in {r['wall_s']:.1f} s",
        f"  blocks                     {r['blocks']:>12,}  ({r['mean_txs_per_block']:,.0f} txs"
        " per block)",
        f"  block commit (node metric) {1000 * commit.get('mean', 0.0):>12.1f} ms mean, "
        f"p50 <= {commit.get('p50_le')} s, p99 <= {commit.get('p99_le')} s",
        "",
        f"  CPU during the run: node process {r['cpu_s']['node']:.1f} s, verifier workers "
        f"{r['cpu_s']['node_workers']:.1f} s, this client {r['cpu_s']['client']:.1f} s "
        f"(wall {r['wall_s']:.1f} s)",
        f"  setup: accounts {setup['accounts_s']:.1f} s, genesis write "
        f"{setup['genesis_write_s']:.1f} s ({setup['genesis_bytes'] / 1e6:.1f} MB), "
        f"signing {setup['sign_s']:.2f} s, node start {setup['node_start_s']:.1f} s",
        f"  machine: {machine['cpus']} cpus, load average {machine['loadavg']} before, "
        f"{r['loadavg_after']} after; Python {machine['python']}, PyNaCl {machine['pynacl']}",
    ]
    if not r["all_committed"]:
        lines += ["", "  NOT ALL COMMITTED WITH CODE 0:"]
        lines += [
            f"    {k}: {v} (e.g. {r['failure_samples'].get(k, '')})"
            for k, v in r["failures"].items()
        ]
        lines.append(
            f"    answered without a commit: {r['committed_late'] + r['not_committed']}, "
            f"of which committed later: {r['committed_late']}"
        )
    if "profile" in r:
        lines += ["", *_format_profile(r["profile"])]
    if "commit_scaling" in r:
        from citychain.benchmarks.commit_scaling import format_table

        lines += ["", format_table(r["commit_scaling"])]
    return "\n".join(lines)


def _format_profile(profile: dict[str, Any]) -> list[str]:
    gcs = ", ".join(
        f"{g} {v['collections']}x {v['seconds']:.2f} s" for g, v in profile["gc"].items()
    )
    lines = [
        f"node main thread under cProfile, {profile['window_s']:.1f} s window "
        f"(idle in epoll {100 * profile['idle_share']:.0f}%); garbage collections: {gcs}",
        "  hot spots by cumulative time (event-loop and framework dispatch frames left out):",
        f"  {'cum %':>6} {'cum s':>7} {'own s':>7} {'calls':>9}  function",
    ]
    for e in profile["top_hot_spots"]:
        lines.append(
            f"  {100 * e['cum_share']:>5.1f}% {e['cumtime_s']:>7.2f} {e['tottime_s']:>7.2f} "
            f"{e['calls']:>9}  {e['function']}"
        )
    lines += ["", f"  {'own %':>6} {'own s':>7} {'calls':>9}  function (by own time)"]
    for e in profile["top_tottime"]:
        lines.append(
            f"  {100 * e['tot_share']:>5.1f}% {e['tottime_s']:>7.2f} {e['calls']:>9}  "
            f"{e['function']}"
        )
    return lines
