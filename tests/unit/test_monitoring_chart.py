"""The chart's monitoring templates (ServiceMonitor, PrometheusRule, the dashboards' ConfigMap)
rendered by the real `helm`, on their own: they read only `.Values.monitoring`, `.Release` and
`.Chart` and their own helpers, so a chart holding just them and the `monitoring:` block of
helm/values.yaml renders them as the whole chart does."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_metric_names import ALL, NAME

from scripts.gotools import ensure

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm"
TEMPLATES = ("_monitoring.tpl", "servicemonitor.yaml", "prometheusrule.yaml",
             "grafana-dashboards.yaml")


@pytest.fixture(scope="module")
def monitoring_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chart = tmp_path_factory.mktemp("chart") / "laneway"
    (chart / "templates").mkdir(parents=True)
    shutil.copy(CHART / "Chart.yaml", chart / "Chart.yaml")
    shutil.copytree(CHART / "dashboards", chart / "dashboards")
    for name in TEMPLATES:
        shutil.copy(CHART / "templates" / name, chart / "templates" / name)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    (chart / "values.yaml").write_text(yaml.safe_dump({"monitoring": values["monitoring"]}))
    return chart


def render(chart: Path, *settings: str) -> list[dict[str, Any]]:
    args = [str(ensure("helm")), "template", "obs", str(chart), "--namespace", "ops"]
    for setting in settings:
        args += ["--set", setting]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


ALL_ON = ("monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true",
          "monitoring.dashboards.enabled=true")


def test_nothing_renders_until_turned_on(monitoring_chart: Path) -> None:
    assert render(monitoring_chart) == []


def test_the_service_monitor_scrapes_every_component_but_the_edge(
        monitoring_chart: Path) -> None:
    [monitor] = [d for d in render(monitoring_chart, *ALL_ON,
                                   "monitoring.serviceMonitor.labels.release=kps")
                 if d["kind"] == "ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "laneway",
                                               "app.kubernetes.io/instance": "obs"}
    assert spec["selector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "NotIn", "values": ["edge"]}]
    assert spec["namespaceSelector"] == {"matchNames": ["ops"]}
    assert spec["jobLabel"] == "app.kubernetes.io/component"
    assert [(e["port"], e["path"]) for e in spec["endpoints"]] == [("http", "/metrics")]


def test_the_dashboards_ride_in_a_configmap_with_the_sidecar_label(
        monitoring_chart: Path) -> None:
    [configmap] = [d for d in render(monitoring_chart, *ALL_ON,
                                     "monitoring.dashboards.labelValue=yes")
                   if d["kind"] == "ConfigMap"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "yes"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Laneway"}
    carried = {name: json.loads(text) for name, text in configmap["data"].items()}
    files = {f"laneway-{p.name}": json.loads(p.read_text())
             for p in (CHART / "dashboards").glob("*.json")}
    assert carried == files
    assert len(files) == 4


def test_the_alert_rules_carry_the_thresholds_and_name_real_metrics(
        monitoring_chart: Path) -> None:
    [rule] = [d for d in render(monitoring_chart, *ALL_ON,
                                "monitoring.prometheusRule.consumerLagRecords=777",
                                "monitoring.prometheusRule.runbookUrl=https://ops.example/m")
              if d["kind"] == "PrometheusRule"]
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} == {
        "LanewayConsumerLagGrowing", "LanewayDeadLetters", "LanewayEngineLoopStalled",
        "LanewayLoopStalled", "LanewayIncidentsRising", "LanewayAuditChainVerifyFailed"}
    lag = [r for r in rules if r["alert"] == "LanewayConsumerLagGrowing"]
    assert all("> 777" in r["expr"] for r in lag)
    assert all("{{ $labels.group }}" in r["annotations"]["summary"] for r in lag)
    for r in rules:
        assert r["annotations"]["runbook_url"].startswith("https://ops.example/m#laneway-")
        # Prometheus' own templates reach it unexpanded by Helm
        assert re.search(r"\{\{ \$(value|labels)", r["annotations"]["summary"]), r["alert"]
        names = set(NAME.findall(r["expr"]))
        assert names, r["expr"]
        assert names <= ALL, r["expr"]
        assert not re.search(r"\{\{|\}\}", r["expr"])


def promtool_check(tmp_path: Path, groups: list[dict[str, Any]]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    done = subprocess.run([str(ensure("promtool")), "check", "rules", str(rules)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_alert_rules(monitoring_chart: Path, tmp_path: Path) -> None:
    [rule] = [d for d in render(monitoring_chart, *ALL_ON) if d["kind"] == "PrometheusRule"]
    promtool_check(tmp_path, rule["spec"]["groups"])


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    # each panel's query as a recording rule, its Grafana variables given a value
    rules = []
    for path in sorted((CHART / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = re.sub(r"\$(namespace|type)\b", ".*", target["expr"])
                assert "$" not in expr, f"{path.name}: {expr} uses an unknown variable"
                rules.append({"record": "laneway:dashboard:query", "expr": expr})
    promtool_check(tmp_path, [{"name": "dashboards", "rules": rules}])
