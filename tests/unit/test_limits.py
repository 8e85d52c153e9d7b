"""The size limits' settings and measures (`laneway.limits`, docs/limits.md)."""

from __future__ import annotations

import pytest

from laneway.codec import dead_letter_headers, fit_dead_letter, read_dead_letter_headers
from laneway.engine.context import command_summary
from laneway.limits import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_MAX_VARIABLES_BYTES,
    TooLarge,
    json_size,
    record_size,
    variables_too_large,
)
from laneway.settings import Settings, SettingsError


def test_the_limits_default_to_what_the_producers_and_topics_take() -> None:
    settings = Settings.from_env("engine", {})
    assert settings.max_record_bytes == DEFAULT_MAX_RECORD_BYTES == 1_000_000
    assert settings.max_variables_bytes == DEFAULT_MAX_VARIABLES_BYTES == 262_144


def test_the_record_limit_may_be_lowered_but_not_raised_past_the_producers() -> None:
    lowered = Settings.from_env("engine", {"LANEWAY_MAX_RECORD_BYTES": "500000"})
    assert lowered.max_record_bytes == 500_000
    with pytest.raises(SettingsError, match="LANEWAY_MAX_RECORD_BYTES"):
        Settings.from_env("engine", {"LANEWAY_MAX_RECORD_BYTES": "2000000"})
    with pytest.raises(SettingsError, match="LANEWAY_MAX_VARIABLES_BYTES"):
        Settings.from_env("engine", {"LANEWAY_MAX_VARIABLES_BYTES": "-1"})


def test_sizes_are_measured_as_compact_json_and_raw_bytes() -> None:
    assert json_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert record_size(b"k", b"vv", [("h", b"123"), ("n", None)]) == 1 + 2 + 1 + 3 + 1
    assert variables_too_large({"variables": {"a": "x" * 10}}, 100) is None
    assert variables_too_large({}, 1) is None
    reason = variables_too_large({"variables": {"a": "x" * 100}}, 50)
    assert reason is not None
    assert "at most 50 bytes" in reason


def test_a_rejection_repeats_the_commands_scalars_never_its_variables() -> None:
    summary = command_summary({"taskKey": 7, "variables": {"a": 1}, "name": "n" * 500,
                               "flows": ["a"], "ok": True, "none": None})
    assert summary == {"taskKey": 7, "name": "n" * 200, "ok": True, "none": None}


def test_a_record_over_the_limit_is_dead_lettered_as_too_large() -> None:
    headers = read_dead_letter_headers(dead_letter_headers(TooLarge("big"), "t", 1, 2))
    assert headers["reason"] == "too-large"


def test_a_dead_letter_over_the_limit_goes_without_the_records_value() -> None:
    reasons = dead_letter_headers(TooLarge("big"), "t", 1, 2)
    small = fit_dead_letter(b"k", b"v" * 10, [("trace", b"x"), *reasons], 1000)
    assert small == (b"k", b"v" * 10, [("trace", b"x"), *reasons])

    key, value, headers = fit_dead_letter(b"k", b"v" * 2000, [("trace", b"x"), *reasons], 1000)

    assert (key, value) == (b"k", None)
    read = read_dead_letter_headers(headers)
    assert read["reason"] == "too-large"
    assert read["offset"] == "2"
    assert read["dropped"].startswith("value and headers")
    assert "trace" not in dict(headers)
