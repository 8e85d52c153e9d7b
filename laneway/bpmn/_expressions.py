"""Expressions as written by different engines, recognised by their wrapper or language.

Camunda 8 writes FEEL as `=a > 5`; Camunda 7 and Flowable write JUEL as `${a > 5}` or
`#{a > 5}`; SpiffWorkflow and bpmn-engine write plain Python or JavaScript and may say so in a
`language` attribute. The model keeps both the evaluable `text` and the `raw` text.
"""

from __future__ import annotations

from lxml import etree

from laneway.bpmn._xml import line_of
from laneway.model import Expression

# Language attributes are free text: MIME types, URIs or plain names.
_ALIASES = {
    "xpath": "xpath",
    "java": "java",
    "js": "javascript",
    "ecmascript": "javascript",
    "py": "python",
    "python3": "python",
    "jython": "python",
    "el": "juel",
    "uel": "juel",
}


def normalize_language(language: str | None) -> str | None:
    """A short lower-case dialect name for a `language`/`scriptFormat` value, None if blank."""
    if language is None:
        return None
    lang = language.strip().lower()
    if not lang:
        return None
    # "http://www.w3.org/1999/XPath", "text/x-groovy", "application/javascript"
    lang = lang.rstrip("/").rsplit("/", 1)[-1]
    lang = lang.removeprefix("x-")
    return _ALIASES.get(lang, lang)


def _juel_body(text: str) -> str | None:
    """The body of a single `${...}`/`#{...}` wrapper spanning all of `text`, else None."""
    if len(text) < 3 or text[0] not in "$#" or text[1] != "{" or text[-1] != "}":
        return None
    depth = 0
    for i, ch in enumerate(text[1:], start=1):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                # "${a} and ${b}" closes before the end: a composite template, not one wrapper.
                return text[2:-1].strip() if i == len(text) - 1 else None
    return None


def make_expression(
    raw: str,
    language: str | None = None,
    default_language: str | None = None,
    line: int = 0,
) -> Expression:
    """Build an Expression from text as written, recognising FEEL `=` and JUEL `${}` wrappers.

    An explicit `language` wins; otherwise the wrapper decides; otherwise `default_language`
    (the definitions' expressionLanguage).
    """
    stripped = raw.strip()
    lang = normalize_language(language)
    if lang is None or lang in ("feel", "juel"):
        if stripped.startswith("=") and lang in (None, "feel"):
            return Expression(stripped[1:].strip(), raw, "feel", line)
        if lang in (None, "juel") and stripped[:2] in ("${", "#{"):
            body = _juel_body(stripped)
            return Expression(stripped if body is None else body, raw, "juel", line)
    if lang is None:
        lang = normalize_language(default_language)
    return Expression(stripped, raw, lang, line)


def element_text(el: etree._Element) -> str:
    """All text inside `el` (CDATA included, comments skipped)."""
    if len(el) == 0:
        return el.text or ""
    return "".join(_texts(el))


def _texts(el: etree._Element) -> list[str]:
    out = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            out.extend(_texts(child))
        out.append(child.tail or "")
    return out


def formal_expression(
    el: etree._Element, default_language: str | None, language: str | None = None
) -> Expression:
    """The Expression written in a tFormalExpression element such as conditionExpression."""
    return make_expression(
        element_text(el),
        el.get("language") or language,
        default_language,
        line_of(el),
    )
