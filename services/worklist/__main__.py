"""`python -m services.worklist`: the worklist service (the `events` → `tasks` projection and
the SLA loop).

Reads its settings, serves /health and /metrics on its port (8082) from the start (unhealthy
until both loops run), waits for PostgreSQL and Kafka for at most `LANEWAY_STARTUP_TIMEOUT_S`,
applies its migrations, and runs the projection (main thread) and the SLA loop (a thread)
until SIGTERM or SIGINT. The task routes are served by the API (`services.worklist.routes`),
not by this process.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from confluent_kafka import Consumer, Producer

from laneway.db import DatabaseUnavailable, prepare_database, table_check
from laneway.health import HealthServer
from laneway.kafka import consumer_config, producer_config
from laneway.settings import SettingsError, configure_logging
from laneway.topics import Topics
from services.definitions.publisher import KafkaUnavailable, Publisher, wait_for_kafka
from services.worklist.consumer import TaskConsumer
from services.worklist.db import connect, migrate
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


def run(settings: WorklistSettings, stop: threading.Event) -> int:
    """Start, run until `stop` is set, close; return the exit status."""
    common = settings.common
    health = HealthServer("worklist", common.http_port)
    starting: list[str] = ["starting: waiting for PostgreSQL and Kafka"]
    health.add_check("startup", lambda: starting[0] if starting else None)
    health.start()
    consumer: TaskConsumer | None = None
    publisher: Publisher | None = None
    sla_thread: threading.Thread | None = None
    try:
        prepare_database(common.database_url, settings.database_schema, migrate,
                         common.startup_timeout_s)
        wait_for_kafka(common.kafka_bootstrap_servers, common.startup_timeout_s)
        consumer = build_consumer(settings, stop)
        publisher = Publisher(common.kafka_bootstrap_servers, Topics(common.topic_prefix),
                              settings.publish_timeout_s, client_id="laneway-worklist-sla")
        sla = SlaLoop(lambda: connect(common.database_url, settings.database_schema),
                      publisher, poll_s=settings.sla_poll_s, resend_s=settings.sla_resend_s,
                      stop=stop)
        sla_thread = threading.Thread(target=sla.run, name="worklist-sla", daemon=True)
        sla_thread.start()
        health.add_check("database", table_check(
            settings.common.database_url, settings.database_schema, "tasks"))
        health.add_check("consumer", consumer.health)
        health.add_check("sla", sla.health)
        starting.clear()
        _log.info("worklist consuming %s as group %s", consumer.events_topic, settings.group)
        consumer.run()
        _log.info("worklist stopped")
        return 0
    except (DatabaseUnavailable, KafkaUnavailable) as exc:
        _log.error("%s", exc)
        return 1
    finally:
        stop.set()
        if sla_thread is not None:
            sla_thread.join(timeout=15)
        if consumer is not None:
            consumer.close()
        if publisher is not None:
            publisher.close()
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
