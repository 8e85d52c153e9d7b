"""Jobs per second through the job API with one outside worker (run:
.venv/bin/python benchmarks/job_api_bench.py [JOBS] [MAX_JOBS] [CONCURRENCY]).

Not a test: timings depend on the machine. Against the local stack (KAFKA_BOOTSTRAP_SERVERS):
creates fresh topics, serves the job API (the connectors service's gateway) in this process on a
free port, produces JOBS job records of distinct instances to `jobs.ext-bench` (6 partitions),
and times one `laneway.worker.Worker` (activating MAX_JOBS at a time, answering each with its
own HTTP request, CONCURRENCY answers at once) from the first produce until every job is
answered. Each job costs a decode, a lease, one answer request (token verified), an encode and
a produce acknowledged by the broker, and its share of an activation and an offset commit.
Client and gateway share this process (and its GIL).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Producer

from benchmarks.scratch_topics import create_topics, delete_topics
from laneway.auth import AuthSettings, TokenVerifier
from laneway.auth.dev import JWKS_FILE, ensure_dev_key, issue_token
from laneway.codec import JobRecord, encode_job
from laneway.health import HealthChecks
from laneway.kafka import producer_config
from laneway.records import Principal, PrincipalKind
from laneway.service.signals import StopSignal
from laneway.topics import Topics
from laneway.web.server import HttpServer
from laneway.worker import Worker
from services.connectors.gateway import Gateway
from services.connectors.jobs_api import create_app
from services.connectors.settings import load_settings

TYPE = "ext-bench"


def main(jobs: int, max_jobs: int, concurrency: int) -> None:
    """Run the benchmark and print the figure."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    prefix = f"bench-jobs-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    create_topics(bootstrap, {topics.jobs(TYPE): 6, topics.commands: 6, topics.dlq: 1})
    keys = Path(tempfile.mkdtemp(prefix="laneway-bench-"))
    signing = ensure_dev_key(keys)
    token = issue_token(signing, user="bench-worker", roles=["worker"], kind="agent")
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "LANEWAY_TOPIC_PREFIX": prefix,
                              "LANEWAY_EXTERNAL_JOB_TYPES": TYPE,
                              "LANEWAY_CONNECTOR_TYPES": "none",
                              "LANEWAY_JOBS_BUFFER": str(max(256, 4 * max_jobs))})
    checks = HealthChecks("bench")
    app = create_app(TokenVerifier(AuthSettings(jwks_file=keys / JWKS_FILE)), checks,
                     lambda: Gateway(settings, asyncio.get_running_loop()))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = HttpServer(app, "127.0.0.1", port, StopSignal())
    server.start()
    while checks.report()[0] is False:
        time.sleep(0.05)  # the gateway's consumer joins its group

    principal = Principal(PrincipalKind.SYSTEM, "engine")
    producer = Producer(producer_config(bootstrap))
    started = time.perf_counter()
    for _ in range(jobs):
        record = JobRecord(record_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()),
                           element_id="work", element_type="serviceTask", token_id=2,
                           scope_id=1, principal=principal, timestamp=1, key=1, type=TYPE,
                           retries=3, variables={"orderId": "o-1", "amount": 12})
        producer.produce(topics.jobs(TYPE), value=encode_job(record),
                         key=record.instance_id.encode())
        producer.poll(0)
    producer.flush(60)
    answered = 0
    with Worker(f"http://127.0.0.1:{port}", token, TYPE, lambda job: {"done": True},
                max_jobs=max_jobs, request_timeout_ms=2000, concurrency=concurrency) as worker:
        while answered < jobs and time.perf_counter() - started < 300:
            answered += worker.run_once()
    elapsed = time.perf_counter() - started
    server.stop()
    print(f"{answered}/{jobs} jobs answered through the job API in {elapsed:.2f}s: "
          f"{answered / elapsed:,.0f} jobs/s, one worker, maxJobs {max_jobs}, "
          f"concurrency {concurrency}")
    delete_topics(bootstrap, (topics.jobs(TYPE), topics.commands, topics.dlq))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 32,
         int(sys.argv[3]) if len(sys.argv) > 3 else 1)
