"""What the reader builds from small inline diagrams: structure, extensions, vendor mappings."""

from __future__ import annotations

from laneway.bpmn import parse
from laneway.model import (
    Definitions,
    EventKind,
    Expression,
    NodeKind,
    TimerKind,
)

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" '
    'xmlns:acme="urn:acme"'
)


def _parse(body: str, root_attrs: str = "") -> Definitions:
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<bpmn:definitions {NS} id="defs" targetNamespace="urn:t" exporter="Test" {root_attrs}>'
        f"{body}</bpmn:definitions>"
    )
    return parse(xml.encode(), "test.bpmn")


def test_extension_attributes_are_kept_on_every_kind_of_element() -> None:
    defs = _parse(
        """
<bpmn:process id="p" isExecutable="true" acme:owner="ops" camunda:versionTag="v7">
  <bpmn:laneSet id="ls">
    <bpmn:lane id="l" laneway:persona="clerk"><bpmn:flowNodeRef>t</bpmn:flowNodeRef></bpmn:lane>
  </bpmn:laneSet>
  <bpmn:startEvent id="s" acme:trigger="form"/>
  <bpmn:task id="t" laneway:type="http" acme:timeout="5" xsi:type="bpmn:tTask"/>
  <bpmn:exclusiveGateway id="g" acme:decider="rules"/>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" acme:weight="3"/>
  <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="g"/>
</bpmn:process>"""
    )

    process = defs.process()
    assert dict(process.attrs) == {"acme:owner": "ops", "camunda:versionTag": "v7"}
    assert process.version_tag == "v7"
    assert process.lanes[0].persona == "clerk"
    assert dict(process.nodes["s"].attrs) == {"acme:trigger": "form"}
    assert dict(process.nodes["t"].attrs) == {"laneway:type": "http", "acme:timeout": "5"}
    assert process.nodes["t"].job_type == "http"
    assert dict(process.nodes["g"].attrs) == {"acme:decider": "rules"}
    assert dict(process.flows["f1"].attrs) == {"acme:weight": "3"}
    assert defs.namespaces["acme"] == "urn:acme"
    assert defs.exporter == "Test"
    assert defs.target_namespace == "urn:t"


def test_attribute_in_an_undeclared_prefix_position_uses_the_clark_name() -> None:
    # Declared on the element itself without a prefix it can be reached by (default namespace
    # never applies to attributes), so only the Clark name identifies it.
    defs = _parse('<bpmn:process id="p"><bpmn:task id="t" xmlns:x="urn:x" x:a="1"/></bpmn:process>')

    assert dict(defs.process().nodes["t"].attrs) == {"x:a": "1"}


def test_extension_elements_are_kept_as_trees() -> None:
    defs = _parse(
        """
<bpmn:process id="p">
  <bpmn:userTask id="u">
    <bpmn:documentation>Check the permit</bpmn:documentation>
    <bpmn:extensionElements>
      <zeebe:formDefinition formKey="camunda-forms:bpmn:form1"/>
      <acme:sla hours="4"><acme:note>urgent</acme:note></acme:sla>
    </bpmn:extensionElements>
  </bpmn:userTask>
</bpmn:process>"""
    )

    task = defs.process().nodes["u"]
    assert task.documentation == "Check the permit"
    form = task.extension("formDefinition")
    assert form is not None
    assert form.prefix == "zeebe"
    assert form.attributes["formKey"] == "camunda-forms:bpmn:form1"
    sla = task.extension("sla", "urn:acme")
    assert sla is not None
    assert sla.attributes["hours"] == "4"
    note = sla.find("note")
    assert note is not None
    assert note.text == "urgent"
    assert task.job_type is None


