"""`python -m services.triggers`: the triggers service.

Serves its app on its port (8087) from the start: /health (unhealthy until the scheduler and
the definitions reader run), /metrics, the schedules API and the webhook route (503 until the
database and Kafka are there). Waits for PostgreSQL and Kafka for at most
`LANEWAY_STARTUP_TIMEOUT_S`, applies its migrations in its own schema, then runs the
definitions reader (a thread: `definitions` → schedules) and the scheduler (the main thread)
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import ExitStack

from laneway import db
from laneway.auth.http import verifier_at_start
from laneway.connectors import Secrets
from laneway.db import prepare_database, table_check
from laneway.publisher import Publisher
from laneway.service import Running, run_service, wait_for_kafka
from laneway.topics import Topics
from laneway.triggers import installed_triggers
from laneway.web.server import serving
from services.triggers.app import create_app
from services.triggers.credentials import Vault
from services.triggers.db import migrate
from services.triggers.deps import TriggersDeps
from services.triggers.metrics import TriggersMetrics
from services.triggers.reconcile import DefinitionWatcher
from services.triggers.respond import Responses, ResponseStore
from services.triggers.scheduler import Scheduler
from services.triggers.settings import TriggersSettings, load_settings
from services.triggers.store import ScheduleStore

_log = logging.getLogger("services.triggers")


class _SchedulerLoop:
    """The scheduler as the kit's main loop."""

    def __init__(self, scheduler: Scheduler, stop: threading.Event) -> None:
        self._scheduler = scheduler
        self._stop = stop

    def run(self) -> None:
        self._scheduler.run(self._stop)

    def health(self) -> str | None:
        return self._scheduler.health()

    def live(self) -> str | None:
        return self._scheduler.live()


def run(settings: TriggersSettings, service: Running) -> int:
    """Serve the routes at once; wait for the database and Kafka, then reconcile and poll
    until the stop signal."""
    common = settings.common
    app = create_app(verifier_at_start(), service.health)
    installed = installed_triggers()
    for type_, why in installed.errors.items():
        _log.error("trigger type %s is not available: %s", type_, why)
    with ExitStack() as closing:
        server = closing.enter_context(serving(app, common, service.stop))
        prepare_database(common.database_url, settings.database_schema, migrate,
                         common.startup_timeout_s)
        wait_for_kafka(common.kafka_bootstrap_servers, common.startup_timeout_s)
        topics = Topics(common.topic_prefix)
        publisher = Publisher(common.kafka_bootstrap_servers, topics,
                              settings.publish_timeout_s, client_id="laneway-triggers",
                              max_record_bytes=common.max_record_bytes,
                              max_variables_bytes=common.max_variables_bytes)
        closing.callback(publisher.close)
        pool = db.open_pool(common.database_url, settings.database_schema,
                            max_size=settings.pool_size, timeout_s=common.startup_timeout_s)
        closing.callback(pool.close)
        closing.callback(server.stop)  # again: no request is left to meet the closed pool
        store = ScheduleStore(pool)
        secrets = Secrets()
        vault = Vault(secrets)
        metrics = TriggersMetrics.default()
        scheduler = Scheduler(settings, store, vault, installed, publisher, secrets, metrics,
                              environ=os.environ)
        watcher = DefinitionWatcher(common.kafka_bootstrap_servers, topics.definitions, store,
                                    installed)
        watcher.on_change.append(scheduler.wake)
        closing.callback(watcher.close)
        reader = threading.Thread(target=watcher.run, args=(service.stop.event,),
                                  name="triggers-definitions", daemon=True)
        reader.start()
        closing.callback(reader.join, timeout=15)
        app.state.deps = TriggersDeps(
            store=store, vault=vault, publisher=publisher, installed=installed,
            scheduler=scheduler, metrics=metrics, hook_max_bytes=settings.hook_max_bytes,
            fire_timeout_s=settings.poll_timeout_s + 5,
            responses=Responses(ResponseStore(pool), secrets, publisher))
        closing.callback(service.stop.set)  # first on the way out, whatever ended the run
        if vault.available() is not None:
            _log.warning("credentials cannot be set: %s", vault.available())
        _log.info("triggers replica %s: %d trigger types (%s); routes on http://%s:%d",
                  settings.replica, len(installed.triggers),
                  ", ".join(sorted(installed.triggers)), common.http_host, common.http_port)
        return service.run_loop(_SchedulerLoop(scheduler, service.stop.event), {
            "definitions": watcher.health,
            "database": table_check(common.database_url, settings.database_schema,
                                    "schedules")})


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    return run_service(load_settings, run, starting="waiting for PostgreSQL and Kafka",
                       serve_health=False)


if __name__ == "__main__":
    sys.exit(main())
