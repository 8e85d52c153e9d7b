"""Gateways: exclusive, parallel, inclusive (split and the join that waits only for tokens
that can still arrive), event-based, and gateways that ask a decision handler."""

from __future__ import annotations

from conftest import RunFn

from laneway.records import Command, RecordKind

EXCLUSIVE = """
<startEvent id="s"/>
<exclusiveGateway id="gw" {default}/>
<endEvent id="big"/><endEvent id="huge"/><endEvent id="small"/>
@ s -> gw
@ gw -> big : =amount > 100
@ gw -> huge : =amount > 1000
{other}
"""


def exclusive(default: bool) -> str:
    if default:
        return EXCLUSIVE.format(default='default="gw_small"', other="@ gw -> small")
    return EXCLUSIVE.format(default="", other="")


def test_exclusive_gateway_takes_the_first_flow_whose_condition_holds(run: RunFn) -> None:
    h = run(exclusive(default=True), variables={"amount": 5000})
    assert "gw_big" in h.taken()
    assert "gw_huge" not in h.taken()
    assert h.completed()[-2:] == ["big", "p"]


def test_exclusive_gateway_takes_the_default_flow_when_no_condition_holds(run: RunFn) -> None:
    h = run(exclusive(default=True), variables={"amount": 1})
    assert h.taken()[-1] == "gw_small"
    assert h.status(h.iid) == "COMPLETED"


def test_exclusive_gateway_without_a_match_raises_a_condition_incident(run: RunFn) -> None:
    h = run(exclusive(default=False), variables={"amount": 1})
    incident = h.last("INCIDENT_CREATED", "gw")
    assert incident.value["errorType"] == "CONDITION_ERROR"
    assert h.status(h.iid) == "INCIDENT"


def test_resolving_a_condition_incident_after_fixing_nothing_raises_it_again(run: RunFn) -> None:
    h = run(exclusive(default=False), variables={"amount": 1})
    incident = h.last("INCIDENT_CREATED", "gw")
    recs = h.send(Command.RESOLVE_INCIDENT, h.iid, {"incidentKey": incident.value["key"]})
    assert [r.intent for r in recs] == ["INCIDENT_RESOLVED", "INCIDENT_CREATED"]
    assert h.status(h.iid) == "INCIDENT"


PARALLEL = """
<startEvent id="s"/>
<parallelGateway id="fork"/>
<userTask id="a"/><userTask id="b"/>
<parallelGateway id="join"/>
<endEvent id="e"/>
@ s -> fork -> a -> join -> e
@ fork -> b -> join
"""


def test_parallel_gateway_splits_into_every_branch_and_joins_when_all_arrived(
    run: RunFn,
) -> None:
    h = run(PARALLEL)
    assert {"a", "b"} <= set(h.activated())
    h.complete_task("a")
    assert "join" not in h.activated()
    h.complete_task("b")
    assert h.activated().count("join") == 1
    assert h.last("JOIN_CONSUMED", "join").value["flows"] == ["a_join", "b_join"]
    assert h.status(h.iid) == "COMPLETED"


INCLUSIVE = """
<startEvent id="s"/>
<inclusiveGateway id="split"/>
<userTask id="a"/><userTask id="b"/><userTask id="c"/>
<inclusiveGateway id="join"/>
<userTask id="after"/>
@ s -> split
@ split -> a : =x > 0
@ split -> b : =x > 1
@ split -> c : =x > 2
@ a -> join
@ b -> join
@ c -> join
@ join -> after
"""


def test_inclusive_split_takes_every_flow_whose_condition_holds(run: RunFn) -> None:
    h = run(INCLUSIVE, variables={"x": 2})
    assert [f for f in h.taken() if f.startswith("split_")] == ["split_a", "split_b"]
    assert "c" not in h.activated()


