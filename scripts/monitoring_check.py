"""The chart's alert rules and dashboard queries: what every test run checks, and Prometheus'
own `promtool` as a deeper check that is not part of `make test`.

    python -m scripts.monitoring_check     # `make monitoring-check`

Every test run (tests/unit/test_monitoring_chart.py) parses each alert's `expr` and each
dashboard target's `expr` with promql-parser (a binding of a Rust PromQL parser, installed as a
wheel) and checks the rule groups' structure with `rule_problems`. `make monitoring-check`
also builds promtool once (scripts.gotools: Prometheus' Go module, about ten minutes on a fresh
two-core machine, hence not in `make test`), renders the chart's PrometheusRule with the real
`helm` and runs `promtool check rules` on its groups, and on the dashboards' queries as
recording rules.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from scripts.gotools import ToolMissing, ensure

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm"
DASHBOARDS = CHART / "dashboards"
SEVERITIES = ("critical", "warning", "info")
ALERT_KEYS = frozenset({"alert", "expr", "for", "keep_firing_for", "labels", "annotations"})
ANNOTATIONS = ("summary", "description", "runbook_url")
_TIMEOUT_S = 300.0

# Grafana's built-in variables, given values of their kind so the query parses as Prometheus
# would receive it (durations for the intervals, numbers for the _ms/_s forms).
GRAFANA_BUILTINS = {
    "__rate_interval": "5m", "__interval": "1m", "__range": "1h",
    "__rate_interval_ms": "300000", "__interval_ms": "60000", "__range_ms": "3600000",
    "__range_s": "3600",
}
# $name, ${name}, ${name:format} and the old [[name]]
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")

__all__ = ["dashboard_queries", "metric_names", "parse", "promtool_check", "rule_groups",
           "rule_problems", "substitute"]


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """`expr` with Grafana's variables replaced: the dashboard's own by `variables` (their
    value for "All", a regular expression), Grafana's built-ins by a value of their kind.
    Raises ValueError naming a variable that is neither."""
    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in variables:
            return variables[name]
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        raise ValueError(f"unknown variable ${name} in {expr!r}")
    return _VARIABLE.sub(value, expr)


def dashboard_queries(path: Path) -> list[tuple[str, str]]:
    """(panel title, query with its variables substituted) of every target of a dashboard."""
    board = json.loads(path.read_text())
    variables = {v["name"]: str(v.get("allValue") or ".*")
                 for v in board.get("templating", {}).get("list", [])
                 if v.get("type") in ("query", "custom", "textbox", "constant")}
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            queries.append((str(panel.get("title", "")), substitute(target["expr"], variables)))
    return queries


def parse(expr: str) -> promql_parser.Expr:
    """The expression's syntax tree; ValueError with the parser's message if it is not PromQL
    (types included: `rate` of an instant vector is refused)."""
    return promql_parser.parse(expr)


def metric_names(expr: promql_parser.Expr) -> set[str]:
    """The metric names the expression selects."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(expr, visit)
    return names


def rule_problems(groups: Any) -> list[str]:
    """What is wrong with a PrometheusRule's groups of alerts: each group named (once) with
    rules; each rule an alert with a CamelCase name, an `expr` that parses to an instant vector,
    a valid `for` when there is one, `labels.severity` one of SEVERITIES and the annotations
    summary, description and runbook_url."""
    if not isinstance(groups, list) or not groups:
        return ["no groups"]
    problems: list[str] = []
    seen: set[str] = set()
    for group in groups:
        if not isinstance(group, dict) or not group.get("name"):
            problems.append(f"a group without a name: {group!r:.80}")
            continue
        name = str(group["name"])
        if name in seen:
            problems.append(f"group {name}: named twice")
        seen.add(name)
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            problems.append(f"group {name}: no rules")
            continue
        for index, rule in enumerate(rules):
            problems += [f"group {name} rule {index}: {p}" for p in _alert_problems(rule)]
    return problems


def _alert_problems(rule: Any) -> list[str]:
    if not isinstance(rule, dict):
        return ["not a mapping"]
    problems = [f"unknown key {k!r}" for k in sorted(set(rule) - ALERT_KEYS)]
    alert = rule.get("alert")
    if not isinstance(alert, str) or not _ALERT_NAME.match(alert):
        problems.append(f"alert {alert!r}: a CamelCase name is needed")
    expr = rule.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        problems.append("no expr")
    else:
        try:
            tree = parse(expr)
        except ValueError as exc:
            problems.append(f"expr does not parse: {exc}")
        else:
            if isinstance(tree, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr,
                                 promql_parser.StringLiteral)):
                problems.append("expr is not an instant vector")
    for key in ("for", "keep_firing_for"):
        if key in rule:
            try:
                promql_parser.parse_duration(str(rule[key]))
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
    labels = rule.get("labels")
    severity = labels.get("severity") if isinstance(labels, dict) else None
    if severity not in SEVERITIES:
        problems.append(f"labels.severity {severity!r}: one of {', '.join(SEVERITIES)}")
    annotations = rule.get("annotations")
    for key in ANNOTATIONS:
        text = annotations.get(key) if isinstance(annotations, dict) else None
        if not isinstance(text, str) or not text.strip():
            problems.append(f"no annotations.{key}")
    return problems


def rule_groups(helm: Path, *settings: str) -> list[dict[str, Any]]:
    """The groups of the chart's PrometheusRule, rendered by `helm` (default values, the rule
    turned on, and `settings` as --set arguments)."""
    args = [str(helm), "template", "laneway", str(CHART), "--namespace", "laneway",
            "--show-only", "templates/prometheusrule.yaml",
            "--set", "monitoring.prometheusRule.enabled=true"]
    for setting in settings:
        args += ["--set", setting]
    done = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"helm template failed: {done.stderr.strip()}")
    [rule] = [d for d in yaml.safe_load_all(done.stdout) if d]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def promtool_check(promtool: Path, groups: Sequence[Mapping[str, Any]]) -> tuple[bool, str]:
    """`promtool check rules` on a rules file of `groups`: (accepted, its output). Its lint of
    duplicate rules is off: one alert spans one rule per service's metric on purpose (the
    series tell them apart by their `job`), and the dashboards' queries share one record name."""
    with tempfile.TemporaryDirectory(prefix="laneway-promtool-") as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": list(groups)}))
        done = subprocess.run([str(promtool), "check", "rules", "--lint=none", str(rules)],
                              capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.monitoring_check",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    try:
        helm, promtool = ensure("helm"), ensure("promtool")
    except ToolMissing as exc:
        print(f"monitoring-check: {exc}", file=sys.stderr)
        return 2
    groups = rule_groups(helm)
    failed = 0
    for problem in rule_problems(groups):
        print(f"alert rules: {problem}")
        failed += 1
    ok, output = promtool_check(promtool, groups)
    print(f"promtool check rules (the chart's PrometheusRule): {output}")
    failed += not ok
    # each dashboard query as a recording rule: promtool parses it as Prometheus would
    records = [{"record": "laneway:dashboard:query", "expr": expr}
               for path in sorted(DASHBOARDS.glob("*.json"))
               for _, expr in dashboard_queries(path)]
    ok, output = promtool_check(promtool, [{"name": "dashboards", "rules": records}])
    print(f"promtool check rules ({len(records)} dashboard queries): {output}")
    failed += not ok
    if failed:
        print(f"monitoring-check: {failed} failure(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
