"""The audit sink's CPU per record, stage by stage, without Kafka or PostgreSQL.

    .venv/bin/python -m benchmarks.audit_cpu_bench [--instances 2000] [--rounds 5] [--profile]
        [--gc-young 700]

The records of `--instances` LocalRunner runs of start → service task → end (the e2e
benchmark's process) are encoded as the engine writes them and handed, as messages, to the
sink's per-batch path in batches of `--batch`: the loop's decode (`decode_event` and the
`Consumed` it wraps each record in), the writer's rows (numbering, the JSON texts, the
canonical bytes and their SHA-256), the COPY text lines, the signed heads and the commit's
metrics. The database is a stand-in that answers nothing and takes the COPY text, so the
figures are the sink's own Python CPU (process time, best of `--rounds`), not PostgreSQL's.

Printed per stage: µs per record; then the whole batch path (`write` + `committed`) and, as
the floor in the same run, what no sink can skip: the codec's plain `decode_record`, one
`json.dumps` of the value and one SHA-256 per record; and the ratio of the two. `--profile`
adds cProfile's top functions of the whole path.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import itertools
import json
import pstats
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from benchmarks.audit_bench import engine_records  # noqa: E402
from laneway.codec import decode_record, encode_record  # noqa: E402
from laneway.consuming import DeadLetter, Polled, _sort  # noqa: E402
from services.audit.decoding import decode_event  # noqa: E402
from services.audit.metrics import SinkMetrics  # noqa: E402
from services.audit.sink import AuditLogWriter, _Lines  # noqa: E402

TOPIC = "events"


class FakeMessage:
    """What the sink reads of a Kafka message."""

    __slots__ = ("_offset", "_value")

    def __init__(self, value: bytes, offset: int) -> None:
        self._value = value
        self._offset = offset

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def headers(self) -> None:
        return None


class _Copy:
    def __init__(self, sink: list[int]) -> None:
        self._sink = sink

    def write(self, data: str) -> None:
        self._sink.append(len(data))

    def write_row(self, row: Sequence[Any]) -> None:
        self._sink.append(len(row))


class _Cursor:
    def __init__(self, sink: list[int]) -> None:
        self._sink = sink

    @contextmanager
    def copy(self, statement: str) -> Iterator[_Copy]:
        yield _Copy(self._sink)


class FakeConnection:
    """A database that holds nothing (every record is new, every instance has no tail)."""

    def __init__(self) -> None:
        self.copied: list[int] = []

    def execute(self, statement: str, params: Any = None) -> list[Any]:
        return []

    def cursor(self) -> _Cursor:
        return _Cursor(self.copied)


def batches(messages: list[FakeMessage], size: int) -> list[list[FakeMessage]]:
    return [messages[i:i + size] for i in range(0, len(messages), size)]


def cpu(run: Callable[[], object], rounds: int) -> float:
    """The best process CPU time of `rounds` runs (seconds)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--gc-young", type=int, default=700,
                        help="the collector's young-generation threshold (default: Python's "
                             "own, as the audit service runs; this process holds every "
                             "record of the run, so its older collections walk more than "
                             "the service's)")
    args = parser.parse_args(argv)
    gc.set_threshold(max(1, args.gc_young), *gc.get_threshold()[1:])
    records = engine_records(max(1, min(args.instances, 100_000)))
    messages = [FakeMessage(encode_record(r), n) for n, r in enumerate(records)]
    n = len(messages)
    groups = batches(messages, max(1, args.batch))
    per_instance = n / max(1, args.instances)
    print(f"audit sink CPU: {args.instances:,} instances, {n:,} records ({per_instance:.1f} "
          f"an instance), batches of {args.batch}, best of {args.rounds}, "
          f"gc young {gc.get_threshold()[0]}, "
          f"Python {sys.version.split()[0]}")

    writer = AuditLogWriter(SinkMetrics(CollectorRegistry()), cache_size=1_000_000)
    names = ("decode (decode_event + Consumed)", "rows (seq, JSON texts, hash)",
             "COPY text lines", "signed heads", "commit metrics (observe, inc)")

    def staged() -> list[float]:
        """The batch path in its stages, batch by batch as the sink runs them; the CPU
        seconds of each stage."""
        spent = [0.0] * len(names)
        conn: Any = FakeConnection()
        clock = time.process_time
        for group in groups:
            t0 = clock()
            items: list[Polled] = []
            _sort(group, decode_event, items, [], {})  # type: ignore[arg-type]
            t1 = clock()
            now = datetime.now(UTC)
            tails: dict[str, tuple[int, str]] = {}
            rows = [writer._row(each, tails, now) for each in items]
            t2 = clock()
            lines = _Lines(now)
            for row in rows:
                lines.add(row)
            lines.flush(_Copy([]))
            t3 = clock()
            writer._sign_heads(conn, tails)
            t4 = clock()
            writer._written.fresh = items
            writer.committed(items, len(items))
            t5 = clock()
            for n, (a, b) in enumerate(itertools.pairwise((t0, t1, t2, t3, t4, t5))):
                spent[n] += b - a
        return spent

    best = [float("inf")] * len(names)
    for _ in range(args.rounds):
        best = [min(a, b) for a, b in zip(best, staged(), strict=True)]
    for name, seconds in zip(names, best, strict=True):
        print(f"  {name:<36} {seconds / n * 1e6:7.2f} µs/record")
    print(f"  {'sum of the stages':<36} {sum(best) / n * 1e6:7.2f} µs/record")

    def whole() -> None:
        conn: Any = FakeConnection()
        for group in groups:
            items: list[Polled] = []
            dead: list[DeadLetter] = []
            _sort(group, decode_event, items, dead, {})  # type: ignore[arg-type]
            writer.reset()  # every batch asks the (empty) database, as after a rebalance
            writer.write(conn, items)
            writer.committed(items, len(items))

    def floor() -> None:
        for msg in messages:
            rec = decode_record(msg.value())
            hashlib.sha256(json.dumps(rec.value, sort_keys=True).encode()).hexdigest()

    whole_s = cpu(whole, args.rounds)
    floor_s = cpu(floor, args.rounds)
    print(f"whole batch path (write + committed)   {whole_s / n * 1e6:7.2f} µs/record = "
          f"{whole_s / args.instances * 1e3:5.2f} CPU s per 1,000 instances")
    print(f"floor (decode_record + dumps + sha256) {floor_s / n * 1e6:7.2f} µs/record; "
          f"whole / floor = {whole_s / floor_s:.2f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(whole)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
