"""Compensation (BPMN 2.0.2, 13.5.7; events 10.5): compensation boundary events and their
handlers, compensation throw and end events (one activity or the whole scope, waiting or not),
compensation event subprocesses, completed subprocesses and multi-instance iterations.

Each diagram is our own, written from the specification: only activities that completed are
compensated, their handlers run in reverse order of completion, and an activity compensated
once is not compensated again."""

from __future__ import annotations

from conftest import RunFn, document

from laneway.bpmn import parse
from laneway.engine.check import check_runnable


def _handler(activity: str, handler: str, kind: str = "task", extra: str = "") -> str:
    """A compensation boundary event on `activity` associated with its handler."""
    return (f'<boundaryEvent id="{activity}_comp" attachedToRef="{activity}">'
            "<compensateEventDefinition/></boundaryEvent>\n"
            f'<{kind} id="{handler}" isForCompensation="true" {extra}/>\n'
            f'<association id="{activity}_assoc" sourceRef="{activity}_comp" '
            f'targetRef="{handler}"/>')


def _ran(h: object, *ids: str) -> list[str]:
    """The elements among `ids` that were activated, in order."""
    return [e for e in h.activated() if e in ids]  # type: ignore[attr-defined]


BOOK_PAY = f"""
<startEvent id="s"/>
<task id="book"/>
{_handler("book", "unbook")}
<task id="pay"/>
{_handler("pay", "refund")}
<task id="ship"/>
<intermediateThrowEvent id="undo"><compensateEventDefinition {{attrs}}/></intermediateThrowEvent>
<task id="after"/>
<endEvent id="e"/>
@ s -> book -> pay -> ship -> undo -> after -> e
"""


def test_a_compensation_throw_runs_the_handlers_in_reverse_order_then_goes_on(
        run: RunFn) -> None:
    h = run(BOOK_PAY.format(attrs=""))
    assert _ran(h, "book", "pay", "ship", "refund", "unbook", "after") == [
        "book", "pay", "ship", "refund", "unbook", "after"]
    # the throw waited: it completed after the last handler
    completed = h.completed()
    assert completed.index("unbook") < completed.index("undo") < completed.index("after")
    assert h.status(h.iid) == "COMPLETED"
    # every step is in the log, with the keys of what was compensated
    started = h.last("COMPENSATION_STARTED", "undo")
    book, pay = (h.last("ELEMENT_ACTIVATED", x).token_id for x in ("book", "pay"))
    assert started.value["compensated"] == [book, pay]
    assert [s["handler"] for s in started.value["handlers"]] == ["refund", "unbook"]
    handlers = h.events("COMPENSATION_HANDLER_ACTIVATED")
    assert [(r.element_id, r.value["elementKey"]) for r in handlers] == [
        ("refund", pay), ("unbook", book)]
    assert h.events("COMPENSATION_COMPLETED")[0].value["throwerKey"] == started.token_id


def test_a_throw_naming_an_activity_compensates_only_that_one(run: RunFn) -> None:
    h = run(BOOK_PAY.format(attrs='activityRef="book"'))
    assert _ran(h, "refund", "unbook", "after") == ["unbook", "after"]
    # `pay` was never compensated: it is dropped when the process completes
    assert h.last("COMPENSATION_SUBSCRIPTIONS_DELETED", "p").value["scopeKey"] == 1
    assert "compensations" not in h.runner.engine.state.instances[h.iid].to_dict()


def test_an_activity_is_compensated_once(run: RunFn) -> None:
    xml = f"""
    <startEvent id="s"/>
    <task id="book"/>
    {_handler("book", "unbook")}
    <intermediateThrowEvent id="first"><compensateEventDefinition/></intermediateThrowEvent>
    <intermediateThrowEvent id="second"><compensateEventDefinition/></intermediateThrowEvent>
    <endEvent id="e"/>
    @ s -> book -> first -> second -> e
    """
    h = run(xml)
    assert _ran(h, "unbook") == ["unbook"]
    assert [r.element_id for r in h.events("COMPENSATION_STARTED")] == ["first"]
    assert h.status(h.iid) == "COMPLETED"


