"""Scripts in input/output mappings: Camunda 7's `camunda:script` parameters.

A JavaScript parameter runs in the engine's sandbox and its completion value is the
parameter's value; a script that throws or runs away is an `IO_MAPPING_ERROR` incident with
the script's message; Groovy (any language but JavaScript) stays an incident saying so; a
script kept in an external `resource` is refused at deploy and never read.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from laneway.bpmn import parse
from laneway.engine.check import check_runnable
from laneway.engine.expressions import evaluate
from laneway.engine.limits import Limits, ScriptLimits
from laneway.engine.repository import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.expr import ExpressionError
from laneway.model import Expression
from laneway.records import Record
from tests.unit.engine.conftest import RunFn, document

C7 = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'


def _diagram(parameters: str) -> str:
    return document(f"""
    <startEvent id="s"/>
    <serviceTask id="t" laneway:type="w">
      <extensionElements>
        <camunda:inputOutput>{parameters}</camunda:inputOutput>
      </extensionElements>
    </serviceTask>
    <userTask id="after"/>
    @ s -> t -> after
    """).replace('xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"', C7)


def _input(script: str, fmt: str = "javascript", name: str = "computed") -> str:
    return (f'<camunda:inputParameter name="{name}"><camunda:script scriptFormat="{fmt}">'
            f"<![CDATA[{script}]]></camunda:script></camunda:inputParameter>")


def _incident(runner_records: list[Record], element: str = "t") -> dict[str, Any]:
    [incident] = [r for r in runner_records
                  if r.intent == "INCIDENT_CREATED" and r.element_id == element]
    return dict(incident.value)


def test_a_javascript_input_parameter_is_the_scripts_completion_value(run: RunFn) -> None:
    parameters = (_input("var total = 0; for (var i of items) { total += i } total * factor")
                  + _input("name.toUpperCase() + '!'", fmt="text/javascript", name="shout")
                  + _input("({first: items[0], n: items.length})", fmt="ecmascript",
                           name="summary"))
    h = run(_diagram(parameters), variables={"items": [1, 2, 3], "factor": 10, "name": "ann"})
    seen = h.job("t").value["variables"]
    assert seen["computed"] == 60
    assert seen["shout"] == "ANN!"
    assert seen["summary"] == {"first": 1, "n": 3}
    # an input mapping is local to the task: the instance does not get it
    h.complete_job("t")
    assert "computed" not in h.variables(h.iid)


def test_a_javascript_output_parameter_sees_the_job_result(run: RunFn) -> None:
    parameters = ('<camunda:outputParameter name="doubled"><camunda:script '
                  'scriptFormat="javascript">result * 2</camunda:script>'
                  "</camunda:outputParameter>")
    h = run(_diagram(parameters))
    h.complete_job("t", {"result": 21})
    variables = h.variables(h.iid)
    assert variables["doubled"] == 42
    assert "result" not in variables  # output mappings replace the job's variables
    assert h.activated()[-1] == "after"


def test_variables_a_mapping_script_assigns_stay_in_the_script(run: RunFn) -> None:
    h = run(_diagram(_input("x = 5; execution.setVariable('y', 7); x + 1")),
            variables={"x": 1})
    seen = h.job("t").value["variables"]
    assert seen["computed"] == 6
    assert seen["x"] == 1
    assert "y" not in seen
    assert h.variables(h.iid) == {"x": 1}


def test_date_and_random_in_a_mapping_are_the_commands(run: RunFn) -> None:
    """`Date.now()` is the command's timestamp; `Math.random()` is seeded (the harness checks
    that processing the same commands again writes the same records)."""
    h = run(_diagram(_input("Date.now()", name="now") + _input("Math.random()", name="r")))
    seen = h.job("t").value["variables"]
    activated = h.last("ELEMENT_ACTIVATED", "t")
    assert seen["now"] == activated.timestamp
    assert 0 <= seen["r"] < 1


def test_a_script_that_throws_is_an_io_mapping_incident_with_its_message(run: RunFn) -> None:
    h = run(_diagram(_input("if (!ready) { throw new Error('not ready yet') } 1")),
            variables={"ready": False})
    [incident] = h.events("INCIDENT_CREATED", "t")
    assert incident.value["errorType"] == "IO_MAPPING_ERROR"
    assert "not ready yet" in incident.value["message"]
    assert "computed" in incident.value["message"]
    assert h.events("JOB_CREATED", "t") == []


def test_a_bpmn_error_from_a_mapping_script_is_an_incident(run: RunFn) -> None:
    h = run(_diagram(_input("throw new BpmnError('E1')")))
    [incident] = h.events("INCIDENT_CREATED", "t")
    assert incident.value["errorType"] == "IO_MAPPING_ERROR"
    assert "E1" in incident.value["message"]
    assert h.events("ERROR_THROWN") == []


def test_groovy_in_a_mapping_stays_an_incident_saying_so(run: RunFn) -> None:
    h = run(_diagram(_input("1 + 1", fmt="groovy")))
    [incident] = h.events("INCIDENT_CREATED", "t")
    assert incident.value["errorType"] == "IO_MAPPING_ERROR"
    assert "groovy script" in incident.value["message"]
    assert "only JavaScript" in incident.value["message"]
    assert h.events("JOB_CREATED", "t") == []


def _runner(parameters: str, limits: Limits) -> LocalRunner:
    repo = DefinitionRepository()
    repo.deploy(parse(_diagram(parameters).encode(), "test.bpmn"))
    return LocalRunner(repo, limits=limits)


def test_a_runaway_mapping_script_is_an_incident_within_its_limit() -> None:
    runner = _runner(_input("while (true) {}"), Limits(scripts=ScriptLimits(max_seconds=0.3)))
    began = time.monotonic()
    iid = runner.start("p")
    runner.drain()
    assert time.monotonic() - began < 5.0
    incident = _incident(runner.records)
    assert incident["errorType"] == "IO_MAPPING_ERROR"
    assert "ran longer than 0.3 s" in incident["message"]
    assert runner.outcome(iid).status == "INCIDENT"


def test_a_mapping_script_gets_no_more_time_than_its_command_has_left() -> None:
    runner = _runner(_input("while (true) {}"),
                     Limits(max_seconds=0.4, scripts=ScriptLimits(max_seconds=5.0)))
    began = time.monotonic()
    runner.start("p")
    runner.drain()
    assert time.monotonic() - began < 5.0
    incident = next(r for r in runner.records if r.intent == "INCIDENT_CREATED")
    assert incident.value["errorType"] == "BUDGET_EXCEEDED"


def test_javascript_left_to_workers_makes_a_mapping_script_an_incident() -> None:
    runner = _runner(_input("1 + 1"), Limits(scripts=ScriptLimits(in_engine=False)))
    runner.start("p")
    runner.drain()
    incident = _incident(runner.records)
    assert incident["errorType"] == "IO_MAPPING_ERROR"
    assert "LANEWAY_ENGINE_JAVASCRIPT=job" in incident["message"]
    assert not any(r.intent == "JOB_CREATED" for r in runner.records)


def test_a_script_resource_is_refused_at_deploy_and_never_read() -> None:
    xml = _diagram('<camunda:inputParameter name="computed">\n'
                   '<camunda:script scriptFormat="javascript" resource="/etc/passwd"/>'
                   "</camunda:inputParameter>")
    definitions = parse(xml.encode(), "test.bpmn")
    [process] = definitions.processes
    problems = check_runnable(definitions, process)
    assert len(problems) == 1
    assert problems[0].element_id == "t"
    assert "/etc/passwd" in problems[0].message
    assert "never reads" in problems[0].message
    assert problems[0].line == process.nodes["t"].line
    [(source, _target)] = process.nodes["t"].io.inputs
    # the expression holds the name only, and evaluating it refuses rather than reading
    assert source.text == "/etc/passwd"
    with pytest.raises(ExpressionError, match="never reads"):
        evaluate(source, {})


def test_evaluate_never_reads_a_javascript_text_as_our_language() -> None:
    with pytest.raises(ExpressionError, match="javascript script"):
        evaluate(Expression("1 + 1", "1 + 1", "javascript"), {})
