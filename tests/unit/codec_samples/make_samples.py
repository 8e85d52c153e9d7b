"""Write one sample record per schema version: `<family>/<version>.bin` and, beside it,
`<version>.json` with what the writer put in (the fields a reader must find again).

Run it once when a schema version is added: `.venv/bin/python
tests/unit/codec_samples/make_samples.py` writes only the samples that are missing (pass
`--force` to rewrite all, which you should never need: a sample is the proof that records
written back then stay readable). The tests never run it; they read the committed files.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from laneway.agencies import Envelope, encode_envelope  # noqa: E402
from laneway.codec import (  # noqa: E402
    DefinitionRecord,
    JobRecord,
    MessageRecord,
    StateSnapshot,
    default_codec,
)
from laneway.codec.typed import (  # noqa: E402
    Codec,
    Principal,
    PrincipalKind,
    Record,
    RecordKind,
    encode_definition,
    encode_job,
    encode_message,
    encode_state,
    record_datum,
)

ALICE = Principal(PrincipalKind.HUMAN, "alice@acme.example", ("clerk", "approver"),
                  {"iss": "https://id.acme.example", "exp": 1767229200, "mfa": True,
                   "amr": ["pwd", "otp"], "score": 0.75, "org": {"id": 42, "unit": None}})
BOT = Principal(PrincipalKind.AGENT, "connector-llm", ("connector",), {})

VALUE = {"variables": {"amount": 150, "rate": 1.0, "paid": True, "note": None,
                       "lines": [{"sku": "A-1", "qty": 2, "price": 9.99}, "straße", -1,
                                 1 << 62, 1e-300],
                       "empty": {}, "nested": [[[]], {"a": {"b": {"c": False}}}]}}


def sample_record() -> Record:
    return Record(record_id="sample-record-1", kind=RecordKind.EVENT,
                  intent="VARIABLES_UPDATED", instance_id="0b7e5d32-9a3c-4a52-b0de-3e1c5a7a0f11",
                  timestamp=1767225600123, value=VALUE, element_id="review",
                  element_type="userTask", token_id=5, scope_id=1, principal=ALICE)


def sample_job() -> JobRecord:
    return JobRecord(record_id="sample-job-1", instance_id="0b7e5d32-9a3c-4a52-b0de-3e1c5a7a0f11",
                     element_id="charge", element_type="serviceTask", token_id=3, scope_id=1,
                     principal=BOT, timestamp=1767225600456, key=3, type="payment", retries=3,
                     element_name="Charge card", lane="Finance", lane_id="lane_fin",
                     persona="accountant", attributes={"acme:costCenter": "42"},
                     headers={"endpoint": "https://pay.acme.example"},
                     variables=VALUE["variables"], extra={"gatewayType": "exclusiveGateway"})


def sample_state() -> StateSnapshot:
    state = {"instance_id": "0b7e5d32-9a3c-4a52-b0de-3e1c5a7a0f11", "process_id": "p1",
             "version": 1, "status": "ACTIVE", "business_key": None, "next_key": 4,
             "elements": {"1": {"key": 1, "element_id": "p1", "kind": "process",
                                "scope_key": 0, "children": 1, "loop_counter": 0,
                                "mi_total": 0, "mi_started": 0, "mi_completed": 0,
                                "interrupted": False, "waits": []}},
             "variables": {"1": {"amount": 150}}, "joins": {}, "jobs": {},
             "user_tasks": {}, "timers": {}, "message_subs": {}, "signal_subs": {},
             "incidents": {}, "parent": None, "root_key": 1}
    return StateSnapshot("0b7e5d32-9a3c-4a52-b0de-3e1c5a7a0f11", "p1", 1, "ACTIVE",
                         1767225600789, state, 1234)


def sample_definition() -> DefinitionRecord:
    xml = (b'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
           b'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d1">'
           b'<bpmn:process id="p1" isExecutable="true"/></bpmn:definitions>\n')
    return DefinitionRecord("p1", 1, xml, "9f" * 32, 1767225600000,
                            {"source": "p1.bpmn", "agency": "acme"}, ALICE)


def sample_message() -> MessageRecord:
    return MessageRecord("msg-1", "paymentReceived", "order-42", VALUE["variables"],
                         3_600_000, 1767225601000, BOT)


def sample_envelope() -> Envelope:
    return Envelope("6a1c0f52-3b1e-5d0a-9f7e-2c4b8d1e0a33", "caseRequest", "C-1",
                    VALUE["variables"], "a", "b", ALICE, "0b7e5d32-9a3c-4a52-b0de-3e1c5a7a0f11",
                    "ask_b", 1767225601500,
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")


def encode_sample(codec: Codec, family: str, version: int) -> bytes:
    """The sample of a family written with one version of its schema."""
    if family == "record":
        datum = record_datum(sample_record(), "00-4bf92f3577b34da6a3ce929d0e0e4736-"
                                              "00f067aa0ba902b7-01")
        return codec.encode("record", datum, version=version)
    if codec.current(family).version != version:
        raise SystemExit(f"Write a sample builder for {family} v{version}")
    encoders: dict[str, Any] = {
        "job": lambda: encode_job(sample_job(), codec=codec),
        "state": lambda: encode_state(sample_state(), codec=codec),
        "definition": lambda: encode_definition(sample_definition(), codec=codec),
        "message": lambda: encode_message(sample_message(), codec=codec),
        "envelope": lambda: encode_envelope(sample_envelope(), codec=codec),
    }
    return bytes(encoders[family]())


def describe(obj: Any) -> Any:
    """A JSON form of a decoded object, to compare with the `.json` beside a sample."""
    if isinstance(obj, Record):
        return obj.to_dict()
    if isinstance(obj, Principal):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: describe(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, bytes):
        return {"base64": base64.b64encode(obj).decode()}
    if isinstance(obj, dict):
        return {k: describe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [describe(v) for v in obj]
    return obj


def expected(family: str, version: int) -> Any:
    """What the writer put into a sample (v1 of record has no trace parent)."""
    built = {"record": sample_record, "job": sample_job, "state": sample_state,
             "definition": sample_definition, "message": sample_message,
             "envelope": sample_envelope}[family]()
    out = describe(built)
    if family == "record" and version >= 2:
        out["traceParent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    return out


def main(argv: list[str]) -> None:
    force = "--force" in argv
    codec = default_codec()
    for sv in codec.versions:
        folder = HERE / sv.family
        folder.mkdir(exist_ok=True)
        bin_path = folder / f"{sv.version}.bin"
        if bin_path.exists() and not force:
            continue
        bin_path.write_bytes(encode_sample(codec, sv.family, sv.version))
        (folder / f"{sv.version}.json").write_text(
            json.dumps(expected(sv.family, sv.version), indent=2, sort_keys=True,
                       ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {bin_path.relative_to(HERE)} ({sv.fingerprint.hex()})")


if __name__ == "__main__":
    main(sys.argv[1:])