def test_only_completed_activities_are_compensated(run: RunFn) -> None:
    # `pay` is on the path not taken, `wait` still runs when the compensation is thrown
    xml = f"""
    <startEvent id="s"/>
    <exclusiveGateway id="gw" default="gw_book"/>
    <task id="book"/>
    {_handler("book", "unbook")}
    <task id="pay"/>
    {_handler("pay", "refund")}
    <parallelGateway id="fork"/>
    <serviceTask id="wait" laneway:type="w"/>
    {_handler("wait", "unwait")}
    <intermediateThrowEvent id="undo"><compensateEventDefinition/></intermediateThrowEvent>
    <endEvent id="e1"/>
    <endEvent id="e2"/>
    <endEvent id="e3"/>
    @ s -> gw -> book -> fork -> undo -> e1
    @ gw -> pay : =false
    @ pay -> e3
    @ fork -> wait -> e2
    """
    h = run(xml)
    assert _ran(h, "unbook", "refund", "unwait") == ["unbook"]
    h.complete_job("wait")
    assert _ran(h, "unbook", "refund", "unwait") == ["unbook"]
    assert h.status(h.iid) == "COMPLETED"


HANDLER_JOB = f"""
<startEvent id="s"/>
<task id="book"/>
{_handler("book", "unbook", "serviceTask", 'laneway:type="unbook"')}
<intermediateThrowEvent id="undo"><compensateEventDefinition {{attrs}}/></intermediateThrowEvent>
<task id="after"/>
<endEvent id="e"/>
@ s -> book -> undo -> after -> e
"""


