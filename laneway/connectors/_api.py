"""The plugin API: what a connector gets (`Job`, `ConnectorContext`), what it returns (result
variables, or a `Decision` for a gateway's or an ad-hoc subprocess's decision job), and the two
errors that tell the runtime what to do next (`BpmnError`, `JobFailed`)."""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from laneway.attributes import Attribute

if TYPE_CHECKING:
    import httpx

    from laneway.connectors._secrets import Secrets


@dataclass(frozen=True, slots=True)
class DecisionFlow:
    """One outgoing flow of a gateway whose decision job a connector answers."""

    id: str
    """The flow's id: what a `Decision` names."""
    name: str | None
    """The flow's `name` (what a person reads on the diagram: "Building permit")."""
    target: str
    """The id of the element the flow leads to."""
    target_name: str | None = None
    """That element's `name`, if any."""
    condition: str | None = None
    """The flow's condition as written, if any (the engine did not evaluate it)."""
    default: bool = False
    """Whether it is the gateway's default flow."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """The flow's extension attributes, verbatim."""


@dataclass(frozen=True, slots=True)
class AdHocActivity:
    """One inner activity an ad-hoc subprocess's decision job offers (one without incoming
    flows: a choice may start it)."""

    id: str
    """The activity's id: what a `Decision`'s `activities` name."""
    name: str | None = None
    """The activity's `name`, if any."""
    kind: str = ""
    """Its BPMN kind: `userTask`, `serviceTask`, `subProcess`, ..."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Its extension attributes, verbatim."""
    documentation: str | None = None
    """Its `documentation`, if any: what it is for, in the modeler's words."""
    runs: int = 0
    """How often it was started in this subprocess instance so far."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What a connector returns for a decision job (`job.decision`): at a gateway the flows to
    take, by id (exactly one for an exclusive gateway, at least one for an inclusive gateway);
    at an ad-hoc subprocess (`job.adhoc`) the `activities` to start now, in order, and whether
    no more are to be chosen (`done`); and variables to set (what was classified, what it
    cost). The runtime sends SUBMIT_DECISION; an answer the engine would refuse fails the
    job."""

    flows: Sequence[str] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)
    activities: Sequence[str] = ()
    """An ad-hoc subprocess's choice: the ids of the activities to start now, in order."""
    done: bool = False
    """An ad-hoc subprocess's choice: no more choices; it completes once what runs has
    finished."""


@dataclass(frozen=True, slots=True)
class Job:
    """One job handed to a connector: a service task (or send task, ...) waiting for it, or a
    gateway waiting for a decision (`decision`, with its `flows`), or an ad-hoc subprocess
    waiting for a choice of activities (`decision` and `adhoc`, with its `activities`)."""

    instance_id: str
    """The process instance the job belongs to (a UUID string)."""
    key: int
    """The job key: what COMPLETE_JOB / FAIL_JOB / THROW_ERROR name. Unique per instance; a job
    the engine creates again after an incident is resolved keeps its key."""
    element_id: str
    """The id of the BPMN element (the service task) in the diagram."""
    element_name: str | None
    """The element's `name`, when the diagram gives one."""
    type: str
    """The connector type (`http`, `email`, ...): the topic `jobs.<type>` it came from."""
    attributes: Mapping[str, str]
    """The element's extension attributes, verbatim: `{"laneway:url": "...", "acme:x": "..."}`."""
    lane: str | None
    """The name of the lane the element sits in, if any."""
    persona: str | None
    """The lane's persona (`laneway:persona`), if any."""
    variables: Mapping[str, Any]
    """The input variables: JSON-like values the engine handed over."""
    headers: Mapping[str, str]
    """Task headers (Zeebe's `taskHeaders`, and the like)."""
    retries: int
    """Retries left, this attempt included: at 1 a failure of this attempt raises an incident."""
    attempt: int = 1
    """Which attempt this is in the worker, from 1."""
    record_id: str = ""
    """The id of the JOB_CREATED record the job came from; a job created again after an
    incident has a new one."""
    created_ms: int = 0
    """The engine's timestamp of the JOB_CREATED record (epoch milliseconds; 0 when not
    known): the same instant the element's boundary timers count from, so a connector that
    must stop when such a timer fires (`response`) counts from it too."""
    decision: bool = False
    """Whether a gateway waits on this job for a decision (`laneway:decision="<type>"`): answer
    with a `Decision`, not with variables."""
    flows: tuple[DecisionFlow, ...] = ()
    """A decision job's outgoing flows, in the diagram's order; empty for other jobs."""
    gateway_type: str | None = None
    """A decision job's gateway kind: `exclusiveGateway` (take exactly one flow) or
    `inclusiveGateway` (take one or more)."""

    adhoc: bool = False
    """Whether an ad-hoc subprocess waits on this decision job: answer with a `Decision`
    naming `activities` (and `done`), not flows."""
    activities: tuple[AdHocActivity, ...] = ()
    """An ad-hoc decision job's activities that a choice may start, in the diagram's order."""
    running: tuple[str, ...] = ()
    """An ad-hoc decision job's inner elements running when the job was created (ids)."""
    ordering: str | None = None
    """An ad-hoc decision job's `ordering`: `Sequential` (one activity at a time) or
    `Parallel`."""
    decisions: int = 0
    """How many choices were made in the ad-hoc subprocess instance before this one."""
    max_decisions: int | None = None
    """The most choices the engine takes in one ad-hoc subprocess instance."""
    completion_condition: str | None = None
    """The ad-hoc subprocess's completion condition as written, if any."""

    @property
    def sequential(self) -> bool:
        """Whether an ad-hoc decision may start at most one activity."""
        return self.ordering == "Sequential"

    @property
    def takes_many(self) -> bool:
        """Whether the decision may name several flows (an inclusive gateway)."""
        return self.gateway_type == "inclusiveGateway"

    @property
    def idempotency_key(self) -> str:
        """`<instance id>:<job key>`: the same for every attempt and every redelivery of the
        job, so a far side that dedupes on it sees one request."""
        return f"{self.instance_id}:{self.key}"


