"""The e2e benchmark's no-op worker processes (benchmarks/e2e/worker.py) are bounded: they stop
with the benchmark's block, and by themselves when the benchmark's process is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.e2e.clients import noop_worker
from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack.config import REPO_ROOT
from scripts.stack.testing import unique_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

JOB_TYPE = "noop"


@pytest.fixture
def topics(stack: Connections) -> Iterator[Topics]:
    """A prefix with its jobs topic of 2 partitions (deleted at the end)."""
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers, "log_level": 0})
    topics = Topics(unique_name("test.benchworker") + ".")
    name = topics.jobs(JOB_TYPE)
    admin.create_topics([NewTopic(name, 2, 1)], operation_timeout=30)[name].result(30)
    yield topics
    admin.delete_topics([name], operation_timeout=30)[name].result(30)


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_worker_processes_join_one_group_and_stop_with_the_block(
        stack: Connections, topics: Topics) -> None:
    with noop_worker(stack.kafka_bootstrap_servers, topics, JOB_TYPE, procs=2) as workers:
        # the block is entered once the group is stable with both, each owning a partition
        assert len(workers.pids) == 2
        assert not any(_gone(pid) for pid in workers.pids)
    assert all(_gone(pid) for pid in workers.pids)


def test_a_worker_process_stops_when_its_parent_is_killed(
        stack: Connections, topics: Topics) -> None:
    # a parent that starts a worker, says its pid and waits; killed with SIGKILL, it runs no
    # cleanup, so only the worker's own check can stop it
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import os, subprocess, sys\n"
         "p = subprocess.Popen([sys.executable, '-m', 'benchmarks.e2e.worker', '--bootstrap', "
         f"{stack.kafka_bootstrap_servers!r}, '--prefix', {topics.prefix!r}, '--job-type', "
         f"{JOB_TYPE!r}, '--group', {unique_name('test.benchworker')!r}, "
         "'--parent-pid', str(os.getpid())])\n"
         "print(p.pid, flush=True)\n"
         "sys.stdin.read()\n"],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    worker = 0
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert not _gone(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        wait_until(lambda: _gone(worker), 30, 0.05, "the orphaned worker stopped")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)
        if worker and not _gone(worker):  # the test failed: no worker left behind for an hour
            os.kill(worker, signal.SIGKILL)
