"""What the task routes need, as typed FastAPI dependencies (`Annotated` aliases).

`WorklistDeps` is built by `__main__` (or a test) and put on `app.state.deps`; routes reach
it only through `Deps`, never through module globals or the environment. Until the service
has its database and producer it is None, and a route answers 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from psycopg_pool import ConnectionPool

from laneway.publisher import Publisher
from services.worklist.answers import AnswerWaiters
from services.worklist.forms import FormChecker


@dataclass(slots=True)
class WorklistDeps:
    """The task routes' parts."""

    pool: ConnectionPool
    """On the worklist's schema: `tasks` and `task_commands`."""
    publisher: Publisher
    """Produces the task commands to the engine."""
    forms: FormChecker
    """Checks a completion against the task's form (`forms.registry_checker` in service)."""
    answer_timeout_s: float = 10.0
    """How long a POST waits for the engine's answer (`LANEWAY_TASK_ANSWER_S`)."""
    answers: AnswerWaiters | None = None
    """Wakes a waiting POST when its answer is projected (LISTEN/NOTIFY); None: it polls
    (`services.worklist.answers`)."""


async def get_deps(request: Request) -> WorklistDeps:
    """The app's WorklistDeps; 503 while the service is still starting. A coroutine: it only
    reads an attribute, and a plain `def` cost every request a hop to the thread pool and
    back (each a wait for the GIL and the event loop under load)."""
    deps: WorklistDeps | None = getattr(request.app.state, "deps", None)
    if deps is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "Expected the worklist's database and Kafka producer, but the "
                            "service is still starting: retry shortly",
                            headers={"Retry-After": "2"})
    return deps


Deps = Annotated[WorklistDeps, Depends(get_deps)]
