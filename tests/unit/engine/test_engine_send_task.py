"""Send tasks (BPMN 2.0.2, 10.3.3 "Send Task", 13.3.3): a send task with a message sends it
and completes, as a message throw event does (same correlation key); one given a job type
stays a job for a connector; one without a message stays a `send` job."""

from __future__ import annotations

from conftest import RunFn

SENDER = """
<message id="m" name="ping">
  <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
</message>
<startEvent id="s"/>
<sendTask id="send" messageRef="m"{extra}/>
<task id="after"/>
<endEvent id="e"/>
@ s -> send -> after -> e
"""

RECEIVER = """
<message id="m" name="ping">
  <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
</message>
<process id="r" isExecutable="true">
  <startEvent id="rs"/>
  <intermediateCatchEvent id="wait"><messageEventDefinition messageRef="m"/>
  </intermediateCatchEvent>
  <endEvent id="re"/>
  <sequenceFlow id="f1" sourceRef="rs" targetRef="wait"/>
  <sequenceFlow id="f2" sourceRef="wait" targetRef="re"/>
</process>
"""


def test_a_send_task_with_a_message_publishes_it_and_completes(run: RunFn) -> None:
    h = run(RECEIVER, process="r", also=(SENDER.format(extra=""),), variables={"orderId": 7})
    receiver = h.iid
    assert h.status(receiver) == "WAITING"
    sender = h.start("p", {"orderId": 7, "amount": 3})
    # no job: the task sent the message and the token went on
    assert h.events("JOB_CREATED") == []
    assert h.activated(sender) == ["p", "s", "send", "after", "e"]
    assert h.status(sender) == "COMPLETED"
    # the receiver waiting on the same correlation key got it, with the sender's variables
    assert h.status(receiver) == "COMPLETED"
    assert h.variables(receiver)["amount"] == 3


def test_the_message_carries_the_correlation_key_a_throw_event_gets(run: RunFn) -> None:
    h = run(SENDER.format(extra=""), variables={"orderId": 42})
    published = h.events("MESSAGE_PUBLISHED")
    assert [(r.value["name"], r.value["correlationKey"]) for r in published] == [("ping", "42")]


def test_a_send_task_with_a_job_type_stays_a_job(run: RunFn) -> None:
    h = run(SENDER.format(extra=' laneway:type="mailer"'), variables={"orderId": 1})
    assert h.job("send").value["type"] == "mailer"
    assert h.events("MESSAGE_PUBLISHED") == []
    assert h.status(h.iid) == "WAITING"
    h.complete_job("send")
    assert h.status(h.iid) == "COMPLETED"
