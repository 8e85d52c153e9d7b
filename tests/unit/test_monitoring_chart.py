"""The chart's monitoring templates (ServiceMonitor, PrometheusRule, the dashboards' ConfigMap)
rendered by the real `helm` as part of the whole chart: the ServiceMonitor selects the chart's
own Services, every alert rule is well formed and every alert and dashboard query parses as
PromQL (promql-parser; promtool's deeper check is `make monitoring-check`, not run here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_metric_names import ALL

from scripts.monitoring_check import (
    DASHBOARDS,
    dashboard_queries,
    metric_names,
    parse,
    rule_problems,
    substitute,
)
from tests.helm_chart import CHART, EXAMPLES, render, selects

ALL_ON = ("monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true",
          "monitoring.dashboards.enabled=true")
MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")


def render_with(*settings: str, values: Path | None = None,
                release: str = "obs") -> list[dict[str, Any]]:
    args = [arg for setting in settings for arg in ("--set", setting)]
    return render(values, *args, release=release, namespace="ops")


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind
             and (kind != "ConfigMap" or d["metadata"]["name"].endswith("-dashboards"))]
    return doc


def test_nothing_renders_until_turned_on() -> None:
    docs = render_with()
    assert [d for d in docs if d["kind"] in MONITORING_KINDS] == []
    assert [d for d in docs if d["metadata"]["name"].endswith("-dashboards")] == []
    # and each turns on alone
    for setting, kind in zip(ALL_ON, ("ServiceMonitor", "PrometheusRule", "ConfigMap"),
                             strict=True):
        assert one(render_with(setting), kind)["metadata"]["namespace"] == "ops"


def test_the_service_monitor_scrapes_every_component_but_the_edge() -> None:
    monitor = one(render_with(*ALL_ON, "monitoring.serviceMonitor.labels.release=kps"),
                  "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["metadata"]["name"] == "obs-laneway"
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "laneway",
                                               "app.kubernetes.io/instance": "obs"}
    assert spec["selector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "NotIn", "values": ["edge"]}]
    assert spec["namespaceSelector"] == {"matchNames": ["ops"]}
    assert spec["jobLabel"] == "app.kubernetes.io/component"
    assert [(e["port"], e["path"]) for e in spec["endpoints"]] == [("http", "/metrics")]


def scraped(docs: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(names of the Services the ServiceMonitor selects, names of those it does not); each
    selected one must have the port the monitor scrapes."""
    monitor = one(docs, "ServiceMonitor")
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    selected, left = set(), set()
    for service in (d for d in docs if d["kind"] == "Service"):
        name = service["metadata"]["name"]
        if (service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
                and selects(monitor["spec"]["selector"], service["metadata"]["labels"])):
            selected.add(name)
            assert ports <= {p["name"] for p in service["spec"]["ports"]}, name
        else:
            left.add(name)
    return selected, left


@pytest.mark.parametrize(("values", "settings", "prefix"), [
    (EXAMPLES["production"], (), "obs-laneway"),
    (None, (*ALL_ON, "nameOverride=flow"), "obs-flow"),
    (None, (*ALL_ON, "fullnameOverride=bpm", "nameOverride=flow"), "bpm"),
])
def test_the_service_monitor_selects_every_service_but_the_excluded_ones(
        values: Path | None, settings: tuple[str, ...], prefix: str) -> None:
    docs = render_with(*settings, values=values)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    selected, left = scraped(docs)

    assert left == {f"{prefix}-edge"}
    assert selected == set(services) - left
    # every service's Deployment is behind one of them (the connectors' groups and gateway too)
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} - {
        f"{prefix}-edge"} <= selected
    assert len(selected) >= 6


def test_nothing_excluded_scrapes_the_edge_too_and_another_release_nothing() -> None:
    docs = render(None, *[a for s in ALL_ON for a in ("--set", s)],
                  "--set-json", "monitoring.serviceMonitor.excludeComponents=[]",
                  release="obs", namespace="ops")
    assert "matchExpressions" not in one(docs, "ServiceMonitor")["spec"]["selector"]
    selected, left = scraped(docs)
    assert left == set()
    assert "obs-laneway-edge" in selected
    # another release's monitor in the same namespace selects none of these Services
    other = one(render_with(*ALL_ON, release="other"), "ServiceMonitor")
    assert not any(selects(other["spec"]["selector"], d["metadata"]["labels"])
                   for d in docs if d["kind"] == "Service")


