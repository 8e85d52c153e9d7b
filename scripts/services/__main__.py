"""`python -m scripts.services up|down|status|logs` (see docs/local-stack.md, "Services")."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scripts.edge import Edge, edge_port
from scripts.services import control
from scripts.services.deploy import deploy, example_files
from scripts.services.supervisor import SERVICES, ServiceError, ServiceStatus, Supervisor
from scripts.services.watch import LivenessPolicy, start_watcher, stop_watcher, watch_forever
from scripts.stack import Settings as StackSettings
from scripts.stack.config import REPO_ROOT, StackError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.services",
        description="The Laneway services as local background processes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up_p = sub.add_parser("up", help="start what is not running, wait for health, deploy examples")
    up_p.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("LANEWAY_SERVICES_TIMEOUT", "90")),
        help="seconds to wait for every /health to answer 200 (LANEWAY_SERVICES_TIMEOUT, 90)",
    )
    up_p.add_argument("--no-deploy", action="store_true", help="do not deploy examples/**/*.bpmn")
    sub.add_parser("down", help="stop the watcher, the edge and the services (SIGTERM, then "
                                "SIGKILL after 10 s)")
    sub.add_parser("watch", help="restart a service whose /health fails (what `up` leaves "
                                 "running in the background; LANEWAY_LIVENESS_*)")
    sub.add_parser("status", help="each service and the edge: running/stopped, pid, port, "
                                  "health")
    logs_p = sub.add_parser("logs", help="the last lines of each service's log")
    logs_p.add_argument("names", nargs="*", metavar="SERVICE", help="default: every service")
    logs_p.add_argument("-n", "--lines", type=int, default=20)
    logs_p.add_argument("-f", "--follow", action="store_true", help="follow (tail -F)")
    args = parser.parse_args(argv)
    unknown = [n for n in getattr(args, "names", []) if n not in SERVICES]
    if unknown:
        parser.error(f"unknown service {unknown[0]!r}; choose from {', '.join(SERVICES)}")

    try:
        supervisor = Supervisor.from_env()
        edge = supervisor.edge(edge_port(), allow_install=StackSettings.from_env().allow_install)
        if args.command == "up":
            return _up(supervisor, edge, args.timeout, deploy_examples=not args.no_deploy)
        if args.command == "watch":
            watch_forever(supervisor, SERVICES, LivenessPolicy.from_env(os.environ))
            return 0
        if args.command == "down":
            stopped = stop_watcher(supervisor)
            if stopped is not None:
                control.log(f"stopped the watcher (pid {stopped})")
            control.down(supervisor, SERVICES, edge)
        elif args.command == "status":
            rows = control.status(supervisor, SERVICES)
            for row in rows:
                print(row.line())
            edge_pid, edge_health = edge.pid(), edge.status()
            print(ServiceStatus("edge", edge.port, edge_pid, edge_health).line()
                  + f"   (the public URL: {edge.url})")
            return 0 if all(r.healthy for r in rows) and edge_health == "ok" else 3
        elif args.command == "logs":
            return _logs(supervisor, args.names or list(SERVICES), args.lines, args.follow)
    except (ServiceError, StackError) as exc:
        print(f"services {args.command} failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _up(supervisor: Supervisor, edge: Edge, timeout: float, *, deploy_examples: bool) -> int:
    began = time.monotonic()
    result = control.up(supervisor, SERVICES, timeout, edge)
    control.log(
        f"services healthy in {time.monotonic() - began:.1f}s (started "
        f"{len(result.started)}, restarted {len(result.restarted)}, kept {len(result.kept)}); "
        f"edge {result.edge} on {edge.url}"
    )
    LivenessPolicy.from_env(os.environ)  # bad settings fail here, not in the background
    watcher, started = start_watcher(supervisor)
    control.log(f"watcher {'started' if started else 'kept'} (pid {watcher}, log "
                f"{_show(supervisor.logs_dir / 'watch.log')}): a service whose /health fails "
                "is restarted")
    api = os.environ.get("LANEWAY_URL", "").strip() or edge.url
    if deploy_examples:
        deployed = deploy(api, example_files())
        deploy_note = ", ".join(d.label() for d in deployed) or "nothing (no examples/**/*.bpmn)"
    else:
        deploy_note = "skipped (--no-deploy)"

    print(f"Laneway is up: open {api}  (the console; the API's pages: {api.rstrip('/')}/docs)")
    print(
        "  "
        + " · ".join(f"{name} {supervisor.ports[name]} {result.health[name]}" for name in SERVICES)
        + f" · edge {edge.port} ok"
    )
    print(f"  deployed: {deploy_note}")
    traces = supervisor.env.get("LANEWAY_TRACES_QUERY_URL", "").strip()
    if traces:
        print(f"  traces: {traces}  (Jaeger's query API; the console shows an instance's trace: "
              f"{api.rstrip('/')}/instances/<id>/trace)")
    else:
        print("  traces: off (Jaeger does not run: `make up` said why)")
    print(f"  logs: {_show(supervisor.logs_dir)}/   stop: make down")
    print("  sign in as a development user (carla is a case worker, sam a supervisor, ana a "
          "modeler, ben a reviewer); the public form: "
          f"{api.rstrip('/')}/forms/permit")
    print("  a token for curl: .venv/bin/laneway token --user carla --persona 'Case Worker'"
          "   (README: walk through the permit example)")
    print(f"  processes that start themselves (examples/triggers): sign in as olga and open "
          f"{api.rstrip('/')}/schedules (docs/triggers.md)")
    return 0


def _logs(supervisor: Supervisor, names: list[str], lines: int, follow: bool) -> int:
    files = [supervisor.log_file(name) for name in names]
    if follow:
        present = [str(f) for f in files if f.exists()]
        if not present:
            print("no service logs yet", file=sys.stderr)
            return 1
        os.execvp("tail", ["tail", "-n", str(lines), "-F", *present])
    for name, path in zip(names, files, strict=True):
        if path.exists():
            print(f"==> {_show(path)} <==")
            print(supervisor.log_tail(name, lines))
    return 0


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
