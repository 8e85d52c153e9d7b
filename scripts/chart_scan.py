"""The Helm chart through the policy scanners a platform team runs: kube-score and checkov.

    python -m scripts.chart_scan          # `make chart-scan`: exit 1 on any finding

The chart is rendered (`helm template`) with its default values and with
helm/examples/values-production.yaml, and each rendering goes through both scanners. The
findings skipped on purpose are in scripts/chart_scan_skips.toml, each with its reason; any
other finding fails the scan. The scanners are pinned: kube-score is built from the Go module
proxy once (scripts/gotools.py), checkov installed once into a virtualenv of its own under
var/tools (its dependency tree would clash with the project's pins in .venv).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.gotools import ToolMissing, ensure

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm"
SKIPS = Path(__file__).resolve().with_name("chart_scan_skips.toml")
CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = ROOT / "var" / "tools" / "checkov-venv"
VALUES: dict[str, Path | None] = {
    "default": None,
    "production": CHART / "examples" / "values-production.yaml",
}
RELEASE = "laneway"
NAMESPACE = "laneway"
_TIMEOUT_S = 600.0

__all__ = ["CHECKOV_VERSION", "Result", "ScanError", "Skips", "load_skips", "main", "scan"]


class ScanError(RuntimeError):
    """A scanner could not be installed or run (not a finding): the message says why."""


@dataclass(frozen=True, slots=True)
class Skips:
    checkov: dict[str, str]
    """checkov check id -> why it does not fit."""
    kube_score: dict[str, str]
    """kube-score test id -> why it does not fit."""
    kube_score_optional: tuple[str, ...]
    """kube-score's optional tests the scan turns on."""


@dataclass(frozen=True, slots=True)
class Result:
    scanner: str
    values: str
    passed: int
    """Checks that passed (kube-score: object and test pairs)."""
    findings: tuple[str, ...]
    """Failures not in the skip list: each fails the scan."""
    skipped: tuple[str, ...]
    """Failures the skip list names."""