def test_zeebe_mappings() -> None:
    defs = _parse(
        """
<bpmn:message id="m" name="paid">
  <bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements>
</bpmn:message>
<bpmn:process id="p">
  <bpmn:extensionElements><zeebe:versionTag value="2.1"/></bpmn:extensionElements>
  <bpmn:serviceTask id="charge">
    <bpmn:extensionElements>
      <zeebe:taskDefinition type="payment" retries="5"/>
      <zeebe:taskHeaders><zeebe:header key="currency" value="EUR"/></zeebe:taskHeaders>
      <zeebe:ioMapping>
        <zeebe:input source="=order.total" target="amount"/>
        <zeebe:output source="=receipt" target="paymentReceipt"/>
      </zeebe:ioMapping>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics isSequential="true">
      <bpmn:extensionElements>
        <zeebe:loopCharacteristics inputCollection="=items" inputElement="item"
            outputCollection="results" outputElement="=result"/>
      </bpmn:extensionElements>
      <bpmn:completionCondition>=done</bpmn:completionCondition>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:serviceTask>
  <bpmn:callActivity id="call">
    <bpmn:extensionElements>
      <zeebe:calledElement processId="shipping" propagateAllChildVariables="false"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:scriptTask id="calc">
    <bpmn:extensionElements>
      <zeebe:script expression="=a + b" resultVariable="sum"/>
    </bpmn:extensionElements>
  </bpmn:scriptTask>
  <bpmn:exclusiveGateway id="g"/>
  <bpmn:sequenceFlow id="f" sourceRef="g" targetRef="charge">
    <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
      >= total &gt; 5</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
</bpmn:process>"""
    )

    process = defs.process()
    charge = process.nodes["charge"]
    assert charge.job_type == "payment"
    assert charge.job_retries == "5"
    assert dict(charge.task_headers) == {"currency": "EUR"}
    assert charge.io.inputs == ((Expression("order.total", "=order.total", "feel", 13), "amount"),)
    assert charge.io.outputs[0][0].text == "receipt"
    assert charge.io.outputs[0][1] == "paymentReceipt"
    loop = charge.loop
    assert loop is not None
    assert loop.multi_instance
    assert loop.sequential
    assert loop.collection is not None
    assert (loop.collection.text, loop.collection.language) == ("items", "feel")
    assert loop.element_variable == "item"
    assert loop.output_collection == "results"
    assert loop.output_element is not None
    assert loop.output_element.text == "result"
    assert loop.completion_condition is not None
    assert loop.completion_condition.text == "done"
    call = process.nodes["call"]
    assert call.called_element == "shipping"
    assert call.propagate_all_child_variables is False
    calc = process.nodes["calc"]
    assert (calc.script, calc.script_format, calc.result_variable) == ("a + b", "feel", "sum")
    assert calc.job_type is None
    condition = process.flows["f"].condition
    assert condition is not None
    assert (condition.text, condition.raw, condition.language) == (
        "total > 5",
        "= total > 5",
        "feel",
    )
    assert process.version_tag == "2.1"
    key = defs.messages["m"].correlation_key
    assert key is not None
    assert (key.text, key.language) == ("orderId", "feel")


def test_camunda7_mappings() -> None:
    defs = _parse(
        """
<bpmn:process id="p">
  <bpmn:serviceTask id="ext" camunda:type="external" camunda:topic="invoices"/>
  <bpmn:serviceTask id="cls" camunda:class="com.acme.Charge" camunda:resultVariable="r"/>
  <bpmn:sendTask id="send"/>
  <bpmn:businessRuleTask id="rule" camunda:decisionRef="approve"/>
  <bpmn:scriptTask id="py" scriptFormat="python" camunda:resultVariable="x">
    <bpmn:script>x = 1</bpmn:script>
  </bpmn:scriptTask>
  <bpmn:userTask id="u" camunda:formKey="embedded:app:form.html">
    <bpmn:extensionElements>
      <camunda:inputOutput>
        <camunda:inputParameter name="who">${initiator}</camunda:inputParameter>
        <camunda:outputParameter name="ok">#{approved}</camunda:outputParameter>
      </camunda:inputOutput>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics camunda:collection="${reviewers}"
        camunda:elementVariable="reviewer">
      <bpmn:loopCardinality>3</bpmn:loopCardinality>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:callActivity id="call" calledElement="child"/>
</bpmn:process>"""
    )

    nodes = defs.process().nodes
    assert nodes["ext"].job_type == "invoices"
    assert nodes["cls"].job_type == "service"
    assert nodes["cls"].result_variable == "r"
    assert nodes["send"].job_type == "send"
    assert nodes["rule"].job_type == "business-rule"
    assert (nodes["py"].script, nodes["py"].script_format) == ("x = 1", "python")
    assert nodes["py"].job_type == "script"
    assert nodes["py"].result_variable == "x"
    user = nodes["u"]
    assert user.attrs["camunda:formKey"] == "embedded:app:form.html"
    assert user.io.inputs == ((Expression("initiator", "${initiator}", "juel", 14), "who"),)
    assert user.io.outputs[0][0].text == "approved"
    assert user.loop is not None
    assert user.loop.collection == Expression("reviewers", "${reviewers}", "juel", 19)
    assert user.loop.element_variable == "reviewer"
    assert user.loop.cardinality is not None
    assert user.loop.cardinality.text == "3"
    assert nodes["call"].called_element == "child"
    assert nodes["call"].propagate_all_child_variables is True


