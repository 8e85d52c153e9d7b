"""The timer trigger: due times counted from the schedule's creation, repetitions, the missed
policies after downtime, a time zone for cron, and fire now."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.triggers import PollResult, TriggerFailed
from laneway.triggers.builtin.timer import GRACE_MS, TimerTrigger
from laneway.triggers.testing import make_context, make_schedule, poll_once

T0 = int(datetime(2026, 12, 24, 8, 0, tzinfo=UTC).timestamp() * 1000)


def _poll(tmp_path: Path, timer: tuple[str, str], now_ms: int, cursor: Any = None,
          settings: dict[str, str] | None = None, manual: bool = False) -> PollResult:
    async def go() -> PollResult:
        async with httpx.AsyncClient() as http:
            schedule = make_schedule("timer", settings or {}, timer=timer, created_ms=T0)
            return await poll_once(TimerTrigger(), schedule, make_context(http, tmp_path),
                                   cursor=cursor, now_ms=now_ms, manual=manual)
    return asyncio.run(go())


def test_a_cycle_fires_each_due_time_once_and_ends_after_its_repetitions(
        tmp_path: Path) -> None:
    timer = ("timeCycle", "R3/PT1S")
    first = _poll(tmp_path, timer, T0 + 10)
    assert first.items == []
    assert first.next_poll_ms == T0 + 1000
    keys = []
    cursor = first.cursor
    for k in (1, 2, 3):
        result = _poll(tmp_path, timer, T0 + k * 1000 + 5, cursor)
        keys += [i.dedup_key for i in result.items]
        cursor = result.cursor
    assert keys == [f"due:{T0 + 1000}", f"due:{T0 + 2000}", f"due:{T0 + 3000}"]
    assert cursor["done"] is True
    assert _poll(tmp_path, timer, T0 + 10_000, cursor).items == []


def test_a_date_fires_once_at_that_time(tmp_path: Path) -> None:
    timer = ("timeDate", "2026-12-24T09:00:00Z")
    early = _poll(tmp_path, timer, T0 + 5)
    assert early.items == []
    assert early.next_poll_ms == T0 + 3600_000
    due = _poll(tmp_path, timer, T0 + 3600_000 + 5, early.cursor)
    assert [i.variables["timer"]["due"] for i in due.items] == ["2026-12-24T09:00:00Z"]
    assert _poll(tmp_path, timer, T0 + 7200_000, due.cursor).items == []


@pytest.mark.parametrize(("missed", "expected"), [
    ("once", [T0 + 25 * 60_000]),
    ("all", [T0 + k * 5 * 60_000 for k in range(1, 6)]),
    ("none", []),
])
def test_due_times_missed_while_down_follow_the_missed_setting(
        tmp_path: Path, missed: str, expected: list[int]) -> None:
    # every five minutes; the service was down from T0 until 27.5 minutes later, so even the
    # last due time (25 min) is more than the grace late
    timer = ("timeCycle", "R/PT5M")
    start = _poll(tmp_path, timer, T0 + 1, settings={"missed": missed})
    assert GRACE_MS < 2.5 * 60_000
    late = _poll(tmp_path, timer, T0 + 27 * 60_000 + 30_000, start.cursor,
                 settings={"missed": missed})
    assert [i.dedup_key for i in late.items] == [f"due:{t}" for t in expected]
    assert late.cursor["fired"] == 5


def test_a_cron_reads_its_fields_in_the_time_zone_given(tmp_path: Path) -> None:
    # 09:00 in Berlin is 08:00 UTC in December
    timer = ("timeCycle", "0 9 * * *")
    berlin = {"timezone": "Europe/Berlin"}
    first = _poll(tmp_path, timer, T0 - 60_000, settings=berlin)
    assert first.next_poll_ms == T0
    due = _poll(tmp_path, timer, T0 + 5, first.cursor, settings=berlin)
    assert [i.dedup_key for i in due.items] == [f"due:{T0}"]
    in_utc = _poll(tmp_path, timer, T0 + 5, _poll(tmp_path, timer, T0 - 60_000).cursor)
    assert in_utc.items == []
    assert in_utc.next_poll_ms == T0 + 3600_000


def test_fire_now_starts_one_at_once_with_its_own_key(tmp_path: Path) -> None:
    result = _poll(tmp_path, ("timeCycle", "R/PT1H"), T0 + 10, manual=True)
    assert [i.dedup_key for i in result.items] == [f"manual:{T0 + 10}"]


def test_settings_are_checked_at_deploy_and_a_timer_without_one_fails(tmp_path: Path) -> None:
    trigger = TimerTrigger()
    assert list(trigger.check({"timezone": "Europe/Berlin", "missed": "all"})) == []
    problems = list(trigger.check({"timezone": "Mars/Olympus", "missed": "twice"}))
    assert len(problems) == 2
    assert "IANA" in problems[0]

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            await poll_once(trigger, make_schedule("timer", {}), make_context(http, tmp_path))

    with pytest.raises(TriggerFailed):
        asyncio.run(go())
