"""`python -m services.triggers`: the triggers service."""

from __future__ import annotations

import logging
import sys

from laneway.lifecycle import StopSignal, serve_health_until_stopped
from laneway.settings import SettingsError, configure_logging
from services.triggers.settings import load_settings

_log = logging.getLogger("services.triggers")


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    try:
        settings = load_settings()
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    configure_logging(settings)
    stop = StopSignal()
    stop.install()
    return serve_health_until_stopped(
        settings, stop, lands_with="the triggers issue (schedules and inbound messages)"
    )


if __name__ == "__main__":
    sys.exit(main())