def load_skips(path: Path = SKIPS) -> Skips:
    """The skip lists; every entry must give an id and a one-line reason."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))

    def entries(key: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for entry in data.get(key, []):
            ident = str(entry.get("id", "")).strip()
            reason = str(entry.get("reason", "")).strip()
            if not ident or not reason or "\n" in reason:
                raise ValueError(f"{path.name}: every [[{key}]] needs an id and a one-line "
                                 f"reason (got {entry!r})")
            if ident in out:
                raise ValueError(f"{path.name}: {ident} is listed twice under [[{key}]]")
            out[ident] = reason
        return out

    optional = data.get("kube_score_optional", {}).get("enable", [])
    return Skips(entries("checkov"), entries("kube_score"), tuple(str(t) for t in optional))


def _run(args: Sequence[str], *, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=_TIMEOUT_S,
                              check=False, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        raise ScanError(f"`{Path(args[0]).name}` took over {_TIMEOUT_S:.0f} s") from exc


def ensure_checkov(venv: Path = CHECKOV_VENV, *, quiet: bool = False) -> Path:
    """checkov at CHECKOV_VERSION in its own virtualenv, installed there first if missing."""
    checkov = venv / "bin" / "checkov"
    # written after a complete install: a half-done one (killed, no network) is redone
    stamp = venv / ".laneway-checkov"
    if checkov.is_file() and stamp.is_file() and stamp.read_text().strip() == CHECKOV_VERSION:
        return checkov
    if not quiet:
        print(f"installing checkov {CHECKOV_VERSION} into {venv} "
              "(once; a minute or two)", file=sys.stderr, flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    made = _run([sys.executable, "-m", "venv", "--clear", str(venv)])
    if made.returncode != 0:
        raise ScanError(f"creating {venv}: {made.stderr.strip()}")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    done = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                 f"checkov=={CHECKOV_VERSION}"], env=env)
    if done.returncode != 0 or not checkov.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise ScanError(f"installing checkov {CHECKOV_VERSION} failed:\n{tail}")
    stamp.write_text(CHECKOV_VERSION + "\n")
    return checkov


def render(helm: Path, values: Path | None, out: Path) -> Path:
    """The chart's manifests with `values` (None: its defaults), written to `out`."""
    args = [str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if values is not None:
        args += ["--values", str(values)]
    done = _run(args)
    if done.returncode != 0:
        raise ScanError(f"helm template failed: {done.stderr.strip()}")
    out.write_text(done.stdout, encoding="utf-8")
    return out


def run_kube_score(kube_score: Path, manifests: Path, skips: Skips, values: str) -> Result:
    # every test runs, so the skipped findings can be counted; the skip list sorts them after
    args = [str(kube_score), "score", "--output-format", "json"]
    for test in skips.kube_score_optional:
        args += ["--enable-optional-test", test]
    done = _run([*args, str(manifests)])
    try:
        objects: Any = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise ScanError(f"kube-score failed (exit {done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-2000:]}") from exc
    passed = 0
    findings: list[str] = []
    skipped: list[str] = []
    for obj in objects:
        where = f"{obj['type_meta']['kind']} {obj['object_name']}"
        for check in obj["checks"]:
            if check["skipped"]:
                continue
            # grades: 1 critical, 5 warning, 7 almost OK, 10 OK (kube-score's scorecard)
            if check["grade"] >= 7:
                passed += 1
                continue
            ident = check["check"]["id"]
            notes = "; ".join(f"{c.get('path') or ''} {c['summary']}".strip()
                              for c in check.get("comments") or [])
            text = f"[{ident}] {where}: {notes or check['check']['name']}"
            (skipped if ident in skips.kube_score else findings).append(text)
    return Result("kube-score", values, passed, tuple(findings), tuple(skipped))


def run_checkov(checkov: Path, manifests: Path, skips: Skips, values: str) -> Result:
    args = [str(checkov), "--file", str(manifests), "--framework", "kubernetes",
            "--output", "json", "--compact", "--quiet",
            # the checks ship with checkov: nothing to fetch, no account
            "--skip-download"]
    env = {**os.environ, "LOG_LEVEL": "ERROR"}
    done = _run(args, env=env, cwd=manifests.parent)
    try:
        report: Any = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise ScanError(f"checkov failed (exit {done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-2000:]}") from exc
    if isinstance(report, list):  # one report per framework
        report = next(r for r in report if r.get("check_type") == "kubernetes")
    summary = report["summary"]
    if summary.get("parsing_errors"):
        raise ScanError(f"checkov could not parse {manifests.name}")
    findings: list[str] = []
    skipped: list[str] = []
    for check in report["results"]["failed_checks"]:
        text = f"[{check['check_id']}] {check['resource']}: {check['check_name']}"
        (skipped if check["check_id"] in skips.checkov else findings).append(text)
    return Result("checkov", values, int(summary["passed"]), tuple(findings), tuple(skipped))


def scan(*, quiet: bool = False) -> list[Result]:
    """Both scanners over both renderings."""
    skips = load_skips()
    try:
        helm = ensure("helm", quiet=quiet)
        kube_score = ensure("kube-score", quiet=quiet)
    except ToolMissing as exc:
        raise ScanError(str(exc)) from exc
    checkov = ensure_checkov(quiet=quiet)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="laneway-chart-scan-") as tmp:
        for name, values in VALUES.items():
            manifests = render(helm, values, Path(tmp) / f"{name}.yaml")
            results.append(run_kube_score(kube_score, manifests, skips, name))
            results.append(run_checkov(checkov, manifests, skips, name))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.chart_scan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    try:
        results = scan()
    except ScanError as exc:
        print(f"chart-scan: {exc}", file=sys.stderr)
        return 2
    skips = load_skips()
    for r in results:
        for finding in r.findings:
            print(f"{r.scanner} ({r.values} values): {finding}")
    for r in results:
        print(f"{r.scanner:10} {r.values:10} values: {r.passed:5} passed, "
              f"{len(r.findings):3} failed, {len(r.skipped):3} skipped on purpose")
    print(f"skipped on purpose (scripts/chart_scan_skips.toml): checkov "
          f"{', '.join(sorted(skips.checkov)) or 'none'}; kube-score "
          f"{', '.join(sorted(skips.kube_score)) or 'none'}")
    failed = sum(len(r.findings) for r in results)
    if failed:
        print(f"chart-scan: {failed} finding(s) not in the skip lists", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
