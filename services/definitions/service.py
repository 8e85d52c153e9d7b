"""The service's parts opened in order and closed in reverse: what `__main__` runs around the
HTTP server, and what the integration tests run around the app."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prometheus_client import CollectorRegistry
from redis import Redis

from laneway.diagram_check import warm
from laneway.publisher import Publisher
from laneway.service import wait_for_kafka, wait_for_postgres
from laneway.topics import Topics
from services.definitions.db import migrate, open_pool
from services.definitions.deps import ServiceDeps
from services.definitions.metrics import DefinitionsMetrics
from services.definitions.republish import republish_missing
from services.definitions.settings import DefinitionsSettings

_log = logging.getLogger(__name__)


@contextmanager
def running(settings: DefinitionsSettings, metrics: DefinitionsMetrics | None = None
            ) -> Iterator[ServiceDeps]:
    """Wait (bounded) for PostgreSQL and Kafka, migrate, republish what the `definitions` topic
    lacks; yield the parts; close everything on the way out. `metrics` default to a fresh
    registry of their own (the process passes `DefinitionsMetrics.default()`)."""
    common = settings.common
    deadline = time.monotonic() + common.startup_timeout_s
    wait_for_postgres(common.database_url, common.startup_timeout_s)
    wait_for_kafka(common.kafka_bootstrap_servers, max(1.0, deadline - time.monotonic()))
    with ExitStack() as stack:
        pool = open_pool(settings)
        stack.callback(pool.close)
        applied = migrate(pool)
        if applied:
            _log.info("database migrated: %s", ", ".join(applied))
        publisher = Publisher(common.kafka_bootstrap_servers, Topics(common.topic_prefix),
                              settings.publish_timeout_s, client_id="laneway-definitions",
                              max_record_bytes=common.max_record_bytes,
                              max_variables_bytes=common.max_variables_bytes)
        stack.callback(publisher.close)
        # the public forms' rate limit; it connects on first use, so a Redis that is down
        # does not stop the start: those forms answer 503 until it is back
        redis = Redis.from_url(common.redis_url, socket_connect_timeout=2,
                               socket_timeout=2)
        stack.callback(redis.close)
        deps = ServiceDeps(pool=pool, publisher=publisher, redis=redis,
                           metrics=metrics or DefinitionsMetrics(CollectorRegistry()),
                           audit_schema=settings.audit_schema,
                           form_rate_limit=settings.form_rate_limit,
                           message_ttl=settings.message_ttl,
                           diagram_limits=settings.diagram_limits,
                           deploy_checks=settings.deploy_checks)
        republished = republish_missing(deps.definitions, publisher,
                                        common.kafka_bootstrap_servers,
                                        max(5.0, deadline - time.monotonic()))
        deps.metrics.republished.inc(len(republished))
        # transitions whose audit record Kafka did not acknowledge (a 503 nobody retried)
        deps.lifecycle.send_unsent_audit()
        # the deploy check's connectors and trigger types, loaded before the first check
        warm()
        yield deps
