"""A throwaway IMAP server for tests: Debian's Dovecot with a generated config in a directory
of its own, on a free loopback port, run in the foreground as a child process.

The `imap-mailbox` trigger is tested against a real IMAP server, never a stand-in: Dovecot is
what many organisations run. Nothing of the system's Dovecot is used but its binaries: no
/etc/dovecot, no system service (the package's own service is left as the package set it up),
and every file the server writes (sockets, state, logs, the users' maildirs) is under `home`.

    server = Dovecot(Path(tempfile.mkdtemp()), {"ada": "secret"})
    server.start()              # installs dovecot-imapd when missing, waits for the greeting
    ... imaplib.IMAP4("127.0.0.1", server.port) ...
    server.stop()

    python -m scripts.stack.imap install   (what `make test` runs: install when missing)

As root, the login processes run as the package's `dovenull` and the mail processes as
`nobody` (Dovecot refuses root for either); as another user, everything runs as that user.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from scripts.stack.config import Settings, StackError
from scripts.stack.proc import apt_install, is_root, log, tail

PACKAGE = "dovecot-imapd"
# as root: the mail processes' user (Dovecot refuses uid 0 for mail)
_MAIL_USER = "nobody"
_BINARY = "dovecot"


def find_dovecot() -> str | None:
    """The dovecot binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which(_BINARY)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin"):
        candidate = Path(folder) / _BINARY
        if candidate.is_file():
            return str(candidate)
    return None


