"""`python -m services.definitions`: the definitions service, serving its routes (definitions
and their lifecycle, form schemas and public forms, starting instances, messages, incidents)
on its own port (8086); the public URL (the edge, 8080) sends it those paths.

Waits for PostgreSQL and Kafka for at most `LANEWAY_STARTUP_TIMEOUT_S`, migrates, republishes
what the `definitions` topic lacks, then serves (its own /health and /metrics among the routes)
until SIGTERM or SIGINT; the requests in hand are finished and everything is closed.
"""

from __future__ import annotations

import logging
import sys

from laneway.auth.http import verifier_at_start
from laneway.service import Running, run_service
from laneway.web.server import HttpServer
from services.definitions.app import create_app
from services.definitions.metrics import DefinitionsMetrics
from services.definitions.service import running
from services.definitions.settings import DefinitionsSettings, load_settings

_log = logging.getLogger("services.definitions")


def run(settings: DefinitionsSettings, service: Running) -> int:
    """Start the parts, serve until the stop signal, close the parts."""
    verifier = verifier_at_start(settings.auth)
    _log.info("verifying bearer tokens with the %s", settings.auth.source)
    with running(settings, DefinitionsMetrics.default()) as deps:
        app = create_app(settings, deps, verifier, service.health)
        server = HttpServer(app, settings.common.http_host, settings.common.http_port,
                            service.stop,
                            graceful_s=10, proxy_headers=True,
                            forwarded_allow_ips=settings.trusted_proxies)
        _log.info("serving the definitions routes on http://%s:%d", settings.common.http_host,
                  settings.common.http_port)
        server.serve()
    return 0


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    # the app is built once the database and Kafka answered: nothing to report before
    return run_service(load_settings, run, starting=None, serve_health=False)


if __name__ == "__main__":
    sys.exit(main())