def test_a_waiting_throw_goes_on_only_when_the_handler_is_done(run: RunFn) -> None:
    h = run(HANDLER_JOB.format(attrs='waitForCompletion="true"'))
    assert "after" not in h.activated()
    h.complete_job("unbook")
    assert h.activated()[-2:] == ["after", "e"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_throw_that_does_not_wait_goes_on_beside_the_handler(run: RunFn) -> None:
    h = run(HANDLER_JOB.format(attrs='waitForCompletion="false"'))
    assert "after" in h.activated()
    assert "e" in h.activated()
    # the instance does not end while the handler runs
    assert h.status(h.iid) == "WAITING"
    h.complete_job("unbook")
    assert h.status(h.iid) == "COMPLETED"


def test_a_compensation_end_event_ends_its_scope_after_the_handlers(run: RunFn) -> None:
    xml = f"""
    <startEvent id="s"/>
    <task id="book"/>
    {_handler("book", "unbook", "serviceTask", 'laneway:type="unbook"')}
    <endEvent id="e"><compensateEventDefinition/></endEvent>
    @ s -> book -> e
    """
    h = run(xml)
    assert h.status(h.iid) == "WAITING"
    h.complete_job("unbook")
    assert h.completed()[-3:] == ["unbook", "e", "p"]


def test_each_multi_instance_iteration_is_compensated_last_first_with_its_variables(
        run: RunFn) -> None:
    xml = f"""
    <startEvent id="s"/>
    <task id="reserve">
      <multiInstanceLoopCharacteristics isSequential="true">
        <extensionElements>
          <zeebe:loopCharacteristics inputCollection="=seats" inputElement="seat"/>
        </extensionElements>
      </multiInstanceLoopCharacteristics>
    </task>
    {_handler("reserve", "release", "serviceTask", 'laneway:type="release"')}
    <endEvent id="e"><compensateEventDefinition/></endEvent>
    @ s -> reserve -> e
    """
    h = run(xml, variables={"seats": ["1A", "1B", "1C"]})
    released = []
    for _ in range(3):
        job = h.job("release")
        released.append(job.value["variables"]["seat"])
        h.complete_job("release")
    assert released == ["1C", "1B", "1A"]
    assert h.status(h.iid) == "COMPLETED"


SUBPROCESS = f"""
<startEvent id="s"/>
<subProcess id="trip">
  <startEvent id="ts"/>
  <task id="flight"/>
  {_handler("flight", "cancel_flight")}
  <task id="hotel"/>
  {_handler("hotel", "cancel_hotel")}
  <endEvent id="te"/>
  @ ts -> flight -> hotel -> te
  {{inside}}
</subProcess>
{{outside}}
<task id="car"/>
{_handler("car", "cancel_car")}
<intermediateThrowEvent id="undo"><compensateEventDefinition/></intermediateThrowEvent>
<endEvent id="e"/>
@ s -> trip -> car -> undo -> e
"""


def test_a_completed_subprocess_is_compensated_by_its_activities_handlers(run: RunFn) -> None:
    h = run(SUBPROCESS.format(inside="", outside=""))
    assert _ran(h, "cancel_car", "cancel_hotel", "cancel_flight") == [
        "cancel_car", "cancel_hotel", "cancel_flight"]
    # the subprocess is what the throw took; its activities went with it
    started = h.last("COMPENSATION_STARTED", "undo")
    trip = h.last("ELEMENT_ACTIVATED", "trip").token_id
    assert trip in started.value["compensated"]
    assert h.status(h.iid) == "COMPLETED"


def test_a_subprocess_with_its_own_handler_is_compensated_by_that_handler(run: RunFn) -> None:
    h = run(SUBPROCESS.format(inside="", outside=_handler("trip", "cancel_trip")))
    assert _ran(h, "cancel_car", "cancel_trip", "cancel_hotel", "cancel_flight") == [
        "cancel_car", "cancel_trip"]


def test_a_compensation_event_subprocess_compensates_its_subprocess(run: RunFn) -> None:
    esp = """
    <subProcess id="undo_trip" triggeredByEvent="true">
      <startEvent id="us"><compensateEventDefinition/></startEvent>
      <serviceTask id="notify" laneway:type="notify"/>
      <intermediateThrowEvent id="undo_inner"><compensateEventDefinition/>
      </intermediateThrowEvent>
      <endEvent id="ue"/>
      @ us -> notify -> undo_inner -> ue
    </subProcess>
    """
    xml = SUBPROCESS.format(inside=esp, outside="").replace(
        '<subProcess id="trip">',
        '<subProcess id="trip"><extensionElements><zeebe:ioMapping>'
        '<zeebe:input source="=&quot;T-&quot; + code" target="tripId"/>'
        "</zeebe:ioMapping></extensionElements>")
    h = run(xml, variables={"code": "7"})
    assert _ran(h, "cancel_car", "notify") == ["cancel_car", "notify"]
    # the event subprocess sees the subprocess's variables as they were when it completed
    assert h.job("notify").value["variables"]["tripId"] == "T-7"
    h.complete_job("notify")
    assert _ran(h, "notify", "cancel_hotel", "cancel_flight") == [
        "notify", "cancel_hotel", "cancel_flight"]
    assert h.completed()[-3:] == ["undo", "e", "p"]


def test_an_interrupted_subprocess_is_not_compensated(run: RunFn) -> None:
    xml = f"""
    <error id="boom" errorCode="BOOM"/>
    <startEvent id="s"/>
    <subProcess id="trip">
      <startEvent id="ts"/>
      <task id="flight"/>
      {_handler("flight", "cancel_flight")}
      <endEvent id="fail"><errorEventDefinition errorRef="boom"/></endEvent>
      @ ts -> flight -> fail
    </subProcess>
    <boundaryEvent id="caught" attachedToRef="trip"><errorEventDefinition errorRef="boom"/>
    </boundaryEvent>
    <intermediateThrowEvent id="undo"><compensateEventDefinition/></intermediateThrowEvent>
    <endEvent id="e"/>
    <endEvent id="e2"/>
    @ s -> trip -> e
    @ caught -> undo -> e2
    """
    h = run(xml)
    assert "cancel_flight" not in h.activated()
    assert h.events("COMPENSATION_SUBSCRIPTIONS_DELETED")
    assert h.status(h.iid) == "COMPLETED"
    assert "compensations" not in h.runner.engine.state.instances[h.iid].to_dict()


def test_a_diagram_without_compensation_keeps_nothing_for_it(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <serviceTask id="w" laneway:type="w"/>
    <endEvent id="e"/>
    @ s -> w -> e
    """)
    proc = h.runner.engine.repository.get("p", 1)
    assert proc.compensation is None
    snapshot = h.runner.engine.state.instances[h.iid].to_dict()
    assert "compensations" not in snapshot
    assert "compensation_runs" not in snapshot


def _problems(xml: str) -> list[str]:
    definitions = parse(document(xml).encode(), "t.bpmn")
    return [f"{p.line}:{p.element_id}: {p.message}"
            for p in check_runnable(definitions, definitions.processes[0])]


def test_deploy_refuses_a_compensation_boundary_without_a_handler() -> None:
    problems = _problems("""
    <startEvent id="s"/>
    <task id="book"/>
    <boundaryEvent id="bc" attachedToRef="book"><compensateEventDefinition/></boundaryEvent>
    <endEvent id="e"/>
    @ s -> book -> e
    """)
    assert len(problems) == 1
    assert ":bc: compensation boundary event has no handler" in problems[0]
    assert not problems[0].startswith("0:")


def test_deploy_refuses_a_handler_with_sequence_flows() -> None:
    problems = _problems(f"""
    <startEvent id="s"/>
    <task id="book"/>
    {_handler("book", "unbook")}
    <endEvent id="e"/>
    @ s -> book -> e
    @ unbook -> e
    """)
    assert [p.split(": ", 1)[0].split(":")[1] for p in problems] == ["unbook"]


def test_deploy_refuses_an_activity_ref_outside_the_scope() -> None:
    problems = _problems(f"""
    <startEvent id="s"/>
    <subProcess id="sub">
      <startEvent id="ss"/>
      <task id="inner"/>
      {_handler("inner", "undo_inner")}
      <endEvent id="se"/>
      @ ss -> inner -> se
    </subProcess>
    <intermediateThrowEvent id="undo"><compensateEventDefinition activityRef="inner"/>
    </intermediateThrowEvent>
    <endEvent id="e"/>
    @ s -> sub -> undo -> e
    """)
    assert len(problems) == 1
    assert ":undo: compensation names activityRef 'inner'" in problems[0]


def test_deploy_accepts_compensation() -> None:
    assert _problems(BOOK_PAY.format(attrs="")) == []
    assert _problems(SUBPROCESS.format(inside="", outside="")) == []


def test_a_throw_in_an_event_subprocess_compensates_the_scope_it_runs_in(run: RunFn) -> None:
    h = run(f"""
    <error id="boom" errorCode="BOOM"/>
    <startEvent id="s"/>
    <subProcess id="trip">
      <startEvent id="ts"/>
      <task id="flight"/>
      {_handler("flight", "cancel_flight")}
      <task id="hotel"/>
      {_handler("hotel", "cancel_hotel")}
      <endEvent id="fail"><errorEventDefinition errorRef="boom"/></endEvent>
      @ ts -> flight -> hotel -> fail
      <subProcess id="on_error" triggeredByEvent="true">
        <startEvent id="es"><errorEventDefinition errorRef="boom"/></startEvent>
        <intermediateThrowEvent id="undo"><compensateEventDefinition/>
        </intermediateThrowEvent>
        <task id="apologise"/>
        <endEvent id="ee"/>
        @ es -> undo -> apologise -> ee
      </subProcess>
    </subProcess>
    <endEvent id="e"/>
    @ s -> trip -> e
    """)
    assert _ran(h, "cancel_hotel", "cancel_flight", "apologise") == [
        "cancel_hotel", "cancel_flight", "apologise"]
    assert h.status(h.iid) == "COMPLETED"


def test_an_interrupted_handler_lets_the_next_one_run(run: RunFn) -> None:
    h = run(f"""
    <error id="boom" errorCode="BOOM"/>
    <startEvent id="s"/>
    <task id="book"/>
    {_handler("book", "unbook")}
    <task id="pay"/>
    {_handler("pay", "refund", "serviceTask", 'laneway:type="refund"')}
    <boundaryEvent id="refund_failed" attachedToRef="refund">
      <errorEventDefinition errorRef="boom"/></boundaryEvent>
    <task id="tell_finance"/>
    <endEvent id="e2"/>
    @ refund_failed -> tell_finance -> e2
    <intermediateThrowEvent id="undo"><compensateEventDefinition/></intermediateThrowEvent>
    <task id="after"/>
    <endEvent id="e"/>
    @ s -> book -> pay -> undo -> after -> e
    """)
    h.throw_error("refund", "BOOM")
    # the interrupted handler's boundary flow runs beside the rest of the compensation
    assert _ran(h, "refund", "unbook", "after") == ["refund", "unbook", "after"]
    assert "tell_finance" in h.completed()
    assert "refund" in h.terminated()
    assert h.status(h.iid) == "COMPLETED"
