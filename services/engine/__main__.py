"""`python -m services.engine`: the engine service (docs/engine-service.md)."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from laneway.health import HealthServer
from laneway.settings import SettingsError, configure_logging
from services.engine.loop import EngineLoop
from services.engine.settings import load_settings

_log = logging.getLogger("services.engine")


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    try:
        settings = load_settings()
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    configure_logging(settings.common)
    loop = EngineLoop(settings)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # only a flag: the loop finishes (or aborts) its transaction and closes cleanly
        _log.info("signal %d: stopping after the current batch", signum)
        loop.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    health = HealthServer("engine", settings.common.http_port)
    health.add_check("assignment", loop.check_joined)
    health.add_check("loop", loop.check_alive)
    health.start()
    try:
        loop.run()
    except Exception:
        _log.exception("the engine stopped on an error")
        return 1
    finally:
        health.stop()
    _log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
