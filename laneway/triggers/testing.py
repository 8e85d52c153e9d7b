"""Helpers for testing a trigger without the service: a `Schedule`, a `PollRequest` and a
`TriggerContext` as the scheduler would make them, and `poll_once` to run one poll.

    async with httpx.AsyncClient() as http:
        schedule = make_schedule("feed", {"url": server.url})
        result = await poll_once(FeedTrigger(), schedule, make_context(http, tmp_path))
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from laneway.connectors._secrets import Secrets
from laneway.triggers._api import PollRequest, PollResult, Schedule, Trigger, TriggerContext


def make_schedule(type_: str, settings: Mapping[str, str], *,
                  schedule_id: str | None = None, timer: tuple[str, str] | None = None,
                  created_ms: int | None = None, process_id: str = "test-process") -> Schedule:
    """A schedule of `type_` with these settings (by local name)."""
    return Schedule(id=schedule_id or str(uuid.uuid4()), type=type_, process_id=process_id,
                    version=1, start_event_id="Start", settings=dict(settings),
                    attributes={f"laneway:{k}": v for k, v in settings.items()}, timer=timer,
                    created_ms=int(time.time() * 1000) if created_ms is None else created_ms)


def make_context(http: httpx.AsyncClient, data_dir: Path, *, timeout: float = 10.0,
                 secrets: Mapping[str, str] | None = None,
                 settings: Mapping[str, str] | None = None) -> TriggerContext:
    """A context as the scheduler lends one; `secrets` by name (as `LANEWAY_SECRET_<NAME>`)."""
    env = {f"LANEWAY_SECRET_{k.upper()}": v for k, v in (secrets or {}).items()}
    env["LANEWAY_SECRETS_DIR"] = str(data_dir / "no-secrets")
    return TriggerContext(
        secrets=Secrets(env), http=http,
        log=logging.LoggerAdapter(logging.getLogger("laneway.triggers.test"), {}),
        timeout=timeout, data_dir=data_dir, settings=dict(settings or {}))


async def poll_once(trigger: Trigger, schedule: Schedule, ctx: TriggerContext, *,
                    cursor: Any = None, credentials: Mapping[str, str] | None = None,
                    now_ms: int | None = None, manual: bool = False) -> PollResult:
    """One poll as the scheduler makes it (no starts: the caller looks at the items)."""
    request = PollRequest(schedule, cursor, dict(credentials or {}),
                          int(time.time() * 1000) if now_ms is None else now_ms, manual)
    return await trigger.poll(request, ctx)
