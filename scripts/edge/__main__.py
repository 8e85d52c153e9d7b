"""`python -m scripts.edge render [--check]`: write (or check) the edge configs generated from
edge/routes.toml: edge/nginx.compose.conf (docker compose) and helm/templates/edge.yaml (the
chart's edge). The local edge's config is written by `make up` itself (scripts/edge/process.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scripts.edge.generated import generated_files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.edge",
                                     description="The edge's configs, from edge/routes.toml.")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write the compose and Helm configs of the edge")
    render.add_argument("--check", action="store_true",
                        help="only check that the committed files are current (exit 1 if not)")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated_files().items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run python -m scripts.edge render): {', '.join(stale)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
