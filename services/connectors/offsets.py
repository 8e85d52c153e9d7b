"""Which offset of a partition may be committed: the highest one below which every job is done.

Jobs of one partition run concurrently and finish in any order; committing a later job's
offset while an earlier one still runs would lose the earlier one if the worker died. So the
commit point only moves over a contiguous run of finished offsets (at-least-once).
"""

from __future__ import annotations

import threading
from collections import deque


class PartitionOffsets:
    """Offsets of one assigned partition, received in order (Kafka's) and done in any order.

    Thread-safe: the poll thread adds, the event loop marks done. `revoked` is set when the
    partition is taken away; a job finishing after that must not commit (the new owner
    redelivers it, and the idempotency key answers).
    """

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.revoked = False
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._commit: int | None = None
        self._lock = threading.Lock()

    def received(self, offset: int) -> None:
        """A record was handed out."""
        with self._lock:
            self._pending.append(offset)

    def done(self, offset: int) -> bool:
        """Its job is finished; True when the commit point moved."""
        with self._lock:
            if self.revoked:
                return False
            self._done.add(offset)
            moved = False
            while self._pending and self._pending[0] in self._done:
                first = self._pending.popleft()
                self._done.discard(first)
                self._commit = first + 1
                moved = True
            return moved

    def commit_point(self) -> int | None:
        """The offset to commit (the next one to read), or None when nothing is done yet."""
        with self._lock:
            return self._commit

    @property
    def in_flight(self) -> int:
        """Records handed out and not yet done."""
        with self._lock:
            return len(self._pending) - len(self._done)
