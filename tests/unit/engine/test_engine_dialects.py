"""The dialects diagrams are written in: Camunda 7 / Activiti / Flowable and Zeebe.

- the dialect of a diagram, from its definitions' namespaces, `modeler:executionPlatform` or
  exporter (`Definitions.dialect`);
- multi-instance `loopCounter` from 0 in Camunda 7 / Activiti / Flowable, from 1 in Zeebe;
- Flowable's `terminateAll`: a terminate end event ending the whole instance;
- Camunda 7 `camunda:inputOutput` with static text, `${...}`, templates, lists, maps and
  scripts; Zeebe's static `zeebe:input` values;
- JUEL method calls in conditions, and unknown methods refused at deploy with element and line.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import NAMESPACES, Harness, RunFn, document

from laneway.bpmn import parse
from laneway.engine.check import check_runnable

ZEEBE_DECL = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'
DIALECT_NS = {
    "camunda7": 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"',
    "flowable": 'xmlns:flowable="http://flowable.org/bpmn"',
    "activiti": 'xmlns:activiti="http://activiti.org/bpmn"',
    "zeebe": ZEEBE_DECL,
    None: "",
}


def written_for(dialect: str | None, body: str) -> str:
    """A whole document from the compact notation, declaring the dialect's namespace (and not
    Zeebe's, which the notation declares by default)."""
    return document(body).replace(ZEEBE_DECL, DIALECT_NS[dialect])


# --- which dialect -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definitions", "dialect"),
    [
        (f"<definitions {NAMESPACES}>", "zeebe"),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'xmlns:camunda="http://camunda.org/schema/1.0/bpmn">', "camunda7"),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'xmlns:flowable="http://flowable.org/bpmn">', "flowable"),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'xmlns:activiti="http://activiti.org/bpmn">', "activiti"),
        # a diagram migrated from Camunda 7 keeps the old namespace next to Zeebe's
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
         'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0">', "zeebe"),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'xmlns:modeler="http://camunda.org/schema/modeler/1.0" '
         'modeler:executionPlatform="Camunda Platform">', "camunda7"),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'xmlns:modeler="http://camunda.org/schema/modeler/1.0" '
         'modeler:executionPlatform="Camunda Cloud">', "zeebe"),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'exporter="Flowable Open Source Modeler">', "flowable"),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'exporter="Signavio Process Editor">', None),
        ('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">', None),
    ],
)
def test_the_dialect_is_read_from_the_definitions(definitions: str, dialect: str | None) -> None:
    xml = (f'{definitions}<process id="p" isExecutable="true"><startEvent id="s"/></process>'
           "</definitions>")
    assert parse(xml.encode()).dialect == dialect


# --- loopCounter -------------------------------------------------------------------------------


def mi(sequential: bool) -> str:
    return f"""
    <startEvent id="s"/>
    <serviceTask id="each" laneway:type="w">
      <multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}">
        <loopCardinality>3</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </serviceTask>
    <userTask id="after"/>
    @ s -> each -> after
    """


def counters(h: Harness) -> list[Any]:
    return [r.value["variables"]["loopCounter"] for r in h.events("JOB_CREATED", "each")]


def finish_jobs(h: Harness, sequential: bool) -> None:
    if sequential:
        h.complete_job("each")  # the third, the only one still open
        return
    for job in h.events("JOB_CREATED", "each"):
        _complete(h, job.value["key"])


@pytest.mark.parametrize(
    ("dialect", "first"),
    [("camunda7", 0), ("flowable", 0), ("activiti", 0), ("zeebe", 1), (None, 1)],
)
@pytest.mark.parametrize("sequential", [False, True])
def test_loop_counter_base_follows_the_dialect(
    run: RunFn, dialect: str | None, first: int, sequential: bool
) -> None:
    h = run(written_for(dialect, mi(sequential)))
    if sequential:
        for _ in range(2):
            h.complete_job("each")
    assert counters(h) == [first, first + 1, first + 2]
    finish_jobs(h, sequential)
    assert h.activated()[-1] == "after"
    assert "loopCounter" not in h.variables(h.iid)


def test_camunda7_output_collection_keeps_input_order_with_0_based_counters(run: RunFn) -> None:
    body = """
    <startEvent id="s"/>
    <serviceTask id="each" laneway:type="w">
      <multiInstanceLoopCharacteristics isSequential="false" camunda:collection="${items}"
          camunda:elementVariable="item">
        <completionCondition>${nrOfCompletedInstances == 3}</completionCondition>
      </multiInstanceLoopCharacteristics>
    </serviceTask>
    <userTask id="after"/>
    @ s -> each -> after
    """
    h = run(written_for("camunda7", body), variables={"items": ["a", "b", "c"]})
    jobs = h.events("JOB_CREATED", "each")
    assert [(j.value["variables"]["item"], j.value["variables"]["loopCounter"])
            for j in jobs] == [("a", 0), ("b", 1), ("c", 2)]
    for job in reversed(jobs):
        _complete(h, job.value["key"])
    assert h.activated()[-1] == "after"


