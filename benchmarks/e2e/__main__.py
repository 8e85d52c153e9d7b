"""End-to-end benchmark through the running services: `python -m benchmarks.e2e`.

start -> one service task -> end. The engine runs as `python -m services.engine` (through the
services supervisor, as `make up` runs it); a no-op job worker in this process completes each
job through Kafka. N START_INSTANCE commands go to `commands` at once; the figures:

- completed instances per second (first start produced -> last completion read) and the
  start -> complete latency (p50, p99) as a reader of `events` sees it;
- run 2, with the audit service on: the same, plus data availability: an event's Kafka
  timestamp (when the engine produced it) -> its audit_log row's written_at (p50, p99);
- the ceiling: the same number of records the engine moved (commands in; events, jobs and
  state out) produced in transactions of the engine's batch size and consumed read_committed,
  raw, with nothing else in between; the summary at the end prints first the engine's
  records/s as a share of it, then the burst's completed/s and the paced p50/p99 with audit on;
- `--burst` starts at once (default 10,000), then `--rate` starts a second (default 500) for
  `--paced-seconds`: the latency of instances that do not queue (with audit on, the audit may
  still be writing the burst's rows then; `--steady` waits for it first); `--replicas` engine
  processes (1, 2 or 4) share `--partitions` partitions (default 4 for one replica, 8 for
  more);
- `--env LANEWAY_X=v` (repeatable): a setting for the services, to A/B it in one command; the
  CPU per 1,000 instances is printed for each service, for the no-op worker and for this
  process (its reader and paced starter compete with the engine for the same cores);
- the no-op worker runs in `--worker-procs` processes of its own (default 1,
  `python -m benchmarks.e2e.worker`, one consumer group), so its CPU is not this process's
  and it does not compete with the reader for the GIL; 0 runs it as a thread of this process
  (as before issue 16, for an A/B);
- where the engine's time goes: its own metrics (batches, time in batches) and, with
  `--profile`, a cProfile of the engine process (a third run; cProfile slows it down);
- with `--tracing`: the run with audit again, alternately with tracing off and on (every span
  sampled, exported over OTLP/HTTP to the stack's Jaeger), `--tracing-rounds` pairs, and the
  ratio of the two throughputs and p99s (docs/telemetry.md).

Needs the local stack (`python -m scripts.stack up`, or KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL,
REDIS_URL). Every run has its own topics and schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.e2e import pct
from benchmarks.e2e.clients import (
    BenchLaneway,
    LazyCompletions,
    PromptReader,
    noop_worker,
    paced_starts,
    raw,
)
from benchmarks.e2e.floor import chain_floor
from benchmarks.e2e.live import LiveResult, Watching, deploy_loop
from benchmarks.scratch_topics import create_topics, delete_topics
from laneway.bpmn import LANEWAY_NS
from laneway.codec import DefinitionRecord, decode_record, encode_definition
from laneway.kafka import consumer_config, producer_config
from scripts.services import Supervisor
from scripts.stack import Connections, Settings, jaeger_up, up
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.usage import ServerCpu, servers
from tests.e2e.harness import Completions, Laneway, TopicReader, start_commands

DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/><serviceTask id="work" laneway:type="{job_type}"/><endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
    <sequenceFlow id="f2" sourceRef="work" targetRef="e"/>
  </process>
</definitions>"""


