"""The `definitions` topic, read whole by every replica into its `DefinitionRepository`.

Any replica may be asked to start any process (a call activity's child, a message start), so
each reads every partition of `definitions` from the beginning, without a group, and keeps
reading as the loop runs. Versions are numbered by the definitions service; the engine only
loads them, with the lane personas set at review (`persona:<laneId>` metadata). A version
published again with `state=RETIRED` in its metadata is retired: its instances run on, nothing
new starts it.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from laneway.bpmn import STORED_LIMITS, parse
from laneway.codec import decode_definition
from laneway.engine import DefinitionRepository
from laneway.engine.user_tasks import personas_from_metadata
from laneway.kafka import consumer_config
from services.engine.admin import watermarks

_log = logging.getLogger(__name__)
# the definition record's `state` metadata of a version that starts nothing new
RETIRED = "RETIRED"


class DefinitionFeed:
    """Loads the `definitions` topic into a repository, a little on every loop iteration."""

    def __init__(self, bootstrap: str, topic: str, partitions: int,
                 repository: DefinitionRepository, client_id: str = "laneway-engine") -> None:
        self.repository = repository
        self._tps = [TopicPartition(topic, p) for p in range(partitions)]
        # a group id only because librdkafka wants one: the consumer assigns, never joins
        self._consumer = Consumer(consumer_config(bootstrap, f"{client_id}-definitions-reader",
                                                  client_id=client_id))
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                               for p in range(partitions)])

    def poll(self) -> int:
        """Load what has arrived, without waiting; how many records were read."""
        messages = self._consumer.consume(500, timeout=0)
        for msg in messages:
            self._load(msg)
        return len(messages)

    def catch_up(self, timeout_s: float) -> bool:
        """Read up to the topic's current end (so a definition deployed just before a start
        command is there); False when the end was not reached within the bound."""
        deadline = time.monotonic() + timeout_s
        marks = {tp.partition: watermarks(self._consumer, tp, timeout_s) for tp in self._tps}
        while True:
            for msg in self._consumer.consume(500, timeout=0.05):
                self._load(msg)
            positions = self._consumer.position(self._tps)
            if all(tp.offset >= marks[tp.partition][1]
                   or marks[tp.partition][1] <= marks[tp.partition][0] for tp in positions):
                return True
            if time.monotonic() >= deadline:
                return False

    def close(self) -> None:
        """Leave the cluster."""
        self._consumer.close()

    def _load(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            raise KafkaException(err)
        data = msg.value()
        if data is None:
            return  # a retired version's tombstone: instances running it keep it
        # A definition this engine cannot run must not stop the loop: it is logged and
        # skipped, and starting it is then rejected as an unknown process.
        try:
            record = decode_definition(data)
            retired = record.metadata.get("state") == RETIRED
            # checked at deploy, under limits that may be set wider than the default
            loaded = self.repository.load(parse(record.bpmn_xml, limits=STORED_LIMITS),
                                          record.process_id,
                                          record.version,
                                          personas=personas_from_metadata(record.metadata),
                                          retired=retired)
        except Exception as exc:
            _log.error("skipping definition at %s[%s]@%s: %s: %s", msg.topic(),
                       msg.partition(), msg.offset(), type(exc).__name__, exc)
            return
        if loaded:
            _log.info("loaded %s version %s%s", record.process_id, record.version,
                      " (retired: its instances run on, it starts no new ones)" if retired
                      else "")
