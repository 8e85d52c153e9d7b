"""Kafka client settings shared by every service, and the producer that renews itself.

Every producer uses the murmur2 partitioner, the one Java clients use, so an agency's Java
producer and Laneway put the same key on the same partition (librdkafka's default differs).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from laneway.kafka_security import KafkaSecurity, process_kafka_security

__all__ = ["CLIENT_PROPERTIES_VARIABLES", "PARTITIONER", "TRANSACTIONAL_RETRY_BACKOFF_MS",
           "TRANSACTION_TIMEOUT_MS", "ClientPropertiesError", "RenewingProducer", "admin_config",
           "client_properties", "consumer_config", "fatal_error", "fetch", "producer_config",
           "security_config"]

_log = logging.getLogger("laneway.kafka")

PARTITIONER = "murmur2_random"

TRANSACTIONAL_RETRY_BACKOFF_MS = 5
"""The transactional producer's first retry backoff (`producer_config`)."""

TRANSACTION_TIMEOUT_MS = 60_000
"""How long a transaction may stay open before the broker aborts it (a producer that died or
hangs in the middle of one holds read_committed readers of its partitions back that long)."""


CLIENT_PROPERTIES_VARIABLES = {
    "consumer": "LANEWAY_KAFKA_CONSUMER_PROPERTIES",
    "producer": "LANEWAY_KAFKA_PRODUCER_PROPERTIES",
    "transactional": "LANEWAY_KAFKA_TRANSACTIONAL_PROPERTIES",
}
"""Per client role, a setting of extra librdkafka properties (`name=value,name=value`) for
every client of that role in the process: consumers, producers that are not transactional
(the worklist's and the definitions service's commands, the dead-letter producers), and the
engine's transactional producer. For tuning (fetch.wait.max.ms, linger.ms, ...) and for an
A/B in the benchmarks (`--env`); docs/operations.md."""

_FIXED = frozenset({
    "bootstrap.servers", "group.id", "transactional.id", "enable.idempotence", "acks",
    "isolation.level", "enable.auto.commit", "enable.auto.offset.store", "partitioner",
    "partition.assignment.strategy", "transaction.timeout.ms"})
"""What the properties may not change: what exactly-once, the co-partitioned assignment and
the offsets committed with the work rest on (and where clients connect)."""
_PROPERTY = re.compile(r"[a-z][a-z0-9.]{0,100}")
_MAX_PROPERTIES = 32


class ClientPropertiesError(ValueError):
    """A `LANEWAY_KAFKA_*_PROPERTIES` setting is malformed or names a property it may not."""


@functools.lru_cache(maxsize=16)
def _parse_properties(variable: str, raw: str) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if len(items) > _MAX_PROPERTIES:
        raise ClientPropertiesError(f"{variable}: expected at most {_MAX_PROPERTIES} "
                                    f"properties, but got {len(items)}")
    for item in items:
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not _PROPERTY.fullmatch(name) or not value:
            raise ClientPropertiesError(f"{variable}: expected name=value, but got {item!r}")
        if name in _FIXED or name.startswith(("security.", "sasl.", "ssl.")):
            raise ClientPropertiesError(
                f"{variable}: {name} may not be set here (what exactly-once rests on, or the "
                "LANEWAY_KAFKA_* security settings' own)")
        out.append((name, int(value) if value.isdigit() else value))
    return tuple(out)


