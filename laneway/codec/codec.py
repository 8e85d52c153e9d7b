"""Avro single-object encoding with a registry of every schema version.

A record is `C3 01`, the writer schema's 8-byte little-endian CRC-64-AVRO fingerprint, then
the Avro binary body. Reading looks the fingerprint up among every version of every family
(current and history) and resolves an old writer schema to the family's current schema.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, cast

import fastavro
from fastavro import _read_py

from laneway.codec.errors import DecodeError, EncodeError
from laneway.codec.fast import FAST_FINGERPRINTS
from laneway.codec.schemas import MARKER, SchemaError, SchemaVersion, by_fingerprint, load

HEADER_SIZE = 10
# fastavro's compiled reader recurses on the C stack for nested values and crashes the
# process on a deep enough (hostile) nesting. Every nesting level of a Value costs one byte
# 0x0A (array branch) or 0x0C (map branch), so a body with fewer of those bytes than this is
# safe for it; any other body goes through fastavro's pure-Python reader, which raises
# RecursionError instead.
FAST_READER_MAX_BRANCH_BYTES = 256

_Reader = Callable[..., Any]
_fast_reader: _Reader = fastavro.schemaless_reader
_safe_reader: _Reader = cast(_Reader, _read_py.schemaless_reader)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded body (in the family's current schema) and the version that wrote it."""

    family: str
    version: int
    datum: dict[str, Any]


class Codec:
    """Encodes with a family's current schema, decodes anything any version wrote."""

    def __init__(self, versions: Iterable[SchemaVersion], *, direct: bool = True) -> None:
        """`direct=False`: every record through fastavro's generic writer and reader, never
        `laneway.codec.fast`'s (the same bytes and values, slower: for comparisons)."""
        self.versions = sorted(versions, key=lambda v: (v.family, v.version))
        self._by_fp = by_fingerprint(self.versions)
        self._current: dict[str, SchemaVersion] = {}
        self._exact: dict[tuple[str, int], SchemaVersion] = {}
        for v in self.versions:
            if (v.family, v.version) in self._exact:
                raise SchemaError(f"Two schemas for {v.family} v{v.version}")
            self._exact[(v.family, v.version)] = v
            if v.current:
                self._current[v.family] = v
        for v in self.versions:
            cur = self._current.get(v.family)
            if cur is None:
                raise SchemaError(f"{v.family} v{v.version} is history of no current schema")
            if v.version > cur.version:
                raise SchemaError(f"{v.family}: history v{v.version} is newer than the current "
                                  f"v{cur.version}")
        # the header of each family whose current schema laneway/codec/fast.py writes
        self._fast = {family: v.header for family, v in self._current.items()
                      if direct and FAST_FINGERPRINTS.get(family) == v.fingerprint.hex()}

    @classmethod
    def from_dir(cls, directory: Path | None = None) -> Codec:
        """The codec of the schemas in a folder (default: `schemas/`)."""
        return cls(load(directory))

    def current(self, family: str) -> SchemaVersion:
        """The schema a family is written with."""
        try:
            return self._current[family]
        except KeyError:
            raise EncodeError(f"no schema for family {family!r}") from None

    def fast_header(self, family: str) -> bytes | None:
        """The header to put before `laneway.codec.fast`'s body of a `family` record, or None
        when the family's current schema is not the one that module writes."""
        return self._fast.get(family)

    def version(self, family: str, version: int) -> SchemaVersion:
        """One version of a family's schema."""
        try:
            return self._exact[(family, version)]
        except KeyError:
            raise EncodeError(f"no schema {family} v{version}") from None

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The schema that wrote `data`, from its header alone."""
        if data[:2] != MARKER[: len(data)]:
            raise DecodeError("bad-marker",
                              f"expected the single-object marker C3 01, got {data[:2].hex(' ')}")
        if len(data) < HEADER_SIZE:
            raise DecodeError("truncated", f"{len(data)} bytes, shorter than the header")
        fp = bytes(data[2:HEADER_SIZE])
        writer = self._by_fp.get(fp)
        if writer is None:
            raise DecodeError("unknown-fingerprint", f"no known schema has fingerprint {fp.hex()}",
                              fp.hex())
        return writer

    def encode(self, family: str, datum: dict[str, Any], *, version: int | None = None) -> bytes:
        """Write a datum (fastavro's form) with the current schema, or an earlier `version`."""
        schema = self.current(family) if version is None else self.version(family, version)
        buf = io.BytesIO()
        buf.write(schema.header)
        try:
            fastavro.schemaless_writer(buf, schema.parsed, datum)
        except EncodeError:
            raise
        except Exception as exc:  # fastavro raises ValueError, TypeError, KeyError, ...
            text = str(exc)
            text = text if len(text) <= 300 else text[:300] + "..."
            raise EncodeError(f"{type(exc).__name__}: {text}", family) from exc
        return buf.getvalue()

    def decode(self, data: bytes | bytearray | memoryview, family: str | None = None) -> Decoded:
        """Read a record, in its family's current schema; `family` checks which it is."""
        if not isinstance(data, bytes):
            data = bytes(data)
        writer = self.writer_of(data)
        if family is not None and writer.family != family:
            raise DecodeError("wrong-schema", f"expected a {family}, got a {writer.family} "
                              f"v{writer.version}", writer.fingerprint.hex())
        reader = self._current[writer.family]
        buf = io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        deep = (data.count(0x0A, HEADER_SIZE) + data.count(0x0C, HEADER_SIZE)
                > FAST_READER_MAX_BRANCH_BYTES)
        read = _safe_reader if deep else _fast_reader
        try:
            datum = read(cast(IO[bytes], buf), writer.parsed,
                         None if reader is writer else reader.parsed)
        except EOFError as exc:
            raise DecodeError("truncated", f"the body ends early ({exc})".replace(" ()", ""),
                              writer.fingerprint.hex()) from None
        except RecursionError:
            raise DecodeError("corrupt", "values nested too deeply",
                              writer.fingerprint.hex()) from None
        except Exception as exc:  # a corrupt body makes fastavro raise all sorts
            raise DecodeError("corrupt", f"{type(exc).__name__}: {exc}",
                              writer.fingerprint.hex()) from None
        if buf.tell() != len(data):
            raise DecodeError("trailing-bytes",
                              f"{len(data) - buf.tell()} bytes after the body",
                              writer.fingerprint.hex())
        if not isinstance(datum, dict):
            raise DecodeError("corrupt", "the body is no record", writer.fingerprint.hex())
        return Decoded(writer.family, writer.version, datum)


@lru_cache(maxsize=1)
def default_codec() -> Codec:
    """The codec of the schemas this Laneway ships (loaded once)."""
    return Codec.from_dir()
