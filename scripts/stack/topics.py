"""The Laneway topics of the local stack: the same specs and creation as the Helm chart's topic
Job (`python -m services.topics`), with the stack's settings (one partition count, one
replica)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from laneway.kafka_security import KafkaSecurity
from scripts.stack.config import Settings, StackError
from scripts.stack.proc import log

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient
from services.topics import EVENTS_RETENTION_MS as _RETENTION_MS
from services.topics import TopicError, TopicSettings, TopicSpec, admin_config
from services.topics import ensure_topics as _ensure
from services.topics import laneway_topics as _specs

__all__ = ["EVENTS_RETENTION_MS", "OLDER_THAN", "Cleaned", "TopicSpec", "clean_topics",
           "ensure_topics", "is_stack_topic", "laneway_topics", "local_log_dir"]

EVENTS_RETENTION_MS = str(_RETENTION_MS)  # "long retention", bounded on a laptop


def _topic_settings(settings: Settings) -> TopicSettings:
    return TopicSettings(bootstrap=settings.kafka_bootstrap, prefix=settings.topic_prefix,
                         partitions=settings.partitions, replication=1,
                         job_types=settings.job_types,
                         # an external Kafka with the environment's LANEWAY_KAFKA_* security;
                         # the stack's own through its plaintext listener
                         security=None if settings.external_kafka else KafkaSecurity())


def laneway_topics(settings: Settings) -> list[TopicSpec]:
    return _specs(_topic_settings(settings))


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[TopicSpec]:
    """Create the missing topics; check the partition count of the existing ones."""
    try:
        return _ensure(_topic_settings(settings), timeout=timeout, say=log)
    except TopicError as exc:
        raise StackError(str(exc)) from exc


def is_stack_topic(name: str, settings: Settings) -> bool:
    """A topic `clean_topics` never deletes: Kafka's own (`__consumer_offsets`,
    `__transaction_state`; every `_` name, as tools such as a schema registry use), and every
    topic under the stack's prefix (`LANEWAY_TOPIC_PREFIX`, default `laneway.`): the set
    `make up` creates (`laneway_topics`) and what the running services add there (the engine
    creates `jobs.<type>` for a new job type). An empty prefix protects every topic."""
    own = {spec.name for spec in laneway_topics(settings)}
    return name.startswith("_") or name in own or name.startswith(settings.topic_prefix)


@dataclass(frozen=True)
class Cleaned:
    """What `clean_topics` found: the topics it deleted (or would, with `dry_run`), those
    whose deletion failed (name, reason), how many it kept as the stack's or Kafka's own, and
    how many it kept because they were written (or created) within `older_than` or could not
    be dated (`recent`)."""

    deleted: list[str]
    failed: list[tuple[str, str]]
    kept: int
    recent: int = 0


DELETE_BATCH = 200
"""Topics per DeleteTopics request (thousands at once would make one long broker request)."""

MAX_TOPICS = 100_000
"""The most topics one clean looks at (a bound; a broker with more is cleaned in turns)."""

OLDER_THAN = 30 * 60.0
"""A topic written or created within this many seconds is taken for a live one and kept: the
tests and benchmarks that share the broker write their topics within seconds of making them,
and a leftover has not been written since its run died."""

MAX_PARTITIONS = 100_000
"""The most partitions dated through the broker in one clean (a bound on the look-up)."""


def clean_topics(settings: Settings, *, dry_run: bool = False, prefix: str = "",
                 older_than: float = OLDER_THAN, timeout: float = 60.0,
                 log_dir: bool = True) -> Cleaned:
    """Delete every topic of the broker that is not the stack's (`is_stack_topic`) and was
    neither written nor created within `older_than` seconds: what tests and benchmarks leave
    behind when they are killed before their cleanup. Thousands of leftover topics slowed the
    shared broker's transactional produce to a fifth (metadata and the transaction
    coordinator's work grow with them).

    A topic's age (`topic_ages`): Kafka's metadata has no creation time, so it comes from the
    broker's log directory when the broker is the stack's own (the newest modification time of
    the topic's partition directories and their files: creation and every write), else from
    the broker (the newest record's timestamp, `OffsetSpec.max_timestamp`); an empty topic on
    another broker cannot be dated and is kept. `older_than=0` deletes regardless of age (only
    while nothing else uses the broker). `log_dir=False` dates through the broker even when
    the log directory is at hand (the tests use it to exercise that path).

    `prefix`: only topics whose name starts with it (a test deletes its own topics only)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    topic_settings = _topic_settings(settings)
    admin = AdminClient({**admin_config(topic_settings.bootstrap, topic_settings.security),
                         "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise StackError(f"cannot list the topics of {topic_settings.bootstrap}: {exc}") from exc
    names = sorted(metadata.topics)[:MAX_TOPICS]
    candidates = [n for n in names if n.startswith(prefix) and not is_stack_topic(n, settings)]
    kept = len(names) - len(candidates)
    doomed = candidates
    if older_than > 0 and candidates:
        cutoff = time.time() - older_than
        local = local_log_dir(settings, metadata.cluster_id) if log_dir else None
        if local is not None:
            ages = _log_dir_ages(local, set(candidates))
        else:
            ages = _broker_ages(admin, {n: len(metadata.topics[n].partitions)
                                        for n in candidates}, timeout)
        doomed = [n for n in candidates if (written := ages.get(n)) is not None
                  and written < cutoff]
    recent = len(candidates) - len(doomed)
    if dry_run or not doomed:
        return Cleaned(doomed, [], kept, recent)
    deleted: list[str] = []
    failed: list[tuple[str, str]] = []
    for start in range(0, len(doomed), DELETE_BATCH):
        batch = doomed[start:start + DELETE_BATCH]
        futures = admin.delete_topics(batch, operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout)
                deleted.append(name)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                # deleted meanwhile by its own test's cleanup: gone, as wanted
                if isinstance(err, KafkaError) \
                        and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    deleted.append(name)
                else:
                    failed.append((name, str(err or exc)))
    return Cleaned(sorted(deleted), failed, kept, recent)


def local_log_dir(settings: Settings, cluster_id: str | None) -> Path | None:
    """The stack's Kafka log directory when it is the answering broker's: its
    `meta.properties` names the same cluster id (an external broker, or another stack's on
    this machine, does not)."""
    data = settings.state_dir / "kafka" / "data"
    try:
        meta = (data / "meta.properties").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in meta.splitlines()[:100]:
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return data if cluster_id and value.strip() == cluster_id else None
    return None


def _log_dir_ages(data: Path, topics: set[str]) -> dict[str, float]:
    """Per topic, the newest modification time (epoch seconds) of its partition directories
    (`<topic>-<n>`) and the files in them; a topic whose directories are gone (being
    deleted) is absent, and kept."""
    ages: dict[str, float] = {}
    with os.scandir(data) as entries:
        for entry in entries:
            topic, dash, partition = entry.name.rpartition("-")
            # `<topic>-<n>.<id>-delete` and `-stray` directories are not the live partition
            if not dash or not partition.isdigit() or topic not in topics \
                    or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                newest = entry.stat(follow_symlinks=False).st_mtime
                with os.scandir(entry.path) as files:
                    for f in files:
                        newest = max(newest, f.stat(follow_symlinks=False).st_mtime)
            except FileNotFoundError:  # deleted meanwhile
                continue
            ages[topic] = max(ages.get(topic, 0.0), newest)
    return ages


def _broker_ages(admin: AdminClient, partitions: dict[str, int], timeout: float
                 ) -> dict[str, float]:
    """Per topic, its newest record's timestamp (epoch seconds), asked of the broker. Absent,
    so kept: an empty topic (undated), one with a partition the broker did not answer for,
    and one past `MAX_PARTITIONS`."""
    from confluent_kafka import KafkaException, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    newest: OffsetSpec = OffsetSpec.max_timestamp()  # type: ignore[no-untyped-call]
    wanted: dict[TopicPartition, OffsetSpec] = {}
    for topic, count in partitions.items():
        if len(wanted) + count > MAX_PARTITIONS:
            break
        for n in range(count):
            wanted[TopicPartition(topic, n)] = newest  # one spec serves every partition
    ages: dict[str, float] = {}
    unanswered: set[str] = set()
    if not wanted:
        return ages
    for tp, future in admin.list_offsets(wanted, request_timeout=timeout).items():
        try:
            info = future.result(timeout=timeout)
        except KafkaException:
            unanswered.add(tp.topic)
            continue
        if info.offset >= 0 and info.timestamp >= 0:
            ages[tp.topic] = max(ages.get(tp.topic, 0.0), info.timestamp / 1000)
    return {t: age for t, age in ages.items() if t not in unanswered}
