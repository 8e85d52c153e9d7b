"""One job, start to finish: claim it, run the connector with retries, backoff and a timeout,
and produce the commands that answer it.

- returns variables: COMPLETE_JOB {jobKey, variables};
- returns `Pending()`: no command; the job stays open for another party to answer (the
  `response` connector's answer comes through the triggers service). The outcome `PENDING`
  is stored in Redis, so a redelivered job is not run again;
- a decision job (a gateway's `laneway:decision="<type>"`: `decision: true` and `flows` in the
  JOB_CREATED value) returns a `Decision`: SUBMIT_DECISION {jobKey, flows, variables}. A
  decision naming a flow the gateway does not have (or not exactly one at an exclusive
  gateway), variables instead of a `Decision`, or a `BpmnError` (a gateway catches none) is
  FAIL_JOB with no retries: an incident that says so, never a command the engine would refuse
  while the instance waits for ever. A `Decision` for any other job is the same failure;
- an ad-hoc subprocess's decision job (`adHoc: true`, with its `activities`) returns a
  `Decision` naming activities: SUBMIT_DECISION {jobKey, activities, done, variables}. An
  unknown activity, one named twice, more than one when Sequential, or nothing while not
  done and nothing ran when the job was created is the same failure with no retries;
- raises BpmnError: THROW_ERROR {jobKey, errorCode, errorMessage, variables};
- raises JobFailed(retryable=False), or the attributes are malformed: FAIL_JOB {jobKey,
  retries: 0, errorMessage};
- fails retryably (JobFailed, a timeout, any other exception) with retries left: FAIL_JOB
  {jobKey, retries: <left>, errorMessage}, then the next attempt after the backoff;
  with none left: FAIL_JOB {jobKey, retries: 0, errorMessage}.

A notification job (`notification: true` in the JOB_CREATED value, e.g. the escalation of an
overdue user task through `laneway:escalationConnector`) runs the connector the same way, with
its retries, but produces no command at all: the engine waits for nothing, so there is nothing
to complete or fail (a FAIL_JOB would name a job the engine does not hold). Its outcome is still
stored in Redis, so a redelivered notification is not sent twice.

Every command carries the principal `agent` / `connector:<type>`; every message and value is
redacted of secrets.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import redis.exceptions

from laneway.codec import EncodeError, JobRecord, encode_record
from laneway.connectors import (
    AdHocActivity,
    BpmnError,
    Connector,
    ConnectorContext,
    Decision,
    DecisionFlow,
    Job,
    JobFailed,
    Pending,
    PolicyError,
    RetryPolicy,
    Secrets,
)
from laneway.limits import DEFAULT_MAX_VARIABLES_BYTES, variables_too_large
from laneway.records import Command, Principal, PrincipalKind, command
from services.connectors.idempotency import IdempotencyStore, idempotency_key
from services.connectors.metrics import ConnectorMetrics

_log = logging.getLogger("services.connectors")
_NAMESPACE = uuid.UUID("6f1c1e52-8a43-4c1a-9d63-2b6f0c7e9a11")
# The lease outlives an attempt by this much, so a slow answer does not hand the job over.
LEASE_MARGIN_S = 30.0
_STORE_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
# What Redis being away looks like: redis-py's own ConnectionError and TimeoutError derive from
# RedisError, not from the built-in ones (a server restart is "Connection closed by server").
_STORE_DOWN = (OSError, ConnectionError, TimeoutError, redis.exceptions.ConnectionError,
               redis.exceptions.TimeoutError)

NOTIFIED = "NOTIFIED"
"""What `execute` returns for a notification job the connector ran."""
NOTIFICATION_FAILED = "NOTIFICATION_FAILED"
"""What `execute` returns for a notification job whose connector failed for good."""
PENDING = "PENDING"
"""What `execute` returns for a job its connector left open (`Pending`)."""

Emit = Callable[[str, bytes], Awaitable[None]]
"""Produce an encoded command to `commands` with this key and wait until Kafka has it."""


class JobLog(logging.LoggerAdapter[logging.Logger]):
    """A logger that names the job and redacts secrets, tracebacks included."""

    def __init__(self, logger: logging.Logger, job: str, secrets: Secrets) -> None:
        super().__init__(logger, {})
        self._job = job
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Format, redact, then log (the record holds no unredacted arguments)."""
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            exc = exc_info if isinstance(exc_info, BaseException) else None
            lines = (traceback.format_exception(exc) if exc is not None
                     else traceback.format_exc().splitlines(keepends=True))
            text += "\n" + "".join(lines).rstrip()
        self.logger.log(level, "%s", self._secrets.redact(f"{self._job}: {text}"), **kwargs)


