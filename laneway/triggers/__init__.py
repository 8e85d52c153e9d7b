"""The trigger plugin API: write a `Trigger`, register it under the entry point group
`laneway.triggers`, and the triggers service polls it for every process whose start event
declares its type, starting one instance per item, exactly once.

```python
from laneway.triggers import PollRequest, PollResult, Trigger, TriggerContext, TriggerItem

class StatusPageTrigger(Trigger):
    type = "status-page"

    def check(self, settings):
        if "url" not in settings:
            yield "Expected laneway:url, the status page's JSON, but there is none"

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        page = (await ctx.http.get(request.schedule.settings["url"], timeout=ctx.timeout)).json()
        seen = set(request.cursor or [])
        items = [TriggerItem(i["id"], {"incident": i}) for i in page["incidents"]
                 if i["id"] not in seen]
        return PollResult(items, cursor=[i["id"] for i in page["incidents"]])
```

See docs/triggers.md.
"""

from laneway.attributes import Attribute, polling
from laneway.triggers._api import (
    INITIAL_POLICIES,
    MAX_DEDUP_KEY,
    InitialPolicy,
    PollRequest,
    PollResult,
    Schedule,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)
from laneway.triggers._declared import (
    Declared,
    check_triggers,
    declared_triggers,
    instance_id,
    interval_ms,
    schedule_id,
)
from laneway.triggers._registry import (
    BUILTINS,
    GROUP,
    DiscoveredTriggers,
    discover_triggers,
    installed_triggers,
)
from laneway.triggers._settings import whole_number

__all__ = [
    "BUILTINS",
    "GROUP",
    "INITIAL_POLICIES",
    "MAX_DEDUP_KEY",
    "Attribute",
    "Declared",
    "DiscoveredTriggers",
    "InitialPolicy",
    "PollRequest",
    "PollResult",
    "Schedule",
    "Trigger",
    "TriggerContext",
    "TriggerFailed",
    "TriggerItem",
    "check_triggers",
    "declared_triggers",
    "discover_triggers",
    "installed_triggers",
    "instance_id",
    "interval_ms",
    "polling",
    "schedule_id",
    "whole_number",
]
