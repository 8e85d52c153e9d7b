"""What a diagram declares as triggers, and the deploy check that refuses a bad declaration
with the start event's id and line."""

from __future__ import annotations

from laneway.bpmn import LANEWAY_NS, parse
from laneway.diagram_check import check_diagram
from laneway.triggers import declared_triggers, instance_id, schedule_id

DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:lw="{ns}" xmlns:tri="http://in-concert.example/tri" xmlns:acme="urn:acme"
  id="d" targetNamespace="t">
  <message id="m1" name="news" lw:trigger="{type}" lw:interval="{interval}" acme:cost="7"
           lw:url="http://127.0.0.1:9/feed.xml"/>
  <message id="m2" name="mail" tri:connectorType="webhook" tri:toleranceSeconds="60"/>
  <message id="m3" name="plain"/>
  <process id="p" isExecutable="true">
    <startEvent id="byFeed"><messageEventDefinition messageRef="m1"/></startEvent>
    <startEvent id="byHook"><messageEventDefinition messageRef="m2"/></startEvent>
    <startEvent id="byMessage"><messageEventDefinition messageRef="m3"/></startEvent>
    <startEvent id="byTimer" lw:timezone="{zone}">
      <timerEventDefinition><timeCycle>0 9 * * MON-FRI</timeCycle></timerEventDefinition>
    </startEvent>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="byFeed" targetRef="e"/>
    <sequenceFlow id="f2" sourceRef="byHook" targetRef="e"/>
    <sequenceFlow id="f3" sourceRef="byMessage" targetRef="e"/>
    <sequenceFlow id="f4" sourceRef="byTimer" targetRef="e"/>
  </process>
</definitions>"""


def _xml(type_: str = "webhook", interval: str = "PT1M", zone: str = "Europe/Paris") -> bytes:
    return DIAGRAM.format(ns=LANEWAY_NS, type=type_, interval=interval, zone=zone).encode()


def test_timer_and_message_starts_naming_a_trigger_are_declared_under_any_prefix() -> None:
    found = {d.start_event_id: d for d in declared_triggers(parse(_xml()))}
    assert set(found) == {"byFeed", "byHook", "byTimer"}  # a plain message start is not one
    assert found["byFeed"].type == "webhook"
    # the Laneway namespace under the prefix `lw`, the type setting itself left out
    assert found["byFeed"].settings == {"interval": "PT1M", "url": "http://127.0.0.1:9/feed.xml"}
    assert found["byFeed"].attributes["acme:cost"] == "7"  # every namespace reaches the plugin
    assert found["byHook"].type == "webhook"  # the in-concert spelling
    assert found["byHook"].settings == {"toleranceSeconds": "60"}
    assert found["byTimer"].timer == ("timeCycle", "0 9 * * MON-FRI")
    assert found["byTimer"].settings == {"timezone": "Europe/Paris"}


def test_ids_are_stable_per_start_event_and_item() -> None:
    a = schedule_id("p", "byFeed")
    assert a == schedule_id("p", "byFeed")
    assert a != schedule_id("p", "byHook")
    assert instance_id(a, "entry:1") == instance_id(a, "entry:1")
    assert instance_id(a, "entry:1") != instance_id(a, "entry:2")


def test_a_bad_declaration_refuses_the_deploy_with_the_start_event_and_line() -> None:
    checked = check_diagram(_xml(type_="fed", interval="every minute", zone="Nowhere/City"),
                            "t.bpmn")
    assert any(p.element_id == "byFeed" and p.line == 9 and "'fed'" in p.message
               and p.message.startswith("Expected a trigger type that is installed")
               for p in checked.problems)
    assert any(p.element_id == "byTimer" and p.line == 12 and "IANA" in p.message
               for p in checked.problems)
    good = check_diagram(_xml(), "t.bpmn")
    assert good.problems == []


def test_an_interval_out_of_bounds_is_refused() -> None:
    checked = check_diagram(_xml(interval="PT0.1S"), "t.bpmn")
    assert any(p.element_id == "byFeed" and "between PT1S and P31D" in p.message
               for p in checked.problems)


def test_a_timer_after_an_instantiating_event_based_gateway_is_a_timer_trigger() -> None:
    xml = b"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
      targetNamespace="t">
      <message id="m" name="order"/>
      <process id="p" isExecutable="true">
        <eventBasedGateway id="gw" instantiate="true" eventGatewayType="Exclusive"/>
        <intermediateCatchEvent id="daily">
          <timerEventDefinition><timeCycle>R/PT24H</timeCycle></timerEventDefinition>
        </intermediateCatchEvent>
        <intermediateCatchEvent id="ordered"><messageEventDefinition messageRef="m"/>
        </intermediateCatchEvent>
        <endEvent id="e1"/><endEvent id="e2"/>
        <sequenceFlow id="f1" sourceRef="gw" targetRef="daily"/>
        <sequenceFlow id="f2" sourceRef="gw" targetRef="ordered"/>
        <sequenceFlow id="f3" sourceRef="daily" targetRef="e1"/>
        <sequenceFlow id="f4" sourceRef="ordered" targetRef="e2"/>
      </process>
    </definitions>"""
    [declared] = declared_triggers(parse(xml))
    assert (declared.start_event_id, declared.type) == ("daily", "timer")
    assert declared.timer == ("timeCycle", "R/PT24H")
