"""docs/prometheus-alerts.yml is valid YAML in Prometheus' rules shape, and every citychain_*
metric it alerts on is one the node exports (citychain/node/metrics.py): a renamed metric
would otherwise silence its alert without a word. ``promtool check rules`` runs too when
installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from citychain.node.metrics import NodeMetrics

DOCS = Path(__file__).resolve().parents[3] / "docs"
RULES = DOCS / "prometheus-alerts.yml"
SEVERITIES = {"critical", "warning", "info"}


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in NodeMetrics().registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    found: list[dict[str, Any]] = []
    for group in doc["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"], group.get("name")
        found.extend(group["rules"])
    return found


def test_alert_rules_are_well_formed() -> None:
    alerts = rules()
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names)) >= 10
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert re.fullmatch(r"[0-9]+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_alert_rules_name_only_metrics_the_node_exports() -> None:
    exported = exported_names()
    named = {m for rule in rules() for m in re.findall(r"\bcitychain_[a-z_]+", rule["expr"])}
    assert named, "no rule on the node's own metrics"
    assert named <= exported, sorted(named - exported)


def test_promtool_accepts_the_rules_when_installed() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        return  # not installed here: the YAML checks above still run
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_operations_doc_names_the_alert_rules_and_the_token() -> None:
    text = (DOCS / "operations.md").read_text()
    for needle in ("prometheus-alerts.yml", "operator-token", "systemd", "backup", "--tls-cert"):
        assert needle in text, needle
