"""The Helm chart rendered by the real `helm` (built once from the Go module proxy by
scripts.gotools), for the chart's tests: `render(values_file)` gives the manifests as dicts.
No helm here is a failure that says why, never a skip: the chart is checked or the run fails."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from laneway.kafka_security import KAFKA_SECURITY_VARIABLES
from scripts.gotools import ToolMissing, ensure

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm"
EXAMPLES = {"default": None,
            "small": CHART / "examples" / "values-small.yaml",
            "production": CHART / "examples" / "values-production.yaml"}
"""The values the chart is checked with: its defaults and each example file."""

KAFKA_SECURITY_NAMES = frozenset(KAFKA_SECURITY_VARIABLES)
"""The Kafka client security settings every service reads (laneway/kafka_security.py): the
chart passes exactly these names."""


def helm() -> Path:
    """The helm binary, built if missing; raises RuntimeError saying why it cannot be."""
    try:
        return ensure("helm")
    except ToolMissing as exc:
        raise RuntimeError(f"the chart's tests need helm, and it cannot be built here: {exc}"
                           ) from exc


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm()), *args], capture_output=True, text=True, timeout=300,
                          check=False)


def render(values: Path | None, *extra: str, release: str = "laneway",
           namespace: str = "laneway") -> list[dict[str, Any]]:
    """`helm template` of the chart with `values` (None: its defaults) and `extra` arguments
    (`--set ...`); the manifests, in order. Raises AssertionError with helm's message when it
    refuses."""
    args = ["template", release, str(CHART), "--namespace", namespace, *extra]
    if values is not None:
        args += ["--values", str(values)]
    result = run_helm(*args)
    if result.returncode != 0:
        raise AssertionError(f"helm template failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector's matchLabels and matchExpressions (In, NotIn, Exists) against labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
    return True
