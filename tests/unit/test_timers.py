"""Timer schedules: exact due times for every supported expression, and clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.model import TimerKind
from laneway.timers import TimerError, TimerSchedule, parse_timer

DATE, DURATION, CYCLE = TimerKind.DATE, TimerKind.DURATION, TimerKind.CYCLE


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO date-time with an offset, read without the module's code."""
    return (datetime.fromisoformat(iso) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        milliseconds=1
    )


# Saturday, the last day of January: month arithmetic and weekdays both matter here.
NOW = ms("2026-01-31T12:00:00+00:00")


def dues(schedule: TimerSchedule, now_ms: int, limit: int = 6) -> list[int | None]:
    """The first due time and the following ones, as the engine asks for them."""
    due = schedule.first_due(now_ms)
    found: list[int | None] = [due]
    fired = 1
    while due is not None and len(found) < limit:
        due = schedule.next_due(due, fired)
        found.append(due)
        fired += 1
    return found


def test_ms_helper_gives_exact_epoch_values() -> None:
    assert NOW == 1_769_860_800_000
    assert ms("2026-02-28T12:00:00+00:00") == 1_772_280_000_000
    assert ms("2026-01-01T00:00:00.250+00:00") == 1_767_225_600_250


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:00:00+02:00", 1_772_352_000_000),
        ("2026-03-01T08:00:00Z", 1_772_352_000_000),
        ("2026-03-01T08:00:00", 1_772_352_000_000),  # naive is UTC
        ("2026-03-01T08:00:00.250Z", 1_772_352_000_250),
        ("2026-01-01", 1_767_225_600_000),  # a date is midnight UTC
        ("2020-01-01T00:00:00Z", ms("2020-01-01T00:00:00+00:00")),  # past: due at once
    ],
)
def test_time_date_is_due_at_that_instant_once(text: str, expected: int) -> None:
    schedule = parse_timer(DATE, text)

    assert schedule.repetitions == 1
    assert schedule.first_due(NOW) == expected
    assert schedule.next_due(expected, 1) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT10S", NOW + 10_000),
        ("PT0.5S", NOW + 500),
        ("PT0S", NOW),
        ("P1DT2H", NOW + 26 * 3_600_000),
        ("P2W", NOW + 14 * 86_400_000),
        # calendar months: 31 January + 1 month is the last day of February
        ("P1M", ms("2026-02-28T12:00:00+00:00")),
        ("P2M", ms("2026-03-31T12:00:00+00:00")),
        ("P1Y1M", ms("2027-02-28T12:00:00+00:00")),
        # months first, then days
        ("P1M1D", ms("2026-03-01T12:00:00+00:00")),
    ],
)
def test_time_duration_is_due_that_long_after_creation(text: str, expected: int) -> None:
    schedule = parse_timer(DURATION, text)

    assert schedule.repetitions == 1
    assert schedule.first_due(NOW) == expected
    assert schedule.next_due(expected, 1) is None


def test_duration_from_a_leap_year_february_end() -> None:
    schedule = parse_timer(DURATION, "P1Y")

    assert schedule.first_due(ms("2028-02-29T00:00:00+00:00")) == ms("2029-02-28T00:00:00+00:00")


@pytest.mark.parametrize(
    ("text", "now", "expected", "repetitions"),
    [
        (
            "R3/PT10S",
            NOW,
            [NOW + 10_000, NOW + 20_000, NOW + 30_000, None],
            3,
        ),
        (
            "R/PT1H",
            NOW,
            [NOW + h * 3_600_000 for h in range(1, 7)],
            None,
        ),
        # Start in the future: due at the start, then every day, three times in all.
        (
            "R3/2026-02-01T00:00:00Z/P1D",
            NOW,
            [
                ms("2026-02-01T00:00:00+00:00"),
                ms("2026-02-02T00:00:00+00:00"),
                ms("2026-02-03T00:00:00+00:00"),
                None,
            ],
            3,
        ),
        # Start in the past: occurrences already passed count against the repetitions.
        (
            "R3/2026-01-30T00:00:00Z/P1D",
            NOW,
            [ms("2026-02-01T00:00:00+00:00"), None],
            3,
        ),
        # Monthly from 31 January, counted from the start: no drift to the 28th.
        (
            "R4/2026-01-31T00:00:00Z/P1M",
            ms("2026-01-01T00:00:00+00:00"),
            [
                ms("2026-01-31T00:00:00+00:00"),
                ms("2026-02-28T00:00:00+00:00"),
                ms("2026-03-31T00:00:00+00:00"),
                ms("2026-04-30T00:00:00+00:00"),
                None,
            ],
            4,
        ),
        # start/end: the interval is the time between them
        (
            "R2/2026-02-01T00:00:00Z/2026-02-01T06:00:00Z",
            NOW,
            [ms("2026-02-01T00:00:00+00:00"), ms("2026-02-01T06:00:00+00:00"), None],
            2,
        ),
        # duration/end: from creation, none after the end
        (
            "R/P1D/2026-02-03T00:00:00Z",
            NOW,
            [ms("2026-02-01T12:00:00+00:00"), ms("2026-02-02T12:00:00+00:00"), None],
            None,
        ),
    ],
)
def test_iso_repeating_interval(
    text: str, now: int, expected: list[int | None], repetitions: int | None
) -> None:
    schedule = parse_timer(CYCLE, text)

    assert schedule.repetitions == repetitions
    assert dues(schedule, now, limit=len(expected)) == expected