def test_inclusive_join_fires_after_the_branches_that_were_taken(run: RunFn) -> None:
    h = run(INCLUSIVE, variables={"x": 2})
    h.complete_task("b")
    assert "join" not in h.activated()
    h.complete_task("a")
    assert h.activated().count("join") == 1
    assert sorted(h.last("JOIN_CONSUMED", "join").value["flows"]) == ["a_join", "b_join"]
    assert h.activated()[-1] == "after"


def test_inclusive_join_waits_for_a_token_still_on_its_way_from_the_split(run: RunFn) -> None:
    # given a split whose first branch goes straight to the join and second through a task
    h = run("""
    <startEvent id="s"/>
    <inclusiveGateway id="split"/>
    <userTask id="slow"/>
    <inclusiveGateway id="join"/>
    <userTask id="after"/>
    @ s -> split
    @ split -> join : =true
    @ split -> slow : =true
    @ slow -> join -> after
    """)
    # then the join waits for the slow branch
    assert "join" not in h.activated()
    h.complete_task("slow")
    assert h.activated().count("join") == 1
    assert h.activated()[-1] == "after"


LOOPING_BRANCH = """
<startEvent id="s"/>
<inclusiveGateway id="split"/>
<userTask id="a"/><userTask id="b"/>
<exclusiveGateway id="again" default="again_join"/>
<inclusiveGateway id="join"/>
<userTask id="after"/>
@ s -> split
@ split -> a : =true
@ split -> b : =true
@ a -> again
@ again -> a : =repeat
@ again -> join
@ b -> join -> after
"""


def test_inclusive_join_keeps_waiting_while_a_branch_loops_back(run: RunFn) -> None:
    h = run(LOOPING_BRANCH)
    h.complete_task("b")
    h.complete_task("a", {"repeat": True})
    # the loop went back to 'a': the join still waits for it
    assert h.activated().count("a") == 2
    assert "join" not in h.activated()
    h.complete_task("a", {"repeat": False})
    assert h.activated().count("join") == 1
    assert h.activated()[-1] == "after"


def test_inclusive_join_fires_when_the_branch_it_waited_for_ends_elsewhere(run: RunFn) -> None:
    # given a branch that may leave toward an end event instead of the join
    h = run("""
    <startEvent id="s"/>
    <inclusiveGateway id="split"/>
    <userTask id="a"/><userTask id="b"/>
    <exclusiveGateway id="route" default="route_join"/>
    <endEvent id="elsewhere"/>
    <inclusiveGateway id="join"/>
    <userTask id="after"/>
    @ s -> split
    @ split -> a : =true
    @ split -> b : =true
    @ a -> join
    @ b -> route
    @ route -> elsewhere : =skip
    @ route -> join
    @ join -> after
    """)
    h.complete_task("a")
    assert "join" not in h.activated()
    # when the other branch ends without reaching the join
    h.complete_task("b", {"skip": True})
    # then nothing can reach the join any more: it fires with the one token it has
    assert h.activated().count("join") == 1
    assert h.last("JOIN_CONSUMED", "join").value["flows"] == ["a_join"]
    assert h.activated()[-1] == "after"


EVENT_GATEWAY = """
<message id="m" name="answer">
  <extensionElements><zeebe:subscription correlationKey="=caseId"/></extensionElements>
</message>
<startEvent id="s"/>
<eventBasedGateway id="race"/>
<intermediateCatchEvent id="reply"><messageEventDefinition messageRef="m"/>
</intermediateCatchEvent>
<intermediateCatchEvent id="timeout">
  <timerEventDefinition><timeDuration>PT10M</timeDuration></timerEventDefinition>
</intermediateCatchEvent>
<endEvent id="answered"/><endEvent id="late"/>
@ s -> race
@ race -> reply -> answered
@ race -> timeout -> late
"""