@dataclass
class RunResult:
    label: str
    instances: int
    seconds: float
    p50_ms: float
    p99_ms: float
    records_moved: int
    batches: float
    batch_seconds: float
    availability: tuple[float, float] | None = None
    paced: tuple[int, float, float, float] | None = None
    """(rate/s, p50 ms, p99 ms, p50 ms to the completion's produce) of paced starts."""
    live: LiveResult | None = None
    """The live feed's latency during the paced phase (`--live`)."""
    cpu_per_1000: dict[str, float] = field(default_factory=dict)
    """CPU seconds (user + system, from /proc) of each service process per 1,000 instances,
    over the burst and the paced phase (the audit's until it has written them all); and of
    the broker (same window as the engine's) and PostgreSQL (every backend; the audit's
    window) when they are this machine's (scripts/stack/usage.py)."""
    paced_engine: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    """The engine in the paced phase: transactions, commands, seconds inside batches and
    seconds of them in the offsets' send and the commit."""
    not_local: str = ""
    """The servers whose CPU is not in `cpu_per_1000`, and why ("not local")."""

    @property
    def rate(self) -> float:
        return self.instances / self.seconds

    def show(self) -> str:
        line = (f"{self.label:<22} {self.instances} instances in {self.seconds:5.1f}s: "
                f"{self.rate:6.0f} completed/s; start->complete p50 {self.p50_ms:6.0f} ms, "
                f"p99 {self.p99_ms:6.0f} ms; engine: {self.records_moved} records moved, "
                f"{self.batches:.0f} transactions, {self.batch_seconds:.1f}s inside them "
                f"({100 * self.batch_seconds / self.seconds:.0f}% of the run)")
        if self.paced:
            line += (f"\n{'':<22} paced at {self.paced[0]}/s: start->complete read "
                     f"p50 {self.paced[1]:.0f} ms, p99 {self.paced[2]:.0f} ms (start->"
                     f"completion produced by the engine p50 {self.paced[3]:.0f} ms)")
            txns, commands, inside, committing = self.paced_engine
            line += (f"\n{'':<22} paced, the engine: {txns:.0f} transactions of "
                     f"{commands / max(txns, 1):.1f} commands on average, "
                     f"{1000 * inside / max(txns, 1):.1f} ms each, of which "
                     f"{1000 * committing / max(txns, 1):.1f} ms sending the offsets and "
                     f"committing")
        if self.availability:
            line += (f"\n{'':<22} availability (event produced -> audit_log row) "
                     f"p50 {self.availability[0]:.0f} ms, p99 {self.availability[1]:.0f} ms")
        if self.live:
            line += "\n" + self.live.show()
        if self.cpu_per_1000:
            line += (f"\n{'':<22} CPU s per 1,000 instances: " + ", ".join(
                f"{name} {cpu:.2f}" for name, cpu in self.cpu_per_1000.items()))
        if self.not_local:
            line += f"\n{'':<22} CPU of the servers: {self.not_local}"
        return line


def deploy(lw: Laneway, pid: str, job_type: str) -> None:
    """What the definitions service does on a deploy: the version on `definitions`."""
    xml = DIAGRAM.format(ns=LANEWAY_NS, pid=pid, job_type=job_type).encode()
    record = DefinitionRecord(pid, 1, xml, "bench", int(time.time() * 1000))
    producer = lw.producer()
    producer.produce(lw.topics.definitions, encode_definition(record), record.key.encode())
    assert producer.flush(30) == 0


def count_topic(bootstrap: str, topic: str, partitions: int) -> int:
    reader = TopicReader(bootstrap, topic, partitions, decode=lambda b: None)
    try:
        previous = -1
        while len(reader.poll(0.5)) != previous:
            previous = len(reader.items)
        return previous
    finally:
        reader.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime: the 14th and 15th fields, the 12th and 13th after the command name
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Shape:
    """What a run puts through: the burst, the paced phase and the engine's scale."""

    burst: int = 10_000
    rate: int = 500
    paced_seconds: float = 3.0
    replicas: int = 1
    partitions: int = 4
    env: tuple[tuple[str, str], ...] = ()
    """LANEWAY_* settings for the services (`--env`: an A/B of a setting in one command)."""
    worker_procs: int = 1
    """Processes of the no-op worker (0: a thread of the benchmark's process)."""
    steady: bool = False
    """With audit on, the paced phase starts once the audit has written the burst's rows
    (`--steady`): its latency is that of a steady load, not of one beside a catch-up."""

    @property
    def paced(self) -> int:
        return int(self.rate * self.paced_seconds)


