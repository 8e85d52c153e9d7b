"""The engine service's CPU per instance without Kafka, against a calibration loop:
`python -m benchmarks.e2e.writer_probe`, or, to compare two trees, run this file with the
tree to measure as the working directory (`cd <tree> && python <this file>`: it imports the
engine from there).

`Probe` of `benchmarks/e2e/gc_probe.py` (a `BatchWriter` and the engine core over `--parked`
parked instances, start -> service task -> end in batches of 25) runs `--instances` instances
`--rounds` times; each round is timed (process time) between two runs of a fixed pure-Python
loop (dict and bytes churn), and the figure is the round's time over the loop's: a loaded
moment of a shared machine slows both, so the ratio moves less than the time. The peer is
the calibration loop; docs/e2e.md, "Issue 16: the engine service's loop (round 2)".
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())

# imported after the path is set: the tree measured is the working directory
from benchmarks.e2e.gc_probe import Probe


def calibration() -> float:
    """Process time of a fixed pure-Python loop (what the engine's Python does most: dicts,
    strings, bytes)."""
    began = time.process_time()
    d: dict[str, tuple[int, bytes]] = {}
    for i in range(300_000):
        d[str(i)] = (i, str(i).encode())
    return time.process_time() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e.writer_probe",
                                     description=__doc__)
    parser.add_argument("--parked", type=int, default=5_000)
    parser.add_argument("--instances", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    if not 0 <= args.parked <= 1_000_000 or not 25 <= args.instances <= 100_000 \
            or not 1 <= args.rounds <= 20:
        parser.error("expected 0..1,000,000 parked, 25..100,000 instances, 1..20 rounds")
    gc.set_threshold(20_000, 10, 10)  # the engine service's own (LANEWAY_ENGINE_GC_YOUNG)
    probe = Probe(args.parked)
    probe.instances(min(500, args.instances))  # warm up
    ratios: list[float] = []
    per_instance: list[float] = []
    for _ in range(args.rounds):
        before = calibration()
        began = time.process_time()
        probe.instances(args.instances)
        spent = time.process_time() - began
        after = calibration()
        ratios.append(spent / (before + after))
        per_instance.append(1000 * spent / args.instances)
    print(f"{os.getcwd()}: {args.instances} instances x {args.rounds}, {args.parked} parked")
    print(f"  CPU per instance {min(per_instance):.3f} ms (min), "
          f"{statistics.median(per_instance):.3f} ms (median)")
    print(f"  instances / calibration loop: {min(ratios):.3f} (min), "
          f"{statistics.median(ratios):.3f} (median); all {[round(r, 3) for r in ratios]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
