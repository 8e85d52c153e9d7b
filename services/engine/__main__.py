"""`python -m services.engine`: the engine service (docs/engine-service.md)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
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
    watchdog = threading.Thread(target=_watchdog, args=(loop, _stall_limit(settings)),
                                daemon=True, name="engine-watchdog")
    watchdog.start()
    try:
        loop.run()
    except Exception:
        _log.exception("the engine stopped on an error")
        return 1
    finally:
        health.stop()
    _log.info("stopped")
    return 0


def _stall_limit(settings: object) -> float:
    # longer than the slowest legitimate pause (a restore may take its whole timeout)
    restore = float(getattr(settings, "restore_timeout_s", 120.0))
    raw = os.environ.get("LANEWAY_ENGINE_WATCHDOG_S", "")
    return float(raw) if raw.strip() else restore + 60.0


def _watchdog(loop: EngineLoop, limit_s: float) -> None:
    """Exit the process when the loop stalls, so that the orchestrator starts a fresh one.

    A call into librdkafka can block for good after a broker restart (send_offsets_to_transaction
    ignores its timeout there); no in-process recovery is possible then, but a restart recovers
    everything from what Kafka committed. Exit code 70 (EX_SOFTWARE) says why in the logs.
    """
    while True:
        time.sleep(min(5.0, limit_s / 4))  # a watchdog's own period, not a test wait
        age = time.monotonic() - loop.last_iteration
        if age > limit_s:
            _log.critical("the loop has not gone round for %.0fs (limit %.0fs): exiting so a "
                          "fresh process takes over", age, limit_s)
            logging.shutdown()
            os._exit(70)


if __name__ == "__main__":
    sys.exit(main())
