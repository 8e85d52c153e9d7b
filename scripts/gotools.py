"""Go programs the project builds once from the Go module proxy and caches: Jaeger, helm,
kube-score and promtool.

No package registry this project may use ships their binaries, but all are Go modules, so a
scratch module's `go get -tool` and `go build` make them from source at a pinned version. The
binary goes to `~/.cache/laneway/tools/<name>-<version>/` (`LANEWAY_TOOLS_CACHE` moves it), so
the build (minutes on two cores) happens once per machine; the Go build cache speeds a rebuild.

    python -m scripts.gotools ensure jaeger helm   # build what is missing, print the paths
    python -m scripts.gotools path helm            # the path if built (exit 1 if not)

`ensure` raises `ToolMissing`, saying why, when there is no Go toolchain or the build fails:
callers decide whether that is fatal (a test of the chart) or only worth saying (`make up` runs
without Jaeger).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TOOLS", "Tool", "ToolMissing", "cache_root", "ensure", "path", "run_go"]


@dataclass(frozen=True, slots=True)
class Tool:
    """A Go program at a pinned version."""

    name: str
    package: str
    """The package `go build` makes (a module path plus the command's directory)."""
    version: str
    """The module's version: pinned, as the Python dependencies are."""


TOOLS: Mapping[str, Tool] = {
    # Jaeger v2 (the OpenTelemetry-collector-based `jaeger` binary: OTLP receiver, query API,
    # UI). Jaeger tags its v2 releases on the Go module's v1 line: v1.75.0 is Jaeger v2.12.
    "jaeger": Tool("jaeger", "github.com/jaegertracing/jaeger/cmd/jaeger", "v1.75.0"),
    "helm": Tool("helm", "helm.sh/helm/v4/cmd/helm", "v4.3.2"),
    # a policy scanner of Kubernetes objects (`make chart-scan` runs it on the rendered chart)
    "kube-score": Tool("kube-score", "github.com/zegl/kube-score/cmd/kube-score", "v1.20.0"),
    # Prometheus' promtool: checks the chart's alert rules and the dashboards' PromQL
    # (`make monitoring-check`, not `make test`: its build takes about ten minutes).
    # Prometheus tags its Go module v0.<minor*100+patch>: v0.316.0 is Prometheus 3.16.0.
    "promtool": Tool("promtool", "github.com/prometheus/prometheus/cmd/promtool", "v0.316.0"),
}

_BUILD_TIMEOUT_S = 1800.0


class ToolMissing(RuntimeError):
    """A tool could not be built here (no Go, or the build failed): the message says why."""


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Where built tools are kept."""
    e = os.environ if env is None else env
    raw = e.get("LANEWAY_TOOLS_CACHE", "").strip()
    if raw:
        return Path(raw).expanduser()
    xdg = e.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path(e.get("HOME", str(Path.home()))) / ".cache"
    return base / "laneway" / "tools"


def _binary(tool: Tool, env: Mapping[str, str] | None) -> Path:
    return cache_root(env) / f"{tool.name}-{tool.version}" / tool.name


def path(name: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The built binary of `name`, None when it has not been built on this machine."""
    binary = _binary(TOOLS[name], env)
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


@contextmanager
def _build_lock(tool: Tool, env: Mapping[str, str] | None, timeout: float) -> Iterator[None]:
    """One build of a tool at a time per cache: a second caller (a test while `.ci/run`'s
    background build runs) waits for the first, then finds its binary, instead of building
    it again on the same two cores. Polls for the lock until `timeout`."""
    lock_file = cache_root(env) / f".{tool.name}-{tool.version}.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with lock_file.open("w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ToolMissing(f"{tool.name} {tool.version} is still being built by "
                                      f"another process after {timeout:.0f} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure(name: str, env: Mapping[str, str] | None = None, *, quiet: bool = False,
           timeout: float = _BUILD_TIMEOUT_S + 60) -> Path:
    """The binary of `name`, built first if missing (or waited for, up to `timeout` seconds,
    while another process builds it); raises `ToolMissing` when it cannot be had."""
    built = path(name, env)
    if built is not None:
        return built
    if shutil.which("go") is None:
        raise ToolMissing(f"{name} {TOOLS[name].version} is not built and there is no Go "
                          "toolchain (`go`) on PATH to build it")
    with _build_lock(TOOLS[name], env, timeout):
        built = path(name, env)  # built by the process that held the lock
        return built if built is not None else _build(name, env, quiet=quiet)


def run_go(args: list[str], *, cwd: str, what: str, extra_env: Mapping[str, str] | None = None,
           timeout: float = _BUILD_TIMEOUT_S) -> str:
    """`go <args>` in `cwd`; its standard output. `ToolMissing` (naming `what` and the last
    lines of go's output) when there is no Go, it fails or it takes over `timeout` seconds."""
    go = shutil.which("go")
    if go is None:
        raise ToolMissing(f"{what}: there is no Go toolchain (`go`) on PATH")
    command = " ".join(["go", *args])
    try:
        done = subprocess.run([go, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False,
                              env={**os.environ, "GOFLAGS": "-mod=mod", **(extra_env or {})})
    except subprocess.TimeoutExpired as exc:
        raise ToolMissing(f"{what}: `{command}` took over {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise ToolMissing(f"{what}: `{command}` failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _build(name: str, env: Mapping[str, str] | None, *, quiet: bool) -> Path:
    tool = TOOLS[name]
    target = _binary(tool, env)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"building {name} {tool.version} from the Go module proxy (once; a few minutes)",
              file=sys.stderr, flush=True)
    # build in a private module and move the binary in whole, so a build killed halfway never
    # leaves a file that `path` would take for a finished one. A scratch module (`go get
    # -tool`, then `go build`) rather than `go install pkg@version`: Jaeger's go.mod has
    # replace directives, which `go install` refuses outright
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as staging:
        produced = Path(staging) / tool.name
        what = f"building {name} {tool.version}"
        for step in (["mod", "init", f"laneway.tools/{tool.name}"],
                     ["get", "-tool", f"{tool.package}@{tool.version}"],
                     ["build", "-trimpath", "-o", str(produced), tool.package]):
            run_go(step, cwd=staging, what=what, extra_env={"CGO_ENABLED": "0"})
        if not produced.is_file():
            raise ToolMissing(f"{what} produced no binary")
        os.replace(produced, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.gotools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("ensure", "path"):
        one = sub.add_parser(command)
        one.add_argument("names", nargs="+", choices=sorted(TOOLS))
    args = parser.parse_args(argv)
    status = 0
    for name in args.names:
        if args.command == "path":
            found = path(name)
            if found is None:
                print(f"{name}: not built (python -m scripts.gotools ensure {name})",
                      file=sys.stderr)
                status = 1
            else:
                print(found)
            continue
        try:
            print(ensure(name))
        except ToolMissing as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
