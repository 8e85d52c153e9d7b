"""Jobs per second through the connectors runtime with a connector that does nothing
(run: .venv/bin/python benchmarks/connectors_bench.py [JOBS] [CONCURRENCY]).

Not a test: timings depend on the machine. Against the local stack (KAFKA_BOOTSTRAP_SERVERS,
REDIS_URL): creates fresh topics, starts one worker in this process, produces JOBS job records
of distinct instances to `jobs.noop` (6 partitions) and times from the first produce until
every COMPLETE_JOB is read back from `commands`. Each job costs the worker a decode, a Redis
SET NX (the lease), a Redis SET (the stored result), an encode, a produce acknowledged by the
broker and its share of an offset commit.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, Producer

from benchmarks.scratch_topics import create_topics
from laneway.codec import JobRecord, encode_job
from laneway.connectors import Connector, ConnectorContext, Job
from laneway.kafka import consumer_config, producer_config
from laneway.records import Principal, PrincipalKind
from laneway.topics import Topics
from services.connectors.settings import load_settings
from services.connectors.worker import ConnectorService


class NoopConnector(Connector):
    """Answers every job at once with one variable."""

    type = "noop"

    async def run(self, job: Job, ctx: ConnectorContext) -> Mapping[str, Any]:
        """Nothing to do."""
        return {"done": True}


def main(jobs: int, concurrency: int) -> None:
    """Run the benchmark and print the figures."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    prefix = f"bench-conn-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    create_topics(bootstrap, {topics.jobs("noop"): 6, topics.commands: 6, topics.dlq: 1})
    env = {**os.environ, "LANEWAY_TOPIC_PREFIX": prefix, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "LANEWAY_CONNECTOR_CONCURRENCY": str(concurrency)}
    service = ConnectorService(load_settings(env, types="noop"), {"noop": NoopConnector()})
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=lambda: loop.run_until_complete(service.run(stop)))
    thread.start()
    while service.check_consumers() is not None:
        time.sleep(0.05)

    reader = Consumer(consumer_config(bootstrap, f"{prefix}reader"))
    reader.subscribe([topics.commands])
    reader.consume(1, 3)  # join the group before the clock starts
    principal = Principal(PrincipalKind.SYSTEM, "engine")
    records = [encode_job(JobRecord(
        record_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()), element_id="noop",
        element_type="serviceTask", token_id=2, scope_id=1, principal=principal, timestamp=1,
        key=1, type="noop", retries=3, attributes={"laneway:type": "noop"},
        variables={"orderId": "o-1", "amount": 12})) for _ in range(jobs)]
    producer = Producer(producer_config(bootstrap))
    started = time.perf_counter()
    for value in records:
        producer.produce(topics.jobs("noop"), value=value, key=str(uuid.uuid4()).encode())
        producer.poll(0)
    producer.flush(60)
    produced = time.perf_counter() - started
    seen = 0
    while seen < jobs and time.perf_counter() - started < 300:
        seen += sum(1 for m in reader.consume(1000, 0.5) if m.error() is None)
    elapsed = time.perf_counter() - started
    reader.close()
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)
    print(f"{seen}/{jobs} jobs answered in {elapsed:.2f}s (producing took {produced:.2f}s): "
          f"{seen / elapsed:,.0f} jobs/s, concurrency {concurrency}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 32)
