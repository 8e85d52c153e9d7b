"""Command handlers: one function per command intent, in the one table `HANDLERS`.

The table is written out here, so what runs for a command is read in one place (nothing
registers itself by being imported).
"""

from collections.abc import Callable, Mapping

from laneway.engine.context import Processing
from laneway.engine.handlers import (
    conditions,
    events,
    instances,
    jobs,
    migration,
    operations,
    user_tasks,
)
from laneway.records import Command

Handler = Callable[[Processing], None]

HANDLERS: Mapping[str, Handler] = {
    Command.START_INSTANCE: instances.start_instance,
    Command.CANCEL_INSTANCE: instances.cancel_instance,
    Command.COMPLETE_CALL_ACTIVITY: instances.complete_call_activity,
    Command.ERROR_NOT_CAUGHT: instances.error_not_caught,
    Command.THROW_ERROR_TO_PARENT: instances.error_from_child,
    Command.ESCALATE_TO_PARENT: instances.escalation_from_child,
    Command.COMPLETE_JOB: jobs.complete_job,
    Command.FAIL_JOB: jobs.fail_job,
    Command.THROW_ERROR: jobs.throw_error,
    Command.SUBMIT_DECISION: jobs.submit_decision,
    Command.RESOLVE_INCIDENT: jobs.resolve_incident,
    Command.CLAIM_USER_TASK: user_tasks.claim_user_task,
    Command.UNCLAIM_USER_TASK: user_tasks.unclaim_user_task,
    Command.COMPLETE_USER_TASK: user_tasks.complete_user_task,
    Command.ESCALATE_USER_TASK: user_tasks.escalate_user_task,
    Command.TRIGGER_TIMER: events.trigger_timer,
    Command.PUBLISH_MESSAGE: events.publish_message,
    Command.OPEN_MESSAGE_SUBSCRIPTION: events.open_subscription,
    Command.RETRACT_CORRELATION: events.retract_correlation,
    Command.CLOSE_MESSAGE_SUBSCRIPTION: events.close_subscription,
    Command.CORRELATE_MESSAGE: events.correlate_message,
    Command.BROADCAST_SIGNAL: events.broadcast_signal,
    Command.TRIGGER_SIGNAL: events.trigger_signal,
    Command.EVALUATE_CONDITIONS: conditions.evaluate_conditions,
    Command.SET_VARIABLES: operations.set_variables,
    Command.MODIFY_INSTANCE: operations.modify_instance,
    Command.MIGRATE_INSTANCE: migration.migrate_instance,
}

__all__ = ["HANDLERS", "Handler"]
