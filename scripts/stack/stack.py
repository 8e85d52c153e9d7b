"""Bring the whole local stack up or down, report its status and connection settings."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from scripts.stack.config import Settings, StackError
from scripts.stack.jaeger import Jaeger, ToolMissing
from scripts.stack.kafka import Kafka, metadata_ok
from scripts.stack.mail import Mail
from scripts.stack.postgres import Postgres, find_bin_dir
from scripts.stack.proc import log, port_open
from scripts.stack.redis import Redis, ping
from scripts.stack.topics import TopicSpec, ensure_topics


@dataclass(frozen=True)
class Connections:
    """How services and tests reach the stack."""

    kafka_bootstrap_servers: str
    database_url: str
    redis_url: str
    topic_prefix: str
    partitions: int
    job_types: tuple[str, ...]
    smtp_url: str = ""
    """The local mail catcher as an `smtp` secret URL (empty when not started)."""
    traces_url: str = ""
    """Jaeger's query API (empty when Jaeger does not run); its page there is a placeholder:
    the Go module has no UI bundle."""
    otlp_endpoint: str = ""
    """Jaeger's OTLP/HTTP receiver, for `OTEL_EXPORTER_OTLP_ENDPOINT` (empty when it does not
    run)."""
    traces_note: str = ""
    """Why Jaeger does not run, when it does not (for the tests that need it)."""

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "LANEWAY_TOPIC_PREFIX": self.topic_prefix,
        }

    def telemetry_env(self) -> dict[str, str]:
        """Where the services send their spans and where the trace view reads a trace from:
        Jaeger's, when it runs (nothing otherwise: no endpoint, no exporter). Not
        `LANEWAY_TRACES_URL`: this Jaeger, built from the Go module, has no UI to link to;
        the console's own trace view stands in for it (docs/console.md)."""
        if not self.otlp_endpoint:
            return {}
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "LANEWAY_TRACES_QUERY_URL": self.traces_url}


