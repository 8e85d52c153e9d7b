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
import sys
import threading
from contextlib import ExitStack

from confluent_kafka import Consumer
from psycopg_pool import ConnectionPool

from laneway import db
from laneway.auth.http import verifier_at_start
from laneway.db import prepare_database, table_check
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.publisher import Publisher
from laneway.service import Running, run_service, wait_for_kafka
from laneway.shared_reads import FormSchemas
from laneway.topics import Topics
from laneway.web.server import serving
from services.worklist.answers import AnswerWaiters
from services.worklist.app import create_app
from services.worklist.consumer import TaskConsumer
from services.worklist.db import connect, migrate
from services.worklist.deps import WorklistDeps
from services.worklist.forms import registry_checker
from services.worklist.metrics import WorklistMetrics
from services.worklist.settings import WorklistSettings, load_settings
from services.worklist.sla import SlaLoop

_log = logging.getLogger("services.worklist")


def build_consumer(settings: WorklistSettings, stop: threading.Event | None = None,
                   answers: AnswerWaiters | None = None) -> TaskConsumer:
    """The projection's loop with its consumer, its dead-letter producer (renewed when it
    turns fatal) and its database connection; `answers`: the task routes' waiting requests
    in this process, handed their answers by the projection directly."""
    common = settings.common
    topics = Topics(common.topic_prefix)
    consumer = Consumer({**consumer_config(common.kafka_bootstrap_servers, settings.group,
                                           client_id="laneway-worklist"),
                         "session.timeout.ms": settings.session_timeout_ms,
                         **WorklistMetrics.default().service.lag_config(settings.group)})
    producer = RenewingProducer.from_config(producer_config(common.kafka_bootstrap_servers,
                                                            client_id="laneway-worklist"))
    return TaskConsumer(
        consumer, producer, lambda: connect(common.database_url, settings.database_schema),
        events_topic=topics.events, dlq_topic=topics.dlq, batch_size=settings.batch_size,
        poll_timeout_s=settings.poll_timeout_s, stop=stop, stall_s=common.stall_s,
        answers=answers, commit_async=settings.commit_async,
        commit_interval_s=settings.commit_interval_s)


def open_pool(settings: WorklistSettings) -> ConnectionPool:
    """An open pool on the worklist's schema, for the task routes. Autocommit: every read of
    the routes is one statement (its own snapshot), so a transaction around it only cost a
    BEGIN and a COMMIT round trip per look (two of a completion's looks: about 3 ms of its
    p50 on the loaded machine, docs/benchmarks.md); `count_tasks` opens its own. A
    connection is checked with a round trip only when its socket says PostgreSQL may have
    ended it (`laneway.db.check_if_ended`; the routes read once more when a read fails on
    one ended after that look): the full check was a round trip on every checkout, 2.7-4.3
    ms p50 and about 20 ms p90 under load (docs/benchmarks.md)."""
    return db.open_pool(settings.common.database_url, settings.database_schema,
                        max_size=settings.pool_size,
                        timeout_s=settings.common.startup_timeout_s, autocommit=True,
                        check=db.check_if_ended)


def run(settings: WorklistSettings, service: Running) -> int:
    """Serve the routes at once; wait for the database and Kafka, start the SLA loop and run
    the projection until the stop signal."""
    common = settings.common
    app = create_app(verifier_at_start(), service.health)
    with ExitStack() as closing:
        server = closing.enter_context(serving(app, common, service.stop))
        prepare_database(common.database_url, settings.database_schema, migrate,
                         common.startup_timeout_s)
        wait_for_kafka(common.kafka_bootstrap_servers, common.startup_timeout_s)
        # the routes' waiting requests: the projection below hands them their answers when
        # it writes them (else the NOTIFY wakes them: another replica's projection wrote it)
        answers = AnswerWaiters(
            lambda: connect(common.database_url, settings.database_schema),
            fallback_poll_s=settings.task_answer_poll_s)
        consumer = build_consumer(settings, service.stop.event, answers)
        closing.callback(consumer.close)
        # one producer for the SLA loop and the task routes (confluent's Producer is
        # thread-safe)
        publisher = Publisher(common.kafka_bootstrap_servers, Topics(common.topic_prefix),
                              settings.publish_timeout_s, client_id="laneway-worklist",
                              max_record_bytes=common.max_record_bytes,
                              max_variables_bytes=common.max_variables_bytes,
                              # a task command is one request's record, waited for: sent at
                              # once, not after librdkafka's 2 ms for a batch to fill
                              linger_ms=0)
        closing.callback(publisher.close)
        pool = open_pool(settings)
        closing.callback(pool.close)
        WorklistMetrics.default().watch_tasks(pool)
        closing.callback(server.stop)  # again: no request is left to meet the closed pool
        answers.start()
        closing.callback(answers.stop)
        app.state.deps = WorklistDeps(
            pool=pool, publisher=publisher,
            forms=registry_checker(FormSchemas(pool, settings.definitions_schema)),
            answer_timeout_s=settings.task_answer_s, answers=answers)
        sla = SlaLoop(lambda: connect(common.database_url, settings.database_schema),
                      publisher, poll_s=settings.sla_poll_s, resend_s=settings.sla_resend_s,
                      stop=service.stop.event, metrics=WorklistMetrics.default())
        sla_thread = threading.Thread(target=sla.run, name="worklist-sla", daemon=True)
        sla_thread.start()
        closing.callback(sla_thread.join, timeout=15)
        closing.callback(service.stop.set)  # first on the way out, whatever ended the run
        _log.info("worklist consuming %s as group %s; task routes on http://%s:%d",
                  consumer.events_topic, settings.group, common.http_host, common.http_port)
        return service.run_loop(consumer, {"sla": sla.health, "database": table_check(
            common.database_url, settings.database_schema, "tasks")})


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    return run_service(load_settings, run, starting="waiting for PostgreSQL and Kafka",
                       serve_health=False)


if __name__ == "__main__":
    sys.exit(main())
