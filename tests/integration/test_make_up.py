"""`make up`'s service supervisor: start every service, check health, deploy, restart, stop.

Runs the same code as `python -m scripts.services up|status|down` against the real stack, on
free ports with a temporary run and log directory, its own topic prefix and its own PostgreSQL
schema, so it never meets the services of a developer's `make up`.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from psycopg import sql

from laneway.service_schemas import SERVICES_WITH_TABLES, schema_name
from scripts.edge import Edge
from scripts.services import SERVICES, ServiceError, Supervisor, down, status, up
from scripts.services.deploy import deploy, example_files
from scripts.services.health import probe
from scripts.services.watch import LivenessPolicy, Watcher
from scripts.stack import Connections
from scripts.stack import Settings as StackSettings
from scripts.stack.proc import pid_alive, port_open
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.topics import ensure_topics
from tests.auth import auth_header
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def supervisor(stack: Connections, tmp_path: Path) -> Iterator[Supervisor]:
    prefix = unique_name("test.up") + "."
    schema = unique_name("test_up").replace("-", "_")
    ensure_topics(
        StackSettings.from_env(
            {**stack.env(), "LANEWAY_TOPIC_PREFIX": prefix, "LANEWAY_PARTITIONS": "1"}
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "LANEWAY_ENV"}
    env.update(stack.env())
    env.update(
        {"LANEWAY_TOPIC_PREFIX": prefix, "LANEWAY_DB_SCHEMA": schema, "PYTHONUNBUFFERED": "1"}
    )
    sup = Supervisor(
        run_dir=tmp_path / "run",
        logs_dir=tmp_path / "logs",
        env=env,
        ports={name: free_port() for name in SERVICES},
        stop_grace_s=10.0,
    )
    try:
        yield sup
    finally:
        down(sup, SERVICES)
        admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
        names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(prefix)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                future.result(timeout=30)
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            # each service's own schema under the test's base
            for name in SERVICES_WITH_TABLES:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema_name(schema, name))))


def test_up_starts_every_service_then_rerun_keeps_them_and_a_killed_one_comes_back(
    supervisor: Supervisor,
) -> None:
    names = list(SERVICES)
    edge = supervisor.edge(free_port())
    try:
        _up_keep_revive_down(supervisor, names, edge)
    finally:
        edge.down()


def _up_keep_revive_down(supervisor: Supervisor, names: list[str], edge: Edge) -> None:
    # given nothing running, when up runs, then every service answers 200 on /health
    first = up(supervisor, names, timeout=60, edge=edge)
    assert first.started == tuple(names)
    assert first.health == dict.fromkeys(names, "ok")
    for name in names:
        assert probe(supervisor.ports[name]) == "ok", name
        assert supervisor.log_file(name).is_file()
    rows = {row.name: row for row in status(supervisor, names)}
    assert all(rows[name].running and rows[name].healthy for name in names)
    pids = {name: rows[name].pid for name in names}

    # and the examples deploy through the API, once, and are AUTHORIZED (ana deploys, ben
    # approves and authorizes); the second time nothing is new and nothing changes
    lines: list[str] = []
    deployed = deploy(supervisor.url("definitions"), example_files(), echo=lines.append)
    assert {d.process_id for d in deployed} >= {"order", "permit", "reminder"}
    assert all(d.new and d.version == 1 for d in deployed)
    assert {d.process_id: d.state for d in deployed} == {
        d.process_id: "AUTHORIZED" for d in deployed}, [d.label() for d in deployed]
    assert len(lines) == len(deployed)
    assert all("AUTHORIZED" in line for line in lines)
    again_deployed = deploy(supervisor.url("definitions"), example_files(), echo=None)
    assert [(d.process_id, d.version, d.new, d.state) for d in again_deployed] == [
        (d.process_id, d.version, False, "AUTHORIZED") for d in deployed
    ]
    history = httpx.get(
        f"{supervisor.url('definitions')}/api/definitions/order/versions/1/history",
        headers=auth_header("someone"), timeout=10).json()
    assert [(s["to"], s["principal"]["id"]) for s in history["steps"]] == [
        ("DRAFT", "ana"), ("REVIEW", "ana"), ("APPROVED", "ben"), ("AUTHORIZED", "ben")]

    # and the forms beside a diagram are uploaded under their file names
    for form in ("permit-application", "permit-review", "permit-decision"):
        got = httpx.get(f"{supervisor.url('definitions')}/api/form-schemas/{form}",
                        headers=auth_header("someone"), timeout=10)
        assert got.status_code == 200, (form, got.text)

    # and the edge in front of them sends each path of the table to its service
    assert first.edge == "started"
    someone = auth_header("someone", roles=["auditor"])
    through = {path: httpx.get(f"{edge.url}{path}", headers=someone, timeout=10)
               for path in ("/api/definitions", "/api/tasks", "/api/instances",
                            f"/api/instances/{uuid.uuid4()}/history", "/docs/worklist")}
    assert {p: r.status_code for p, r in through.items()} == {
        "/api/definitions": 200, "/api/tasks": 200, "/api/instances": 200,
        next(p for p in through if p.endswith("/history")): 404, "/docs/worklist": 200}
    assert {d["processId"] for d in through["/api/definitions"].json()} >= {"order", "permit"}
    started = httpx.post(f"{edge.url}/api/instances", json={"processId": "order"},
                         headers=auth_header("ana", roles=["modeler"]), timeout=10)
    assert started.status_code == 201, started.text

    # when up runs again, then it changes nothing
    again = up(supervisor, names, timeout=60, edge=edge)
    assert again.edge == "kept"
    assert (again.started, again.restarted, again.kept) == ((), (), tuple(names))
    assert {row.name: row.pid for row in status(supervisor, names)} == pids

    # given one service killed with SIGKILL, when up runs, then it is started again
    victim = "worklist"
    os.kill(pids[victim] or 0, signal.SIGKILL)
    wait_until(lambda: supervisor.pid(victim) is None, 10, message=f"{victim} gone")
    assert not status(supervisor, [victim])[0].running
    revived = up(supervisor, names, timeout=60, edge=edge)
    assert revived.started == (victim,)
    assert set(revived.kept) == set(names) - {victim}
    new_pid = supervisor.pid(victim)
    assert new_pid is not None
    assert new_pid != pids[victim]
    assert probe(supervisor.ports[victim]) == "ok"

    # when down runs, then every service stops, its pid file goes and its port is free
    assert set(down(supervisor, names)) == set(names)
    for name in names:
        assert supervisor.pid(name) is None
        assert not supervisor.pid_file(name).exists()
        port = supervisor.ports[name]
        wait_until(lambda p=port: not port_open(p), 10, message=f"{name}'s port {port} free")
    assert all(not row.running for row in status(supervisor, names))
    # and the edge stops with them when given
    assert down(supervisor, names, edge) == ["edge"]
    assert edge.pid() is None


def fake_tree(root: Path, name: str, main: str) -> Path:
    """A source tree whose `python -m services.<name>` runs `main` instead."""
    package = root / "services" / name
    package.mkdir(parents=True)
    (root / "services" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(textwrap.dedent(main))
    return root


def fake_supervisor(tmp_path: Path, name: str, main: str) -> Supervisor:
    return Supervisor(
        run_dir=tmp_path / "run",
        logs_dir=tmp_path / "logs",
        env={"PATH": os.environ.get("PATH", "")},
        ports={name: free_port()},
        cwd=fake_tree(tmp_path / "tree", name, main),
    )


def test_up_fails_with_the_exit_code_and_log_of_a_service_that_exits_at_once(
    tmp_path: Path,
) -> None:
    # given a `services.worklist` that prints a reason and exits 3
    sup = fake_supervisor(
        tmp_path,
        "worklist",
        """\
        import sys
        print("cannot reach the database", flush=True)
        sys.exit(3)
        """,
    )

    # when up runs, then it fails at once naming the exit code and quoting the log
    with pytest.raises(ServiceError) as raised:
        up(sup, ["worklist"], timeout=30)

    message = str(raised.value)
    assert "worklist exited with code 3 while starting" in message
    assert "cannot reach the database" in message
    assert sup.pid("worklist") is None


def test_up_fails_at_its_deadline_naming_the_unhealthy_service_and_its_log(
    tmp_path: Path,
) -> None:
    # given a `services.audit` that runs but answers 503 on /health
    sup = fake_supervisor(
        tmp_path,
        "audit",
        """\
        import os
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Sick(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(503)
                self.end_headers()
                self.wfile.write(b'{"status": "unhealthy"}')

            def log_message(self, *args):
                pass

        print("waiting for Kafka", flush=True)
        HTTPServer(("127.0.0.1", int(os.environ["LANEWAY_HTTP_PORT"])), Sick).serve_forever()
        """,
    )
    try:
        # when up runs with a short deadline, then it fails naming the service, what its
        # /health answered and the tail of its log, and leaves it running for a look
        with pytest.raises(ServiceError) as raised:
            up(sup, ["audit"], timeout=2)
        message = str(raised.value)
        assert "not healthy within 2s: audit" in message
        assert 'unhealthy (503 {"status": "unhealthy"})' in message
        assert "waiting for Kafka" in message
        assert sup.pid("audit") is not None
    finally:
        down(sup, ["audit"])
    assert sup.pid("audit") is None


def test_the_watcher_restarts_a_service_whose_liveness_fails(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture,
) -> None:
    # given a healthy engine, watched with a short probe period
    up(supervisor, ["engine"], timeout=60)
    old = supervisor.pid("engine")
    assert old is not None
    policy = LivenessPolicy(period_s=0.2, timeout_s=0.5, failures=3, backoff_s=5,
                            max_restarts=2)
    watcher = Watcher(supervisor, ["engine"], policy)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # when the process stops answering (SIGSTOP: alive, but /health times out)
        os.kill(old, signal.SIGSTOP)

        # then the watcher restarts it, and the new process is healthy
        wait_until(lambda: supervisor.pid("engine") not in (None, old), 60, 0.1,
                   "the engine restarted")
        wait_until(lambda: probe(supervisor.ports["engine"]) == "ok", 60, 0.1,
                   "the restarted engine healthy")
    finally:
        stop.set()
        thread.join(30)
    assert not pid_alive(old)  # stopped and reaped
    assert watcher.restarts == {"engine": 1}
    assert f"engine: restarting (pid {old}, no answer; restart 1 of at most 2)" in caplog.text
