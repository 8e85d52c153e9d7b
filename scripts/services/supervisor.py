"""Start, check and stop the Laneway services as detached local processes.

Each service runs as `python -m services.<name>` in its own session (so closing the terminal
or `make` exiting does not stop it), with a pid file in the stack's run directory and its
output appended to one log file beside the stack's logs. Settings reach it the way they reach
a container: the stack's connection settings (`python -m scripts.stack env`),
`LANEWAY_HTTP_PORT`, its own port, and `LANEWAY_JWT_JWKS_FILE`, the public half of the
development key in `var/dev/jwt/` (created once; `laneway token` and the console's development
sign-in, `LANEWAY_DEV_SIGNIN=1` with `LANEWAY_DEV_KEY_FILE`, sign with its private half),
and `LANEWAY_AUDIT_KEY_FILE`, the audit heads' key in `var/dev/audit/key` (created once);
when the stack's Jaeger runs, `OTEL_EXPORTER_OTLP_ENDPOINT`/`_PROTOCOL` (their spans go there)
and `LANEWAY_TRACES_QUERY_URL` (the console shows an instance's trace read from there).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from laneway.auth import KEY_SOURCE_VARIABLES
from laneway.auth.dev import JWKS_FILE, ensure_dev_key
from laneway.settings import DEFAULT_PORTS
from scripts.edge import Edge, edge_port
from scripts.stack import Settings as StackSettings
from scripts.stack import connections
from scripts.stack.config import REPO_ROOT
from scripts.stack.proc import cmdline, pid_alive, port_open, tail, wait_until

# The services of the architecture, started in this order (`down` stops them in reverse).
SERVICES = ("engine", "definitions", "worklist", "connectors", "audit", "triggers", "bridge")

# The development key pair every HTTP service verifies bearer tokens with (docs/people.md).
DEV_KEY_DIR = REPO_ROOT / "var" / "dev" / "jwt"
# The key the audit service signs each instance's head with (docs/audit.md): this machine's own,
# so the public development key of services/audit/anchor.py stays for tests and tools.
DEV_AUDIT_KEY = REPO_ROOT / "var" / "dev" / "audit" / "key"
# The key the triggers service encrypts schedules' credentials with (docs/triggers.md): made
# once per machine, like the audit key.
DEV_TRIGGERS_KEY = REPO_ROOT / "var" / "dev" / "triggers" / "key"


def ensure_dev_audit_key(path: Path) -> Path:
    """Create once a random audit key at `path` (mode 0600) and return the path; the first
    writer wins when two race, so every service signs with the same key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path


class ServiceError(RuntimeError):
    """A service could not be started, did not become healthy, or would not stop."""


def port_setting(name: str) -> str:
    """The variable that moves a service to another local port, e.g. LANEWAY_ENGINE_PORT."""
    return f"LANEWAY_{name.upper()}_PORT"


@dataclass(frozen=True)
class ServiceStatus:
    """What `status` shows for one service."""

    name: str
    port: int
    pid: int | None
    health: str
    """`ok`, `unhealthy (503 ...)`, `no answer`, or `-` when the process is not running."""

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def healthy(self) -> bool:
        return self.health == "ok"

    def line(self) -> str:
        state = "running" if self.running else "stopped"
        pid = f"pid {self.pid}" if self.pid else "no pid"
        return f"{self.name:<12} {state:<8} 127.0.0.1:{self.port:<6} {pid:<11} health {self.health}"


