"""The `laneway` command: `laneway validate FILE...`, `laneway run FILE [options]`,
`laneway token --user NAME [options]`, `laneway templates [--out DIR]`, and the operator
commands over the HTTP API (`deploy`, `definitions`, `lifecycle`, `start`, `publish`,
`tasks`, `instances`, `incidents`: `laneway.cli._ops`).

Exit codes: 0 fine (valid, or the instance completed), 1 problems in a diagram or an incident
(or the API refused), 2 bad usage or unreadable input (and internal errors), 3 the instance
waits on something the options did not provide (or the API cannot be reached). See docs/cli.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from laneway.cli import _ops, _run, _templates, _token
from laneway.cli._api import ApiRefused, Unreachable
from laneway.cli._validate import validate_files
from laneway.problems import UnreadableInput

__all__ = ["main"]

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """Reads `@FILE` arguments one per line, skipping blank lines and `#` comments, so an
    example's options can live next to it (`examples/<name>/run.args`)."""

    def convert_arg_line_to_args(self, arg_line: str) -> list[str]:
        line = arg_line.strip()
        if not line or line.startswith("#"):
            return []
        return [line]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `laneway` command."""
    parser = _Parser(prog="laneway", fromfile_prefix_chars="@",
                     description="Validate and run BPMN 2.0 diagrams; sign development tokens; "
                                 "operate a running Laneway over its HTTP API.")
    # On the subcommands too, so `laneway run f.bpmn --debug` works; SUPPRESS keeps the
    # top-level value when the subcommand does not see the flag.
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an internal error")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the traceback of an internal error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "validate", parents=[debug], help="check diagrams: parse, validate, deploy",
        description="Exit 0 when every file can be deployed and run, 1 with one "
                    "'FILE:LINE: element 'ID': message' line per problem, 2 when a file "
                    "cannot be read.")
    check.add_argument("files", nargs="+", metavar="FILE", help="a BPMN 2.0 XML file")

    run = commands.add_parser(
        "run", parents=[debug], help="run instances in process, printing events as JSON",
        description="Deploy the files together, start one instance (or one per --start) and "
                    "drive them with the given answers. Exit 0 when every instance of the run "
                    "completed, 1 on diagram problems or an incident, 3 when one waits on "
                    "something the options did not provide (stderr names the option). The "
                    "files come before the options. Options may be read from a file: @FILE, "
                    "one argument per line.")
    run.add_argument("files", nargs="+", metavar="FILE",
                     help="BPMN 2.0 XML files, deployed together (partners, called processes)")
    run.add_argument("--process", metavar="ID",
                     help="the process to start (default: the first executable one of the "
                          "first file, unless --start names others)")
    run.add_argument("--start", action="append", type=_run.start_option,
                     metavar="PROCESS_ID[:START_EVENT_ID][=JSON]",
                     help="start an instance of this process too, with these variables over "
                          "--var (repeatable; all start together)")
    run.add_argument("--signal", action=_run.InOrder, type=_run.signal_option,
                     metavar="NAME[=JSON]",
                     help="broadcast a signal once nothing else moves (repeatable; sent with "
                          "the --message options in the order written)")
    run.add_argument("--start-event", metavar="ID",
                     help="the start event to start at (default: the none start event, or "
                          "the only start event)")
    run.add_argument("--var", action="append", type=_run.var_option, metavar="NAME=JSON",
                     help="a start variable (repeatable)")
    run.add_argument("--complete", action="append", type=_run.complete_option,
                     metavar="TASK_ID=JSON",
                     help="complete user task TASK_ID with this JSON object; repeat for a task "
                          "that runs several times (used in order, the last one again after)")
    run.add_argument("--jobs", action="append", type=_run.jobs_option,
                     metavar="auto|TYPE=JSON",
                     help="complete jobs of TYPE with this JSON object as result ('errorCode' "
                          "throws a BPMN error, 'flows' answers a decision, 'fail' fails the "
                          "job); 'auto' completes every other type with an empty result")
    run.add_argument("--timers", choices=("instant", "real"), default="instant",
                     help="fire timers at once in simulated time (default), or wait for them")
    run.add_argument("--message", action=_run.InOrder, type=_run.message_option,
                     metavar="NAME[:KEY]=JSON",
                     help="publish a message once nothing else moves (repeatable)")
    run.add_argument("--max-commands", type=_run.positive_int, default=100_000, metavar="N",
                     help="stop a run that is still moving after N commands (default 100000)")

    _token.add_parser(commands, [debug])
    _templates.add_parser(commands, [debug])
    _ops.add_parsers(commands, [debug])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits by itself: 2 after printing the usage and the error, 0 after --help.
        # Returned, so that main() can be called in process like any function.
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "validate":
            return validate_files(args.files, out, err)
        if args.command == "token":
            return _token.issue(args, out)
        if args.command == "templates":
            return _templates.run(args, out, err)
        if args.command in _ops.COMMANDS:
            return _ops.run(args, out)
        return _run.run_file(_run.RunOptions.from_namespace(args), out, err)
    except UnreadableInput as exc:
        print(f"laneway {args.command}: {exc}", file=err)
        return EXIT_USAGE
    except (_run.UsageError, _token.TokenError, _ops.OpsUsageError) as exc:
        print(f"laneway {args.command}: {exc}", file=err)
        return EXIT_USAGE
    except ApiRefused as exc:
        print(f"laneway {args.command}: {exc}", file=err)
        return EXIT_REFUSED
    except Unreachable as exc:
        print(f"laneway {args.command}: {exc}", file=err)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print(f"laneway {args.command}: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`laneway run ... | head`): point stdout at /dev/null so the
        # interpreter's final flush does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_USAGE
    except Exception as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or "no message"
        print(f"laneway {args.command}: internal error: {type(exc).__name__}: {message} "
              "(run again with --debug for the traceback)", file=err)
        return EXIT_USAGE