PACED_METRICS = ("batch_seconds_count", "batch_records_sum", "batch_seconds_sum",
                 "transaction_seconds_sum")


def engine_metric(lw: Laneway, engines: list[Supervisor | None], metric: str) -> float:
    """A metric summed over every engine process."""
    return sum(lw.metric("engine", metric, sup) for sup in engines)


def run(conns: Connections, workdir: Path, label: str, shape: Shape, audit: bool,
        python: str | None = None, live: int = 0, otlp_endpoint: str = "") -> RunResult:
    """`live`: that many SSE clients on looping instances during the paced phase (needs
    `audit`, which serves the live route). `otlp_endpoint`: the services trace every command
    and export there (empty: tracing off)."""
    job_type = unique_name("bench").replace("-", "")
    pid = unique_name("bench").replace("-", "_")
    services = ("engine", "audit") if audit else ("engine",)
    lw = BenchLaneway(bootstrap=conns.kafka_bootstrap_servers, database_url=conns.database_url,
                      redis_url=conns.redis_url, workdir=workdir / label.replace(" ", "_"),
                      services=services, job_types=(job_type,), python=python,
                      otlp_endpoint=otlp_endpoint,
                      env_overrides={**({"OTEL_TRACES_SAMPLER": "always_on"} if otlp_endpoint
                                         else {}), **dict(shape.env)},
                      partitions=shape.partitions)
    lw.start()
    try:
        # more replicas of the engine: each its own process, name and transactional id
        engines: list[Supervisor | None] = [None]
        for n in range(2, shape.replicas + 1):
            engines.append(lw.add("engine", f"e{n}", LANEWAY_ENGINE_REPLICA=f"e{n}"))
        wait_until(lambda: all(lw.metric("engine", "laneway_engine_owned_partitions", sup) > 0
                               for sup in engines) and engine_metric(
                                   lw, engines, "laneway_engine_owned_partitions")
                   == shape.partitions, 120, 0.2, "every engine replica owns partitions")
        deploy(lw, pid, job_type)
        if live:
            deploy_loop(lw, f"{pid}_loop")
        # the events kept as bytes: only completions are decoded while the run is measured
        events = PromptReader(lw.bootstrap, lw.topics.events, shape.partitions, decode=raw)
        done = LazyCompletions(events)
        ids = [str(uuid.uuid4()) for _ in range(shape.burst)]
        with noop_worker(lw.bootstrap, lw.topics, job_type, shape.worker_procs) as workers:
            # one instance first, so the definition is loaded and the groups have settled
            warm = str(uuid.uuid4())
            start_commands(lw.producer(), lw.topics, pid, [warm])
            done.wait([warm], 60)
            batches0 = engine_metric(lw, engines, "laneway_engine_batch_seconds_count")
            busy0 = engine_metric(lw, engines, "laneway_engine_batch_seconds_sum")
            pids = {"audit": lw.pid("audit")} if audit else {}
            for n, sup in enumerate(engines, 1):
                pids[f"engine e{n}"] = lw.pid("engine", sup)
            # this process: the reader and the paced starter (and the no-op worker with
            # --worker-procs 0) share it, and a starved benchmark would show as the engine's
            # latency
            pids["benchmark"] = os.getpid()
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            # the broker's and PostgreSQL's, when they are this machine's
            server_cpu = ServerCpu(servers(Settings.from_env(), conns.kafka_bootstrap_servers,
                                           conns.database_url))
            worker_cpu0 = sum(cpu_seconds(p) for p in workers.pids)
            began = time.time()
            started = start_commands(lw.producer(), lw.topics, pid, ids)
            done.wait(ids, 600)
            ended = max(done.done_at[i] for i in ids)
            batches = engine_metric(lw, engines, "laneway_engine_batch_seconds_count") - batches0
            busy = engine_metric(lw, engines, "laneway_engine_batch_seconds_sum") - busy0
            live_result = None
            if audit and shape.steady:
                # every event of the burst is on `events` by now (every instance completed)
                wait_audit(lw, len(events.poll()))
            paced0 = [engine_metric(lw, engines, f"laneway_engine_{m}") for m in PACED_METRICS]
            if live:
                with Watching(lw, live, f"{pid}_loop") as watching:
                    paced_began = time.time()
                    paced = paced_latency(lw, done, pid, shape.rate, shape.paced_seconds)
                    live_result = watching.result(paced_began, time.time())
            else:
                paced = paced_latency(lw, done, pid, shape.rate, shape.paced_seconds)
            paced_engine = [engine_metric(lw, engines, f"laneway_engine_{m}") - v
                            for m, v in zip(PACED_METRICS, paced0, strict=True)]
            # the run's CPU ends here (the audit's when it has written every row): what
            # follows (counting the topics' records) is the benchmark's bookkeeping; and the
            # workers' is read before the block stops them (their /proc entries go with them)
            cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()
                   if name != "audit"}
            if workers.pids:
                cpu[f"worker ({len(workers.pids)} proc)"] = sum(
                    cpu_seconds(p) for p in workers.pids) - worker_cpu0
            servers_cpu = server_cpu.seconds()
        latencies = [1000 * (done.done_at[i] - started[i] / 1000) for i in ids]
        events.poll()
        state = count_topic(lw.bootstrap, lw.topics.state, shape.partitions)
        jobs = count_topic(lw.bootstrap, lw.topics.jobs(job_type), shape.partitions)
        commands = 2 * (shape.burst + 1 + shape.paced)
        moved = commands + len(events.items) + jobs + state
        availability = None
        if audit:
            # decoded here, after the run's CPU was measured (the reader keeps the bytes)
            produced = {decode_record(b).record_id: events.meta[i][2]
                        for i, b in enumerate(events.items)}
            wait_audit(lw, len(produced))
            cpu["audit"] = cpu_seconds(pids["audit"]) - cpu0["audit"]
            # PostgreSQL's window is the audit's: it ends once every row is written (before
            # the benchmark reads them back); the broker's is the engine's, above
            servers_cpu["postgres"] = server_cpu.seconds()["postgres"]
            availability = audit_availability(lw, produced)
        for name, seconds in servers_cpu.items():
            if seconds is not None:
                cpu[name] = seconds
        started_count = shape.burst + shape.paced
        return RunResult(label, shape.burst, ended - began, statistics.median(latencies),
                         pct(latencies, 99), moved, batches, busy, availability, paced,
                         live_result, {name: 1000 * seconds / started_count
                                       for name, seconds in cpu.items()},
                         (paced_engine[0], paced_engine[1], paced_engine[2], paced_engine[3]),
                         server_cpu.notes())
    finally:
        lw.close()


