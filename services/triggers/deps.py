"""What the routes need, on `app.state.deps` (None until the service has its parts: 503)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status

from laneway.publisher import Publisher
from laneway.triggers import DiscoveredTriggers
from services.triggers.credentials import Vault
from services.triggers.metrics import TriggersMetrics
from services.triggers.scheduler import Scheduler
from services.triggers.store import ScheduleStore

if TYPE_CHECKING:
    from services.triggers.respond import Responses


@dataclass(slots=True)
class TriggersDeps:
    """The routes' parts."""

    store: ScheduleStore
    vault: Vault
    publisher: Publisher
    installed: DiscoveredTriggers
    scheduler: Scheduler
    metrics: TriggersMetrics
    hook_max_bytes: int = 262144
    fire_timeout_s: float = 60.0
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    """The start commands' timestamps (epoch ms)."""
    responses: Responses | None = None
    """The answers to the `response` connector's links (503 until set)."""


def get_deps(request: Request) -> TriggersDeps:
    deps: TriggersDeps | None = getattr(request.app.state, "deps", None)
    if deps is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Expected the triggers service's database and Kafka producer, but "
                            "the service is still starting: retry shortly",
                            headers={"Retry-After": "2"})
    return deps


Deps = Annotated[TriggersDeps, Depends(get_deps)]