def test_expression_languages() -> None:
    defs = _parse(
        """
<bpmn:process id="p">
  <bpmn:exclusiveGateway id="g"/>
  <bpmn:task id="t"/>
  <bpmn:sequenceFlow id="juel" sourceRef="g" targetRef="t">
    <bpmn:conditionExpression>${a &gt; 5}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="tmpl" sourceRef="g" targetRef="t">
    <bpmn:conditionExpression>${a} and ${b}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="js" sourceRef="g" targetRef="t">
    <bpmn:conditionExpression language="JavaScript"
      ><![CDATA[ next(null, a > 5) ]]></bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="dflt" sourceRef="g" targetRef="t">
    <bpmn:conditionExpression>a &gt; 5</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="empty" sourceRef="g" targetRef="t">
    <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"/>
  </bpmn:sequenceFlow>
</bpmn:process>""",
        root_attrs='expressionLanguage="http://www.python.org/python"',
    )

    flows = defs.process().flows

    def cond(flow_id: str) -> tuple[str, str | None]:
        condition = flows[flow_id].condition
        assert condition is not None
        return condition.text, condition.language

    assert cond("juel") == ("a > 5", "juel")
    assert cond("tmpl") == ("${a} and ${b}", "juel")
    assert cond("js") == ("next(null, a > 5)", "javascript")
    assert cond("dflt") == ("a > 5", "python")
    assert flows["empty"].condition is None


def test_nested_lanes_give_each_node_its_innermost_lane() -> None:
    defs = _parse(
        """
<bpmn:process id="p">
  <bpmn:laneSet id="ls">
    <bpmn:lane id="outer" name="Office">
      <bpmn:flowNodeRef>a</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>b</bpmn:flowNodeRef>
      <bpmn:childLaneSet id="cls">
        <bpmn:lane id="inner" laneway:persona="approver">
          <bpmn:flowNodeRef>b</bpmn:flowNodeRef>
        </bpmn:lane>
      </bpmn:childLaneSet>
    </bpmn:lane>
    <bpmn:lane id="other"><bpmn:flowNodeRef>sub</bpmn:flowNodeRef></bpmn:lane>
  </bpmn:laneSet>
  <bpmn:task id="a"/>
  <bpmn:task id="b"/>
  <bpmn:subProcess id="sub"><bpmn:task id="c"/></bpmn:subProcess>
</bpmn:process>"""
    )

    process = defs.process()
    assert [lane.id for lane in process.lanes] == ["outer", "other"]
    assert [lane.id for lane in process.all_lanes()] == ["outer", "inner", "other"]
    inner = process.lanes[0].child_lanes[0]
    assert (inner.parent, inner.persona, inner.flow_node_refs) == ("outer", "approver", ("b",))
    assert process.nodes["a"].lane == "outer"
    assert process.nodes["b"].lane == "inner"
    # Nodes inside a subprocess are worked in the subprocess's lane unless a lane names them.
    assert process.nodes["c"].lane == "other"


