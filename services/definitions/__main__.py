"""`python -m services.definitions`: the definitions service, which serves the whole HTTP API
(deploy, instances, messages, instance queries) on LANEWAY_URL (default port 8080)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from laneway.settings import SettingsError, configure_logging
from services.definitions.app import create_app
from services.definitions.db import DatabaseUnavailable
from services.definitions.publisher import KafkaUnavailable
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
        with running(settings) as deps:
            app = create_app(settings, deps)
            server = uvicorn.Server(uvicorn.Config(
                app, host=settings.http_host, port=settings.common.http_port,
                log_config=None, access_log=False, timeout_graceful_shutdown=10))
            _log.info("serving the API on http://%s:%d", settings.http_host,
                      settings.common.http_port)
            server.run()
    except (DatabaseUnavailable, KafkaUnavailable) as error:
        _log.error("%s", error)
        return 1
    _log.info("Stopping: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
