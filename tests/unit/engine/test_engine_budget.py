"""The work budget of one command (laneway/engine/limits.py): a diagram that would make one
command run without end ends in a BUDGET_EXCEEDED incident on its instance, with nothing of
the runaway kept, while other instances on the same engine go on."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from conftest import Harness, RunFn

from laneway.engine.limits import Limits
from laneway.engine.runner import LocalRunner
from laneway.records import Command, RecordKind
from laneway.settings import SettingsError
from services.engine.settings import load_settings

# a second process on the same engine, which must complete after the runaway
OTHER = """
<process id="q" isExecutable="true">
  <startEvent id="qs"/><task id="qt"/><endEvent id="qe"/>
  @ qs -> qt -> qe
</process>
"""

TASK_LOOP = """
<startEvent id="s"/><task id="a"/><task id="b"/>
@ s -> a -> b -> a
"""

FORK_LOOP = """
<startEvent id="s"/><parallelGateway id="fork"/><exclusiveGateway id="merge"/>
<task id="a"/><task id="b"/>
@ s -> merge -> fork -> a -> merge
@ fork -> b -> merge
"""


def _runaway_ends_in_incident(h: Harness, seconds: float = 10.0) -> None:
    """The first instance holds only its budget incident; the second one completes."""
    inst = h.runner.instance(h.iid)
    assert inst is not None
    assert [i.error_type for i in inst.incidents.values()] == ["BUDGET_EXCEEDED"]
    # nothing of the runaway was kept: no token, no event after the incident
    assert list(inst.elements) == [inst.root_key]
    emitted = h.events(iid=h.iid)
    assert emitted[-1].intent == "INCIDENT_CREATED"
    assert len(emitted) < 10
    started = time.monotonic()
    other = h.start("q")
    assert h.status(other) == "COMPLETED"
    assert time.monotonic() - started < seconds


def test_a_loop_of_plain_tasks_ends_in_an_incident(run: RunFn) -> None:
    started = time.monotonic()
    h = run(TASK_LOOP, also=(OTHER,))
    assert time.monotonic() - started < 10
    _runaway_ends_in_incident(h)
    assert "events" in next(iter(h.runner.instance(h.iid).incidents.values())).message  # type: ignore[union-attr]


def test_a_fork_looping_into_its_merge_ends_in_an_incident(run: RunFn) -> None:
    h = run(FORK_LOOP, also=(OTHER,))
    _runaway_ends_in_incident(h)


def test_a_runaway_after_a_wait_keeps_the_instance_as_it_was(run: RunFn) -> None:
    # the runaway starts with the task's completion: the instance stays at the task
    h = run("""
    <startEvent id="s"/><userTask id="u"/><task id="a"/><task id="b"/>
    @ s -> u -> a -> b -> a
    """, also=(OTHER,))
    h.complete_task("u")
    inst = h.runner.instance(h.iid)
    assert inst is not None
    assert [e.element_id for e in inst.elements.values()] == ["p", "u"]
    assert len(inst.user_tasks) == 1
    assert [i.error_type for i in inst.incidents.values()] == ["BUDGET_EXCEEDED"]
    assert h.status(h.start("q")) == "COMPLETED"


def test_a_budget_incident_cannot_be_retried_but_the_instance_can_be_cancelled(
        run: RunFn) -> None:
    h = run(TASK_LOOP)
    inst = h.runner.instance(h.iid)
    assert inst is not None
    key = next(iter(inst.incidents))
    out = h.send(Command.RESOLVE_INCIDENT, h.iid, {"incidentKey": key})
    assert [r.kind for r in out] == [RecordKind.REJECTION]
    assert "cancel the instance" in out[0].value["reason"]
    h.cancel(h.iid)
    assert h.status(h.iid) == "TERMINATED"


def test_a_quantifier_over_a_huge_range_is_an_incident(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><exclusiveGateway id="g"/><endEvent id="e"/><endEvent id="f"/>
    @ s -> g
    @ g -> e : =some x in 1..1000000000 satisfies x < 0
    @ g -> f : =every x in 1..1000000000 satisfies x > 0
    """, also=(OTHER,))
    inst = h.runner.instance(h.iid)
    assert inst is not None
    assert [i.error_type for i in inst.incidents.values()] == ["CONDITION_ERROR"]
    assert h.status(h.start("q")) == "COMPLETED"


