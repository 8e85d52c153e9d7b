"""The `definitions` topic → the schedules table.

Every replica reads the whole compacted topic from the beginning, without a group (as the
engine does), and keeps reading. For each process the running version is the newest one whose
record is not RETIRED; its declared triggers become schedules, and the schedules of a process
with no running version, or of start events the running version no longer declares, are
retired. Timer start events so begin when a version is AUTHORIZED and stop when it is retired
or superseded. The writes are idempotent upserts, so two replicas reconciling at once agree.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from laneway.bpmn import STORED_LIMITS, parse
from laneway.codec import decode_definition
from laneway.kafka import consumer_config
from laneway.triggers import DiscoveredTriggers, declared_triggers
from services.triggers.metrics import TriggersMetrics
from services.triggers.store import ScheduleStore

_log = logging.getLogger(__name__)
RETIRED = "RETIRED"


@dataclass(slots=True)
class _Versions:
    # version -> (retired, the file's bytes)
    by_version: dict[int, tuple[bool, bytes]] = field(default_factory=dict)

    def running(self) -> tuple[int, bytes] | None:
        live = [(v, xml) for v, (retired, xml) in self.by_version.items() if not retired]
        return max(live, key=lambda item: item[0]) if live else None


class DefinitionWatcher:
    """Reads `definitions` and keeps the schedules in step with the running versions."""

    def __init__(self, bootstrap: str, topic: str, store: ScheduleStore,
                 installed: DiscoveredTriggers, client_id: str = "laneway-triggers") -> None:
        self._store = store
        self._installed = installed
        self._topic = topic
        config = consumer_config(bootstrap, None, client_id=client_id)
        # librdkafka wants a group id even for assign(); nothing joins or commits under it
        config["group.id"] = f"{client_id}-definitions-{uuid.uuid4().hex}"
        config["enable.partition.eof"] = True
        # the lag's group label is the reader's stable name, not the per-process group id
        config.update(TriggersMetrics.default().service.lag_config(f"{client_id}-definitions"))
        self._consumer = Consumer(config)
        self._processes: dict[str, _Versions] = {}
        self._dirty: set[str] = set()
        self._eof: set[int] = set()
        self._partitions: int | None = None
        self.caught_up = threading.Event()
        self.error: str | None = None
        self.last_step = time.monotonic()
        self.on_change: list[threading.Event] = []

    def _assign(self) -> None:
        meta = self._consumer.list_topics(self._topic, timeout=10)
        topic = meta.topics.get(self._topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise RuntimeError(f"Expected the topic {self._topic} to exist, but it does not")
        self._partitions = len(topic.partitions)
        self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING)
                               for p in topic.partitions])

    def step(self, timeout_s: float = 1.0) -> int:
        """Read what has arrived (waiting at most `timeout_s`) and reconcile the processes it
        changed; how many records were read."""
        if self._partitions is None:
            self._assign()
        messages = self._consumer.consume(500, timeout=timeout_s)
        read = 0
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._eof.add(msg.partition() or 0)
                    continue
                _log.warning("reading %s: %s", self._topic, err)
                continue
            read += 1
            self._load(msg)
        self.last_step = time.monotonic()
        if not self.caught_up.is_set():
            if self._partitions is not None and len(self._eof) >= self._partitions:
                self._reconcile(initial=True)
                self.caught_up.set()
        elif self._dirty:
            self._reconcile(initial=False)
        return read

    def _load(self, msg: Message) -> None:
        key = (msg.key() or b"").decode(errors="replace")
        process_id, _, raw_version = key.rpartition("@")
        data = msg.value()
        if data is None:  # a tombstone: the version is gone from the topic
            if raw_version.isdigit() and process_id in self._processes:
                self._processes[process_id].by_version.pop(int(raw_version), None)
                self._dirty.add(process_id)
            return
        try:
            record = decode_definition(data)
        except Exception as exc:  # what the engine cannot load, nothing here starts either
            _log.error("skipping definition %s: %s: %s", key, type(exc).__name__, exc)
            return
        versions = self._processes.setdefault(record.process_id, _Versions())
        versions.by_version[record.version] = (record.metadata.get("state") == RETIRED,
                                               bytes(record.bpmn_xml))
        self._dirty.add(record.process_id)

    def _reconcile(self, initial: bool) -> None:
        dirty, self._dirty = self._dirty, set()
        if initial:
            # a process whose every version left the topic keeps no schedule
            known = set(self._processes)
            for row in self._store.schedules(include_retired=False, limit=100_000):
                if row.process_id not in known:
                    dirty.add(row.process_id)
        polled = {t: trig.polled for t, trig in self._installed.triggers.items()}
        changed = False
        for process_id in sorted(dirty):
            versions = self._processes.get(process_id)
            running = versions.running() if versions is not None else None
            try:
                if running is None:
                    self._store.sync_process(process_id, None, [], polled)
                else:
                    version, xml = running
                    declared = [d for d in declared_triggers(parse(xml, limits=STORED_LIMITS))
                                if d.process_id == process_id]
                    created = self._store.sync_process(process_id, version, declared, polled)
                    for schedule in created:
                        _log.info("schedule %s created for %s version %s", schedule,
                                  process_id, version)
                changed = True
            except Exception as exc:
                # tried again on the next change; the other processes go on
                self.error = f"{process_id}: {type(exc).__name__}: {exc}"
                _log.error("reconciling %s failed: %s", process_id, exc)
                self._dirty.add(process_id)
        if changed:
            for event in self.on_change:
                event.set()

    def run(self, stop: threading.Event) -> None:
        """Step until `stop` is set; a failed step is logged and retried after a second."""
        while not stop.is_set():
            try:
                self.step(0.5)
                self.error = None
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                _log.error("reading definitions failed: %s", exc)
                stop.wait(1.0)

    def health(self) -> str | None:
        if self.error is not None:
            return self.error
        if time.monotonic() - self.last_step > 60:
            return "the definitions reader has not read for a minute"
        return None

    def close(self) -> None:
        self._consumer.close()
