"""BPMN timer schedules: when a timer falls due.

Pure: no clock. Every function takes the reference time as epoch milliseconds (UTC) and every
computation is done in UTC, so the engine, which takes time from the command's timestamp, gets
the same answer on every replay.

Supported expressions, by `TimerKind`:

- `DATE` (timeDate): an ISO 8601 date-time, `2026-01-01T09:00:00Z` or with an offset
  (`+02:00`); without one it is UTC. A bare date means midnight UTC.
- `DURATION` (timeDuration): an ISO 8601 duration, `PT10S`, `P1DT2H`, `P1M`. Years and months are
  calendar units: one month after 31 January is the last day of February.
- `CYCLE` (timeCycle), one of
  - an ISO 8601 repeating interval: `R5/PT10S` (5 times, every 10 s from when the timer is
    created), `R/PT1H` (unbounded), `R3/2026-01-01T00:00:00Z/P1D` (3 times from a start),
    `R/PT1H/2026-02-01T00:00:00Z` (every hour from when the timer is created, none after the end);
  - a cron expression with 5 fields (`*/5 * * * *`) or, as Camunda 8 writes them, 6 fields with
    seconds first (`0 0 9 * * MON-FRI`), or a macro such as `@daily`;
  - an iCalendar RRULE (`RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9`), optionally preceded by a
    `DTSTART:20260101T090000Z` line.

The engine calls `first_due` when the timer is created and `next_due` after each firing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

import isodate
from croniter import croniter
from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr
from dateutil.tz import gettz

from laneway.model import TimerKind

__all__ = ["DEFAULT_BOUNDS", "TimerBounds", "TimerError", "TimerKind", "TimerSchedule",
           "parse_timer"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

_DURATION_EXAMPLE = "an ISO 8601 duration such as 'PT10S'"
_DATE_EXAMPLE = "an ISO 8601 date-time such as '2026-01-01T09:00:00Z'"
_CYCLE_EXAMPLE = (
    "a timer cycle: an ISO 8601 repeating interval such as 'R5/PT10S', a cron expression such as "
    "'0 0 9 * * MON-FRI', or an RRULE such as 'RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9'"
)


class TimerError(ValueError):
    """A timer expression cannot be read. Not retryable: the diagram (or the value an
    expression produced) has to change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerBounds:
    """What a timer may ask for. A duration of ten million years overflows every calendar, and
    a cycle of 0.1 ms fires as fast as the engine can write (the engine service reads them
    from `LANEWAY_ENGINE_MAX_TIMER_YEARS` and `LANEWAY_ENGINE_MIN_TIMER_CYCLE_MS`)."""

    max_years: int = 100
    """The longest duration or cycle interval, in years (a month counts as 1/12)."""
    min_cycle: timedelta = timedelta(seconds=1)
    """The shortest interval between two firings of a repeating interval (cron and RRULE
    cannot repeat faster than every second)."""


DEFAULT_BOUNDS = TimerBounds()

# How far ahead a cron expression or an RRULE is searched for its next occurrence when it is
# read: `0 0 30 2 *` (30 February) has none, and croniter and dateutil would search up to the
# year 9999 for it (seconds per timer). 28 years hold every weekday of every date, and 29
# February at least three times.
_SEARCH_YEARS = 28


# --- time values -----------------------------------------------------------------------------


