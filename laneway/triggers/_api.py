"""The trigger plugin API: what a trigger is given (`Schedule`, `PollRequest`,
`TriggerContext`), what it returns (`PollResult` of `TriggerItem`s), and the error that tells the
scheduler to back off (`TriggerFailed`).

A trigger turns what happens outside (a due time, a new e-mail, a feed entry) into items; the
triggers service's generic scheduler starts one process instance per item, exactly once: the
instance id is derived from (schedule, item's dedup key), and the engine refuses an id it has
already seen.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from laneway.attributes import Attribute

if TYPE_CHECKING:
    import httpx

    from laneway.connectors._secrets import Secrets

InitialPolicy = Literal["skip-existing", "fire-existing"]
"""What the first poll of a new schedule does with what is already there: `skip-existing`
only records where things are (the cursor), `fire-existing` starts an instance per item."""

INITIAL_POLICIES: tuple[InitialPolicy, ...] = ("skip-existing", "fire-existing")

MAX_DEDUP_KEY = 512
"""The longest dedup key, in characters; a longer one is refused (hash it)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """One declared trigger of the running version of a process, as a plugin sees it."""

    id: str
    """The schedule's id: a UUID derived from (process id, start event id), so it stays the same
    across versions (a webhook's URL, a feed's cursor survive a redeploy)."""
    type: str
    """The trigger type (`timer`, `feed`, ...)."""
    process_id: str
    version: int
    """The AUTHORIZED version the schedule starts."""
    start_event_id: str
    """The start event an instance starts at."""
    settings: Mapping[str, str]
    """The trigger's settings by local name: every `laneway:` (or in-concert `tri:`) attribute
    of the start event's `<bpmn:message>` (or, for a timer, of the start event itself):
    `{"url": "...", "interval": "PT1M"}`."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """The raw extension attribute bag of the message and the start event, keyed as written
    (`acme:costCenter`): every namespace reaches the plugin untouched."""
    timer: tuple[str, str] | None = None
    """A timer start event's (kind, expression): (`timeCycle`, `R/PT1H`)."""
    created_ms: int = 0
    """When the schedule was first created (epoch ms): where a timer counts from."""


@dataclass(frozen=True, slots=True)
class TriggerItem:
    """One thing that happened outside: one process instance."""

    dedup_key: str
    """What makes the item itself: an entry id, a message id, (item id, eTag), a due time. Two
    items of one schedule with the same key start one instance, however often they are seen."""
    variables: Mapping[str, Any]
    """The instance's variables (JSON-like values)."""
    summary: Mapping[str, Any] = field(default_factory=dict)
    """A few fields that tell the item apart for people (subject, title, file name): recorded
    with the fire and on the start command, so the instance's audit shows which item started
    it. Keep it small: no bodies, no secrets."""


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll found."""

    items: Sequence[TriggerItem]
    """The items to start, oldest first."""
    cursor: Any
    """Where the next poll continues (a JSON value); saved only after every item's start is
    acknowledged, so a crash in between polls again from the old cursor (and the starts
    collapse on their derived ids)."""
    next_poll_ms: int | None = None
    """When to poll next (epoch ms); None: the schedule's interval from now."""
    more: bool = False
    """The poll stopped at a page bound with more to read: poll again at once."""


@dataclass(frozen=True, slots=True)
class PollRequest:
    """One poll of one schedule."""

    schedule: Schedule
    cursor: Any
    """The cursor the last poll returned; None on a schedule's first poll."""
    credentials: Mapping[str, str]
    """The schedule's credentials (set through the API, stored encrypted), decrypted for this
    poll only. Never log them."""
    now_ms: int
    """The scheduler's clock (epoch ms, UTC)."""
    manual: bool = False
    """An operator asked for this poll (`fire now`): a timer fires once at once."""


@dataclass(frozen=True, slots=True)
class TriggerContext:
    """What the triggers service lends a trigger for one poll."""

    secrets: Secrets
    """Named secrets of the deployment (`LANEWAY_SECRET_<NAME>` or a mounted file)."""
    http: httpx.AsyncClient
    """A shared HTTP client; pass `timeout=ctx.timeout` per request."""
    log: logging.LoggerAdapter[logging.Logger]
    """A logger naming the schedule."""
    timeout: float
    """Seconds this poll may take; the scheduler cancels it after that."""
    data_dir: Path
    """A directory of this schedule's own (`LANEWAY_TRIGGERS_DATA_DIR/<schedule id>`) where a
    trigger keeps files too large for variables (mail attachments); made on first use."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """This trigger type's own settings: `LANEWAY_TRIGGER_<TYPE>_<NAME>` environment
    variables, keyed by `<name>` in lower case."""


class TriggerFailed(Exception):
    """A poll failed (the far side is down, the credentials are refused). The scheduler records
    the message as the schedule's last error, marks it failing and polls again after a backoff;
    `retryable=False` (say, a 401) waits the longest backoff. The other schedules go on."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Trigger(abc.ABC):
    """A trigger type. Subclass it and register the class under the entry point group
    `laneway.triggers` with the type as the name. One instance per process, shared by every
    schedule of its type: keep per-schedule state in the cursor, not on `self`."""

    type: str = ""
    """The trigger type, as `laneway:trigger` names it."""

    attributes: tuple[Attribute, ...] = ()
    """The settings it reads, by local name (laneway/attributes.py): checked at deploy before
    `check`, and made into its Camunda Modeler element template (`laneway templates`)."""
    initial: InitialPolicy = "skip-existing"
    """The first poll's policy when the diagram sets none (`laneway:initial`)."""
    polled: bool = True
    """False for a trigger that requests start (the webhook): the scheduler never polls it."""
    default_interval_ms: int = 60_000
    """How often to poll when neither the result nor `laneway:interval` says."""

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        """What is wrong with a declaration, checked at deploy: each message refuses the
        diagram, reported with the start event's id and line. `settings` are by local name."""
        return iter(())

    @abc.abstractmethod
    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        """Find what is new since `request.cursor`. Raise `TriggerFailed` on a failure (any
        other exception counts as a retryable one)."""

    async def acknowledged(  # noqa: B027 -- optional hook, empty by design
            self, request: PollRequest, items: Sequence[TriggerItem],
            ctx: TriggerContext) -> None:
        """Called after the starts of `items` were acknowledged and the cursor saved: mark the
        mails seen, move the files to the done folder. A failure here is logged, not retried:
        the items are already started."""

    async def close(self) -> None:  # noqa: B027 -- optional hook, empty by design
        """Release what the trigger holds; called once when the service stops."""
