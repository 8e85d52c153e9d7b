"""Topic names and where each record goes (ARCHITECTURE.md, "Topics").

Instance commands go to `commands` keyed by instance id; the message side of correlation
(publish, open and close subscriptions) goes to `messages` keyed by correlation key, so a
message and the subscriptions waiting for it meet on one partition; a signal broadcast goes to
every partition of `messages`. `commands`, `events`, `state` and `messages` have the same
partition count, so partition *p* of each belongs to the same engine replica.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from laneway.records import Command, Record

MESSAGE_SIDE = frozenset({
    Command.PUBLISH_MESSAGE.value,
    Command.OPEN_MESSAGE_SUBSCRIPTION.value,
    Command.CLOSE_MESSAGE_SUBSCRIPTION.value,
    Command.RETRACT_CORRELATION.value,
    # starts instances like a message start, from one partition (keyed like a message)
    Command.EVALUATE_CONDITIONS.value,
})
BROADCAST = frozenset({Command.BROADCAST_SIGNAL.value})


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names under one prefix (`LANEWAY_TOPIC_PREFIX`, default `laneway.`)."""

    prefix: str = "laneway."

    @property
    def commands(self) -> str:
        """Requests to the engine, keyed by instance id."""
        return f"{self.prefix}commands"

    @property
    def events(self) -> str:
        """What happened, in order per instance, keyed by instance id."""
        return f"{self.prefix}events"

    @property
    def state(self) -> str:
        """Compacted instance snapshots (and each partition's message-side state)."""
        return f"{self.prefix}state"

    @property
    def messages(self) -> str:
        """The message side of correlation, keyed by correlation key."""
        return f"{self.prefix}messages"

    @property
    def definitions(self) -> str:
        """Compacted deployable definitions, keyed `process id@version`."""
        return f"{self.prefix}definitions"

    @property
    def dlq(self) -> str:
        """Records no consumer could decode or handle, with the reason in headers."""
        return f"{self.prefix}dlq"

    def jobs(self, job_type: str) -> str:
        """The topic of one connector type: `jobs.<type>`, the type as it is when Kafka takes
        it as a name (letters, digits, `.`, `_`, `-`, at most 200), else made one
        (`job_topic_part`)."""
        return f"{self.prefix}jobs.{job_topic_part(job_type)}"

    def route(self, command: Record) -> tuple[str, str]:
        """The topic and key a command is produced to (broadcasts: see `is_broadcast`)."""
        if command.intent in MESSAGE_SIDE or command.intent in BROADCAST:
            return self.messages, message_key(command)
        return self.commands, command.instance_id


def is_broadcast(command: Record) -> bool:
    """A command every partition must see (a signal broadcast)."""
    return command.intent in BROADCAST


def message_key(command: Record) -> str:
    """The partition key of a message-side command: its correlation key (a name for a
    broadcast), so a message and the subscriptions waiting for it share a partition."""
    value = command.value
    if command.intent in BROADCAST:
        return str(value.get("name", ""))
    return str(value.get("correlationKey", "") or "")


_TOPIC_SAFE = re.compile(r"[A-Za-z0-9._-]{1,200}")
_NOT_TOPIC_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def job_topic_part(job_type: str) -> str:
    """`job_type` as part of a topic name. Kafka refuses a name with other characters than
    letters, digits, `.`, `_` and `-`, or longer than 249, and Zeebe's job types have colons
    (`io.camunda:http-json:1`): such a type becomes its legal characters (others as `_`),
    at most 180 of them, then `-` and 16 hex digits of its hash, so that two types never share a
    topic. A legal type is its own name, as before."""
    if _TOPIC_SAFE.fullmatch(job_type):
        return job_type
    digest = hashlib.sha256(job_type.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{_NOT_TOPIC_SAFE.sub('_', job_type)[:180]}-{digest}"
