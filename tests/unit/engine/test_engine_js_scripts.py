"""JavaScript script tasks run in the engine's sandbox (laneway/engine/scripting.py).

BPMN 2.0.2 (10.3.3, Script Task): the engine runs the script when the task is activated, and the
task completes when the script ends. These tests run scripts written in the dialects diagrams
use (Camunda 7's `execution`, bpmn-engine's and SpiffWorkflow's plain top-level variables),
check that what leaves a script is what the process sees next, and that a script that throws,
loops, eats memory or reaches for the outside world stops with an incident, in its time limit,
never with a stuck engine.
"""

from __future__ import annotations

import time

import pytest

from laneway.bpmn import parse
from laneway.engine import DefinitionRepository
from laneway.engine.limits import Limits, ScriptLimits
from laneway.engine.runner import LocalRunner
from laneway.engine.scripting import ScriptError, run_js
from services.engine.settings import load_settings
from tests.unit.engine.conftest import RunFn, document

C7 = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'


def _script(body: str, fmt: str = "javascript", attrs: str = "") -> str:
    return f"""
    <startEvent id="s"/>
    <scriptTask id="js" scriptFormat="{fmt}" {attrs}>
      <script><![CDATA[{body}]]></script>
    </scriptTask>
    <endEvent id="e"/>
    @ s -> js -> e
    """


def test_a_script_changes_the_variables_it_sees_and_the_process_goes_on(run: RunFn) -> None:
    h = run(_script("integerVariable++; text = text + '!'; items.push(3)"),
            variables={"integerVariable": 1, "text": "hi", "items": [1, 2]})
    assert h.events("JOB_CREATED") == []
    assert h.activated() == ["p", "s", "js", "e"]
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid) == {"integerVariable": 2, "text": "hi!", "items": [1, 2, 3]}


@pytest.mark.parametrize("fmt", ["JavaScript", "ecmascript", "js", "application/javascript",
                                 "text/javascript"])
def test_every_spelling_of_javascript_runs_in_the_engine(run: RunFn, fmt: str) -> None:
    h = run(_script("counter = counter + 1", fmt), variables={"counter": 41})
    assert h.variables(h.iid) == {"counter": 42}
    assert h.events("JOB_CREATED") == []


def test_a_loop_that_increments_its_own_variable_ends(run: RunFn) -> None:
    """The task loops (a standard loop) while `counter < 3`; the script increments it, so the
    loop ends after three runs."""
    h = run("""
    <startEvent id="s"/>
    <scriptTask id="js" scriptFormat="javascript">
      <standardLoopCharacteristics>
        <loopCondition xsi:type="tFormalExpression">=counter &lt; 3</loopCondition>
      </standardLoopCharacteristics>
      <script>counter = counter + 1; log = log.concat(['run ' + counter])</script>
    </scriptTask>
    <endEvent id="e"/>
    @ s -> js -> e
    """, variables={"counter": 0, "log": []})
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid) == {"counter": 3, "log": ["run 1", "run 2", "run 3"]}
    assert h.activated().count("js") == 3


def test_a_flow_loop_back_to_the_script_ends_when_its_condition_fails(run: RunFn) -> None:
    """A gateway loops back to the script while `i < 5`: the script's increment is what the
    gateway reads next time."""
    h = run("""
    <startEvent id="s"/>
    <scriptTask id="js" scriptFormat="javascript"><script>i++</script></scriptTask>
    <exclusiveGateway id="more" default="more_e"/>
    <endEvent id="e"/>
    @ s -> js -> more
    @ more -> js : =i < 5
    @ more -> e
    """, variables={"i": 0})
    assert h.status(h.iid) == "COMPLETED"
    assert h.variables(h.iid) == {"i": 5}
    assert h.activated().count("js") == 5


