"""Process, port, pid-file and package helpers shared by the components."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from scripts.stack.config import StackError


def log(message: str) -> None:
    """Progress goes to stderr, so `env` output on stdout stays clean."""
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def read_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in pid_file if that process is alive and its command line has marker."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid <= 0 or not pid_alive(pid):
        return None
    line = cmdline(pid)
    if line and marker not in line:
        return None  # the pid was reused by an unrelated process
    return pid


def stop_pid(pid: int, name: str, grace: float) -> None:
    """SIGTERM, wait up to grace seconds, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if wait_until(lambda: not pid_alive(pid), grace, 0.2):
        return
    log(f"{name} (pid {pid}) still running after {grace:.0f}s; sending SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if not wait_until(lambda: not pid_alive(pid), 10, 0.2):
        raise StackError(f"{name} (pid {pid}) did not die after SIGKILL")


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])


def run(
    args: Sequence[str],
    *,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    what: str | None = None,
) -> str:
    """Run a command; on failure raise StackError with its output."""
    try:
        proc = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what or args[0]} timed out after {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise StackError(f"{args[0]} not found") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-4000:]
        raise StackError(f"{what or ' '.join(args)} failed (exit {proc.returncode}):\n{output}")
    return proc.stdout


def is_root() -> bool:
    return os.geteuid() == 0


_apt_updated = False


def apt_install(packages: Sequence[str], allow: bool) -> None:
    """Install Debian packages non-interactively (root only)."""
    global _apt_updated
    names = " ".join(packages)
    if not allow:
        raise StackError(f"missing {names}; installing is disabled (LANEWAY_STACK_NO_INSTALL)")
    if shutil.which("apt-get") is None:
        raise StackError(f"missing {names} and no apt-get here: install them by hand")
    prefix: list[str] = []
    if not is_root():
        if shutil.which("sudo") is None:
            raise StackError(f"missing {names}: run `sudo apt-get install -y {names}`")
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        log("apt-get update")
        run([*prefix, "apt-get", "update"], timeout=600, env=env, what="apt-get update")
        _apt_updated = True
    log(f"apt-get install -y {names}")
    run(
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *packages],
        timeout=900,
        env=env,
        what=f"apt-get install {names}",
    )