@dataclass(slots=True)
class Runtime:
    """What every job of one type shares in a worker."""

    connector: Connector
    secrets: Secrets
    http: httpx.AsyncClient
    store: IdempotencyStore
    emit: Emit
    slots: asyncio.Semaphore
    """Bounds the attempts running at once (not jobs waiting in a backoff)."""
    settings: Mapping[str, str] = field(default_factory=dict)
    max_variables_bytes: int = DEFAULT_MAX_VARIABLES_BYTES
    """A result larger (as JSON) fails the job: the engine would refuse it, and the instance
    would wait for an answer that never comes (`Settings.max_variables_bytes`)."""
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """Waits out a backoff (a test records the waits instead of taking them)."""
    metrics: ConnectorMetrics = field(default_factory=ConnectorMetrics.default)

    @property
    def principal(self) -> Principal:
        """`agent` / `connector:<type>`."""
        return Principal(PrincipalKind.AGENT, f"connector:{self.connector.type}")


def _scrub(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, str):
        return secrets.redact(value)
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return value


def _encode(rt: Runtime, record: JobRecord, intent: Command, value: dict[str, Any],
            attempt: int) -> bytes:
    """The command as bytes; its id is derived from the job record, intent and attempt, so a
    replay of the same outcome is the same record."""
    cmd = command(intent, record.instance_id, _scrub(value, rt.secrets),
                  record_id=str(uuid.uuid5(_NAMESPACE, f"{record.record_id}/{intent}/{attempt}")),
                  timestamp=int(rt.clock() * 1000), principal=rt.principal)
    cmd = replace(cmd, element_id=record.element_id, element_type=record.element_type,
                  token_id=record.token_id, scope_id=record.scope_id)
    return encode_record(cmd)


def is_notification(record: JobRecord) -> bool:
    """Whether the job only notifies: the engine expects no answer to it."""
    flag = record.extra.get("notification")
    return flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")


def _fail(record: JobRecord, retries: int, message: str) -> dict[str, Any]:
    return {"jobKey": record.key, "retries": retries, "errorMessage": message}