def test_subprocesses_are_flattened_with_their_parent() -> None:
    defs = _parse(
        """
<bpmn:process id="p">
  <bpmn:startEvent id="s"/>
  <bpmn:subProcess id="sub">
    <bpmn:startEvent id="s1"/>
    <bpmn:transaction id="tx">
      <bpmn:task id="deep"/>
    </bpmn:transaction>
    <bpmn:sequenceFlow id="in" sourceRef="s1" targetRef="tx"/>
  </bpmn:subProcess>
  <bpmn:subProcess id="events" triggeredByEvent="true">
    <bpmn:startEvent id="es" isInterrupting="false">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT5M</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:startEvent>
  </bpmn:subProcess>
  <bpmn:adHocSubProcess id="adhoc"><bpmn:task id="free"/></bpmn:adHocSubProcess>
  <bpmn:sequenceFlow id="top" sourceRef="s" targetRef="sub"/>
</bpmn:process>"""
    )

    process = defs.process()
    parents = {node_id: node.parent for node_id, node in process.nodes.items()}
    assert parents == {
        "s": None,
        "sub": None,
        "s1": "sub",
        "tx": "sub",
        "deep": "tx",
        "events": None,
        "es": "events",
        "adhoc": None,
        "free": "adhoc",
    }
    assert set(process.flows) == {"in", "top"}
    assert process.nodes["tx"].kind is NodeKind.TRANSACTION
    assert process.nodes["events"].triggered_by_event
    start = process.nodes["es"]
    assert start.interrupting is False
    timer = start.event_definitions[0].timer
    assert timer is not None
    assert (timer.kind, timer.expression.text) == (TimerKind.DURATION, "PT5M")


def test_incoming_and_outgoing_come_from_the_flows() -> None:
    # The bpmn:incoming/outgoing children are stale on purpose: the flows are what counts.
    defs = _parse(
        """
<bpmn:process id="p">
  <bpmn:startEvent id="s"><bpmn:outgoing>stale</bpmn:outgoing></bpmn:startEvent>
  <bpmn:parallelGateway id="g"/>
  <bpmn:task id="a"/>
  <bpmn:task id="b"/>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g"/>
  <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="a"/>
  <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="b"/>
  <bpmn:sequenceFlow sourceRef="a" targetRef="b"/>
</bpmn:process>"""
    )

    nodes = defs.process().nodes
    assert nodes["s"].outgoing == ("f1",)
    assert nodes["g"].incoming == ("f1",)
    assert nodes["g"].outgoing == ("f2", "f3")
    # A flow written without an id (Camunda 7 and Flowable allow it) gets a made-up one.
    assert nodes["b"].incoming == ("f3", "a->b")


