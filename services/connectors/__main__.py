"""`python -m services.connectors [--types http,email]`: the connectors service.

Reads its settings, finds the connectors of its types (built-ins and entry points of
`laneway.connectors`), serves /health and /metrics on its port (8083) from the start (unhealthy
until every type's consumer has joined its group), waits for Kafka and Redis for at most
`LANEWAY_STARTUP_TIMEOUT_S`, and runs the workers until SIGTERM or SIGINT; running jobs get
`LANEWAY_CONNECTOR_SHUTDOWN_GRACE_S` to finish and everything is closed in `finally`.

With `LANEWAY_EXTERNAL_JOB_TYPES` set, the process also runs the job gateway for those types:
its HTTP app (/api/jobs, /health, /metrics; docs/workers.md) replaces the plain health server
on the same port, and the gateway lives in that server's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence

from laneway.auth.http import verifier_at_start
from laneway.connectors import Connector, discover
from laneway.service import Running, run_service, wait_for_kafka, wait_for_redis
from laneway.settings import SettingsError
from laneway.web.server import serving
from services.connectors.gateway import Gateway
from services.connectors.jobs_api import create_app
from services.connectors.settings import ConnectorsSettings, load_settings
from services.connectors.worker import ConnectorService

_log = logging.getLogger("services.connectors")


def select_connectors(types: Sequence[str]) -> dict[str, Connector]:
    """The installed connectors of `types`. A type with none is logged and left out (its jobs
    wait on their topic for a worker that has it); none at all is an error."""
    found = discover()
    chosen = {t: found.connectors[t] for t in types if t in found.connectors}
    for t in types:
        if t not in chosen:
            _log.error("no connector for type '%s' (%s); its jobs wait until a worker has one",
                       t, found.errors.get(t, "not installed"))
    if not chosen:
        raise SettingsError(f"Expected a connector for at least one of {', '.join(types)}, "
                            f"but none is installed (installed: "
                            f"{', '.join(sorted(found.connectors)) or 'none'})")
    return chosen


async def serve(settings: ConnectorsSettings, connectors: dict[str, Connector],
                service: Running) -> None:
    """Run the workers in this event loop until the stop signal."""
    stop = service.stop.asyncio_event(asyncio.get_running_loop())
    workers = ConnectorService(settings, connectors)
    service.health.add_check("consumers", workers.check_consumers)
    service.health.add_check("loop", workers.check_loop)
    service.health.add_liveness("loop", workers.check_loop)
    service.health.add_liveness("consumers", workers.check_consumers_live)
    service.health.add_check("producer", workers.check_producer)
    service.health.add_check("redis", workers.check_redis)
    await workers.run(stop)


def run(settings: ConnectorsSettings, service: Running) -> int:
    """Wait (bounded) for Kafka and Redis, then serve until the stop signal."""
    both = set(settings.external_job_types) & set(settings.connector_types)
    if both:
        raise SettingsError(f"Expected a job type to be served either by a connector or to "
                            f"outside workers, but {', '.join(sorted(both))} is both")
    connectors = select_connectors(settings.connector_types) if settings.connector_types else {}
    common = settings.common
    deadline = time.monotonic() + common.startup_timeout_s
    wait_for_kafka(common.kafka_bootstrap_servers, common.startup_timeout_s)
    if connectors:  # the job gateway alone needs no Redis
        wait_for_redis(common.redis_url, max(1.0, deadline - time.monotonic()))
    if not settings.external_job_types:
        service.health.started()
        asyncio.run(serve(settings, connectors, service))
        return 0
    app = create_app(verifier_at_start(), service.health,
                     lambda: Gateway(settings, asyncio.get_running_loop()))
    with serving(app, common, service.stop):
        _log.info("job API for %s on http://%s:%d/api/jobs",
                  ", ".join(settings.external_job_types), common.http_host, common.http_port)
        service.health.started()
        if connectors:
            asyncio.run(serve(settings, connectors, service))
        else:
            service.stop.event.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    parser = argparse.ArgumentParser(prog="python -m services.connectors")
    parser.add_argument("--types", help="comma-separated connector types to serve "
                        "(default: LANEWAY_CONNECTOR_TYPES)")
    args = parser.parse_args(argv)
    # the job API's app serves /health and /metrics when outside workers take jobs here
    gateway = bool(os.environ.get("LANEWAY_EXTERNAL_JOB_TYPES", "").strip())
    return run_service(lambda: load_settings(types=args.types), run,
                       starting="waiting for Kafka and Redis", serve_health=not gateway)


if __name__ == "__main__":
    sys.exit(main())
