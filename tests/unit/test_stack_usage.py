"""How the benchmarks find the broker's and PostgreSQL's processes and count their CPU
(scripts/stack/usage.py), with real processes standing in for the servers (the real ones:
tests/integration/test_stack_server_cpu.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack.config import Settings
from scripts.stack.kafka import MAIN_CLASS
from scripts.stack.usage import (
    JIT_THREADS,
    ServerCpu,
    kafka_server,
    listener_pid,
    postgres_server,
    stat,
    threads_cpu,
    tree_cpu,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="Linux /proc")

# A server stand-in: listens on a free loopback port, prints it, and, when told, forks a
# child that shares the socket (as a server's workers do) and waits for stdin to close.
LISTENER = """
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
child = os.fork() if sys.argv[1] == "fork" else 1
if child == 0:
    sys.stdin.read()
    os._exit(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""

# Burns `seconds` of CPU in a child process it waits for (so the child is reaped: its time
# is in this process's cutime), then in a second child it leaves running (which prints
# "ready" once it has burnt its share).
BURNER = """
import os, sys, time
def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
seconds = float(sys.argv[1])
pid = os.fork()
if pid == 0:
    burn(seconds)
    os._exit(0)
os.waitpid(pid, 0)
if os.fork() == 0:
    burn(seconds)
    print("ready", flush=True)
    sys.stdin.read()
    os._exit(0)
sys.stdin.read()
"""


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()  # the children read the same stdin: they end too
    proc.wait(30)


@pytest.fixture
def listening() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process whose command line names Kafka's main class, listening on a port."""
    proc = spawn(LISTENER, "fork", MAIN_CLASS)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield proc, port
    stop(proc)


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LANEWAY_STACK_DIR": str(tmp_path), **env})


def test_the_listener_is_the_eldest_process_that_holds_the_socket(
        listening: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = listening
    assert listener_pid(port) == proc.pid


def test_a_port_nobody_listens_on_has_no_listener(
        listening: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = listening
    stop(proc)
    assert listener_pid(port) is None


def test_the_broker_is_the_process_listening_on_the_bootstrap_port(
        tmp_path: Path, listening: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = listening
    found = kafka_server(settings(tmp_path), f"PLAINTEXT://localhost:{port},127.0.0.1:{port}")
    assert (found.pid, found.note) == (proc.pid, f"the process listening on port {port}")


def test_the_stacks_pid_file_names_the_broker_of_its_own_port(
        tmp_path: Path, listening: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = listening
    s = settings(tmp_path, LANEWAY_KAFKA_PORT=str(port))
    s.run_dir.mkdir(parents=True)
    (s.run_dir / "kafka.pid").write_text(f"{proc.pid}\n")
    found = kafka_server(s, f"127.0.0.1:{port}")
    assert (found.pid, found.note) == (proc.pid, "the stack's pid file")


def test_a_listener_that_is_not_the_server_is_not_taken_for_it(tmp_path: Path) -> None:
    proc = spawn(LISTENER, "single")
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    try:
        found = kafka_server(settings(tmp_path), f"127.0.0.1:{port}")
        assert found.pid is None
        assert found.note == f"not local (port {port} is pid {proc.pid}, not broker)"
        assert postgres_server(settings(tmp_path), f"postgresql://u:p@127.0.0.1:{port}/d").pid \
            is None
    finally:
        stop(proc)


@pytest.mark.parametrize("bootstrap", ["broker.example:9092", "127.0.0.1:9092,broker.example:9092"])
def test_a_broker_elsewhere_is_not_local(tmp_path: Path, bootstrap: str) -> None:
    found = kafka_server(settings(tmp_path), bootstrap)
    assert (found.pid, found.note) == (None, "not local (broker.example is not this machine)")


@pytest.mark.parametrize(("url", "why"), [
    ("postgresql://u:p@db.example:5432/d", "db.example is not this machine"),
    ("postgresql:///d", "a unix socket is not this machine"),  # no port to find it by
])
def test_a_postgres_elsewhere_is_not_local_and_has_no_cpu_figure(
        tmp_path: Path, url: str, why: str) -> None:
    found = postgres_server(settings(tmp_path), url)
    assert (found.pid, found.note) == (None, f"not local ({why})")
    usage = ServerCpu([found])
    assert usage.seconds() == {"postgres": None}
    assert usage.notes() == f"postgres not local ({why})"


def test_the_cpu_of_a_server_counts_its_children_the_live_and_the_ended() -> None:
    burn = 0.3
    proc = spawn(BURNER, str(burn))
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        own = stat(proc.pid)
        assert own is not None
        # the ended child's time is in the parent's reaped time, the live child's is its own
        assert own.reaped >= burn * 0.9
        total = tree_cpu(proc.pid)
        assert total is not None
        assert total >= own.own + own.reaped + burn * 0.9
    finally:
        stop(proc)
    assert tree_cpu(proc.pid) is None


def test_server_cpu_is_the_difference_over_the_window(
        tmp_path: Path, listening: tuple[subprocess.Popen[str], int]) -> None:
    _proc, port = listening
    usage = ServerCpu([kafka_server(settings(tmp_path), f"127.0.0.1:{port}")])
    seconds = usage.seconds()["broker"]
    assert seconds is not None
    assert 0 <= seconds < 0.5  # the stand-in only waits
    assert usage.notes() == ""


# A JVM's compiler thread stand-in: a thread named as HotSpot names it burns `seconds` of CPU
# (its own: thread_time).
COMPILER = """
import sys, threading, time
burnt = threading.Event()
def compile_():
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write("C2 CompilerThread0")
    end = time.thread_time() + float(sys.argv[1])
    while time.thread_time() < end:
        pass
    burnt.set()
    threading.Event().wait()  # alive: an ended thread's time leaves /proc/<pid>/task
threading.Thread(target=compile_, daemon=True).start()
burnt.wait()
print("ready", flush=True)
sys.stdin.read()
"""


def test_the_jit_compilers_share_is_counted_apart() -> None:
    proc = spawn(COMPILER, "0.3")
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        jit = threads_cpu(proc.pid, JIT_THREADS)
        assert jit >= 0.27
        assert threads_cpu(proc.pid, ("no such thread",)) == 0.0
    finally:
        stop(proc)
