"""`timer`: a timer start event starts an instance at each due time.

Declared by the start event itself (`timeDate`, `timeDuration`, `timeCycle`: ISO 8601 dates,
durations and repeating intervals, cron, RRULE; `laneway.timers` reads them), counted from
when the schedule was created (the version AUTHORIZED). Settings on the start event:

- `laneway:timezone` (IANA name, default UTC): where a cron expression, a date without an
  offset and a DTSTART without TZID are read;
- `laneway:missed` (`once`, the default; `all`; `none`): what the due times that passed while
  the service was down (more than `GRACE_MS` late) do: one start for the latest of them, one
  start each (at most `MAX_MISSED`), or nothing.

Each due time is an item with the dedup key `due:<epoch ms>` and the variables
`{"timer": {"due": ISO time, "fired": n}}`. The cursor is `{"last": ms, "fired": n}`: the last
due time handled (None before the first) and how many times the timer has fired in all (a
cycle's repetitions).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from dateutil.tz import gettz

from laneway.attributes import Attribute
from laneway.model import TimerKind
from laneway.timers import TimerError, TimerSchedule, parse_timer
from laneway.triggers._api import (
    PollRequest,
    PollResult,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)

GRACE_MS = 60_000
"""A due time found at most this late is on time; later, it was missed (the service was
down) and `laneway:missed` decides."""
MAX_MISSED = 100
"""`missed="all"` starts at most this many of the missed due times (the latest ones)."""
_MISSED = ("once", "all", "none")
# how far a due time is looked up when nothing is due for long (a yearly cron): poll at least
# this often, so a changed clock or version is seen
_MAX_SLEEP_MS = 3600_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


class TimerTrigger(Trigger):
    """Timer start events."""

    type = "timer"

    attributes = (
        Attribute("timezone", "Time zone", "IANA zone where a cron expression or a date "
                  "without an offset is read; default UTC"),
        Attribute("missed", "Missed due times", "once: one start for the latest; all: one each "
                  "(at most 100); none: nothing", kind="choice", choices=("once", "all", "none"),
                  default="once"),
    )
    initial = "fire-existing"

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        zone = settings.get("timezone")
        if zone is not None and gettz(zone) is None:
            yield f"Expected laneway:timezone to be an IANA time zone such as " \
                  f"'Europe/Berlin', but got {zone!r}"
        missed = settings.get("missed")
        if missed is not None and missed not in _MISSED:
            yield f"Expected laneway:missed to be one of {', '.join(_MISSED)}, but got {missed!r}"

    def _schedule(self, request: PollRequest) -> TimerSchedule:
        declared = request.schedule.timer
        if declared is None:
            raise TriggerFailed("Expected the timer start event to say when (timeDate, "
                                "timeDuration or timeCycle), but it does not", retryable=False)
        zone = gettz(request.schedule.settings.get("timezone", "UTC")) or UTC
        try:
            return parse_timer(TimerKind(declared[0]), declared[1].strip(), zone=zone)
        except (TimerError, ValueError) as exc:
            raise TriggerFailed(f"Expected a timer that can be scheduled, but {exc}",
                                retryable=False) from None

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        schedule = self._schedule(request)
        cursor: dict[str, Any] = dict(request.cursor or {})
        fired = int(cursor.get("fired", 0))
        now = request.now_ms
        try:
            if cursor.get("last") is not None:
                due = schedule.next_due(int(cursor["last"]), fired)
            else:
                due = schedule.first_due(request.schedule.created_ms or now)
        except TimerError as exc:
            raise TriggerFailed(str(exc), retryable=False) from None
        items: list[TriggerItem] = []
        missed: list[tuple[int, int]] = []
        last: int | None = cursor.get("last")
        # walk the due times that have passed; bounded: a cycle of a second down for a week
        # is 600,000 due times, of which only the last MAX_MISSED matter
        steps = 0
        while due is not None and due <= now and steps < 100_000:
            steps += 1
            last = due
            fired += 1
            if now - due > GRACE_MS:
                missed.append((due, fired))
                if len(missed) > MAX_MISSED:
                    missed.pop(0)
            else:
                items.append(self._item(due, fired))
            due = schedule.next_due(due, fired)
        policy = request.schedule.settings.get("missed", "once")
        if missed and policy == "all":
            items[:0] = [self._item(m, n) for m, n in missed]
        elif missed and policy == "once" and not items:
            items.append(self._item(*missed[-1]))
        if request.manual:
            items.append(TriggerItem(f"manual:{now}", {"timer": {"due": _iso(now),
                                                                 "manual": True}},
                                     {"due": _iso(now), "manual": True}))
        next_cursor = {"last": last, "fired": fired}
        if due is None:
            return PollResult(items, {**next_cursor, "done": True},
                              next_poll_ms=now + _MAX_SLEEP_MS)
        return PollResult(items, next_cursor, next_poll_ms=min(due, now + _MAX_SLEEP_MS))

    @staticmethod
    def _item(due: int, fired: int) -> TriggerItem:
        return TriggerItem(f"due:{due}", {"timer": {"due": _iso(due), "fired": fired}},
                           {"due": _iso(due)})
