"""What the trace route makes of Jaeger's answer (services/audit/traces.py `shape`) and which
ids have a trace (laneway/trace_query.py): the view is bounded however large or odd the
answer, the parent is the CHILD_OF reference within the trace, every other reference is a
link, and what does not look like a span's field is left out rather than failing the read."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from laneway.settings import SettingsError
from laneway.trace_query import query_url, trace_id_of
from services.audit import traces
from services.audit.settings import load_settings
from services.audit.traces import shape

TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = "1" * 32


def span(span_id: str, start: int, **extra: Any) -> dict[str, Any]:
    return {"traceID": TRACE, "spanID": span_id, "operationName": f"op {span_id}",
            "startTime": start, "duration": 10, "processID": "p1", "references": [],
            "tags": [], "logs": [], **extra}


def test_parent_links_error_attributes_and_events_come_from_jaegers_fields() -> None:
    child = span("b" * 16, 2, references=[
        {"refType": "CHILD_OF", "traceID": TRACE, "spanID": "a" * 16},
        {"refType": "FOLLOWS_FROM", "traceID": OTHER, "spanID": "abc"}],
        tags=[{"key": "otel.status_code", "type": "string", "value": "ERROR"},
              {"key": "laneway.events", "type": "int64", "value": 3},
              {"key": "laneway.ok", "type": "bool", "value": True}],
        logs=[{"timestamp": 5, "fields": [{"key": "event", "value": "rejected"},
                                          {"key": "why", "value": "<b>no</b>"}]}])
    view = shape(TRACE, {"spans": [child, span("a" * 16, 1)],
                         "processes": {"p1": {"serviceName": "laneway-engine"}}})

    assert [s.span_id for s in view.spans] == ["a" * 16, "b" * 16]  # earliest first
    root, command = view.spans
    assert (root.parent_span_id, command.parent_span_id) == (None, "a" * 16)
    assert (root.error, command.error) == (False, True)
    assert command.service == "laneway-engine"
    assert {a.key: a.value for a in command.attributes} == {
        "otel.status_code": "ERROR", "laneway.events": "3", "laneway.ok": "true"}
    [event] = command.events
    assert (event.time, event.name) == (5, "rejected")
    assert [(a.key, a.value) for a in event.attributes] == [("why", "<b>no</b>")]
    # Jaeger drops an id's leading zeros: the link names the span by its 16 digits
    assert [(link.trace_id, link.span_id, link.kind) for link in command.links] == [
        (OTHER, "0000000000000abc", "FOLLOWS_FROM")]


def test_the_error_tag_marks_a_span_too() -> None:
    view = shape(TRACE, {"spans": [span("a" * 16, 1, tags=[
        {"key": "error", "type": "bool", "value": True}])]})
    assert view.spans[0].error is True


def test_a_trace_past_the_bound_keeps_its_earliest_spans_and_says_it_was_cut() -> None:
    many = [span(format(i + 1, "016x"), 10_000 - i) for i in range(traces.MAX_SPANS + 5)]

    view = shape(TRACE, {"spans": many})

    assert (view.span_count, view.truncated) == (traces.MAX_SPANS + 5, True)
    assert len(view.spans) == traces.MAX_SPANS
    assert view.spans[0].start_time == 10_000 - (traces.MAX_SPANS + 4)
    assert shape(TRACE, {"spans": many[:3]}).truncated is False


def test_each_spans_attributes_events_links_and_texts_are_bounded() -> None:
    huge = span("a" * 16, 1, operationName="x" * 100_000,
                tags=[{"key": f"k{i}", "value": "v"} for i in range(1000)],
                logs=[{"timestamp": i, "fields": []} for i in range(1000)],
                references=[{"refType": "FOLLOWS_FROM", "traceID": OTHER, "spanID": "1"}] * 500)

    [one] = shape(TRACE, {"spans": [huge]}).spans

    assert len(one.operation) == traces.MAX_TEXT
    assert one.operation.endswith("…")
    assert len(one.attributes) == traces.MAX_ATTRIBUTES
    assert len(one.events) == traces.MAX_EVENTS
    assert len(one.links) == traces.MAX_LINKS


@pytest.mark.parametrize("odd", [
    {"spans": "no"}, {"spans": [1, None, "x"]}, {},
    {"spans": [{"spanID": "zz", "startTime": "soon", "duration": float("inf"),
                "references": [{"refType": "CHILD_OF", "traceID": 7, "spanID": None}, "x"],
                "tags": [{"value": 1}, 3], "logs": [None, {"fields": "x"}],
                "processID": ["p"]}],
     "processes": []},
])
def test_what_does_not_look_like_a_span_is_left_out_without_failing(
        odd: dict[str, Any]) -> None:
    view = shape(TRACE, odd)
    for s in view.spans:
        assert (s.start_time, s.duration, s.parent_span_id, s.links) == (0, 0, None, [])
        assert s.service == "unknown"


def test_a_parent_in_another_trace_is_a_link_not_a_parent() -> None:
    [one] = shape(TRACE, {"spans": [span("a" * 16, 1, references=[
        {"refType": "CHILD_OF", "traceID": OTHER, "spanID": "c" * 16}])]}).spans
    assert one.parent_span_id is None
    assert [(link.trace_id, link.kind) for link in one.links] == [(OTHER, "CHILD_OF")]


def test_an_instance_ids_trace_is_its_32_hex_digits() -> None:
    iid = uuid.uuid4()
    assert trace_id_of(str(iid)) == iid.hex
    assert trace_id_of(str(iid).upper()) == iid.hex
    assert trace_id_of(iid.hex) == iid.hex
    for bad in ("", "x", "{" + str(iid) + "}", "urn:uuid:" + str(iid), iid.hex[:-1] + "g",
                str(iid) + "0", "\x00" * 36):
        assert trace_id_of(bad) is None, bad


def test_the_query_url_is_checked_and_kept_without_its_trailing_slash() -> None:
    assert query_url({}) is None
    assert query_url({"LANEWAY_TRACES_QUERY_URL": " http://jaeger:16686/ "}) == (
        "http://jaeger:16686")
    with pytest.raises(SettingsError, match="LANEWAY_TRACES_QUERY_URL"):
        query_url({"LANEWAY_TRACES_QUERY_URL": "ftp://jaeger"})


def test_the_audit_service_reads_the_query_url() -> None:
    env = {"DATABASE_URL": "postgresql://laneway:laneway@127.0.0.1:5432/laneway"}
    assert load_settings(env).traces_query_url is None
    assert load_settings({**env, "LANEWAY_TRACES_QUERY_URL": "http://q:16686"}
                         ).traces_query_url == "http://q:16686"
