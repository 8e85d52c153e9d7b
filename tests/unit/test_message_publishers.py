"""`services.definitions.publishers.publishers_of`: the personas a file lets publish a message."""

from __future__ import annotations

from laneway.bpmn import LANEWAY_NS
from services.definitions.publishers import publishers_of

FILE = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:laneway="{LANEWAY_NS}" id="d" targetNamespace="t">
  <bpmn:message id="m1" name="paid" laneway:publishers="Cashier, Payment Bot ,"/>
  <bpmn:message id="m2" name="paid" laneway:publishers="Auditor"/>
  <bpmn:message id="m3" name="cancelled"/>
  <bpmn:message id="m4" name="shipped" laneway:publishers=" , "/>
  <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process>
</bpmn:definitions>
"""


def test_personas_by_message_name_normalised_and_merged() -> None:
    assert publishers_of(FILE.encode()) == {
        "paid": frozenset({"cashier", "payment-bot", "auditor"})}


def test_a_file_that_does_not_parse_grants_nothing() -> None:
    assert publishers_of(b"<not-bpmn/>") == {}
    assert publishers_of(b"\x00") == {}
