"""Engine behaviour tests: a compact BPMN notation, a driver, and the determinism checks.

Every test gets its engine through the `run` fixture. When the test ends, each engine it used
is checked twice, so every behaviour test is also a determinism and replay test:

1. the commands it processed (follow-ups included, in order) are processed again by a fresh
   engine, and every emitted record must be identical byte for byte (`Record.to_json()`,
   taken the moment it was emitted, so a record changed later by shared state is caught too);
2. the events (kind EVENT), decoded from their JSON as a log reader would, are replayed
   through `apply_event` into a fresh `EngineState`, which must equal the live state; and each
   instance must survive a snapshot round trip (`InstanceState.from_dict`).

Notation: `run()` takes a process body (wrapped in `<definitions>` and `<process id="p">`
unless it has its own) in which a line `@ a -> b -> c` declares sequence flows `a_b` and
`b_c`, and `@ gw -> b : =x > 1` one flow with a condition. Elements starting with `<message `,
`<error `, `<signal ` or `<escalation ` (to their closing tag) move to the definitions level.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from xml.sax.saxutils import escape

import pytest

from laneway.bpmn import LANEWAY_NS, parse
from laneway.engine import DefinitionRepository, Engine, EngineState, InstanceState, apply_event
from laneway.engine.runner import Answers, LocalRunner, Outcome
from laneway.records import Command, Principal, Record, RecordKind

NAMESPACES = (
    'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    f'xmlns:laneway="{LANEWAY_NS}" '
    'xmlns:acme="http://acme.example/bpmn" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)
_HOISTED = ("<message ", "<error ", "<signal ", "<escalation ")
_FLOW_LINE = re.compile(r"^(\s*)@\s*(.+?)\s*$")


def _flows(line: str) -> str:
    match = _FLOW_LINE.match(line)
    if match is None:
        return line
    indent, spec = match.groups()
    condition = None
    if " : " in spec:
        spec, condition = spec.split(" : ", 1)
    nodes = [n.strip() for n in spec.split("->")]
    if condition is not None and len(nodes) != 2:
        raise ValueError(f"a condition needs exactly one flow: {line!r}")
    out = []
    for src, tgt in itertools.pairwise(nodes):
        body = ""
        if condition is not None:
            body = (f'<conditionExpression xsi:type="tFormalExpression">{escape(condition)}'
                    "</conditionExpression>")
        out.append(f'{indent}<sequenceFlow id="{src}_{tgt}" sourceRef="{src}" '
                   f'targetRef="{tgt}">{body}</sequenceFlow>')
    return "\n".join(out)


def document(xml: str, process_id: str = "p") -> str:
    """A whole BPMN document from the compact notation (a full document passes unchanged)."""
    if "<definitions" in xml:
        return xml
    hoisted: list[str] = []
    body: list[str] = []
    closing = ""
    for line in xml.splitlines():
        stripped = line.strip()
        if closing:
            hoisted.append(line)
            closing = "" if closing in stripped else closing
        elif stripped.startswith(_HOISTED):
            hoisted.append(line)
            tag = stripped[1:].split(" ", 1)[0]
            if not stripped.endswith("/>") and f"</{tag}>" not in stripped:
                closing = f"</{tag}>"
        else:
            body.append(_flows(line))
    text = "\n".join(body)
    if "<process" not in text:
        text = f'<process id="{process_id}" isExecutable="true">\n{text}\n</process>'
    head = "\n".join(hoisted)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions {NAMESPACES} id="defs" '
            f'targetNamespace="http://laneway.test">\n{head}\n{text}\n</definitions>')


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class Harness:
    """One engine with deployed diagrams, driven by commands; it remembers everything it
    processed and emitted for the determinism checks."""

    def __init__(self, *documents: str, prepare: Prepare | None = None,
                 partners: frozenset[str] | None = None) -> None:
        self.documents = documents
        self.prepare = prepare
        # user tasks are completed as a person who fits them (`fitting_principal`), named
        # `tester` unless the task is claimed or assigned
        self.runner = LocalRunner(_repository(documents, prepare), person="tester")
        # the partner agencies the engine can send to (None: any); a test may change it on
        # `runner.engine` (an engine restarted with other settings), the checks follow
        self.runner.engine.partners = partners
        self.processed: list[Record] = []
        # the engine's partners as each command was processed
        self.partners_at: list[frozenset[str] | None] = []
        # the first instance started
        self.iid = ""
        # (command json, [emitted record json...]) taken as each command was processed
        self.trace: list[tuple[str, list[str]]] = []
        engine = self.runner.engine
        process = engine.process

        def recording(cmd: Record) -> Any:
            result = process(cmd)
            self.processed.append(cmd)
            self.partners_at.append(engine.partners)
            self.trace.append((cmd.to_json(), [r.to_json() for r in result.events]
                               + [c.to_json() for c in result.commands]))
            return result

        engine.process = recording  # type: ignore[method-assign]

    # -- time ------------------------------------------------------------------------------

    @property
    def clock(self) -> int:
        """The timestamp the next command carries (epoch milliseconds)."""
        return self.runner.clock

    @clock.setter
    def clock(self, value: int) -> None:
        self.runner.clock = value

    # -- driving ---------------------------------------------------------------------------

    def start(self, process_id: str = "p", variables: Mapping[str, Any] | None = None, *,
              start_event_id: str | None = None) -> str:
        """Start an instance and run it until it waits."""
        iid = self.runner.start(process_id, variables, start_event_id=start_event_id)
        self.runner.drain()
        self.iid = self.iid or iid
        return iid

    def answer(self, iid: str, answers: Answers) -> Outcome:
        """Drive with the local runner's answers (timers fire at once in simulated time)."""
        return self.runner.run(iid, answers)

    def send(self, intent: Command, iid: str, value: Mapping[str, Any],
             at: int | None = None, *, principal: Principal | None = None) -> list[Record]:
        """Process one command and its follow-ups; the records they emitted. Without a
        principal it goes as the engine, or as a person fitting the task for a task command."""
        if at is not None:
            self.clock = at
        before = len(self.runner.records)
        self.runner.submit(intent, iid, value, principal=principal)
        self.runner.drain()
        return self.runner.records[before:]

    def job(self, element_id: str, iid: str | None = None) -> Record:
        """The latest JOB_CREATED for an element."""
        return self.last("JOB_CREATED", element_id, iid)

    def complete_job(self, element_id: str, variables: Mapping[str, Any] | None = None,
                     iid: str | None = None) -> list[Record]:
        job = self.job(element_id, iid)
        return self.send(Command.COMPLETE_JOB, job.instance_id,
                         {"jobKey": job.value["key"], "variables": dict(variables or {})})

    def fail_job(self, element_id: str, retries: int, message: str = "boom") -> list[Record]:
        job = self.job(element_id)
        return self.send(Command.FAIL_JOB, job.instance_id,
                         {"jobKey": job.value["key"], "retries": retries,
                          "errorMessage": message})

    def throw_error(self, element_id: str, code: str,
                    variables: Mapping[str, Any] | None = None) -> list[Record]:
        job = self.job(element_id)
        return self.send(Command.THROW_ERROR, job.instance_id,
                         {"jobKey": job.value["key"], "errorCode": code,
                          "variables": dict(variables or {})})

    def complete_task(self, element_id: str, variables: Mapping[str, Any] | None = None,
                      iid: str | None = None, *,
                      principal: Principal | None = None) -> list[Record]:
        """COMPLETE_USER_TASK of the element's latest task, as `principal` or else as a person
        who fits the task."""
        task = self.last("USER_TASK_CREATED", element_id, iid)
        return self.send(Command.COMPLETE_USER_TASK, task.instance_id,
                         {"taskKey": task.value["key"], "variables": dict(variables or {})},
                         principal=principal)

    def timer(self, element_id: str, iid: str | None = None) -> Record:
        """The latest TIMER_CREATED for a catch element."""
        found = [r for r in self.events("TIMER_CREATED", iid=iid)
                 if r.value["elementId"] == element_id]
        assert found, f"no timer was created for '{element_id}'"
        return found[-1]

    def fire_timer(self, element_id: str, at: int | None = None,
                   iid: str | None = None) -> list[Record]:
        """TRIGGER_TIMER at the timer's due time (or `at`)."""
        timer = self.timer(element_id, iid)
        return self.send(Command.TRIGGER_TIMER, timer.instance_id,
                         {"timerKey": timer.value["key"]},
                         at=timer.value["due"] if at is None else at)

    def publish(self, name: str, key: str = "", variables: Mapping[str, Any] | None = None,
                ttl: int = 0, message_id: str | None = None) -> list[Record]:
        value: dict[str, Any] = {"name": name, "correlationKey": key,
                                 "variables": dict(variables or {}), "ttl": ttl}
        if message_id is not None:
            value["messageId"] = message_id
        return self.send(Command.PUBLISH_MESSAGE, "", value)

    def broadcast(self, name: str, variables: Mapping[str, Any] | None = None) -> list[Record]:
        return self.send(Command.BROADCAST_SIGNAL, "", {"name": name,
                                                        "variables": dict(variables or {})})

    def cancel(self, iid: str) -> list[Record]:
        return self.send(Command.CANCEL_INSTANCE, iid, {})

    # -- looking at what happened ------------------------------------------------------------

    @property
    def records(self) -> list[Record]:
        return self.runner.records

    def events(self, intent: str | None = None, element_id: str | None = None, *,
               iid: str | None = None) -> list[Record]:
        """Emitted events (kind EVENT), filtered."""
        return [r for r in self.records if r.kind == RecordKind.EVENT
                and (intent is None or r.intent == intent)
                and (element_id is None or r.element_id == element_id)
                and (iid is None or r.instance_id == iid)]

    def last(self, intent: str, element_id: str, iid: str | None = None) -> Record:
        found = self.events(intent, element_id, iid=iid)
        assert found, f"no {intent} for '{element_id}'"
        return found[-1]

    def rejections(self) -> list[Record]:
        return [r for r in self.records if r.kind == RecordKind.REJECTION]

    def trail(self, *intents: str, iid: str | None = None) -> list[tuple[str, str]]:
        """(intent, element id) of the events with these intents, in order."""
        return [(r.intent, r.element_id) for r in self.events(iid=iid)
                if not intents or r.intent in intents]

    def activated(self, iid: str | None = None) -> list[str]:
        return [e for _, e in self.trail("ELEMENT_ACTIVATED", iid=iid)]

    def completed(self, iid: str | None = None) -> list[str]:
        return [e for _, e in self.trail("ELEMENT_COMPLETED", iid=iid)]

    def terminated(self, iid: str | None = None) -> list[str]:
        return [e for _, e in self.trail("ELEMENT_TERMINATED", iid=iid)]

    def taken(self, iid: str | None = None) -> list[str]:
        return [e for _, e in self.trail("SEQUENCE_FLOW_TAKEN", iid=iid)]

    def outcome(self, iid: str) -> Outcome:
        return self.runner.outcome(iid)

    def status(self, iid: str) -> str:
        return self.outcome(iid).status

    def variables(self, iid: str) -> dict[str, Any]:
        return self.outcome(iid).variables

    def instance_ids(self) -> list[str]:
        """Instances in the order they were started."""
        return list(dict.fromkeys(r.instance_id for r in self.events("ELEMENT_ACTIVATED")
                                  if r.element_type == "process"))

    # -- the checks --------------------------------------------------------------------------

    def verify(self) -> None:
        """Same commands, same records; replayed events, same state."""
        again = Engine(_repository(self.documents, self.prepare))
        for cmd, partners, (cmd_json, emitted) in zip(self.processed, self.partners_at,
                                                       self.trace, strict=True):
            assert cmd.to_json() == cmd_json
            again.partners = partners
            result = again.process(cmd)
            second = [r.to_json() for r in result.events] + [c.to_json() for c in result.commands]
            assert second == emitted, f"processing {cmd.intent} again gave other records"
        live = _json(self.runner.engine.state.to_dict())
        assert _json(again.state.to_dict()) == live, "a second run ended in another state"

        replayed = EngineState()
        for _, emitted in self.trace:
            for text in emitted:
                rec = Record.from_dict(json.loads(text))
                if rec.kind == RecordKind.EVENT:
                    apply_event(replayed, rec)
        assert _json(replayed.to_dict()) == live, "replaying the events gave another state"

        for inst in self.runner.engine.state.instances.values():
            snapshot = _json(inst.to_dict())
            assert _json(InstanceState.from_dict(snapshot).to_dict()) == snapshot


