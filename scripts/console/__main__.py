"""`python -m scripts.console build|browser`: what `make console` and `make test` run.

build   install the console's npm packages from its lock file when the lock changed (`npm
        ci`), then bundle it into console/dist when a source is newer than the last build;
        Node.js and npm come from Debian's packages when they are missing.
browser make sure Debian's Chromium is at /usr/bin/chromium for the console's tests
        (Playwright drives it; no browser is downloaded).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from scripts.stack.config import Settings, StackError
from scripts.stack.proc import apt_install, log, run

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "console"
DIST_STAMP = CONSOLE / "dist" / "BUILD"
INSTALLED = CONSOLE / "node_modules" / ".laneway-installed"
CHROMIUM = Path("/usr/bin/chromium")


def _sources() -> list[Path]:
    files = [CONSOLE / "build.mjs", CONSOLE / "package-lock.json"]
    for folder in ("src", "static"):
        files += [p for p in (CONSOLE / folder).rglob("*") if p.is_file()]
    # the element templates the modeler's properties panel makes its connector forms from
    return files + sorted((ROOT / "element-templates").glob("*.json"))


def _newest(files: list[Path]) -> float:
    return max(p.stat().st_mtime for p in files)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        apt_install(["nodejs", "npm"], Settings.from_env().allow_install)
        found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found after installing nodejs and npm")
    return found


def build() -> None:
    lock = CONSOLE / "package-lock.json"
    if not INSTALLED.exists() or INSTALLED.stat().st_mtime < lock.stat().st_mtime:
        log("console: npm ci (the packages of console/package-lock.json)")
        run([_tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=900,
            what="npm ci", cwd=CONSOLE)
        INSTALLED.touch()
    if DIST_STAMP.exists() and DIST_STAMP.stat().st_mtime >= _newest(_sources()):
        return
    run([_tool("node"), "build.mjs"], timeout=300, what="the console's build", cwd=CONSOLE)
    log(f"console: built into {DIST_STAMP.parent.relative_to(ROOT)}/")


def browser() -> None:
    if CHROMIUM.exists():
        return
    apt_install(["chromium"], Settings.from_env().allow_install)
    if not CHROMIUM.exists():
        raise StackError(f"Debian's chromium is installed but {CHROMIUM} is missing")


def main(argv: list[str]) -> int:
    commands = {"build": build, "browser": browser}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m scripts.console {'|'.join(commands)}", file=sys.stderr)
        return 2
    try:
        commands[argv[0]]()
    except StackError as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
