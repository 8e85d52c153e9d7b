"""The e2e benchmark's no-op job worker in a process of its own: `python -m benchmarks.e2e.worker`.

In the benchmark's process the worker shared the GIL and a core with the events reader and the
paced starter (about 0.7 CPU s per 1,000 instances for the three together on the shared 2-core
machine), so the benchmark measured itself as much as the engine. Here it is one member of the
group `--group` on `<prefix>jobs.<type>`, with the same semantics as the in-process worker
(`benchmarks.e2e.clients.NoopWorker`): COMPLETE_JOB as the e2e agent principal for every job,
offsets committed once the answers are acknowledged.

It stops, printing `answered <n>` on stdout and exiting 0, on SIGTERM or SIGINT, when the
process that started it (`--parent-pid`) is gone (so a benchmark killed with SIGKILL leaves no
worker behind: checked every poll, at most `--poll-s` apart), or after `--max-seconds`. It
exits 1 (traceback on stderr) when the worker failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from types import FrameType

from benchmarks.e2e.clients import NoopWorker
from laneway.topics import Topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e.worker",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True, help="the topics' prefix (e.g. 'e2e-x.')")
    parser.add_argument("--job-type", required=True)
    parser.add_argument("--group", required=True, help="the consumer group of every worker")
    parser.add_argument("--parent-pid", type=int, default=0,
                        help="stop when this process is no longer the parent (0: not checked)")
    parser.add_argument("--max-seconds", type=float, default=3600.0,
                        help="stop after this long whatever happens (default 3,600)")
    parser.add_argument("--poll-s", type=float, default=0.05,
                        help="longest wait for a first job, and so between the checks above")
    args = parser.parse_args(argv)
    if not 0 < args.max_seconds <= 86_400 or not 0 < args.poll_s <= 5:
        parser.error("expected 0 < --max-seconds <= 86,400 and 0 < --poll-s <= 5")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.monotonic() + args.max_seconds

    def stopping() -> bool:
        # the parent's death re-parents this process: getppid() changes
        return (stop.is_set() or time.monotonic() > deadline
                or (args.parent_pid > 0 and os.getppid() != args.parent_pid))

    worker = NoopWorker(args.bootstrap, Topics(args.prefix), args.job_type,
                        poll_s=args.poll_s, group=args.group, thread=False)
    try:
        worker.run(stopping)
    finally:
        worker.close()
    print(f"answered {worker.answered}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
