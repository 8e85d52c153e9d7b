"""What the `llm` connector tells and offers a model that decides an ad-hoc subprocess
(`laneway:decision="llm"` on an `adHocSubProcess`): the tool it answers through, the listing
of the activities that follows the prompt, and the check of its answer beyond the tool's
schema. The asking itself is `LlmConnector.choose_activities` (llm.py).

The tool `choose_activities` allows only the listed activity ids (an `enum`; at most one when
the subprocess is Sequential, no repeats), `done` and a short `reason`; a `laneway:outputSchema`
adds its properties. An answer that starts nothing, is not done and leaves nothing running
would wait for ever, so it is refused here as the engine would refuse it.
"""

from __future__ import annotations

from typing import Any

from laneway.connectors._api import Job, JobFailed

ADHOC_TOOL = "choose_activities"
"""The tool an ad-hoc subprocess's model answers through."""
MAX_ACTIVITIES = 100
"""The most activities a model may be offered (each is listed in the prompt)."""
MAX_ASKS = 2
"""How often the model is asked for one choice: an answer that does not validate is sent
back once with what was wrong; the second such answer fails the job (an incident)."""
ADHOC_KEYS = ("activities", "done", "reason", "usage", "asks")
"""The result variable's keys the connector fills; `laneway:outputSchema` may not take them."""
_TEXT = 300
_MAX_ATTRIBUTES = 20
_DOC_TEXT = 1000


def _shown(text: str, most: int = _TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[:most - 1] + "…"


def adhoc_schema(job: Job, extra: dict[str, Any] | None) -> dict[str, Any]:
    """The `choose_activities` tool's input schema: the activity ids as an enum (at most one
    when Sequential), `done`, `reason`, and the properties of `laneway:outputSchema`."""
    ids = [a.id for a in job.activities]
    where = f"ad-hoc subprocess '{job.element_id}'"
    if not ids:
        raise JobFailed(f"Expected {where} to have activities to choose from, but the "
                        "decision job lists none", retryable=False)
    if len(ids) > MAX_ACTIVITIES:
        raise JobFailed(f"Expected at most {MAX_ACTIVITIES} activities for the model to "
                        f"choose from, but {where} has {len(ids)}", retryable=False)
    choice: dict[str, Any] = {
        "type": "array", "items": {"type": "string", "enum": ids}, "uniqueItems": True,
        "maxItems": 1 if job.sequential else len(ids),
        "description": ("The id of the activity to start now (at most one), or none."
                        if job.sequential else
                        "The ids of the activities to start now, in order; none to wait "
                        "for what runs.")}
    properties: dict[str, Any] = {
        "activities": choice,
        "done": {"type": "boolean", "description": "True when no more activities are to be "
                 "started: the subprocess finishes once what runs has finished."},
        "reason": {"type": "string", "description": "Why, in one short sentence."}}
    required = ["activities", "done", "reason"]
    if extra is None:
        return {"type": "object", "properties": properties, "required": required}
    schema = dict(extra)
    more = schema.get("properties")
    more = dict(more) if isinstance(more, dict) else {}
    taken = [k for k in ADHOC_KEYS if k in more]
    if taken:
        raise JobFailed(f"Expected laneway:outputSchema on an ad-hoc subprocess to declare no "
                        f"property named {', '.join(taken)}: the choice's tool and result use "
                        "them", retryable=False)
    wanted = schema.get("required")
    wanted = [r for r in wanted if isinstance(r, str)] if isinstance(wanted, list) else []
    schema["properties"] = {**properties, **more}
    schema["required"] = list(dict.fromkeys([*required, *wanted]))
    return schema


def adhoc_listing(job: Job) -> str:
    """What follows the prompt: the subprocess, its activities (id, name, kind, how often each
    ran, documentation, attributes), what runs, the choices so far and when it completes."""
    where = _shown(job.element_name or job.element_id)
    if job.sequential:
        how = ("It is sequential: start at most one activity now (nothing else runs), or "
               "say you are done.")
    else:
        how = ("It is parallel: start any of these now (several run side by side), none to "
               "wait for what runs, or say you are done.")
    lines = [f"The process works in the ad-hoc subprocess {where!r}: you choose which of its "
             f"activities run, in what order and how often. {how}",
             "The activities, by id:"]
    for a in job.activities:
        text = f"- {a.id}"
        if a.name:
            text += f": {_shown(a.name)!r}"
        text += f" ({a.kind or 'activity'}), started {a.runs} time{'s' if a.runs != 1 else ''}"
        text += " so far"
        if a.documentation and a.documentation.strip():
            text += f". {_shown(a.documentation, _DOC_TEXT)}"
        attrs = [f"{_shown(k, 80)}={_shown(v)!r}" for k, v in
                 list(a.attributes.items())[:_MAX_ATTRIBUTES]]
        if attrs:
            text += f" [{', '.join(attrs)}]"
        lines.append(text)
    running = ", ".join(_shown(r, 80) for r in job.running[:MAX_ACTIVITIES])
    lines.append(f"Running now: {running}." if running else "Nothing runs now.")
    most = f" of at most {job.max_decisions}" if job.max_decisions is not None else ""
    lines.append(f"Choices made so far: {job.decisions}{most}.")
    if job.completion_condition:
        lines.append(f"It also completes by itself when {_shown(job.completion_condition)}.")
    at_most = "at most one id" if job.sequential else "ids in order"
    lines.append(f"Answer with the {ADHOC_TOOL} tool: activities ({at_most}), done (true or "
                 "false) and a short reason.")
    return "\n".join(lines)


def choice_problem(job: Job, fields: dict[str, Any]) -> str | None:
    """What the tool's schema cannot say is wrong with a valid answer: nothing started, not
    done, and nothing running (the subprocess would wait for ever), or None."""
    if fields.get("activities") or fields.get("done") is True:
        return None
    if job.sequential or not job.running:
        return ("the answer starts no activity and is not done while nothing runs, so the "
                "subprocess would wait for ever")
    return None
