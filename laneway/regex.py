"""Regular expressions that users write (a form schema's `pattern` and `patternProperties`,
FEEL's `matches`, `replace` and `split`) run on RE2: matching takes time linear in the text,
whatever the pattern, so no pattern and no input can stall a service. Python's `re`
backtracks: a common e-mail pattern took 17 s on 29 characters, doubling per character.

RE2 has no backreferences and no lookaround; a pattern that needs them is refused with
`RegexError` when it is compiled (at the form schema's upload, at the expression's
evaluation), never run slowly. Compiled patterns are cached.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

__all__ = ["MAX_PATTERN", "RegexError", "compile_regex"]

MAX_PATTERN = 1000
"""The longest pattern compiled, in characters."""

_MAX_MEMORY = 8 << 20  # RE2's own budget for one compiled pattern (bytes)


class RegexError(ValueError):
    """A pattern that cannot be compiled: too long, malformed, or asking for what RE2 does not
    do (backreferences, lookaround)."""


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str, *, ignore_case: bool = False, dot_all: bool = False,
                  multiline: bool = False) -> Any:
    """`pattern` compiled by RE2 (an object with `search`, `sub`, `split`, `groups`, as
    Python's `re` has); RegexError when it cannot be."""
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"Expected a regular expression of at most {MAX_PATTERN} characters, "
                         f"but it has {len(pattern)}")
    options = re2.Options()
    options.log_errors = False  # the error is ours to report, not RE2's to print
    options.max_mem = _MAX_MEMORY
    options.case_sensitive = not ignore_case
    options.dot_nl = dot_all
    try:
        return re2.compile(f"(?m){pattern}" if multiline else pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise RegexError(f"Expected a regular expression RE2 can run (no backreferences or "
                         f"lookaround), but {pattern[:80]!r} is not: {reason}") from None
