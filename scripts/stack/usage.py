"""The CPU the stack's servers use: the broker's JVM and PostgreSQL (its postmaster and every
backend), for the benchmarks, which print it per 1,000 instances beside the services'.

A server counts when it runs on this machine and is the one the services are given: the
stack's pid file names it (`LANEWAY_STACK_DIR`), or, for a stack started from another
checkout (its pid files elsewhere), the process that listens on the address's loopback port
and looks like that server (its command line). Anything else (a remote broker, a server this
user may not look into) is "not local", with the reason: the benchmarks say so instead of a
figure. Linux only (/proc); elsewhere every server is "not local".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scripts.stack.config import Settings
from scripts.stack.kafka import MAIN_CLASS, Kafka
from scripts.stack.postgres import Postgres
from scripts.stack.proc import cmdline

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_PROC = Path("/proc")
_MAX_DEPTH = 4
"""Descendants counted below a server (PostgreSQL's backends are its postmaster's children;
nothing of a server's own runs deeper)."""
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


@dataclass(frozen=True)
class Stat:
    ppid: int
    own: float
    """User + system CPU seconds of the process itself (all its threads)."""
    reaped: float
    """Of its children that exited and were waited for (cutime + cstime)."""


def stat(pid: int) -> Stat | None:
    """The process's parent and CPU times from /proc/<pid>/stat; None when it is gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # after the command name (which may hold spaces and parentheses): state, ppid, ...;
    # utime, stime, cutime, cstime are the 14th-17th fields, the 12th-15th after the name
    fields = text.rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return Stat(int(fields[1]), (int(fields[11]) + int(fields[12])) / tick,
                (int(fields[13]) + int(fields[14])) / tick)


def _children(stats: Mapping[int, Stat]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for pid, st in stats.items():
        out.setdefault(st.ppid, []).append(pid)
    return out


def _all_stats() -> dict[int, Stat]:
    out: dict[int, Stat] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            st = stat(int(entry.name))
            if st is not None:
                out[int(entry.name)] = st
    return out


def tree_cpu(pid: int) -> float | None:
    """CPU seconds of a process and its descendants: its own, its live descendants', and
    those of the ones that exited (a backend that served a connection and ended is in its
    parent's reaped time). None when the process is gone."""
    stats = _all_stats()
    if pid not in stats:
        return None
    children = _children(stats)
    total = 0.0
    level = [pid]
    for _ in range(_MAX_DEPTH):
        total += sum(stats[p].own + stats[p].reaped for p in level)
        level = [c for p in level for c in children.get(p, [])]
        if not level:
            break
    return total


JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
"""HotSpot's compiler threads as /proc names them (15 characters): a JVM's warm-up."""


def threads_cpu(pid: int, names: tuple[str, ...]) -> float:
    """CPU seconds of the process's threads whose name starts with one of `names`."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        if text.split("(", 1)[1].rsplit(")", 1)[0].startswith(names):
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _socket_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == _LISTEN and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def listener_pid(port: int) -> int | None:
    """The process that listens on a TCP port of this machine (the eldest, when a parent
    shares the socket with its children); None when none does or its file descriptors may
    not be read by this user."""
    inodes = _socket_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holders: set[int] = set()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                if os.readlink(fd) in wanted:
                    holders.add(int(entry.name))
                    break
            except OSError:
                continue
    for pid in sorted(holders):
        st = stat(pid)
        if st is not None and st.ppid not in holders:
            return pid
    return None


@dataclass(frozen=True)
class Server:
    """One of the stack's servers as the benchmarks see it."""

    name: str
    pid: int | None
    note: str
    """How it was found, or why it is not local."""

    def cpu(self) -> float | None:
        return None if self.pid is None else tree_cpu(self.pid)

    def jit_cpu(self) -> float:
        """Of `cpu()`, the JIT compiler's (the broker's JVM): high for minutes after the
        broker starts, then near none; what a warm broker costs is the rest."""
        return 0.0 if self.pid is None or self.name != "broker" else \
            threads_cpu(self.pid, JIT_THREADS)


def _loopback_port(hosts: Iterable[tuple[str, int | None]]) -> tuple[int | None, str]:
    """The port of the first address when every address is this machine's; else why not."""
    port: int | None = None
    for host, p in hosts:
        if host not in LOOPBACK:
            return None, f"{host} is not this machine"
        if port is None:
            port = p
    return (port, "") if port is not None else (None, "no port")


def _find(name: str, port: int | None, why: str, own_port: int, own_pid: int | None,
          marker: str) -> Server:
    if port is None:
        return Server(name, None, f"not local ({why})")
    if port == own_port and own_pid is not None:
        return Server(name, own_pid, "the stack's pid file")
    pid = listener_pid(port)
    if pid is None:
        return Server(name, None, f"not local (no process of this machine that this user may "
                                  f"look into listens on port {port})")
    if marker not in cmdline(pid):
        return Server(name, None, f"not local (port {port} is pid {pid}, not {name})")
    return Server(name, pid, f"the process listening on port {port}")


def kafka_server(settings: Settings, bootstrap: str) -> Server:
    """The broker behind `bootstrap` when it is this machine's."""
    hosts: list[tuple[str, int | None]] = []
    for entry in bootstrap.split(","):
        address = entry.strip().split("://", 1)[-1]
        host, _, digits = address.rpartition(":")
        hosts.append((host.strip("[]"), int(digits) if digits.isdigit() else None))
    port, why = _loopback_port(hosts)
    return _find("broker", port, why, settings.kafka_port, Kafka(settings).pid(), MAIN_CLASS)


def postgres_server(settings: Settings, database_url: str) -> Server:
    """The PostgreSQL behind `database_url` when it is this machine's (its postmaster; its
    backends are counted with it)."""
    parts = urlsplit(database_url)
    try:
        port = parts.port or 5432
    except ValueError:
        return Server("postgres", None, "not local (the URL's port is not a number)")
    local_port, why = _loopback_port([(parts.hostname or "a unix socket", port)])
    return _find("postgres", local_port, why, settings.postgres_port, Postgres(settings).pid(),
                 "postgres")


def servers(settings: Settings, bootstrap: str, database_url: str) -> list[Server]:
    """The broker and PostgreSQL the services are given."""
    return [kafka_server(settings, bootstrap), postgres_server(settings, database_url)]


class ServerCpu:
    """The servers' CPU from construction to `seconds()`."""

    def __init__(self, found: list[Server]) -> None:
        self.found = found
        self._start = {s.name: s.cpu() for s in found}
        self._jit = {s.name: s.jit_cpu() for s in found}

    def seconds(self) -> dict[str, float | None]:
        """CPU seconds each server used since construction; None: not local (or it ended).
        The broker's also as `broker JIT`: its compiler's part of them."""
        out: dict[str, float | None] = {}
        for s in self.found:
            start, now = self._start[s.name], s.cpu()
            out[s.name] = None if start is None or now is None else now - start
            if s.name == "broker" and out[s.name] is not None:
                out["broker JIT"] = s.jit_cpu() - self._jit[s.name]
        return out

    def notes(self) -> str:
        """The servers that are not local, and why (empty when both are)."""
        return "; ".join(f"{s.name} {s.note}" for s in self.found if s.pid is None)
