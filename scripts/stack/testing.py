"""Test helpers for code that talks to the real stack (re-exported by tests/integration/conftest).

They live here, in an importable package, so any test module can import them by name
(`from scripts.stack.testing import unique_name, wait_until`) without importing a conftest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def unique_name(prefix: str) -> str:
    """A name no other test or earlier run uses: for topics, groups, schemas, keys."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.1,
    message: str = "condition",
) -> T:
    """Poll predicate until it returns a truthy value, and return that value.

    Raises AssertionError at the deadline. Use this instead of fixed sleeps.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} not met within {timeout:.1f}s")
        time.sleep(interval)
