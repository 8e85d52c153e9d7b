"""What each index of `audit_log` costs the sink's writes: PostgreSQL's CPU per row.

    .venv/bin/python -m benchmarks.audit_index_bench [--instances 4000] [--batch 333]
        [--rounds 3] [--sets all,no_actors,no_assignees,no_candidates,no_partials]

The records of `--instances` LocalRunner starts of the visibility benchmark's process (start ->
user task, as `benchmarks.visibility_bench` runs it) are written by the sink's `AuditLogWriter`
in batches of `--batch` into a fresh schema of the local stack's PostgreSQL (`DATABASE_URL`)
with one set of indexes dropped (the migrations' otherwise); the first 7,000 rows fill the
table, the rest are measured. Printed per run: the CPU the connection's PostgreSQL backend
used per row (from /proc, so PostgreSQL must run on this machine), this process's CPU per row,
and the wall time per row; the sets alternate within each round, and the medians close. CPU
rather than wall time: on a loaded host the wall time is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from psycopg import sql  # noqa: E402

from benchmarks.audit_cpu_bench import FakeMessage  # noqa: E402
from benchmarks.visibility_bench import DIAGRAM  # noqa: E402
from laneway.bpmn import LANEWAY_NS, parse  # noqa: E402
from laneway.codec import encode_record  # noqa: E402
from laneway.consuming import DeadLetter, Polled, _sort  # noqa: E402
from laneway.engine import DefinitionRepository  # noqa: E402
from laneway.engine.runner import LocalRunner  # noqa: E402
from laneway.records import Record, RecordKind  # noqa: E402
from laneway.settings import Settings  # noqa: E402
from services.audit.db import connect, ensure_schema, migrate  # noqa: E402
from services.audit.decoding import decode_event  # noqa: E402
from services.audit.metrics import SinkMetrics  # noqa: E402
from services.audit.sink import AuditLogWriter  # noqa: E402

PREFILL = 7_000
SETS: dict[str, tuple[str, ...]] = {
    "all": (),
    "no_actors": ("audit_log_actors",),
    "no_assignees": ("audit_log_task_assignees",),
    "no_candidates": ("audit_log_task_candidates",),
    "no_partials": ("audit_log_actors", "audit_log_task_assignees",
                    "audit_log_task_candidates"),
}
"""The indexes dropped in each set (the three partial ones of migration 004; the primary key
and the unique record id are what numbering and exactly-once need)."""


def records(instances: int) -> list[Record]:
    """The events of `instances` starts (to their user task), with ids unique to this call."""
    repository = DefinitionRepository()
    repository.deploy(parse(DIAGRAM.format(ns=LANEWAY_NS, pid="vis").encode(), "vis.bpmn"))
    runner = LocalRunner(repository)
    for n in range(instances):
        runner.start("vis", {"n": n}, instance_id=str(uuid.uuid4()))
    runner.drain()
    tag = uuid.uuid4().hex[:8]
    return [dataclasses.replace(r, record_id=f"{tag}-{r.record_id}") for r in runner.records
            if r.kind != RecordKind.COMMAND]


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(url: str, dropped: tuple[str, ...], instances: int, batch: int
            ) -> tuple[float, float, float]:
    """(backend CPU, client CPU, wall) µs per measured row, on a fresh schema."""
    schema = f"audit_idx_{uuid.uuid4().hex[:8]}"
    ensure_schema(url, schema)
    with connect(url, schema) as conn:
        migrate(conn)
        for index in dropped:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
        conn.commit()
    messages = [FakeMessage(encode_record(r), n) for n, r in enumerate(records(instances))]
    writer = AuditLogWriter(SinkMetrics(CollectorRegistry()), cache_size=1_000_000)
    conn = connect(url, schema)
    try:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0

        def write(part: list[FakeMessage]) -> None:
            for start in range(0, len(part), batch):
                items: list[Polled] = []
                dead: list[DeadLetter] = []
                offsets: dict[tuple[str, int], int] = {}
                chunk: Any = part[start:start + batch]
                _sort(chunk, decode_event, items, dead, offsets)
                with conn.transaction():
                    writer.write(conn, items)
                writer.committed(items, len(items))

        write(messages[:PREFILL])
        b0, c0, w0 = cpu_seconds(backend), time.process_time(), time.perf_counter()
        write(messages[PREFILL:])
        b1, c1, w1 = cpu_seconds(backend), time.process_time(), time.perf_counter()
    finally:
        conn.close()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    rows = max(1, len(messages) - PREFILL)
    return 1e6 * (b1 - b0) / rows, 1e6 * (c1 - c0) / rows, 1e6 * (w1 - w0) / rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=333)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS]
    if unknown or not 1_500 <= args.instances <= 50_000 or not 0 < args.batch <= 10_000 \
            or not 0 < args.rounds <= 20:
        parser.error(f"sets from {', '.join(SETS)}; instances 1500-50000 (the first {PREFILL:,}"
                     " rows fill the table), batch 1-10000, rounds 1-20")
    url = Settings.from_env("audit").database_url
    print(f"audit_log's indexes: {args.instances:,} instances a run, batches of {args.batch}, "
          f"{args.rounds} rounds, µs a row measured after {PREFILL:,} rows")
    results: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
    for n in range(args.rounds):
        for name in names:
            backend, client, wall = one_run(url, SETS[name], args.instances, args.batch)
            results[name].append((backend, client, wall))
            print(f"round {n + 1} {name:<14} backend {backend:5.1f}  client {client:5.1f}  "
                  f"wall {wall:6.1f}", flush=True)
    for name, runs in results.items():
        print(f"median {name:<14} backend {statistics.median(r[0] for r in runs):5.1f}  "
              f"client {statistics.median(r[1] for r in runs):5.1f}  "
              f"wall {statistics.median(r[2] for r in runs):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