PACED_RATE = 100
"""The paced rate of the console benchmark (benchmarks/console_bench.py), which reuses this."""


def paced_latency(lw: Laneway, done: Completions, pid: str, rate: int, seconds: float
                  ) -> tuple[int, float, float, float]:
    """Starts one at a time at `rate`/s: the latency of instances that do not queue (at a
    rate the engine keeps up with)."""
    started = paced_starts(lw.producer(), lw.topics, done, pid, rate, seconds)
    done.wait(started, 120)
    latencies = [1000 * (done.done_at[i] - t / 1000) for i, t in started.items()]
    produced = [1000 * (done.produced_at[i] - t / 1000) for i, t in started.items()]
    return rate, statistics.median(latencies), pct(latencies, 99), statistics.median(produced)


def wait_audit(lw: Laneway, rows: int) -> None:
    """Until the audit has written `rows` rows."""
    def caught_up() -> bool:
        with lw.db() as conn:
            row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        return row is not None and int(row[0]) >= rows

    wait_until(caught_up, 120, 0.2, "audit caught up")


def audit_availability(lw: Laneway, produced: dict[str, int]) -> tuple[float, float]:
    """Kafka timestamp of each event (record id -> ms) -> written_at of its row (every row
    is there: `wait_audit`)."""
    with lw.db() as conn:
        rows = conn.execute("SELECT record_id, extract(epoch FROM written_at) * 1000 "
                            "FROM audit_log").fetchall()
    lags = [float(ms) - produced[rid] for rid, ms in rows if rid in produced]
    return statistics.median(lags), pct(lags, 99)


