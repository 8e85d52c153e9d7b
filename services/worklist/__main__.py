"""`python -m services.worklist`: the worklist service (the `events` → `tasks` projection,
the SLA loop, and the task routes).

Reads its settings, serves its app on its port (8082) from the start: /health (unhealthy until
both loops run), /metrics, and the task routes (503 until the database and Kafka are there).
Waits for PostgreSQL and Kafka for at most `LANEWAY_STARTUP_TIMEOUT_S`, applies its migrations
in its own schema, and runs the projection (main thread) and the SLA loop (a thread) until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from confluent_kafka import Consumer, Producer
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from laneway.auth import AuthSettings, KeySourceError, TokenVerifier
from laneway.db import DatabaseUnavailable, connect_kwargs, prepare_database, table_check
from laneway.kafka import consumer_config, producer_config
from laneway.publisher import KafkaUnavailable, Publisher, wait_for_kafka
from laneway.settings import SettingsError, configure_logging
from laneway.shared_reads import FormSchemas
from laneway.topics import Topics
from laneway.web.health import HealthChecks
from laneway.web.server import HttpServer, HttpServerError
from services.worklist.app import create_app
from services.worklist.consumer import TaskConsumer
from services.worklist.db import connect, migrate
from services.worklist.deps import WorklistDeps
from services.worklist.forms import registry_checker
from services.worklist.settings import WorklistSettings, load_settings
from services.worklist.sla import SlaLoop

_log = logging.getLogger("services.worklist")


def build_consumer(settings: WorklistSettings, stop: threading.Event | None = None
                   ) -> TaskConsumer:
    """The projection with its consumer, dead-letter producer and database connection."""
    common = settings.common
    topics = Topics(common.topic_prefix)
    consumer = Consumer({**consumer_config(common.kafka_bootstrap_servers, settings.group,
                                           client_id="laneway-worklist"),
                         "session.timeout.ms": settings.session_timeout_ms})
    producer = Producer(producer_config(common.kafka_bootstrap_servers,
                                        client_id="laneway-worklist"))
    return TaskConsumer(
        consumer, producer, lambda: connect(common.database_url, settings.database_schema),
        events_topic=topics.events, dlq_topic=topics.dlq, batch_size=settings.batch_size,
        poll_timeout_s=settings.poll_timeout_s, stop=stop)


def open_pool(settings: WorklistSettings) -> ConnectionPool:
    """An open pool on the worklist's schema, for the task routes."""
    pool = ConnectionPool(settings.common.database_url, min_size=1, max_size=settings.pool_size,
                          kwargs=connect_kwargs(settings.database_schema), open=False,
                          name="worklist")
    pool.open(wait=True, timeout=settings.common.startup_timeout_s)
    return pool


def run(settings: WorklistSettings, stop: threading.Event, verifier: TokenVerifier) -> int:
    """Start, run until `stop` is set, close; return the exit status."""
    common = settings.common
    checks = HealthChecks("worklist")
    checks.add("startup", lambda: "starting: waiting for PostgreSQL and Kafka")
    app = create_app(verifier, checks, [REGISTRY])
    server = HttpServer(app, settings.http_host, common.http_port)
    try:
        server.start()
    except HttpServerError as exc:
        _log.error("%s", exc)
        return 1
    consumer: TaskConsumer | None = None
    publisher: Publisher | None = None
    pool: ConnectionPool | None = None
    sla_thread: threading.Thread | None = None
    try:
        prepare_database(common.database_url, settings.database_schema, migrate,
                         common.startup_timeout_s)
        wait_for_kafka(common.kafka_bootstrap_servers, common.startup_timeout_s)
        consumer = build_consumer(settings, stop)
        # one producer for the SLA loop and the task routes (confluent's Producer is
        # thread-safe)
        publisher = Publisher(common.kafka_bootstrap_servers, Topics(common.topic_prefix),
                              settings.publish_timeout_s, client_id="laneway-worklist")
        pool = open_pool(settings)
        app.state.deps = WorklistDeps(
            pool=pool, publisher=publisher,
            forms=registry_checker(FormSchemas(pool, settings.definitions_schema)),
            answer_timeout_s=settings.task_answer_s)
        sla = SlaLoop(lambda: connect(common.database_url, settings.database_schema),
                      publisher, poll_s=settings.sla_poll_s, resend_s=settings.sla_resend_s,
                      stop=stop)
        sla_thread = threading.Thread(target=sla.run, name="worklist-sla", daemon=True)
        sla_thread.start()
        checks.add("database", table_check(
            settings.common.database_url, settings.database_schema, "tasks"))
        checks.add("consumer", consumer.health)
        checks.add("sla", sla.health)
        checks.remove("startup")
        _log.info("worklist consuming %s as group %s; task routes on http://%s:%d",
                  consumer.events_topic, settings.group, settings.http_host, common.http_port)
        consumer.run()
        _log.info("worklist stopped")
        return 0
    except (DatabaseUnavailable, KafkaUnavailable) as exc:
        _log.error("%s", exc)
        return 1
    finally:
        stop.set()
        server.stop()
        if sla_thread is not None:
            sla_thread.join(timeout=15)
        if consumer is not None:
            consumer.close()
        if publisher is not None:
            publisher.close()
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