def _complete(h: Harness, key: int) -> None:
    from laneway.records import Command

    h.send(Command.COMPLETE_JOB, h.iid, {"jobKey": key, "variables": {}})


# --- terminateAll ------------------------------------------------------------------------------


def terminating(attribute: str) -> str:
    return f"""
    <startEvent id="s"/>
    <parallelGateway id="fork"/>
    <userTask id="outside"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <subProcess id="inner">
        <startEvent id="is"/>
        <endEvent id="stop"><terminateEventDefinition {attribute}/></endEvent>
        @ is -> stop
      </subProcess>
      <userTask id="beside"/>
      <parallelGateway id="split"/>
      @ ss -> split
      @ split -> inner
      @ split -> beside
    </subProcess>
    <userTask id="after_sub"/>
    @ s -> fork
    @ fork -> outside
    @ fork -> sub -> after_sub
    """


@pytest.mark.parametrize(
    ("dialect", "attribute"),
    [("flowable", 'flowable:terminateAll="true"'),
     ("activiti", 'activiti:terminateAll="true"')],
)
def test_terminate_all_ends_the_whole_instance_from_a_nested_subprocess(
    run: RunFn, dialect: str, attribute: str
) -> None:
    h = run(written_for(dialect, terminating(attribute)))
    assert h.status(h.iid) == "COMPLETED"
    terminated = set(h.terminated())
    # every scope up to the process: the tasks waiting outside, beside, and the subprocesses
    assert {"outside", "beside", "inner", "sub"} <= terminated
    assert "after_sub" not in h.activated()
    assert "stop" not in h.completed()  # it ended with everything else


def test_terminate_without_terminate_all_ends_only_its_scope(run: RunFn) -> None:
    h = run(written_for("flowable", terminating('flowable:terminateAll="false"')))
    # `inner` completes (its only token ended there); `beside` and `outside` still wait
    assert "inner" in h.completed()
    assert h.status(h.iid) == "WAITING"
    assert "outside" not in h.terminated()
    assert "beside" not in h.terminated()


# --- camunda:inputOutput -------------------------------------------------------------------------


def io_task(parameters: str) -> str:
    return f"""
    <startEvent id="s"/>
    <serviceTask id="t" laneway:type="w">
      <extensionElements>
        <camunda:inputOutput>{parameters}</camunda:inputOutput>
      </extensionElements>
    </serviceTask>
    <userTask id="after"/>
    @ s -> t -> after
    """


def test_camunda7_input_parameters_static_expression_template_list_and_map(run: RunFn) -> None:
    parameters = """
      <camunda:inputParameter name="static">hello world</camunda:inputParameter>
      <camunda:inputParameter name="number_text">42</camunda:inputParameter>
      <camunda:inputParameter name="sum">${x + 1}</camunda:inputParameter>
      <camunda:inputParameter name="upper">${name.toUpperCase()}</camunda:inputParameter>
      <camunda:inputParameter name="greeting">Hello ${name}, ${missing}!</camunda:inputParameter>
      <camunda:inputParameter name="nothing"></camunda:inputParameter>
      <camunda:inputParameter name="items">
        <camunda:list>
          <camunda:value>a</camunda:value>
          <camunda:value>${x}</camunda:value>
          <camunda:list><camunda:value>nested</camunda:value></camunda:list>
        </camunda:list>
      </camunda:inputParameter>
      <camunda:inputParameter name="config">
        <camunda:map>
          <camunda:entry key="host">example.org</camunda:entry>
          <camunda:entry key="port">${x * 8080}</camunda:entry>
          <camunda:entry key="tags">
            <camunda:list><camunda:value>t</camunda:value></camunda:list>
          </camunda:entry>
        </camunda:map>
      </camunda:inputParameter>
    """
    h = run(written_for("camunda7", io_task(parameters)), variables={"x": 1, "name": "ann"})
    seen = h.job("t").value["variables"]
    assert seen["static"] == "hello world"
    assert seen["number_text"] == "42"
    assert seen["sum"] == 2
    assert seen["upper"] == "ANN"
    assert seen["greeting"] == "Hello ann, !"
    assert seen["nothing"] is None
    assert seen["items"] == ["a", 1, ["nested"]]
    assert seen["config"] == {"host": "example.org", "port": 8080, "tags": ["t"]}
    # inputs are local to the task: the instance does not get them
    h.complete_job("t")
    assert "static" not in h.variables(h.iid)


def test_camunda7_output_parameters(run: RunFn) -> None:
    parameters = """
      <camunda:outputParameter name="status">done</camunda:outputParameter>
      <camunda:outputParameter name="doubled">${result * 2}</camunda:outputParameter>
      <camunda:outputParameter name="pair">
        <camunda:list>
          <camunda:value>${result}</camunda:value><camunda:value>x</camunda:value>
        </camunda:list>
      </camunda:outputParameter>
    """
    h = run(written_for("camunda7", io_task(parameters)))
    h.complete_job("t", {"result": 21})
    variables = h.variables(h.iid)
    assert variables["status"] == "done"
    assert variables["doubled"] == 42
    assert variables["pair"] == [21, "x"]
    assert "result" not in variables  # output mappings replace the job's variables