def test_events_boundaries_and_definitions_level_elements() -> None:
    defs = _parse(
        """
<bpmn:message id="m" name="order"/>
<bpmn:signal id="sig" name="alarm"/>
<bpmn:error id="err" errorCode="E42"/>
<bpmn:escalation id="esc" escalationCode="late"/>
<bpmn:timerEventDefinition id="shared">
  <bpmn:timeCycle>R3/PT1H</bpmn:timeCycle>
</bpmn:timerEventDefinition>
<bpmn:process id="p">
  <bpmn:startEvent id="s"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
  <bpmn:task id="t"/>
  <bpmn:boundaryEvent id="b" attachedToRef="t" cancelActivity="false">
    <bpmn:errorEventDefinition errorRef="err"/>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="code" attachedToRef="t">
    <bpmn:errorEventDefinition errorRef="JUST_A_CODE"/>
  </bpmn:boundaryEvent>
  <bpmn:intermediateCatchEvent id="tick">
    <bpmn:eventDefinitionRef>shared</bpmn:eventDefinitionRef>
  </bpmn:intermediateCatchEvent>
  <bpmn:intermediateThrowEvent id="link">
    <bpmn:linkEventDefinition name="L"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:intermediateCatchEvent id="cond">
    <bpmn:conditionalEventDefinition><bpmn:condition>${x}</bpmn:condition></bpmn:conditionalEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:endEvent id="e"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:endEvent>
  <bpmn:endEvent id="x"><bpmn:escalationEventDefinition escalationRef="esc"/></bpmn:endEvent>
  <bpmn:endEvent id="stop"><bpmn:terminateEventDefinition/></bpmn:endEvent>
  <bpmn:receiveTask id="r" messageRef="m" instantiate="true"/>
</bpmn:process>"""
    )

    nodes = defs.process().nodes
    assert nodes["s"].event_kind is EventKind.MESSAGE
    assert nodes["s"].event_definitions[0].ref == "m"
    assert (nodes["b"].attached_to, nodes["b"].cancel_activity) == ("t", False)
    assert nodes["code"].cancel_activity is True
    # Camunda 7 and Flowable read an errorRef naming no error as the error code itself.
    assert nodes["code"].event_definitions[0].ref == "JUST_A_CODE"
    tick = nodes["tick"].event_definition
    assert tick is not None
    assert tick.timer is not None
    assert (tick.id, tick.timer.kind, tick.timer.expression.text) == (
        "shared",
        TimerKind.CYCLE,
        "R3/PT1H",
    )
    link = nodes["link"].event_definition
    assert link is not None
    assert link.link_name == "L"
    cond = nodes["cond"].event_definition
    assert cond is not None
    assert cond.condition is not None
    assert cond.condition.text == "x"
    assert nodes["e"].event_kind is EventKind.SIGNAL
    assert nodes["x"].event_kind is EventKind.ESCALATION
    assert nodes["stop"].event_kind is EventKind.TERMINATE
    assert (nodes["r"].message_ref, nodes["r"].instantiate) == ("m", True)
    assert defs.messages["m"].name == "order"
    assert defs.signals["sig"].name == "alarm"
    assert defs.errors["err"].code == "E42"
    assert defs.escalations["esc"].code == "late"


def test_collaboration_data_and_standard_loop() -> None:
    defs = _parse(
        """
<bpmn:collaboration id="c">
  <bpmn:participant id="pool" name="Clerk" processRef="p"/>
  <bpmn:participant id="customer" name="Customer"/>
  <bpmn:messageFlow id="mf" sourceRef="customer" targetRef="t" messageRef="m"/>
</bpmn:collaboration>
<bpmn:message id="m"/>
<bpmn:dataStore id="db" name="Orders"/>
<bpmn:process id="p" isExecutable="false">
  <bpmn:property id="prop" name="priority"/>
  <bpmn:dataObject id="do" isCollection="true"/>
  <bpmn:dataObjectReference id="dor" dataObjectRef="do"/>
  <bpmn:dataStoreReference id="dsr" dataStoreRef="db"/>
  <bpmn:task id="t">
    <bpmn:standardLoopCharacteristics testBefore="true" loopMaximum="3">
      <bpmn:loopCondition>count &lt; 3</bpmn:loopCondition>
    </bpmn:standardLoopCharacteristics>
  </bpmn:task>
</bpmn:process>"""
    )

    [collab] = defs.collaborations
    assert [(p.id, p.process_ref) for p in collab.participants] == [
        ("pool", "p"),
        ("customer", None),
    ]
    flow = collab.message_flows[0]
    assert (flow.source, flow.target, flow.message_ref) == ("customer", "t", "m")
    process = defs.process()
    assert process.is_executable is False
    data = {d.id: d for d in process.data}
    assert data["do"].is_collection
    assert data["dor"].ref == "do"
    assert data["dsr"].ref == "db"
    assert data["db"].name == "Orders"
    assert data["prop"].kind == "property"
    loop = process.nodes["t"].loop
    assert loop is not None
    assert (loop.multi_instance, loop.test_before, loop.loop_maximum) == (False, True, 3)
    assert loop.loop_condition is not None
    assert loop.loop_condition.text == "count < 3"


def test_default_flow_and_gateway_attributes() -> None:
    defs = _parse(
        """
<bpmn:process id="p">
  <bpmn:exclusiveGateway id="g" default="f2" gatewayDirection="Diverging"/>
  <bpmn:eventBasedGateway id="eg" eventGatewayType="Exclusive" instantiate="true"/>
  <bpmn:task id="a"/>
  <bpmn:sequenceFlow id="f1" sourceRef="g" targetRef="a"/>
  <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="a"/>
</bpmn:process>"""
    )

    nodes = defs.process().nodes
    assert nodes["g"].default_flow == "f2"
    assert nodes["g"].gateway_direction == "Diverging"
    assert (nodes["eg"].event_gateway_type, nodes["eg"].instantiate) == ("Exclusive", True)


