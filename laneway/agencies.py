"""Agencies talking over topics (docs/agencies.md): the configuration of this agency and its
partners, and the envelope a message crosses in.

An agency is configured with its name (`LANEWAY_AGENCY_NAME`) and, per partner, the topic it
sends to and the topic it receives from (`LANEWAY_AGENCY_PARTNERS`, comma-separated
`partner:send_topic:receive_topic`). The topic between two agencies is shared by both
deployments, so its name is configured, never derived from one deployment's prefix.

The envelope (`schemas/envelope.avsc`) is what the engine writes to the send topic in its
transaction and what the partner's bridge reads: message name, correlation key, the declared
variables, the sending principal, the message id, the two agencies' names, where it was sent
from and the trace context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from laneway.agency_flows import AGENCY_NAME
from laneway.codec.codec import Codec, default_codec
from laneway.codec.errors import DecodeError
from laneway.codec.typed import decode_typed, principal_from_avro, principal_to_avro
from laneway.codec.values import from_avro_map, to_avro_map
from laneway.records import Principal, PrincipalKind, Record
from laneway.settings import SettingsError

ENVELOPE = "envelope"
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
MAX_PARTNERS = 64


class Refused(ValueError):
    """A message across agencies that cannot go on; `dead_letter_reason` is the dead letter's
    `reason` header: `unknown-agency` (a sender or receiver that is not configured),
    `wrong-agency` (an envelope on a topic its sender may not write, or meant for another
    agency), `invalid-envelope` (fields out of bounds)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.dead_letter_reason = reason


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner agency and the two topics between it and this agency."""

    name: str
    send_topic: str
    """Where this agency's engine writes messages for the partner (the partner reads it)."""
    receive_topic: str
    """Where the partner writes messages for this agency (this agency's bridge reads it)."""


@dataclass(frozen=True, slots=True)
class AgencyConfig:
    """This agency's name and its partners by name; no name: agencies are off."""

    name: str | None = None
    partners: Mapping[str, Partner] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def sendable(self) -> frozenset[str]:
        """The partners this agency's engine can send to: every configured one (none without
        a name). The engine core raises an AGENCY_NOT_CONFIGURED incident for any other."""
        return frozenset(self.partners) if self.name is not None else frozenset()

    @property
    def receive_topics(self) -> dict[str, Partner]:
        """Each receive topic and the one partner that may write it."""
        return {p.receive_topic: p for p in self.partners.values()}

    def sender_principal(self, partner: str,
                         claims: Mapping[str, Any] | None = None) -> Principal:
        """The principal a partner's message acts as here: the agent `agency:<name>`, its
        claims saying which agency (and `claims`, what the envelope says of its sender)."""
        return Principal(PrincipalKind.AGENT, f"agency:{partner}", ("agency",),
                         {"agency": partner, **(claims or {})})


def parse_partners(raw: str, me: str | None) -> dict[str, Partner]:
    """`b:agency.a.b:agency.b.a,c:...` into partners by name; SettingsError on a bad entry."""
    partners: dict[str, Partner] = {}
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    if len(entries) > MAX_PARTNERS:
        raise SettingsError(f"Expected at most {MAX_PARTNERS} partners in "
                            f"LANEWAY_AGENCY_PARTNERS, but got {len(entries)}")
    for entry in entries:
        parts = [p.strip() for p in entry.split(":")]
        if len(parts) != 3:
            raise SettingsError(f"Expected each LANEWAY_AGENCY_PARTNERS entry to be "
                                f"'partner:send_topic:receive_topic', but got {entry[:200]!r}")
        name, send, receive = parts
        if not AGENCY_NAME.fullmatch(name):
            raise SettingsError(f"Expected a partner agency name (lower-case letters, digits, "
                                f"'_', '-'), but got {name[:80]!r}")
        if name == me:
            raise SettingsError(f"Expected partners other than this agency, but '{name}' is "
                                "LANEWAY_AGENCY_NAME")
        if name in partners:
            raise SettingsError(f"Expected each partner once, but '{name}' is there twice")
        for topic in (send, receive):
            if not _TOPIC.fullmatch(topic):
                raise SettingsError(f"Expected a topic name (letters, digits, '.', '_', '-', at "
                                    f"most 249) for partner '{name}', but got {topic[:80]!r}")
        partners[name] = Partner(name, send, receive)
    sends = {p.send_topic for p in partners.values()}
    receives = [p.receive_topic for p in partners.values()]
    if len(set(receives)) != len(receives) or sends & set(receives):
        raise SettingsError("Expected each partner's receive topic to be its own and no send "
                            "topic, so a message's topic says which partner wrote it")
    return partners


