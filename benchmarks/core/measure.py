"""Timing: whole instances per second, with the iteration count chosen by a time budget."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

ROUNDS = 7


def rate(run_one: Callable[[], None], seconds: float, rounds: int = ROUNDS) -> float:
    """Instances per second: the best of `rounds` rounds of about `seconds / rounds` each,
    after a short warm-up. Many short rounds and the best of them keep the figure steady on
    a busy machine. A full collection runs before each round, so garbage left by one round
    (or by the other engine) is not charged to the next."""
    run_one()
    start = time.perf_counter()
    run_one()
    once = max(time.perf_counter() - start, 1e-6)
    per_round = seconds / rounds
    batch = max(1, int(per_round / once / 3))
    best = 0.0
    for _ in range(rounds):
        gc.collect()
        count = 0
        start = time.perf_counter()
        while True:
            for _ in range(batch):
                run_one()
            count += batch
            elapsed = time.perf_counter() - start
            if elapsed >= per_round:
                break
        best = max(best, count / elapsed)
    return best