def test_event_based_gateway_timer_wins_when_no_message_came(run: RunFn) -> None:
    h = run(EVENT_GATEWAY, variables={"caseId": "c1"})
    recs = h.fire_timer("timeout")
    intents = [(r.intent, r.element_id) for r in recs]
    assert ("MESSAGE_SUBSCRIPTION_DELETED", "race") in intents
    assert ("PROCESS_MESSAGE_SUBSCRIPTION_CLOSED", "") in intents
    assert h.completed()[-2:] == ["late", "p"]
    assert "reply" not in h.activated()
    # a message now finds nobody waiting
    h.publish("answer", "c1")
    assert h.events("MESSAGE_SUBSCRIPTION_CORRELATED") == []


def test_event_based_gateway_message_wins_when_published_first(run: RunFn) -> None:
    h = run(EVENT_GATEWAY, variables={"caseId": "c1"})
    timer = h.timer("timeout")
    recs = h.publish("answer", "c1", {"text": "yes"})
    assert ("TIMER_CANCELED", "race") in [(r.intent, r.element_id) for r in recs]
    assert h.completed()[-3:] == ["reply", "answered", "p"]
    assert h.variables(h.iid)["text"] == "yes"
    # the losing timer cannot fire any more
    [rejection] = h.send(Command.TRIGGER_TIMER, h.iid, {"timerKey": timer.value["key"]},
                         at=timer.value["due"])
    assert rejection.kind == RecordKind.REJECTION


DECISION = """
<startEvent id="s"/>
<exclusiveGateway id="route" laneway:decision="handler"/>
<endEvent id="fast"/><endEvent id="slow"/>
@ s -> route
@ route -> fast : =urgent
@ route -> slow
"""


def test_decision_gateway_asks_the_handler_with_every_flow(run: RunFn) -> None:
    h = run(DECISION.replace('<endEvent id="fast"/>', '<endEvent id="fast"/>'))
    job = h.job("route")
    assert job.value["type"] == "decision"
    assert job.value["decision"] is True
    assert job.value["flows"] == [
        {"id": "route_fast", "name": None, "target": "fast", "targetName": None,
         "condition": "=urgent", "default": False, "attributes": {}},
        {"id": "route_slow", "name": None, "target": "slow", "targetName": None,
         "condition": None, "default": False, "attributes": {}},
    ]


def test_decision_gateway_carries_flow_names_and_attribute_bags(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <exclusiveGateway id="route" laneway:decision="handler"/>
    <endEvent id="fast"/><endEvent id="slow"/>
    @ s -> route
    <sequenceFlow id="go" name="Go fast" sourceRef="route" targetRef="fast" acme:sla="1h"/>
    <sequenceFlow id="wait" name="Take it slow" sourceRef="route" targetRef="slow"/>
    """)
    flows = h.job("route").value["flows"]
    assert [(f["id"], f["name"], f["attributes"]) for f in flows] == [
        ("go", "Go fast", {"acme:sla": "1h"}), ("wait", "Take it slow", {})]


def test_submitted_decision_takes_the_named_flow(run: RunFn) -> None:
    h = run(DECISION)
    job = h.job("route")
    recs = h.send(Command.SUBMIT_DECISION, h.iid, {"jobKey": job.value["key"],
                                                   "flows": ["route_slow"]})
    assert ("GATEWAY_DECIDED", "route") in [(r.intent, r.element_id) for r in recs]
    assert h.last("GATEWAY_DECIDED", "route").value["flows"] == ["route_slow"]
    assert h.completed()[-2:] == ["slow", "p"]


def test_a_decision_naming_an_unknown_flow_is_rejected(run: RunFn) -> None:
    h = run(DECISION)
    job = h.job("route")
    [rejection] = h.send(Command.SUBMIT_DECISION, h.iid, {"jobKey": job.value["key"],
                                                          "flows": ["nope"]})
    assert rejection.kind == RecordKind.REJECTION
    assert "nope" in rejection.value["reason"]
    assert h.status(h.iid) == "WAITING"
