"""Operations on running instances end to end, from the terminal, against a whole Laneway
(engine, definitions, worklist, audit): set a variable and move a token (`laneway instances
set-variables|modify`), then migrate the running instances to version 2 as a batch
(`laneway migrations start|show`): one instance migrates, the other is refused with the
reason, and the migrated one runs on version 2 (the audit's projection says so, its task in
the worklist has the new version and element, and completing it follows version 2's flow).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.bpmn import LANEWAY_NS
from scripts.stack.testing import unique_name, wait_until
from tests.auth import auth_header, token
from tests.e2e.harness import Laneway
from tests.e2e.test_cli_ops_e2e import APPROVER, MODELER, Cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SERVICES = ("engine", "definitions", "worklist", "audit")
OLGA = token("olga", roles=["operator"])

V1 = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{ns}"
  id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/>
    <userTask id="review" name="Review"/>
    <userTask id="extra" name="Extra"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <sequenceFlow id="f2" sourceRef="review" targetRef="extra"/>
    <sequenceFlow id="f3" sourceRef="extra" targetRef="e"/>
  </process>
</definitions>
"""

# version 2: `review` is `check` now, `extra` is gone, `archive` follows
V2 = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:laneway="{ns}"
  id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/>
    <userTask id="check" name="Check"/>
    <userTask id="archive" name="Archive"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="check"/>
    <sequenceFlow id="f2" sourceRef="check" targetRef="archive"/>
    <sequenceFlow id="f3" sourceRef="archive" targetRef="e"/>
  </process>
</definitions>
"""


def _deploy(cli: Cli, path: Path, pid: str, version: str) -> None:
    cli("deploy", str(path), as_=MODELER)
    cli("lifecycle", pid, version, "review", as_=MODELER)
    cli("lifecycle", pid, version, "approve", as_=APPROVER)
    cli("lifecycle", pid, version, "authorize", as_=APPROVER)


def _task(lw: Laneway, iid: str, element: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        r = httpx.get(f"{lw.public_url}/api/tasks", params={"instanceId": iid, "all": "true"},
                      headers=auth_header("watcher", roles=["operator"]), timeout=10)
        items = r.json().get("items", []) if r.status_code == 200 else []
        return next((t for t in items if t.get("elementId") == element
                     and t.get("state") == "open"), None)
    found: dict[str, Any] = wait_until(read, 60, 0.2, f"open task {element} of {iid}")
    return found


def test_set_move_and_migrate_a_batch_from_the_terminal(
        laneway: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lw: Laneway = laneway(services=SERVICES, job_types=("unused",))
    cli = Cli(lw.public_url, capsys)
    pid = unique_name("ops").replace("-", "_")
    v1, v2 = tmp_path / "v1.bpmn", tmp_path / "v2.bpmn"
    v1.write_text(V1.format(ns=LANEWAY_NS, pid=pid))
    v2.write_text(V2.format(ns=LANEWAY_NS, pid=pid))
    _deploy(cli, v1, pid, "1")
    kept = cli("start", pid, "--json")
    moved = cli("start", pid, "--json")
    kept_id, moved_id = json.loads(kept[0])["instanceId"], json.loads(moved[0])["instanceId"]
    cli.instance(kept_id, "ACTIVE", "review")
    cli.instance(moved_id, "ACTIVE", "review")

    # a variable, and the second instance's token moved on to `extra`
    cli("instances", "set-variables", kept_id, "--var", "limit=42", as_=OLGA)
    wait_until(lambda: cli.json("instances", "show", kept_id)["variables"].get("limit") == 42,
               60, 0.2, "the variable set")
    cli("instances", "modify", moved_id, "--move", "review:extra", as_=OLGA)
    cli.instance(moved_id, "ACTIVE", "extra")

    # version 2, and a batch over version 1's running instances
    _deploy(cli, v2, pid, "2")
    batch = json.loads(cli("migrations", "start", pid, "--to", "2", "--from", "1",
                           "--map", "review=check", "--json", as_=OLGA)[0])
    assert batch["total"] == 2
    done = wait_until(lambda: (lambda b: b if b["pending"] == 0 else None)(
        cli.json("migrations", "show", batch["batchId"])), 60, 0.3, "the batch answered")
    assert (done["done"], done["refused"]) == (1, 1)
    states = {i["instanceId"]: i for i in done["items"]}
    assert states[kept_id]["state"] == "DONE"
    assert states[moved_id]["state"] == "REFUSED"
    assert "'extra'" in states[moved_id]["reason"]
    out, _ = cli("migrations", "show", batch["batchId"])
    assert "refused" in out
    assert moved_id in out

    # the migrated instance runs version 2: projection, worklist, and its flow
    assert cli.instance(kept_id, "ACTIVE", "check")["version"] == 2
    assert cli.json("instances", "show", moved_id)["version"] == 1
    task = _task(lw, kept_id, "check")
    assert task["version"] == 2
    r = httpx.post(f"{lw.public_url}/api/tasks/{task['taskId']}/complete", json={"variables": {}},
                   headers=auth_header("carla"), timeout=30)
    assert r.status_code == 200, r.text
    cli.instance(kept_id, "ACTIVE", "archive")
