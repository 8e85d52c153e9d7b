"""Hardened XML loading shared by the reader and the exporter.

BPMN files come from users and from third-party tools, so the parser never resolves entities,
never loads a DTD and never touches the network; a DOCTYPE of any kind is refused outright,
because such a file is either an attack (external entity, entity bomb, attribute defaults that
add attributes no one sees in the file) or something no modeler writes. A diagram is read in
one pass that stops at the first node over a limit (`Limits`), so its time and memory are
bounded by the limits, not by what a client sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from laneway.problems import DiagramError, Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
# The engine's own attributes (`laneway:type`, `laneway:persona`, ...) live here.
LANEWAY_NS = "http://laneway.dev/schema/1.0/bpmn"

# Namespaces whose attributes are part of the standard, not extension attributes.
STANDARD_NS = frozenset({BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, XSI_NS, XML_NS, XMLNS_NS})

MAX_BYTES = 20 * 1024 * 1024
# Far above any real diagram (the largest of the conformance corpus has about 2,400 elements
# nested 11 deep), low enough that reading one takes a few seconds at most (about 50 us per
# element on a shared 2-CPU machine, docs/benchmarks.md) and that the recursive reader stays
# far from Python's stack limit. libxml2's own bound without XML_PARSE_HUGE (kept off) is 256
# deep.
MAX_ELEMENTS = 50_000
MAX_DEPTH = 100
MAX_PROCESSES = 100
# lxml reads an attribute's value by looking its name up among the element's attributes, so
# reading all of them costs their number squared: 100,000 on one element took 50 s. Real
# elements have at most about 15 (the corpus).
MAX_ATTRIBUTES = 100
_LIBXML2_MAX_DEPTH = 256
# What no setting may go above; files read back after a deploy (by the engine, the lifecycle,
# an export) are read with these, so a file a deploy accepted is never refused later.
_HARD_MAX_BYTES = 64 * 1024 * 1024
_HARD_MAX_ELEMENTS = 1_000_000
_HARD_MAX_PROCESSES = 1_000
_HARD_MAX_ATTRIBUTES = 1_000

DEFINITIONS_TAG = f"{{{BPMN_NS}}}definitions"

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ELEMENT_START = re.compile(rb"<[A-Za-z_:]")
# fed to libxml2 this much at a time, so a limit stops the parse early, not after the whole
# tree is built
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """How large a diagram `parse` reads: bytes, XML nodes (elements, comments and
    processing instructions), nesting depth, processes in one file (each is stored and loaded
    with the whole file) and attributes on one element. Over any of them the diagram is
    refused with a problem that names the limit."""

    max_bytes: int = MAX_BYTES
    max_elements: int = MAX_ELEMENTS
    max_depth: int = MAX_DEPTH
    max_processes: int = MAX_PROCESSES
    max_attributes: int = MAX_ATTRIBUTES

    def __post_init__(self) -> None:
        for name, most in (("max_bytes", _HARD_MAX_BYTES), ("max_elements", _HARD_MAX_ELEMENTS),
                           ("max_depth", _LIBXML2_MAX_DEPTH),
                           ("max_processes", _HARD_MAX_PROCESSES),
                           ("max_attributes", _HARD_MAX_ATTRIBUTES)):
            value = getattr(self, name)
            if not 1 <= value <= most:
                raise ValueError(f"Expected {name} from 1 to {most}, but it is {value}")


STORED_LIMITS = Limits(max_bytes=_HARD_MAX_BYTES, max_elements=_HARD_MAX_ELEMENTS,
                       max_depth=_LIBXML2_MAX_DEPTH, max_processes=_HARD_MAX_PROCESSES,
                       max_attributes=_HARD_MAX_ATTRIBUTES)
"""The limits for a file read back after a deploy accepted it: the most any setting allows."""


class _Scope:
    """The namespace declarations of one element, over those of the elements around it."""

    __slots__ = ("_cache", "_declared", "_first", "_outer", "_own")

    def __init__(self, declared: list[tuple[str | None, str]], outer: _Scope | None) -> None:
        self._declared = declared
        self._outer = outer
        self._first: dict[str, str] | None = None  # uri -> its first own prefix, when asked
        self._own: set[str | None] = set()  # the prefixes declared here, when asked
        self._cache: dict[str, str | None] = {}

    def prefix(self, uri: str) -> str | None:
        """The prefix that `el.nsmap` would give first for `uri` (the element's own
        declarations in order, then the enclosing elements'), not counting a prefix that a
        nearer declaration binds to another namespace; None when no prefix binds it."""
        if uri in self._cache:
            return self._cache[uri]
        if self._first is None:
            self._first = {}
            for p, u in self._declared:
                self._own.add(p)
                if p is not None:
                    self._first.setdefault(u, p)
        found = self._first.get(uri)
        if found is None and self._outer is not None:
            found = self._outer.prefix(uri)
            if found is not None and found in self._own:
                found = self._walk(uri)  # rare: a nearer declaration rebinds that prefix
        self._cache[uri] = found
        return found

    def _walk(self, uri: str) -> str | None:
        seen: set[str | None] = set()
        scope: _Scope | None = self
        while scope is not None:
            for p, u in scope._declared:
                if p in seen:
                    continue
                seen.add(p)
                if u == uri and p is not None:
                    return p
            scope = scope._outer
        return None


class Prefixes:
    """The prefix a namespace has on an element, found in the one pass that parsed it.

    `el.nsmap` builds a dict of every namespace in scope, walking up to the root, on each
    call: asked per attribute, a file declaring many namespaces cost its size times their
    number (a 2 MB file took seconds). Here each element's declarations are kept once, shared
    by the elements below it, and every answer is cached.
    """

    def __init__(self) -> None:
        self._scopes: dict[etree._Element, _Scope] = {}

    def note(self, el: etree._Element, scope: _Scope) -> None:
        """Keep the scope of an element that has namespaced attributes."""
        self._scopes[el] = scope

    def prefix(self, el: etree._Element, uri: str) -> str | None:
        """The prefix bound to `uri` where `el` is, None when none is."""
        scope = self._scopes.get(el)
        if scope is None:  # an element the parse did not see (a tree built by hand)
            return next((p for p, u in el.nsmap.items() if u == uri and p is not None), None)
        return scope.prefix(uri)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A parsed document and the namespace prefixes of its elements."""

    tree: etree._ElementTree
    prefixes: Prefixes


def _parser() -> etree.XMLPullParser:
    # A parser is cheap but not thread-safe to share, so each call makes its own.
    return etree.XMLPullParser(
        events=("start", "end", "start-ns", "comment", "pi"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def line_of(el: etree._Element) -> int:
    """The source line of an element (0 when lxml does not know it)."""
    line = el.sourceline
    return line if isinstance(line, int) else 0


def _refuse(file: str, line: int, message: str) -> DiagramError:
    return DiagramError([Problem(file, line, None, message)])


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _doctype_refusal(file: str, line: int, detail: str) -> DiagramError:
    return _refuse(
        file,
        line,
        f"Expected no DOCTYPE, but the document has one{detail} (refused, not read: a DTD "
        "can declare entities, fetch an external subset or add attributes no one sees in "
        "the file)",
    )


def load(data: bytes, file: str, limits: Limits | None = None) -> Loaded:
    """Parse `data` as XML with every dangerous feature off; raise DiagramError if refused:
    malformed, a DOCTYPE of any kind, or over one of `limits`."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise _refuse(
            file,
            0,
            f"Expected a diagram of at most {_size(limits.max_bytes)}, "
            f"but the input has {len(data)} bytes",
        )
    # Checked on the bytes before parsing so that no DTD is ever handed to libxml2; the
    # docinfo check after parsing covers encodings this byte scan cannot see (UTF-16).
    # Only the prolog can hold a DOCTYPE: "<!DOCTYPE" in a CDATA script later is just text.
    first_element = _ELEMENT_START.search(data)
    prolog_end = first_element.start() if first_element else len(data)
    doctype = _DOCTYPE.search(data, 0, prolog_end)
    if doctype is not None:
        entities = _ENTITY_DECL.search(data, doctype.end(), prolog_end) is not None
        raise _doctype_refusal(file, _line_of(data, doctype.start()),
                               " with entity declarations" if entities else "")
    try:
        loaded = _pull(data, file, limits)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else 0
        msg = exc.msg or str(exc)
        if "Excessive depth" in msg:
            raise _refuse(
                file, line, f"Expected elements nested at most {limits.max_depth} deep, "
                f"but: {msg}"
            ) from None
        raise _refuse(file, line, f"Expected well-formed XML, but: {msg}") from None
    except ValueError as exc:  # e.g. a str with an encoding declaration, or an unknown encoding
        raise _refuse(file, 0, f"Expected well-formed XML, but: {exc}") from None
    # lxml-stubs lack DTD.iterentities and DocInfo.system_url, both long part of lxml.
    docinfo: Any = loaded.tree.docinfo
    dtd: Any = docinfo.internalDTD
    if dtd is not None or docinfo.doctype or docinfo.system_url or docinfo.public_id:
        entities = dtd is not None and any(True for _ in dtd.iterentities())
        raise _doctype_refusal(file, 1, " with entity declarations" if entities else "")
    return loaded


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


def _pull(data: bytes, file: str, limits: Limits) -> Loaded:
    """One pass: the tree, each element's namespace scope, and the limits checked as the
    nodes come (the parse stops at the first node over a limit)."""
    parser = _parser()
    prefixes = Prefixes()
    scopes: list[_Scope | None] = [None]
    declared: list[tuple[str | None, str]] = []
    nodes = 0
    root: etree._Element | None = None
    for offset in range(0, max(len(data), 1), _CHUNK):
        parser.feed(data[offset:offset + _CHUNK])
        events: Any = parser.read_events()  # (event, element or (prefix, uri)) pairs
        for event, item in events:
            if event == "start-ns":
                prefix, uri = item
                declared.append((prefix or None, uri))
                continue
            if event == "end":
                scopes.pop()
                continue
            nodes += 1
            if nodes > limits.max_elements:
                raise _refuse(file, line_of(item),
                              f"Expected at most {limits.max_elements} XML elements (comments "
                              "and processing instructions included), but the document has "
                              "more")
            if event != "start":
                continue
            if root is None:
                root = item
            scope = scopes[-1]
            if declared:
                scope = _Scope(declared, scope)
                declared = []
            scopes.append(scope)
            if len(scopes) - 1 > limits.max_depth:
                raise _refuse(file, line_of(item),
                              f"Expected elements nested at most {limits.max_depth} deep, "
                              "but this one is deeper")
            attrib = item.attrib
            if len(attrib) > limits.max_attributes:
                raise _refuse(file, line_of(item),
                              f"Expected at most {limits.max_attributes} attributes on one "
                              f"element, but this one has {len(attrib)}")
            if scope is not None and any(k[0] == "{" for k in attrib):
                prefixes.note(item, scope)
    parser.close()
    assert root is not None  # close() raises on a document without a root element
    return Loaded(root.getroottree(), prefixes)


def check_root(root: etree._Element, file: str) -> None:
    """Refuse a document whose root is not a BPMN 2.0 `definitions` element."""
    if root.tag != DEFINITIONS_TAG:
        raise _refuse(
            file,
            line_of(root),
            f"Expected the root element {DEFINITIONS_TAG}, but it is {root.tag}",
        )
