"""The operator commands: what someone running Laneway does from a terminal, over the HTTP API
at the public URL (docs/cli.md, "Operating Laneway from a terminal").

    laneway deploy FILE...                      laneway start PROCESS [--var k=v ...]
    laneway definitions list|show|export        laneway publish NAME [--key K] [--var ...]
    laneway lifecycle PROCESS VERSION STEP      laneway tasks list|show|claim|unclaim|complete
    laneway instances list|show|cancel          laneway incidents list|retry
    laneway instances set-variables|modify|migrate    laneway migrations start|show

Tables for people by default, `--json` for scripts. Exit 0 done, 1 the API refused (its
problem's title and detail on stderr), 2 bad usage, 3 the API cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from laneway.cli._api import MAX_XML_BYTES, ApiClient, ApiRefused, parse_value
from laneway.cli._token import duration

__all__ = ["COMMANDS", "OpsUsageError", "add_parsers", "run"]

EXIT_REFUSED = 1

# the lifecycle's steps by the word an operator says, to the state the API names
STEPS = {"review": "REVIEW", "approve": "APPROVED", "authorize": "AUTHORIZED",
         "retire": "RETIRED", "send-back": "DRAFT"}
_MAX_VARS_FILE_BYTES = 4 * 1024 * 1024
_CELL = 60


class OpsUsageError(Exception):
    """Options that cannot make a request (a bad --var, an unreadable --vars-file): exit 2."""


Handler = Callable[[ApiClient, argparse.Namespace, TextIO], int]


# -- parsers --------------------------------------------------------------------------------


def _var(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, but got {text!r}")
    return name.strip(), parse_value(value)


def _persona(text: str) -> tuple[str, str]:
    lane, sep, persona = text.partition("=")
    if not sep or not lane.strip() or not persona.strip():
        raise argparse.ArgumentTypeError(f"expected LANE_ID=PERSONA, but got {text!r}")
    return lane.strip(), persona.strip()


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _instance_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a UUID, but got {text!r}") from exc


def add_parsers(commands: argparse._SubParsersAction[Any],
                parents: list[argparse.ArgumentParser]) -> None:
    """Every operator command, each with --url, --token, --json, --timeout."""
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--url", metavar="URL",
                     help="Laneway's public URL (default: $LANEWAY_URL or "
                          "http://127.0.0.1:8080)")
    api.add_argument("--token", metavar="JWT",
                     help="the bearer token (default: $LANEWAY_TOKEN; prefer the variable, a "
                          "command line is visible to other users of the machine)")
    api.add_argument("--json", action="store_true",
                     help="print the API's answer as JSON instead of a table")
    api.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                     help="how long to wait for an answer (default 30)")
    common = [*parents, api]

    def leaf(group: argparse._SubParsersAction[Any], name: str, handler: Handler,
             help_text: str, description: str | None = None) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(
            name, parents=common, help=help_text, description=description or help_text)
        parser.set_defaults(handler=handler)
        return parser

    def variables(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--var", action="append", type=_var, default=[],
                            metavar="NAME=VALUE",
                            help="a variable (repeatable); VALUE is JSON when it parses "
                                 "(5, true, {\"a\": 1}), else a string")
        parser.add_argument("--vars-file", type=Path, metavar="FILE",
                            help="a JSON object of variables; --var entries override it")

    p = leaf(commands, "deploy", _deploy, "deploy BPMN files (each version starts as DRAFT)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")

    group = commands.add_parser("definitions", help="list, show and export deployed versions"
                                ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = leaf(group, "list", _definitions_list, "the deployed versions, newest first")
    p.add_argument("--process", metavar="ID", help="only this process id")
    p = leaf(group, "show", _definitions_show, "one version: its state and lifecycle history")
    p.add_argument("process", metavar="PROCESS")
    p.add_argument("version", type=_positive, metavar="VERSION")
    p = leaf(group, "export", _definitions_export, "the BPMN file as it was uploaded")
    p.add_argument("process", metavar="PROCESS")
    p.add_argument("version", type=_positive, metavar="VERSION")
    p.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write it to FILE (default: stdout)")

    p = leaf(commands, "lifecycle", _lifecycle,
             "move a version through its lifecycle: review, approve, authorize, retire, "
             "send-back")
    p.add_argument("process", metavar="PROCESS")
    p.add_argument("version", type=_positive, metavar="VERSION")
    p.add_argument("step", choices=tuple(STEPS), metavar="STEP",
                   help=f"one of {', '.join(STEPS)}")
    p.add_argument("--comment", help="why (kept in the history and the audit log)")
    p.add_argument("--persona", action="append", type=_persona, default=[],
                   metavar="LANE_ID=PERSONA",
                   help="a persona for a lane that names none (approve only; repeatable)")

    p = leaf(commands, "start", _start, "start an instance of an AUTHORIZED version")
    p.add_argument("process", metavar="PROCESS")
    p.add_argument("--version", type=_positive, metavar="N",
                   help="this version (default: the newest AUTHORIZED one)")
    variables(p)
    p.add_argument("--business-key", metavar="KEY")
    p.add_argument("--id", type=_instance_id, metavar="UUID",
                   help="the new instance's id: a start repeated with the same id starts "
                        "nothing twice")

    p = leaf(commands, "publish", _publish, "publish a message for correlation")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--key", default="", metavar="KEY", help="the correlation key (default: "
                                                            "empty)")
    variables(p)
    p.add_argument("--ttl", type=duration, metavar="DURATION",
                   help="how long it waits for a subscription: 30s, 10m, 1h (default: the "
                        "service's, one hour)")
    p.add_argument("--id", metavar="MESSAGE_ID",
                   help="a message id; the engine correlates a repeated id once")

    group = commands.add_parser("conditions", help="tell the engine of data for conditional "
                                "start events").add_subparsers(dest="action", required=True,
                                                               metavar="ACTION")
    p = leaf(group, "evaluate", _conditions_evaluate,
             "start an instance at each conditional start event whose condition holds",
             "Evaluate the conditional start events of the newest deployed version of every "
             "process (or of --process) with the variables; the engine starts an instance at "
             "each one that holds, or rejects the command when none does (its audit log, "
             "under the printed command id, says so).")
    p.add_argument("--process", metavar="ID", help="only this process's start events")
    variables(p)

    group = commands.add_parser("tasks", help="list, claim and complete user tasks"
                                ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = leaf(group, "list", _tasks_list, "your worklist (--all: every task, role operator)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--mine", action="store_true",
                       help="the tasks you hold, complete or may claim (the default)")
    scope.add_argument("--all", action="store_true", help="every task (role operator)")
    p.add_argument("--process", metavar="ID")
    p.add_argument("--instance", type=_instance_id, metavar="UUID")
    p.add_argument("--state", action="append", choices=("open", "claimed", "completed",
                                                         "cancelled"),
                   help="only tasks in this state (repeatable)")
    p.add_argument("--limit", type=_positive, default=100, metavar="N")
    for name, handler, what in (("show", _tasks_show, "one task, with its variables"),
                                ("claim", _tasks_claim, "take a task"),
                                ("unclaim", _tasks_unclaim, "give a claimed task back")):
        leaf(group, name, handler, what).add_argument("task", metavar="TASK_ID")
    p = leaf(group, "complete", _tasks_complete, "complete a task with variables")
    p.add_argument("task", metavar="TASK_ID")
    variables(p)

    group = commands.add_parser("instances", help="list, show and cancel instances"
                                ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = leaf(group, "list", _instances_list, "instances, newest change first")
    p.add_argument("--process", metavar="ID")
    p.add_argument("--status", choices=("ACTIVE", "COMPLETED", "TERMINATED", "INCIDENT"),
                   type=str.upper)
    p.add_argument("--limit", type=_positive, default=100, metavar="N")
    p.add_argument("--offset", type=int, default=0, metavar="N")
    p = leaf(group, "show", _instances_show, "one instance: status, elements, variables, "
                                             "incidents")
    p.add_argument("instance", metavar="INSTANCE_ID")
    p = leaf(group, "cancel", _instances_cancel, "terminate an instance (role operator)")
    p.add_argument("instance", metavar="INSTANCE_ID")
    p = leaf(group, "set-variables", _instances_set_variables,
             "set variables of a running instance (role operator)")
    p.add_argument("instance", metavar="INSTANCE_ID")
    p.add_argument("--scope", type=_positive, metavar="KEY",
                   help="a live element instance whose scope they go in (default: the "
                        "process instance)")
    p.add_argument("--local", action="store_true",
                   help="on that scope itself, not the nearest scope that has the variable")
    variables(p)
    p = leaf(group, "modify", _instances_modify,
             "activate elements, terminate element instances, move tokens (role operator); "
             "all apply or none")
    p.add_argument("instance", metavar="INSTANCE_ID")
    p.add_argument("--activate", dest="instructions", action="append", type=_activate,
                   metavar="ELEMENT[@SCOPE_KEY]", help="activate an element (repeatable)")
    p.add_argument("--terminate", dest="instructions", action="append", type=_terminate,
                   metavar="KEY", help="terminate an element instance (repeatable)")
    p.add_argument("--move", dest="instructions", action="append", type=_move,
                   metavar="FROM:TO", help="move the token(s) at element FROM (or at element "
                                           "instance key FROM) to element TO (repeatable)")
    variables(p)
    p = leaf(group, "migrate", _instances_migrate,
             "move a running instance to another version (role operator)")
    p.add_argument("instance", metavar="INSTANCE_ID")
    p.add_argument("--to", type=_positive, required=True, metavar="VERSION")
    p.add_argument("--map", action="append", type=_mapping, default=[], metavar="OLD=NEW",
                   help="element OLD of the running version is NEW in the target (repeatable; "
                        "an element not named keeps its id)")

    group = commands.add_parser("migrations", help="migrate many instances and follow "
                                                   "the batch"
                                ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = leaf(group, "start", _migrations_start,
             "migrate the running instances of a process (role operator)")
    p.add_argument("process", metavar="PROCESS")
    p.add_argument("--to", type=_positive, required=True, metavar="VERSION")
    p.add_argument("--from", dest="source", type=_positive, metavar="VERSION",
                   help="only instances of this version")
    p.add_argument("--instance", action="append", metavar="INSTANCE_ID",
                   help="only these instances (repeatable)")
    p.add_argument("--map", action="append", type=_mapping, default=[], metavar="OLD=NEW")
    p = leaf(group, "show", _migrations_show, "a batch's progress: done, refused, pending")
    p.add_argument("batch", metavar="BATCH_ID")

    group = commands.add_parser("incidents", help="list open incidents and retry them"
                                ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = leaf(group, "list", _incidents_list, "open incidents of the instances in INCIDENT")
    p.add_argument("--process", metavar="ID")
    p.add_argument("--limit", type=_positive, default=100, metavar="N",
                   help="instances to look at (default 100)")
    p = leaf(group, "retry", _incidents_retry,
             "resolve an incident: the job is created again, or the step runs again")
    p.add_argument("incident", metavar="INCIDENT_ID", help="<instanceId>:<key>")
    p.add_argument("--retries", type=_positive, default=1, metavar="N",
                   help="a job's retries when it is created again (default 1)")


COMMANDS = frozenset({"deploy", "definitions", "lifecycle", "start", "publish", "tasks",
                      "instances", "incidents", "migrations", "conditions"})


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run an operator command; `ApiRefused` and `Unreachable` propagate to `main`."""
    handler: Handler = args.handler
    with ApiClient.from_options(args.url, args.token, args.timeout) as client:
        return handler(client, args, out)