# --- vendor dialects read once, into typed fields ---------------------------------------------

VENDOR_TASKS = """
<bpmn:process id="p">
  <bpmn:laneSet id="ls">
    <bpmn:lane id="l" laneway:persona="clerk"><bpmn:flowNodeRef>u</bpmn:flowNodeRef></bpmn:lane>
  </bpmn:laneSet>
  <bpmn:userTask id="u" laneway:assignee="=boss" camunda:candidateGroups="sales"
      laneway:slaMinutes=" 90 " laneway:escalationConnector=" email " laneway:retries="5"
      camunda:formKey="review-form" acme:prio="high">
    <bpmn:extensionElements>
      <zeebe:assignmentDefinition assignee="ignored" candidateUsers="ann, bob"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:exclusiveGateway id="g" laneway:decision="Handler"/>
  <bpmn:exclusiveGateway id="g2" laneway:decision="no"/>
  <bpmn:sendTask id="send" laneway:correlationKey="=order.id" laneway:retries="">
    <bpmn:extensionElements><zeebe:taskDefinition type="mail" retries="7"/>
    </bpmn:extensionElements>
  </bpmn:sendTask>
  <bpmn:startEvent id="s"><bpmn:extensionElements>
    <zeebe:formDefinition formId="start-form"/></bpmn:extensionElements></bpmn:startEvent>
</bpmn:process>
"""


def test_vendor_attributes_become_typed_fields_and_stay_in_the_bag() -> None:
    process = _parse(VENDOR_TASKS).process()
    u = process.nodes["u"]
    assert (u.assignee, u.candidate_groups, u.candidate_users) == ("=boss", "sales", "ann, bob")
    assert (u.sla_minutes, u.escalation_connector, u.job_retries) == (" 90 ", "email", "5")
    assert u.form == "review-form"
    assert u.attrs["acme:prio"] == "high"
    assert u.attrs["laneway:slaMinutes"] == " 90 "
    assert process.lanes[0].persona == "clerk"
    assert process.nodes["g"].decision_handler
    assert not process.nodes["g2"].decision_handler
    send = process.nodes["send"]
    # `=order.id` is FEEL's mark, stripped as everywhere else; the raw text is kept
    assert send.correlation_key is not None
    assert (send.correlation_key.text, send.correlation_key.raw,
            send.correlation_key.language) == ("order.id", "=order.id", "feel")
    assert send.job_retries == "7"  # a blank laneway:retries leaves Zeebe's
    assert process.nodes["s"].form == "start-form"
    assert process.nodes["s"].assignee is None


def test_laneway_attributes_are_read_under_any_prefix_of_its_namespace() -> None:
    process = _parse("""
<bpmn:process id="p" xmlns:lw="http://laneway.dev/schema/1.0/bpmn">
  <bpmn:laneSet id="ls">
    <bpmn:lane id="l" lw:persona="clerk"><bpmn:flowNodeRef>u</bpmn:flowNodeRef></bpmn:lane>
  </bpmn:laneSet>
  <bpmn:userTask id="u" lw:slaMinutes="30" lw:candidateUsers="ann" lw:form="f"/>
</bpmn:process>
""").process()
    u = process.nodes["u"]
    assert (u.sla_minutes, u.candidate_users, u.form) == ("30", "ann", "f")
    assert process.lanes[0].persona == "clerk"
    assert u.attrs["lw:slaMinutes"] == "30"


def test_the_literal_laneway_prefix_is_still_read_when_bound_to_another_uri() -> None:
    process = _parse("""
<bpmn:process id="p">
  <bpmn:userTask id="u" xmlns:laneway="urn:old" laneway:slaMinutes="15" laneway:assignee="ann"/>
</bpmn:process>
""").process()
    u = process.nodes["u"]
    assert (u.sla_minutes, u.assignee) == ("15", "ann")
