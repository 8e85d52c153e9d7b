"""What the triggers' end-to-end tests share: a Laneway with the triggers service, finding a
process's schedule, and reading the instances a schedule started."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import quoteattr

import httpx

from laneway.bpmn import LANEWAY_NS
from scripts.stack.testing import wait_until
from tests.e2e.harness import ALL, Laneway

WITH_TRIGGERS = (*ALL, "triggers")
"""The services a trigger's end-to-end test starts: `laneway(WITH_TRIGGERS)`."""

_DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">{message}
  <process id="{pid}" isExecutable="true">
    <startEvent id="{start}">{definition}</startEvent>{task}
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="{start}" targetRef="{after}"/>{flow}
  </process>
</definitions>"""


def _diagram(pid: str, start: str, definition: str, message: str, user_task: bool) -> bytes:
    return _DIAGRAM.format(
        ns=LANEWAY_NS, pid=pid, start=start, definition=definition, message=message,
        task='\n    <userTask id="look"/>' if user_task else "",
        after="look" if user_task else "e",
        flow='\n    <sequenceFlow id="f2" sourceRef="look" targetRef="e"/>' if user_task
        else "").encode()


def triggered(pid: str, trigger: str, *, start: str = "item", user_task: bool = False,
              **settings: str) -> bytes:
    """A process started by a message start event whose message names `trigger` with these
    `laneway:` settings; the start goes to the end (through a user task `look` if asked)."""
    attrs = "".join(f" laneway:{k}={quoteattr(v)}" for k, v in settings.items())
    message = f'\n  <message id="m" name="{start}" laneway:trigger="{trigger}"{attrs}/>'
    return _diagram(pid, start, '<messageEventDefinition messageRef="m"/>', message, user_task)


def timed(pid: str, cycle: str) -> bytes:
    """A process started by a timer start event with this `timeCycle`, start to end."""
    return _diagram(pid, "tick", "<timerEventDefinition><timeCycle>"
                    f"{cycle}</timeCycle></timerEventDefinition>", "", False)


def untriggered(pid: str) -> bytes:
    """A process with only a none start event: a new version of it retires its schedules."""
    return _diagram(pid, "s", "", "", False)


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
