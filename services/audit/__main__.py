"""`python -m services.audit`: the audit service (the `events` → `audit_log` sink, the
`state` → `instances` projection, and their HTTP routes).

Reads its settings, serves its app on its port (8085) from the start: /health (unhealthy until
the sink and the projection run), /metrics, and the routes (503 until the database is there).
Waits for PostgreSQL and Kafka for at most `LANEWAY_STARTUP_TIMEOUT_S`, applies its
migrations in its own schema, starts the projection (a thread) and runs the sink (this thread)
until SIGTERM or SIGINT; the batch in hand is finished (or left uncommitted) and everything is
closed in `finally`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from types import FrameType

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from laneway.auth import AuthSettings, KeySourceError, TokenVerifier
from laneway.db import DatabaseUnavailable, prepare_database, table_check
from laneway.kafka import consumer_config, producer_config
from laneway.settings import SettingsError, configure_logging
from laneway.topics import Topics
from laneway.web.health import HealthChecks
from laneway.web.server import HttpServer, HttpServerError
from services.audit.app import create_app
from services.audit.db import connect, migrate, open_pool
from services.audit.deps import AuditDeps
from services.audit.metrics import ProjectionMetrics
from services.audit.projection import InstanceProjection
from services.audit.settings import AuditSettings, load_settings
from services.audit.sink import AuditSink

_log = logging.getLogger("services.audit")


class KafkaUnavailable(RuntimeError):
    """Kafka did not answer within the startup bound. Retryable: start again later."""


def wait_for_kafka(bootstrap: str, timeout_s: float) -> None:
    """Return once a broker answers a metadata request; raise KafkaUnavailable after
    `timeout_s`."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            return
        except KafkaException as exc:
            last = exc
    raise KafkaUnavailable(
        f"Expected Kafka at {bootstrap} to answer within {timeout_s:.0f}s, but it did not: {last}"
    )


def build_sink(settings: AuditSettings, stop: threading.Event | None = None) -> AuditSink:
    """The sink with its consumer, dead-letter producer and database connection."""
    common = settings.common
    topics = Topics(common.topic_prefix)
    consumer = Consumer({**consumer_config(common.kafka_bootstrap_servers, settings.group,
                                           client_id="laneway-audit"),
                         "session.timeout.ms": settings.session_timeout_ms})
    producer = Producer(producer_config(common.kafka_bootstrap_servers,
                                        client_id="laneway-audit"))
    return AuditSink(
        consumer, producer,
        lambda: connect(common.database_url, settings.database_schema),
        events_topic=topics.events, dlq_topic=topics.dlq, batch_size=settings.batch_size,
        poll_timeout_s=settings.poll_timeout_s, cache_size=settings.cache_size, stop=stop,
    )


def run(settings: AuditSettings, stop: threading.Event, verifier: TokenVerifier) -> int:
    """Start, run until `stop` is set, close; return the exit status."""
    common = settings.common
    checks = HealthChecks("audit")
    checks.add("startup", lambda: "starting: waiting for PostgreSQL and Kafka")
    projection_metrics = ProjectionMetrics()
    app = create_app(verifier, checks, [REGISTRY, projection_metrics.registry])
    server = HttpServer(app, settings.http_host, common.http_port)
    try:
        server.start()
    except HttpServerError as exc:
        _log.error("%s", exc)
        return 1
    sink: AuditSink | None = None
    pool: ConnectionPool | None = None
    projection: InstanceProjection | None = None
    try:
        timeout = common.startup_timeout_s
        prepare_database(common.database_url, settings.database_schema, migrate, timeout)
        wait_for_kafka(common.kafka_bootstrap_servers, timeout)
        pool = open_pool(common.database_url, settings.database_schema,
                         max_size=settings.pool_size, timeout_s=timeout)
        app.state.deps = AuditDeps(pool)
        sink = build_sink(settings, stop)
        if settings.projection_enabled:
            projection = InstanceProjection(pool, common.kafka_bootstrap_servers,
                                            Topics(common.topic_prefix).state,
                                            settings.projection_group, projection_metrics)
            projection.start()
            checks.add("projection", projection.problem)
        checks.add("database", table_check(
            common.database_url, settings.database_schema, "audit_log"))
        checks.add("consumer", sink.health)
        checks.remove("startup")
        _log.info("audit sink consuming %s as group %s; routes on http://%s:%d",
                  sink.events_topic, settings.group, settings.http_host, common.http_port)
        sink.run()
        _log.info("audit sink stopped")
        return 0
    except (DatabaseUnavailable, KafkaUnavailable) as exc:
        _log.error("%s", exc)
        return 1
    finally:
        if projection is not None:
            projection.stop()
        if sink is not None:
            sink.close()
        server.stop()
        if pool is not None:
            pool.close()


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    try:
        settings = load_settings()
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    configure_logging(settings.common)
    try:
        # a JWKS file is read now: a missing or malformed one stops the start, not a request
        verifier = TokenVerifier(AuthSettings.from_env())
    except (SettingsError, KeySourceError) as error:
        _log.error("%s", error)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _log.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    return run(settings, stop, verifier)


if __name__ == "__main__":
    sys.exit(main())