def test_the_dashboards_ride_in_a_configmap_with_the_sidecar_label() -> None:
    configmap = one(render_with(*ALL_ON, "monitoring.dashboards.labelValue=yes"), "ConfigMap")
    assert configmap["metadata"]["name"] == "obs-laneway-dashboards"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "yes"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Laneway"}
    carried = {name: json.loads(text) for name, text in configmap["data"].items()}
    files = {f"laneway-{p.name}": json.loads(p.read_text())
             for p in (CHART / "dashboards").glob("*.json")}
    assert carried == files
    assert len(files) == 4


def rules_of(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = one(docs, "PrometheusRule")["spec"]["groups"]
    return [r for group in groups for r in group["rules"]]


def test_the_alert_rules_carry_the_thresholds_and_name_real_metrics() -> None:
    rules = rules_of(render_with(*ALL_ON, "monitoring.prometheusRule.consumerLagRecords=777",
                                 "monitoring.prometheusRule.runbookUrl=https://ops.example/m"))
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
        names = metric_names(parse(r["expr"]))
        assert names, r["expr"]
        assert names <= ALL, r["expr"]


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_every_alert_rule_is_well_formed_and_parses(values: str) -> None:
    docs = render(EXAMPLES[values], *[a for s in ALL_ON for a in ("--set", s)])
    groups = one(docs, "PrometheusRule")["spec"]["groups"]

    assert rule_problems(groups) == []
    assert len({g["name"] for g in groups}) == len(groups) >= 3


def test_the_rule_check_finds_what_prometheus_would_refuse() -> None:
    good = {"alert": "LanewayX", "expr": "sum(rate(x_total[5m])) > 0", "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "s", "description": "d", "runbook_url": "u#a"}}
    assert rule_problems([{"name": "g", "rules": [good]}]) == []
    broken = {
        "expr": {**good, "expr": "sum(rate(x_total[5m]) > 0"},
        "range": {**good, "expr": "x_total[5m]"},
        "type": {**good, "expr": "rate(x_total)"},
        "for": {**good, "for": "5 minutes"},
        "severity": {**good, "labels": {"severity": "page"}},
        "runbook": {**good, "annotations": {"summary": "s", "description": "d"}},
        "name": {**good, "alert": "laneway x"},
        "key": {**good, "record": "x:y"},
    }
    for what, rule in broken.items():
        assert rule_problems([{"name": "g", "rules": [rule]}]) != [], what
    assert rule_problems([]) == ["no groups"]
    assert rule_problems([{"name": "g", "rules": []}]) == ["group g: no rules"]
    assert rule_problems([{"name": "g", "rules": [good]}] * 2) == ["group g: named twice"]


def test_every_dashboard_query_parses_and_names_real_metrics() -> None:
    count = 0
    for path in sorted(DASHBOARDS.glob("*.json")):
        for title, expr in dashboard_queries(path):
            assert "$" not in expr, (path.name, title)
            tree = parse(expr)
            assert metric_names(tree) <= ALL, (path.name, title, expr)
            count += 1
    assert count >= 50


def test_grafana_variables_are_substituted_before_parsing() -> None:
    expr = ('sum by (type) (rate(x_total{namespace=~"$namespace", type=~"${type:regex}"}'
            '[$__rate_interval])) / $__range_s')
    done = substitute(expr, {"namespace": ".*", "type": "a|b"})
    assert done == ('sum by (type) (rate(x_total{namespace=~".*", type=~"a|b"}[5m])) / 3600')
    assert metric_names(parse(done)) == {"x_total"}
    with pytest.raises(ValueError, match=r"\$cluster"):
        substitute('x{cluster="$cluster"}', {})
    # unsubstituted, the interval is no duration: the parser refuses it
    with pytest.raises(ValueError, match="inside brackets"):
        parse("rate(x_total[$__rate_interval])")


@pytest.mark.parametrize(("setting", "message"), [
    ("monitoring.serviceMonitor.intervall=30s", "intervall"),
    ("monitoring.prometheusRule.consumerLagFor=15min", "consumerLagFor"),
    ("monitoring.serviceMonitor.excludeComponents={edgy}", "excludeComponents"),
    ("monitoring.dashboards.labelValue=not a label", "labelValue"),
    ("monitoring.prometheusRule.runbookUrl=docs/metrics.md#x", "runbookUrl"),
])
def test_the_schema_refuses_a_mistyped_monitoring_value(setting: str, message: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(message)):
        render_with(setting)