class BpmnError(Exception):
    """A business error the diagram can catch (an error boundary event or an error event
    subprocess with `code`); the runtime sends THROW_ERROR. Uncaught, it becomes an incident.
    Never retried: the diagram decides what happens next."""

    def __init__(self, code: str, message: str = "",
                 variables: Mapping[str, Any] | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        """The BPMN error code the catching event matches on."""
        self.message = message
        """What went wrong, for people (goes to the audit log)."""
        self.variables: Mapping[str, Any] = dict(variables or {})
        """Variables to set where the error is caught."""


class JobFailed(Exception):
    """A technical failure. `retryable=True` (say, a timeout or a 503): the runtime tries again
    after the backoff while retries are left; `retryable=False` (a 400, a missing setting): it
    sends FAIL_JOB with no retries at once, which raises an incident for a person to resolve."""

    def __init__(self, message: str, *, retryable: bool = True,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        """What went wrong, for people (goes to the incident)."""
        self.retryable = retryable
        """Whether trying again may help."""
        self.retry_after_s = retry_after_s
        """How long the far side asked to wait (a 429's `Retry-After`): the next attempt comes
        no sooner, though never later than the element's longest backoff."""


@dataclass(frozen=True, slots=True)
class Pending:
    """What `run` returns instead of variables when the job stays open: the runtime sends no
    command (the offset is committed, the outcome stored so a redelivery does not run the
    connector again), and someone else answers the job later (the `response` connector: the
    outside party's answer, through the triggers service). A timer boundary event on the
    element is what ends a wait that gets no answer."""

    note: str = ""
    """Why the job waits, for the worker's log."""


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What the runtime lends a connector for one attempt of one job."""

    secrets: Secrets
    """Named secrets from the environment or mounted files (never from the diagram);
    `secrets.get("smtp")`. Their values are kept out of logs and failure messages."""
    http: httpx.AsyncClient
    """A shared HTTP client (connection pooling); pass `timeout=ctx.timeout` per request."""
    log: logging.LoggerAdapter[logging.Logger]
    """A logger that names the job and redacts secrets from what it writes."""
    idempotency_key: str
    """`<instance id>:<job key>`: pass it on to the far side (HTTP `Idempotency-Key`,
    e-mail `Message-ID`) so a repeated side effect can be recognised there."""
    timeout: float
    """Seconds this attempt may take (`laneway:timeout`); the runtime cancels it after that."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """This connector type's own settings: `LANEWAY_CONNECTOR_<TYPE>_<NAME>` environment
    variables, keyed by `<name>` in lower case."""

    def redact(self, text: str) -> str:
        """`text` with every secret value looked up so far replaced by `***`."""
        return self.secrets.redact(text)


class Connector(abc.ABC):
    """A connector: one `type`, one `run`. Subclass it in your own package and register the
    class under the entry point group `laneway.connectors` with the type as the name.

    The runtime makes one instance per process (a no-argument constructor) and calls `run`
    concurrently for many jobs: keep per-job state in locals, not on `self`.
    """

    type: str = ""
    """The connector type: jobs on `jobs.<type>` come here."""

    attributes: tuple[Attribute, ...] = ()
    """The `laneway:` attributes it reads (laneway/attributes.py): checked at deploy and made
    into its Camunda Modeler element template (`laneway templates`)."""

    @abc.abstractmethod
    async def run(self, job: Job, ctx: ConnectorContext
                  ) -> Mapping[str, Any] | Decision | Pending:
        """Do the job's side effect and return the result variables (JSON-like values),
        `Pending()` to leave the job open for another party to answer, or, for a decision
        job (`job.decision`), a `Decision` naming the flows to take (or, for an ad-hoc
        subprocess's, `job.adhoc`, the activities to start and whether it is done).

        Raise `BpmnError` for a business outcome the diagram handles, `JobFailed` for a
        technical failure. Any other exception counts as a retryable failure. (A gateway
        catches no BPMN error: on a decision job one becomes a failure with no retries.)
        """

    async def close(self) -> None:  # noqa: B027 -- optional hook, empty by design
        """Release what the connector holds; called once when the worker stops."""