def test_iso_cycle_with_start_is_due_at_the_start_when_created_at_that_instant() -> None:
    schedule = parse_timer(CYCLE, "R/2026-02-01T00:00:00Z/PT1H")

    assert schedule.first_due(ms("2026-02-01T00:00:00+00:00")) == ms("2026-02-01T00:00:00+00:00")
    assert schedule.first_due(ms("2026-02-01T00:00:00.001+00:00")) == ms(
        "2026-02-01T01:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Camunda 8's six fields, seconds first; Saturday 31 January -> Monday, Tuesday, ...
        (
            "0 0 9 * * MON-FRI",
            [
                ms("2026-02-02T09:00:00+00:00"),
                ms("2026-02-03T09:00:00+00:00"),
                ms("2026-02-04T09:00:00+00:00"),
                ms("2026-02-05T09:00:00+00:00"),
                ms("2026-02-06T09:00:00+00:00"),
                ms("2026-02-09T09:00:00+00:00"),
            ],
        ),
        ("0 0 9 ? * MON-FRI", [ms("2026-02-02T09:00:00+00:00")]),  # Quartz's '?'
        ("*/20 * * * * *", [NOW, NOW + 20_000, NOW + 40_000, NOW + 60_000]),
        ("30 15 12 * * *", [NOW + 15 * 60_000 + 30_000, NOW + 86_400_000 + 15 * 60_000 + 30_000]),
        # five fields: minutes first; an occurrence at `now` itself is due now
        ("*/5 * * * *", [NOW, NOW + 300_000, NOW + 600_000]),
        ("0 9 1 * *", [ms("2026-02-01T09:00:00+00:00"), ms("2026-03-01T09:00:00+00:00")]),
        ("@daily", [ms("2026-02-01T00:00:00+00:00"), ms("2026-02-02T00:00:00+00:00")]),
    ],
)
def test_cron(text: str, expected: list[int]) -> None:
    schedule = parse_timer(CYCLE, text)

    assert schedule.repetitions is None
    assert dues(schedule, NOW, limit=len(expected)) == expected


def test_cron_occurrence_just_passed_is_not_due_again() -> None:
    schedule = parse_timer(CYCLE, "*/5 * * * *")

    assert schedule.first_due(NOW + 1) == NOW + 300_000
    assert schedule.next_due(NOW, 1) == NOW + 300_000


@pytest.mark.parametrize(
    ("text", "expected", "repetitions"),
    [
        # Without DTSTART: fields left out start at the period's start (minute 0, second 0).
        (
            "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9",
            [
                ms("2026-02-02T09:00:00+00:00"),
                ms("2026-02-04T09:00:00+00:00"),
                ms("2026-02-09T09:00:00+00:00"),
                ms("2026-02-11T09:00:00+00:00"),
            ],
            None,
        ),
        (
            "RRULE:FREQ=DAILY",
            [ms("2026-02-01T00:00:00+00:00"), ms("2026-02-02T00:00:00+00:00")],
            None,
        ),
        (
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=18",
            [ms("2026-01-31T18:00:00+00:00"), ms("2026-02-28T18:00:00+00:00")],
            None,
        ),
        # With DTSTART: a fixed series; COUNT counts from DTSTART, so 31 days are already gone.
        (
            "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;COUNT=33",
            [ms("2026-02-01T09:00:00+00:00"), ms("2026-02-02T09:00:00+00:00"), None],
            33,
        ),
        (
            "DTSTART:20260105T070000Z RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
            [ms("2026-02-02T07:00:00+00:00"), ms("2026-02-16T07:00:00+00:00")],
            None,
        ),
        # A zone: 09:00 in Berlin is 08:00 UTC in winter; a bare UNTIL date includes that day.
        (
            "DTSTART;TZID=Europe/Berlin:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260202",
            [ms("2026-02-01T08:00:00+00:00"), ms("2026-02-02T08:00:00+00:00"), None],
            None,
        ),
        # Naive DTSTART and UNTIL are UTC.
        (
            "DTSTART:20260201T100000\nRRULE:FREQ=HOURLY;UNTIL=20260201T110000",
            [ms("2026-02-01T10:00:00+00:00"), ms("2026-02-01T11:00:00+00:00"), None],
            None,
        ),
    ],
)
def test_rrule(text: str, expected: list[int | None], repetitions: int | None) -> None:
    schedule = parse_timer(CYCLE, text)

    assert schedule.repetitions == repetitions
    assert dues(schedule, NOW, limit=len(expected)) == expected