def connections(settings: Settings, traces_note: str = "") -> Connections:
    jaeger = Jaeger(settings)
    running = settings.jaeger and jaeger.healthy()
    if not settings.jaeger:
        traces_note = "LANEWAY_JAEGER=0"
    elif not running and not traces_note:
        traces_note = f"no Jaeger answers on {jaeger.url} (make up starts it)"
    return Connections(
        kafka_bootstrap_servers=settings.kafka_bootstrap,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        topic_prefix=settings.topic_prefix,
        partitions=settings.partitions,
        job_types=settings.job_types,
        smtp_url=Mail(settings).url,
        traces_url=jaeger.url if running else "",
        otlp_endpoint=jaeger.otlp_endpoint if running else "",
        traces_note="" if running else traces_note,
    )


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One `up`/`down` at a time per state directory (make up and a test run may race)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with (settings.state_dir / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_external(settings: Settings) -> None:
    if settings.external_kafka and not metadata_ok(settings.external_kafka, 15):
        raise StackError(f"KAFKA_BOOTSTRAP_SERVERS={settings.external_kafka} does not answer")
    if settings.external_database_url:
        log("using existing PostgreSQL from DATABASE_URL (not started here)")
    if settings.external_redis_url:
        log("using existing Redis from REDIS_URL (not started here)")


def up(settings: Settings | None = None, *, topics: bool = True,
       build_jaeger: bool = True) -> Connections:
    """Install what is missing, start what is not running, create the topics.

    `build_jaeger=False` starts Jaeger only when its binary is built already (the tests'
    stack: the build, minutes, is waited for by the tests that read traces, `jaeger_up`)."""
    s = settings or Settings.from_env()
    with _locked(s):
        _check_external(s)
        if not s.external_redis_url:
            Redis(s).up()
        _postgres_up(s)
        if s.external_kafka:
            log(f"using existing Kafka at {s.external_kafka} (not started here)")
        else:
            Kafka(s).up()
        Mail(s).up()
        note = _jaeger_up(s, build_jaeger)
        if topics:
            ensure_topics(s)
    return connections(s, note)


def jaeger_up(settings: Settings | None = None) -> Connections:
    """Start the stack's Jaeger, building it first or waiting (at most
    `LANEWAY_JAEGER_BUILD_TIMEOUT`) for a build under way; the connections, whose
    `traces_note` says why it does not run when it cannot."""
    s = settings or Settings.from_env()
    with _locked(s):
        note = _jaeger_up(s, build=True)
    return connections(s, note)


def _jaeger_up(s: Settings, build: bool) -> str:
    """Start Jaeger when it is wanted; the reason it does not run, when it cannot be built
    here (said in one line: the stack runs without traces)."""
    if not s.jaeger:
        return ""
    try:
        Jaeger(s).up(build=build)
    except ToolMissing as exc:
        reason = " ".join(str(exc).split())
        log(f"jaeger not started (the stack runs without traces): {reason}")
        return reason
    return ""


def _postgres_up(s: Settings) -> None:
    """Start this stack's PostgreSQL, or, when DATABASE_URL names a server, only make sure
    of the roles of one that is this stack's own URL."""
    if not s.external_database_url:
        Postgres(s).up()
    elif s.external_database_url == s.local_database_url:
        _ensure_roles(s)


def _ensure_roles(s: Settings) -> None:
    """DATABASE_URL names a local stack's own PostgreSQL (one started from another checkout,
    which the tests reuse): give it the roles a newer checkout needs, as `up` would. Best
    effort: a server that is not such a stack keeps its roles, and the service says which
    one it misses."""
    if find_bin_dir() is None:  # no psql here: nothing is installed for a server not ours
        return
    try:
        Postgres(s).ensure_roles()
    except StackError as exc:
        log(f"could not check the roles of the PostgreSQL at DATABASE_URL: {exc}")


def down(settings: Settings | None = None) -> None:
    """Stop what this stack started (never external infrastructure)."""
    s = settings or Settings.from_env()
    with _locked(s):
        errors: list[str] = []
        for component in (Jaeger(s), Kafka(s), Postgres(s), Redis(s), Mail(s)):
            try:
                component.down()
            except StackError as exc:
                errors.append(f"{component.name}: {exc}")
        if errors:
            raise StackError("\n".join(errors))


def reset(settings: Settings | None = None) -> None:
    """Stop everything and delete the state directory (data and logs; not the jar cache)."""
    s = settings or Settings.from_env()
    down(s)
    log(f"removing {s.state_dir}")
    shutil.rmtree(s.state_dir, ignore_errors=True)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    endpoint: str
    pid: int | None
    managed: bool
    optional: bool = False
    """Stopped is not a failure of `status` (Jaeger: the stack runs without it)."""

    def line(self) -> str:
        state = "running" if self.running else "stopped"
        owner = "local" if self.managed else "external"
        pid = f"pid {self.pid}" if self.pid else "no pid"
        return f"{self.name:<9} {state:<8} {self.endpoint:<28} {pid:<11} ({owner})"


def status(settings: Settings | None = None) -> list[ComponentStatus]:
    s = settings or Settings.from_env()
    out: list[ComponentStatus] = []
    if s.external_kafka:
        out.append(
            ComponentStatus(
                "kafka", metadata_ok(s.external_kafka, 5), s.external_kafka, None, False
            )
        )
    else:
        k = Kafka(s)
        pid = k.pid()
        out.append(
            ComponentStatus("kafka", pid is not None and k.healthy(), s.kafka_bootstrap, pid, True)
        )
    if s.external_database_url:
        out.append(_external("postgres", s.external_database_url, 5432))
    else:
        pid = Postgres(s).pid()
        out.append(
            ComponentStatus(
                "postgres",
                pid is not None and port_open(s.postgres_port),
                f"127.0.0.1:{s.postgres_port}",
                pid,
                True,
            )
        )
    if s.external_redis_url:
        out.append(_external("redis", s.external_redis_url, 6379))
    else:
        r = Redis(s)
        pid = r.pid()
        out.append(
            ComponentStatus(
                "redis",
                pid is not None and ping(s.redis_port),
                f"127.0.0.1:{s.redis_port}",
                pid,
                True,
            )
        )
    mail = Mail(s)
    pid = mail.pid()
    out.append(ComponentStatus("mail", pid is not None and mail.healthy(),
                               f"127.0.0.1:{s.mail_port}", pid, True))
    if s.jaeger:
        jaeger = Jaeger(s)
        pid = jaeger.pid()
        out.append(ComponentStatus("jaeger", jaeger.healthy(), jaeger.url, pid, pid is not None,
                                   optional=True))
    return out


def _external(name: str, url: str, default_port: int) -> ComponentStatus:
    """An external server counts as running when its host:port accepts a connection."""
    parsed = urlsplit(url)
    host = parsed.hostname or "127.0.0.1"
    try:
        port = parsed.port or default_port
    except ValueError:
        port = default_port
    return ComponentStatus(name, port_open(port, host, 2.0), f"{host}:{port}", None, False)


def topics(settings: Settings | None = None) -> list[TopicSpec]:
    s = settings or Settings.from_env()
    return ensure_topics(s)
