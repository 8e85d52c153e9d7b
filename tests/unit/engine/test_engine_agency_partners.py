"""A message flow to a partner agency the engine has no topic for (docs/agencies.md): the
element that sends it raises AGENCY_NOT_CONFIGURED and waits; configured, resolving the
incident sends the message under the id the first try would have had."""

from __future__ import annotations

import pytest
from conftest import Harness, RunFn

from laneway.agency_flows import message_id
from laneway.records import Command

COLLABORATION = """
<message id="m" name="caseRequest"/>
<collaboration id="c">
  <participant id="pa" processRef="p" laneway:agency="a"/>
  <participant id="pb" laneway:agency="b"/>
  <messageFlow id="mf" sourceRef="send" targetRef="pb" laneway:variables="caseId"/>
</collaboration>
<process id="p" isExecutable="true">
  <startEvent id="s"/>
  {sender}
  <endEvent id="e"/>
  {flows}
</process>
"""

THROW = """<intermediateThrowEvent id="send" laneway:correlationKey="caseId">
    <messageEventDefinition messageRef="m"/></intermediateThrowEvent>"""
SEND_TASK = '<sendTask id="send" messageRef="m" laneway:correlationKey="caseId"/>'
END = """<endEvent id="send" laneway:correlationKey="caseId">
    <messageEventDefinition messageRef="m"/></endEvent>"""

SENDERS = {"throw": (THROW, "@ s -> send -> e"), "send task": (SEND_TASK, "@ s -> send -> e"),
           "end event": (END, "@ s -> send")}
START = {"caseId": "C-7", "internalNote": "not for b"}


def diagram(kind: str) -> str:
    sender, flows = SENDERS[kind]
    return COLLABORATION.format(sender=sender, flows=flows)


def incident(h: Harness) -> dict[str, object]:
    [created] = h.events("INCIDENT_CREATED", "send")
    return dict(created.value)


@pytest.mark.parametrize("kind", SENDERS)
def test_a_partner_without_a_topic_is_an_incident_and_the_element_waits(
        run: RunFn, kind: str) -> None:
    h = run(diagram(kind), variables=START, partners=frozenset({"c"}))
    found = incident(h)
    assert found["errorType"] == "AGENCY_NOT_CONFIGURED"
    message = str(found["message"])
    for named in ("'b'", "'mf'", "LANEWAY_AGENCY_PARTNERS", "resolve"):
        assert named in message
    # nothing was sent, nowhere: no message across, none published here
    assert h.runner.sent_across == []
    assert not [r for r in h.records if r.intent == Command.PUBLISH_MESSAGE.value]
    assert "send" not in h.completed()
    assert h.status(h.iid) == "INCIDENT"


@pytest.mark.parametrize("kind", SENDERS)
def test_resolving_it_once_configured_sends_under_the_first_tries_id(
        run: RunFn, kind: str) -> None:
    h = run(diagram(kind), variables=START, partners=frozenset())
    found = incident(h)
    # still not configured: resolving raises it again, and still sends nothing
    h.send(Command.RESOLVE_INCIDENT, h.iid, {"incidentKey": found["key"]})
    assert len(h.events("INCIDENT_CREATED", "send")) == 2
    assert h.runner.sent_across == []
    # the engine restarted with the partner configured
    h.runner.engine.partners = frozenset({"b"})
    again = h.events("INCIDENT_CREATED", "send")[-1].value
    h.send(Command.RESOLVE_INCIDENT, h.iid, {"incidentKey": again["key"]})
    [sent] = h.runner.sent_across
    key = h.events("ELEMENT_ACTIVATED", "send")[0].value["key"]
    assert sent.value["agency"] == "b"
    assert sent.value["messageId"] == message_id(h.iid, key)
    assert sent.value["variables"] == {"caseId": "C-7"}  # never internalNote
    assert sent.value["correlationKey"] == "C-7"
    assert "send" in h.completed()
    assert h.status(h.iid) == "COMPLETED"


def test_laneway_run_has_every_partner(run: RunFn) -> None:
    # no partners given (None): `laneway run`, where a message across leaves the run
    h = run(diagram("throw"), variables=START)
    assert h.events("INCIDENT_CREATED") == []
    [sent] = h.runner.sent_across
    assert sent.value["agency"] == "b"
