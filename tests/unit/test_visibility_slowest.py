"""visibility_bench's `--worst`: the slowest completions first, each with when it was sent
(from the first request) and its four stages; one not split says so."""

from __future__ import annotations

import time

from benchmarks.visibility_bench import slowest

SENT = 1_796_684_000.25  # 2026-12-07 23:33:20.250 UTC


def test_the_slowest_come_first_with_their_stages_and_send_time() -> None:
    split = [(40.0, SENT, (2.0, 10.0, 20.0, 8.0)),
             (120.0, SENT + 1.5, (3.0, 40.0, 45.0, 32.0)),
             (90.0, SENT + 0.5, ())]
    lines = slowest(split, 2)
    assert len(lines) == 3
    assert lines[0].startswith("  the 2 slowest")
    clock = time.strftime("%H:%M:%S", time.gmtime(SENT + 1.5))
    assert lines[1] == f"    +  1.50s {clock}.750   120 = 3 + 40 + 45 + 32"
    assert lines[2].endswith("  90 = not split")
    assert "+  0.50s" in lines[2]


def test_nothing_is_printed_unless_asked() -> None:
    assert slowest([(40.0, SENT, (1.0, 2.0, 3.0, 4.0))], 0) == []
    assert slowest([], 5) == []
