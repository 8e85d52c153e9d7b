"""The audit sink's reader (services.audit.decoding): the same records as `decode_record`,
one `Principal` object per distinct principal, the JSON texts of `json_texts`, and a refusal
(so the loop dead-letters) for what `decode_record` refuses."""

from __future__ import annotations

from typing import Any, cast

import pytest
from confluent_kafka import Message

from laneway.codec import encode_record
from laneway.records import Principal, PrincipalKind, Record, RecordKind
from services.audit.chain import json_texts
from services.audit.decoding import decode_event, principal_texts

ANA = Principal(PrincipalKind.HUMAN, "ana", ("clerk",),
                {"iss": "https://idp.example", "mfa": True, "amr": ["pwd", "otp"], "n": 2.0})
BOT = Principal(PrincipalKind.AGENT, "connector:credit", ("connector",))


class _Msg:
    def __init__(self, value: bytes | None) -> None:
        self._value = value

    def value(self) -> bytes | None:
        return self._value


def _msg(value: bytes | None) -> Message:
    return cast(Message, _Msg(value))


def _record(n: int, principal: Principal, value: dict[str, Any]) -> Record:
    return Record(f"r-{n}", RecordKind.EVENT if n % 2 else RecordKind.REJECTION, "X", "i-1",
                  1_700_000_000_000 + n, value, element_id="e", element_type="TASK",
                  token_id=n, scope_id=-n, principal=principal)


def test_records_come_back_as_decode_record_reads_them_and_share_their_principal() -> None:
    records = [_record(n, ANA if n < 3 else BOT,
                       {"n": n, "s": "é\t", "f": 1.5, "l": [1, None, {"a": True}]})
               for n in range(5)]
    read = [decode_event(_msg(encode_record(rec, trace_parent="00-ab-cd-01" if n else None)))
            for n, rec in enumerate(records)]
    assert read == records
    assert read[0].principal is read[1].principal is read[2].principal
    assert read[3].principal is read[4].principal
    assert read[0].principal is not read[3].principal
    texts = principal_texts(read[0].principal)
    assert texts == json_texts(ANA.to_dict())
    assert principal_texts(read[1].principal) is texts
    assert principal_texts(read[3].principal) == json_texts(BOT.to_dict())


def test_a_principal_of_other_bytes_is_another_principal() -> None:
    other = Principal(PrincipalKind.HUMAN, "ana", ("clerk",), {**ANA.claims, "n": 2})
    first = decode_event(_msg(encode_record(_record(1, ANA, {}))))
    second = decode_event(_msg(encode_record(_record(2, other, {}))))
    assert second.principal == other
    assert principal_texts(second.principal) == json_texts(other.to_dict())
    assert principal_texts(first.principal) == json_texts(ANA.to_dict())


@pytest.mark.parametrize("value", [b"", b"junk", encode_record(_record(1, ANA, {}))[:-3], None])
def test_what_decode_record_refuses_is_refused(value: bytes | None) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - the loop dead-letters any error
        decode_event(_msg(value))