def test_a_memory_bomb_expression_is_an_incident_at_once(run: RunFn) -> None:
    # 90,000 copies of a string of 600,000 characters would ask for 54 GB
    started = time.monotonic()
    h = run("""
    <startEvent id="s"/>
    <task id="t">
      <extensionElements><zeebe:ioMapping>
        <zeebe:input source='=count(for i in 1..90000 return big + "b")' target="n"/>
      </zeebe:ioMapping></extensionElements>
    </task>
    <endEvent id="e"/>
    @ s -> t -> e
    """, variables={"big": "a" * 600_000}, also=(OTHER,))
    assert time.monotonic() - started < 10
    inst = h.runner.instance(h.iid)
    assert inst is not None
    incidents = list(inst.incidents.values())
    assert [i.error_type for i in incidents] == ["IO_MAPPING_ERROR"]
    assert "too many steps" in incidents[0].message
    assert h.status(h.start("q")) == "COMPLETED"


def test_nested_multi_instance_from_start_variables_ends_in_an_incident(run: RunFn) -> None:
    # 300 x 300 inner instances at once: 90,000 elements from one command
    started = time.monotonic()
    h = run("""
    <startEvent id="s"/>
    <subProcess id="outer">
      <multiInstanceLoopCharacteristics>
        <loopCardinality>=n</loopCardinality>
      </multiInstanceLoopCharacteristics>
      <startEvent id="is"/>
      <task id="inner">
        <multiInstanceLoopCharacteristics>
          <loopCardinality>=n</loopCardinality>
        </multiInstanceLoopCharacteristics>
      </task>
      <userTask id="wait"/>
      @ is -> inner -> wait
    </subProcess>
    <endEvent id="e"/>
    @ s -> outer -> e
    """, variables={"n": 300}, also=(OTHER,))
    assert time.monotonic() - started < 20
    _runaway_ends_in_incident(h)


def test_a_cardinality_beyond_the_bound_is_an_incident_before_anything_is_made(
        run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="each">
      <multiInstanceLoopCharacteristics>
        <loopCardinality>=n</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </task>
    <endEvent id="e"/>
    @ s -> each -> e
    """, variables={"n": 10**12}, also=(OTHER,))
    inst = h.runner.instance(h.iid)
    assert inst is not None
    incidents = list(inst.incidents.values())
    assert [i.error_type for i in incidents] == ["EXTRACT_VALUE_ERROR"]
    assert "at most 10000 instances" in incidents[0].message
    assert h.status(h.start("q")) == "COMPLETED"


def test_a_process_that_calls_itself_stops_at_the_call_depth(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><callActivity id="again" calledElement="p"/><endEvent id="e"/>
    @ s -> again -> e
    """, also=(OTHER,))
    # the root and 32 levels of children; the deepest holds the incident instead of a 34th
    instances = h.instance_ids()
    assert len(instances) == 33
    deepest = h.runner.instance(instances[-1])
    assert deepest is not None
    assert deepest.parent is not None
    assert deepest.parent.depth == 32
    incidents = list(deepest.incidents.values())
    assert [i.error_type for i in incidents] == ["CALLED_ELEMENT_ERROR"]
    assert "at most 32 deep" in incidents[0].message
    assert h.status(h.start("q")) == "COMPLETED"


def test_the_limits_are_engine_service_settings() -> None:
    defaults = load_settings({}).limits
    assert (defaults.max_events, defaults.max_call_depth) == (10_000, 32)
    limits = load_settings({
        "LANEWAY_ENGINE_MAX_EVENTS": "500", "LANEWAY_ENGINE_MAX_STEPS": "600",
        "LANEWAY_ENGINE_MAX_SECONDS": "0.5", "LANEWAY_ENGINE_MAX_CALL_DEPTH": "4",
        "LANEWAY_ENGINE_MAX_INSTANCES_PER_ELEMENT": "50",
        "LANEWAY_ENGINE_MAX_TIMER_YEARS": "2", "LANEWAY_ENGINE_MIN_TIMER_CYCLE_MS": "60000",
    }).limits
    assert (limits.max_events, limits.max_steps, limits.max_seconds) == (500, 600, 0.5)
    assert (limits.max_call_depth, limits.max_instances_per_element) == (4, 50)
    assert limits.timers.max_years == 2
    assert limits.timers.min_cycle == timedelta(minutes=1)
    with pytest.raises(SettingsError):
        load_settings({"LANEWAY_ENGINE_MAX_EVENTS": "0"})


def test_smaller_limits_stop_a_runaway_sooner(run: RunFn) -> None:
    h = run(TASK_LOOP, start=False)
    runner = LocalRunner(h.runner.engine.repository, limits=Limits(max_events=50))
    iid = runner.start("p")
    runner.drain()
    inst = runner.instance(iid)
    assert inst is not None
    [incident] = inst.incidents.values()
    assert "more than 50 events" in incident.message