# --- zeebe:input static values -----------------------------------------------------------------


def test_zeebe_static_input_values_are_strings(run: RunFn) -> None:
    body = """
    <startEvent id="s"/>
    <serviceTask id="t">
      <extensionElements>
        <zeebe:taskDefinition type="w"/>
        <zeebe:ioMapping>
          <zeebe:input source="abc" target="text"/>
          <zeebe:input source="25" target="port"/>
          <zeebe:input source="=25" target="number"/>
          <zeebe:input source="=x" target="copy"/>
          <zeebe:input source="http://example.org/a?b=c" target="url"/>
          <zeebe:output source="=result" target="out"/>
        </zeebe:ioMapping>
      </extensionElements>
    </serviceTask>
    <userTask id="after"/>
    @ s -> t -> after
    """
    h = run(body, variables={"x": [1]})
    seen = h.job("t").value["variables"]
    assert seen["text"] == "abc"
    assert seen["port"] == "25"
    assert seen["number"] == 25
    assert seen["copy"] == [1]
    assert seen["url"] == "http://example.org/a?b=c"
    h.complete_job("t", {"result": "r"})
    assert h.variables(h.iid)["out"] == "r"
    assert h.events("INCIDENT_CREATED") == []


# --- JUEL conditions ---------------------------------------------------------------------------


def juel_gateway(condition: str) -> str:
    return f"""
    <startEvent id="s"/>
    <exclusiveGateway id="gw" default="gw_no"/>
    <userTask id="yes"/>
    <userTask id="no"/>
    @ s -> gw
    <sequenceFlow id="gw_yes" sourceRef="gw" targetRef="yes">
      <conditionExpression xsi:type="tFormalExpression">{condition}</conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="gw_no" sourceRef="gw" targetRef="no"/>
    """


@pytest.mark.parametrize(
    ("condition", "variables", "taken"),
    [
        ('${test.contains("a")}', {"test": "abc"}, "yes"),
        ('${test.contains("a")}', {"test": "xyz"}, "no"),
        ("${order.items.size() &gt; 2}", {"order": {"items": [1, 2, 3]}}, "yes"),
        ('${execution.getVariable("x") == 1}', {"x": 1}, "yes"),
        ("${execution.getVariable('x') eq 1}", {"x": 2}, "no"),
        ("${!empty name and name.startsWith('A')}", {"name": "Ann"}, "yes"),
        ("${variables:gt(count, 10)}", {"count": 11}, "yes"),
    ],
)
def test_juel_method_calls_in_conditions(
    run: RunFn, condition: str, variables: dict[str, Any], taken: str
) -> None:
    h = run(written_for("camunda7", juel_gateway(condition)), variables=variables)
    assert h.activated()[-1] == taken


def test_unknown_java_method_is_refused_at_deploy_with_element_and_line() -> None:
    """Where the engine itself must decide (a conditional flow out of a task), a condition
    calling a method outside the bridge's list is refused at deploy, naming flow and line."""
    body = """
    <startEvent id="s"/>
    <task id="t"/>
    <userTask id="yes"/>
    <userTask id="no"/>
    @ s -> t
    <sequenceFlow id="t_yes" sourceRef="t" targetRef="yes">
      <conditionExpression xsi:type="tFormalExpression">
        ${x.getClass().getName() == 'y'}
      </conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="t_no" sourceRef="t" targetRef="no"/>
    """
    xml = written_for("camunda7", body)
    definitions = parse(xml.encode(), file="c7.bpmn")
    [problem] = check_runnable(definitions, definitions.process("p"))
    assert problem.element_id == "t_yes"
    assert problem.line == next(
        n for n, line in enumerate(xml.splitlines(), 1) if 'id="t_yes"' in line)
    assert "cannot be evaluated" in problem.message
    assert "Unknown method 'getClass'" in problem.message


def test_a_gateway_condition_outside_the_bridge_goes_to_the_decision_handler(
    run: RunFn,
) -> None:
    """On an exclusive gateway a condition the engine cannot evaluate (a bean call such as
    bpmn-engine's `${environment.services.check()}`) is handed to a decision handler, as any
    condition in a language the engine does not run (docs/engine.md)."""
    h = run(written_for("camunda7", juel_gateway("${environment.services.check(x)}")))
    [job] = h.events("JOB_CREATED", "gw")
    assert job.value["type"] == "decision"


def test_validate_warns_about_a_gateway_condition_outside_the_bridge() -> None:
    from laneway.diagram_check import check_diagram

    xml = written_for("camunda7", juel_gateway("${order.itemz.sizee() &gt; 2}"))
    checked = check_diagram(xml.encode(), "c7.bpmn")
    assert checked.problems == []
    [warning] = [w for w in checked.warnings if w.element_id == "gw_yes"]
    assert "Unknown method 'sizee'" in warning.message
    assert "decision handler" in warning.message
    # a condition the bridge evaluates is not warned about
    fine = written_for("camunda7", juel_gateway("${order.items.size() &gt; 2}"))
    assert [w for w in check_diagram(fine.encode(), "c7.bpmn").warnings
            if w.element_id == "gw_yes"] == []