# -- the commands ---------------------------------------------------------------------------


def _deploy(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    deployed: list[dict[str, Any]] = []
    refused = 0
    for path in args.files:
        try:
            xml = path.read_bytes()
        except OSError as exc:
            raise OpsUsageError(f"Expected a readable file {path}, but: "
                                f"{exc.strerror or exc}") from exc
        try:
            answer = client.post("/api/definitions", content=xml, headers={
                "Content-Type": "application/xml", "X-File-Name": path.name})
        except ApiRefused as exc:
            refused += 1
            _problem(exc, f"{path}")
            continue
        for each in answer.json().get("deployed", []):
            deployed.append({"file": str(path), **each})
    if args.json:
        _json(deployed, out)
    else:
        _table(out, ("FILE", "PROCESS", "VERSION", "NEW"),
               [(d["file"], d["processId"], d["version"], "yes" if d["new"] else "no (same "
                 "file as this version)") for d in deployed])
    return EXIT_REFUSED if refused else 0


def _definitions_list(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    rows = client.get("/api/definitions", {"processId": args.process}).json()
    if args.json:
        return _json(rows, out)
    _table(out, ("PROCESS", "VERSION", "STATE", "NAME", "AUTHOR", "DEPLOYED"),
           [(r["processId"], r["version"], r["state"], r.get("name") or "",
             r.get("author") or "", r.get("deployedAt") or "") for r in rows])
    return 0


def _definitions_show(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    base = f"/api/definitions/{_seg(args.process)}/versions/{args.version}"
    history = client.get(f"{base}/history").json()
    rows = client.get("/api/definitions", {"processId": args.process}).json()
    row: dict[str, Any] = next((r for r in rows if r.get("version") == args.version), {})
    if args.json:
        return _json({**row, "steps": history.get("steps", [])}, out)
    _fields(out, [("process", args.process), ("version", args.version),
                  ("name", row.get("name")), ("state", row.get("state")),
                  ("author", row.get("author")), ("deployed", row.get("deployedAt")),
                  ("digest", row.get("digest"))])
    print("", file=out)
    _table(out, ("SEQ", "FROM", "TO", "BY", "AT", "COMMENT"),
           [(s["seq"], s.get("from") or "-", s["to"], (s.get("principal") or {}).get("id", ""),
             s.get("at") or "", s.get("comment") or "") for s in history.get("steps", [])])
    return 0


def _definitions_export(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = client.get(f"/api/definitions/{_seg(args.process)}/versions/{args.version}/xml",
                        limit=MAX_XML_BYTES)
    if args.output is not None:
        try:
            args.output.write_bytes(answer.content)
        except OSError as exc:
            raise OpsUsageError(f"Expected to write {args.output}, but: "
                                f"{exc.strerror or exc}") from exc
        return 0
    out.flush()
    binary = getattr(out, "buffer", None)
    if binary is not None:
        binary.write(answer.content)
        binary.flush()
    else:
        out.write(answer.content.decode("utf-8", "replace"))
    return 0


def _lifecycle(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {"to": STEPS[args.step]}
    if args.comment:
        body["comment"] = args.comment
    if args.persona:
        body["personas"] = dict(args.persona)
    state = client.post(f"/api/definitions/{_seg(args.process)}/versions/{args.version}"
                        "/transitions", body).json()
    if args.json:
        return _json(state, out)
    done = "" if state.get("applied", True) else " (already; nothing changed)"
    print(f"{state['processId']} v{state['version']}: {state['state']}{done}", file=out)
    return 0


def _start(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {"processId": args.process, "variables": _variables(args)}
    for name, value in (("version", args.version), ("businessKey", args.business_key),
                        ("instanceId", args.id)):
        if value is not None:
            body[name] = value
    started = client.post("/api/instances", body).json()
    if args.json:
        return _json(started, out)
    print(started["instanceId"], file=out)
    return 0


def _publish(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {"name": args.name, "correlationKey": args.key,
                            "variables": _variables(args)}
    if args.ttl is not None:
        body["ttlSeconds"] = args.ttl
    if args.id:
        body["messageId"] = args.id
    published = client.post("/api/messages", body).json()
    if args.json:
        return _json(published, out)
    print(published["messageId"], file=out)
    return 0


def _conditions_evaluate(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {"variables": _variables(args)}
    if args.process is not None:
        body["processId"] = args.process
    sent = client.post("/api/conditions", body).json()
    if args.json:
        return _json(sent, out)
    print(sent["commandId"], file=out)
    return 0


def _tasks_list(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    params: dict[str, Any] = {"processId": args.process, "instanceId": args.instance,
                              "limit": args.limit, "scope": "all" if args.all else None}
    if args.state:
        params["state"] = args.state
    page = client.get("/api/tasks", params).json()
    if args.json:
        return _json(page, out)
    _table(out, ("TASK", "PROCESS", "ELEMENT", "STATE", "ASSIGNEE", "LANE", "DUE"),
           [(t["taskId"], f"{t['processId']} v{t['version']}",
             t.get("elementName") or t["elementId"], t["state"] + (" OVERDUE" if t.get(
                 "overdue") else ""), t.get("assignee") or "", t.get("lane") or "",
             t.get("dueDate") or "") for t in page["items"]])
    _more(out, page["count"], len(page["items"]))
    return 0


def _tasks_show(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    task = client.get(f"/api/tasks/{_seg(args.task)}").json()
    return _json(task, out) if args.json else _task_fields(task, out)


def _task_fields(task: Mapping[str, Any], out: TextIO) -> int:
    _fields(out, [("task", task["taskId"]), ("instance", task["instanceId"]),
                  ("process", f"{task['processId']} v{task['version']}"),
                  ("element", task.get("elementName") or task["elementId"]),
                  ("state", task["state"]), ("assignee", task.get("assignee")),
                  ("lane", task.get("lane")), ("persona", task.get("persona")),
                  ("form", task.get("form")), ("due", task.get("dueDate")),
                  ("variables", _compact(task.get("variables"))),
                  ("result", _compact(task.get("result")) if task.get("result") else None)])
    return 0


def _task_command(client: ApiClient, args: argparse.Namespace, out: TextIO, verb: str,
                  body: Any = None) -> int:
    task = client.post(f"/api/tasks/{_seg(args.task)}/{verb}", body).json()
    if args.json:
        return _json(task, out)
    print(f"{task['taskId']}: {task['state']}"
          + (f" ({task['assignee']})" if task.get("assignee") else ""), file=out)
    return 0


def _tasks_claim(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    return _task_command(client, args, out, "claim")


def _tasks_unclaim(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    return _task_command(client, args, out, "unclaim")


def _tasks_complete(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    return _task_command(client, args, out, "complete", {"variables": _variables(args)})


def _instances_list(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    page = client.get("/api/instances", {"processId": args.process, "status": args.status,
                                         "limit": args.limit, "offset": args.offset}).json()
    if args.json:
        return _json(page, out)
    _table(out, ("INSTANCE", "PROCESS", "STATUS", "AT", "UPDATED"),
           [(i["instanceId"], f"{i['processId']} v{i['version']}", i["status"],
             ", ".join(i.get("activeElements") or []), i.get("updatedAt") or "")
            for i in page["items"]])
    _more(out, page["count"], len(page["items"]), args.offset)
    return 0


def _instances_show(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    inst = client.get(f"/api/instances/{_seg(args.instance)}").json()
    if args.json:
        return _json(inst, out)
    _fields(out, [("instance", inst["instanceId"]),
                  ("process", f"{inst['processId']} v{inst['version']}"),
                  ("business key", inst.get("businessKey")), ("status", inst["status"]),
                  ("active", ", ".join(inst.get("activeElements") or []) or "-"),
                  ("updated", inst.get("updatedAt"))])
    variables = inst.get("variables") or {}
    if variables:
        print("\nvariables:", file=out)
        for name in sorted(variables):
            print(f"  {name} = {_cut(_compact(variables[name]), 200)}", file=out)
    _incident_table(out, inst.get("incidents") or [], inst["instanceId"], heading=True)
    return 0


def _instances_cancel(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = client.post(f"/api/instances/{_seg(args.instance)}/cancel").json()
    if args.json:
        return _json(answer, out)
    print(f"{answer['instanceId']}: cancel sent (the engine terminates it; "
          f"`laneway instances show {answer['instanceId']}` shows TERMINATED)", file=out)
    return 0


def _instances_set_variables(client: ApiClient, args: argparse.Namespace,
                             out: TextIO) -> int:
    body: dict[str, Any] = {"variables": _variables(args), "local": args.local}
    if not body["variables"]:
        raise OpsUsageError("Expected variables to set: --var NAME=VALUE or --vars-file")
    if args.scope is not None:
        body["scopeKey"] = args.scope
    answer = client.post(f"/api/instances/{_seg(args.instance)}/variables", json=body).json()
    if args.json:
        return _json(answer, out)
    print(f"{answer['instanceId']}: variables sent (command {answer['commandId']}; a refusal "
          "shows in the instance's history)", file=out)
    return 0


def _instances_modify(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    instructions: list[dict[str, Any]] = list(args.instructions or [])
    if not instructions:
        raise OpsUsageError("Expected at least one --activate, --terminate or --move")
    variables = _variables(args)
    if variables:
        for i in instructions:
            if i["type"] != "TERMINATE":
                i["variables"] = variables
    answer = client.post(f"/api/instances/{_seg(args.instance)}/modification",
                         json={"instructions": instructions}).json()
    if args.json:
        return _json(answer, out)
    print(f"{answer['instanceId']}: modification sent (command {answer['commandId']}; the "
          "engine applies every instruction or none, and a refusal with each reason shows "
          "in the instance's history)", file=out)
    return 0


def _instances_migrate(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = client.post(f"/api/instances/{_seg(args.instance)}/migration",
                         json={"targetVersion": args.to, "mappings": dict(args.map)}).json()
    if args.json:
        return _json(answer, out)
    print(f"{answer['instanceId']}: migration to version {args.to} sent (command "
          f"{answer['commandId']})", file=out)
    return 0


def _migrations_start(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    body: dict[str, Any] = {"processId": args.process, "targetVersion": args.to,
                            "mappings": dict(args.map)}
    if args.source is not None:
        body["sourceVersion"] = args.source
    if args.instance:
        body["instanceIds"] = list(args.instance)
    return _batch(client.post("/api/migrations", json=body).json(), args, out)


def _migrations_show(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    return _batch(client.get(f"/api/migrations/{_seg(args.batch)}").json(), args, out)


def _batch(batch: Mapping[str, Any], args: argparse.Namespace, out: TextIO) -> int:
    if args.json:
        return _json(batch, out)
    _fields(out, [("batch", batch["batchId"]), ("process", batch["processId"]),
                  ("to version", batch["targetVersion"]), ("total", batch["total"]),
                  ("done", batch["done"]), ("refused", batch["refused"]),
                  ("pending", batch["pending"])])
    refused = [i for i in batch["items"] if i["state"] == "REFUSED"]
    if refused:
        print("", file=out)
        _table(out, ("INSTANCE", "REFUSED", "REASON"),
               [(i["instanceId"], i.get("rejectionType") or "", i.get("reason") or "")
                for i in refused])
    return 0


def _activate(text: str) -> dict[str, Any]:
    element, _, scope = text.partition("@")
    if not element:
        raise argparse.ArgumentTypeError("expected ELEMENT or ELEMENT@SCOPE_KEY")
    out: dict[str, Any] = {"type": "ACTIVATE", "elementId": element}
    if scope:
        out["scopeKey"] = _positive(scope)
    return out


def _terminate(text: str) -> dict[str, Any]:
    return {"type": "TERMINATE", "elementInstanceKey": _positive(text)}


def _move(text: str) -> dict[str, Any]:
    source, sep, target = text.partition(":")
    if not sep or not source or not target:
        raise argparse.ArgumentTypeError("expected FROM:TO")
    if source.isdigit():
        return {"type": "MOVE", "elementInstanceKey": int(source), "elementId": target}
    return {"type": "MOVE", "fromElementId": source, "elementId": target}


def _mapping(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError("expected OLD=NEW")
    return old, new


def _incidents_list(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    page = client.get("/api/instances", {"processId": args.process, "status": "INCIDENT",
                                         "limit": args.limit}).json()
    incidents = [{"id": inc.get("id") or f"{i['instanceId']}:{inc['key']}",
                  "instanceId": i["instanceId"], "processId": i["processId"],
                  "version": i["version"], **{k: v for k, v in inc.items() if k != "id"}}
                 for i in page["items"] for inc in i.get("incidents") or []]
    if args.json:
        return _json(incidents, out)
    _incident_table(out, incidents, None)
    _more(out, page["count"], len(page["items"]), noun="instances in INCIDENT")
    return 0


def _incident_table(out: TextIO, incidents: Sequence[Mapping[str, Any]], instance_id: str | None,
                    heading: bool = False) -> None:
    if heading:
        if not incidents:
            return
        print("\nincidents:", file=out)
    _table(out, ("INCIDENT", "ELEMENT", "TYPE", "MESSAGE"),
           [(inc.get("id") or f"{instance_id}:{inc['key']}", inc.get("elementId") or "",
             inc.get("errorType") or "", inc.get("message") or "") for inc in incidents])


def _incidents_retry(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    answer = client.post(f"/api/incidents/{_seg(args.incident)}/resolve",
                         {"retries": args.retries}).json()
    if args.json:
        return _json(answer, out)
    print(f"{answer['instanceId']}:{answer['incidentKey']}: retry sent", file=out)
    return 0


# -- input and output -----------------------------------------------------------------------


def _variables(args: argparse.Namespace) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    path: Path | None = args.vars_file
    if path is not None:
        try:
            with path.open("rb") as fh:
                raw = fh.read(_MAX_VARS_FILE_BYTES + 1)
        except OSError as exc:
            raise OpsUsageError(f"Expected a readable --vars-file {path}, but: "
                                f"{exc.strerror or exc}") from exc
        if len(raw) > _MAX_VARS_FILE_BYTES:
            raise OpsUsageError(f"Expected a --vars-file of at most {_MAX_VARS_FILE_BYTES} "
                                f"bytes, but {path} is larger")
        try:
            loaded = json.loads(raw)
        except ValueError as exc:
            raise OpsUsageError(f"Expected JSON in --vars-file {path}, but: {exc}") from exc
        if not isinstance(loaded, dict):
            raise OpsUsageError(f"Expected a JSON object in --vars-file {path}, but got "
                                f"{type(loaded).__name__}")
        merged.update(loaded)
    merged.update(dict(args.var))
    return merged


def _seg(text: str) -> str:
    """One path segment: `/`, `?` and the like cannot reach another route."""
    return quote(text, safe=":@")


def _json(data: Any, out: TextIO) -> int:
    print(json.dumps(data, indent=2, ensure_ascii=False), file=out)
    return 0


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _cut(text: str, width: int = _CELL) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _table(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[_cut(str(c)) for c in row] for row in rows]
    if not cells:
        print("(none)", file=out)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    for row in [list(header), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _fields(out: TextIO, pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        if value is not None and value != "":
            print(f"{name.ljust(width)}  {value}", file=out)


def _more(out: TextIO, count: int, shown: int, offset: int = 0, noun: str = "") -> None:
    if count > offset + shown:
        print(f"({shown} of {count}{' ' + noun if noun else ''}; --limit / --offset for more)",
              file=out)


def _problem(exc: ApiRefused, what: str, err: TextIO | None = None) -> None:
    print(f"{what}: {exc}", file=err or sys.stderr)
