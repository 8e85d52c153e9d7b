"""The local edge: nginx from Debian's package as a private process (own config, port, pid file
and log under the stack's directories), as scripts/stack runs PostgreSQL and Redis.

`make up` starts it after the services (`scripts.services up`) on the public port (8080,
`LANEWAY_EDGE_PORT`), with the services' local ports as upstreams; `make down` stops it first.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from scripts.edge.nginx import Runtime, render
from scripts.edge.routes import HTTP_SERVICES, ROOT, Route, load
from scripts.stack.config import StackError
from scripts.stack.proc import (
    apt_install,
    is_root,
    log,
    port_open,
    read_pid,
    run,
    stop_pid,
    tail,
    wait_until,
)

DEFAULT_PORT = 8080
"""The public URL's port on one machine (LANEWAY_URL, http://127.0.0.1:8080)."""
PORT_SETTING = "LANEWAY_EDGE_PORT"
CONSOLE_DIST = ROOT / "console" / "dist"
"""The built console (`make console`), served by the edge at `/`."""


def edge_port(environ: Mapping[str, str] | None = None) -> int:
    """The edge's port: `LANEWAY_EDGE_PORT`, default 8080."""
    raw = (os.environ if environ is None else environ).get(PORT_SETTING, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not (raw.isdigit() and 0 < int(raw) < 65536):
        raise StackError(f"Expected {PORT_SETTING} to be a port, but got {raw!r}")
    return int(raw)


def probe(port: int, timeout: float = 2.0) -> str:
    """`ok` when the edge answers GET /health with 200, else what it answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return "no answer"
    finally:
        conn.close()
    return "ok" if status == 200 else f"unhealthy ({status})"


class Edge:
    """nginx on `port` in front of the services at `upstream_ports` (127.0.0.1)."""

    name = "edge"

    def __init__(self, port: int, upstream_ports: Mapping[str, int], *, home: Path,
                 run_dir: Path, logs_dir: Path, allow_install: bool = True,
                 routes: list[Route] | None = None,
                 console_dist: Path | None = CONSOLE_DIST,
                 environ: Mapping[str, str] | None = None) -> None:
        missing = [s for s in HTTP_SERVICES if s not in upstream_ports]
        if missing:
            raise StackError(f"Expected a port for each service the edge routes to, but "
                             f"{', '.join(missing)} has none")
        self.port = port
        self.upstream_ports = dict(upstream_ports)
        self.home = home
        self.config_file = home / "nginx.conf"
        self.pid_file = run_dir / "edge.pid"
        self.log_file = logs_dir / "edge.log"
        self._allow_install = allow_install
        self._routes = routes if routes is not None else load()
        self.console_dist = console_dist
        self._environ = environ

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def temp_dir(self) -> Path:
        """Where the workers buffer large request and response bodies. As root the workers
        run as www-data, which cannot enter a home under a private folder (/root, pytest's
        temporary folders are 0700): a body over nginx's memory buffer (16 KiB) was then a
        500. So as root the folder sits in the system's temporary folder, one per home."""
        if not is_root():
            return self.home / "tmp"
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"laneway-edge-{digest}"

    @property
    def console_root(self) -> Path | None:
        """Where nginx reads the console from: None when it is not built. As root, a copy in
        the temporary folder (see temp_dir: www-data may not enter the checkout)."""
        dist = self.console_dist
        if dist is None or not (dist / "index.html").is_file():
            return None
        return self.temp_dir / "console" if is_root() else dist

    def config(self) -> str:
        """The nginx.conf this edge runs with."""
        temp = self.temp_dir
        console = self.console_root
        return render(self._routes,
                      {s: f"127.0.0.1:{p}" for s, p in self.upstream_ports.items()},
                      Runtime(listen=f"127.0.0.1:{self.port}", pid_file=str(self.pid_file),
                              foreground=False,
                              error_log=str(self.log_file), temp_dir=str(temp),
                              # as root the master drops its workers to an unprivileged user
                              user="www-data" if is_root() else None,
                              console_root=None if console is None else str(console),
                              connect_src=_issuer_origin(
                                  os.environ if self._environ is None else self._environ)))

    def pid(self) -> int | None:
        return read_pid(self.pid_file, "nginx")

    def status(self) -> str:
        """`ok`, what /health answered, or `-` when no edge runs."""
        return probe(self.port) if self.pid() is not None else "-"

    def up(self) -> str:
        """Start nginx (or reload it when its config changed); return what was done."""
        text = self.config()
        pid = self.pid()
        if pid is not None:
            if self.config_file.exists() and self.config_file.read_text() == text:
                self._copy_console()  # a rebuilt console, same config
                if wait_until(lambda: probe(self.port) == "ok", 10, 0.1):
                    return "kept"
                raise StackError(f"the edge (pid {pid}) runs but does not answer on port "
                                 f"{self.port}; see {self.log_file}")
            self._write(text)
            self._check()
            os.kill(pid, signal.SIGHUP)  # nginx re-reads its config and replaces its workers
            log(f"edge reloaded (pid {pid}): new upstream ports or routes")
            return "reloaded"
        if port_open(self.port):
            raise StackError(f"port {self.port} is taken by another process; set "
                             f"{PORT_SETTING} to run the edge on another port")
        self._write(text)
        self._check()
        self.pid_file.unlink(missing_ok=True)
        run([self._nginx(), "-c", str(self.config_file), "-p", str(self.home)], timeout=30,
            what="nginx")
        if not wait_until(lambda: probe(self.port) == "ok", 20, 0.1):
            raise StackError(f"the edge did not answer on port {self.port}; last lines of "
                             f"{self.log_file}:\n{tail(self.log_file)}")
        log(f"edge up on {self.url} (pid {self.pid()})")
        return "started"

    def down(self) -> int | None:
        """Stop nginx if it runs; return its pid."""
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, "edge", 15)
            log(f"stopped edge (pid {pid})")
        self.pid_file.unlink(missing_ok=True)
        return pid

    def _write(self, text: str) -> None:
        temp = self.temp_dir
        for folder in (self.home, temp, self.pid_file.parent, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        # the workers (www-data under root) buffer large request bodies here
        temp.chmod(0o1777)
        self._copy_console()
        self.config_file.write_text(text)

    def _copy_console(self) -> None:
        """As root, copy the built console where www-data can read it (a new build replaces
        the old copy whole, so a page never mixes two builds' assets)."""
        dist, root = self.console_dist, self.console_root
        if dist is None or root is None or root == dist:
            return
        fresh = root.with_name("console.new")
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(dist, fresh)
        for folder in (fresh, *(p for p in fresh.rglob("*") if p.is_dir())):
            folder.chmod(0o755)
        for file in fresh.rglob("*"):
            if file.is_file():
                file.chmod(0o644)
        old = root.with_name("console.old")
        shutil.rmtree(old, ignore_errors=True)
        if root.exists():
            root.rename(old)
        fresh.rename(root)
        shutil.rmtree(old, ignore_errors=True)

    def _check(self) -> None:
        run([self._nginx(), "-t", "-q", "-c", str(self.config_file), "-p", str(self.home)],
            timeout=30, what="nginx -t")

    def _nginx(self) -> str:
        found = shutil.which("nginx") or _sbin("nginx")
        if found is None:
            apt_install(["nginx"], self._allow_install)
            found = shutil.which("nginx") or _sbin("nginx")
        if found is None:
            raise StackError("nginx not found")
        return found


def _issuer_origin(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The OpenID Connect issuer's origin (LANEWAY_OIDC_ISSUER, the setting the definitions
    service tells the console), which the console's CSP must let it call for discovery and
    tokens."""
    issuer = environ.get("LANEWAY_OIDC_ISSUER", "").strip()
    if not issuer:
        return ()
    parsed = urlsplit(issuer)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or any(
            c in parsed.netloc for c in " ;\"'"):
        raise StackError(f"Expected LANEWAY_OIDC_ISSUER to be an http(s) URL, but got {issuer!r}")
    return (f"{parsed.scheme}://{parsed.netloc}",)


def _sbin(name: str) -> str | None:
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin"):
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    return None
