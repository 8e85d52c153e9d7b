"""The local mail catcher (scripts/stack/mail.py): a real SMTP server keeping mail as files."""

from __future__ import annotations

import email
import smtplib
from email.policy import default
from pathlib import Path

import pytest

from scripts.stack.config import Settings
from scripts.stack.mail import Mail
from tests.integration.connector_harness import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_the_catcher_keeps_each_message_as_a_file_and_stops(tmp_path: Path) -> None:
    port = free_port()
    mail = Mail(Settings.from_env({"LANEWAY_STACK_DIR": str(tmp_path),
                                   "LANEWAY_MAIL_PORT": str(port)}))
    mail.up()
    try:
        mail.up()  # a second `up` finds it running
        assert mail.healthy()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("permits@city.example", ["ada@example.org"],
                            "Subject: Permit granted\r\n\r\nDear Ada\r\n")
            client.sendmail("permits@city.example", ["bob@example.org"],
                            "Subject: Permit refused\r\n\r\nDear Bob\r\n")
        files = sorted(mail.inbox.glob("*.eml"), key=lambda p: int(p.name.split("-")[1][:-4]))
        subjects = [email.message_from_bytes(f.read_bytes(), policy=default)["Subject"]
                    for f in files]
        assert subjects == ["Permit granted", "Permit refused"]
        assert mail.url == f"smtp://127.0.0.1:{port}?from=laneway@localhost"
    finally:
        mail.down()
    assert mail.pid() is None
    assert not mail.healthy()


def test_a_second_stack_uses_the_catcher_already_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    first = Mail(Settings.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "a"),
                                    "LANEWAY_MAIL_PORT": str(port)}))
    second = Mail(Settings.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "b"),
                                     "LANEWAY_MAIL_PORT": str(port)}))
    first.up()
    try:
        second.up()  # no error: an SMTP server answers there
        assert second.pid() is None
        second.down()  # and stopping the second stack leaves the first's catcher alone
        assert first.pid() is not None
        assert first.healthy()
    finally:
        first.down()
