"""visibility_bench's pending rows timed by their commit times (`Pending.committed`): each
row's lag is its commit time minus its event's Kafka timestamp; rows not asked about stay
pending; a row without a commit time is an error, not a silent zero."""

from __future__ import annotations

import pytest

from benchmarks.visibility_bench import Pending


def _pending() -> Pending:
    rows = Pending()
    rows.add(0, 10, "a", 1_000)
    rows.add(0, 11, "b", 1_010)
    rows.add(1, 5, "c", 1_005)
    return rows


def test_rows_asked_about_get_their_commit_lag_and_leave_the_rest_pending() -> None:
    rows = _pending()
    keys, newest = rows.snapshot()
    assert keys == ["a", "b", "c"]
    assert newest == ["b", "c"]  # the newest of each partition
    rows.committed(["a", "c"], {"a": 1_040.0, "c": 1_105.0})
    assert sorted(rows.lags_ms) == [40.0, 100.0]
    assert sorted(rows.timed) == [(1_000, 40.0), (1_005, 100.0)]
    assert rows.snapshot() == (["b"], ["b"])
    assert rows.count() == 1


def test_a_row_without_a_commit_time_is_refused_and_nothing_is_timed() -> None:
    rows = _pending()
    with pytest.raises(RuntimeError, match="1 have none"):
        rows.committed(["a", "b"], {"a": 1_040.0, "b": None})
    assert rows.lags_ms == []
    assert rows.count() == 3
