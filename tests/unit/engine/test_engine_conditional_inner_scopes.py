"""Conditional events of an OUTER element woken by a change made in an inner scope (BPMN
2.0.2 10.5.5: a condition is evaluated again when the data it reads changes).

A job result, a task's output mapping or a script inside a subprocess writes where results
go (the nearest scope that has the variable, else the process): when that is a scope the
waiting element sees, its condition is looked at again. A change it cannot see (a local of a
deeper scope) cannot change the condition's value, so it wakes nothing.
"""

from __future__ import annotations

from conftest import RunFn


def cond(expr: str) -> str:
    return ('<conditionalEventDefinition><condition xsi:type="tFormalExpression">'
            f"{expr}</condition></conditionalEventDefinition>")


def _boundary_on_sub(inner: str) -> str:
    return f"""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      {inner}
      <userTask id="wait_inside"/>
      <endEvent id="se"/>
    </subProcess>
    <boundaryEvent id="too_high" attachedToRef="sub">{cond("=level > 5")}</boundaryEvent>
    <task id="escalate"/>
    <task id="normal"/>
    <endEvent id="e"/><endEvent id="eb"/>
    @ s -> sub -> normal -> e
    @ too_high -> escalate -> eb
    """


def test_a_job_result_inside_a_subprocess_wakes_the_boundary_of_the_subprocess(
        run: RunFn) -> None:
    h = run(_boundary_on_sub("""
      <serviceTask id="measure"/>
      @ ss -> measure -> wait_inside -> se
    """), variables={"level": 1})
    assert "escalate" not in h.activated()
    h.complete_job("measure", {"level": 9})
    # the result went to the process (no scope had `level` nearer): the boundary event of the
    # enclosing subprocess sees it and interrupts
    assert h.variables(h.iid)["level"] == 9
    # the change is looked at before the task's token moves on: the subprocess is interrupted
    # before anything after the task starts
    assert h.terminated() == ["sub"]
    assert "wait_inside" not in h.activated()
    assert h.activated()[-2:] == ["escalate", "eb"]
    assert "normal" not in h.activated()
    assert h.status(h.iid) == "COMPLETED"


def test_an_inner_output_mapping_wakes_an_event_subprocess_of_the_process(run: RunFn) -> None:
    h = run(f"""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <serviceTask id="check">
        <extensionElements><zeebe:taskDefinition type="check"/>
          <zeebe:ioMapping><zeebe:output source="=score &lt; 3" target="alarm"/></zeebe:ioMapping>
        </extensionElements>
      </serviceTask>
      <userTask id="wait_inside"/>
      <endEvent id="se"/>
      @ ss -> check -> wait_inside -> se
    </subProcess>
    <endEvent id="e"/>
    @ s -> sub -> e
    <subProcess id="alarm_handler" triggeredByEvent="true">
      <startEvent id="hs" isInterrupting="false">{cond("=alarm = true")}</startEvent>
      <task id="notify"/>
      <endEvent id="he"/>
      @ hs -> notify -> he
    </subProcess>
    """, variables={"alarm": False})
    h.complete_job("check", {"score": 1})
    assert h.variables(h.iid)["alarm"] is True
    assert h.activated().count("notify") == 1
    # non-interrupting: the subprocess goes on
    assert h.terminated() == []
    h.complete_task("wait_inside")
    assert h.status(h.iid) == "COMPLETED"


def test_a_change_of_a_subprocess_local_wakes_its_own_boundary(run: RunFn) -> None:
    """`level` is local to the subprocess (its input mapping): the inner job's result goes
    there, and the subprocess's boundary event, which sees its locals, fires."""
    h = run(f"""
    <startEvent id="s"/>
    <subProcess id="sub">
      <extensionElements><zeebe:ioMapping>
        <zeebe:input source="=1" target="level"/>
      </zeebe:ioMapping></extensionElements>
      <startEvent id="ss"/>
      <serviceTask id="measure"/>
      <userTask id="wait_inside"/>
      <endEvent id="se"/>
      @ ss -> measure -> wait_inside -> se
    </subProcess>
    <boundaryEvent id="too_high" attachedToRef="sub">{cond("=level > 5")}</boundaryEvent>
    <task id="escalate"/>
    <endEvent id="e"/><endEvent id="eb"/>
    @ s -> sub -> e
    @ too_high -> escalate -> eb
    """)
    h.complete_job("measure", {"level": 9})
    assert "level" not in h.variables(h.iid)  # it stayed in the subprocess
    assert "escalate" in h.activated()
    assert h.terminated() == ["sub"]
    assert "wait_inside" not in h.activated()


def test_a_local_of_a_deeper_scope_wakes_nothing_it_cannot_see(run: RunFn) -> None:
    h = run(f"""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <subProcess id="deeper">
        <extensionElements><zeebe:ioMapping>
          <zeebe:input source="=1" target="level"/>
        </zeebe:ioMapping></extensionElements>
        <startEvent id="ds"/>
        <serviceTask id="measure"/>
        <userTask id="wait_inside"/>
        <endEvent id="de"/>
        @ ds -> measure -> wait_inside -> de
      </subProcess>
      <endEvent id="se"/>
      @ ss -> deeper -> se
    </subProcess>
    <boundaryEvent id="too_high" attachedToRef="sub">{cond("=level > 5")}</boundaryEvent>
    <task id="escalate"/>
    <endEvent id="e"/><endEvent id="eb"/>
    @ s -> sub -> e
    @ too_high -> escalate -> eb
    """, variables={"level": 1})
    h.complete_job("measure", {"level": 9})
    # `deeper` has its own `level`: the result went there, and the boundary of `sub` sees the
    # process's `level` (still 1)
    assert h.variables(h.iid)["level"] == 1
    assert "escalate" not in h.activated()
    h.complete_task("wait_inside")
    assert h.status(h.iid) == "COMPLETED"
