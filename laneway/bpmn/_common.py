"""Reading what every element has: extension attributes, foreign children, documentation."""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from laneway.bpmn._expressions import element_text
from laneway.bpmn._xml import BPMN_NS, STANDARD_NS, Prefixes, line_of
from laneway.model import ExtensionElement
from laneway.model._elements import frozen_map

_BPMN_PREFIX = f"{{{BPMN_NS}}}"
EXTENSION_ELEMENTS = f"{_BPMN_PREFIX}extensionElements"
DOCUMENTATION = f"{_BPMN_PREFIX}documentation"


def bpmn(local: str) -> str:
    """The Clark name of a BPMN model element."""
    return _BPMN_PREFIX + local


def bpmn_local(el: etree._Element) -> str | None:
    """The local name of a BPMN model element, None for foreign elements and comments."""
    tag = el.tag
    if isinstance(tag, str) and tag.startswith(_BPMN_PREFIX):
        return tag[len(_BPMN_PREFIX) :]
    return None


def split_clark(name: str) -> tuple[str, str]:
    """(namespace, local) of a Clark name; namespace '' when it has none."""
    if name.startswith("{"):
        ns, _, local = name[1:].partition("}")
        return ns, local
    return "", name


def ref_id(value: str | None) -> str | None:
    """An id reference with any QName prefix (`tns:Message_1`) removed."""
    if value is None:
        return None
    value = value.strip()
    # ids are NCNames and never contain ':', so anything before one is a prefix.
    return value.rsplit(":", 1)[-1] if value else None


def _prefixed(el: etree._Element, key: str, prefixes: Prefixes) -> str | None:
    """`prefix:local` for a namespaced attribute key, None if the attribute is standard."""
    ns, local = split_clark(key)
    if not ns:
        return key
    if ns in STANDARD_NS:
        return None
    prefix = prefixes.prefix(el, ns)
    return key if prefix is None else f"{prefix}:{local}"


def foreign_attrs(el: etree._Element, prefixes: Prefixes) -> Mapping[str, str]:
    """The extension attribute bag of `el`: namespaced non-standard attributes, keyed as written."""
    attrib = el.attrib
    if not attrib:
        return frozen_map()
    bag: dict[str, str] = {}
    for key, value in attrib.items():
        if isinstance(key, str) and key[0] == "{":
            name = _prefixed(el, key, prefixes)
            if name is not None and isinstance(value, str):
                bag[name] = value
    return frozen_map(bag)


def _all_attrs(el: etree._Element, prefixes: Prefixes) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for key, value in el.attrib.items():
        if isinstance(key, str) and isinstance(value, str):
            name = _prefixed(el, key, prefixes) if key[0] == "{" else key
            out[name or key] = value
    return frozen_map(out)


def extension_tree(el: etree._Element, prefixes: Prefixes) -> ExtensionElement:
    """A foreign element and everything under it, as read."""
    children = tuple(extension_tree(c, prefixes) for c in el if isinstance(c.tag, str))
    text = element_text(el) if not children else el.text
    return ExtensionElement(
        tag=el.tag,
        prefix=el.prefix,
        attributes=_all_attrs(el, prefixes),
        children=children,
        text=text if text and text.strip() else None,
        line=line_of(el),
    )


def extensions_of(el: etree._Element, prefixes: Prefixes) -> tuple[ExtensionElement, ...]:
    """Foreign children: what `extensionElements` holds, and foreign elements placed directly."""
    out: list[ExtensionElement] = []
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == EXTENSION_ELEMENTS:
            out.extend(extension_tree(c, prefixes) for c in child if isinstance(c.tag, str))
        elif not tag.startswith(_BPMN_PREFIX) and split_clark(tag)[0] not in STANDARD_NS:
            out.append(extension_tree(child, prefixes))
    return tuple(out)


def documentation_of(el: etree._Element) -> str | None:
    """The text of the element's documentation children, joined by blank lines."""
    texts = [element_text(c) for c in el if c.tag == DOCUMENTATION]
    return "\n\n".join(texts) if texts else None


def find_extension(
    extensions: tuple[ExtensionElement, ...], namespace: str, local: str
) -> ExtensionElement | None:
    """The first foreign extension element with this namespace and local name."""
    tag = f"{{{namespace}}}{local}"
    return next((e for e in extensions if e.tag == tag), None)


def bool_attr(el: etree._Element, name: str, default: bool) -> bool:
    """An xsd:boolean attribute."""
    value = el.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1")


class SyntheticIds:
    """Made-up ids for elements written without one, the same in the reader and the exporter.

    Camunda 7 and Flowable run flows (even nodes) without ids, so such files are accepted. A
    flow is named `source->target`, anything else `localName#n` (n-th id-less element of that
    name in document order): stable when export re-wraps lines, and never equal to a real id
    because '>' and '#' cannot occur in an NCName.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def make(self, el: etree._Element) -> str:
        """The id for `el` (which has no `id` attribute); call in document order."""
        local = bpmn_local(el) or "element"
        if local == "sequenceFlow":
            base = f"{ref_id(el.get('sourceRef'))}->{ref_id(el.get('targetRef'))}"
        else:
            base = local
        n = self._seen.get(base, 0) + 1
        self._seen[base] = n
        if local == "sequenceFlow":
            return base if n == 1 else f"{base}#{n}"
        return f"{base}#{n}"
