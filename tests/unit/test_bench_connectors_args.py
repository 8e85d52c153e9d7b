"""`benchmarks/connectors.py` (make bench-connectors) reads its command line and refuses what
it cannot measure; the benchmark itself is not run by the tests."""

from __future__ import annotations

import pytest

from benchmarks.connectors import TYPES, Options, Row, parse_args


def test_defaults_measure_every_built_in_at_0_and_200_ms_with_the_service_s_concurrency() -> None:
    assert parse_args([]) == Options(types=TYPES, latencies_ms=(0, 200), jobs=1000,
                                     concurrency=32)
    assert set(TYPES) == {"http", "slack", "discord", "llm", "email"}


def test_options_narrow_the_run() -> None:
    assert parse_args(["--types", "slack, http", "--latency-ms", "50", "--jobs", "10",
                       "--concurrency", "1"]) == Options(("slack", "http"), (50,), 10, 1)


@pytest.mark.parametrize("argv", [
    ["--types", "fax"], ["--types", ","], ["--latency-ms", "-1"], ["--latency-ms", "soon"],
    ["--jobs", "0"], ["--concurrency", "0"],
])
def test_what_cannot_be_measured_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2


def test_a_row_shows_the_rate_and_the_ceiling_the_concurrency_allows() -> None:
    row = Row("http", 200, 1000, 1000, 0, 10.0, 0.25, 32)
    assert row.line().split() == ["http", "200", "100", "250.0", "1000/1000", "0", "32", "160"]
