"""What the audit service's routes need, as typed FastAPI dependencies (`Annotated` aliases).

`AuditDeps` is built by `__main__` (or a test) and handed to `create_app`, which puts it on
`app.state.deps`; routes reach it only through `Deps`, never through module globals or the
environment. Until the service has its database it is None, and a route answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from services.audit.anchor import DEV_KEY, HeadSigner
from services.audit.instances import InstanceStore
from services.audit.live_streams import LiveStreams
from services.audit.metrics import ApiMetrics


@dataclass(slots=True)
class AuditDeps:
    """The parts the routes read: a pool on the audit schema (`audit_log`, `instances`),
    the signer `verify` checks the heads with (the development key unless given) and the
    live streams (None: the live feed is off, its route answers 503)."""

    pool: ConnectionPool
    signer: HeadSigner = field(default_factory=lambda: HeadSigner(DEV_KEY))
    live: LiveStreams | None = None
    metrics: ApiMetrics = field(default_factory=lambda: ApiMetrics(CollectorRegistry()))
    """The API's metrics (the process passes `ApiMetrics.default()`; a test its own)."""
    instances: InstanceStore = field(init=False)

    def __post_init__(self) -> None:
        self.instances = InstanceStore(self.pool)


def get_deps(request: Request) -> AuditDeps:
    """The app's AuditDeps; 503 while the service is still starting."""
    deps: AuditDeps | None = getattr(request.app.state, "deps", None)
    if deps is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Expected the audit service's database, but it is still starting: "
                            "retry shortly", headers={"Retry-After": "2"})
    return deps


Deps = Annotated[AuditDeps, Depends(get_deps)]
