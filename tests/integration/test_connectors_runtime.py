"""The connectors service against the real Kafka and Redis: job records produced to a test
`jobs.<type>` topic, commands read back from the test `commands` topic (no engine involved)."""

from __future__ import annotations

import dataclasses
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from laneway.codec import read_dead_letter_headers
from laneway.records import Principal, PrincipalKind, Record
from scripts.stack import Connections
from scripts.stack.testing import wait_until
from tests.connector_servers import RecordingServer, recording_server
from tests.integration.connector_harness import (
    Env,
    InProcessWorker,
    Reader,
    WorkerProcess,
    encoded,
    free_port,
    job_record,
)

pytestmark = pytest.mark.integration

AGENT = Principal(PrincipalKind.AGENT, "connector:http")


@pytest.fixture
def env(stack: Connections) -> Env:
    e = stack.env()
    return Env(bootstrap=e["KAFKA_BOOTSTRAP_SERVERS"], redis_url=e["REDIS_URL"])


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as srv:
        yield srv


@pytest.fixture
def commands(env: Env) -> Iterator[Reader]:
    env.create_topics({"http": 2, "email": 2})
    reader = Reader(env, env.topics.commands)
    yield reader
    reader.close()


def _worker(env: Env) -> InProcessWorker:
    from laneway.connectors.builtin.http import HttpConnector

    return InProcessWorker(env, {"http": HttpConnector()})


def _of(cmds: list[Record], instance: str) -> list[tuple[str, object]]:
    return [(c.intent, c.value.get("retries", c.value.get("errorCode")))
            for c in cmds if c.instance_id == instance]


def test_a_job_calls_the_far_side_and_completes_with_the_mapped_result(
        env: Env, server: RecordingServer, commands: Reader) -> None:
    # given a job of the http connector that posts and maps the answer
    job = job_record(server.url + "/orders", key=7, method="POST",
                     body='{"order": "{{ orderId }}"}',
                     response='{"createdId": "body.id", "status": "status"}')

    with _worker(env):
        env.produce(env.topics.jobs("http"), [encoded(job)])
        (cmd,) = commands.wait_for(lambda cs: len(cs) >= 1, message="COMPLETE_JOB")

    # then the far side got the call with the job's idempotency key
    (req,) = server.requests
    assert (req.method, req.body) == ("POST", b'{"order": "o-9"}')
    assert req.headers["idempotency-key"] == f"{job.instance_id}:7"
    # and the engine gets COMPLETE_JOB with the mapped variables, as the connector's agent
    assert (cmd.intent, cmd.instance_id, dict(cmd.value)) == (
        "COMPLETE_JOB", job.instance_id,
        {"jobKey": 7, "variables": {"createdId": "o-1", "status": 201}})
    assert cmd.principal == AGENT


def test_the_same_job_delivered_twice_calls_the_far_side_once(
        env: Env, server: RecordingServer, commands: Reader) -> None:
    # given one job record produced twice (as a redelivery would hand it over again)
    job = job_record(server.url + "/orders", method="POST")

    with _worker(env):
        env.produce(env.topics.jobs("http"), [encoded(job), encoded(job)])
        cmds = commands.wait_for(lambda cs: len(cs) >= 2, message="two answers")

    # then one HTTP call, and two identical COMPLETE_JOB commands (the engine applies one)
    assert server.per_key[f"{job.instance_id}:{job.key}"] == 1
    assert [c.intent for c in cmds] == ["COMPLETE_JOB", "COMPLETE_JOB"]
    assert cmds[0].to_json() == cmds[1].to_json()


def test_a_worker_killed_before_its_commit_is_replaced_without_a_second_call(
        env: Env, server: RecordingServer, commands: Reader, tmp_path: Path) -> None:
    # given a worker process that answered a job but had not committed its offset yet (it
    # commits once an hour here) when it was killed
    job = job_record(server.url + "/orders", method="POST")
    first = WorkerProcess(env, "http", tmp_path / "first.log",
                          LANEWAY_CONNECTOR_COMMIT_INTERVAL_S="3600")
    try:
        first.wait_healthy()
        env.produce(env.topics.jobs("http"), [encoded(job)])
        commands.wait_for(lambda cs: len(cs) >= 1, message="first answer")
    finally:
        first.stop(signal.SIGKILL)

    # when another worker takes the partitions over, and with them the job again
    second = WorkerProcess(env, "http", tmp_path / "second.log")
    try:
        second.wait_healthy()
        cmds = commands.wait_for(lambda cs: len(cs) >= 2, 60, "the replayed answer")
        replayed = second.metric("laneway_connectors_jobs_replayed_total")
    finally:
        assert second.stop() == 0, second.log.read_text()

    # then the side effect happened once, and the answer went out twice, identical
    assert server.per_key[f"{job.instance_id}:{job.key}"] == 1
    assert replayed == 1
    assert [c.intent for c in cmds] == ["COMPLETE_JOB", "COMPLETE_JOB"]
    assert cmds[0].to_json() == cmds[1].to_json()


def test_retries_report_each_failed_attempt_then_complete(
        env: Env, server: RecordingServer, commands: Reader) -> None:
    # given a far side that answers 503 twice, then 200, and three retries with a short backoff
    job = job_record(server.url + f"/flaky/2?i={uuid.uuid4().hex}", retries=3,
                     retryBackoff="PT0.2S")

    with _worker(env):
        env.produce(env.topics.jobs("http"), [encoded(job)])
        cmds = commands.wait_for(lambda cs: any(c.intent == "COMPLETE_JOB" for c in cs),
                                 message="COMPLETE_JOB after retries")

    assert _of(cmds, job.instance_id) == [("FAIL_JOB", 2), ("FAIL_JOB", 1),
                                          ("COMPLETE_JOB", None)]
    assert "503" in str(cmds[0].value["errorMessage"])
    assert len(server.requests) == 3


