"""`python -m services.bridge`: the agency bridge (docs/agencies.md).

Reads its settings, serves /health and /metrics on its port (8088), waits for Kafka for at
most `LANEWAY_STARTUP_TIMEOUT_S`, and bridges the partners' receive topics into this agency's
engine until SIGTERM or SIGINT. Without `LANEWAY_AGENCY_NAME` and partners it has nothing to
bridge: it stays up, healthy, and idle (so `make up` may always run it).
"""

from __future__ import annotations

import logging
import sys

from laneway.service import Running, run_service, wait_for_kafka
from services.bridge.bridge import Bridge
from services.bridge.settings import BridgeSettings, load_settings

_log = logging.getLogger("services.bridge")


def run(settings: BridgeSettings, service: Running) -> int:
    """Wait (bounded) for Kafka, then bridge until the stop signal."""
    agencies = settings.agencies
    if agencies.name is None or not agencies.partners:
        _log.info("no LANEWAY_AGENCY_NAME and LANEWAY_AGENCY_PARTNERS: nothing to bridge")
        service.health.started()
        service.stop.wait()
        return 0
    common = settings.common
    wait_for_kafka(common.kafka_bootstrap_servers, common.startup_timeout_s)
    bridge = Bridge(settings)
    service.health.add_check("consumer", bridge.health)
    service.health.add_liveness("loop", bridge.progress.check_live)
    service.health.started()
    bridge.run(service.stop.event)
    return 0


def main() -> int:
    """Run the service until SIGTERM or SIGINT; return the process's exit status."""
    return run_service(load_settings, run, starting="waiting for Kafka")


if __name__ == "__main__":
    sys.exit(main())
