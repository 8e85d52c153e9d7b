"""`laneway token --user NAME [...]`: a development token signed with the local stack's key.

Prints only the token and a newline, so `$(laneway token ...)` works in a shell. The key is
the one `make up` creates (`var/dev/jwt/signing-key.json`, or `LANEWAY_DEV_KEY_FILE`).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from laneway.auth import max_lifetime_s
from laneway.auth.dev import DEFAULT_SIGNING_KEY, KINDS, issue_token
from laneway.settings import SettingsError

__all__ = ["DEFAULT_KEY", "add_parser", "duration", "issue"]

DEFAULT_KEY = DEFAULT_SIGNING_KEY
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class TokenError(Exception):
    """The token cannot be issued (no key, unreadable key); the message says what to do."""


def duration(text: str) -> int:
    """Seconds from `8h`, `30m`, `45s`, `2d` or a bare number of seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive duration like 8h, 30m, 45s or 3600, but got {text!r}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def add_parser(commands: argparse._SubParsersAction[Any],
               parents: list[argparse.ArgumentParser]) -> None:
    """The `token` subcommand."""
    token = commands.add_parser(
        "token", parents=parents, help="print a development token for the local stack",
        description="Sign a JWT with the local stack's development key and print only the "
                    "token, so $(laneway token ...) works. Exit 2 when the key is missing.")
    token.add_argument("--user", required=True, help="the principal's id (the 'sub' claim)")
    token.add_argument("--persona", action="append", default=[], metavar="NAME",
                       help="a persona the principal holds (repeatable)")
    token.add_argument("--role", action="append", default=[], metavar="ROLE",
                       help="a role: modeler, reviewer, authorizer, operator, auditor, worker, "
                            "admin (repeatable)")
    token.add_argument("--group", action="append", default=[], metavar="GROUP",
                       help="a group the principal belongs to (repeatable)")
    token.add_argument("--kind", choices=KINDS, default="human",
                       help="human (default) or agent")
    token.add_argument("--name", help="a display name (the 'name' claim)")
    token.add_argument("--ttl", type=duration, default=8 * 3600, metavar="DURATION",
                       help="how long the token is valid: 8h (default), 30m, 45s, 2d, seconds")
    token.add_argument("--key", type=Path, metavar="FILE",
                       help=f"the private key (default: $LANEWAY_DEV_KEY_FILE or {DEFAULT_KEY} "
                            "under the current directory)")


def issue(args: argparse.Namespace, out: TextIO, environ: Mapping[str, str] | None = None,
          ) -> int:
    """Sign and print the token; raise `TokenError` when the key is missing or unusable."""
    env = os.environ if environ is None else environ
    key: Path = args.key or Path(env.get("LANEWAY_DEV_KEY_FILE", "").strip() or DEFAULT_KEY)
    if not key.is_file():
        raise TokenError(
            f"Expected the development signing key at {key}, but there is no such file: run "
            "`make up` in the repository (it creates var/dev/jwt/) or set LANEWAY_DEV_KEY_FILE")
    # Tokens must name what the services expect; the services read the same variables.
    try:
        longest = max_lifetime_s(env)
    except SettingsError as exc:
        raise TokenError(str(exc)) from exc
    if args.ttl > longest:
        # the services would refuse it (docs/people.md); say so here, not at the first call
        raise TokenError(f"Expected --ttl of at most {longest} s (LANEWAY_JWT_MAX_LIFETIME_S, "
                         f"which the services enforce), but got {args.ttl} s")
    issuer = env.get("LANEWAY_JWT_ISSUER", "").strip() or "laneway-dev"
    audience = env.get("LANEWAY_JWT_AUDIENCE", "").strip() or "laneway"
    try:
        token = issue_token(key, user=args.user, personas=args.persona, roles=args.role,
                            groups=args.group, kind=args.kind, ttl_s=args.ttl, issuer=issuer,
                            audience=audience, name=args.name)
    except OSError as exc:
        raise TokenError(f"Expected a readable key at {key}, but reading it failed: "
                         f"{exc.strerror or exc}") from exc
    except ValueError as exc:
        raise TokenError(str(exc)) from exc
    print(token, file=out)
    return 0
