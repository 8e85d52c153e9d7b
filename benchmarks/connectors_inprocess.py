"""Jobs per second of one connector in this process, without Kafka or Redis: N jobs through
`laneway.connectors.testing.run_job_async`, at most CONCURRENCY at once (as the runtime's
slots allow), one connector instance and one shared httpx client, against the same local far
side as `make bench-connectors` (benchmarks/connectors.py `far_side`: a threaded HTTP server
speaking the Messages API for `llm`, aiosmtpd for `email`) with 0 or 200 ms added.

    .venv/bin/python -m benchmarks.connectors_inprocess [--types llm,email] [--jobs 200]
        [--concurrency 32] [--latency-ms 0,200]

Not a test: timings depend on the machine. It isolates the connector's own cost (an SDK
client, a thread pool) from the runtime's (decode, Redis, the produce): the through-Kafka
figures are `make bench-connectors`'. Printed per row: jobs/s, the process's CPU seconds
per job, and how many jobs failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.connectors import far_side  # noqa: E402
from laneway.connectors import Connector, discover  # noqa: E402
from laneway.connectors.testing import make_job, run_job_async  # noqa: E402


def _split(env: dict[str, str], type_: str) -> tuple[dict[str, str], dict[str, str]]:
    """The far side's worker environment as `run_job_async` takes it: settings and secrets."""
    prefix = f"LANEWAY_CONNECTOR_{type_.upper()}_"
    settings = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}
    secrets = {k.removeprefix("LANEWAY_SECRET_").lower(): v for k, v in env.items()
               if k.startswith("LANEWAY_SECRET_")}
    return settings, secrets


async def _row(connector: Connector, jobs: int, concurrency: int,
               env: dict[str, str], attrs: dict[str, str]) -> tuple[float, float, int]:
    settings, secrets = _split(env, connector.type)
    slots = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(n: int, http: httpx.AsyncClient) -> None:
        nonlocal failed
        async with slots:
            job = make_job(connector.type, attrs, {"n": n}, key=n + 1)
            try:
                await run_job_async(connector, job=job, secrets=secrets, settings=settings,
                                    timeout=30.0, http=http)
            except Exception:
                failed += 1

    async with httpx.AsyncClient() as http:
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(n, http) for n in range(jobs)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return jobs / wall, cpu / jobs, failed


async def _closing(connector: Connector, jobs: int, concurrency: int, env: dict[str, str],
                   attrs: dict[str, str]) -> tuple[float, float, int]:
    try:
        return await _row(connector, jobs, concurrency, env, attrs)
    finally:
        await connector.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", default="llm,email")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", default="0,200")
    args = parser.parse_args()
    found = discover().connectors
    print(f"{'type':8} {'latency':>8} {'jobs/s':>8} {'cpu ms/job':>10} {'failed':>6}")
    for type_ in args.types.split(","):
        for latency in (int(x) for x in args.latency_ms.split(",")):
            connector = type(found[type_])()
            with far_side(type_, latency / 1000) as (env, attrs):
                rate, cpu, failed = asyncio.run(_closing(connector, args.jobs,
                                                         args.concurrency, env, attrs))
            print(f"{type_:8} {latency:>6}ms {rate:>8.1f} {cpu * 1000:>10.1f} {failed:>6}",
                  flush=True)


if __name__ == "__main__":
    main()
