"""`python -m benchmarks.core [seconds per measurement]`: Laneway's engine core against
SpiffWorkflow 3.2 on the same diagrams, in one process.

The last line is `min ratio vs SpiffWorkflow: X.XX` (Laneway instances per second over
SpiffWorkflow's, the lowest over every workload).
"""

from __future__ import annotations

import platform
import sys
import time

from benchmarks.core.diagrams import TaskKind, Workload, workloads
from benchmarks.core.drivers import LanewayDriver, LocalRunnerDriver, SpiffDriver
from benchmarks.core.measure import ROUNDS, rate

KIB = 1024
TARGET_RATIO = 2.0
TARGET_PARKED = 2 * KIB
GROWTH_TOLERANCE = 1.5  # per-branch cost at 40 branches may be at most this times that at 10


def _fmt_rate(value: float) -> str:
    return f"{value:>10,.0f}/s"


def _versions() -> str:
    from importlib.metadata import version

    return (f"Python {platform.python_version()}, laneway {version('laneway')}, "
            f"SpiffWorkflow {version('SpiffWorkflow')}")


def _table(kind: TaskKind, seconds: float) -> tuple[list[float], dict[int, float]]:
    """Print one table; return the ratios and Laneway's µs per instance by branch count of the
    parallel workloads."""
    what = ("user tasks, completed by the driver" if kind == "user"
            else "script tasks, run by the engine")
    print(f"\n== tasks are {what}")
    print(f"{'workload':34} {'laneway':>12} {'spiff':>12} {'ratio':>6}  "
          f"{'laneway parked':>14} {'spiff parked (state / all)':>27}")
    ratios: list[float] = []
    per_instance_us: dict[int, float] = {}
    for w in workloads(kind):
        lane = LanewayDriver(w)
        spiff = SpiffDriver(w)
        lane_rate = rate(lane.run_one, seconds)
        spiff_rate = rate(spiff.run_one, seconds)
        ratio = lane_rate / spiff_rate
        ratios.append(ratio)
        if w.name.startswith("par"):
            per_instance_us[w.branches] = 1e6 / lane_rate
        lane_bytes = lane.parked_bytes()
        spiff_bytes = spiff.parked_bytes()
        parked = f"{lane_bytes:>8,} B" if lane_bytes is not None else "-"
        spiff_parked = (f"{spiff_bytes[0]:>8,} B / {spiff_bytes[1]:>8,} B"
                        if spiff_bytes is not None else "-")
        print(f"{w.label:34} {_fmt_rate(lane_rate)} {_fmt_rate(spiff_rate)} {ratio:>5.2f}x  "
              f"{parked:>14} {spiff_parked:>27}")
    return ratios, per_instance_us


def _growth(per_instance_us: dict[int, float]) -> bool:
    counts = sorted(per_instance_us)
    print("  per-branch cost (laneway): " + ", ".join(
        f"{n} branches {per_instance_us[n] / n:.1f} µs" for n in counts))
    lo, hi = counts[0], counts[-1]
    marginal = (per_instance_us[hi] - per_instance_us[lo]) / (hi - lo)
    growth = (per_instance_us[hi] / hi) / (per_instance_us[lo] / lo)
    linear = growth <= GROWTH_TOLERANCE
    print(f"  marginal cost {marginal:.1f} µs per extra branch; per-branch cost at {hi} is "
          f"{growth:.2f}x that at {lo}: {'linear' if linear else 'NOT linear'}")
    return linear


def _runner_overhead(w: Workload, seconds: float) -> None:
    direct = rate(LanewayDriver(w).run_one, seconds)
    runner = rate(LocalRunnerDriver(w).run_one, seconds)
    print(f"  LocalRunner (keep_records=False) on '{w.label}': {_fmt_rate(runner)} against "
          f"{_fmt_rate(direct)} driving the Engine directly ({direct / runner:.2f}x)")


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 0.9
    began = time.perf_counter()
    print(f"Laneway engine core vs SpiffWorkflow, in process ({_versions()})")
    print(f"instances per second, best of {ROUNDS} rounds of {seconds / ROUNDS:.2f} s; parked = "
          "compact JSON at the first wait")
    user_ratios, user_par = _table("user", seconds)
    linear = _growth(user_par)
    script_ratios, script_par = _table("script", seconds)
    linear = _growth(script_par) and linear
    print()
    from benchmarks.core.diagrams import parallel, sequence

    _runner_overhead(sequence(1, "user"), seconds)
    _runner_overhead(parallel(10, "user"), seconds)
    parked = LanewayDriver(sequence(1, "user")).parked_bytes() or 0
    ratios = user_ratios + script_ratios
    lowest = min(ratios)
    print(f"\ntargets: >= {TARGET_RATIO:.0f}x SpiffWorkflow on every workload: "
          f"{'met' if lowest >= TARGET_RATIO else 'MISSED'}; linear growth with branches: "
          f"{'met' if linear else 'MISSED'}; < {TARGET_PARKED} B parked at a user task: "
          f"{parked} B, {'met' if parked < TARGET_PARKED else 'MISSED'}")
    print(f"total {time.perf_counter() - began:.1f} s")
    print(f"min ratio vs SpiffWorkflow: {lowest:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
