"""The record codec: Avro single-object encoding of every record Laneway puts on Kafka.

Schemas live in `schemas/*.avsc` (earlier versions in `schemas/history/`); see
docs/records.md.
"""

from laneway.codec.codec import Codec, Decoded, default_codec
from laneway.codec.dlq import dead_letter_headers, fit_dead_letter, read_dead_letter_headers
from laneway.codec.errors import CodecError, DecodeError, EncodeError
from laneway.codec.schemas import SchemaError, SchemaVersion
from laneway.codec.typed import (
    DefinitionRecord,
    JobRecord,
    MessageRecord,
    StateSnapshot,
    decode_definition,
    decode_job,
    decode_message,
    decode_record,
    decode_record_traced,
    decode_state,
    encode_definition,
    encode_instance,
    encode_job,
    encode_message,
    encode_record,
    encode_state,
)

__all__ = [
    "Codec",
    "CodecError",
    "DecodeError",
    "Decoded",
    "DefinitionRecord",
    "EncodeError",
    "JobRecord",
    "MessageRecord",
    "SchemaError",
    "SchemaVersion",
    "StateSnapshot",
    "dead_letter_headers",
    "decode_definition",
    "decode_job",
    "decode_message",
    "decode_record",
    "decode_record_traced",
    "decode_state",
    "default_codec",
    "encode_definition",
    "encode_instance",
    "encode_job",
    "encode_message",
    "encode_record",
    "encode_state",
    "fit_dead_letter",
    "read_dead_letter_headers",
]