def test_rrule_started_long_ago_keeps_its_interval_alignment() -> None:
    # 2000-01-03 to NOW is 13_716_720 minutes: 1_959_531 intervals of 7 minutes and 3 minutes
    # over, so the next occurrence is 4 minutes after NOW.
    schedule = parse_timer(CYCLE, "DTSTART:20000103T000000Z RRULE:FREQ=MINUTELY;INTERVAL=7")

    assert dues(schedule, NOW, limit=3) == [NOW + 240_000, NOW + 660_000, NOW + 1_080_000]


def test_rrule_in_a_zone_follows_daylight_saving_time() -> None:
    schedule = parse_timer(CYCLE, "DTSTART;TZID=Europe/Berlin:20200101T090000 RRULE:FREQ=DAILY")

    assert dues(schedule, ms("2026-03-28T12:00:00+00:00"), limit=3) == [
        ms("2026-03-29T07:00:00+00:00"),  # summer time began at 01:00 UTC that day
        ms("2026-03-30T07:00:00+00:00"),
        ms("2026-03-31T07:00:00+00:00"),
    ]
    assert schedule.first_due(NOW) == ms("2026-02-01T08:00:00+00:00")


def test_rrule_without_dtstart_gives_the_same_occurrences_from_any_reference_time() -> None:
    schedule = parse_timer(CYCLE, "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9")
    monday_nine = ms("2026-02-02T09:00:00+00:00")

    assert schedule.first_due(monday_nine - 3 * 86_400_000) == monday_nine
    assert schedule.first_due(monday_nine - 1) == monday_nine
    assert schedule.first_due(monday_nine) == monday_nine
    assert schedule.next_due(monday_nine, 1) == ms("2026-02-04T09:00:00+00:00")


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (
            DURATION,
            "ten seconds",
            "Expected an ISO 8601 duration such as 'PT10S', but got 'ten seconds'",
        ),
        (DURATION, "-PT10S", "Expected an ISO 8601 duration such as 'PT10S', but got '-PT10S'"),
        (DURATION, "", "Expected an ISO 8601 duration such as 'PT10S', but got ''"),
        (DURATION, "P1.5M", "Expected whole years and months in the duration 'P1.5M'"),
        (
            DATE,
            "tomorrow",
            "Expected an ISO 8601 date-time such as '2026-01-01T09:00:00Z', but got 'tomorrow'",
        ),
        (DATE, "2026-13-01T00:00:00Z", "but got '2026-13-01T00:00:00Z'"),
        (DATE, "PT10S", "Expected an ISO 8601 date-time"),
        (
            CYCLE,
            "every day",
            "Expected a timer cycle: an ISO 8601 repeating interval such as 'R5/PT10S', a cron "
            "expression such as '0 0 9 * * MON-FRI', or an RRULE such as "
            "'RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9', but got 'every day'",
        ),
        (CYCLE, "PT10S", "Expected a timer cycle"),
        (CYCLE, "R0/PT10S", "but got 'R0/PT10S': it repeats zero times"),
        (CYCLE, "R/PT0S", "but got 'R/PT0S': the interval must be longer than zero"),
        (CYCLE, "R5/PT10S/PT5S", "but got 'R5/PT10S/PT5S': two durations"),
        (CYCLE, "R5/soon", "but got 'R5/soon': Expected an ISO 8601 date-time"),
        (
            CYCLE,
            "R2/2026-02-02T00:00:00Z/2026-02-01T00:00:00Z",
            "the end is not after the start",
        ),
        (
            CYCLE,
            "61 * * * *",
            "Expected a cron expression with 5 fields such as '*/5 * * * *' or 6 fields with "
            "seconds first such as '0 0 9 * * MON-FRI', but got '61 * * * *'",
        ),
        (CYCLE, "0 0 9 * * FUNDAY", "Expected a cron expression"),
        # croniter's hashed and random fields would not replay the same way
        (CYCLE, "H * * * *", "Expected a cron expression"),
        (CYCLE, "R 0 * * *", "Expected a cron expression"),
        (CYCLE, "RRULE:FREQ=SOMETIMES", "but got 'RRULE:FREQ=SOMETIMES': invalid 'FREQ'"),
        (
            CYCLE,
            "RRULE:FREQ=DAILY;COUNT=3",
            "COUNT and INTERVAL count from DTSTART, so they need a DTSTART line",
        ),
        (CYCLE, "RRULE:FREQ=DAILY;INTERVAL=2", "need a DTSTART line"),
        (CYCLE, "DTSTART:20260101T090000Z", "no RRULE line"),
        (CYCLE, "DTSTART:tomorrow RRULE:FREQ=DAILY", "DTSTART 'tomorrow' is not a date-time"),
        (
            CYCLE,
            "DTSTART;TZID=Mars/Olympus:20260101T090000 RRULE:FREQ=DAILY",
            "unknown time zone 'Mars/Olympus'",
        ),
        (CYCLE, "RRULE:FREQ=DAILY EXDATE:20260102T000000Z", "unexpected 'EXDATE:"),
    ],
)
def test_malformed_expression_is_refused_with_what_was_expected(
    kind: TimerKind, text: str, message: str
) -> None:
    with pytest.raises(TimerError) as caught:
        parse_timer(kind, text)

    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_surrounding_white_space_is_ignored() -> None:
    schedule = parse_timer(DURATION, "\n  PT10S \n")

    assert schedule.text == "PT10S"
    assert schedule.first_due(NOW) == NOW + 10_000


