"""What a connector or a trigger type reads from a diagram, declared once.

A built-in (or a plugin) lists its `laneway:` attributes as `Attribute`s on its class:

    class SlackConnector(Connector):
        type = "slack"
        attributes = (
            Attribute("channel", "Channel", "A channel id or #name", kind="template",
                      required=True),
            Attribute("tokenSecret", "Bot token secret", kind="string", secret=True,
                      default="slack_bot_token"),
        )

The same declaration gives the deploy-time check (`problems`: a required attribute missing, a
value not among the choices, a number, boolean, duration or JSON that does not parse) and the
Camunda Modeler element template (`laneway templates`, laneway/element_templates.py), so the
form a modeler fills in and what the deploy refuses cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import isodate

__all__ = ["POLICY", "Attribute", "Kind", "polling", "problems"]

Kind = Literal["string", "text", "number", "boolean", "duration", "choice", "template", "json"]
"""How a value is written: `string` one line; `text` several lines; `number` a number (whole
unless `fraction`), within `low`..`high`; `boolean` `true`/`false`; `duration` ISO 8601
(`PT30S`); `choice` one of `choices`; `template` a `{{ }}` template (one line, or `multiline`);
`json` JSON text, templates allowed inside."""

_NUMBER = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?")
DURATION_PATTERN = (r"-?P(?=[0-9T])([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?"
                    r"(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+([.][0-9]+)?S)?)?")
"""An ISO 8601 duration as the form checks it (a JavaScript regular expression too)."""
_DURATION = re.compile(DURATION_PATTERN)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute an element (a service task, a trigger's message) carries, as
    `laneway:<name>`."""

    name: str
    """The local name: `url` for `laneway:url`."""
    label: str
    """A short label for the form."""
    description: str = ""
    """A sentence for the form's hint: what it means, its default."""
    kind: Kind = "string"
    required: bool = False
    """A value (not blank) must be there."""
    default: str | None = None
    """What applies when the attribute is absent (said in the form, not written for you)."""
    choices: tuple[str, ...] = ()
    """With `choice`: the values allowed."""
    low: float | None = None
    high: float | None = None
    """With `number`: the bounds, inclusive."""
    fraction: bool = False
    """With `number`: a decimal fraction is allowed."""
    multiline: bool = False
    """With `template`: several lines (a body, a prompt)."""
    secret: bool = False
    """The value NAMES a secret in the secret store; it never holds one."""
    group: str = "settings"
    """The form's group: `settings`, `result`, `errors`, `retries`."""

    @property
    def qualified(self) -> str:
        """`laneway:<name>`."""
        return f"laneway:{self.name}"

    def problem(self, raw: str | None) -> str | None:
        """What is wrong with the value as written (None: absent, or fine)."""
        if raw is None:
            return f"Expected {self.qualified}, but there is none" if self.required else None
        text = raw.strip()
        if not text:
            return f"Expected {self.qualified} not to be blank" if self.required else None
        if "{{" in text and self.kind == "json":
            return None  # a JSON template filled from variables when the job runs: checked then
        if self.kind == "choice" and text not in self.choices:
            return (f"Expected {self.qualified} to be one of {', '.join(self.choices)}, but "
                    f"got {raw[:40]!r}")
        if self.kind == "boolean" and text.lower() not in ("true", "false"):
            return f"Expected {self.qualified} to be true or false, but got {raw[:40]!r}"
        if self.kind == "number":
            return self._number_problem(text, raw)
        if self.kind == "duration":
            try:
                if not _DURATION.fullmatch(text):
                    raise ValueError(text)
                span = isodate.parse_duration(text)
                span.total_seconds()
            except (isodate.ISO8601Error, ValueError, AttributeError, OverflowError):
                return (f"Expected {self.qualified} to be an ISO 8601 duration such as 'PT30S', "
                        f"but got {raw[:40]!r}")
        if self.kind == "json":
            try:
                json.loads(text)
            except ValueError as exc:
                return f"Expected {self.qualified} to be JSON, but it does not parse: {exc}"
        return None

    def _number_problem(self, text: str, raw: str) -> str | None:
        match = _NUMBER.fullmatch(text)
        if match is None or (match.group(1) and not self.fraction):
            what = "a number" if self.fraction else "a whole number"
            return f"Expected {self.qualified} to be {what}, but got {raw[:40]!r}"
        value = float(text)
        if (self.low is not None and value < self.low) or \
                (self.high is not None and value > self.high):
            return (f"Expected {self.qualified} to be from {_shown(self.low)} to "
                    f"{_shown(self.high)}, but got {raw[:40]!r}")
        return None


def _shown(bound: float | None) -> str:
    if bound is None:
        return "any"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def problems(declared: Sequence[Attribute], values: Mapping[str, str]) -> Iterator[str]:
    """What refuses `values` (by local name) under `declared`, one message each."""
    for attribute in declared:
        message = attribute.problem(values.get(attribute.name))
        if message is not None:
            yield message


POLICY: tuple[Attribute, ...] = (
    Attribute("retries", "Attempts", "Attempts in all; default 3", kind="number", low=1,
              high=1000, group="retries"),
    Attribute("retryBackoff", "Backoff", "ISO 8601 duration before the 2nd attempt, doubled "
              "each time; default PT1S", kind="duration", group="retries"),
    Attribute("retryBackoffMax", "Longest backoff", "ISO 8601 duration the backoff never "
              "exceeds; default PT5M", kind="duration", group="retries"),
    Attribute("timeout", "Timeout", "ISO 8601 duration one attempt may take; default PT30S",
              kind="duration", group="retries"),
)
"""The runtime's retry policy attributes (laneway/connectors/_policy.py), on every connector."""


def polling(interval: str, initial: str = "skip-existing") -> tuple[Attribute, ...]:
    """`laneway:interval` and `laneway:initial` of a polled trigger, with its defaults."""
    return (
        Attribute("interval", "Poll every", f"ISO 8601 duration, PT1S to P31D; default "
                  f"{interval}", kind="duration", group="polling"),
        Attribute("initial", "First poll", "skip-existing only records what is there; "
                  f"fire-existing starts an instance per item already there; default {initial}",
                  kind="choice", choices=("skip-existing", "fire-existing"), default=initial,
                  group="polling"),
    )