def raw_kafka(conns: Connections, records: int, partitions: int, size: int = 400,
              batch: int = 500) -> tuple[float, float]:
    """Transactional produce (batches of `batch`) then read_committed consume of `records`
    records of `size` bytes on a fresh topic of `partitions`; records/s of each."""
    bootstrap = conns.kafka_bootstrap_servers
    topic = unique_name("bench.raw")
    create_topics(bootstrap, {topic: partitions})
    try:
        producer = Producer({**producer_config(bootstrap, transactional_id=unique_name("raw")),
                             "log_level": 0})
        producer.init_transactions(30)
        value = os.urandom(size)
        began = time.perf_counter()
        for start in range(0, records, batch):
            producer.begin_transaction()
            for i in range(start, min(records, start + batch)):
                while True:
                    try:
                        producer.produce(topic, value, str(i).encode())
                        break
                    except BufferError:
                        producer.poll(0.01)
            producer.commit_transaction(30)
        produce_s = time.perf_counter() - began
        consumer = Consumer({**consumer_config(bootstrap, unique_name("raw")), "log_level": 0})
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got = 0
        began = time.perf_counter()
        while got < records:
            got += sum(1 for m in consumer.consume(5000, 1.0) if m.error() is None)
        consume_s = time.perf_counter() - began
        consumer.close()
        return records / produce_s, records / consume_s
    finally:
        # waited for: an admin client destroyed with the request in flight may not send it,
        # and the leftover topics slow the shared broker down (docs/local-stack.md)
        delete_topics(bootstrap, [topic])


def profile_run(conns: Connections, workdir: Path, shape: Shape) -> str:
    """The engine under cProfile (a wrapper as the supervisor's python); the top functions."""
    out = workdir / "engine.prof"
    wrapper = workdir / "python-cprofile"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m cProfile -o {out} "$@"\n')
    wrapper.chmod(0o755)
    result = run(conns, workdir, "profiled", replace(shape, replicas=1), audit=False,
                 python=str(wrapper))
    wait_until(out.exists, 30, 0.1, "profile written")
    stats = pstats.Stats(str(out))
    lines = [result.show(), "", "engine process, by own time (tottime), top 25:"]
    stats_rows: list[tuple[float, float, str]] = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (file, line, func), (_cc, _nc, tt, ct, _callers) in raw.items():
        stats_rows.append((tt, ct, f"{Path(file).name}:{line}:{func}"))
    total = sum(tt for tt, _, _ in stats_rows)
    for tt, ct, name in sorted(stats_rows, reverse=True)[:25]:
        lines.append(f"  {tt:7.2f}s own {100 * tt / total:5.1f}%  {ct:7.2f}s cum  {name}")
    lines.append("selected functions, cumulative:")
    wanted = ("handle", "encode", "decode", "_to_plain", "commit_transaction", "produce",
              "send_offsets_to_transaction", "consume", "poll", "process", "flush")
    for _tt, ct, name in sorted(stats_rows, key=lambda r: -r[1]):
        func = name.split(":", 2)[2]
        builtin = func.split("'")[1] if func.startswith("<method '") else None
        if func in wanted or builtin in wanted:
            lines.append(f"  {ct:7.2f}s cum {100 * ct / total:5.1f}%  {name}")
    return "\n".join(lines)


