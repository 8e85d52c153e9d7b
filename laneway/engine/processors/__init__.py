"""One processor per BPMN element type, registered by kind in `behaviours.registry`.

Importing this package registers them all.
"""

from laneway.engine.processors import (
    boundary_event,
    call_activity,
    end_event,
    event_based_gateway,
    exclusive_gateway,
    inclusive_gateway,
    intermediate_catch_event,
    intermediate_throw_event,
    multi_instance,
    parallel_gateway,
    receive_task,
    script_task,
    service_task,
    start_event,
    subprocess,
    task,
    user_task,
)

__all__ = [
    "boundary_event",
    "call_activity",
    "end_event",
    "event_based_gateway",
    "exclusive_gateway",
    "inclusive_gateway",
    "intermediate_catch_event",
    "intermediate_throw_event",
    "multi_instance",
    "parallel_gateway",
    "receive_task",
    "script_task",
    "service_task",
    "start_event",
    "subprocess",
    "task",
    "user_task",
]
