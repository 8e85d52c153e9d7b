"""The service's parts opened in order and closed in reverse: what `__main__` runs around the
HTTP server, and what the integration tests run around the app."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from redis import Redis

from laneway.topics import Topics
from services.audit.db import migrate as audit_migrate
from services.definitions.db import migrate, open_pool, wait_for_database
from services.definitions.deps import ServiceDeps
from services.definitions.metrics import Metrics
from services.definitions.projection import InstanceProjection
from services.definitions.publisher import Publisher, republish_missing, wait_for_kafka
from services.definitions.settings import DefinitionsSettings
from services.worklist.db import migrate as worklist_migrate

_log = logging.getLogger(__name__)


@contextmanager
def running(settings: DefinitionsSettings) -> Iterator[ServiceDeps]:
    """Wait (bounded) for PostgreSQL and Kafka, migrate, republish what the `definitions` topic
    lacks, start the projection; yield the parts; close everything on the way out."""
    common = settings.common
    deadline = time.monotonic() + common.startup_timeout_s
    wait_for_database(common.database_url, common.startup_timeout_s)
    wait_for_kafka(common.kafka_bootstrap_servers, max(1.0, deadline - time.monotonic()))
    with ExitStack() as stack:
        pool = open_pool(settings)
        stack.callback(pool.close)
        applied = migrate(pool)
        # this service also serves the worklist's and the audit's read routes (one base URL),
        # so it brings their tables too: each migration set has its own record and lock, and
        # whichever service starts first applies it
        with pool.connection() as conn:
            applied += worklist_migrate(conn) + audit_migrate(conn)
        if applied:
            _log.info("database migrated: %s", ", ".join(applied))
        publisher = Publisher(common.kafka_bootstrap_servers, Topics(common.topic_prefix),
                              settings.publish_timeout_s)
        stack.callback(publisher.close)
        # the public forms' rate limit; it connects on first use, so a Redis that is down
        # does not stop the start: those forms answer 503 until it is back
        redis = Redis.from_url(common.redis_url, socket_connect_timeout=2,
                               socket_timeout=2)
        stack.callback(redis.close)
        deps = ServiceDeps(pool=pool, publisher=publisher, metrics=Metrics(), redis=redis)
        republished = republish_missing(deps.definitions, publisher,
                                        common.kafka_bootstrap_servers,
                                        max(5.0, deadline - time.monotonic()))
        deps.metrics.republished.inc(len(republished))
        # transitions whose audit record Kafka did not acknowledge (a 503 nobody retried)
        deps.lifecycle.send_unsent_audit()
        if settings.projection_enabled:
            projection = InstanceProjection(pool, common.kafka_bootstrap_servers,
                                            publisher.topics.state, settings.projection_group,
                                            deps.metrics)
            projection.start()
            stack.callback(projection.stop)
            deps.projection = projection
        yield deps
