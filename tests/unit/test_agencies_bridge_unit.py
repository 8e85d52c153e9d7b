"""The agencies' configuration, the envelope codec, the engine's routing of a crossing message
and the bridge's checks (`services.bridge.bridge.translate`), without Kafka."""

from __future__ import annotations

import pytest

from laneway.agencies import (
    AgencyConfig,
    Envelope,
    Refused,
    decode_envelope,
    encode_envelope,
    load_agencies,
)
from laneway.codec import DecodeError, decode_record, encode_record, read_dead_letter_headers
from laneway.limits import TooLarge
from laneway.records import Command, Principal, PrincipalKind, command
from laneway.settings import SettingsError
from laneway.topics import Topics
from services.bridge.bridge import Limits, translate
from services.engine.batch import BatchWriter

CLERK = Principal(PrincipalKind.HUMAN, "clerk@a.example", ("clerk",), {"personas": ["Clerk"]})
B = load_agencies({"LANEWAY_AGENCY_NAME": "b",
                   "LANEWAY_AGENCY_PARTNERS": "a:agency.b.a:agency.a.b"})
LIMITS = Limits(record_bytes=1_000_000, variables_bytes=10_000)


def envelope(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "message_id": "m-1", "name": "caseRequest", "correlation_key": "C-1",
        "variables": {"caseId": "C-1", "n": [1, 2.5, None, {"x": True}]}, "from_agency": "a",
        "to_agency": "b", "principal": CLERK, "source_instance_id": "i-1",
        "source_element_id": "ask_b", "timestamp": 1_767_225_600_000,
        "trace_parent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_the_envelope_round_trips_every_field() -> None:
    assert decode_envelope(encode_envelope(envelope())) == envelope()


def test_a_record_of_another_schema_is_no_envelope() -> None:
    cmd = command(Command.PUBLISH_MESSAGE, "", {"name": "x"}, record_id="r", timestamp=1)
    with pytest.raises(DecodeError):
        decode_envelope(encode_record(cmd))


def test_partners_are_read_with_both_topics() -> None:
    partner = B.partners["a"]
    assert (partner.send_topic, partner.receive_topic) == ("agency.b.a", "agency.a.b")
    assert B.receive_topics == {"agency.a.b": partner}
    assert load_agencies({}) == AgencyConfig()


@pytest.mark.parametrize(("env", "expected"), [
    ({"LANEWAY_AGENCY_PARTNERS": "a:x:y"}, "need its name"),
    ({"LANEWAY_AGENCY_NAME": "B"}, "an agency name"),
    ({"LANEWAY_AGENCY_NAME": "b", "LANEWAY_AGENCY_PARTNERS": "a:x"}, "partner:send_topic"),
    ({"LANEWAY_AGENCY_NAME": "b", "LANEWAY_AGENCY_PARTNERS": "b:x:y"}, "other than this"),
    ({"LANEWAY_AGENCY_NAME": "b", "LANEWAY_AGENCY_PARTNERS": "a:x:y,a:z:w"}, "twice"),
    ({"LANEWAY_AGENCY_NAME": "b", "LANEWAY_AGENCY_PARTNERS": "a:x y:z"}, "a topic name"),
    ({"LANEWAY_AGENCY_NAME": "b", "LANEWAY_AGENCY_PARTNERS": "a:x:y,c:y:x"}, "its own"),
])
def test_a_bad_agency_setting_is_refused_naming_it(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        load_agencies(env)


def _translate(env: Envelope, topic: str = "agency.a.b") -> tuple[object, str | None]:
    return translate(topic, encode_envelope(env), b"C-1", B, now_ms=5, ttl_ms=60_000,
                     limits=LIMITS)


def test_the_bridge_publishes_as_the_sending_agency_with_a_namespaced_id() -> None:
    cmd, trace = _translate(envelope())
    assert trace == envelope().trace_parent
    assert cmd.intent == "PUBLISH_MESSAGE"  # type: ignore[attr-defined]
    v = cmd.value  # type: ignore[attr-defined]
    assert (v["name"], v["correlationKey"], v["ttl"]) == ("caseRequest", "C-1", 60_000)
    assert v["messageId"] == "agency:a:m-1"
    assert v["variables"] == envelope().variables
    p = cmd.principal  # type: ignore[attr-defined]
    assert (p.kind, p.id) == (PrincipalKind.AGENT, "agency:a")
    assert p.claims["sentBy"] == {"kind": "human", "id": "clerk@a.example"}
    # the same envelope again is the same command (the engine refuses its id once more)
    again, _ = _translate(envelope())
    assert again == cmd


@pytest.mark.parametrize(("env", "topic", "reason"), [
    (envelope(from_agency="c"), "agency.a.b", "unknown-agency"),
    (envelope(to_agency="z"), "agency.a.b", "wrong-agency"),
    (envelope(), "agency.other", "wrong-agency"),
    (envelope(message_id=""), "agency.a.b", "invalid-envelope"),
    (envelope(name="n" * 300), "agency.a.b", "invalid-envelope"),
    (envelope(correlation_key="k" * 2000), "agency.a.b", "invalid-envelope"),
])
def test_the_bridge_refuses_what_a_partner_may_not_send(env: Envelope, topic: str,
                                                        reason: str) -> None:
    with pytest.raises(Refused) as info:
        _translate(env, topic)
    assert info.value.dead_letter_reason == reason


def test_the_bridge_refuses_variables_over_the_limit_and_what_is_no_envelope() -> None:
    with pytest.raises(TooLarge):
        _translate(envelope(variables={"big": "x" * 20_000}))
    with pytest.raises(DecodeError):
        translate("agency.a.b", b"not avro", None, B, now_ms=5, ttl_ms=1, limits=LIMITS)


def _crossing(agency: str) -> object:
    return command(Command.PUBLISH_MESSAGE, "i-1", {
        "name": "caseAnswer", "correlationKey": "C-1", "variables": {"answer": "yes"},
        "messageId": "m-9", "ttl": 0, "agency": agency, "elementId": "answer_sent"},
        record_id="r.c0", timestamp=7, principal=CLERK)


def test_the_engine_writes_a_crossing_message_as_an_envelope_to_the_partners_topic() -> None:
    made: list[str] = []
    writer = BatchWriter(Topics("t."), {}, 1, made.append, agencies=B)
    writer.commands([_crossing("a")])  # type: ignore[list-item]
    [out] = writer.out
    assert (out.topic, out.key) == ("agency.b.a", b"C-1")
    assert made == ["agency.b.a"]
    env = decode_envelope(out.value or b"")
    assert (env.from_agency, env.to_agency, env.message_id) == ("b", "a", "m-9")
    assert (env.source_instance_id, env.source_element_id) == ("i-1", "answer_sent")
    assert env.principal == CLERK
    assert env.variables == {"answer": "yes"}


def test_a_message_to_an_agency_without_a_topic_goes_to_the_dlq_with_the_reason() -> None:
    writer = BatchWriter(Topics("t."), {}, 1, lambda _t: None, agencies=B)
    writer.commands([_crossing("c")])  # type: ignore[list-item]
    [out] = writer.out
    assert out.topic == "t.dlq"
    headers = read_dead_letter_headers(out.headers or [])
    assert headers["reason"] == "unknown-agency"
    assert decode_record(out.value or b"").value["agency"] == "c"


def test_the_envelope_carries_the_trace_parent_of_the_command_that_sent_it() -> None:
    writer = BatchWriter(Topics("t."), {}, 1, lambda _t: None, agencies=B)
    writer._trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    writer.commands([_crossing("a")])  # type: ignore[list-item]
    assert decode_envelope(writer.out[0].value or b"").trace_parent == writer._trace


def test_the_engine_can_send_to_its_configured_partners_only() -> None:
    # what the engine service hands its core (build_partition(partners=...)): any other
    # partner is an AGENCY_NOT_CONFIGURED incident at the sending element
    assert load_agencies({}).sendable == frozenset()
    assert load_agencies({"LANEWAY_AGENCY_NAME": "a"}).sendable == frozenset()
    assert load_agencies({"LANEWAY_AGENCY_NAME": "a", "LANEWAY_AGENCY_PARTNERS":
                          "b:agency.a.b:agency.b.a,c:agency.a.c:agency.c.a"}).sendable == {"b", "c"}


def test_a_restored_partition_engine_knows_the_partners() -> None:
    from laneway.engine import DefinitionRepository
    from services.engine.partitions import build_partition
    part = build_partition(0, DefinitionRepository(), [], partners=frozenset({"b"}))
    assert part.engine.partners == {"b"}