async def _patiently(what: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """Retry an infrastructure call (Redis) until it works: the job is not the one to
    blame, so this costs none of its retries; the health check reports the outage."""
    for attempt in range(10**9):
        try:
            return await call()
        except _STORE_DOWN as exc:
            delay = _STORE_RETRY_S[min(attempt, len(_STORE_RETRY_S) - 1)]
            _log.warning("%s failed (%s); again in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def is_decision(record: JobRecord) -> bool:
    """Whether a gateway waits on the job for a decision: marked `decision: true` by the
    engine, or (written before the mark) a `decision` job's flows and gateway type."""
    extra = record.extra
    return extra.get("decision") is True or ("flows" in extra and "gatewayType" in extra)


def decision_flows(record: JobRecord) -> tuple[DecisionFlow, ...]:
    """A decision job's flows as the engine listed them (entries without an id skipped)."""
    raw = record.extra.get("flows")
    out: list[DecisionFlow] = []
    for f in raw if isinstance(raw, list) else []:
        if not isinstance(f, dict) or not isinstance(f.get("id"), str):
            continue
        attrs = f.get("attributes")

        def text(key: str, f: dict[str, Any] = f) -> str | None:
            value = f.get(key)
            return value if isinstance(value, str) else None

        out.append(DecisionFlow(
            id=f["id"], name=text("name"), target=text("target") or "",
            target_name=text("targetName"), condition=text("condition"),
            default=f.get("default") is True,
            attributes={str(k): str(v) for k, v in attrs.items()}
            if isinstance(attrs, dict) else {}))
    return tuple(out)


def adhoc_activities(record: JobRecord) -> tuple[AdHocActivity, ...]:
    """An ad-hoc decision job's activities as the engine listed them (entries without an id
    skipped)."""
    raw = record.extra.get("activities")
    out: list[AdHocActivity] = []
    for a in raw if isinstance(raw, list) else []:
        if not isinstance(a, dict) or not isinstance(a.get("id"), str):
            continue
        attrs, runs = a.get("attributes"), a.get("runs")
        name, kind, doc = a.get("name"), a.get("kind"), a.get("documentation")
        out.append(AdHocActivity(
            id=a["id"], name=name if isinstance(name, str) else None,
            kind=kind if isinstance(kind, str) else "",
            attributes={str(k): str(v) for k, v in attrs.items()}
            if isinstance(attrs, dict) else {},
            documentation=doc if isinstance(doc, str) else None,
            runs=runs if isinstance(runs, int) and not isinstance(runs, bool) else 0))
    return tuple(out)


def _adhoc_fields(record: JobRecord) -> dict[str, Any]:
    """The `Job` fields of an ad-hoc subprocess's decision job (none for other jobs)."""
    extra = record.extra
    if extra.get("adHoc") is not True:
        return {}
    running, ordering = extra.get("running"), extra.get("ordering")
    decisions, most = extra.get("decisions"), extra.get("maxDecisions")
    condition = extra.get("completionCondition")
    return {
        "adhoc": True, "activities": adhoc_activities(record),
        "running": tuple(r for r in running if isinstance(r, str))
        if isinstance(running, list) else (),
        "ordering": ordering if isinstance(ordering, str) else None,
        "decisions": decisions if isinstance(decisions, int) else 0,
        "max_decisions": most if isinstance(most, int) else None,
        "completion_condition": condition if isinstance(condition, str) else None}


def _job(record: JobRecord, retries: int, attempt: int) -> Job:
    decision = is_decision(record)
    gateway = record.extra.get("gatewayType")
    return Job(instance_id=record.instance_id, key=record.key, element_id=record.element_id,
               element_name=record.element_name, type=record.type,
               attributes=dict(record.attributes), lane=record.lane, persona=record.persona,
               variables=dict(record.variables), headers=dict(record.headers),
               retries=retries, attempt=attempt, record_id=record.record_id,
               created_ms=record.timestamp,
               decision=decision, flows=decision_flows(record) if decision else (),
               gateway_type=gateway if decision and isinstance(gateway, str) else None,
               **(_adhoc_fields(record) if decision else {}))


def _answer(record: JobRecord, job: Job, result: Mapping[str, Any] | Decision
            ) -> tuple[Command, dict[str, Any]]:
    """The command that answers the job with the connector's result."""
    if not job.decision:
        if isinstance(result, Decision):
            return Command.FAIL_JOB, _fail(record, 0, (
                "Expected result variables, but the connector returned a Decision for a job "
                "that is not a gateway's decision"))
        return Command.COMPLETE_JOB, {"jobKey": record.key, "variables": dict(result)}
    if job.adhoc:
        return _adhoc_answer(record, job, result)
    if not isinstance(result, Decision):
        return Command.FAIL_JOB, _fail(record, 0, (
            f"Expected a Decision naming the flows of gateway '{record.element_id}' to take, "
            f"but the connector '{record.type}' returned variables; it cannot decide a "
            "gateway"))
    problem = decision_problem(job, result.flows)
    if problem is not None:
        return Command.FAIL_JOB, _fail(record, 0, problem)
    return Command.SUBMIT_DECISION, {"jobKey": record.key,
                                     "flows": list(dict.fromkeys(result.flows)),
                                     "variables": dict(result.variables)}


def decision_problem(job: Job, flows: Any) -> str | None:
    """Why `flows` cannot answer the decision job (unknown ids, none, several at an
    exclusive gateway), or None."""
    known = [f.id for f in job.flows]
    if isinstance(flows, str) or not isinstance(flows, list | tuple) or not flows:
        return (f"Expected a decision naming at least one flow of gateway "
                f"'{job.element_id}' ({', '.join(known)[:300]}), but it names none")
    unknown = [str(f)[:80] for f in flows if f not in known]
    if unknown:
        return (f"Expected flows of gateway '{job.element_id}' ({', '.join(known)[:300]}), "
                f"but the decision names {', '.join(unknown[:5])}")
    if not job.takes_many and len(set(flows)) != 1:
        return (f"Expected exactly one flow for exclusive gateway '{job.element_id}', but the "
                f"decision names {len(set(flows))}")
    return None


def _adhoc_answer(record: JobRecord, job: Job, result: Mapping[str, Any] | Decision
                  ) -> tuple[Command, dict[str, Any]]:
    """The command that answers an ad-hoc subprocess's decision job."""
    if not isinstance(result, Decision):
        return Command.FAIL_JOB, _fail(record, 0, (
            f"Expected a Decision naming the activities of ad-hoc subprocess "
            f"'{record.element_id}' to start, but the connector '{record.type}' returned "
            "variables; it cannot choose activities"))
    problem = adhoc_problem(job, result.activities, result.done, result.flows)
    if problem is not None:
        return Command.FAIL_JOB, _fail(record, 0, problem)
    return Command.SUBMIT_DECISION, {"jobKey": record.key,
                                     "activities": list(result.activities),
                                     "done": result.done is True,
                                     "variables": dict(result.variables)}


def adhoc_problem(job: Job, activities: Any, done: Any, flows: Any = ()) -> str | None:
    """Why a choice cannot answer the ad-hoc decision job (what the engine would refuse:
    flows, an unknown activity, one twice, several when Sequential, nothing while not done and
    nothing running), or None. `running` is as the job was created: a "wait" answer made
    while activities ran goes through even if they finished meanwhile (the engine accepts it
    in a Parallel subprocess and asks again)."""
    where = f"ad-hoc subprocess '{job.element_id}'"
    known = [a.id for a in job.activities]
    if flows:
        return f"Expected activities to start in {where}, but the decision names flows"
    if not isinstance(done, bool):
        return f"Expected done to be true or false in the choice for {where}"
    if isinstance(activities, str) or not isinstance(activities, list | tuple) or not all(
            isinstance(a, str) for a in activities):
        return f"Expected the activities to start in {where} as a list of ids"
    unknown = [a[:80] for a in activities if a not in known]
    if unknown:
        return (f"Expected activities of {where} that can be started "
                f"({', '.join(known)[:300] or 'none'}), but the decision names "
                f"{', '.join(unknown[:5])}")
    if len(set(activities)) != len(activities):
        return f"Expected each activity at most once in one choice for {where}"
    if job.sequential and len(activities) > 1:
        return (f"Expected at most one activity: {where} is sequential, but the decision "
                f"names {len(activities)}")
    if not activities and not done and (job.sequential or not job.running):
        return (f"Expected activities to start or done: true, since nothing runs in {where}, "
                "but the decision names none")
    return None


async def execute(record: JobRecord, rt: Runtime) -> str:
    """Answer one job; returns the intent of the final command."""
    kind = rt.connector.type
    log = JobLog(_log, f"job {record.instance_id}:{record.key} ({record.element_id})",
                 rt.secrets)
    notify = is_notification(record)
    try:
        policy = RetryPolicy.from_attributes(record.attributes, record.retries)
    except PolicyError as exc:
        if notify:
            log.error("notification not sent: %s", exc)
            return NOTIFICATION_FAILED
        await rt.emit(record.instance_id, _encode(rt, record, Command.FAIL_JOB,
                                                  _fail(record, 0, str(exc)), 0))
        return Command.FAIL_JOB.value
    key = idempotency_key(kind, record.instance_id, record.key)
    stored = await _patiently("claiming the job in Redis",
                              lambda: rt.store.claim(key, record.record_id, lease_s(policy)))
    if stored is not None:
        log.info("redelivered: answering with the stored result")
        rt.metrics.replayed.labels(kind).inc()
        if not notify and stored:
            await rt.emit(record.instance_id, stored)
        return "REPLAYED"
    try:
        intent, value, attempt = await _attempts(record, rt, policy, key, log, notify=notify)
    except asyncio.CancelledError:
        await asyncio.shield(rt.store.release(key, record.record_id))
        raise
    if intent is None:
        # left open (`Pending`): nothing to produce; the stored outcome (no command) keeps a
        # redelivery from running the connector again (sending a second link)
        log.info("left open for another party to answer")
        await _patiently("storing the outcome in Redis",
                         lambda: rt.store.finish(key, record.record_id, PENDING, b""))
        return PENDING
    if notify:
        # nothing to produce; the stored outcome (no command) keeps a redelivery from
        # notifying again
        outcome = NOTIFIED if intent is Command.COMPLETE_JOB else NOTIFICATION_FAILED
        if outcome == NOTIFICATION_FAILED:
            log.error("notification not sent after %d attempt(s): %s", attempt,
                      value.get("errorMessage", value.get("errorCode", "")))
        await _patiently("storing the outcome in Redis",
                         lambda: rt.store.finish(key, record.record_id, outcome, b""))
        return outcome
    too_large = variables_too_large(value, rt.max_variables_bytes)
    if too_large is not None:
        # a failure with no retries left: an incident an operator sees, not a silent wait
        intent, value = Command.FAIL_JOB, _fail(
            record, 0, f"Expected the connector's result to fit in a command, but {too_large}")
    try:
        data = _encode(rt, record, intent, value, attempt)
    except EncodeError as exc:
        intent = Command.FAIL_JOB
        data = _encode(rt, record, intent, _fail(
            record, 0, f"Expected the connector's result to be JSON-like, but {exc}"), attempt)
    # stored before it is produced: a worker dying in between replays it instead of re-running
    await _patiently("storing the result in Redis",
                     lambda: rt.store.finish(key, record.record_id, intent.value, data))
    await rt.emit(record.instance_id, data)
    return intent.value


async def _attempts(record: JobRecord, rt: Runtime, policy: RetryPolicy, key: str,
                    log: JobLog, *, notify: bool = False
                    ) -> tuple[Command | None, dict[str, Any], int]:
    """Run attempts until one answers; the final command's intent and value (None: the
    connector left the job open)."""
    kind = rt.connector.type
    remaining = policy.retries
    attempt = 0
    while True:
        attempt += 1
        hint: float | None = None
        ctx = ConnectorContext(secrets=rt.secrets, http=rt.http, log=log,
                               idempotency_key=f"{record.instance_id}:{record.key}",
                               timeout=policy.timeout_s, settings=rt.settings)
        job = _job(record, remaining, attempt)
        try:
            async with rt.slots:
                result = await asyncio.wait_for(rt.connector.run(job, ctx), policy.timeout_s)
            if isinstance(result, Pending):
                if notify:  # a notification has nothing to leave open: it is done
                    return Command.COMPLETE_JOB, {"jobKey": record.key, "variables": {}}, \
                        attempt
                return None, {}, attempt
            intent, value = _answer(record, job, result)
            return intent, value, attempt
        except BpmnError as exc:
            log.info("BPMN error %s: %s", exc.code, exc.message)
            if job.decision:
                # nothing catches an error thrown at a gateway: an incident says it
                what = ("the engine does not take as an ad-hoc subprocess's choice"
                        if job.adhoc else "a gateway cannot catch")
                return Command.FAIL_JOB, _fail(record, 0, (
                    f"The decision handler raised the BPMN error {exc.code}, which {what}: "
                    f"{exc.message}")), attempt
            return Command.THROW_ERROR, {"jobKey": record.key, "errorCode": exc.code,
                                         "errorMessage": exc.message,
                                         "variables": dict(exc.variables)}, attempt
        except JobFailed as exc:
            message, retryable = exc.message, exc.retryable
            hint = exc.retry_after_s
        except TimeoutError:
            message, retryable = (f"attempt {attempt} took longer than {policy.timeout_s:g}s "
                                  "(laneway:timeout)"), True
        except Exception as exc:  # a connector bug counts as a retryable failure
            log.warning("attempt %d raised", attempt, exc_info=exc)
            message, retryable = f"{type(exc).__name__}: {exc}", True
        rt.metrics.attempts_failed.labels(kind).inc()
        remaining = remaining - 1 if retryable else 0
        log.warning("attempt %d failed (%s retries left): %s", attempt, remaining, message)
        if remaining <= 0:
            return Command.FAIL_JOB, _fail(record, 0, message), attempt
        if not notify:
            await rt.emit(record.instance_id, _encode(rt, record, Command.FAIL_JOB,
                                                      _fail(record, remaining, message),
                                                      attempt))
        await rt.sleep(_wait(policy, attempt, hint))
        await _patiently("renewing the job's lease in Redis",
                         lambda: rt.store.renew(key, record.record_id, lease_s(policy)))


def _wait(policy: RetryPolicy, attempt: int, hint: float | None) -> float:
    """The backoff after attempt `attempt` failed, or the far side's asked-for wait when it is
    longer; never longer than the policy's longest backoff (a hostile `Retry-After: 1e9` must
    not park the job for ever) nor negative."""
    wait = policy.backoff(attempt)
    if hint is not None and math.isfinite(hint) and hint > wait:
        wait = min(hint, max(wait, policy.backoff_max_s))
    return wait


def lease_s(policy: RetryPolicy) -> float:
    """How long a worker's hold on a job lasts without renewal."""
    return policy.timeout_s + LEASE_MARGIN_S
