"""Typed event values: `from_value` checks a value against its class, `to_value` gives it back
unchanged, and every value the engine writes for a typed event fits its class."""

from __future__ import annotations

import json
from typing import Any

import pytest

from laneway.records.values import (
    EVENT_VALUES,
    ElementActivated,
    JobCreated,
    TimerCreated,
    UserTaskCreated,
    from_value,
    to_value,
)


def test_a_value_that_fits_comes_back_typed_and_unchanged() -> None:
    value: dict[str, Any] = {"key": 4, "due": 1000, "elementId": "t", "repetitions": None}
    timer = from_value(TimerCreated, value)
    assert timer["due"] == 1000
    assert json.dumps(to_value(timer), sort_keys=True) == json.dumps(value, sort_keys=True)


def test_a_missing_required_key_is_named() -> None:
    with pytest.raises(ValueError, match="Expected the key 'due' in a TimerCreated value"):
        from_value(TimerCreated, {"key": 4, "elementId": "t"})


def test_a_bool_is_no_int() -> None:
    with pytest.raises(ValueError, match="'key' of a ElementActivated value to be int, but "
                                         "it is bool"):
        from_value(ElementActivated, {"key": True})


def test_a_value_of_the_wrong_type_is_refused_and_none_only_where_allowed() -> None:
    base: dict[str, Any] = {"key": 1, "processId": "p", "version": 1, "elementName": None,
                            "attributes": {}, "persona": None}
    assert from_value(UserTaskCreated, base)["persona"] is None
    with pytest.raises(ValueError, match=r"'processId' .* to be str, but it is NoneType"):
        from_value(UserTaskCreated, {**base, "processId": None})
    with pytest.raises(ValueError, match=r"'attributes' .* to be dict or Mapping, but it is list"):
        from_value(UserTaskCreated, {**base, "attributes": []})


def test_keys_a_class_does_not_name_pass_through() -> None:
    job = {"key": 3, "type": "decision", "retries": 3, "variables": {}, "headers": {},
           "elementName": None, "attributes": {}, "flows": [{"id": "f1"}]}
    assert to_value(from_value(JobCreated, job)) == job


def test_every_value_class_is_a_typed_dict_with_a_docstring() -> None:
    for intent, cls in EVENT_VALUES.items():
        assert hasattr(cls, "__required_keys__"), intent
        assert cls.__doc__, intent
