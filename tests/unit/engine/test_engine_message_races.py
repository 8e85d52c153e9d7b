"""Message correlation when the waiting side moves while the message is on its way."""

from __future__ import annotations

from conftest import RunFn

from laneway.records import Command

RECEIVE = """
<message id="m" name="payment">
  <extensionElements><zeebe:subscription correlationKey="=orderId"/></extensionElements>
</message>
<startEvent id="s"/>
<receiveTask id="wait" messageRef="m"/>
<endEvent id="e"/>
@ s -> wait -> e
"""


def test_a_message_whose_instance_ended_on_the_way_goes_to_the_next_waiting_instance(
    run: RunFn,
) -> None:
    # given two instances of one process waiting for the same message
    h = run(RECEIVE, variables={"orderId": 7})
    first = h.iid
    second = h.start("p", {"orderId": 7})
    # when the message is published and, before its correlation reaches the first instance,
    # that instance is cancelled (both commands queued before either is processed)
    h.runner.submit(Command.PUBLISH_MESSAGE, "", {
        "name": "payment", "correlationKey": "7", "variables": {"paid": True},
        "messageId": "pay-7", "ttl": 60_000})
    h.runner.submit(Command.CANCEL_INSTANCE, first, {})
    h.runner.drain()
    # then the first correlation is rejected and retracted, and the second instance gets it
    retracted = h.events("MESSAGE_CORRELATION_RETRACTED")
    assert [r.value["messageId"] for r in retracted] == ["pay-7"]
    assert h.status(first) == "TERMINATED"
    assert h.status(second) == "COMPLETED"
    assert h.variables(second)["paid"] is True


def test_a_message_without_time_to_live_is_not_offered_again(run: RunFn) -> None:
    # given two waiting instances, and a message that is not buffered (ttl 0)
    h = run(RECEIVE, variables={"orderId": 8})
    first = h.iid
    second = h.start("p", {"orderId": 8})
    h.runner.submit(Command.PUBLISH_MESSAGE, "", {
        "name": "payment", "correlationKey": "8", "variables": {}, "messageId": "pay-8",
        "ttl": 0})
    h.runner.submit(Command.CANCEL_INSTANCE, first, {})
    h.runner.drain()
    # then nothing is retracted (there is nothing left to offer) and the second still waits
    assert h.events("MESSAGE_CORRELATION_RETRACTED") == []
    assert h.status(second) == "WAITING"


def test_an_open_subscription_command_read_twice_opens_the_subscription_once(
    run: RunFn,
) -> None:
    # given an instance waiting for a message, whose OPEN_MESSAGE_SUBSCRIPTION was processed
    h = run(RECEIVE, variables={"orderId": 9})
    [opened] = [c for c in h.processed if c.intent == Command.OPEN_MESSAGE_SUBSCRIPTION.value]
    # when the same command (same record id) is read a second time, as after a redelivery
    again = h.runner.engine.process(opened)
    # then the message side, which holds that subscription already, writes nothing: a second
    # PROCESS_MESSAGE_SUBSCRIPTION_OPENED would carry the first one's record id
    assert again.events == []
    assert again.commands == []
    # and the message still correlates once
    h.send(Command.PUBLISH_MESSAGE, "", {
        "name": "payment", "correlationKey": "9", "variables": {}, "messageId": "pay-9",
        "ttl": 60_000})
    assert h.status(h.iid) == "COMPLETED"
    assert len(h.events("MESSAGE_SUBSCRIPTION_CORRELATED")) == 1
