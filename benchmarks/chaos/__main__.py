"""The chaos run: `make chaos`, `python -m benchmarks.chaos` (docs/chaos.md).

N instances (default 10,000; `--instances` or CHAOS_INSTANCES) of one diagram, start -> an
`http` connector job (to a local server that counts requests by Idempotency-Key) -> a user task
(completed through the worklist API by a person with the lane's persona) -> a message catch
(published through the API, correlated by key) -> a PT1S timer -> end, started through the API
at a steady rate while a chaos monkey SIGKILLs a random Laneway service every few seconds and
starts it again, and restarts the broker, PostgreSQL and Redis once each. Then a bounded
drain, and the checks of `benchmarks/chaos/checks.py`: the figures, and exit 1 when an
invariant fails (naming the instances).

Everything runs on a stack of its own (`<workdir>/stack`, free ports): never the shared one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.chaos.checks import SHOWN, Outcome, check
from benchmarks.chaos.driver import MESSAGE, Driver
from benchmarks.chaos.infra import PrivateStack
from benchmarks.chaos.monkey import Monkey
from laneway.bpmn import LANEWAY_NS
from scripts.services import SERVICES
from scripts.stack.config import REPO_ROOT
from scripts.stack.testing import unique_name
from tests.auth import ADMIN, auth_header
from tests.connector_servers import RecordingServer, recording_server
from tests.e2e.harness import Laneway

PERSONA = "Chaos Clerk"

DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:laneway="{ns}"
  id="chaos" targetNamespace="t">
  <message id="m" name="{message}">
    <extensionElements><zeebe:subscription correlationKey="=ref"/></extensionElements>
  </message>
  <process id="{pid}" isExecutable="true">
    <laneSet id="ls">
      <lane id="desk" name="{persona}" laneway:persona="{persona}">
        <flowNodeRef>s</flowNodeRef><flowNodeRef>call</flowNodeRef>
        <flowNodeRef>review</flowNodeRef><flowNodeRef>go</flowNodeRef>
        <flowNodeRef>pause</flowNodeRef><flowNodeRef>e</flowNodeRef>
      </lane>
    </laneSet>
    <startEvent id="s"/>
    <serviceTask id="call" laneway:type="http" laneway:method="POST"
      laneway:url="{url}/echo" laneway:body='{{"n": "{{{{ n }}}}"}}'/>
    <userTask id="review" name="Review"/>
    <intermediateCatchEvent id="go"><messageEventDefinition messageRef="m"/>
    </intermediateCatchEvent>
    <intermediateCatchEvent id="pause"><timerEventDefinition>
      <timeDuration>PT1S</timeDuration></timerEventDefinition></intermediateCatchEvent>
    <endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
    <sequenceFlow id="f2" sourceRef="call" targetRef="review"/>
    <sequenceFlow id="f3" sourceRef="review" targetRef="go"/>
    <sequenceFlow id="f4" sourceRef="go" targetRef="pause"/>
    <sequenceFlow id="f5" sourceRef="pause" targetRef="e"/>
  </process>
</definitions>"""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=_env_int("CHAOS_INSTANCES", 10_000))
    parser.add_argument("--rate", type=float, default=float(_env_int("CHAOS_RATE", 20)),
                        help="starts per second (CHAOS_RATE, default 20)")
    parser.add_argument("--kill-every", type=float, default=5.0,
                        help="mean seconds between two SIGKILLs (default 5)")
    parser.add_argument("--no-kills", action="store_true",
                        help="no SIGKILLs and no infrastructure restarts: a baseline")
    parser.add_argument("--drain", type=float, default=900.0,
                        help="seconds the instances get to finish after the last start")
    parser.add_argument("--stall", type=float, default=180.0,
                        help="end the drain when nothing completed for this long")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="state, logs and figures (default var/chaos/<time>)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the stack's data (Kafka, PostgreSQL) for a post-mortem")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args(argv)
    if args.instances < 1 or args.rate <= 0 or args.kill_every <= 0:
        parser.error("--instances, --rate and --kill-every must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # under the repository, not /tmp: PostgreSQL runs as its own user and must reach it
    workdir = (args.workdir or REPO_ROOT / "var" / "chaos" /
               time.strftime("%Y%m%d-%H%M%S")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"[chaos] {args.instances} instances at {args.rate:g}/s, seed {args.seed}, "
          f"in {workdir}", flush=True)
    # a SIGTERM (a timeout, a CI runner) unwinds like Ctrl-C: the stack is stopped below
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    stack = PrivateStack(workdir / "stack")
    lw: Laneway | None = None
    try:
        stack.up()
        with recording_server() as server:
            lw = Laneway(bootstrap=stack.settings.kafka_bootstrap,
                         database_url=stack.settings.database_url,
                         redis_url=stack.settings.redis_url, workdir=workdir / "laneway",
                         services=SERVICES, job_types=("http", "email"),
                         # the harness shortens the other groups' session timeouts (6 s);
                         # the worklist's too, so a killed member leaves as fast
                         env_overrides={"LANEWAY_CONNECTOR_TYPES": "http",
                                        "LANEWAY_WORKLIST_SESSION_TIMEOUT_MS": "6000"})
            lw.start(timeout=180)
            outcome = run(args, lw, stack, server, workdir)
        report(outcome, workdir, lw)
        return 0 if outcome.ok else 1
    finally:
        if lw is not None:
            lw.close(drop=False)
        stack.down(keep_data=args.keep)


def run(args: argparse.Namespace, lw: Laneway, stack: PrivateStack, server: RecordingServer,
        workdir: Path) -> Outcome:
    pid = unique_name("chaos").replace("-", "_")
    lw.deploy(DIAGRAM.format(ns=LANEWAY_NS, pid=pid, url=server.url, message=MESSAGE,
                             persona=PERSONA).encode(), name="chaos.bpmn")
    start_phase = args.instances / args.rate
    driver = Driver(base_url=lw.public_url, process_id=pid, instances=args.instances,
                    rate=args.rate, starter_headers=auth_header("chaos-starter"),
                    clerk_headers=auth_header("chaos-clerk", personas=[PERSONA]),
                    publisher_headers=ADMIN)
    infra = [] if args.no_kills else [(start_phase * 0.25, "kafka"),
                                      (start_phase * 0.5, "postgres"),
                                      (start_phase * 0.75, "redis")]
    monkey = Monkey(lw, stack, args.kill_every if not args.no_kills else 1e9, infra, args.seed)
    began = time.monotonic()
    driver.start()
    monkey.start()
    api = httpx.Client(base_url=lw.public_url, headers=ADMIN, timeout=30)
    try:
        # the start phase; the monkey's infrastructure restarts all happen, even when the
        # starts are over before their time (a small N)
        while not (driver.starts_done.is_set() and len(monkey.infra_done) == len(infra)):
            progress(driver, monkey, api, pid, began)
            if monkey.error is not None or driver.errors:
                break
            time.sleep(5)
        starts_s = time.monotonic() - began
        monkey.close()
        print(f"[chaos] chaos over after {starts_s:.0f}s; draining (at most {args.drain:.0f}s)",
              flush=True)
        drain_began = time.monotonic()
        last, moved = -2, time.monotonic()
        while time.monotonic() - drain_began < args.drain:
            monkey.heal()
            done, total = progress(driver, monkey, api, pid, began)
            if driver.starts_done.is_set() and total >= len(driver.figures.acknowledged) \
                    and done == total:
                break
            if done != last:
                last, moved = done, time.monotonic()
            elif time.monotonic() - moved >= args.stall:
                print(f"[chaos] nothing completed for {args.stall:.0f}s: stuck", flush=True)
                break
            time.sleep(5)
        drain_s = time.monotonic() - drain_began
        driver.close()
        outcome = check(lw, api, pid, driver.figures.acknowledged, server)
    finally:
        driver.close()
        monkey.close()
        api.close()
    total_s = time.monotonic() - began
    counts = driver.figures.counts
    outcome.figures = {
        "instances asked for": args.instances,
        "start rate (per s)": args.rate,
        **outcome.figures,
        "starts retried (answer lost: may start twice)": counts["starts_ambiguous"],
        "user tasks completed (200)": counts["tasks_completed"],
        "task completions refused as already done (409)": counts["tasks_already_completed"],
        "messages published (202; instances)": f"{counts['messages_published']} "
                                                f"({len(driver.figures.published)})",
        "client retries (5xx or no connection)": sum(n for k, n in counts.items()
                                                     if "_retried_" in k),
        "client retries by cause": dict(sorted((k, n) for k, n in counts.items()
                                               if "_retried_" in k)),
        "refused requests (4xx, not retried)": counts["refused"],
        "SIGKILLs": f"{sum(monkey.kills.values())} ({dict(sorted(monkey.kills.items()))})",
        "service restarts that failed": monkey.restart_failures,
        "infrastructure restarts (s)": {k: round(v, 1) for k, v in stack.restarts.items()},
        "start phase + chaos (s)": round(starts_s, 1),
        "drain (s)": round(drain_s, 1),
        "whole run (s)": round(total_s, 1),
        "seed": args.seed,
    }
    if driver.figures.refusals:
        outcome.figures["first refusals"] = driver.figures.refusals[:10]
    errors = [repr(e) for e in driver.errors] + ([repr(monkey.error)] if monkey.error else [])
    if errors:
        outcome.failures["the run itself failed"] = errors
    (workdir / "monkey.log").write_text("\n".join(monkey.log) + "\n")
    return outcome


def progress(driver: Driver, monkey: Monkey, api: httpx.Client, pid: str,
             began: float) -> tuple[int, int]:
    """One progress line; (completed, all) instances of the process in the API's projection
    (-1, -1 while the audit service is away)."""
    try:
        def count(status: str | None) -> int:
            params: dict[str, Any] = {"processId": pid, "limit": 1}
            if status:
                params["status"] = status
            response = api.get("/api/instances", params=params)
            response.raise_for_status()
            return int(response.json()["count"])
        done, total = count("COMPLETED"), count(None)
    except (httpx.HTTPError, ValueError, KeyError):
        done, total = -1, -1
    c = driver.figures.counts
    print(f"[chaos] {time.monotonic() - began:6.0f}s started {len(driver.figures.acknowledged)}"
          f" tasks {c['tasks_completed']} messages {c['messages_published']} "
          f"completed {done}/{total} kills {sum(monkey.kills.values())}", flush=True)
    return done, total


def report(outcome: Outcome, workdir: Path, lw: Laneway) -> None:
    print("\n== chaos run figures", flush=True)
    for name, value in outcome.figures.items():
        print(f"  {name:<48} {value}")
    if outcome.ok:
        print("== every invariant holds")
    else:
        print("== FAILED invariants")
        for name, ids in outcome.failures.items():
            shown = ", ".join(ids[:SHOWN]) + (f", ... ({len(ids)} in all)"
                                               if len(ids) > SHOWN else "")
            print(f"  {name}: {shown}")
        print(f"  service logs: {lw.workdir / 'logs'}; monkey: {workdir / 'monkey.log'}")
    (workdir / "figures.json").write_text(json.dumps(
        {"figures": outcome.figures, "failures": outcome.failures}, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
