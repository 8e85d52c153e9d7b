"""Tasks: what each kind hands out (nothing, a user task, a job, a script) and how its answer
moves the token on; job failures, retries, incidents and BPMN errors from workers."""

from __future__ import annotations

import json

from conftest import RunFn

from laneway.records import Command, RecordKind


def test_plain_and_manual_tasks_pass_the_token_on(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><task id="t"/><manualTask id="m"/><endEvent id="e"/>
    @ s -> t -> m -> e
    """)
    assert h.completed() == ["s", "t", "m", "e", "p"]
    assert h.status(h.iid) == "COMPLETED"


USER_TASK = """
<laneSet id="ls">
  <lane id="clerks" name="Clerks" laneway:persona="clerk"><flowNodeRef>review</flowNodeRef></lane>
</laneSet>
<startEvent id="s"/>
<userTask id="review" name="Review order" acme:priority=" HIGH " laneway:form="review-form"/>
<endEvent id="e"/>
@ s -> review -> e
"""


def test_user_task_is_created_with_attribute_bag_lane_and_persona(run: RunFn) -> None:
    h = run(USER_TASK)
    created = h.last("USER_TASK_CREATED", "review")
    assert created.value["attributes"] == {"acme:priority": " HIGH ",
                                           "laneway:form": "review-form"}
    assert created.value["lane"] == "Clerks"
    assert created.value["persona"] == "clerk"
    assert created.value["elementName"] == "Review order"
    assert created.value["form"] == "review-form"
    assert h.status(h.iid) == "WAITING"


def test_completing_a_user_task_moves_on_with_its_variables(run: RunFn) -> None:
    h = run(USER_TASK)
    recs = h.complete_task("review", {"approved": True})
    assert [r.intent for r in recs][:2] == ["USER_TASK_COMPLETED", "VARIABLES_UPDATED"]
    assert h.variables(h.iid) == {"approved": True}
    assert h.status(h.iid) == "COMPLETED"


SERVICE = """
<startEvent id="s"/>
<serviceTask id="charge" acme:costCenter="0042 ">
  <extensionElements>
    <zeebe:taskDefinition type="payment" retries="2"/>
    <zeebe:taskHeaders><zeebe:header key="currency" value="EUR"/></zeebe:taskHeaders>
  </extensionElements>
</serviceTask>
<endEvent id="e"/>
@ s -> charge -> e
"""


def test_service_task_creates_a_job_of_the_zeebe_type_with_the_attribute_bag_untouched(
    run: RunFn,
) -> None:
    h = run(SERVICE, variables={"amount": 5})
    job = h.job("charge")
    assert job.value["type"] == "payment"
    assert job.value["retries"] == 2
    assert job.value["attributes"] == {"acme:costCenter": "0042 "}
    assert job.value["headers"] == {"currency": "EUR"}
    assert job.value["variables"] == {"amount": 5}


def test_laneway_type_names_the_job_type(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><serviceTask id="t" laneway:type="email"/><endEvent id="e"/>
    @ s -> t -> e
    """)
    assert h.job("t").value["type"] == "email"


def test_completing_a_job_completes_the_task_with_the_result(run: RunFn) -> None:
    h = run(SERVICE)
    recs = h.complete_job("charge", {"paid": True})
    assert [(r.intent, r.element_id) for r in recs][:3] == [
        ("JOB_COMPLETED", "charge"), ("VARIABLES_UPDATED", "p"), ("ELEMENT_COMPLETED", "charge")]
    assert h.variables(h.iid) == {"paid": True}
    assert h.status(h.iid) == "COMPLETED"


def test_failing_a_job_down_to_zero_retries_raises_an_incident(run: RunFn) -> None:
    h = run(SERVICE)
    # a failure with retries left keeps the job waiting
    h.fail_job("charge", retries=1)
    assert h.events("INCIDENT_CREATED") == []
    # the last failure raises an incident on the task
    h.fail_job("charge", retries=0, message="card declined")
    incident = h.last("INCIDENT_CREATED", "charge")
    assert incident.value["errorType"] == "JOB_NO_RETRIES"
    assert incident.value["message"] == "card declined"
    assert h.status(h.iid) == "INCIDENT"


def test_resolving_a_job_incident_hands_the_job_out_again(run: RunFn) -> None:
    h = run(SERVICE)
    h.fail_job("charge", retries=0)
    incident = h.last("INCIDENT_CREATED", "charge")
    # when the incident is resolved with new retries
    recs = h.send(Command.RESOLVE_INCIDENT, h.iid,
                  {"incidentKey": incident.value["key"], "retries": 3})
    assert [r.intent for r in recs] == ["INCIDENT_RESOLVED", "JOB_CANCELED", "JOB_CREATED"]
    assert h.job("charge").value["retries"] == 3
    # then the job can be completed
    h.complete_job("charge")
    assert h.status(h.iid) == "COMPLETED"