def load_agencies(env: Mapping[str, str]) -> AgencyConfig:
    """`LANEWAY_AGENCY_NAME` and `LANEWAY_AGENCY_PARTNERS` (both unset: agencies off)."""
    name = env.get("LANEWAY_AGENCY_NAME", "").strip() or None
    raw = env.get("LANEWAY_AGENCY_PARTNERS", "").strip()
    if name is not None and not AGENCY_NAME.fullmatch(name):
        raise SettingsError(f"Expected LANEWAY_AGENCY_NAME to be an agency name (lower-case "
                            f"letters, digits, '_', '-', at most 63), but got {name[:80]!r}")
    if raw and name is None:
        raise SettingsError("Expected LANEWAY_AGENCY_NAME with LANEWAY_AGENCY_PARTNERS: an "
                            "agency's partners need its name")
    return AgencyConfig(name, MappingProxyType(parse_partners(raw, name)))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message on its way from one agency to another."""

    message_id: str
    name: str
    correlation_key: str
    variables: Mapping[str, Any]
    from_agency: str
    to_agency: str
    principal: Principal
    source_instance_id: str
    source_element_id: str
    timestamp: int
    trace_parent: str | None = None

    @staticmethod
    def of_command(cmd: Record, me: str, trace_parent: str | None = None) -> Envelope:
        """The envelope of a PUBLISH_MESSAGE the engine made for another agency."""
        v = cmd.value
        return Envelope(
            message_id=str(v["messageId"]), name=str(v["name"]),
            correlation_key=str(v.get("correlationKey") or ""),
            variables=dict(v.get("variables") or {}), from_agency=me, to_agency=str(v["agency"]),
            principal=cmd.principal, source_instance_id=cmd.instance_id,
            source_element_id=str(v.get("elementId") or ""), timestamp=cmd.timestamp,
            trace_parent=trace_parent)


def encode_envelope(env: Envelope, *, codec: Codec | None = None) -> bytes:
    """The envelope in Avro's single-object encoding."""
    return (codec or default_codec()).encode(ENVELOPE, {
        "messageId": env.message_id, "name": env.name, "correlationKey": env.correlation_key,
        "variables": to_avro_map(env.variables, "variables"), "fromAgency": env.from_agency,
        "toAgency": env.to_agency, "principal": principal_to_avro(env.principal, "principal"),
        "sourceInstanceId": env.source_instance_id, "sourceElementId": env.source_element_id,
        "timestamp": env.timestamp, "traceParent": env.trace_parent,
    })


def decode_envelope(data: bytes, *, codec: Codec | None = None) -> Envelope:
    """Inverse of `encode_envelope`; DecodeError for anything that is no envelope."""
    d = (codec or default_codec()).decode(data, ENVELOPE).datum
    return decode_typed(lambda: Envelope(
        d["messageId"], d["name"], d["correlationKey"], from_avro_map(d["variables"]),
        d["fromAgency"], d["toAgency"], principal_from_avro(d["principal"]), d["sourceInstanceId"],
        d["sourceElementId"], d["timestamp"], d.get("traceParent")))


__all__ = ["AgencyConfig", "DecodeError", "Envelope", "Partner", "Refused", "decode_envelope",
           "encode_envelope", "load_agencies", "parse_partners"]
