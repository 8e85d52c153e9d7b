"""Jobs per second of one connectors worker process per built-in connector, against a local
server that answers as the far side does, with 0 ms and 200 ms of added latency
(run: `make bench-connectors`, or `.venv/bin/python -m benchmarks.connectors [--jobs N]
[--latency-ms 0,200] [--types http,slack,...] [--concurrency N]`).

Not a test: timings depend on the machine. Against the local stack (KAFKA_BOOTSTRAP_SERVERS,
REDIS_URL). Per connector type and latency: fresh topics (`jobs.<type>` with 6 partitions,
`commands`, `dlq`), one `python -m services.connectors --types <type>` process with
`LANEWAY_CONNECTOR_CONCURRENCY` (default 32), pointed at its far side by its settings and
secrets (the Slack API URL, the Discord webhook secret, the Messages API base URL, the SMTP
secret); once its /health says its consumer joined, JOBS job records of distinct instances are
produced to `jobs.<type>` and the clock runs until every final command is read back from
`commands`. So each job costs what it costs in production: the decode, the Redis lease and
stored outcome, the connector's request (a real httpx or smtplib client) to a server that
sleeps the latency before answering, the encode and the produce acknowledged by the broker.
The far side is one local process (a threaded HTTP server, or aiosmtpd) that never limits.

Printed per row: jobs/s, the mean time the worker held a job (its
`laneway_connectors_job_seconds`: from taking it to producing its command, so it includes the
wait for one of the concurrency's slots, up to twice the concurrency being taken at once), how
many jobs completed and how many ended otherwise, the concurrency, and the ceiling it allows at
that latency (concurrency / latency; one attempt at a time would be 1 / latency, 5 jobs/s at
200 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scratch_topics import create_topics, delete_topics  # noqa: E402
from laneway.codec import JobRecord, decode_record, encode_job  # noqa: E402
from laneway.connectors.testing import serve  # noqa: E402
from laneway.kafka import consumer_config, producer_config  # noqa: E402
from laneway.records import Principal, PrincipalKind  # noqa: E402
from laneway.topics import Topics  # noqa: E402

TYPES = ("http", "slack", "discord", "llm", "email")
DEFAULT_LATENCIES_MS = (0, 200)
PARTITIONS = 6

Answer = Callable[[str, bytes], tuple[int, Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class Options:
    """What to measure."""

    types: tuple[str, ...]
    latencies_ms: tuple[int, ...]
    jobs: int
    concurrency: int


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """The command line; refuses unknown types, negative latencies and empty runs."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.connectors")
    parser.add_argument("--types", default=",".join(TYPES),
                        help=f"comma-separated connector types (default {','.join(TYPES)})")
    parser.add_argument("--latency-ms", default=",".join(map(str, DEFAULT_LATENCIES_MS)),
                        help="comma-separated latencies the far side adds (default 0,200)")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per row (default 1000)")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="LANEWAY_CONNECTOR_CONCURRENCY of the worker (default 32)")
    args = parser.parse_args(argv)
    types = tuple(t.strip() for t in args.types.split(",") if t.strip())
    unknown = [t for t in types if t not in TYPES]
    if not types or unknown:
        parser.error(f"expected --types from {', '.join(TYPES)}, got {args.types!r}")
    try:
        latencies = tuple(int(v) for v in args.latency_ms.split(",") if v.strip())
    except ValueError:
        parser.error(f"expected --latency-ms as whole milliseconds, got {args.latency_ms!r}")
    if not latencies or min(latencies) < 0 or max(latencies) > 60_000:
        parser.error(f"expected --latency-ms from 0 to 60000, got {args.latency_ms!r}")
    if not 1 <= args.jobs <= 1_000_000:
        parser.error("expected --jobs from 1 to 1000000")
    if not 1 <= args.concurrency <= 10_000:
        parser.error("expected --concurrency from 1 to 10000")
    return Options(types, latencies, args.jobs, args.concurrency)


# -- the far sides ------------------------------------------------------------------------------

def _http_answer(path: str, body: bytes) -> tuple[int, Mapping[str, Any]]:
    return 201, {"id": f"o-{uuid.uuid4().hex[:8]}"}


