"""Schema evolution: every record any schema version wrote stays readable.

`codec_samples/<family>/<version>.bin` holds one record written with each version (made once
by `codec_samples/make_samples.py`, never in the test run) and `<version>.json` what the writer
put in. Each must decode with today's schemas to the same fields.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from laneway.agencies import decode_envelope
from laneway.codec import (
    Codec,
    DecodeError,
    SchemaError,
    decode_definition,
    decode_job,
    decode_message,
    decode_record_traced,
    decode_state,
    default_codec,
)
from laneway.codec.schemas import NAMESPACE, default_schema_dir

SAMPLES = Path(__file__).resolve().parent / "codec_samples"
SAMPLE_FILES = sorted(SAMPLES.glob("*/*.bin"))


def _make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strict(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _decode(family: str, data: bytes) -> Any:
    if family == "record":
        rec, trace = decode_record_traced(data)
        out = rec.to_dict()
        out["traceParent"] = trace
        return out
    decoder = {"job": decode_job, "state": decode_state, "definition": decode_definition,
               "message": decode_message, "envelope": decode_envelope}[family]
    return _make_samples().describe(decoder(data))


def test_there_is_a_sample_for_every_schema_version_and_no_other() -> None:
    known = {(sv.family, sv.version) for sv in default_codec().versions}
    have = {(p.parent.name, int(p.stem)) for p in SAMPLE_FILES}
    assert have == known, "run tests/unit/codec_samples/make_samples.py and commit the files"


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}-v{p.stem}")
def test_every_sample_decodes_with_the_current_schemas(path: Path) -> None:
    family, version = path.parent.name, int(path.stem)
    data = path.read_bytes()
    codec = default_codec()
    try:
        writer = codec.writer_of(data)
    except DecodeError as exc:
        pytest.fail(f"{path.name} of {family}: {exc}. Was {family}.avsc changed without "
                    "moving the old version to schemas/history/ and bumping laneway.version?")
    assert (writer.family, writer.version) == (family, version)
    got = _decode(family, data)
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    for key, value in expected.items():
        assert _strict(got[key]) == _strict(value), key


def test_a_v1_record_reads_with_a_null_trace_parent() -> None:
    rec, trace = decode_record_traced((SAMPLES / "record" / "1.bin").read_bytes())
    assert trace is None
    assert rec.principal.claims["mfa"] is True


def test_a_v1_state_sample_loads_without_the_fields_since_removed() -> None:
    snapshot = decode_state((SAMPLES / "state" / "1.bin").read_bytes())
    assert "interrupted" in snapshot.state["elements"]["1"]
    inst = snapshot.instance()
    assert inst.elements[1].element_id == "p1"
    assert inst.variables == {1: {"amount": 150}}


def test_old_snapshots_with_a_correlating_subscription_still_load() -> None:
    from laneway.engine import EngineState, InstanceState
    from services.engine.partitions import load_message_side

    old = InstanceState("i", "p", 1, next_key=3).to_dict()
    old["message_subs"] = {"2": {"key": 2, "element_key": 1, "element_id": "wait",
                                 "name": "docs", "correlation_key": "r", "correlating": False}}
    assert InstanceState.from_dict(old).message_subs[2].name == "docs"
    state = EngineState()
    load_message_side(state, {"subscriptions": [{"name": "docs", "correlationKey": "r", "subs": {
        "i/2": {"instanceId": "i", "subKey": 2, "processId": "p", "correlating": True}}}]})
    assert state.message_subs[("docs", "r")]["i/2"].sub_key == 2


def _records(schema: Any, out: dict[str, dict[str, Any]]) -> None:
    """Every record type of an expanded schema, by full name -> field name -> field."""
    if isinstance(schema, list):
        for s in schema:
            _records(s, out)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            name = schema["name"] if "." in schema["name"] else f"{NAMESPACE}.{schema['name']}"
            fields = out.setdefault(name, {})
            for f in schema["fields"]:
                fields[f["name"]] = f
                _records(f["type"], out)
        for key in ("type", "items", "values"):
            if isinstance(schema.get(key), dict | list):
                _records(schema[key], out)


def test_fields_added_since_an_earlier_version_have_defaults() -> None:
    codec = default_codec()
    for sv in codec.versions:
        if sv.current:
            continue
        old: dict[str, dict[str, Any]] = {}
        new: dict[str, dict[str, Any]] = {}
        _records(sv.schema, old)
        _records(codec.current(sv.family).schema, new)
        for name, fields in new.items():
            for field_name, f in fields.items():
                if name in old and field_name not in old[name]:
                    assert "default" in f, f"{name}.{field_name} is new since " \
                                           f"{sv.family} v{sv.version} and needs a default"


def test_timestamps_are_declared_timestamp_millis() -> None:
    text = (default_schema_dir() / "record.avsc").read_text()
    assert '"logicalType": "timestamp-millis"' in text


def _copy_schemas(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(default_schema_dir(), target)
    return target


def test_changing_a_schema_without_a_version_bump_orphans_its_samples(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    doc = json.loads((root / "record.avsc").read_text())
    doc["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    (root / "record.avsc").write_text(json.dumps(doc))
    codec = Codec.from_dir(root)
    with pytest.raises(DecodeError) as info:
        codec.decode((SAMPLES / "record" / "2.bin").read_bytes())
    assert info.value.reason == "unknown-fingerprint"
    # ... and moving v2 to history (what the docs ask) makes it readable again
    shutil.copy(default_schema_dir() / "record.avsc", root / "history" / "record.v2.avsc")
    doc["laneway.version"] = 3
    (root / "record.avsc").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="Unknown type"):
        Codec.from_dir(root)  # history files must be self-contained
    expanded = default_codec().current("record").schema
    (root / "history" / "record.v2.avsc").write_text(json.dumps(expanded))
    codec = Codec.from_dir(root)
    for version in (1, 2):
        decoded = codec.decode((SAMPLES / "record" / f"{version}.bin").read_bytes())
        assert decoded.version == version
        assert decoded.datum["tenant"] is None


def test_an_unchanged_copy_in_history_is_refused(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    expanded = default_codec().current("job").schema
    (root / "history" / "job.v1.avsc").write_text(json.dumps(expanded))
    with pytest.raises(SchemaError, match="same canonical form"):
        Codec.from_dir(root)


def _variant(root: Path, name: str, version: int) -> None:
    doc = json.loads((root / "history" / "record.v1.avsc").read_text())
    doc["laneway.version"] = version
    doc["fields"].append({"name": "x", "type": "long", "default": 0})
    (root / "history" / name).write_text(json.dumps(doc))


def test_history_newer_than_current_is_refused(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    _variant(root, "record.v7.avsc", 7)
    with pytest.raises(SchemaError, match="newer than the current"):
        Codec.from_dir(root)


def test_history_of_no_family_is_refused(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    _variant(root, "ticket.v1.avsc", 1)
    with pytest.raises(SchemaError, match="history of no current schema"):
        Codec.from_dir(root)


def test_history_file_version_must_match_its_name(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    _variant(root, "record.v3.avsc", 2)
    with pytest.raises(SchemaError, match=r"says laneway\.version 2"):
        Codec.from_dir(root)
