"""`python -m services.audit`: the audit service (the `events` → `audit_log` sink).

Reads its settings, serves /health and /metrics on its port (8085) from the start (unhealthy
until the sink runs), waits for PostgreSQL and Kafka for at most `LANEWAY_STARTUP_TIMEOUT_S`,
applies its migrations, and runs the sink until SIGTERM or SIGINT; the batch in hand is
finished (or left uncommitted) and everything is closed in `finally`. The HTTP routes are
served by the API (`services.audit.routes`), not by this process.
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

from laneway.db import DatabaseUnavailable, prepare_database, table_check
from laneway.health import HealthServer
from laneway.kafka import consumer_config, producer_config
from laneway.settings import SettingsError, configure_logging
from laneway.topics import Topics
from services.audit.db import connect, migrate
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


def run(settings: AuditSettings, stop: threading.Event) -> int:
    """Start, run until `stop` is set, close; return the exit status."""
    health = HealthServer("audit", settings.common.http_port)
    starting: list[str] = ["starting: waiting for PostgreSQL and Kafka"]
    health.add_check("startup", lambda: starting[0] if starting else None)
    health.start()
    sink: AuditSink | None = None
    try:
        timeout = settings.common.startup_timeout_s
        prepare_database(settings.common.database_url, settings.database_schema, migrate,
                         timeout)
        wait_for_kafka(settings.common.kafka_bootstrap_servers, timeout)
        sink = build_sink(settings, stop)
        health.add_check("database", table_check(
            settings.common.database_url, settings.database_schema, "audit_log"))
        health.add_check("consumer", sink.health)
        starting.clear()
        _log.info("audit sink consuming %s as group %s", sink.events_topic, settings.group)
        sink.run()
        _log.info("audit sink stopped")
        return 0
    except (DatabaseUnavailable, KafkaUnavailable) as exc:
        _log.error("%s", exc)
        return 1
    finally:
        if sink is not None:
            sink.close()
        health.stop()


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    try:
        settings = load_settings()
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    configure_logging(settings.common)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _log.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    return run(settings, stop)


if __name__ == "__main__":
    sys.exit(main())