def _slack_answer(path: str, body: bytes) -> tuple[int, Mapping[str, Any]]:
    if path != "/api/chat.postMessage":
        return 404, {"ok": False, "error": "unknown_method"}
    return 200, {"ok": True, "channel": "C0123456789", "ts": f"{time.time():.6f}",
                 "message": {"text": json.loads(body).get("text", "")}}


def _discord_answer(path: str, body: bytes) -> tuple[int, Mapping[str, Any]]:
    return 200, {"id": str(uuid.uuid4().int >> 64), "channel_id": "1100000000000000001",
                 "content": json.loads(body).get("content", ""), "embeds": []}


def _llm_answer(path: str, body: bytes) -> tuple[int, Mapping[str, Any]]:
    request = json.loads(body)
    return 200, {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                 "model": request.get("model", "claude-sonnet-4-5"), "stop_reason": "end_turn",
                 "stop_sequence": None, "content": [{"type": "text", "text": "routine"}],
                 "usage": {"input_tokens": 12, "output_tokens": 1}}


def _handler(answer: Answer, latency_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if latency_s:
                time.sleep(latency_s)
            status, value = answer(self.path.split("?")[0], body)
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def _smtp(latency_s: float) -> Iterator[int]:
    from aiosmtpd.controller import Controller

    class Slow:
        async def handle_DATA(self, server: object, session: object,
                              envelope: object) -> str:
            if latency_s:
                await asyncio.sleep(latency_s)
            return "250 OK"

    controller = Controller(Slow(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@contextlib.contextmanager
def far_side(type_: str, latency_s: float) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """The local server of `type_`; yields the worker's extra environment (settings, secrets)
    and the job's attributes."""
    if type_ == "email":
        with _smtp(latency_s) as port:
            yield ({"LANEWAY_SECRET_SMTP": f"smtp://127.0.0.1:{port}?from=bench%40example.org"},
                   {"laneway:to": "clerk@example.org", "laneway:subject": "Order {{ n }}",
                    "laneway:body": "Order {{ n }} was placed."})
        return
    answers: dict[str, Answer] = {"http": _http_answer, "slack": _slack_answer,
                                  "discord": _discord_answer, "llm": _llm_answer}
    with serve(_handler(answers[type_], latency_s)) as url:
        env, attrs = {
            "http": ({}, {"laneway:method": "POST", "laneway:url": url + "/orders",
                          "laneway:body": '{"n": "{{ n }}"}',
                          "laneway:response": '{"orderId": "body.id"}'}),
            "slack": ({"LANEWAY_CONNECTOR_SLACK_API_URL": url + "/api",
                       "LANEWAY_SECRET_SLACK_BOT_TOKEN": "xoxb-bench-1-token"},
                      {"laneway:channel": "C0123456789", "laneway:text": "Order {{ n }}"}),
            "discord": ({"LANEWAY_SECRET_DISCORD_WEBHOOK": url + "/api/webhooks/1/bench-token"},
                        {"laneway:content": "Order {{ n }}"}),
            "llm": ({"LANEWAY_CONNECTOR_LLM_BASE_URL": url,
                     "LANEWAY_CONNECTOR_LLM_API_KEY": "sk-bench-key"},
                    {"laneway:prompt": "Is order {{ n }} routine?", "laneway:maxTokens": "16"}),
        }[type_]
        yield env, attrs


# -- one row ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Row:
    """One measurement."""

    type: str
    latency_ms: int
    jobs: int
    completed: int
    other: int
    seconds: float
    mean_job_s: float | None
    concurrency: int

    def line(self) -> str:
        """The row as printed."""
        held = f"{self.mean_job_s * 1000:7.1f}" if self.mean_job_s is not None else "      ?"
        rate = self.completed / self.seconds if self.seconds else 0.0
        ceiling = (f"{self.concurrency / (self.latency_ms / 1000):7.0f}" if self.latency_ms
                   else "      -")
        return (f"{self.type:8} {self.latency_ms:6d} {rate:9.0f} {held} "
                f"{self.completed:6d}/{self.jobs:<6d} {self.other:5d} {self.concurrency:5d} "
                f"{ceiling}")


# ceiling: what the concurrency allows at that latency (concurrency / latency): one attempt
# at a time would do 1 / latency, 5 jobs/s at 200 ms
HEADER = ("type     lat ms    jobs/s  job ms   completed  other  conc ceiling\n"
          "-------- ------ --------- ------- ------------- ----- ----- -------")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mean_job_seconds(metrics: str, type_: str) -> float | None:
    def value(name: str) -> float | None:
        m = re.search(rf'^{name}\{{type="{re.escape(type_)}"\}} ([0-9.e+-]+)$', metrics, re.M)
        return float(m.group(1)) if m else None
    total, count = (value("laneway_connectors_job_seconds_sum"),
                    value("laneway_connectors_job_seconds_count"))
    return total / count if total is not None and count else None


def measure(type_: str, latency_ms: int, jobs: int, concurrency: int) -> Row:
    """One worker process, one type, one latency."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    prefix = f"bench-conn-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    create_topics(bootstrap, {topics.jobs(type_): PARTITIONS, topics.commands: PARTITIONS,
                              topics.dlq: 1})
    port = _free_port()
    with far_side(type_, latency_ms / 1000) as (extra_env, attributes):
        env = {**os.environ, **extra_env, "LANEWAY_TOPIC_PREFIX": prefix,
               "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
               "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0"),
               "LANEWAY_CONNECTOR_CONCURRENCY": str(concurrency),
               "LANEWAY_HTTP_PORT": str(port), "LANEWAY_LOG_LEVEL": "WARNING",
               "LANEWAY_SECRETS_DIR": "/nonexistent/laneway-bench-secrets"}
        worker = subprocess.Popen([sys.executable, "-m", "services.connectors", "--types",
                                   type_], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        try:
            _wait_healthy(worker, port)
            seconds, completed, other = _run_jobs(type_, attributes, jobs, bootstrap, topics)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
    delete_topics(bootstrap, (topics.jobs(type_), topics.commands, topics.dlq))
    return Row(type_, latency_ms, jobs, completed, other, seconds,
               _mean_job_seconds(metrics, type_), concurrency)


def _wait_healthy(worker: subprocess.Popen[bytes], port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            err = worker.stderr.read().decode(errors="replace") if worker.stderr else ""
            raise RuntimeError(f"the worker exited with {worker.returncode}: {err[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the worker was not healthy within {timeout_s:g}s")


def _run_jobs(type_: str, attributes: Mapping[str, str], jobs: int, bootstrap: str,
              topics: Topics) -> tuple[float, int, int]:
    """Produce `jobs` jobs and read the final commands back; (seconds, completed, other)."""
    principal = Principal(PrincipalKind.SYSTEM, "engine")
    reader = Consumer(consumer_config(bootstrap, f"{topics.prefix}reader"))
    reader.subscribe([topics.commands])
    reader.consume(1, 3)  # join the group before the clock starts
    records = [encode_job(JobRecord(
        record_id=str(uuid.uuid4()), instance_id=str(uuid.uuid4()), element_id="bench_task",
        element_type="serviceTask", token_id=2, scope_id=1, principal=principal, timestamp=1,
        key=1, type=type_, retries=3, attributes={"laneway:type": type_, **attributes},
        variables={"n": i})) for i in range(jobs)]
    producer = Producer(producer_config(bootstrap))
    started = time.perf_counter()
    for value in records:
        producer.produce(topics.jobs(type_), value=value, key=str(uuid.uuid4()).encode())
        producer.poll(0)
    producer.flush(60)
    completed = other = 0
    finals = 0
    while finals < jobs and time.perf_counter() - started < 600:
        for msg in reader.consume(1000, 0.5):
            data = msg.value()
            if msg.error() is not None or data is None:
                continue
            record = decode_record(data)
            intent, answer = str(record.intent), record.value
            if intent == "COMPLETE_JOB":
                completed += 1
                finals += 1
            elif intent == "THROW_ERROR" or answer.get("retries") == 0:
                other += 1
                finals += 1
                if other == 1:
                    print(f"  {type_}: first non-completion: {intent} {answer}",
                          file=sys.stderr)
    elapsed = time.perf_counter() - started
    reader.close()
    return elapsed, completed, other


def main(argv: Sequence[str] | None = None) -> int:
    """Measure every row and print the table."""
    options = parse_args(argv)
    print(f"one connectors worker process per row, {options.jobs} jobs, "
          f"LANEWAY_CONNECTOR_CONCURRENCY={options.concurrency}")
    print(HEADER)
    for type_ in options.types:
        for latency in options.latencies_ms:
            row = measure(type_, latency, options.jobs, options.concurrency)
            print(row.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