def test_execution_get_and_set_variable_as_in_camunda_7(run: RunFn) -> None:
    h = run(_script("""
        var total = execution.getVariable('price') * execution.getVariable('quantity');
        execution.setVariable('total', total);
        execution.setVariable('order line', {sku: 'a', n: quantity});
        execution.setVariable('missing', execution.getVariable('nothing'));
        execution.hasVariable('price') && !execution.hasVariable('nothing')
    """, attrs=f'{C7} camunda:resultVariable="checked"'),
        variables={"price": 2.5, "quantity": 4})
    assert h.variables(h.iid) == {"price": 2.5, "quantity": 4, "total": 10.0,
                                  "order line": {"sku": "a", "n": 4}, "missing": None,
                                  "checked": True}


def test_execution_names_the_instance_process_and_activity(run: RunFn) -> None:
    h = run(_script("where = [execution.getProcessInstanceId(), "
                    "execution.getProcessDefinitionId(), execution.getCurrentActivityId(), "
                    "execution.getProcessBusinessKey()]"), variables={"where": None})
    assert h.variables(h.iid)["where"] == [h.iid, "p", "js", None]


def test_new_globals_stay_in_the_script(run: RunFn) -> None:
    h = run(_script("var temp = a * 2; helper = temp + 1; a = helper"), variables={"a": 1})
    assert h.variables(h.iid) == {"a": 3}


def test_the_result_variable_takes_the_completion_value(run: RunFn) -> None:
    h = run(_script("var x = {sum: a + b, list: [a, b]}; x",
                    attrs=f'{C7} camunda:resultVariable="result"'), variables={"a": 1, "b": 2})
    assert h.variables(h.iid) == {"a": 1, "b": 2, "result": {"sum": 3, "list": [1, 2]}}


def test_a_script_sets_variables_where_a_job_result_goes(run: RunFn) -> None:
    """Inside a subprocess, a variable of the process is written in the process, a new one
    too; a local variable of the subprocess stays there."""
    h = run("""
    <startEvent id="s"/>
    <subProcess id="sub">
      <extensionElements><zeebe:ioMapping><zeebe:input source="=5" target="local"/>
      </zeebe:ioMapping></extensionElements>
      <startEvent id="ss"/>
      <scriptTask id="js" scriptFormat="javascript">
        <script>shared = shared + local; local = 0; execution.setVariable('fresh', 1)</script>
      </scriptTask>
      <endEvent id="se"/>
      @ ss -> js -> se
    </subProcess>
    <endEvent id="e"/>
    @ s -> sub -> e
    """, variables={"shared": 10})
    assert h.variables(h.iid) == {"shared": 15, "fresh": 1}


def test_a_script_that_throws_is_an_incident_with_its_message(run: RunFn) -> None:
    h = run(_script("if (amount > 10) { throw new Error('amount too high: ' + amount) }"),
            variables={"amount": 20})
    incident = h.last("INCIDENT_CREATED", "js")
    assert incident.value["errorType"] == "SCRIPT_ERROR"
    assert "Error: amount too high: 20" in incident.value["message"]
    assert h.status(h.iid) == "INCIDENT"
    assert "e" not in h.activated()


def test_a_syntax_error_is_an_incident(run: RunFn) -> None:
    h = run(_script("var = ;"))
    incident = h.last("INCIDENT_CREATED", "js")
    assert incident.value["errorType"] == "SCRIPT_ERROR"
    assert "SyntaxError" in incident.value["message"]


@pytest.mark.parametrize("throw", ["throw new BpmnError('NO_STOCK', 'none left')",
                                   "bpmnError('NO_STOCK', 'none left')",
                                   "throw {bpmnError: 'NO_STOCK', message: 'none left'}"])
def test_a_bpmn_error_from_a_script_is_caught_by_a_boundary_event(run: RunFn, throw: str) -> None:
    h = run(f"""
    <error id="err" errorCode="NO_STOCK"/>
    <startEvent id="s"/>
    <scriptTask id="js" scriptFormat="javascript"><script>tries++; {throw}</script></scriptTask>
    <boundaryEvent id="caught" attachedToRef="js"><errorEventDefinition errorRef="err"/>
    </boundaryEvent>
    <endEvent id="e"/>
    <endEvent id="handled"/>
    @ s -> js -> e
    @ caught -> handled
    """, variables={"tries": 0})
    assert h.status(h.iid) == "COMPLETED"
    assert h.activated() == ["p", "s", "js", "caught", "handled"]
    assert h.variables(h.iid)["errorCode"] == "NO_STOCK"
    assert h.variables(h.iid)["tries"] == 1


