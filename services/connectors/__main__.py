"""`python -m services.connectors [--types http,email]`: the connectors service.

Reads its settings, finds the connectors of its types (built-ins and entry points of
`laneway.connectors`), serves /health and /metrics on its port (8083) from the start (unhealthy
until every type's consumer has joined its group), waits for Kafka and Redis for at most
`LANEWAY_STARTUP_TIMEOUT_S`, and runs the workers until SIGTERM or SIGINT; running jobs get
`LANEWAY_CONNECTOR_SHUTDOWN_GRACE_S` to finish and everything is closed in `finally`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Sequence

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from laneway.connectors import Connector, discover
from laneway.health import HealthServer
from laneway.settings import SettingsError, configure_logging
from services.connectors.settings import ConnectorsSettings, load_settings
from services.connectors.worker import ConnectorService

_log = logging.getLogger("services.connectors")


class Unavailable(RuntimeError):
    """Kafka or Redis did not answer within the startup bound. Retryable: start again later."""


def wait_for_dependencies(settings: ConnectorsSettings) -> None:
    """Return once Kafka and Redis answer; raise `Unavailable` after the startup timeout."""
    common = settings.common
    deadline = time.monotonic() + common.startup_timeout_s
    admin = AdminClient({"bootstrap.servers": common.kafka_bootstrap_servers, "log_level": 0})
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            break
        except KafkaException as exc:
            last = exc
    else:
        raise Unavailable(f"Expected Kafka at {common.kafka_bootstrap_servers} to answer within "
                          f"{common.startup_timeout_s:.0f}s, but it did not: {last}")
    client = redis.Redis.from_url(common.redis_url, socket_timeout=2)
    try:
        while True:
            try:
                client.ping()
                return
            except redis.RedisError as exc:
                if time.monotonic() >= deadline:
                    raise Unavailable(f"Expected Redis to answer within "
                                      f"{common.startup_timeout_s:.0f}s, but it did not: "
                                      f"{exc}") from None
                time.sleep(0.5)
    finally:
        client.close()


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
                health: HealthServer) -> None:
    """Run the service in this event loop until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        _log.info("Stopping on %s", signum.name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    service = ConnectorService(settings, connectors)
    health.add_check("consumers", service.check_consumers)
    health.add_check("loop", service.check_loop)
    health.add_check("redis", service.check_redis)
    await service.run(stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    parser = argparse.ArgumentParser(prog="python -m services.connectors")
    parser.add_argument("--types", help="comma-separated connector types to serve "
                        "(default: LANEWAY_CONNECTOR_TYPES)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(types=args.types)
        configure_logging(settings.common)
        connectors = select_connectors(settings.connector_types)
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    health = HealthServer("connectors", settings.common.http_port)
    starting = ["starting: waiting for Kafka and Redis"]
    health.add_check("startup", lambda: starting[0] if starting else None)
    health.start()
    try:
        wait_for_dependencies(settings)
        starting.clear()
        asyncio.run(serve(settings, connectors, health))
        _log.info("connectors stopped")
        return 0
    except Unavailable as exc:
        _log.error("%s", exc)
        return 1
    finally:
        health.stop()


if __name__ == "__main__":
    sys.exit(main())
