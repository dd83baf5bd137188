"""The text report of ``citychain bench payments --network N`` (``--json`` prints the dict)."""

from __future__ import annotations

from typing import Any

from citychain.benchmarks.report import _format_profile

__all__ = ["format_network_report"]


def _row(name: str, r: dict[str, Any], blocks: int, per_block: float) -> str:
    return (
        f"  {name:<34} {r['committed_tps']:>9,.0f} {r['p50_ms']:>8,.0f} {r['p99_ms']:>8,.0f} "
        f"{r['max_ms']:>8,.0f} {blocks:>7,} {per_block:>9,.0f} {r['wall_s']:>7.1f}"
    )


def _cpu(c: dict[str, Any], wall: float) -> str:
    apps = (
        f"apps {c['apps']:.1f} s, verifier workers {c['app_workers']:.1f} s, " if c["apps"] else ""
    )
    return (
        f"{apps}CometBFT {c['cometbft']:.1f} s, this client {c['client']:.1f} s "
        f"(wall {wall:.1f} s, so at most {2 * wall:.1f} CPU-s on 2 cores)"
    )


def format_network_report(r: dict[str, Any]) -> str:
    solo, ours, kv = r["solo"], r["citychain"], r["kvstore"]
    seen, ratios, goals, n = ours["observed"], r["ratios"], r["goals"], r["nodes"]
    config, machine = r["network_config"], r["machine"]
    yes = {True: "met", False: "NOT met"}
    lines = [
        f"citychain bench payments --network {n}: {r['txs']:,} transfers among "
        f"{r['accounts']:,} accounts ({r['senders']:,} senders), batches of {r['batch']}, "
        f"{r['concurrency']} in flight",
        f"  CometBFT {r['cometbft']}; both networks: timeout_commit "
        f"{config['consensus.timeout_commit']}, timeout_propose "
        f"{config['consensus.timeout_propose']}, mempool {config['mempool.size']:,} "
        f"(recheck {config['mempool.recheck']})"
        + ("" if config["same_for_kvstore"] else " -- THE KVSTORE NETWORK'S CONFIG DIFFERS"),
        "",
        f"  {'':<34} {'commit/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'blocks':>7} "
        f"{'txs/block':>9} {'wall s':>7}",
        _row("solo engine (API answers)", solo, solo["blocks"], solo["mean_txs_per_block"]),
        _row(f"citychain, {n} validators (API)", ours, ours["blocks"], ours["mean_txs_per_block"]),
        _row("  same, seen by CometBFT", seen, ours["blocks"], ours["mean_txs_per_block"]),
        _row(f"kvstore, {n} validators (CometBFT)", kv, kv["blocks"], kv["mean_txs_per_block"]),
        "",
        f"  network / solo      {ratios['network_over_solo']:.3f}  (API answers, both)",
        f"  network / kvstore   {ratios['network_over_kvstore']:.3f}  (commits seen by CometBFT, "
        "both)",
        f"  goals: >= 1,000 committed/s {yes[goals['tps']]}; p99 < 3 s {yes[goals['p99']]}; "
        f">= half of kvstore {yes[goals['kvstore_share']]}",
        "",
        f"  block interval (node0): citychain {ours['mean_block_interval_s']:.2f} s, "
        f"kvstore {kv['mean_block_interval_s']:.2f} s; largest block: citychain "
        f"{ours['max_txs_per_block']:,} txs, kvstore {kv['max_txs_per_block']:,}",
        f"  CPU, citychain network: {_cpu(ours['cpu_s'], ours['wall_s'])}",
        f"  CPU, kvstore network:   {_cpu(kv['cpu_s'], kv['wall_s'])}",
        f"  CPU, solo: node {solo['cpu_s']['node']:.1f} s, verifier "
        f"{solo['cpu_s']['node_workers']:.1f} s; raw Ed25519 verify "
        f"{solo['raw_verify_per_s']:,.0f}/s (solo ratio {solo['ratio']:.3f})",
        f"  setup: citychain network created in {ours['setup']['create_s']:.1f} s (genesis "
        f"{ours['setup']['genesis_bytes'] / 1e6:.1f} MB), making blocks after "
        f"{ours['setup']['start_s']:.1f} s; kvstore network after {kv['setup']['start_s']:.1f} s",
        f"  machine: {machine['cpus']} cpus, load average {machine['loadavg']} before, "
        f"{r['loadavg_after']} after; Python {machine['python']}",
    ]
    problems = _problems(r)
    if problems:
        lines += ["", "  FAILED:", *[f"    {p}" for p in problems]]
    for index, profile in enumerate(ours.get("profiles", [])[:1]):
        lines += ["", f"node{index} app:", *_format_profile(profile)]
    return "\n".join(lines)


def _problems(r: dict[str, Any]) -> list[str]:
    out = []
    for name in ("solo", "citychain", "kvstore"):
        part = r[name]
        if not part["all_committed"]:
            failures = ", ".join(
                f"{k}: {v} (e.g. {part['failure_samples'].get(k, '')[:120]})"
                for k, v in part["failures"].items()
            )
            committed = f"{part['committed']:,} of {r['txs']:,} committed"
            out.append(f"{name}: {committed}; {failures or 'no refusals'}")
        for error in part.get("watch_errors", []):
            out.append(f"{name}: block watcher: {error}")
    if not r["citychain"]["app_hashes_agree"]:
        out.append("citychain: the nodes disagree on the block or app hash")
    return out
