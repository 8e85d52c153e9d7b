"""The definitions service's diagram limits come from `LANEWAY_MAX_DIAGRAM_*`, checked at start."""

from __future__ import annotations

import pytest

from laneway.bpmn import Limits
from laneway.settings import SettingsError
from services.definitions.settings import load_settings
from tests.auth import auth_env


def test_the_diagram_limits_default_to_the_readers() -> None:
    assert load_settings(auth_env()).diagram_limits == Limits()
    assert Limits() == Limits(max_bytes=20 * 1024 * 1024, max_elements=50_000, max_depth=100,
                              max_processes=100, max_attributes=100)


def test_each_diagram_limit_is_a_setting() -> None:
    env = {"LANEWAY_MAX_DIAGRAM_BYTES": "1000", "LANEWAY_MAX_DIAGRAM_ELEMENTS": "200000",
           "LANEWAY_MAX_DIAGRAM_DEPTH": "12", "LANEWAY_MAX_DIAGRAM_PROCESSES": "3",
           "LANEWAY_MAX_DIAGRAM_ATTRIBUTES": "20", **auth_env()}

    assert load_settings(env).diagram_limits == Limits(
        max_bytes=1000, max_elements=200_000, max_depth=12, max_processes=3, max_attributes=20)


@pytest.mark.parametrize(("name", "value", "words"), [
    ("LANEWAY_MAX_DIAGRAM_DEPTH", "300", "LANEWAY_MAX_DIAGRAM_DEPTH: Expected max_depth from 1 "
                                         "to 256"),
    ("LANEWAY_MAX_DIAGRAM_ELEMENTS", "0", "Expected LANEWAY_MAX_DIAGRAM_ELEMENTS to be a "
                                          "positive integer"),
    ("LANEWAY_MAX_DIAGRAM_BYTES", "1e9", "Expected LANEWAY_MAX_DIAGRAM_BYTES to be a positive"),
    ("LANEWAY_MAX_DIAGRAM_PROCESSES", "5000", "LANEWAY_MAX_DIAGRAM_PROCESSES: Expected "
                                              "max_processes from 1 to 1000"),
])
def test_a_diagram_limit_out_of_range_stops_the_start_naming_it(
    name: str, value: str, words: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({name: value, **auth_env()})

    assert words in str(info.value)


def test_two_deploys_are_checked_at_once_unless_set() -> None:
    assert load_settings(auth_env()).deploy_checks == 2
    assert load_settings({"LANEWAY_DEPLOY_CHECKS": "5", **auth_env()}).deploy_checks == 5