def ensure_installed(allow_install: bool | None = None) -> str:
    """The dovecot binary, installing Debian's dovecot-imapd (non-interactively) when it is
    missing; LANEWAY_STACK_NO_INSTALL=1 forbids installing."""
    found = find_dovecot()
    imap = Path("/usr/lib/dovecot/imap")  # dovecot-core alone has no IMAP server
    if found is None or not imap.is_file():
        allow = Settings.from_env().allow_install if allow_install is None else allow_install
        apt_install([PACKAGE], allow)
        found = find_dovecot()
    if found is None:
        raise StackError(f"dovecot not found after installing {PACKAGE}")
    return found


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def greets(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when an IMAP server greets on the port with `* OK`."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            return sock.recv(256).startswith(b"* OK")
    except OSError:
        return False


def _check_field(what: str, value: str) -> None:
    # the passwd-file's fields are separated by ':' and its lines by newlines
    if not value or any(c in value for c in ":\n\r\0"):
        raise StackError(f"Expected a {what} without ':' or line breaks, but got {value!r}")


class Dovecot:
    """One Dovecot instance: `start`, then IMAP on `port` (and IMAPS on `tls_port` when a
    certificate was given), `stop`. Users log in with plaintext passwords (loopback only)."""

    name = "imap"

    def __init__(self, home: Path, users: Mapping[str, str], *,
                 extra: Mapping[str, Mapping[str, str]] | None = None,
                 certificate: tuple[Path, Path] | None = None,
                 allow_install: bool | None = None) -> None:
        """`users`: name to password. `extra`: per user, Dovecot settings that user's mail
        process gets instead (`imap_capability`, say). `certificate`: (certificate chain, key)
        PEM files to serve IMAPS and STARTTLS with."""
        self.home = home
        self.users = dict(users)
        self.extra = {k: dict(v) for k, v in (extra or {}).items()}
        self.certificate = certificate
        self.allow_install = allow_install
        self.port = 0
        self.tls_port = 0
        self.config_file = home / "dovecot.conf"
        self.log_file = home / "dovecot.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- config ----------------------------------------------------------------------------------

    def _ids(self) -> tuple[int, int, list[str]]:
        """(mail uid, mail gid, the settings naming the users Dovecot's processes run as)."""
        if is_root():
            mail = pwd.getpwnam(_MAIL_USER)
            return mail.pw_uid, mail.pw_gid, ["default_login_user = dovenull",
                                              "default_internal_user = dovecot"]
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        # one user for everything, and its group on the sockets (the default group, dovecot,
        # is not ours to give files to)
        return os.getuid(), os.getgid(), [f"default_login_user = {me}",
                                          f"default_internal_user = {me}",
                                          f"default_internal_group = {group}"]

    def _write_files(self) -> None:
        uid, gid, run_as = self._ids()
        mail_root = self.home / "mail"
        for folder in (self.home, mail_root):
            folder.mkdir(parents=True, exist_ok=True)
        # the login and mail processes run as other users: they must reach the home
        self.home.chmod(0o755)
        lines = []
        for name, password in self.users.items():
            _check_field("user name", name)
            _check_field("password", password)
            user_home = mail_root / name
            user_home.mkdir(exist_ok=True)
            if is_root():
                os.chown(user_home, uid, gid)
            fields = " ".join(f"userdb_{k}={v}" for k, v in self.extra.get(name, {}).items())
            lines.append(f"{name}:{password}:{uid}:{gid}::{user_home}::{fields}")
        users_file = self.home / "users"
        users_file.write_text("\n".join(lines) + "\n")
        users_file.chmod(0o644)  # read by the auth process (dovecot's internal user)
        ssl = "no"
        tls_lines: list[str] = []
        if self.certificate is not None:
            cert, key = self.certificate
            ssl = "yes"
            tls_lines = [f"ssl_cert = <{cert}", f"ssl_key = <{key}"]
        config = [
            "# Generated by scripts/stack/imap.py: a throwaway server for tests",
            f"base_dir = {self.home}/run",
            f"state_dir = {self.home}/state",
            f"instance_name = laneway-imap-{self.port}",
            "protocols = imap",
            "listen = 127.0.0.1",
            f"log_path = {self.log_file}",
            f"ssl = {ssl}",
            *tls_lines,
            # plaintext passwords on loopback only: the server listens on nothing else
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            # a refused login answers at once (the default waits 2 s, slowing the tests)
            "auth_failure_delay = 0",
            "mail_location = maildir:~/Maildir",
            *run_as,
            # any user but root may own mail (the default, 500, refuses system users)
            "first_valid_uid = 1",
            "first_valid_gid = 1",
            "passdb {",
            "  driver = passwd-file",
            f"  args = scheme=PLAIN username_format=%u {users_file}",
            "}",
            "userdb {",
            "  driver = passwd-file",
            f"  args = username_format=%u {users_file}",
            "}",
            # no growing wait after a refused login (Dovecot's auth penalty per client IP):
            # a test that tries a wrong password must not slow every later test's login
            "service anvil {",
            "  unix_listener anvil-auth-penalty {",
            "    mode = 0",
            "  }",
            "}",
            "service imap-login {",
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            f"    port = {self.port}",
            "  }",
            "  inet_listener imaps {",
            "    address = 127.0.0.1",
            f"    port = {self.tls_port}",
            "    ssl = yes",
            "  }",
            *([] if is_root() else ["  chroot ="]),
            "}",
        ]
        self.config_file.write_text("\n".join(config) + "\n")

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Install when missing, write the config, start `dovecot -F` and wait for its
        greeting (StackError with the log's last lines when it does not come)."""
        binary = ensure_installed(self.allow_install)
        self.port = free_port()
        self.tls_port = free_port() if self.certificate is not None else 0
        self._write_files()
        log(f"starting dovecot on 127.0.0.1:{self.port} (home {self.home})")
        with (self.home / "dovecot.out").open("ab") as out:
            # its own session, so stop() can end the master and every process it forked
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_file)], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not greets(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                why = "exited" if self._proc.poll() is not None else "did not greet"
                self.stop()
                raise StackError(
                    f"dovecot {why} (port {self.port}); last lines:\n"
                    f"{tail(self.home / 'dovecot.out')}\n{tail(self.log_file)}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to the master, then SIGKILL to its process group if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                log(f"dovecot (pid {proc.pid}) still running after 10s; sending SIGKILL")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # children the master left behind
        proc.wait(10)

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        print("usage: python -m scripts.stack.imap install", file=sys.stderr)
        return 2
    try:
        log(f"dovecot: {ensure_installed()}")
    except StackError as exc:
        print(f"imap: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
