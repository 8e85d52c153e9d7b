"""The image's recipe (Dockerfile, .dockerignore) read as text, since no Docker engine runs
here to build it: every base image pinned by tag and digest, the services' stage without
build tools and not root, a health check on the service's own port's liveness probe, and a
build context without local state, caches or the development signing key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    logical = ""
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        word, _, rest = logical.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        logical = ""
    return out


INSTRUCTIONS = _instructions((ROOT / "Dockerfile").read_text())


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in INSTRUCTIONS:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


STAGES = _stages()
FINAL = STAGES[-1]


def test_every_base_image_is_pinned_by_tag_and_digest() -> None:
    bases = [args.split()[0] for word, args in INSTRUCTIONS if word == "FROM"]
    assert len(bases) >= 3  # wheels, console, edge, services
    for base in bases:
        assert re.fullmatch(r"[a-z0-9./-]+:[0-9][\w.-]*@sha256:[0-9a-f]{64}", base), base
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}",
                        FINAL[0][1].split()[0])


def test_the_services_stage_is_the_default_target_and_has_no_build_tools() -> None:
    text = " ".join(args for _, args in FINAL).lower()
    for tool in ("gcc", "g++", "build-essential", "make ", "clang", "apt-get install",
                 "-dev "):
        assert tool not in text, tool
    # the wheels are mounted for the install, not copied into a layer of the image
    assert not any(word == "COPY" and "/wheels" in args for word, args in FINAL)
    assert any(word == "RUN" and "--mount=type=bind,from=build" in args for word, args in FINAL)
    assert (FINAL[-1][0], FINAL[-1][1]) == ("CMD", '["python", "-m", "services.engine"]')


def test_the_services_run_as_a_numeric_user_that_is_not_root() -> None:
    users = [args for word, args in FINAL if word == "USER"]
    assert users == ["10001:10001"]
    run = " ".join(args for word, args in FINAL if word == "RUN")
    assert "--uid 10001" in run
    assert "--gid 10001" in run


def test_the_health_check_asks_liveness_on_the_services_own_port() -> None:
    checks = [args for word, args in FINAL if word == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "LANEWAY_HTTP_PORT" in checks[0]
    assert "/health/live" in checks[0]
    # without the variable, the default command's port: the engine's
    assert "'8081'" in checks[0]
    assert ("EXPOSE", "8081") in FINAL


def _ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go's filepath.Match plus `**`), anchored at the context."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def ignored(path: str) -> bool:
    """Whether the build context leaves `path` out: a pattern matches it or a folder of it
    (no `!` exceptions are used)."""
    patterns = [_regex(p.strip("/")) for p in _ignore_patterns()]
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return any(p.fullmatch(prefix) for p in patterns for prefix in prefixes)


def test_the_ignore_file_uses_no_exceptions() -> None:
    # `ignored` does not implement `!` re-inclusion: a pattern with one would be misread
    assert not any(p.startswith("!") for p in _ignore_patterns())


@pytest.mark.parametrize("path", [
    ".venv/bin/python",
    ".git/HEAD",
    "var/dev/jwt/private.pem",
    "var/dev/jwt/jwks.json",
    "var/stack/logs/engine.log",
    "console/node_modules/esbuild/package.json",
    "console/dist/index.html",
    "laneway/__pycache__/health.cpython-311.pyc",
    ".mypy_cache/3.11/cache.db",
    ".ruff_cache/content",
    ".pytest_cache/v/cache/lastfailed",
    ".hypothesis/examples/x",
    "laneway.egg-info/PKG-INFO",
    ".last-run.jsonl",
])
def test_the_build_context_leaves_out_local_state_caches_and_the_dev_key(path: str) -> None:
    assert ignored(path)


def test_the_build_context_keeps_everything_the_dockerfile_copies() -> None:
    sources = []
    for word, args in INSTRUCTIONS:
        if word == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    assert "schemas" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), source
    for kept in ("laneway/health.py", "services/engine/__main__.py", "console/src/api.js",
                 "element-templates/laneway-connector-http.json"):
        assert (ROOT / kept).exists(), kept
        assert not ignored(kept), kept
