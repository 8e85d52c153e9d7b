"""The generic scheduler: lease the schedules that are due, call their trigger's poll, start
one instance per new item, then save the cursor.

One poll, in order:
1. the schedule is leased to this replica (`ScheduleStore.claim_due`, `FOR UPDATE SKIP
   LOCKED`): two replicas never poll it at once while the lease holds;
2. the plugin's `poll(cursor, credentials)` runs, bounded by `poll_timeout_s`;
3. on a schedule's first poll under `skip-existing` the items are dropped (only the cursor
   counts); items whose dedup key already fired are dropped;
4. the START_INSTANCE commands are produced and Kafka's acknowledgement awaited;
5. the fires and the cursor are saved in one transaction, while the lease is still ours;
6. the plugin's `acknowledged` runs (mark mails seen, move files).
A crash anywhere before 5 polls again from the old cursor; the items then give the same
instance ids and the engine refuses the ones it already started. A failed poll backs off
(doubling from `backoff_s` to `max_backoff_s`) and records its error; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import httpx

from laneway.connectors import Secrets
from laneway.publisher import Publisher, PublishError
from laneway.triggers import (
    DiscoveredTriggers,
    PollRequest,
    PollResult,
    Schedule,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
    interval_ms,
)
from services.triggers import starts
from services.triggers.credentials import CredentialsUnavailable, Vault
from services.triggers.metrics import TriggersMetrics
from services.triggers.settings import TriggersSettings
from services.triggers.store import Row, ScheduleStore, utc

_log = logging.getLogger(__name__)


class NotPolled(Exception):
    """A fire-now for a schedule that cannot be polled now (not polled, retired, or leased by
    another replica)."""


def schedule_of(row: Row) -> Schedule:
    """What the plugin sees of a stored schedule."""
    return Schedule(id=row.id, type=row.type, process_id=row.process_id, version=row.version,
                    start_event_id=row.start_event_id, settings=dict(row.settings),
                    attributes=dict(row.attributes), timer=row.timer,
                    created_ms=int(row.created_at.timestamp() * 1000))


class Scheduler:
    """Runs the polls of one replica on its own asyncio loop (a thread of the service)."""

    def __init__(self, settings: TriggersSettings, store: ScheduleStore, vault: Vault,
                 installed: DiscoveredTriggers, publisher: Publisher, secrets: Secrets,
                 metrics: TriggersMetrics, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.vault = vault
        self.installed = installed
        self.publisher = publisher
        self.secrets = secrets
        self.metrics = metrics
        self.wake = threading.Event()
        self._env = dict(environ or {})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self._running: set[str] = set()
        self.last_tick = time.monotonic()
        self.error: str | None = None

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll due schedules until `stop` is set."""
        asyncio.run(self._main(stop))

    async def _main(self, stop: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Any]] = set()
        async with httpx.AsyncClient(follow_redirects=False) as http:
            self._http = http
            while not stop.is_set():
                self.last_tick = time.monotonic()
                free = self.settings.concurrency - len(self._running)
                if free > 0:
                    try:
                        rows = await asyncio.to_thread(
                            self.store.claim_due, self.settings.replica,
                            self.settings.lease_s, free)
                        self.error = None
                    except Exception as exc:  # the database is away: try again next tick
                        self.error = f"claiming due schedules failed: {exc}"
                        _log.error("%s", self.error)
                        rows = []
                    for row in rows:
                        if row.id in self._running:
                            continue
                        self._running.add(row.id)
                        task = asyncio.create_task(self._guarded(row))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                await asyncio.to_thread(self.wake.wait, self.settings.tick_s)
                self.wake.clear()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for trigger in self.installed.triggers.values():
                try:
                    await trigger.close()
                except Exception:
                    _log.exception("closing trigger %s", trigger.type)

    async def _guarded(self, row: Row, manual: bool = False,
                       requested_by: str | None = None) -> list[str]:
        try:
            return await self.poll(row, manual=manual, requested_by=requested_by)
        except asyncio.CancelledError:
            await asyncio.to_thread(self.store.release, row.id, self.settings.replica)
            raise
        except Exception:  # a bug must not stop the loop; the lease runs out
            _log.exception("polling schedule %s failed", row.id)
            return []
        finally:
            self._running.discard(row.id)

    def fire_now(self, schedule_id: str, requested_by: str, timeout_s: float) -> list[str]:
        """Poll one schedule at once (an operator's "fire now"), from a route's thread; the
        instance ids it started. Raises NotPolled when it cannot be polled now."""
        loop = self._loop
        if loop is None:
            raise NotPolled("Expected the scheduler to run, but it is still starting")

        async def go() -> list[str]:
            rows = await asyncio.to_thread(self.store.claim_due, self.settings.replica,
                                           self.settings.lease_s, 1, schedule_id)
            if not rows or schedule_id in self._running:
                raise NotPolled("Expected the schedule to be free to poll, but it is retired, "
                                "not polled, or being polled now: retry shortly")
            self._running.add(schedule_id)
            return await self._guarded(rows[0], manual=True, requested_by=requested_by)

        future: Future[list[str]] = asyncio.run_coroutine_threadsafe(go(), loop)
        return future.result(timeout=timeout_s)

    # --- one poll ----------------------------------------------------------------------------

    def _context(self, row: Row) -> TriggerContext:
        assert self._http is not None
        prefix = "LANEWAY_TRIGGER_" + row.type.upper().replace("-", "_") + "_"
        own = {k[len(prefix):].lower(): v for k, v in self._env.items() if k.startswith(prefix)}
        return TriggerContext(
            secrets=self.secrets, http=self._http,
            log=logging.LoggerAdapter(logging.getLogger(f"laneway.triggers.{row.type}"),
                                      {"schedule": row.id}),
            timeout=self.settings.poll_timeout_s,
            data_dir=self.settings.data_dir / row.id, settings=own)

    def _interval_ms(self, row: Row, trigger: Trigger) -> int:
        raw = row.settings.get("interval")
        if raw is not None:
            try:
                return interval_ms(raw)
            except ValueError:
                pass  # refused at deploy; a stored one that no longer reads falls back
        return trigger.default_interval_ms

    async def poll(self, row: Row, *, manual: bool = False,
                   requested_by: str | None = None) -> list[str]:
        """Poll `row` (leased to this replica) once; the instance ids started."""
        started_at = time.monotonic()
        labels = (row.type, row.id)
        self.metrics.polls.labels(*labels).inc()
        trigger = self.installed.triggers.get(row.type)
        if trigger is None:
            why = self.installed.errors.get(row.type, "no trigger of that type is installed")
            await self._failed(row, f"Expected a trigger of type '{row.type}', but {why}",
                               retryable=False)
            return []
        try:
            credentials = await asyncio.to_thread(self.vault.open, row.id, row.credentials)
        except CredentialsUnavailable as exc:
            await self._failed(row, str(exc), retryable=False)
            return []
        now_ms = int(time.time() * 1000)
        request = PollRequest(schedule_of(row), row.cursor if row.polled_once else None,
                              credentials, now_ms, manual)
        ctx = self._context(row)
        try:
            result = await asyncio.wait_for(trigger.poll(request, ctx),
                                            self.settings.poll_timeout_s)
            self._check_result(result)
        except TriggerFailed as exc:
            await self._failed(row, self.secrets.redact(exc.message), retryable=exc.retryable)
            return []
        except TimeoutError:
            await self._failed(row, f"Expected the poll to finish within "
                                    f"{self.settings.poll_timeout_s:.0f}s, but it did not",
                               retryable=True)
            return []
        except Exception as exc:
            await self._failed(row, self.secrets.redact(f"{type(exc).__name__}: {exc}"),
                               retryable=True)
            return []
        items = list(result.items)
        policy = row.settings.get("initial", trigger.initial)
        if not row.polled_once and policy == "skip-existing" and not manual:
            items = []  # the first poll only records where things are
        try:
            planned = await asyncio.to_thread(self._plan, row, items, now_ms, requested_by)
            await asyncio.to_thread(starts.send, self.publisher, planned)
        except PublishError as exc:
            await self._failed(row, str(exc), retryable=True)
            return []
        next_ms = (now_ms if result.more else result.next_poll_ms
                   if result.next_poll_ms is not None else now_ms + self._interval_ms(row, trigger))
        saved = await asyncio.to_thread(
            self.store.save_poll, row, self.settings.replica,
            [p.fire(requested_by) for p in planned], result.cursor, utc(next_ms / 1000))
        started = [p for p in planned if p.record is not None]
        self.metrics.fires.labels(*labels).inc(len(started))
        refused = [p for p in planned if p.refused is not None]
        if refused:
            self.metrics.refused.labels(*labels).inc(len(refused))
            for p in refused:
                await asyncio.to_thread(self.store.record_error, row.id,
                                        f"item {p.item.dedup_key[:200]!r}: {p.refused}",
                                        self.settings.errors_kept)
        self.metrics.poll_seconds.labels(row.type).observe(time.monotonic() - started_at)
        if not saved:
            _log.warning("schedule %s: the lease ran out during the poll; the cursor is left "
                         "to the replica that holds it", row.id)
            return [p.instance_id for p in started]
        if started:
            _log.info("schedule %s (%s, %s) started %d instance(s)", row.id, row.type,
                      row.process_id, len(started))
            try:
                await asyncio.wait_for(
                    trigger.acknowledged(request, [p.item for p in started], ctx),
                    self.settings.poll_timeout_s)
            except Exception as exc:  # the instances are started; only the tidy-up failed
                message = self.secrets.redact(f"after the starts: {type(exc).__name__}: {exc}")
                _log.warning("schedule %s: %s", row.id, message)
                await asyncio.to_thread(self.store.record_error, row.id, message,
                                        self.settings.errors_kept)
        return [p.instance_id for p in started]

    def _check_result(self, result: PollResult) -> None:
        if not isinstance(result, PollResult):
            raise TriggerFailed(f"Expected the poll to return a PollResult, but it returned "
                                f"{type(result).__name__}", retryable=False)
        if len(result.items) > self.settings.max_items:
            raise TriggerFailed(f"Expected at most {self.settings.max_items} items from one "
                                f"poll, but it returned {len(result.items)}: return "
                                "fewer with more=True")
        for item in result.items:
            if not isinstance(item, TriggerItem):
                raise TriggerFailed(f"Expected TriggerItems, but got {type(item).__name__}",
                                    retryable=False)
            reason = starts.check_key(item.dedup_key)
            if reason is not None:
                raise TriggerFailed(reason, retryable=False)

    def _plan(self, row: Row, items: Sequence[TriggerItem], now_ms: int,
              requested_by: str | None) -> list[starts.Planned]:
        keys: dict[str, TriggerItem] = {}
        for item in items:  # the same key twice in one poll is one item
            keys.setdefault(item.dedup_key, item)
        fired = self.store.fired_keys(row.id, keys)
        if fired:
            self.metrics.duplicates.labels(row.type, row.id).inc(len(fired))
        return [starts.plan(row, item, self.publisher, now_ms, requested_by)
                for key, item in keys.items() if key not in fired]

    async def _failed(self, row: Row, message: str, *, retryable: bool) -> None:
        self.metrics.poll_errors.labels(row.type, row.id).inc()
        failures = row.failures + 1
        base = self.settings.backoff_s * 2 ** min(failures - 1, 20)
        wait = min(base, self.settings.max_backoff_s) if retryable else self.settings.max_backoff_s
        _log.warning("schedule %s (%s) failed (%d in a row, next in %.0fs): %s", row.id,
                     row.type, failures, wait, message)
        await asyncio.to_thread(self.store.record_failure, row, self.settings.replica, message,
                                utc(time.time()) + timedelta(seconds=wait),
                                self.settings.errors_kept)

    def health(self) -> str | None:
        if self.error is not None:
            return self.error
        return self.live()

    def live(self) -> str | None:
        """None while the scheduler ticks (a database that refuses does not stop it)."""
        if time.monotonic() - self.last_tick > max(30.0, 10 * self.settings.tick_s):
            return "the scheduler has not ticked for 30 s"
        return None
