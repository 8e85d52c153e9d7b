"""The engine service after a restart keeps restored instances as their snapshot bytes
(services/engine/partitions.py `ParkedInstances`): a broadcast signal, a published message and
a due timer still reach instances that no command had read since the restore."""

from __future__ import annotations

import uuid

from laneway.records import Command
from scripts.stack.testing import wait_until
from services.engine.partitions import ParkedInstances
from tests.integration.test_engine_service import (  # noqa: F401 (events, world: fixtures)
    MESSAGE,
    SIGNAL,
    TIMER,
    USER_TASK,
    Reader,
    ThreadService,
    World,
    bpmn,
    completed,
    events,
    find,
    world,
)

# long enough that the first replica is stopped well before it is due, short enough to wait
TIMER_DURATION = "PT10S"


def _parked(service: ThreadService, instance_id: str) -> bool | None:
    """Whether the replica holds the instance still as bytes; None while it holds it not."""
    for part in list(service.loop.partitions.values()):
        instances = part.state.instances
        if instance_id in instances:
            assert isinstance(instances, ParkedInstances)
            return instances.is_parked(instance_id)
    return None


def test_a_signal_a_message_and_a_timer_reach_instances_parked_by_a_restart(
        world: World, events: Reader) -> None:  # noqa: F811 (the imported fixtures)
    world.deploy("sig", bpmn(SIGNAL, "sig"))
    world.deploy("msg", bpmn(MESSAGE, "msg"))
    world.deploy("tm", bpmn(TIMER.replace("DURATION", TIMER_DURATION), "tm"))
    world.deploy("ut", bpmn(USER_TASK, "ut"))
    ref = f"order-{uuid.uuid4()}"
    first = ThreadService(world.settings("a"))
    try:
        ids = {"sig": world.start("sig"), "msg": world.start("msg", variables={"ref": ref}),
               "tm": world.start("tm"), "ut": world.start("ut")}
        events.wait_for(find("SIGNAL_SUBSCRIPTION_CREATED", ids["sig"]), message="signal sub")
        events.wait_for(find("PROCESS_MESSAGE_SUBSCRIPTION_OPENED", ids["msg"]),
                        message="message subscription opened")
        events.wait_for(find("TIMER_CREATED", ids["tm"]), message="timer created")
        events.wait_for(find("USER_TASK_CREATED", ids["ut"]), message="user task")
    finally:
        first.stop()

    second = ThreadService(world.settings("b"))
    try:
        wait_until(lambda: all(_parked(second, iid) is not None for iid in ids.values()),
                   30, 0.05, "every instance restored")
        assert {p: _parked(second, iid) for p, iid in ids.items()} == {
            "sig": True, "msg": True, "tm": True, "ut": True}

        world.broadcast("go")
        world.send(Command.PUBLISH_MESSAGE, "", {
            "name": "docs", "correlationKey": ref, "variables": {},
            "messageId": str(uuid.uuid4()), "ttl": 0})

        events.wait_for(completed(ids["sig"]), message="signal instance completed")
        events.wait_for(completed(ids["msg"]), message="message instance completed")
        events.wait_for(completed(ids["tm"]), 30, message="timer instance completed")
        # nothing was for the user task's instance: it is still bytes
        assert _parked(second, ids["ut"]) is True
    finally:
        second.stop()