def test_exhausted_retries_end_with_no_retries_left(
        env: Env, server: RecordingServer, commands: Reader) -> None:
    job = job_record(server.url + "/down", retries=2, retryBackoff="PT0.2S")

    with _worker(env):
        env.produce(env.topics.jobs("http"), [encoded(job)])
        cmds = commands.wait_for(lambda cs: any(c.value.get("retries") == 0 for c in cs),
                                 message="FAIL_JOB with no retries")

    assert _of(cmds, job.instance_id) == [("FAIL_JOB", 1), ("FAIL_JOB", 0)]
    assert len(server.requests) == 2


def test_a_4xx_named_by_an_attribute_throws_a_bpmn_error(
        env: Env, server: RecordingServer, commands: Reader) -> None:
    job = job_record(server.url + "/bad", errorOn4xx="BAD_REQUEST",
                     response='{"reason": "body.error"}')

    with _worker(env):
        env.produce(env.topics.jobs("http"), [encoded(job)])
        (cmd,) = commands.wait_for(lambda cs: len(cs) >= 1, message="THROW_ERROR")

    assert (cmd.intent, dict(cmd.value)) == ("THROW_ERROR", {
        "jobKey": 1, "errorCode": "BAD_REQUEST", "errorMessage": "GET answered 400 Bad Request",
        "variables": {"reason": "amount must be positive"}})


def test_an_email_variable_holding_several_recipients_fails_the_job_for_good(
        env: Env, commands: Reader) -> None:
    # given an e-mail job whose `to` names one address by a placeholder, and a variable
    # holding three (a public form's e-mail field before it was strict); the SMTP server is
    # never reached (nothing listens on the port)
    from laneway.connectors.builtin.email import EmailConnector

    job = dataclasses.replace(
        job_record("unused", job_type="email", retries=3, retryBackoff="PT0.2S"),
        attributes={"laneway:to": "{{ applicant.email }}", "laneway:subject": "Permit",
                    "laneway:body": "Granted."},
        variables={"applicant": {"email": 'a@x.org, b@y.net, "Boss" <c@z.com>'}})

    with InProcessWorker(env, {"email": EmailConnector()},
                         LANEWAY_SECRET_SMTP=f"smtp://127.0.0.1:{free_port()}?from=n%40x.org"):
        env.produce(env.topics.jobs("email"), [encoded(job)])
        cmds = commands.wait_for(lambda cs: any(c.instance_id == job.instance_id for c in cs),
                                 message="FAIL_JOB")

    # then the job fails once with no retries left (an incident), saying why
    [fail] = [c for c in cmds if c.instance_id == job.instance_id]
    assert (fail.intent, fail.value["retries"]) == ("FAIL_JOB", 0)
    assert "{{ applicant.email }} in laneway:to to be one e-mail address" in str(
        fail.value["errorMessage"])


def test_an_undecodable_record_goes_to_the_dead_letter_topic_and_the_next_job_runs(
        env: Env, server: RecordingServer, commands: Reader) -> None:
    job = job_record(server.url + "/echo")
    dlq = Reader(env, env.topics.dlq)
    try:
        with _worker(env):
            env.produce(env.topics.jobs("http"), [(job.instance_id, b"\x00not a job"),
                                                  encoded(job)])
            commands.wait_for(lambda cs: len(cs) >= 1, message="the good job's answer")
            wait_until(lambda: dlq.poll() or dlq.raw, 30, message="dead letter")
    finally:
        dlq.close()

    ((value, headers),) = dlq.raw
    assert value == b"\x00not a job"
    info = read_dead_letter_headers(headers)
    assert (info["reason"], info["topic"]) == ("bad-marker", env.topics.jobs("http"))


def test_two_worker_processes_of_one_type_share_its_jobs(
        env: Env, server: RecordingServer, commands: Reader, tmp_path: Path) -> None:
    # given two workers for `http` (the topic has two partitions)
    workers = [WorkerProcess(env, "http", tmp_path / f"w{i}.log") for i in range(2)]
    try:
        for w in workers:
            w.wait_healthy()
        # the group has settled once each holds one partition
        wait_until(lambda: all('"status": "ok"' in w.get("/health")[1] for w in workers), 30)

        # when jobs of many instances arrive
        jobs = [job_record(server.url + "/echo") for _ in range(40)]
        env.produce(env.topics.jobs("http"), [encoded(j) for j in jobs])
        commands.wait_for(lambda cs: len(cs) >= 40, 60, "40 answers")

        # then both took some
        started = [w.metric("laneway_connectors_jobs_started_total") for w in workers]
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0], [w.log.read_text() for w in workers]
    assert sum(started) == 40
    assert all(n > 0 for n in started), started


def test_a_type_without_a_worker_does_not_hold_back_another(
        env: Env, server: RecordingServer, commands: Reader) -> None:
    # given a backlog of e-mail jobs that no worker serves
    env.produce(env.topics.jobs("email"),
                [encoded(job_record("unused", job_type="email")) for _ in range(200)])
    http_jobs = [job_record(server.url + "/echo") for _ in range(20)]

    # when http jobs arrive for the http worker, then they are all answered
    with _worker(env):
        env.produce(env.topics.jobs("http"), [encoded(j) for j in http_jobs])
        cmds = commands.wait_for(lambda cs: len(cs) >= 20, 30, "the http answers")

    assert {c.instance_id for c in cmds} == {j.instance_id for j in http_jobs}
    assert all(c.principal == AGENT for c in cmds)
