"""The local mail catcher as a stack component (the server itself: `mailserver.py`).

An SMTP server on loopback that keeps every message as a file.

The e-mail connector needs a server to talk to, and a person trying Laneway wants to read the
mail a process sent. This is a real SMTP server (aiosmtpd), so the connector is exercised as in
production; nothing leaves the machine. Each message lands in `<state>/mail/` as
`<epoch ms>-<n>.eml`, newest last.

    python -m scripts.stack.mailserver --port 11025 --dir var/stack/mail   (what `up` starts)
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from scripts.stack.config import Settings, StackError
from scripts.stack.proc import log, port_open, read_pid, stop_pid, tail, wait_until

_MARKER = "scripts.stack.mailserver"


def banner_ok(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True when an SMTP server greets with 220."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            return sock.recv(128).startswith(b"220")
    except OSError:
        return False


class Mail:
    """The mail catcher as a stack component (same shape as Redis and Postgres)."""

    name = "mail"

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.inbox = settings.state_dir / "mail"
        self.pid_file = settings.run_dir / "mail.pid"
        self.log_file = settings.logs_dir / "mail.log"

    @property
    def url(self) -> str:
        """The connector's `smtp` secret for this server."""
        return f"smtp://127.0.0.1:{self.s.mail_port}?from=laneway@localhost"

    def pid(self) -> int | None:
        return read_pid(self.pid_file, _MARKER)

    def healthy(self) -> bool:
        return banner_ok(self.s.mail_port)

    def up(self) -> None:
        pid = self.pid()
        if pid is not None:
            if wait_until(self.healthy, 15, 0.2):
                log(f"mail catcher already running (pid {pid}, port {self.s.mail_port})")
                return
            raise StackError(f"mail catcher (pid {pid}) does not greet; see {self.log_file}")
        if port_open(self.s.mail_port):
            if self.healthy():
                # another checkout's catcher (or any SMTP server there): mail goes to it
                log(f"an SMTP server already answers on port {self.s.mail_port}; using it")
                return
            raise StackError(f"port {self.s.mail_port} is taken by another process; set "
                             "LANEWAY_MAIL_PORT")
        for folder in (self.inbox, self.s.logs_dir, self.s.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        log(f"starting the mail catcher on 127.0.0.1:{self.s.mail_port} (mail in {self.inbox})")
        with self.log_file.open("ab") as out:
            # its own session: a Ctrl-C in the terminal that ran `make up` must not stop it
            proc = subprocess.Popen(
                [sys.executable, "-m", _MARKER, "--port", str(self.s.mail_port),
                 "--dir", str(self.inbox)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
        self.pid_file.write_text(f"{proc.pid}\n")
        if not wait_until(lambda: proc.poll() is not None or self.healthy(), 20, 0.1) \
                or proc.poll() is not None:
            raise StackError(f"the mail catcher did not start; last lines:\n"
                             f"{tail(self.log_file)}")
        log(f"mail catcher up (pid {proc.pid})")

    def down(self) -> None:
        pid = self.pid()
        if pid is not None:
            log(f"stopping the mail catcher (pid {pid})")
            stop_pid(pid, "mail catcher", 10)
        self.pid_file.unlink(missing_ok=True)
