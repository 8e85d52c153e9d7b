"""The e2e benchmark's reader decodes only completions (benchmarks/e2e/clients.py): it must
find the same completions, at the same read times, as the harness's Completions over the
decoded records."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.e2e.clients import LazyCompletions
from laneway.codec import decode_record, encode_record
from laneway.records import Event, Record, RecordKind
from tests.e2e.harness import Completions


class FakeReader:
    """A TopicReader's surface: `poll` hands out the next batch of records each call."""

    def __init__(self, batches: list[list[bytes]], decode: Any) -> None:
        self._batches = batches
        self.decode = decode
        self.items: list[Any] = []
        self.meta: list[tuple[int, int, int]] = []
        self.seen_at: list[float] = []

    def poll(self, timeout: float = 0.05) -> list[Any]:
        if self._batches:
            for n, value in enumerate(self._batches.pop(0)):
                self.items.append(self.decode(value))
                self.meta.append((0, len(self.meta), 1_000 + n))
                self.seen_at.append(float(len(self.items)))
        return self.items


def _event(iid: str, intent: Event, element_type: str, n: int) -> bytes:
    return encode_record(Record(f"r-{iid}-{n}", RecordKind.EVENT, intent.value, iid, 1_000 + n,
                                {"processId": "process"}, element_id=element_type,
                                element_type=element_type))


def _batches() -> list[list[bytes]]:
    out: list[list[bytes]] = []
    for k in range(5):
        batch = []
        for j in range(3):
            iid = f"i{k}-{j}"
            batch += [_event(iid, Event.ELEMENT_ACTIVATED, "process", 0),
                      _event(iid, Event.ELEMENT_COMPLETED, "serviceTask", 1),
                      _event(iid, Event.ELEMENT_COMPLETED, "endEvent", 2)]
            if (k + j) % 2 == 0:  # some instances end, some do not
                batch.append(_event(iid, Event.ELEMENT_COMPLETED, "process", 3))
        out.append(batch)
    return out


def test_lazy_completions_find_what_completions_over_decoded_records_find() -> None:
    eager = Completions(FakeReader(_batches(), decode_record))  # type: ignore[arg-type]
    lazy = LazyCompletions(FakeReader(_batches(), lambda b: b))  # type: ignore[arg-type]
    for _ in range(6):
        eager.update()
        lazy.update()
    assert lazy.done_at == eager.done_at
    assert lazy.produced_at == eager.produced_at
    assert lazy.done == eager.done
    assert len(lazy.done) == 8


def test_lazy_wait_returns_once_every_id_completed_and_fails_at_its_deadline() -> None:
    lazy = LazyCompletions(FakeReader(_batches(), lambda b: b))  # type: ignore[arg-type]
    lazy.wait(["i0-0", "i4-2"], 5)
    assert {"i0-0", "i4-2"} <= set(lazy.done_at)
    with pytest.raises(AssertionError, match="1 not completed"):
        lazy.wait(["i0-0", "i0-1"], 0.01)  # i0-1 never ends
