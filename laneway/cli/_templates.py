"""`laneway templates`: write the Camunda Modeler element templates of the installed connectors
and trigger types (laneway/element_templates.py), or with `--check` say whether a folder holds
exactly them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from laneway.connectors._registry import discover
from laneway.element_templates import templates, write
from laneway.triggers._registry import installed_triggers

DEFAULT_DIR = "element-templates"


def add_parser(commands: argparse._SubParsersAction[Any],
               parents: list[argparse.ArgumentParser]) -> None:
    """The `templates` subcommand."""
    cmd = commands.add_parser(
        "templates", parents=parents,
        help="write Camunda Modeler element templates of the connectors and triggers",
        description="One JSON file per installed connector and trigger type that declares "
                    "its attributes, made from that declaration. Exit 0 when written (or, "
                    "with --check, when the folder holds them unchanged), 1 when --check "
                    "finds a file missing or different.")
    cmd.add_argument("--out", type=Path, default=Path(DEFAULT_DIR), metavar="DIR",
                     help=f"the folder to write into (default {DEFAULT_DIR})")
    cmd.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 when a file in DIR is missing or differs")


def current() -> dict[str, str]:
    """The templates of what is installed: file name -> text."""
    return templates(discover().connectors.values(), installed_triggers().triggers.values())


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Write (or check) the templates; the exit code."""
    files = current()
    directory: Path = args.out
    if args.check:
        stale = [name for name, text in files.items()
                 if not (directory / name).is_file()
                 or (directory / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{directory / name}: missing or out of date; run laneway templates "
                  f"--out {directory}", file=err)
        return 1 if stale else 0
    for path in write(directory, files):
        print(path, file=out)
    return 0
