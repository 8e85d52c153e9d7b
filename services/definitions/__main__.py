"""`python -m services.definitions`: the definitions service."""

from __future__ import annotations

import logging
import sys

from laneway.settings import SettingsError, configure_logging
from services.definitions.settings import load_settings

_log = logging.getLogger("services.definitions")


def main() -> int:
    """Run the service until it is stopped; return the process's exit status."""
    try:
        settings = load_settings()
    except SettingsError as error:
        logging.basicConfig()
        _log.error("%s", error)
        return 2
    configure_logging(settings)
    # The service's shape once it runs: wait for Kafka (and its database) for at most
    # `startup_timeout_s`, run its loop, and close consumers and producers in `finally`.
    _log.warning(
        "The definitions service is not implemented yet: it lands with the Kafka backbone issue."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
