"""What every service's `__main__` does around its own work, written once.

    def main() -> int:
        return run_service(load_settings, run, starting="waiting for PostgreSQL and Kafka")

    def run(settings: AuditSettings, service: Running) -> int:
        wait_for_kafka(settings.common.kafka_bootstrap_servers, settings.common.startup_timeout_s)
        ...build the work, add its health checks, then:
        service.health.started()
        work.run(service.stop.event)      # returns once SIGTERM or SIGINT arrived
        return 0

`run_service` reads the settings once (a `SettingsError` exits with status 2), configures
logging and tracing (`laneway.telemetry`, from the `OTEL_*` settings), installs the stop
signal, serves /health and /metrics on the service's port (unless
the service serves them from its own HTTP app), calls the service's body, turns a dependency
that never answered (`Unavailable`) into status 1 with one log line, and closes the health
server and flushes the spans still queued in `finally`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from laneway.health import Check, HealthChecks, HealthServer
from laneway.service.signals import StopSignal
from laneway.service.waits import Unavailable
from laneway.settings import Settings, SettingsError, configure_logging
from laneway.telemetry import Telemetry, setup_tracing

__all__ = ["Running", "ServiceLoop", "ServiceSettings", "run_service"]

_log = logging.getLogger("laneway.service")


class ServiceSettings(Protocol):
    """A service's settings: its own fields plus the shared ones under `common`."""

    @property
    def common(self) -> Settings:
        """Connections, topic prefix, port, timeouts shared by every service."""
        ...


S = TypeVar("S", bound=ServiceSettings)


class ServiceLoop(Protocol):
    """A service's main loop (a `laneway.consuming.ProjectionLoop`, say)."""

    def run(self) -> None:
        """Work until the stop signal."""

    def health(self) -> str | None:
        """None while the loop works; else what is wrong."""

    def live(self) -> str | None:
        """None while the loop goes round, whatever its dependencies do; else what is
        wrong (/health/live)."""


@dataclass(frozen=True, slots=True)
class Running:
    """What `run_service` hands the service's body."""

    stop: StopSignal
    """Set on SIGTERM or SIGINT; the body's loops stop on it."""
    health: HealthChecks
    """The checks the probes run: add the service's own (readiness with `add_check`, its
    loops with `add_liveness`); call `started()` once it works."""

    def run_loop(self, loop: ServiceLoop, checks: Mapping[str, Check]) -> int:
        """Add `checks` and the loop's own (`consumer`) to /health/ready and the loop's
        liveness (`loop`) to /health/live, report the service started, and run `loop` in
        this thread until the stop signal; 0."""
        for name, check in checks.items():
            self.health.add_check(name, check)
        self.health.add_check("consumer", loop.health)
        self.health.add_liveness("loop", loop.live)
        self.health.started()
        loop.run()
        return 0


def run_service(load: Callable[[], S], body: Callable[[S, Running], int], *,
                starting: str | None = "waiting for its dependencies",
                serve_health: bool = True) -> int:
    """Run one service process; return its exit status (0 stopped, 1 a dependency never
    answered or the work failed, 2 bad settings).

    `starting` is what /health/ready and /health/started report (503) until the body calls
    `health.started()`; None for a service that has nothing to wait for. With
    `serve_health=False` the body serves the probes and /metrics from its own HTTP app
    (`laneway.service.http`)."""
    try:
        settings = load()
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    common = settings.common
    configure_logging(common)
    try:
        telemetry = setup_tracing(common.service)
    except SettingsError as error:
        _log.error("%s", error)
        return 2
    stop = StopSignal().install()
    server = (HealthServer(common.service, common.http_port, common.http_host)
              if serve_health else None)
    health = server if server is not None else HealthChecks(common.service)
    if starting is not None:
        health.starting(starting)
    if server is not None:
        server.start()
    try:
        status = body(settings, Running(stop, health))
        _log.info("stopped")
        return status
    except SettingsError as error:
        _log.error("%s", error)
        return 2
    except Unavailable as error:
        _log.error("%s", error)
        return 1
    except Exception:
        _log.exception("the %s service stopped on an error", common.service)
        return 1
    finally:
        stop.set()  # whatever the body left running in threads stops with it
        if server is not None:
            server.stop()
        _shut_down(telemetry)


def _shut_down(telemetry: Telemetry) -> None:
    """Flush the queued spans; an exporter that cannot is only logged (the service stopped)."""
    try:
        telemetry.shutdown()
    except Exception:  # the exporter's own errors must not change the exit status
        _log.exception("flushing the traces failed")

