"""The Laneway services as local background processes: start, check, stop, deploy examples.

`python -m scripts.services up|down|status|logs`; `make up` runs it after the local stack
(`scripts.stack`). See docs/local-stack.md, "Services".
"""

from scripts.services.control import UpResult, down, status, up
from scripts.services.supervisor import SERVICES, ServiceError, ServiceStatus, Supervisor

__all__ = [
    "SERVICES",
    "ServiceError",
    "ServiceStatus",
    "Supervisor",
    "UpResult",
    "down",
    "status",
    "up",
]
