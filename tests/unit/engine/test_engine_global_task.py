"""A call activity that calls a global task of its file (BPMN 2.0.2, 10.3.6 "Call
Activity": it may call a process or a global task) runs that task in its place, with the
call activity's id, flows and boundary events."""

from __future__ import annotations

from conftest import RunFn, document

GLOBALS = """
<globalScriptTask id="double" name="Double">
  <extensionElements><zeebe:script expression="=n * 2" resultVariable="n"/></extensionElements>
</globalScriptTask>
<globalUserTask id="approve" name="Approve"/>
<globalTask id="nothing"/>
"""


def with_globals(body: str) -> str:
    return document(body).replace('<process id="p"', GLOBALS + '<process id="p"', 1)


def test_a_called_global_user_task_runs_as_a_user_task(run: RunFn) -> None:
    h = run(with_globals("""
    <startEvent id="s"/>
    <callActivity id="call" calledElement="approve"/>
    <callActivity id="pass" calledElement="nothing"/>
    <endEvent id="e"/>
    @ s -> call -> pass -> e
    """))
    task = h.last("USER_TASK_CREATED", "call")
    assert task.element_type == "userTask"
    assert h.status(h.iid) == "WAITING"
    h.complete_task("call", {"ok": True})
    assert h.activated() == ["p", "s", "call", "pass", "e"]
    assert h.variables(h.iid) == {"ok": True}
    assert h.status(h.iid) == "COMPLETED"


def test_a_called_global_script_task_runs_its_script(run: RunFn) -> None:
    h = run(with_globals("""
    <startEvent id="s"/>
    <callActivity id="call" calledElement="double"/>
    <endEvent id="e"/>
    @ s -> call -> e
    """), variables={"n": 4})
    assert h.last("ELEMENT_ACTIVATED", "call").element_type == "scriptTask"
    assert h.variables(h.iid) == {"n": 8}
    assert h.status(h.iid) == "COMPLETED"