def test_an_uncaught_bpmn_error_from_a_script_is_an_incident(run: RunFn) -> None:
    h = run(_script("bpmnError('NOBODY_CATCHES')"))
    incident = h.last("INCIDENT_CREATED", "js")
    assert incident.value["errorType"] == "UNHANDLED_ERROR_EVENT"
    assert "NOBODY_CATCHES" in incident.value["message"]


def test_groovy_and_python_scripts_stay_jobs_for_a_worker(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <scriptTask id="g" scriptFormat="groovy"><script>x = 1</script></scriptTask>
    <scriptTask id="py" scriptFormat="python"><script>x = 2</script></scriptTask>
    <endEvent id="e"/>
    @ s -> g -> py -> e
    """)
    assert h.job("g").value["scriptFormat"] == "groovy"
    h.complete_job("g", {"x": 1})
    assert h.job("py").value["type"] == "script"
    h.complete_job("py", {"x": 2})
    assert h.status(h.iid) == "COMPLETED"


def test_a_javascript_task_naming_a_job_type_is_a_job(run: RunFn) -> None:
    h = run(_script("x = 1", attrs='laneway:type="browser"'))
    assert h.job("js").value["type"] == "browser"


def test_clocks_and_collector_dependent_builtins_are_frozen_or_gone() -> None:
    result = run_js("[performance.now(), typeof WeakRef, typeof FinalizationRegistry, "
                    "Date.now(), new Date(2020, 0, 1).getFullYear()]", {}, now_ms=1234)
    assert result.value == [0, "undefined", "undefined", 1234, 2020]


def test_date_and_random_are_the_same_on_every_run(run: RunFn) -> None:
    """`Date.now()` is the command's timestamp and `Math.random()` is seeded by the element
    instance: the conftest's check processes every command again in a fresh engine and
    compares the records byte for byte."""
    h = run(_script("stamp = Date.now(); iso = new Date().toISOString(); r = Math.random()"),
            variables={"stamp": 0, "iso": "", "r": 0})
    values = h.variables(h.iid)
    start = h.events("ELEMENT_ACTIVATED", "js")[0].timestamp
    assert values["stamp"] == start
    assert values["iso"].startswith("2026-01-01T")
    assert 0 <= values["r"] < 1
    assert values["r"] != 0


# --- the sandbox's walls ----------------------------------------------------------------------


@pytest.mark.parametrize(('source', 'message'), [
    ("require('fs')", "ReferenceError: require is not defined"),
    ("std.loadFile('/etc/passwd')", "ReferenceError: std is not defined"),
    ("os.exec(['ls'])", "ReferenceError: os is not defined"),
    ("fetch('http://127.0.0.1/')", "ReferenceError: fetch is not defined"),
    ("import * as os from 'os'", "SyntaxError"),
    ("XMLHttpRequest", "ReferenceError: XMLHttpRequest is not defined"),
    ("process.exit(1)", "ReferenceError: process is not defined"),
])
def test_nothing_outside_the_sandbox_is_reachable(source: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message) as caught:
        run_js(source, {})
    assert not caught.value.runaway


def test_dynamic_import_loads_no_module() -> None:
    """`import()` compiles, but there is no module to load: its promise never gives one (and
    promises do not run after the script: scripts are synchronous)."""
    result = run_js("var m = 'none'; import('os').then(x => { m = x }); typeof m", {})
    assert result.value == "string"


def _limited_runner(doc: str, limits: ScriptLimits) -> LocalRunner:
    repo = DefinitionRepository()
    repo.deploy(parse(document(doc).encode(), "test.bpmn"))
    return LocalRunner(repo, limits=Limits(scripts=limits))


@pytest.mark.parametrize(('source', 'cause'), [
    ("while (true) {}", "ran longer than 0.3 s"),
    ("while (true) { try { while (true) {} } catch (e) {} }", "ran longer than 0.3 s"),
    # catastrophic backtracking: interrupted inside the regular expression engine
    ("/(a+)+$/.test('a'.repeat(40) + 'b')", "ran longer than 0.3 s"),
    ("var a = []; while (true) { a.push('x'.repeat(100000)) }", "more than 8388608 bytes"),
    ("function f(n) { return f(n + 1) + 1 } f(0)", "stack limit"),
])
def test_a_runaway_script_is_an_incident_within_its_limit(source: str, cause: str) -> None:
    runner = _limited_runner(_script(source), ScriptLimits(
        max_seconds=0.3, max_memory_bytes=8 * 1024 * 1024, max_stack_bytes=128 * 1024))
    began = time.monotonic()
    iid = runner.start("p")
    runner.drain()
    took = time.monotonic() - began
    outcome = runner.outcome(iid)
    assert outcome.status == "INCIDENT"
    assert len(outcome.incidents) == 1
    assert cause in outcome.incidents[0], outcome.incidents
    # the limit is CPU time: on a busy machine the wall clock runs ahead of it
    assert took < 5.0
    incident = next(r for r in runner.records if r.intent == "INCIDENT_CREATED")
    assert incident.value["errorType"] == "SCRIPT_ERROR"


def test_a_script_gets_no_more_time_than_its_command_has_left() -> None:
    """The command's budget (0.4 s) is shorter than the script's limit (5 s): the command is
    over budget, so its instance gets BUDGET_EXCEEDED, not a script incident."""
    repo = DefinitionRepository()
    repo.deploy(parse(document(_script("while (true) {}")).encode(), "test.bpmn"))
    runner = LocalRunner(repo, limits=Limits(max_seconds=0.4,
                                             scripts=ScriptLimits(max_seconds=5.0)))
    began = time.monotonic()
    iid = runner.start("p")
    runner.drain()
    assert time.monotonic() - began < 5.0
    incident = next(r for r in runner.records if r.intent == "INCIDENT_CREATED")
    assert incident.value["errorType"] == "BUDGET_EXCEEDED"
    assert runner.outcome(iid).status == "INCIDENT"


def test_results_beyond_the_size_limit_are_an_incident(run: RunFn) -> None:
    h = run(_script("big = 'x'.repeat(300 * 1024)"), variables={"big": ""})
    incident = h.last("INCIDENT_CREATED", "js")
    assert incident.value["errorType"] == "SCRIPT_ERROR"
    assert "bytes of JSON" in incident.value["message"]
    assert h.variables(h.iid) == {"big": ""}


def test_a_variable_named_like_a_builtin_is_still_readable() -> None:
    result = run_js("[execution.getVariable('JSON'), typeof JSON.parse, "
                    "execution.getVariable('execution')]", {"JSON": 1, "execution": 2})
    assert result.value == [1, "function", 2]
    assert result.variables == {}


def test_javascript_can_be_left_to_workers() -> None:
    """`ScriptLimits(in_engine=False)`: JavaScript becomes a 'script' job like Groovy."""
    runner = _limited_runner(_script("x = 1"), ScriptLimits(in_engine=False))
    iid = runner.start("p", {"x": 0})
    runner.drain()
    job = next(r for r in runner.records if r.intent == "JOB_CREATED")
    assert job.value["type"] == "script"
    assert job.value["scriptFormat"] == "javascript"
    assert job.value["script"] == "x = 1"
    assert runner.outcome(iid).status == "WAITING"


def test_the_script_limits_are_engine_service_settings() -> None:
    assert load_settings({}).limits.scripts == ScriptLimits()
    scripts = load_settings({
        "LANEWAY_ENGINE_SCRIPT_MAX_SECONDS": "0.25",
        "LANEWAY_ENGINE_SCRIPT_MAX_MEMORY_BYTES": "1048576",
        "LANEWAY_ENGINE_SCRIPT_MAX_STACK_BYTES": "65536",
        "LANEWAY_ENGINE_JAVASCRIPT": "job",
    }).limits.scripts
    assert (scripts.max_seconds, scripts.max_memory_bytes, scripts.max_stack_bytes) == (
        0.25, 1_048_576, 65_536)
    assert scripts.in_engine is False
