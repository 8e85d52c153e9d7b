"""The connector plugin API: write a `Connector`, register it under the entry point group
`laneway.connectors`, and the connectors service runs it for the jobs of its type.

```python
from laneway.connectors import Connector, ConnectorContext, Job, JobFailed, render

class SlackConnector(Connector):
    type = "slack"

    async def run(self, job: Job, ctx: ConnectorContext) -> dict[str, object]:
        url = ctx.secrets.get("slack_webhook")
        response = await ctx.http.post(url, json={"text": render(job.attributes["acme:text"],
                                                                 job.variables)})
        if response.status_code >= 500:
            raise JobFailed(f"Slack answered {response.status_code}", retryable=True)
        return {"posted": True}
```

See docs/connectors.md.
"""

from laneway.attributes import POLICY, Attribute
from laneway.connectors._api import (
    AdHocActivity,
    BpmnError,
    Connector,
    ConnectorContext,
    Decision,
    DecisionFlow,
    Job,
    JobFailed,
    Pending,
)
from laneway.connectors._policy import PolicyError, RetryPolicy, parse_duration
from laneway.connectors._registry import (
    BUILTINS,
    GROUP,
    Discovered,
    DiscoveryError,
    discover,
    load_connectors,
)
from laneway.connectors._retry_after import retry_after_s
from laneway.connectors._secrets import DEFAULT_SECRETS_DIR, Secrets
from laneway.connectors._templates import TemplateError, lookup, render, render_json, render_value

__all__ = [
    "BUILTINS",
    "DEFAULT_SECRETS_DIR",
    "GROUP",
    "POLICY",
    "AdHocActivity",
    "Attribute",
    "BpmnError",
    "Connector",
    "ConnectorContext",
    "Decision",
    "DecisionFlow",
    "Discovered",
    "DiscoveryError",
    "Job",
    "JobFailed",
    "Pending",
    "PolicyError",
    "RetryPolicy",
    "Secrets",
    "TemplateError",
    "discover",
    "load_connectors",
    "lookup",
    "parse_duration",
    "render",
    "render_json",
    "render_value",
    "retry_after_s",
]
