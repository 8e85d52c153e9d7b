"""E-mail addresses, strictly: exactly one bare address, or not an address.

What a form's `format: email` field and an e-mail connector's recipient placeholder accept:
one `local@domain` (RFC 5321's Mailbox, the addr-spec of RFC 5322 without its obsolete and
quoted forms), with no display name, no second address and nothing between them. So a comma,
a semicolon, angle brackets, quotes, spaces, CR and LF are never part of an address: a field
holding `a@x.org, b@y.net, "Boss" <c@z.com>` is not an e-mail address, and cannot become three
recipients downstream (`email.utils.getaddresses` would read three).

- local part: 1 to 64 characters of RFC 5322 `atext` in dot-separated runs (no leading,
  trailing or doubled dot);
- domain: at least two dot-separated labels of letters, digits and inner hyphens, each 1 to
  63 characters, 253 in all, the last not all digits (no IP literals, no bare host names);
- the whole at most 254 characters (RFC 3696 errata 1690: what fits in a path).

`international=True` (a form's `idn-email`, and the connector, which sends what such a form
accepted) also admits non-ASCII letters and digits in the local part (RFC 6531) and domain
labels that IDNA-encode to valid ones.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_ADDRESS", "MAX_DOMAIN", "MAX_LOCAL", "is_address"]

MAX_ADDRESS = 254
MAX_LOCAL = 64
MAX_DOMAIN = 253
_MAX_LABEL = 63

_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


def is_address(text: object, *, international: bool = False) -> bool:
    """Whether `text` is exactly one bare e-mail address (see the module docstring)."""
    if not isinstance(text, str) or not 3 <= len(text) <= MAX_ADDRESS:
        return False
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return False
    return _local_ok(local, international) and _domain_ok(domain, international)


def _local_ok(local: str, international: bool) -> bool:
    if len(local.encode()) > MAX_LOCAL:
        return False
    return all(_atom_ok(atom, international) for atom in local.split("."))


def _atom_ok(atom: str, international: bool) -> bool:
    if not atom:
        return False  # a leading, trailing or doubled dot
    if _ATEXT.fullmatch(atom):
        return True
    # RFC 6531 adds UTF-8 to atext; letters, marks and digits only, so no look-alike
    # separators or invisible characters (U+2028, U+FF0C FULLWIDTH COMMA, ...) slip in
    return international and all(
        _ATEXT.fullmatch(c) or (ord(c) > 127 and unicodedata.category(c)[0] in "LMN")
        for c in atom)


def _domain_ok(domain: str, international: bool) -> bool:
    if international and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    if len(domain) > MAX_DOMAIN:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(len(label) <= _MAX_LABEL and _LABEL.fullmatch(label) for label in labels)
