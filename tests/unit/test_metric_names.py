"""Every service's /metrics follows one naming scheme, and the dashboards, the alert rules and
docs/metrics.md name only metrics that exist (one source of truth: the services' registries).

Each service's metrics are made as its process makes them (its `Metrics` classes on one
registry), without Kafka or a database; the names are read from the registry, and the metric
names in the PromQL of helm/dashboards/*.json and helm/templates/prometheusrule.yaml are
checked against them.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import services
from laneway.consuming import ProjectionMetrics
from laneway.service import Metrics
from services.audit.metrics import ApiMetrics, InstanceMetrics, LiveMetrics, SinkMetrics
from services.bridge.bridge import BridgeMetrics
from services.connectors.metrics import ConnectorMetrics
from services.definitions.metrics import DefinitionsMetrics
from services.engine.metrics import EngineMetrics
from services.triggers.metrics import TriggersMetrics
from services.worklist.metrics import WorklistMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "helm" / "dashboards"
RULES = ROOT / "helm" / "templates" / "prometheusrule.yaml"
DOC = ROOT / "docs" / "metrics.md"

# what each service's process makes on its registry (a connector package's own metrics,
# examples/connector-template's, follow the scheme as `laneway_connectors_<type>_*`)
SERVICES: dict[str, list[type[Metrics]]] = {
    "engine": [EngineMetrics],
    "definitions": [DefinitionsMetrics],
    "worklist": [WorklistMetrics],
    "connectors": [ConnectorMetrics],
    "audit": [SinkMetrics, InstanceMetrics, LiveMetrics, ApiMetrics],
    "triggers": [TriggersMetrics],
    "bridge": [BridgeMetrics],
}
HTTP = {"definitions", "worklist", "connectors", "audit", "triggers"}
CONSUMING = set(SERVICES) - {"definitions"}
# a histogram's or a summary's unit is its last word
UNITS = ("seconds", "bytes", "records")
NAME = re.compile(r"laneway_[a-z0-9_]*[a-z0-9]")


def families(service: str) -> dict[str, str]:
    """{name: type} of the metrics the service's process registers (a counter's name without
    `_total`, as prometheus_client keeps it)."""
    registry = CollectorRegistry()
    for cls in SERVICES[service]:
        cls(registry)
    return {family.name: family.type for family in registry.collect()}


def exposed(service: str) -> set[str]:
    """The series names the service's /metrics can show."""
    names: set[str] = set()
    for name, kind in families(service).items():
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind in ("histogram", "summary"):
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


ALL = set().union(*(exposed(s) for s in SERVICES))


def test_every_services_metrics_class_is_checked() -> None:
    # a Metrics class a service adds later is checked without editing this test's list
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if not module.name.endswith(("__main__",)):
            importlib.import_module(module.name)

    def subclasses(cls: type[Metrics]) -> set[type[Metrics]]:
        found = set(cls.__subclasses__())
        return found.union(*(subclasses(c) for c in found))

    made = {c for c in subclasses(Metrics) if c.__module__.startswith("services.")}
    listed = {c for classes in SERVICES.values() for c in classes}
    assert made - {ProjectionMetrics} <= listed


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_name_follows_the_scheme(service: str) -> None:
    found = families(service)
    prefix = re.compile(rf"laneway_{service}_[a-z][a-z0-9]*(_[a-z0-9]+)*")
    for name, kind in found.items():
        assert prefix.fullmatch(name), f"{name} is not laneway_{service}_<what>_<unit>"
        assert not name.endswith(("_total", "_count", "_sum", "_bucket")), name
        if kind in ("histogram", "summary"):
            assert name.endswith(UNITS), f"{name}: a histogram ends in its unit {UNITS}"
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), name
    # the shared ones: HTTP where there is an API, consumer lag and the watchdog where there
    # are consumers
    shared = {"http_request_duration_seconds"} if service in HTTP else set()
    if service in CONSUMING:
        shared |= {"consumer_lag_records", "loop_stalled", "loop_last_poll_timestamp_seconds"}
    assert {f"laneway_{service}_{name}" for name in shared} <= found.keys()


def test_the_issue_lists_metrics_exist() -> None:
    assert {
        "laneway_engine_commands_processed_total", "laneway_engine_commands_rejected_total",
        "laneway_engine_batch_seconds_bucket", "laneway_engine_transaction_seconds_bucket",
        "laneway_audit_transaction_seconds_bucket", "laneway_worklist_batch_seconds_bucket",
        "laneway_engine_jobs_created_total", "laneway_connectors_jobs_completed_total",
        "laneway_connectors_job_seconds_bucket", "laneway_audit_incidents_open",
        "laneway_worklist_user_tasks_open", "laneway_worklist_user_tasks_overdue",
        "laneway_audit_availability_lag_seconds_bucket", "laneway_triggers_fires_total",
        "laneway_triggers_poll_errors_total", "laneway_audit_chain_verifications_total",
        "laneway_engine_loop_stalled", "laneway_engine_dead_letters_total",
    } <= ALL


def dashboard_exprs() -> list[tuple[str, str]]:
    exprs = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            exprs += [(path.name, t["expr"]) for t in panel.get("targets", [])]
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                exprs.append((path.name, var["definition"]))
    return exprs


def test_dashboards_are_json_with_unique_uids_and_titles() -> None:
    boards = [json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))]
    assert {b["uid"] for b in boards} == {"laneway-engine", "laneway-connectors",
                                          "laneway-worklist", "laneway-audit"}
    assert len({b["title"] for b in boards}) == len(boards)
    for board in boards:
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]
        assert all(p["targets"] for p in board["panels"]), board["uid"]


def test_every_dashboard_query_names_a_real_metric() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) > 40
    for where, expr in exprs:
        names = NAME.findall(expr)
        assert names, f"{where}: {expr} names no metric"
        missing = set(names) - ALL
        assert not missing, f"{where}: {expr} names {missing}, which no service has"


def test_every_alert_names_a_real_metric() -> None:
    text = RULES.read_text()
    names = set(NAME.findall(text))
    # the five alerts of the issue, each over the metrics it needs
    for alert in ("LanewayConsumerLagGrowing", "LanewayEngineLoopStalled",
                  "LanewayIncidentsRising", "LanewayAuditChainVerifyFailed",
                  "LanewayDeadLetters"):
        assert f"alert: {alert}" in text
    assert names - ALL == set()
    # every consuming service's lag and every dead-letter counter is watched
    assert {f"laneway_{s}_consumer_lag_records" for s in CONSUMING} <= names
    assert {n for n in ALL if n.endswith("_dead_letters_total")} <= names


def test_docs_list_every_metric_and_only_real_ones() -> None:
    text = DOC.read_text()
    # `laneway_<service>_*` patterns leave a bare prefix behind: not a name
    documented = {n for n in NAME.findall(text) if n.count("_") > 1}
    # a histogram is documented by its name; its series by the suffixes
    every = set()
    for service in SERVICES:
        for name, kind in families(service).items():
            every.add(f"{name}_total" if kind == "counter" else name)
    assert every - documented == set(), "not in docs/metrics.md"
    stems = {re.sub(r"_(bucket|sum|count)$", "", n) for n in ALL} | ALL
    unknown = {n for n in documented if n not in stems and not n.startswith("laneway_connector_")}
    assert unknown == set(), "named in docs/metrics.md but no service has it"
    for anchor in re.findall(r"#(laneway-[a-z-]+)", RULES.read_text()):
        assert f'<a id="{anchor}"></a>' in text, anchor
