"""Writing a diagram back: the original XML with only the requested changes.

Export starts again from `Definitions.source`, not from the model, because the model does not
hold everything a file contains (DI, comments, unknown elements, formatting); re-serialising it
would lose them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from laneway.bpmn._common import (
    DOCUMENTATION,
    EXTENSION_ELEMENTS,
    SyntheticIds,
    bpmn,
    bpmn_local,
    split_clark,
)
from laneway.bpmn._xml import BPMN_NS, LANEWAY_NS, STORED_LIMITS, XSI_NS, load
from laneway.model import Definitions
from laneway.problems import DiagramError, Problem

_DECLARATION = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\?>\s*")
# Prefixes a change may use even if the file does not declare them yet.
_KNOWN_PREFIXES = {"laneway": LANEWAY_NS}


@dataclass(frozen=True, slots=True)
class SetAttribute:
    """Set (or with `value=None` remove) attribute `name` of the element with id `element_id`.

    `name` is a plain name (`name`), a prefixed name as declared in the file (`laneway:persona`;
    `laneway:` is declared on the root if the file lacks it) or a Clark name (`{uri}local`).
    """

    element_id: str
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class SetText:
    """Set (or with `text=None` remove) the text of a BPMN child of an element.

    `child` is the local name of that child: `documentation` (default), `conditionExpression`
    on a sequence flow, or `script` on a script task. It is created when missing.
    """

    element_id: str
    text: str | None
    child: str = "documentation"


Change = SetAttribute | SetText


def _index(root: etree._Element) -> dict[str, etree._Element]:
    index: dict[str, etree._Element] = {}
    synthetic = SyntheticIds()
    for el in root.iter(etree.Element):
        local = bpmn_local(el)
        if local is None:
            continue
        element_id = el.get("id")
        if element_id is None:
            element_id = synthetic.make(el)
        index.setdefault(element_id, el)
    return index


def _prefix_for(el: etree._Element, uri: str) -> str | None:
    for prefix, ns in el.nsmap.items():
        if ns == uri and prefix is not None:
            return prefix
    return None


def _declare(tree: etree._ElementTree, prefix: str, uri: str) -> None:
    root = tree.getroot()
    keep = sorted({p for el in root.iter(etree.Element) for p in el.nsmap if p is not None})
    keep.append(prefix)
    # lxml cannot add a declaration to an existing element in place; this declares it on the
    # root and, told to keep every existing prefix, removes nothing that was there.
    etree.cleanup_namespaces(tree, top_nsmap={prefix: uri}, keep_ns_prefixes=keep)


def _free_prefix(el: etree._Element) -> str:
    n = 0
    while f"ns{n}" in el.nsmap:
        n += 1
    return f"ns{n}"


def _attribute_key(tree: etree._ElementTree, el: etree._Element, name: str) -> str:
    if name.startswith("{"):
        uri = split_clark(name)[0]
        if _prefix_for(el, uri) is None:
            _declare(tree, _free_prefix(el), uri)
        return name
    if ":" not in name:
        return name
    prefix, local = name.split(":", 1)
    declared = el.nsmap.get(prefix)
    if declared is None:
        known = _KNOWN_PREFIXES.get(prefix)
        if known is None:
            raise ValueError(
                f"Expected prefix '{prefix}' to be declared in the file, but it is not"
            )
        _declare(tree, prefix, known)
        declared = known
    return f"{{{declared}}}{local}"


def _insert_position(el: etree._Element, child: str) -> int:
    # The schema orders documentation first, then extensionElements, then the rest.
    if child == "documentation":
        return 0
    position = 0
    for i, existing in enumerate(el):
        if existing.tag in (DOCUMENTATION, EXTENSION_ELEMENTS):
            position = i + 1
    return position


def _set_text(el: etree._Element, change: SetText) -> None:
    tag = bpmn(change.child)
    existing = [c for c in el if c.tag == tag]
    if change.text is None:
        for c in existing:
            el.remove(c)
        return
    if existing:
        target = existing[0]
        for c in list(target):
            target.remove(c)
    else:
        target = etree.Element(tag)
        if change.child == "script":
            el.append(target)
        else:
            el.insert(_insert_position(el, change.child), target)
        if change.child == "conditionExpression":
            # Camunda wants xsi:type; its value is a QName in the file's own BPMN prefix.
            prefix = _prefix_for(target, BPMN_NS)
            value = f"{prefix}:tFormalExpression" if prefix else "tFormalExpression"
            target.set(f"{{{XSI_NS}}}type", value)
    target.text = change.text


def export(defs: Definitions, changes: Sequence[Change] = ()) -> bytes:
    """The diagram's XML with `changes` applied; byte-identical to the source without changes.

    Raises `DiagramError` if a change names an element id the file does not have, and
    `ValueError` for an attribute prefix the file does not declare.
    """
    if not changes:
        return defs.source
    # the file was read once already (whatever limits that read had, these are the most)
    tree = load(defs.source, defs.file, STORED_LIMITS).tree
    index = _index(tree.getroot())
    missing = [c for c in changes if c.element_id not in index]
    if missing:
        raise DiagramError(
            [
                Problem(defs.file, 0, c.element_id, "Expected an element with this id, but none")
                for c in missing
            ]
        )
    for change in changes:
        el = index[change.element_id]
        if isinstance(change, SetAttribute):
            key = _attribute_key(tree, el, change.name)
            if change.value is None:
                if key in el.attrib:
                    del el.attrib[key]
            else:
                el.set(key, change.value)
        else:
            _set_text(el, change)
    # The declaration is copied as written: lxml would rewrite its quotes and add standalone.
    declaration = _DECLARATION.match(defs.source)
    body = etree.tostring(tree, encoding=tree.docinfo.encoding or "UTF-8", xml_declaration=False)
    if isinstance(body, str):  # only for encoding="unicode", which is never passed
        body = body.encode()
    return declaration.group(0) + body if declaration else body
