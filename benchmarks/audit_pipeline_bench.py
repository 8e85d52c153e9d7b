"""The audit sink's loop, pipelined or not, on the real PostgreSQL, without Kafka.

    .venv/bin/python -m benchmarks.audit_pipeline_bench [--instances 1000] [--batch 1000]
        [--rounds 5]

The records of `--instances` LocalRunner runs of the e2e process (start -> service task ->
end), encoded as the engine writes them, are handed to `AuditSink.run` by a stand-in consumer
in batches of `--batch` (as a backlog: each poll returns a full batch at once), and written
into a fresh schema of the local stack's PostgreSQL (`DATABASE_URL`); the offsets go nowhere.
Each round runs the sink twice on fresh records, pipelined (`LANEWAY_AUDIT_PIPELINE=on`: the
next batch decoded while one is written) and not, in alternating order, so both see the same
host; printed per run: rows per second (wall) and this process's CPU per row, then the median
of the per-round ratios (pipelined / sequential). Kafka's share of the hop is not in it (see
`benchmarks/audit_bench.py` for that), nor the other threads of the audit service.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from confluent_kafka import Message, TopicPartition  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from psycopg import sql  # noqa: E402

from benchmarks.audit_bench import engine_records  # noqa: E402
from benchmarks.audit_cpu_bench import FakeMessage  # noqa: E402
from laneway.codec import encode_record  # noqa: E402
from laneway.kafka import RenewingProducer  # noqa: E402
from laneway.settings import Settings  # noqa: E402
from services.audit.db import connect, ensure_schema, migrate  # noqa: E402
from services.audit.metrics import SinkMetrics  # noqa: E402
from services.audit.sink import AuditSink  # noqa: E402


class Backlog:
    """A consumer whose records are all fetched already: a poll takes one, `consume` the rest
    of its batch; when none is left, the sink is stopped."""

    def __init__(self, messages: list[FakeMessage], batch: int, stop: threading.Event) -> None:
        self._batches = [messages[i:i + batch] for i in range(0, len(messages), batch)]
        self._current: list[FakeMessage] = []
        self._stop = stop

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        pass

    def poll(self, timeout: float) -> Message | None:
        if not self._batches:
            self._stop.set()
            return None
        self._current = self._batches.pop(0)
        return self._current.pop(0)  # type: ignore[return-value]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        taken, self._current = self._current, []
        return taken

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        pass

    def close(self) -> None:
        pass


def one_run(url: str, schema: str, instances: int, batch: int, pipelined: bool
            ) -> tuple[float, float, int]:
    """(rows/s wall, CPU µs per row of this process, rows) for one sink over fresh records."""
    messages = [FakeMessage(encode_record(r), n)
                for n, r in enumerate(engine_records(instances))]
    stop = threading.Event()
    sink = AuditSink(
        Backlog(messages, batch, stop), RenewingProducer(None, object()),  # type: ignore[arg-type]
        lambda: connect(url, schema), events_topic="events", dlq_topic="dlq",
        batch_size=batch, poll_timeout_s=0.01, metrics=SinkMetrics(CollectorRegistry()),
        stop=stop, pipelined=pipelined)
    wall, cpu = time.perf_counter(), time.process_time()
    sink.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sink._drop_connection()
    return len(messages) / wall, 1e6 * cpu / len(messages), len(messages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    instances = max(1, min(args.instances, 20_000))
    batch = max(1, min(args.batch, 10_000))
    rounds = max(1, min(args.rounds, 50))
    url = Settings.from_env("audit").database_url
    schema = f"audit_pipe_{uuid.uuid4().hex[:8]}"
    ensure_schema(url, schema)
    with connect(url, schema) as conn:
        migrate(conn)
    print(f"audit sink loop, pipelined or not: {instances:,} instances a run, batches of "
          f"{batch}, {rounds} rounds, Python {sys.version.split()[0]}")
    ratios: list[float] = []
    try:
        for n in range(rounds):
            order = (True, False) if n % 2 == 0 else (False, True)
            rates: dict[bool, float] = {}
            for pipelined in order:
                rate, cpu, rows = one_run(url, schema, instances, batch, pipelined)
                rates[pipelined] = rate
                print(f"round {n + 1} {'pipelined ' if pipelined else 'sequential'}: "
                      f"{rows:,} rows, {rate:8,.0f} rows/s, {cpu:5.1f} µs CPU a row",
                      flush=True)
            ratios.append(rates[True] / rates[False])
        print(f"rows/s pipelined / sequential, per round: "
              f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
