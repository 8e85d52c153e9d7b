"""A private PostgreSQL cluster: own data directory, own port, loopback only.

The binaries come from Debian's postgresql package; the system's own clusters are never
touched. PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
system user (created by the package) through runuser.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
from pathlib import Path

from scripts.stack.config import Settings, StackError
from scripts.stack.proc import (
    apt_install,
    cmdline,
    is_root,
    log,
    pid_alive,
    port_open,
    run,
    stop_pid,
    tail,
    wait_until,
)

SERVER_USER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<ver>/bin with initdb, else initdb on PATH."""
    root = Path("/usr/lib/postgresql")
    candidates: list[tuple[int, Path]] = []
    if root.is_dir():
        for child in root.iterdir():
            if child.name.isdigit() and (child / "bin" / "initdb").is_file():
                candidates.append((int(child.name), child / "bin"))
    if candidates:
        return max(candidates)[1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class Postgres:
    name = "postgres"

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.home = settings.state_dir / "postgres"
        self.data_dir = self.home / "data"
        self.log_file = settings.logs_dir / "postgres.log"
        self._bin: Path | None = None

    # -- helpers ---------------------------------------------------------------------------

    def _bin_dir(self) -> Path:
        if self._bin is None:
            found = find_bin_dir()
            if found is None:
                apt_install(["postgresql"], self.s.allow_install)
                found = find_bin_dir()
            if found is None:
                raise StackError("PostgreSQL binaries (initdb, pg_ctl) not found")
            self._bin = found
        return self._bin

    def _as_server_user(self, args: list[str]) -> list[str]:
        if not is_root():
            return args
        if shutil.which("runuser") is None:
            raise StackError("running as root needs runuser to start PostgreSQL as postgres")
        return ["runuser", "-u", SERVER_USER, "--", *args]

    def _server_user_ids(self) -> tuple[int, int] | None:
        if not is_root():
            return None
        try:
            entry = pwd.getpwnam(SERVER_USER)
        except KeyError:
            log(f"creating system user {SERVER_USER}")
            run(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--home-dir",
                    "/var/lib/postgresql",
                    "--shell",
                    "/bin/bash",
                    SERVER_USER,
                ],
                what="useradd postgres",
            )
            entry = pwd.getpwnam(SERVER_USER)
        return entry.pw_uid, entry.pw_gid

    def pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first.strip())
        except (OSError, ValueError, IndexError):
            return None
        if not pid_alive(pid):
            return None
        line = cmdline(pid)
        return pid if not line or "postgres" in line else None  # else: a reused pid

    def healthy(self) -> bool:
        if not port_open(self.s.postgres_port):
            return False
        isready = self._bin_dir() / "pg_isready"
        if not isready.is_file():
            return True
        try:
            run(
                [
                    str(isready),
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.s.postgres_port),
                    "-U",
                    SERVER_USER,
                    "-d",
                    "postgres",
                ],
                timeout=10,
            )
        except StackError:
            return False
        return True

    def _psql(self, sql: str, db: str = "postgres") -> str:
        return run(
            [
                str(self._bin_dir() / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.s.postgres_port),
                "-U",
                SERVER_USER,
                "-d",
                db,
                "-c",
                sql,
            ],
            timeout=60,
            env=dict(os.environ, PGCONNECT_TIMEOUT="5"),
            what="psql",
        ).strip()

    # -- lifecycle -------------------------------------------------------------------------------

    def _initdb(self, ids: tuple[int, int] | None) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made data directory from a failed run
        self.data_dir.mkdir(mode=0o700)
        if ids is not None:
            os.chown(self.data_dir, *ids)
            self._check_reachable()
        log(f"initdb {self.data_dir}")
        run(
            self._as_server_user(
                [
                    str(self._bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SERVER_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            timeout=180,
            what="initdb",
        )

    def _check_reachable(self) -> None:
        """The postgres user must be able to reach the data directory through its parents."""
        try:
            run(["runuser", "-u", SERVER_USER, "--", "test", "-w", str(self.data_dir)], timeout=30)
        except StackError as exc:
            raise StackError(
                f"user {SERVER_USER} cannot reach {self.data_dir}; a parent directory is not "
                "traversable by others: set LANEWAY_STACK_DIR to a directory it can reach"
            ) from exc

    def up(self) -> None:
        pid = self.pid()
        if pid is not None:
            if wait_until(self.healthy, 30, 0.5):
                log(f"postgres already running (pid {pid}, port {self.s.postgres_port})")
                self._ensure_database()
                return
            raise StackError(
                f"postgres (pid {pid}) runs but does not accept connections on port "
                f"{self.s.postgres_port}; see {self.log_file}"
            )
        if port_open(self.s.postgres_port):
            raise StackError(
                f"port {self.s.postgres_port} is taken by another process; set "
                "LANEWAY_POSTGRES_PORT, or DATABASE_URL to use an existing server"
            )
        ids = self._server_user_ids()
        self._initdb(ids)
        # A killed postmaster leaves its lock file; its pid may linger as a zombie, which
        # PostgreSQL takes for a live server. pid() said it is not running: remove the file.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self.s.logs_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        if ids is not None:
            os.chown(self.log_file, *ids)
        options = " ".join(
            [
                f"-p {self.s.postgres_port}",
                "-c listen_addresses=127.0.0.1",
                "-c unix_socket_directories=''",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                # each transaction's commit time (pg_xact_commit_timestamp): the benchmarks
                # read when a row became visible instead of polling for it
                "-c track_commit_timestamp=on",
                "-c max_connections=200",
                "-c shared_buffers=128MB",
            ]
        )
        log(f"starting postgres on 127.0.0.1:{self.s.postgres_port}")
        try:
            run(
                self._as_server_user(
                    [
                        str(self._bin_dir() / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        "60",
                        "start",
                    ]
                ),
                timeout=90,
                what="pg_ctl start",
            )
        except StackError as exc:
            last = tail(self.log_file)
            raise StackError(f"{exc}\nlast lines of {self.log_file}:\n{last}") from exc
        if not wait_until(self.healthy, 30, 0.5):
            last = tail(self.log_file)
            raise StackError(f"postgres started but does not accept connections:\n{last}")
        self._ensure_database()
        log(f"postgres up (pid {self.pid()})")

    def _ensure_database(self) -> None:
        user, password, db = self.s.postgres_user, self.s.postgres_password, self.s.postgres_db
        for name in (user, db):
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise StackError(f"unsafe PostgreSQL identifier {name!r}")
        if self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'") != "1":
            self._psql(f"CREATE ROLE {user} LOGIN CREATEDB PASSWORD '{password}'")
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'") != "1":
            self._psql(f"CREATE DATABASE {db} OWNER {user}")
        self.ensure_roles()

    def ensure_roles(self) -> None:
        """The roles besides the owner, created when missing: the audit service's writer,
        which may only read and append to the audit log (the service grants it that on its
        tables at start; docs/audit.md). Also run on a server started before the role was
        added, so a running stack gains it at the next `up`."""
        writer = self.s.audit_writer
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", writer):
            raise StackError(f"unsafe PostgreSQL identifier {writer!r}")
        if self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{writer}'") != "1":
            # the password is the name, as the owner's: a development stack on loopback
            self._psql(f"CREATE ROLE {writer} LOGIN PASSWORD '{writer}'")

    def down(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        log(f"stopping postgres (pid {pid})")
        try:
            run(
                self._as_server_user(
                    [
                        str(self._bin_dir() / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "30",
                        "stop",
                    ]
                ),
                timeout=45,
                what="pg_ctl stop",
            )
        except StackError as exc:
            log(f"{exc}; killing postgres")
            stop_pid(pid, "postgres", 5)
