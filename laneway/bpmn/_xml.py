"""Hardened XML loading shared by the reader and the exporter.

BPMN files come from users and from third-party tools, so the parser never resolves entities,
never loads a DTD and never touches the network; a DOCTYPE that declares entities is refused
outright rather than parsed with its entities left unexpanded, because such a file is either an
attack (external entity, entity bomb) or something no modeler writes.
"""

from __future__ import annotations

import re
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
# libxml2's own bound without XML_PARSE_HUGE (kept off): far above any real diagram, and low
# enough that the recursive reader cannot exhaust Python's stack.
MAX_DEPTH = 256

DEFINITIONS_TAG = f"{{{BPMN_NS}}}definitions"

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ELEMENT_START = re.compile(rb"<[A-Za-z_:]")


def _parser() -> etree.XMLParser:
    # A parser is cheap but not thread-safe to share, so each call makes its own.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
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


def load(data: bytes, file: str) -> etree._ElementTree:
    """Parse `data` as XML with every dangerous feature off; raise DiagramError if refused."""
    if len(data) > MAX_BYTES:
        raise _refuse(
            file,
            0,
            f"Expected a diagram of at most {MAX_BYTES // (1024 * 1024)} MiB, "
            f"but the input has {len(data)} bytes",
        )
    # Checked on the bytes before parsing so that an entity bomb is never handed to libxml2;
    # the docinfo check after parsing covers encodings this byte scan cannot see (UTF-16).
    # Only the prolog can hold a DOCTYPE: "<!DOCTYPE" in a CDATA script later is just text.
    # Every entity declaration starts before any "<name" inside an entity value can appear.
    first_element = _ELEMENT_START.search(data)
    prolog_end = first_element.start() if first_element else len(data)
    doctype = _DOCTYPE.search(data, 0, prolog_end)
    if doctype is not None and _ENTITY_DECL.search(data, doctype.end(), prolog_end):
        raise _refuse(
            file,
            _line_of(data, doctype.start()),
            "Expected no DOCTYPE with entity declarations, but the document declares entities "
            "(refused, not expanded: external entities and entity expansion are not allowed)",
        )
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else 0
        msg = exc.msg or str(exc)
        if "Excessive depth" in msg:
            raise _refuse(
                file, line, f"Expected elements nested at most {MAX_DEPTH} deep, but: {msg}"
            ) from None
        raise _refuse(file, line, f"Expected well-formed XML, but: {msg}") from None
    except ValueError as exc:  # e.g. a str with an encoding declaration, or an unknown encoding
        raise _refuse(file, 0, f"Expected well-formed XML, but: {exc}") from None
    # lxml-stubs lack DTD.iterentities and DocInfo.system_url, both long part of lxml.
    docinfo: Any = tree.docinfo
    dtd: Any = docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise _refuse(
            file,
            1,
            "Expected no DOCTYPE with entity declarations, but the document declares entities "
            "(refused, not expanded)",
        )
    if docinfo.system_url or docinfo.public_id:
        raise _refuse(
            file,
            1,
            "Expected no DOCTYPE referring to an external DTD, but the document has one "
            "(refused, not fetched)",
        )
    return tree


def check_root(root: etree._Element, file: str) -> None:
    """Refuse a document whose root is not a BPMN 2.0 `definitions` element."""
    if root.tag != DEFINITIONS_TAG:
        raise _refuse(
            file,
            line_of(root),
            f"Expected the root element {DEFINITIONS_TAG}, but it is {root.tag}",
        )
