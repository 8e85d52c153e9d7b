"""`python -m services.audit`: the audit service (the `events` → `audit_log` sink, the
`state` → `instances` projection, and their HTTP routes).

Reads its settings, serves its app on its port (8085) from the start: /health (unhealthy until
the sink and the projection run), /metrics, and the routes (503 until the database is there).
Waits for PostgreSQL and Kafka for at most `LANEWAY_STARTUP_TIMEOUT_S`, applies its
migrations in its own schema as the tables' owner (`DATABASE_URL`) and grants the writer role
its rights; everything after that connects as the writer (`LANEWAY_AUDIT_DATABASE_URL`), which
may only read and append to the log (docs/audit.md "Who may write"). Starts the projection (a
thread) and runs the sink (this thread) until SIGTERM or SIGINT; the batch in hand is finished
(or left uncommitted) and everything is closed in `finally`.
"""

from __future__ import annotations

import logging
import sys
import threading
from contextlib import ExitStack

from confluent_kafka import Consumer
from redis import Redis

from laneway.auth.http import verifier_at_start
from laneway.db import open_pool, prepare_database, table_check
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.service import Running, run_service, wait_for_kafka
from laneway.topics import Topics
from laneway.web.server import serving
from services.audit.anchor import HeadSigner
from services.audit.app import create_app
from services.audit.db import connect, migrate_and_grant
from services.audit.deps import AuditDeps
from services.audit.live import LiveFeeder, LiveKeys
from services.audit.live_streams import LiveStreams
from services.audit.metrics import ApiMetrics, InstanceMetrics, LiveMetrics, SinkMetrics
from services.audit.projection import InstanceProjection
from services.audit.settings import AuditSettings, load_settings
from services.audit.sink import AuditSink, SinkGroup
from services.audit.traces import TraceQuery

_log = logging.getLogger("services.audit")


def build_sink(settings: AuditSettings, stop: threading.Event | None = None) -> AuditSink:
    """The sink's loop with its consumer, its dead-letter producer (renewed when it turns
    fatal) and its database connection."""
    common = settings.common
    topics = Topics(common.topic_prefix)
    consumer = Consumer({**consumer_config(common.kafka_bootstrap_servers, settings.group,
                                           client_id="laneway-audit"),
                         "session.timeout.ms": settings.session_timeout_ms,
                         **SinkMetrics.default().service.lag_config(settings.group)})
    producer = RenewingProducer.from_config(producer_config(common.kafka_bootstrap_servers,
                                                            client_id="laneway-audit"))
    return AuditSink(
        consumer, producer,
        lambda: connect(settings.writer_database_url, settings.database_schema),
        events_topic=topics.events, dlq_topic=topics.dlq, batch_size=settings.batch_size,
        poll_timeout_s=settings.poll_timeout_s, cache_size=settings.cache_size,
        metrics=SinkMetrics.default(), stop=stop, signer=HeadSigner(settings.key),
        stall_s=common.stall_s, pipelined=settings.pipelined,
        # the pipelined sink hands a batch over once the one before is committed: it waits
        commit_async=settings.commit_async and not settings.pipelined,
        commit_interval_s=settings.commit_interval_s)


def start_live(settings: AuditSettings, service: Running, closing: ExitStack
               ) -> LiveStreams | None:
    """The live feed (docs/console.md): the feeder's thread and the routes' streams, both
    stopped on the way out; None when it is off. Redis is not waited for: the audit log does
    not need it, and the feed picks it up when it answers."""
    live = settings.live
    if not live.enabled:
        return None
    common = settings.common
    keys = LiveKeys(common.topic_prefix)
    metrics = LiveMetrics.default()
    client = Redis.from_url(common.redis_url, socket_timeout=2, socket_connect_timeout=1)
    closing.callback(client.close)
    feeder = LiveFeeder(common.kafka_bootstrap_servers, Topics(common.topic_prefix).events,
                        live.group, keys, client, metrics,
                        session_timeout_ms=settings.session_timeout_ms)
    feeder.start()
    closing.callback(feeder.stop)
    service.health.add_check("live", feeder.problem, critical=False)
    streams = LiveStreams(common.redis_url, keys, metrics, max_streams=live.max_streams,
                          max_s=live.max_s, keepalive_s=live.keepalive_s)
    service.stop.on_stop(streams.stop)  # open streams end at once, not at uvicorn's grace
    return streams


def run(settings: AuditSettings, service: Running) -> int:
    """Serve the routes at once; wait for the database and Kafka, start the projection and
    run the sink until the stop signal."""
    common = settings.common
    traces = settings.traces_query_url
    app = create_app(verifier_at_start(), service.health,
                     traces=TraceQuery(traces) if traces else None)
    with ExitStack() as closing:
        server = closing.enter_context(serving(app, common, service.stop))
        timeout = common.startup_timeout_s
        if settings.key_is_dev:
            _log.warning("LANEWAY_AUDIT_KEY_FILE is not set: the audit heads are signed with "
                         "the public development key, so anyone can forge them")
        prepare_database(common.database_url, settings.database_schema,
                         migrate_and_grant(settings.writer_database_url), timeout)
        writer = settings.writer_database_url
        wait_for_kafka(common.kafka_bootstrap_servers, timeout)
        pool = open_pool(writer, settings.database_schema, max_size=settings.pool_size,
                         timeout_s=timeout)
        closing.callback(pool.close)
        closing.callback(server.stop)  # again: no request is left to meet the closed pool
        app.state.deps = AuditDeps(pool, HeadSigner(settings.key),
                                   live=start_live(settings, service, closing),
                                   metrics=ApiMetrics.default())
        sink = SinkGroup([build_sink(settings, service.stop.event)
                          for _ in range(settings.sinks)], service.stop.event)
        closing.callback(sink.close)
        if settings.projection_enabled:
            topics = Topics(common.topic_prefix)
            projection = InstanceProjection(
                lambda: connect(writer, settings.database_schema),
                common.kafka_bootstrap_servers, topics.state, settings.projection_group,
                InstanceMetrics.default(), dlq_topic=topics.dlq, stall_s=common.stall_s,
                session_timeout_ms=settings.session_timeout_ms,
                commit_interval_s=settings.commit_interval_s)
            projection.start()
            InstanceMetrics.default().watch_incidents(pool)
            closing.callback(projection.stop)
            service.health.add_check("projection", projection.problem)
            service.health.add_liveness("projection", projection.live)
        _log.info("audit sink consuming %s as group %s; routes on http://%s:%d",
                  sink.events_topic, settings.group, common.http_host, common.http_port)
        return service.run_loop(sink, {"database": table_check(
            writer, settings.database_schema, "audit_log")})


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    return run_service(load_settings, run, starting="waiting for PostgreSQL and Kafka",
                       serve_health=False)


if __name__ == "__main__":
    sys.exit(main())
