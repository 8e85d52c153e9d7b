"""The e2e benchmark's floor (benchmarks/e2e/floor.py) runs only the two shapes it models:
three hops (start -> service task -> end) or one (a task's completion); anything else is
refused before a topic or a process is made."""

from __future__ import annotations

import pytest

from benchmarks.e2e.floor import chain_floor


@pytest.mark.parametrize("hops", [0, 2, 4])
def test_a_chain_of_another_length_is_refused(hops: int) -> None:
    # no broker listens there: a refusal that came after creating topics would fail otherwise
    with pytest.raises(ValueError, match=f"Expected 1 or 3 hops, but got {hops}"):
        chain_floor("127.0.0.1:9", rate=50, seconds=1.0, partitions=2, hops=hops)