def tracing_runs(conns: Connections, workdir: Path, shape: Shape, rounds: int) -> str:
    """The run with audit, tracing off and on in turn (`rounds` pairs, so a drift of the shared
    machine touches both alike); the mean of each and the ratio."""
    traced = jaeger_up(Settings.from_env())
    if not traced.otlp_endpoint:
        raise SystemExit(f"--tracing needs the stack's Jaeger: {traced.traces_note}")
    off: list[RunResult] = []
    on: list[RunResult] = []
    for n in range(rounds):
        for endpoint, into in (("", off), (traced.otlp_endpoint, on)):
            label = f"audit, tracing {'on' if endpoint else 'off'} #{n + 1}"
            result = run(conns, workdir, label, shape, audit=True, otlp_endpoint=endpoint)
            print(result.show(), flush=True)
            into.append(result)

    def mean(results: list[RunResult], of: Callable[[RunResult], float]) -> float:
        return statistics.fmean(of(r) for r in results)

    rate_off, rate_on = mean(off, lambda r: r.rate), mean(on, lambda r: r.rate)
    p99_off, p99_on = mean(off, lambda r: r.p99_ms), mean(on, lambda r: r.p99_ms)
    paced_off = mean(off, lambda r: r.paced[2] if r.paced else 0.0)
    paced_on = mean(on, lambda r: r.paced[2] if r.paced else 0.0)
    cpu = ""
    for name in off[0].cpu_per_1000:
        cpu_off = mean(off, lambda r, n=name: r.cpu_per_1000[n])  # type: ignore[misc]
        cpu_on = mean(on, lambda r, n=name: r.cpu_per_1000[n])  # type: ignore[misc]
        cpu += (f"\n  {name + ' CPU s/1,000':<16} off {cpu_off:7.2f}   on {cpu_on:7.2f}   "
                f"on/off {cpu_on / max(cpu_off, 1e-9):5.2f}")
    return (f"tracing (every span sampled, OTLP/HTTP to Jaeger), mean of {rounds} pair(s):\n"
            f"  completed/s      off {rate_off:7.0f}   on {rate_on:7.0f}   "
            f"on/off {rate_on / rate_off:5.2f} ({100 * (1 - rate_on / rate_off):+.1f} % fewer)\n"
            f"  burst p99 ms     off {p99_off:7.0f}   on {p99_on:7.0f}\n"
            f"  paced p99 ms     off {paced_off:7.0f}   on {paced_on:7.0f}" + cpu)


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", "--instances", dest="burst", type=int, default=10_000,
                        help="instances started at once (default 10,000)")
    parser.add_argument("--rate", type=int, default=500,
                        help="starts a second in the paced phase (default 500)")
    parser.add_argument("--paced-seconds", type=float, default=3.0,
                        help="how long the paced phase lasts (default 3)")
    parser.add_argument("--replicas", type=int, choices=(1, 2, 4), default=1,
                        help="engine processes sharing the partitions (default 1)")
    parser.add_argument("--partitions", type=int, default=0,
                        help="partitions of every topic (default 4 for one replica, 8 for more)")
    parser.add_argument("--audit-only", action="store_true",
                        help="skip the run without the audit service (the ratio then comes "
                             "from the run with it)")
    parser.add_argument("--profile", action="store_true",
                        help="a third run with the engine under cProfile")
    parser.add_argument("--live", type=int, default=0, metavar="N",
                        help="in the run with audit, N SSE clients through the edge on "
                             "looping instances during the paced phase: event produced -> "
                             "read by the client (benchmarks/e2e/live.py)")
    parser.add_argument("--tracing", action="store_true",
                        help="the run with audit again with tracing off and on in turn, "
                             "exporting to the stack's Jaeger; their ratio")
    parser.add_argument("--tracing-rounds", type=int, default=2,
                        help="pairs of runs (off, on) for --tracing")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a LANEWAY_* setting for the services (repeatable)")
    parser.add_argument("--steady", action="store_true",
                        help="with audit on, start the paced phase once the audit has "
                             "written the burst's rows")
    parser.add_argument("--worker-procs", type=int, default=1, metavar="N",
                        help="processes of the no-op job worker, one consumer group "
                             "(default 1; 0: a thread of the benchmark's process)")
    args = parser.parse_args(argv)
    env = tuple(tuple(e.split("=", 1)) for e in args.env)
    if any(len(e) != 2 or not e[0].startswith("LANEWAY_") for e in env) or len(env) > 20:
        parser.error("expected --env LANEWAY_NAME=VALUE (at most 20)")
    partitions = args.partitions or (4 if args.replicas == 1 else 8)
    if not 1 <= args.burst <= 1_000_000 or not 1 <= args.rate <= 100_000 \
            or not 0 < args.paced_seconds <= 600 or not 1 <= partitions <= 64:
        parser.error("expected 1..1,000,000 burst, 1..100,000 rate, 0..600 paced seconds "
                     "and 1..64 partitions")
    if partitions < args.replicas:
        parser.error(f"{args.replicas} replicas need at least as many partitions")
    if not 0 <= args.worker_procs <= partitions:
        parser.error(f"expected 0..{partitions} (the partitions) worker processes")
    shape = Shape(args.burst, args.rate, args.paced_seconds, args.replicas, partitions,
                  env, args.worker_procs, args.steady)
    # SIGTERM as SIGINT: the `finally`s run, so the services, the worker processes and the
    # run's topics and schema go (the worker processes also stop when this process is gone)
    signal.signal(signal.SIGTERM, _interrupted)
    conns = up(Settings.from_env())
    with tempfile.TemporaryDirectory(prefix="laneway-e2e-bench-") as tmp:
        workdir = Path(tmp)
        began = time.monotonic()
        print(f"burst {shape.burst}, paced {shape.rate}/s for {shape.paced_seconds:g}s, "
              f"{shape.replicas} engine replica(s) on {shape.partitions} partitions, "
              f"{shape.worker_procs or 'no'} worker process(es)"
              + (", paced once the audit caught up" if shape.steady else "")
              + "".join(f", {k}={v}" for k, v in shape.env), flush=True)
        plain = None
        if not args.audit_only:
            plain = run(conns, workdir, "engine + worker", shape, audit=False)
            print(plain.show(), flush=True)
        audited = run(conns, workdir, "engine + worker + audit", shape, audit=True,
                      live=args.live)
        print(audited.show(), flush=True)
        ratio_of = plain if plain is not None else audited
        produce, consume = raw_kafka(conns, ratio_of.records_moved, shape.partitions)
        engine_rate = ratio_of.records_moved / ratio_of.seconds
        print(f"{'raw Kafka':<22} {ratio_of.records_moved} records of 400 B: transactional "
              f"produce {produce:,.0f}/s, read_committed consume {consume:,.0f}/s; the "
              f"engine moved {engine_rate:,.0f} records/s", flush=True)
        # the least the paced phase's three hops cost here, with nothing in them
        floor = chain_floor(conns.kafka_bootstrap_servers, shape.rate, shape.paced_seconds,
                            shape.partitions)
        print(f"{'raw Kafka':<22} {floor.show()}", flush=True)
        paced = audited.paced
        assert paced is not None
        print(f"\nsummary ({shape.replicas} engine replica(s), {shape.partitions} partitions):\n"
              f"  engine records/s / raw transactional Kafka records/s: {engine_rate:,.0f} / "
              f"{produce:,.0f} = {100 * engine_rate / produce:.0f} % ({ratio_of.label})\n"
              f"  completed instances/s, burst of {shape.burst}, audit on: "
              f"{audited.rate:,.0f}\n"
              f"  start->complete at {paced[0]}/s, audit on: p50 {paced[1]:.0f} ms, "
              f"p99 {paced[2]:.0f} ms; the raw three-hop floor's p50 {floor.p50_ms:.0f} ms, "
              f"p99 {floor.p99_ms:.0f} ms: {paced[1] / floor.p50_ms:.1f}x and "
              f"{paced[2] / floor.p99_ms:.1f}x", flush=True)
        if args.profile:
            print(profile_run(conns, workdir, shape), flush=True)
        if args.tracing:
            print(tracing_runs(conns, workdir, shape, args.tracing_rounds), flush=True)
        print(f"total {time.monotonic() - began:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
