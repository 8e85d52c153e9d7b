"""What the triggers' end-to-end tests share: a Laneway with the triggers service, finding a
process's schedule, and reading the instances a schedule started."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from scripts.stack.testing import wait_until
from tests.e2e.harness import ALL, Laneway

WITH_TRIGGERS = (*ALL, "triggers")
"""The services a trigger's end-to-end test starts: `laneway(WITH_TRIGGERS)`."""


def schedule_of(lw: Laneway, process_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The (one) running schedule of `process_id`, once the triggers service made it."""
    found: dict[str, Any] = {}

    def made() -> bool:
        with lw.api() as api:
            items = api.get("/api/schedules", params={"processId": process_id}).json()["items"]
        if items:
            found.update(items[0])
        return bool(items)

    wait_until(made, timeout, message=f"the schedule of {process_id}")
    return found


def instances_of(lw: Laneway, process_id: str) -> list[dict[str, Any]]:
    """The instances of `process_id` the audit's projection knows."""
    with lw.api() as api:
        page = api.get("/api/instances", params={"processId": process_id, "limit": 1000})
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
    return items


def wait_instances(lw: Laneway, process_id: str, count: int, timeout: float = 60.0,
                   settle: Callable[[list[dict[str, Any]]], bool] | None = None
                   ) -> list[dict[str, Any]]:
    """Wait until `process_id` has `count` instances (and `settle` holds); them."""
    found: list[dict[str, Any]] = []

    def there() -> bool:
        found[:] = instances_of(lw, process_id)
        return len(found) >= count and (settle is None or settle(found))

    wait_until(there, timeout, message=f"{count} instance(s) of {process_id}")
    return found


def first_event(lw: Laneway, instance_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The instance's first audit record (the process's ELEMENT_ACTIVATED): its principal
    and its `trigger`."""
    found: dict[str, Any] = {}

    def there() -> bool:
        with lw.api() as api:
            response = api.get(f"/api/instances/{instance_id}/history")
        if response.status_code != 200:
            return False
        found.update(response.json()["events"][0])
        return True

    wait_until(there, timeout, message=f"the audit history of {instance_id}")
    return found


def operator(lw: Laneway) -> httpx.Client:
    """The API as `admin` (who holds `operator`)."""
    return lw.api()
