"""`python -m scripts.stack up|down|status|env|topics|clean-topics|reset` (see
docs/local-stack.md)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from scripts.stack.config import Settings, StackError
from scripts.stack.stack import connections, down, reset, status, topics, up
from scripts.stack.topics import OLDER_THAN, clean_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.stack",
        description="Local Kafka (KRaft), PostgreSQL and Redis for Laneway.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing, start everything, create topics")
    sub.add_parser("down", help="stop what `up` started")
    sub.add_parser("status", help="show each component, its port and pid")
    env_p = sub.add_parser("env", help="print connection settings as NAME=value lines")
    env_p.add_argument("--export", action="store_true", help="prefix lines with `export `")
    sub.add_parser("topics", help="create missing Laneway topics and list them")
    clean_p = sub.add_parser(
        "clean-topics",
        help="delete every topic that is not the stack's (not under LANEWAY_TOPIC_PREFIX, "
             "not Kafka's `_` ones) and was not written for --older-than minutes: what tests "
             "and benchmarks left")
    clean_p.add_argument("--dry-run", action="store_true",
                         help="list the topics it would delete, delete nothing")
    clean_p.add_argument("--prefix", default="",
                         help="only topics whose name starts with this")
    clean_p.add_argument("--older-than", type=float, default=OLDER_THAN / 60, metavar="MINUTES",
                         help="keep a topic written or created within this many minutes (a "
                              "live test's or benchmark's; default %(default)g); 0 deletes "
                              "regardless of age, only while nothing else uses the broker")
    sub.add_parser("reset", help="stop everything and delete data and logs")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        if args.command == "up":
            started = time.monotonic()
            conns = up(settings)
            print(f"stack up in {time.monotonic() - started:.1f}s", file=sys.stderr)
            for name, value in {**conns.env(), **conns.telemetry_env()}.items():
                print(f"{name}={value}")
            if conns.traces_url:
                print(f"traces: Jaeger's query API at {conns.traces_url} (the console shows "
                      "them: /instances/<id>/trace)", file=sys.stderr)
        elif args.command == "down":
            down(settings)
        elif args.command == "status":
            rows = status(settings)
            for row in rows:
                print(row.line())
            return 0 if all(r.running or r.optional for r in rows) else 3
        elif args.command == "env":
            prefix = "export " if args.export else ""
            conns = connections(settings)
            for name, value in {**conns.env(), **conns.telemetry_env()}.items():
                print(f"{prefix}{name}={shlex.quote(value)}")
        elif args.command == "topics":
            for spec in topics(settings):
                extra = ",".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
                print(f"{spec.name:<32} partitions={spec.partitions:<3} {extra}")
        elif args.command == "clean-topics":
            if not 0 <= args.older_than <= 525_600:  # a year: a bound, and no NaN
                parser.error("--older-than: expected 0 to 525,600 minutes")
            cleaned = clean_topics(settings, dry_run=args.dry_run, prefix=args.prefix,
                                   older_than=60 * args.older_than)
            if args.dry_run:
                for name in cleaned.deleted:
                    print(name)
            for name, reason in cleaned.failed:
                print(f"not deleted: {name}: {reason}", file=sys.stderr)
            print(f"{'would delete' if args.dry_run else 'deleted'} {len(cleaned.deleted)} "
                  f"topic(s), kept {cleaned.kept} (the stack's own and Kafka's)"
                  + (f" and {cleaned.recent} written within {args.older_than:g} min or "
                     "undated" if cleaned.recent else "")
                  + (f", {len(cleaned.failed)} failed" if cleaned.failed else ""),
                  file=sys.stderr)
            return 1 if cleaned.failed else 0
        elif args.command == "reset":
            reset(settings)
    except StackError as exc:
        print(f"stack {args.command} failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
