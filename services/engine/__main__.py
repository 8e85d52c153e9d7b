"""`python -m services.engine`: the engine service (docs/engine-service.md)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from laneway.service import Running, run_service
from services.engine.loop import EngineLoop
from services.engine.settings import EngineSettings, load_settings

_log = logging.getLogger("services.engine")


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    # started once the loop has joined its group and restored what it was given (that can
    # take minutes: /health/started is the startup probe, /health/live waits for it)
    return run_service(load_settings, run, starting=None)


def run(settings: EngineSettings, service: Running) -> int:
    """Run the loop until the stop signal; the loop waits (bounded) for Kafka itself."""
    loop = EngineLoop(settings)
    # only a flag: the loop finishes (or aborts) its transaction and closes cleanly
    service.stop.on_stop(loop.stop)
    service.health.starting("joining its group and restoring its partitions",
                            done=lambda: loop.restored)
    service.health.add_check("assignment", loop.check_joined)
    service.health.add_check("loop", loop.check_alive)
    service.health.add_liveness("loop", loop.progress.check_live)
    watchdog = threading.Thread(target=_watchdog, args=(loop, settings.stall_limit_s),
                                daemon=True, name="engine-watchdog")
    watchdog.start()
    loop.run()
    return 0


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
