"""The operator commands (`laneway deploy`, `lifecycle`, `start`, `tasks`, `publish`,
`incidents`, `instances`) against a whole running Laneway through its public URL (the edge):
what an operator does from a terminal, end to end.

One instance is deployed, authorized, started, has its user task completed, its message
published, its job failed to zero retries (as a worker would, on Kafka) and the incident
retried, and ends COMPLETED; another is cancelled. The errors an operator meets: a bad token
(exit 1 with the API's words), a role missing (exit 1), a URL nobody answers (exit 3).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from laneway.bpmn import LANEWAY_NS
from laneway.cli import main
from laneway.codec import decode_job
from laneway.records import Command
from scripts.stack.testing import unique_name, wait_until
from tests.auth import token
from tests.e2e.harness import (
    PARTITIONS,
    WORKER,
    Laneway,
    TopicReader,
    command_record,
    free_port,
    send,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SERVICES = ("engine", "definitions", "worklist", "audit")
JOB_TYPE = "cli-charge"

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <message id="m" name="{message}">
    <extensionElements><zeebe:subscription correlationKey="=ref"/></extensionElements>
  </message>
  <process id="{pid}" name="CLI order" isExecutable="true">
    <startEvent id="s"/>
    <userTask id="review" name="Review the order"/>
    <intermediateCatchEvent id="paid"><messageEventDefinition messageRef="m"/>
    </intermediateCatchEvent>
    <serviceTask id="charge" laneway:type="{job_type}"/>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <sequenceFlow id="f2" sourceRef="review" targetRef="paid"/>
    <sequenceFlow id="f3" sourceRef="paid" targetRef="charge"/>
    <sequenceFlow id="f4" sourceRef="charge" targetRef="e"/>
  </process>
</definitions>
"""

MODELER = token("cli-modeler", roles=["modeler"])
APPROVER = token("cli-approver", roles=["reviewer", "authorizer"])
OPERATOR = token("cli-operator", roles=["operator"])
CLERK = token("cli-clerk")