Prepare = Callable[[DefinitionRepository], None]


def _repository(documents: tuple[str, ...], prepare: Prepare | None = None) -> DefinitionRepository:
    """The documents deployed, or, with `prepare`, whatever it puts in an empty repository
    (versions loaded with personas, retired versions); the same for the determinism run."""
    repo = DefinitionRepository()
    if prepare is not None:
        prepare(repo)
        return repo
    for doc in documents:
        repo.deploy(parse(doc.encode(), "test.bpmn"))
    return repo


RunFn = Callable[..., Harness]


@pytest.fixture
def run() -> Iterator[RunFn]:
    """`run(xml, answers=None, *, variables=None, process="p", start=True, also=(),
    prepare=None, partners=None)`.

    Deploys `xml` (compact notation or a full document) and the documents in `also` (or lets
    `prepare` fill the repository), starts
    `process` unless `start` is false, and drives it with `answers` when given. The returned
    harness is checked for determinism and replay when the test ends.
    """
    made: list[Harness] = []

    def make(xml: str, answers: Answers | None = None, *,
             variables: Mapping[str, Any] | None = None, process: str = "p",
             start: bool = True, also: tuple[str, ...] = (),
             prepare: Prepare | None = None,
             partners: frozenset[str] | None = None) -> Harness:
        harness = Harness(document(xml), *(document(x) for x in also), prepare=prepare,
                          partners=partners)
        made.append(harness)
        if start:
            iid = harness.start(process, variables)
            if answers is not None:
                harness.answer(iid, answers)
        return harness

    yield make
    for harness in made:
        harness.verify()
