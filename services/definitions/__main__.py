"""`python -m services.definitions`: the definitions service, serving its routes (definitions
and their lifecycle, form schemas and public forms, starting instances, messages, incidents)
on its own port (8086); the public URL (the edge, 8080) sends it those paths."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import uvicorn

from laneway.auth import KeySourceError, TokenVerifier
from laneway.publisher import KafkaUnavailable
from laneway.settings import SettingsError, configure_logging
from services.definitions.app import create_app
from services.definitions.db import DatabaseUnavailable
from services.definitions.service import running
from services.definitions.settings import load_settings

_log = logging.getLogger("services.definitions")


def main() -> int:
    """Run the service until it is stopped (SIGINT or SIGTERM); return the exit status."""
    try:
        settings = load_settings()
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    configure_logging(settings.common)
    try:
        # a JWKS file is read now: a missing or malformed one stops the start, not a request
        verifier = TokenVerifier(settings.auth)
    except KeySourceError as error:
        _log.error("%s", error)
        return 2
    _log.info("verifying bearer tokens with the %s", settings.auth.source)
    # uvicorn handles SIGINT/SIGTERM itself and re-raises the signal once it has shut down;
    # with the default handlers that re-raise would kill the process before the `finally`
    # below closes the projection, the producer and the pool
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopping)
    try:
        with running(settings) as deps:
            app = create_app(settings, deps, verifier)
            server = uvicorn.Server(uvicorn.Config(
                app, host=settings.http_host, port=settings.common.http_port,
                log_config=None, access_log=False, timeout_graceful_shutdown=10,
                proxy_headers=True, forwarded_allow_ips=settings.trusted_proxies))
            _log.info("serving the definitions routes on http://%s:%d", settings.http_host,
                      settings.common.http_port)
            server.run()
    except (DatabaseUnavailable, KafkaUnavailable) as error:
        _log.error("%s", error)
        return 1
    _log.info("stopped")
    return 0


def _stopping(signum: int, _frame: FrameType | None) -> None:
    _log.info("Stopping on %s", signal.Signals(signum).name)


if __name__ == "__main__":
    sys.exit(main())