def test_a_job_that_failed_with_no_retries_cannot_be_completed(run: RunFn) -> None:
    h = run(SERVICE)
    h.fail_job("charge", retries=0)
    [rejection] = h.complete_job("charge")
    assert rejection.kind == RecordKind.REJECTION
    assert "resolve its incident" in rejection.value["reason"]


def test_completing_an_already_completed_job_is_rejected_without_a_state_change(
    run: RunFn,
) -> None:
    h = run(SERVICE.replace("<endEvent id=\"e\"/>", "<userTask id=\"e\"/>"))
    h.complete_job("charge")
    before = json.dumps(h.runner.engine.state.to_dict(), sort_keys=True)
    [rejection] = h.complete_job("charge")
    assert rejection.kind == RecordKind.REJECTION
    assert rejection.intent == "COMPLETE_JOB"
    assert rejection.value["rejectionType"] == "NOT_FOUND"
    assert "to be active, but it is not" in rejection.value["reason"]
    assert json.dumps(h.runner.engine.state.to_dict(), sort_keys=True) == before


ERROR_BOUNDARY = """
<error id="err" errorCode="DECLINED"/>
<startEvent id="s"/>
<serviceTask id="charge" laneway:type="payment"/>
<boundaryEvent id="declined" attachedToRef="charge">
  <errorEventDefinition errorRef="err"/></boundaryEvent>
<endEvent id="paid"/>
<userTask id="apologise"/>
@ s -> charge -> paid
@ declined -> apologise
"""


def test_a_bpmn_error_from_a_worker_is_caught_by_the_boundary_event(run: RunFn) -> None:
    h = run(ERROR_BOUNDARY)
    h.throw_error("charge", "DECLINED", {"reason": "no funds"})
    assert h.trail("JOB_ERROR_THROWN", "ERROR_THROWN", "ELEMENT_TERMINATED")[:3] == [
        ("JOB_ERROR_THROWN", "charge"), ("ERROR_THROWN", "charge"),
        ("ELEMENT_TERMINATED", "charge")]
    assert h.activated()[-2:] == ["declined", "apologise"]
    assert h.variables(h.iid)["reason"] == "no funds"


def test_a_bpmn_error_nobody_catches_raises_an_incident(run: RunFn) -> None:
    h = run(ERROR_BOUNDARY)
    h.throw_error("charge", "OTHER")
    incident = h.last("INCIDENT_CREATED", "charge")
    assert incident.value["errorType"] == "UNHANDLED_ERROR_EVENT"
    assert "OTHER" in incident.value["message"]
    assert h.status(h.iid) == "INCIDENT"


def test_feel_script_task_sets_its_result_variable(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <scriptTask id="calc">
      <extensionElements><zeebe:script expression="=a * 2 + 1" resultVariable="b"/>
      </extensionElements>
    </scriptTask>
    <endEvent id="e"/>
    @ s -> calc -> e
    """, variables={"a": 20})
    assert h.events("JOB_CREATED") == []
    assert h.variables(h.iid) == {"a": 20, "b": 41}
    assert h.status(h.iid) == "COMPLETED"


def test_non_feel_script_task_becomes_a_script_job(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <scriptTask id="calc" scriptFormat="groovy"><script>b = a * 2</script></scriptTask>
    <endEvent id="e"/>
    @ s -> calc -> e
    """)
    job = h.job("calc")
    assert job.value["type"] == "script"
    assert job.value["script"] == "b = a * 2"
    assert job.value["scriptFormat"] == "groovy"


def test_send_and_business_rule_tasks_become_jobs(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/><sendTask id="send"/><businessRuleTask id="rule"/><endEvent id="e"/>
    @ s -> send -> rule -> e
    """)
    assert h.job("send").value["type"] == "send"
    h.complete_job("send")
    assert h.job("rule").value["type"] == "business-rule"
    h.complete_job("rule", {"score": 3})
    assert h.variables(h.iid) == {"score": 3}


RECEIVE = """
<message id="m" name="payment">
  <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
</message>
<startEvent id="s"/>
<receiveTask id="wait" messageRef="m"/>
<endEvent id="e"/>
@ s -> wait -> e
"""


def test_receive_task_waits_for_the_message_with_its_correlation_key(run: RunFn) -> None:
    h = run(RECEIVE, variables={"orderId": 17})
    sub = h.last("MESSAGE_SUBSCRIPTION_CREATED", "wait")
    assert sub.value["correlationKey"] == "17"
    # a message with another key does not reach it
    h.publish("payment", "18", {"amount": 1})
    assert h.status(h.iid) == "WAITING"
    # the one with its key does
    h.publish("payment", "17", {"amount": 2})
    assert h.variables(h.iid) == {"orderId": 17, "amount": 2}
    assert h.status(h.iid) == "COMPLETED"


def test_a_buffered_message_is_received_when_the_subscription_opens_later(run: RunFn) -> None:
    h = run(RECEIVE, start=False)
    h.publish("payment", "5", {"amount": 9}, ttl=60_000)
    iid = h.start("p", {"orderId": "5"})
    assert h.status(iid) == "COMPLETED"
    assert h.variables(iid)["amount"] == 9