def _to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly (no float rounding)."""
    return (moment - _EPOCH) // _MS


def _from_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


@dataclass(frozen=True, slots=True)
class _Span:
    """A duration split into calendar months and an exact remainder.

    Months first, then the rest: `P1M1D` after 31 January is 1 March (28 February + 1 day).
    """

    months: int
    exact: timedelta

    def after(self, moment: datetime, times: int = 1) -> datetime:
        """`moment` plus `times` of this span, computed from `moment` (no drift)."""
        return moment + relativedelta(months=self.months * times) + self.exact * times

    def approx(self) -> timedelta:
        """A rough length, only for estimating how many spans fit between two instants."""
        return timedelta(days=30.436875 * self.months) + self.exact

    def is_positive(self) -> bool:
        zero = timedelta(0)
        return self.months >= 0 and self.exact >= zero and (self.months > 0 or self.exact > zero)


def _parse_span(text: str, bounds: TimerBounds = DEFAULT_BOUNDS) -> _Span:
    """Read an ISO 8601 duration; raise TimerError if it is not one, is negative or is longer
    than `bounds` allow."""
    failure = TimerError(f"Expected {_DURATION_EXAMPLE}, but got {text!r}")
    if not text.startswith("P"):  # isodate also reads '-P..' (negative) and is lenient on case
        raise failure
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, ArithmeticError):
        raise failure from None
    if isinstance(value, timedelta):
        return _bounded(_Span(0, value), text, bounds)
    months = Decimal(value.years) * 12 + Decimal(value.months)
    if months != months.to_integral_value():
        raise TimerError(
            f"Expected whole years and months in the duration {text!r}, such as 'P1M', "
            f"but got a fraction"
        )
    exact = value.tdelta
    if not isinstance(exact, timedelta):  # pragma: no cover - isodate always gives one
        raise failure
    return _bounded(_Span(int(months), exact), text, bounds)


def _bounded(span: _Span, text: str, bounds: TimerBounds) -> _Span:
    if span.months > bounds.max_years * 12 or span.approx() > timedelta(
            days=365.25 * bounds.max_years):
        raise TimerError(
            f"Expected a duration of at most {bounds.max_years} years, but got {text!r}")
    return span


def _parse_instant(text: str, zone: tzinfo = UTC) -> datetime:
    """Read an ISO 8601 date-time (naive means in `zone`, UTC by default) or a date (midnight
    in `zone`)."""
    failure = TimerError(f"Expected {_DATE_EXAMPLE}, but got {text!r}")
    try:
        if "T" in text:
            value = isodate.parse_datetime(text)
        else:
            day = isodate.parse_date(text)
            if not isinstance(day, date):  # pragma: no cover
                raise failure
            value = datetime(day.year, day.month, day.day)
    except (isodate.ISO8601Error, ValueError, ArithmeticError):
        raise failure from None
    if not isinstance(value, datetime):  # pragma: no cover - isodate always gives one
        raise failure
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


# --- plans: how occurrences are computed ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _At:
    """timeDate: one instant."""

    instant: datetime


@dataclass(frozen=True, slots=True)
class _After:
    """timeDuration: once, a span after the timer is created."""

    span: _Span


@dataclass(frozen=True, slots=True)
class _Every:
    """ISO repeating interval without a start: every span from when the timer is created, the
    next one counted from the previous due time; none after `end`."""

    span: _Span
    end: datetime | None


@dataclass(frozen=True, slots=True)
class _Series:
    """ISO repeating interval with a start: `start + k * span` for k in [0, count)."""

    start: datetime
    span: _Span
    count: int | None

    def nth(self, k: int) -> datetime:
        return self.span.after(self.start, k)

    def first_at_or_after(self, moment: datetime) -> datetime | None:
        if moment <= self.start:
            k = 0
        else:
            # Estimate, then correct: calendar months make the span's length vary.
            k = max(0, int((moment - self.start) / self.span.approx()) - 1)
            while self.nth(k) < moment:
                k += 1
            while k > 0 and self.nth(k - 1) >= moment:
                k -= 1
        if self.count is not None and k >= self.count:
            return None
        return self.nth(k)


@dataclass(frozen=True, slots=True)
class _Cron:
    """A cron expression; `seconds` when it has a seconds field (first, as in Camunda 8)."""

    expression: str
    seconds: bool
    zone: tzinfo = UTC
    """The time zone the fields are read in (`0 9 * * *` is 09:00 there, across DST)."""

    def first_at_or_after(self, moment: datetime) -> datetime:
        # Occurrences fall on whole seconds; start the search just before the first whole
        # second at or after `moment`, since croniter returns the next one strictly after.
        whole = moment.replace(microsecond=0)
        if whole < moment:
            whole += timedelta(seconds=1)
        found = croniter(
            self.expression, (whole - timedelta(seconds=1)).astimezone(self.zone),
            second_at_beginning=self.seconds
        ).get_next(datetime)
        if not isinstance(found, datetime):  # pragma: no cover
            raise TypeError("croniter returned no datetime")
        return found.astimezone(UTC)


_RRULE_PERIODS = {
    "YEARLY": "year",
    "MONTHLY": "month",
    "WEEKLY": "week",
    "DAILY": "day",
    "HOURLY": "hour",
    "MINUTELY": "minute",
    "SECONDLY": "second",
}


_FIXED_PERIODS = {
    "week": timedelta(weeks=1),
    "day": timedelta(days=1),
    "hour": timedelta(hours=1),
    "minute": timedelta(minutes=1),
    "second": timedelta(seconds=1),
}


@dataclass(frozen=True, slots=True)
class _Rule:
    """An RRULE. With DTSTART its occurrences are fixed. Without one, the rule is read from the
    start of the period (year, month, week from Monday, day, ...) holding the reference time,
    which gives the same occurrences for any reference time because `parse_timer` refuses
    INTERVAL and COUNT without DTSTART; so fields the rule leaves out default to the period's
    start (`FREQ=DAILY;BYHOUR=9` fires at 09:00:00)."""

    rule: str
    dtstart: datetime | None
    period: str
    interval: int
    counted: bool

    def _start(self, moment: datetime) -> datetime:
        if self.dtstart is None:
            return _period_start(moment, self.period)
        step = _FIXED_PERIODS.get(self.period)
        if step is None or self.counted:
            return self.dtstart
        # dateutil walks every occurrence from DTSTART; a rule started long ago would be slow.
        # Move DTSTART forward by whole intervals, which gives the same occurrences from there.
        # Wall-clock arithmetic, as dateutil's, so a zone's daylight saving time cannot shift it.
        step *= self.interval
        zone = self.dtstart.tzinfo
        wall = moment.astimezone(zone).replace(tzinfo=None) - self.dtstart.replace(tzinfo=None)
        skipped = wall // step - 1
        return self.dtstart + step * skipped if skipped > 0 else self.dtstart

    def first_at_or_after(self, moment: datetime) -> datetime | None:
        built = rrulestr(self.rule, dtstart=self._start(moment))
        if not isinstance(built, rrule):  # pragma: no cover - one RRULE line gives one rrule
            raise TypeError("expected a single rrule")
        found = built.after(moment, inc=True)
        return found.astimezone(UTC) if found is not None else None


def _period_start(moment: datetime, period: str) -> datetime:
    moment = moment.replace(microsecond=0)
    if period == "second":
        return moment
    moment = moment.replace(second=0)
    if period == "minute":
        return moment
    moment = moment.replace(minute=0)
    if period == "hour":
        return moment
    moment = moment.replace(hour=0)
    if period == "day":
        return moment
    if period == "week":
        return moment - timedelta(days=moment.weekday())
    moment = moment.replace(day=1)
    if period == "month":
        return moment
    return moment.replace(month=1)


_Plan = _At | _After | _Every | _Series | _Cron | _Rule


# --- the schedule -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerSchedule:
    """When a timer falls due, read from its expression by `parse_timer`."""

    kind: TimerKind
    """timeDate, timeDuration or timeCycle."""
    text: str
    """The expression as given (stripped of surrounding white space)."""
    repetitions: int | None
    """How many times the timer fires at most: 1 for a date or duration, the count of a cycle
    (`R5/...`, an RRULE's COUNT), None when the cycle sets no count (it may still end: an end
    date, an RRULE's UNTIL; then `next_due` returns None)."""
    _plan: _Plan

    def first_due(self, now_ms: int) -> int | None:
        """When the timer first falls due, given the time it is created (epoch ms, UTC).

        A date: that instant, even if it has passed (the engine fires it at once). A duration:
        `now_ms` plus the duration. A cycle without a start (`R/PT10S`): `now_ms` plus one
        interval. A cycle with fixed occurrences (a start, cron, RRULE): the first occurrence at or
        after `now_ms`. None when there is no such occurrence.
        """
        try:
            return self._first_due(now_ms)
        except (ValueError, OverflowError, ArithmeticError) as exc:
            # a date past the year 9999, a cron or RRULE without an occurrence in reach
            # (croniter's and dateutil's errors are ValueErrors)
            raise TimerError(f"Expected {self.text!r} to fall due, but {exc}") from None

    def _first_due(self, now_ms: int) -> int | None:
        now = _from_ms(now_ms)
        plan = self._plan
        match plan:
            case _At(instant):
                return _to_ms(instant)
            case _After(span):
                return _to_ms(span.after(now))
            case _Every(span, end):
                due = span.after(now)
                return None if end is not None and due > end else _to_ms(due)
            case _Series() | _Cron() | _Rule():
                found = plan.first_at_or_after(now)
                return None if found is None else _to_ms(found)

    def next_due(self, previous_due_ms: int, fired_count: int) -> int | None:
        """When the timer falls due next, after it fired at `previous_due_ms` and has fired
        `fired_count` times in all (counting that firing).

        Always later than `previous_due_ms`; None when the timer is done: a date or duration after
        its one firing, a cycle once `fired_count` reaches its repetitions or past its end. For a
        cycle with fixed occurrences, occurrences that passed before the timer was created count
        against its repetitions too, as they are part of the series.
        """
        if fired_count < 0:
            raise ValueError(f"Expected fired_count >= 0, but got {fired_count}")
        if self.repetitions is not None and fired_count >= self.repetitions:
            return None
        try:
            return self._next_due(previous_due_ms)
        except (ValueError, OverflowError, ArithmeticError) as exc:
            raise TimerError(f"Expected {self.text!r} to fall due again, but {exc}") from None

    def _next_due(self, previous_due_ms: int) -> int | None:
        previous = _from_ms(previous_due_ms)
        plan = self._plan
        match plan:
            case _At() | _After():
                return None
            case _Every(span, end):
                due = span.after(previous)
                return None if end is not None and due > end else _to_ms(due)
            case _Series() | _Cron() | _Rule():
                found = plan.first_at_or_after(previous + _MS)
                return None if found is None else _to_ms(found)


# --- parsing -----------------------------------------------------------------------------------


def parse_timer(kind: TimerKind, text: str,
                bounds: TimerBounds = DEFAULT_BOUNDS, zone: tzinfo = UTC) -> TimerSchedule:
    """Read a timer expression of the given kind; raise `TimerError` saying what was expected
    (also for durations and cycles beyond `bounds`, and a cron or RRULE that never falls
    due). `zone` is where a date without an offset, a cron expression and an RRULE without a
    DTSTART are read (the triggers' `laneway:timezone`); the engine's timers read them in
    UTC."""
    text = text.strip()
    if kind is TimerKind.DATE:
        return TimerSchedule(kind, text, 1, _At(_parse_instant(text, zone)))
    if kind is TimerKind.DURATION:
        return TimerSchedule(kind, text, 1, _After(_parse_span(text, bounds)))
    if kind is TimerKind.CYCLE:
        return _parse_cycle(text, bounds, zone)
    raise TimerError(f"Expected a timer kind (timeDate, timeDuration, timeCycle), but got {kind!r}")


_REPEAT = re.compile(r"R(\d*)")


def _parse_cycle(text: str, bounds: TimerBounds, zone: tzinfo = UTC) -> TimerSchedule:
    upper = text.upper()
    if upper.startswith(("RRULE:", "DTSTART")):
        return _parse_rrule(text, zone)
    parts = text.split("/")
    if len(parts) >= 2 and _REPEAT.fullmatch(parts[0]):
        return _parse_repeating_interval(text, parts, bounds)
    if text.startswith("@") or len(text.split()) in (5, 6):
        return _parse_cron(text, zone)
    raise TimerError(f"Expected {_CYCLE_EXAMPLE}, but got {text!r}")


def _parse_repeating_interval(text: str, parts: list[str],
                              bounds: TimerBounds) -> TimerSchedule:
    def fail(reason: str) -> TimerError:
        return TimerError(
            f"Expected an ISO 8601 repeating interval such as 'R5/PT10S' or "
            f"'R3/2026-01-01T00:00:00Z/P1D', but got {text!r}: {reason}"
        )

    match = _REPEAT.fullmatch(parts[0])
    assert match is not None  # checked by the caller
    count = int(match.group(1)) if match.group(1) else None
    if count == 0:
        raise fail("it repeats zero times")
    if len(parts) > 3:
        raise fail("too many '/'")
    rest = parts[1:]
    if any(not part for part in rest):
        raise fail("an empty part")

    spans = [part for part in rest if part.startswith("P")]
    instants = [part for part in rest if not part.startswith("P")]
    if len(spans) > 1:
        raise fail("two durations")
    try:
        span = _parse_span(spans[0], bounds) if spans else None
        times = [_parse_instant(part) for part in instants]
    except TimerError as error:
        raise fail(str(error)) from None

    if span is None:
        # start/end: the interval is the time between them.
        if len(times) != 2:  # pragma: no cover - a lone instant is one part, caught above
            raise fail("no duration")
        start, end = times
        if end <= start:
            raise fail("the end is not after the start")
        span = _Span(0, end - start)
        plan: _Plan = _Series(start, span, count)
    else:
        if not span.is_positive():
            raise fail("the interval must be longer than zero")
        if not times:
            plan = _Every(span, None)
        elif not rest[0].startswith("P"):
            plan = _Series(times[0], span, count)  # start/duration
        else:
            plan = _Every(span, times[0])  # duration/end
    if span.months == 0 and span.exact < bounds.min_cycle:
        raise fail(f"it repeats more often than every {bounds.min_cycle.total_seconds():g} s")
    return TimerSchedule(TimerKind.CYCLE, text, count, plan)


# croniter reads 'H' (hashed) and 'R' (random) fields: a random schedule cannot be replayed.
_NONDETERMINISTIC_CRON = re.compile(r"(?<![A-Z])[HR](?![A-Z])")


def _parse_cron(text: str, zone: tzinfo = UTC) -> TimerSchedule:
    fields = text.split()
    seconds = len(fields) == 6
    failure = TimerError(
        f"Expected a cron expression with 5 fields such as '*/5 * * * *' or 6 fields with seconds "
        f"first such as '0 0 9 * * MON-FRI', but got {text!r}"
    )
    if _NONDETERMINISTIC_CRON.search(text.upper()):
        raise failure
    # Spring and Quartz (and so Camunda 8) write '?' for "no specific value".
    expression = " ".join("*" if field == "?" else field for field in fields)
    try:
        valid = croniter.is_valid(expression, second_at_beginning=seconds)
    except Exception:  # croniter raises assorted errors on odd input
        valid = False
    if not valid:
        raise failure
    try:
        croniter(expression, _SEARCH_FROM, second_at_beginning=seconds,
                 max_years_between_matches=_SEARCH_YEARS).get_next(datetime)
    except ValueError:  # croniter's CroniterBadDateError
        raise TimerError(f"Expected a cron expression that falls due, but {text!r} never "
                         f"does (none in {_SEARCH_YEARS} years)") from None
    return TimerSchedule(TimerKind.CYCLE, text, None, _Cron(expression, seconds, zone))


# where a cron expression is searched from when it is read
_SEARCH_FROM = datetime(2000, 1, 1, tzinfo=UTC)
# An RRULE is searched in the last years of the calendar: dateutil stops at the year 9999,
# which bounds the search without a hook into its loop.
_RULE_SEARCH_FROM = datetime(9999 - _SEARCH_YEARS + 1, 1, 1, tzinfo=UTC)
# what an RRULE's search leaves out: they bound a series, they do not make a date impossible
_RULE_BOUNDS = re.compile(r";?(COUNT|UNTIL|INTERVAL)=[^;]*", re.IGNORECASE)


_NAIVE_UNTIL = re.compile(r"(UNTIL=)(\d{8})(T\d{6})?(?!\d|Z)", re.IGNORECASE)


def _parse_rrule(text: str, zone: tzinfo = UTC) -> TimerSchedule:
    def fail(reason: str) -> TimerError:
        return TimerError(
            f"Expected an RRULE such as 'RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9', optionally after "
            f"a 'DTSTART:20260101T090000Z' line, but got {text!r}: {reason}"
        )

    dtstart: datetime | None = None
    rule: str | None = None
    for line in text.split():
        name, _, value = line.partition(":")
        key = name.split(";")[0].upper()
        if key == "DTSTART" and dtstart is None:
            dtstart = _parse_dtstart(name, value, fail, zone)
        elif key == "RRULE" and rule is None:
            rule = "RRULE:" + _NAIVE_UNTIL.sub(_until_in_utc, value)
        else:
            raise fail(f"unexpected {line!r}")
    if rule is None:
        raise fail("no RRULE line")

    try:
        parsed = rrulestr(rule, dtstart=dtstart or datetime(2000, 1, 3, tzinfo=zone))
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise fail(str(error) or type(error).__name__) from None
    if not isinstance(parsed, rrule):  # pragma: no cover
        raise fail("more than one rule")

    parts = dict(
        item.partition("=")[::2] for item in rule.removeprefix("RRULE:").upper().split(";")
    )
    if dtstart is None and ("COUNT" in parts or parts.get("INTERVAL", "1") != "1"):
        raise fail("COUNT and INTERVAL count from DTSTART, so they need a DTSTART line")
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    # 30 February: dateutil would walk every day up to the year 9999 looking for it
    unbounded = _RULE_BOUNDS.sub("", rule).replace("RRULE:;", "RRULE:")
    try:
        found = rrulestr(unbounded, dtstart=_RULE_SEARCH_FROM).after(_RULE_SEARCH_FROM,
                                                                     inc=True)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise fail(str(error) or type(error).__name__) from None
    if found is None:
        raise fail(f"it never falls due (no day in {_SEARCH_YEARS} years fits it)")
    period = _RRULE_PERIODS[parts["FREQ"]]  # rrulestr refused a rule without a valid FREQ
    interval = int(parts.get("INTERVAL", "1"))
    plan = _Rule(rule, dtstart, period, interval, counted=count is not None)
    return TimerSchedule(TimerKind.CYCLE, text, count, plan)


def _until_in_utc(match: re.Match[str]) -> str:
    # Naive means UTC here; dateutil wants UNTIL in UTC when DTSTART has a zone. A bare date
    # includes that whole day (RFC 5545).
    return f"{match.group(1)}{match.group(2)}{match.group(3) or 'T235959'}Z"


def _parse_dtstart(name: str, value: str, fail: Callable[[str], TimerError],
                   zone: tzinfo = UTC) -> datetime:
    for param in name.split(";")[1:]:
        key, _, param_value = param.partition("=")
        if key.upper() == "TZID":
            found = gettz(param_value)
            if found is None:
                raise fail(f"unknown time zone {param_value!r}")
            zone = found
    try:
        if value.upper().endswith("Z"):
            return datetime.strptime(value.upper(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if "T" in value.upper():
            return datetime.strptime(value.upper(), "%Y%m%dT%H%M%S").replace(tzinfo=zone)
        return datetime.strptime(value, "%Y%m%d").replace(tzinfo=zone)
    except ValueError:
        raise fail(f"DTSTART {value!r} is not a date-time such as 20260101T090000Z") from None
