"""The Compose specification's JSON schema at a pinned version, for checking
docker-compose.yml (tests/unit/test_compose_schema.py).

The schema ships in the Go module of the Compose specification's reference library
(`schema/compose-spec.json` of github.com/compose-spec/compose-go/v2), so `go mod download`
fetches it from the Go module proxy at the pinned version, checked against the Go checksum
database as any module is, and it is cached beside the Go tools (scripts/gotools.py's
`cache_root`): one download per machine.

    python -m scripts.compose_schema      # fetch it if missing, print its path
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from scripts.gotools import ToolMissing, cache_root, run_go

__all__ = ["MODULE", "SCHEMA_PATH", "VERSION", "schema_file"]

MODULE = "github.com/compose-spec/compose-go/v2"
VERSION = "v2.16.2"
SCHEMA_PATH = "schema/compose-spec.json"
"""The schema's path inside the module."""

_TIMEOUT_S = 300.0


def schema_file(env: Mapping[str, str] | None = None) -> Path:
    """The cached schema, downloaded first if missing; `ToolMissing` says why it cannot be."""
    target = cache_root(env) / f"compose-spec-{VERSION}" / "compose-spec.json"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # outside any module (a go.mod around the working directory would be consulted)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as staging:
        listing = run_go(["mod", "download", "-json", f"{MODULE}@{VERSION}"], cwd=staging,
                         what=f"the Compose schema ({MODULE}@{VERSION})", timeout=_TIMEOUT_S)
        try:
            source = Path(json.loads(listing)["Dir"]) / SCHEMA_PATH
            staged = Path(staging) / "compose-spec.json"
            shutil.copyfile(source, staged)
        except (ValueError, KeyError, OSError) as exc:
            raise ToolMissing(f"{MODULE}@{VERSION} has no {SCHEMA_PATH}: {exc}") from exc
        # whole or not at all: a download killed halfway leaves nothing `schema_file` takes
        os.replace(staged, target)
    return target


if __name__ == "__main__":
    try:
        print(schema_file())
    except ToolMissing as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from exc