class Cli:
    """`laneway ...` in process against one Laneway, as one principal."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys

    def __call__(self, *argv: str, as_: str = OPERATOR, expect: int = 0) -> tuple[str, str]:
        self.capsys.readouterr()
        code = main([*argv, "--url", self.url, "--token", as_])
        out, err = self.capsys.readouterr()
        assert code == expect, f"laneway {' '.join(argv)}: exit {code}\n{out}\n{err}"
        assert as_ not in out + err, "a command printed the token"
        return out, err

    def json(self, *argv: str, as_: str = OPERATOR) -> Any:
        return json.loads(self(*argv, "--json", as_=as_)[0])

    def instance(self, iid: str, status: str, element: str | None = None) -> dict[str, Any]:
        """`instances show` once the projection says `status` (and `element` is active)."""
        def seen() -> dict[str, Any] | None:
            self.capsys.readouterr()
            if main(["instances", "show", iid, "--json", "--url", self.url,
                     "--token", OPERATOR]) != 0:
                return None  # 404 until the engine's first snapshot is projected
            inst: dict[str, Any] = json.loads(self.capsys.readouterr()[0])
            ok = inst["status"] == status and (element is None
                                               or element in inst["activeElements"])
            return inst if ok else None
        return wait_until(seen, 60, 0.1, f"instance {iid} {status} at {element}")


@pytest.fixture
def lw(laneway: Any) -> Laneway:
    started: Laneway = laneway(services=SERVICES, job_types=(JOB_TYPE,))
    return started


@pytest.fixture
def jobs(lw: Laneway) -> Iterator[TopicReader]:
    reader = TopicReader(lw.bootstrap, lw.topics.jobs(JOB_TYPE), PARTITIONS, decode=decode_job)
    yield reader
    reader.close()


def test_an_operator_runs_an_instance_from_the_terminal(
        lw: Laneway, jobs: TopicReader, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(lw.public_url, capsys)
    pid, message = unique_name("cli").replace("-", "_"), unique_name("paid")
    bpmn = tmp_path / "order.bpmn"
    bpmn.write_text(DIAGRAM.format(ns=LANEWAY_NS, pid=pid, message=message, job_type=JOB_TYPE))

    # deploy and take the version through its lifecycle
    out, _ = cli("deploy", str(bpmn), as_=MODELER)
    assert pid in out
    assert "yes" in out
    cli("lifecycle", pid, "1", "review", as_=MODELER)
    cli("lifecycle", pid, "1", "approve", "--comment", "four eyes", as_=APPROVER)
    out, _ = cli("lifecycle", pid, "1", "authorize", as_=APPROVER)
    assert out.strip() == f"{pid} v1: AUTHORIZED"
    out, _ = cli("definitions", "show", pid, "1")
    assert "AUTHORIZED" in out
    assert "four eyes" in out
    exported = tmp_path / "exported.bpmn"
    cli("definitions", "export", pid, "1", "-o", str(exported))
    assert exported.read_bytes() == bpmn.read_bytes()

    # start, with variables parsed as JSON when they parse
    vars_file = tmp_path / "vars.json"
    vars_file.write_text('{"amount": 1, "note": "from a file"}')
    out, _ = cli("start", pid, "--vars-file", str(vars_file), "--var", "ref=o-1",
                 "--var", "amount=1500", "--var", 'tags=["a"]')
    iid = out.strip()
    inst = cli.instance(iid, "ACTIVE", "review")
    assert inst["variables"] == {"amount": 1500, "note": "from a file", "ref": "o-1",
                                 "tags": ["a"]}

    # the task in the worklist, completed
    def task() -> dict[str, Any] | None:
        page = cli.json("tasks", "list", "--all", "--instance", iid)
        return page["items"][0] if page["items"] else None
    task_id = wait_until(task, 60, 0.1, "the task projected")["taskId"]
    out, _ = cli("tasks", "list", "--all", "--process", pid)
    assert task_id in out
    assert "Review the order" in out
    assert "open" in out
    out, _ = cli("tasks", "complete", task_id, "--var", "approved=true")
    assert out.strip() == f"{task_id}: completed"

    # the message correlates; the job fails to zero retries (a worker on Kafka) and is retried
    cli.instance(iid, "ACTIVE", "paid")
    out, _ = cli("publish", message, "--key", "o-1", "--var", "paidAt=2026-12-06", "--ttl", "1m")
    assert out.strip()
    first = jobs.wait_for(lambda js: [j for j in js if j.instance_id == iid], 60, "a job")[0]
    producer = lw.producer()
    send(producer, lw.topics, command_record(Command.FAIL_JOB, iid, {
        "jobKey": first.key, "retries": 0, "errorMessage": "card declined"}, WORKER))
    cli.instance(iid, "INCIDENT")
    listed = cli.json("incidents", "list", "--process", pid)
    assert [(i["instanceId"], i["elementId"], i["message"]) for i in listed] == [
        (iid, "charge", "card declined")]
    out, _ = cli("incidents", "list")
    assert listed[0]["id"] in out
    assert "card declined" in out
    # retrying needs the role operator
    _, err = cli("incidents", "retry", listed[0]["id"], as_=CLERK, expect=1)
    assert "403" in err
    assert "operator" in err
    cli("incidents", "retry", listed[0]["id"], "--retries", "2")
    # the job is created again (under the element's key, as the first one)
    again = jobs.wait_for(lambda js: [j for j in js if j.instance_id == iid][1:], 60,
                          "the job created again")[0]
    assert again.retries == 2
    send(producer, lw.topics, command_record(Command.COMPLETE_JOB, iid, {
        "jobKey": again.key, "variables": {"charged": True}}, WORKER))

    done = cli.instance(iid, "COMPLETED")
    assert done["variables"]["paidAt"] == "2026-12-06"
    assert done["variables"]["charged"] is True
    out, _ = cli("instances", "show", iid)
    assert "COMPLETED" in out
    assert "paidAt" in out
    out, _ = cli("instances", "list", "--process", pid, "--status", "completed")
    assert iid in out

    # another instance, cancelled (an operator's; a clerk may not)
    other = cli("start", pid, "--var", "ref=o-2")[0].strip()
    cli.instance(other, "ACTIVE", "review")
    _, err = cli("instances", "cancel", other, as_=CLERK, expect=1)
    assert "403" in err
    assert "operator" in err
    cli("instances", "cancel", other)
    cli.instance(other, "TERMINATED")
    wait_until(lambda: cli.json("tasks", "list", "--all", "--instance", other,
                                "--state", "cancelled")["items"], 30, 0.1, "task cancelled")


def test_the_errors_an_operator_meets(lw: Laneway, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(lw.public_url, capsys)
    # a token the services do not accept: the API's own words, exit 1
    _, err = cli("instances", "list", as_="not-a-jwt", expect=1)
    assert err.startswith("laneway instances: 401 Unauthorized: ")
    assert "LANEWAY_TOKEN" in err
    # a refusal with the problem's detail
    _, err = cli("start", "no_such_process", expect=1)
    assert "404" in err
    assert "no_such_process" in err
    _, err = cli("instances", "cancel", "3f2a6f0e-0000-4000-8000-000000000000", expect=1)
    assert "404" in err
    # nobody answers: exit 3 naming the URL
    nowhere = f"http://127.0.0.1:{free_port()}"
    capsys.readouterr()
    assert main(["tasks", "list", "--url", nowhere, "--token", OPERATOR]) == 3
    err = capsys.readouterr().err
    assert nowhere in err
    assert OPERATOR not in err