def client_properties(role: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The extra librdkafka properties of a client role (`CLIENT_PROPERTIES_VARIABLES`) from
    `env` (default: the process environment); raises ClientPropertiesError when malformed."""
    variable = CLIENT_PROPERTIES_VARIABLES[role]
    raw = (os.environ if env is None else env).get(variable, "").strip()
    if len(raw) > 4096:
        raise ClientPropertiesError(f"{variable}: expected at most 4096 characters")
    return dict(_parse_properties(variable, raw)) if raw else {}


def security_config(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The librdkafka properties of `security` (default: the process environment's
    `LANEWAY_KAFKA_*` settings); empty for PLAINTEXT. They hold secrets: never log them."""
    return (security if security is not None else process_kafka_security()).config()


def admin_config(bootstrap: str, *, security: KafkaSecurity | None = None,
                 quiet: bool = True) -> dict[str, Any]:
    """An admin client's config; `quiet` keeps librdkafka from logging connection errors
    (the caller reports what failed)."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, **security_config(security)}
    if quiet:
        config["log_level"] = 0
    return config


def producer_config(bootstrap: str, *, transactional_id: str | None = None,
                    client_id: str = "laneway", security: KafkaSecurity | None = None
                    ) -> dict[str, Any]:
    """An idempotent producer; transactional when `transactional_id` is given."""
    config: dict[str, Any] = {
        **security_config(security),
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": PARTITIONER,
        "linger.ms": 2,
        "compression.type": "lz4",
    }
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
        config["transaction.timeout.ms"] = TRANSACTION_TIMEOUT_MS
        # a transaction begun right after a commit (the engine's next batch) is answered
        # CONCURRENT_TRANSACTIONS until the previous one's markers are written, a few ms;
        # librdkafka's first retry waited its default 100 ms for it (back-to-back one-hop
        # transactions: p50 100 ms, 15-18 ms with 5; docs/benchmarks.md, round 4). Later
        # retries still back off exponentially, up to retry.backoff.max.ms (1 s)
        config["retry.backoff.ms"] = TRANSACTIONAL_RETRY_BACKOFF_MS
    config.update(client_properties("transactional" if transactional_id else "producer"))
    return config


def consumer_config(bootstrap: str, group: str | None, *, client_id: str = "laneway",
                    read_committed: bool = True, security: KafkaSecurity | None = None
                    ) -> dict[str, Any]:
    """A consumer that commits nothing by itself: offsets are committed with the work
    (in the producer's transaction, or after the database commit)."""
    config: dict[str, Any] = {
        **security_config(security),
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
        # range keeps partition p of co-partitioned topics on one member
        "partition.assignment.strategy": "range",
    }
    if group is not None:
        config["group.id"] = group
    config.update(client_properties("consumer"))
    return config


MAX_FETCH = 1_000_000
"""The most records `Consumer.consume` takes in one call."""


def fetch(consumer: Consumer, limit: int, timeout: float) -> list[Message]:
    """Up to `limit` records: block up to `timeout` for the first one only, then take what the
    client has already fetched, without waiting.

    `consume(limit, timeout)` waits out the whole timeout whenever fewer than `limit` records
    are there, which at low load added the poll interval to every hop (the engine's, the audit
    sink's, the worklist's): a record waited for a batch that would not fill. This way the
    batch in hand is processed and committed as soon as it is there, and while it is, the next
    records gather: batches are small at low load and full under a burst, by themselves."""
    first = consumer.poll(timeout)
    if first is None:
        return []
    rest = min(limit, MAX_FETCH) - 1
    return [first, *consumer.consume(rest, timeout=0)] if rest > 0 else [first]


def fatal_error(error: BaseException | KafkaError | None) -> KafkaError | None:
    """The fatal KafkaError in `error` (a KafkaError, or a KafkaException carrying one),
    None when there is none or it is not fatal."""
    if isinstance(error, KafkaException):
        error = error.args[0] if error.args else None
    # a producer that already failed for good refuses each further record with a plain
    # _FATAL error whose fatal() is False: it is the same fatal state
    if isinstance(error, KafkaError) and (error.fatal() or error.code() == KafkaError._FATAL):
        return error
    return None


class RenewingProducer:
    """An idempotent producer that is replaced when it turns fatal.

    An idempotent producer can fail for good (the broker lost the state behind its sequence
    numbers, e.g. after a restart) and refuses every record from then on; only a new one
    helps. Whoever sees a fatal error (a refused `produce`, a delivery report) calls
    `renew_if_fatal` with the producer that failed: the first such call replaces it, later
    ones about the same broken producer change nothing, so a burst of failed reports makes one
    new producer, not one each. The broken one is purged, and its purged records' reports run,
    so their senders learn of the failure and retry through the new one.
    """

    def __init__(self, make: Callable[[], Producer] | None, first: Producer | None = None
                 ) -> None:
        """`make` builds a fresh producer (None: never renew, errors are only passed on);
        `first` is the producer to start with (default: `make()`)."""
        if first is None:
            if make is None:
                raise ValueError("Expected a producer or a way to make one, but got neither")
            first = make()
        self._make = make
        self._producer = first
        self._lock = threading.Lock()
        self.renewals = 0
        """How many times the producer was replaced."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RenewingProducer:
        """A producer of `config`, renewed with the same `config`."""
        return cls(lambda: Producer(config))

    @property
    def current(self) -> Producer:
        """The producer to use now (take it once per send, and pass it to `renew_if_fatal`)."""
        return self._producer

    def renew_if_fatal(self, used: Producer, error: BaseException | KafkaError | None) -> bool:
        """Whether `error` is fatal; if so, `used` is replaced unless it already was."""
        fatal = fatal_error(error)
        if fatal is None or self._make is None:
            return False
        with self._lock:
            if self._producer is not used:
                return True  # another sender already replaced it
            _log.error("the Kafka producer failed for good (%s); starting a new one", fatal)
            self._producer = self._make()
            self.renewals += 1
        try:
            used.purge()
            used.poll(0)  # the purged records' reports: their senders retry through the new one
        except KafkaException as exc:  # the broken one may raise its fatal error again
            _log.warning("the replaced producer: %s", exc)
        return True

    def poll(self, timeout: float = 0) -> int:
        """Serve the current producer's delivery reports. A producer that turned fatal raises
        that from poll (Kafka fenced it, say): it is renewed here, so the thread that serves
        the reports goes on with the new one instead of ending."""
        producer = self._producer
        try:
            return int(producer.poll(timeout))
        except KafkaException as exc:
            if not self.renew_if_fatal(producer, exc):
                raise
            return 0

    def flush(self, timeout: float) -> int:
        """Deliver what the current producer holds (bounded); the records left."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float) -> int:
        """Deliver what is queued (bounded), drop the rest, and shut the producer down now:
        left to garbage collection, librdkafka's threads go on reconnecting (and logging) to a
        broker that may be gone. Returns the records that were dropped."""
        left = self.flush(timeout)
        if left:
            self._producer.purge()
            self._producer.poll(0)  # the purged records' reports, so close has nothing to wait on
        self._producer.close()
        return left