@dataclass
class Supervisor:
    """The services of one state directory: their ports, pid files, logs and environment."""

    run_dir: Path
    logs_dir: Path
    env: Mapping[str, str]
    """The environment every service starts with (without its LANEWAY_HTTP_PORT)."""
    ports: Mapping[str, int]
    python: str = sys.executable
    cwd: Path = REPO_ROOT
    stop_grace_s: float = 10.0
    _children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 dev_key_dir: Path = DEV_KEY_DIR,
                 audit_key: Path = DEV_AUDIT_KEY) -> Supervisor:
        """The supervisor `make up` uses: the stack's directories and connection settings, and
        the development key in `dev_key_dir` unless the environment names a key source."""
        env = dict(os.environ if environ is None else environ)
        stack = StackSettings.from_env(env)
        ports: dict[str, int] = {}
        for name in SERVICES:
            raw = env.get(port_setting(name), "").strip()
            if raw and not (raw.isdigit() and 0 < int(raw) < 65536):
                raise ServiceError(f"Expected {port_setting(name)} to be a port, but got {raw!r}")
            ports[name] = int(raw) if raw else DEFAULT_PORTS[name]
        conns = connections(stack)
        env.update(conns.env())
        # the e-mail connector sends to the stack's mail catcher unless told otherwise
        env.setdefault("LANEWAY_SECRET_SMTP", conns.smtp_url)
        # spans go to the stack's Jaeger when it runs, and the console reads them there; a
        # collector the environment names wins
        for name, value in conns.telemetry_env().items():
            if not env.get(name, "").strip():
                env[name] = value
        if not any(env.get(name, "").strip() for name in KEY_SOURCE_VARIABLES):
            signing_key = ensure_dev_key(dev_key_dir)
            env["LANEWAY_JWT_JWKS_FILE"] = str(dev_key_dir / JWKS_FILE)
            # the console's development sign-in signs with the same key; only here, where
            # the services verify with it (a key source of one's own keeps it off)
            env.setdefault("LANEWAY_DEV_SIGNIN", "1")
            env.setdefault("LANEWAY_DEV_KEY_FILE", str(signing_key))
        if not env.get("LANEWAY_AUDIT_KEY_FILE", "").strip():
            env["LANEWAY_AUDIT_KEY_FILE"] = str(ensure_dev_audit_key(audit_key))
        if not env.get("LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY", "").strip():
            key_file = ensure_dev_audit_key(audit_key.parent.parent / "triggers" / "key")
            env["LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY"] = key_file.read_text().strip()
        if not env.get("LANEWAY_SECRET_RESPONSE_SIGNING_KEY", "").strip():
            # the response connector signs its one-time links, the triggers service checks them
            key_file = ensure_dev_audit_key(audit_key.parent.parent / "response" / "key")
            env["LANEWAY_SECRET_RESPONSE_SIGNING_KEY"] = key_file.read_text().strip()
        # its links point at the edge, where /respond/{token} is served
        env.setdefault("LANEWAY_CONNECTOR_RESPONSE_PUBLIC_URL",
                       env.get("LANEWAY_URL", "").strip()
                       or f"http://127.0.0.1:{edge_port(env)}")
        env["PYTHONUNBUFFERED"] = "1"
        return cls(run_dir=stack.run_dir, logs_dir=stack.logs_dir, env=env, ports=ports)

    # -- where things are -------------------------------------------------------------------

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def edge(self, port: int, *, allow_install: bool = True) -> Edge:
        """The edge (nginx) on `port` in front of this supervisor's services, with its files
        beside theirs."""
        return Edge(port, self.ports, home=self.run_dir.parent / "edge", run_dir=self.run_dir,
                    logs_dir=self.logs_dir, allow_install=allow_install)

    def service_env(self, name: str) -> dict[str, str]:
        return {**self.env, "LANEWAY_HTTP_PORT": str(self.ports[name])}

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One `up`/`down` at a time per state directory."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / "services.lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- processes ------------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        """The service's pid if its pid file names a live `python -m services.<name>`.

        A pid file left by a crash (dead process, or a pid since reused by another program)
        counts as no process.
        """
        try:
            pid = int(self.pid_file(name).read_text().strip())
        except (OSError, ValueError):
            return None
        child = self._children.get(name)
        if child is not None and child.pid == pid:  # started here: ask the child itself
            return pid if child.poll() is None else None
        if pid <= 0 or not pid_alive(pid):
            return None
        argv = cmdline(pid).split()
        module = f"services.{name}"
        if ("-m", module) not in set(itertools.pairwise(argv)):
            return None
        return pid

    def exit_code(self, name: str) -> int | None:
        """The exit code of a service this supervisor started, once it has exited."""
        child = self._children.get(name)
        return None if child is None else child.poll()

    def start(self, name: str) -> int:
        """Start the service detached and return its pid (it may still be starting)."""
        port = self.ports[name]
        if port_open(port):
            raise ServiceError(
                f"{name}: port {port} is taken by another process; set {port_setting(name)} "
                "to run it on another port"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.log_file(name)
        with log_file.open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
            out.flush()
            child = subprocess.Popen(
                [self.python, "-m", f"services.{name}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.service_env(name),
                start_new_session=True,
            )
        self._children[name] = child
        self.pid_file(name).write_text(f"{child.pid}\n")
        return child.pid

    def stop(self, name: str) -> int | None:
        """SIGTERM, then SIGKILL after `stop_grace_s`; return the pid stopped, if any."""
        pid = self.pid(name)
        if pid is None:
            self.pid_file(name).unlink(missing_ok=True)
            return None
        # The service leads its own process group (start_new_session): stop all of it.
        _signal_group(pid, signal.SIGTERM)
        _signal_group(pid, signal.SIGCONT)  # a stopped (SIGSTOP) process handles it now
        if not wait_until(lambda: not self._alive(name, pid), self.stop_grace_s, 0.05):
            _signal_group(pid, signal.SIGKILL)
            if not wait_until(lambda: not self._alive(name, pid), 10, 0.05):
                raise ServiceError(f"{name} (pid {pid}) did not die after SIGKILL")
        self.pid_file(name).unlink(missing_ok=True)
        return pid

    def _alive(self, name: str, pid: int) -> bool:
        child = self._children.get(name)
        if child is not None and child.pid == pid:
            return child.poll() is None  # also reaps it, so no zombie stays behind
        return pid_alive(pid)

    def log_tail(self, name: str, lines: int = 20) -> str:
        return tail(self.log_file(name), lines)


def _signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the process group pid leads, or pid alone when it leads none."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        return