def test_schedules_are_values() -> None:
    assert parse_timer(CYCLE, "R5/PT10S") == parse_timer(CYCLE, " R5/PT10S ")


CYCLES = [
    "R/PT1S",
    "R/PT10S",
    "R100/PT1H",
    "R/P1M",
    "R/P1Y",
    "R/P1M1D",
    "R/2026-01-31T00:00:00Z/P1M",
    "R/2020-02-29T00:00:00Z/P1Y",
    "R/2026-01-01T00:00:00Z/2026-01-01T00:00:01.001Z",
    "R/PT1H/2030-01-01T00:00:00Z",
    "*/5 * * * *",
    "0 0 9 * * MON-FRI",
    "* * * * * *",
    "0 0 0 29 2 *",
    "0 30 23 L * *",
    "@hourly",
    "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9",
    "RRULE:FREQ=MONTHLY;BYMONTHDAY=31",
    "RRULE:FREQ=SECONDLY",
    "DTSTART:20251231T235959Z RRULE:FREQ=MINUTELY;INTERVAL=7",
    "DTSTART;TZID=Europe/Berlin:20260329T023000 RRULE:FREQ=DAILY",
]

_2020 = ms("2020-01-01T00:00:00+00:00")
_2032 = ms("2032-01-01T00:00:00+00:00")


@given(
    text=st.sampled_from(CYCLES),
    now=st.integers(min_value=_2020, max_value=_2032),
)
def test_cycle_due_times_strictly_increase(text: str, now: int) -> None:
    schedule = parse_timer(CYCLE, text)

    due = schedule.first_due(now)
    assert due is None or due >= now
    for fired in range(1, 12):
        if due is None:
            break
        following = schedule.next_due(due, fired)
        assert following is None or following > due
        due = following


def test_bounds_are_settings() -> None:
    from laneway.timers import TimerBounds

    strict = TimerBounds(max_years=1, min_cycle=timedelta(seconds=10))
    with pytest.raises(TimerError, match="at most 1 years"):
        parse_timer(TimerKind.DURATION, "P2Y", strict)
    with pytest.raises(TimerError, match="more often than every 10 s"):
        parse_timer(TimerKind.CYCLE, "R/PT5S", strict)
    assert parse_timer(TimerKind.CYCLE, "R/PT5S").repetitions is None


def test_a_due_time_past_the_calendar_is_a_timer_error() -> None:
    # 100 years after a date near the year 9999: no exception but TimerError leaves
    schedule = parse_timer(TimerKind.DURATION, "P100Y")
    with pytest.raises(TimerError):
        schedule.first_due(253_402_300_799_000)
