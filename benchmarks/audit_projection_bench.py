"""The instance projection's CPU per snapshot, stage by stage, against the local PostgreSQL.

    .venv/bin/python -m benchmarks.audit_projection_bench [--snapshots 500] [--rounds 3]

The snapshots of `--snapshots` LocalRunner instances of start → service task → end, waiting at
the task (as the engine writes them after the start), are read and written as the projection
does: `decode_state`, `instance_row`, then the batch's upsert in one transaction, into a fresh
schema (DATABASE_URL; dropped at the end). Printed: µs of this process's CPU per snapshot for
each stage (best of `--rounds`), and, as the reference in the same run, alternating with them,
the row and the upsert as they were before (`full_instance_row`, through the whole
`InstanceState`; `executemany` of one statement per row with `Jsonb` parameters).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from benchmarks.audit_bench import PROCESS  # noqa: E402
from laneway.bpmn import parse  # noqa: E402
from laneway.codec import decode_state, encode_state  # noqa: E402
from laneway.codec.typed import StateSnapshot  # noqa: E402
from laneway.engine import DefinitionRepository  # noqa: E402
from laneway.engine.runner import Answers, LocalRunner  # noqa: E402
from laneway.settings import Settings  # noqa: E402
from services.audit.db import connect, ensure_schema, migrate  # noqa: E402
from services.audit.instances import (  # noqa: E402
    ON_CONFLICT,
    InstanceUpsert,
    upsert_instances,
)
from services.audit.projection import full_instance_row, instance_row  # noqa: E402

_EXECUTEMANY = (
    "INSERT INTO instances (instance_id, process_id, version, business_key, status,"
    " active_elements, variables, incidents, updated_at, last_partition, last_offset)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)" + ON_CONFLICT)


def executemany_upsert(conn: psycopg.Connection[Any], rows: Sequence[InstanceUpsert]) -> int:
    """The upsert before issue 16's round 2 (the reference)."""
    with conn.cursor() as cur:
        cur.executemany(_EXECUTEMANY, [
            (r.instance_id, r.process_id, r.version, r.business_key, r.status,
             Jsonb(r.active_elements), Jsonb(r.variables), Jsonb(r.incidents), r.updated_at,
             r.partition, r.offset) for r in rows])
        return max(0, cur.rowcount)


def snapshots(count: int) -> list[bytes]:
    repository = DefinitionRepository()
    repository.deploy(parse(PROCESS, "bench.bpmn"))
    runner = LocalRunner(repository)
    out = []
    for n in range(count):
        iid = runner.start("bench", {"n": n}, instance_id=str(uuid.uuid4()))
        runner.run(iid, Answers(), max_commands=1)
        inst = runner.instance(iid)
        assert inst is not None
        out.append(encode_state(StateSnapshot.of(inst, 1_767_225_600_000 + n)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    count = max(1, min(args.snapshots, 10_000))
    datas = snapshots(count)
    url = Settings.from_env("audit").database_url
    schema = f"audit_projection_bench_{uuid.uuid4().hex[:8]}"
    ensure_schema(url, schema)
    clock = time.process_time
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds / count * 1e6)

    try:
        with connect(url, schema) as conn:
            migrate(conn)
            offset = 0
            for _ in range(max(1, args.rounds)):
                t0 = clock()
                read = [decode_state(d) for d in datas]
                t1 = clock()
                keep("decode_state", t1 - t0)
                offset += count
                rows = [instance_row(s, 0, offset + n) for n, s in enumerate(read)]
                t2 = clock()
                keep("instance_row (now)", t2 - t1)
                assert rows == [full_instance_row(s, 0, offset + n) for n, s in enumerate(read)]
                keep("instance_row (before)", clock() - t2)
                writes: list[tuple[str, Callable[..., int]]] = [
                    ("upsert (one statement, now)", upsert_instances),
                    ("upsert (executemany, before)", executemany_upsert)]
                for name, write in writes:
                    offset += count
                    batch = [dataclasses.replace(r, offset=offset + n)
                             for n, r in enumerate(rows)]
                    t2 = clock()
                    with conn.transaction():
                        assert write(conn, batch) == count
                    keep(name, clock() - t2)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    print(f"instance projection CPU: {count} snapshots, best of {args.rounds}, "
          f"Python {sys.version.split()[0]}")
    for name, us in best.items():
        print(f"  {name:<30} {us:7.1f} µs/snapshot (client CPU)")
    now, before = best["upsert (one statement, now)"], best["upsert (executemany, before)"]
    print(f"upsert now / before = {now / before:.2f}")
    total_now = best["decode_state"] + best["instance_row (now)"] + now
    total_before = best["decode_state"] + best["instance_row (before)"] + before
    print(f"per snapshot now / before = {total_now:.1f} / {total_before:.1f} µs = "
          f"{total_now / total_before:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
