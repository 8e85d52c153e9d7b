"""The Avro schemas of `schemas/`: loading, expansion of shared named types, fingerprints.

A *family* schema (`record.avsc`, `job.avsc`, ...) carries a `laneway.version` attribute;
the other files (`value.avsc`, `principal.avsc`) define named types the families share. A
family schema is expanded into a self-contained schema (each named type written out at its
first use), which is what gets fingerprinted. Earlier versions live in
`schemas/history/<family>.v<N>.avsc`, already self-contained and never edited again.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro.schema import fingerprint as _fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

from laneway.codec.errors import CodecError

NAMESPACE = "dev.laneway"
VERSION_ATTR = "laneway.version"
MARKER = b"\xc3\x01"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "enum", "fixed", "error"})
_HISTORY_NAME = re.compile(r"^(?P<family>[a-z_]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")


class SchemaError(CodecError):
    """A schema file that cannot be used."""


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """One version of a family's schema, ready to write or read with."""

    family: str
    name: str
    version: int
    current: bool
    canonical: str
    fingerprint: bytes
    schema: dict[str, Any]
    parsed: Any

    @property
    def header(self) -> bytes:
        """What every record written with this schema starts with."""
        return MARKER + self.fingerprint


def default_schema_dir() -> Path:
    """`$LANEWAY_SCHEMA_DIR`, else `schemas/` of the source tree."""
    env = os.environ.get("LANEWAY_SCHEMA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "schemas"


def fingerprint(canonical: str) -> bytes:
    """The CRC-64-AVRO (Rabin) fingerprint of a canonical form, as the 8 little-endian bytes
    single-object encoding writes. fastavro gives the hex of exactly those bytes."""
    return bytes.fromhex(_fingerprint(canonical, "CRC-64-AVRO"))


def load(directory: Path | None = None) -> list[SchemaVersion]:
    """Every family's current schema and all its earlier versions."""
    root = directory or default_schema_dir()
    if not root.is_dir():
        raise SchemaError(f"Expected the Avro schemas in {root}, but there is no such folder")
    files = {p.stem: _read(p) for p in sorted(root.glob("*.avsc"))}
    shared: dict[str, dict[str, Any]] = {}
    for doc in files.values():
        _collect(doc, NAMESPACE, shared)
    out: list[SchemaVersion] = []
    for family, doc in files.items():
        if VERSION_ATTR not in doc:
            continue
        version = doc[VERSION_ATTR]
        if not isinstance(version, int) or version < 1:
            raise SchemaError(f"Expected {family}.avsc to have a positive {VERSION_ATTR}")
        out.append(build(family, version, expand(doc, shared), current=True))
    history = root / "history"
    for path in sorted(history.glob("*.avsc")) if history.is_dir() else []:
        m = _HISTORY_NAME.match(path.name)
        if m is None:
            raise SchemaError(f"Expected history file names like record.v1.avsc, not {path.name}")
        doc = _read(path)
        version = int(m["version"])
        if doc.get(VERSION_ATTR, version) != version:
            raise SchemaError(f"{path.name} says {VERSION_ATTR} {doc.get(VERSION_ATTR)}")
        out.append(build(m["family"], version, expand(doc, {}), current=False))
    return out


def build(family: str, version: int, schema: dict[str, Any], *, current: bool) -> SchemaVersion:
    """Parse a self-contained schema and fingerprint it."""
    try:
        parsed = parse_schema(strip_logical_types(schema))
        canonical = to_parsing_canonical_form(parsed)
    except Exception as exc:  # fastavro raises several kinds for a bad schema
        raise SchemaError(f"{family} v{version}: {exc}") from exc
    name = str(parsed["name"]) if isinstance(parsed, dict) else family
    return SchemaVersion(family, name, version, current, canonical, fingerprint(canonical),
                         schema, parsed)


def expand(doc: Mapping[str, Any], shared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A self-contained copy of `doc`: a reference to a type of `shared` that the schema has not
    defined yet is replaced by the definition (as Avro's canonical form requires)."""
    defined: set[str] = set()

    def walk(node: Any, namespace: str) -> Any:
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node
            full = _full(node, namespace)
            if full in defined:
                return node
            if full not in shared:
                raise SchemaError(f"Unknown type {node!r}")
            return walk(copy.deepcopy(dict(shared[full])), namespace)
        if isinstance(node, list):
            return [walk(n, namespace) for n in node]
        if not isinstance(node, dict):
            return node
        out = dict(node)
        kind = node.get("type")
        if kind in _NAMED:
            full = _full(node["name"], node.get("namespace", namespace))
            defined.add(full)
            namespace = full.rpartition(".")[0]
            if kind in ("record", "error"):
                out["fields"] = [dict(f, type=walk(f["type"], namespace)) for f in node["fields"]]
        elif kind == "array":
            out["items"] = walk(node["items"], namespace)
        elif kind == "map":
            out["values"] = walk(node["values"], namespace)
        elif isinstance(kind, dict | list) or (isinstance(kind, str) and kind not in PRIMITIVES):
            out["type"] = walk(kind, namespace)
        return out

    result = walk(dict(doc), NAMESPACE)
    assert isinstance(result, dict)
    return result


def strip_logical_types(node: Any) -> Any:
    """The schema without `logicalType`: the codec hands timestamps over as epoch
    milliseconds (ints), as the engine keeps them. Canonical form ignores logical types, so
    the fingerprint is the same."""
    if isinstance(node, list):
        return [strip_logical_types(n) for n in node]
    if isinstance(node, dict):
        return {k: strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    return node


def dumps(schema: Mapping[str, Any]) -> str:
    """A schema as a file writes it (for history files)."""
    return json.dumps(schema, indent=2) + "\n"


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise SchemaError(f"Expected {path} to hold one named type")
    return doc


def _collect(node: Any, namespace: str, into: dict[str, dict[str, Any]]) -> None:
    if isinstance(node, list):
        for n in node:
            _collect(n, namespace, into)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in _NAMED:
        full = _full(node["name"], node.get("namespace", namespace))
        into.setdefault(full, node)
        namespace = full.rpartition(".")[0]
        for f in node.get("fields", ()):
            _collect(f["type"], namespace, into)
    else:
        for key in ("type", "items", "values"):
            if key in node:
                _collect(node[key], namespace, into)


def _full(name: str, namespace: str) -> str:
    return name if "." in name else f"{namespace}.{name}"


def by_fingerprint(versions: Iterable[SchemaVersion]) -> dict[bytes, SchemaVersion]:
    """Index versions by fingerprint; two versions with one fingerprint are a mistake."""
    out: dict[bytes, SchemaVersion] = {}
    for v in versions:
        other = out.get(v.fingerprint)
        if other is not None:
            raise SchemaError(f"{v.family} v{v.version} has the same canonical form as "
                              f"{other.family} v{other.version}: bump versions only on change")
        out[v.fingerprint] = v
    return out
