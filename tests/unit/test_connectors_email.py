"""The `email` connector against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from laneway.connectors import ConnectorContext, Job, JobFailed, Secrets
from laneway.connectors.builtin.email import EmailConnector
from tests.mail_kit import SMTP_PASSWORD, SMTP_USER, Mailbox, free_port, smtp_server

INSTANCE = "0b3f6a7e-5d1c-4e2b-8a9f-6c7d8e9f0a1b"
# aiosmtpd warns about AUTH without TLS, which the plain-connection tests do on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def plain_port(mailbox: Mailbox) -> Iterator[int]:
    # AUTH over a plain connection is for this test only; the STARTTLS test does it properly
    with smtp_server(mailbox, auth_require_tls=False) as port:
        yield port


def _job(attrs: Mapping[str, str] | None = None) -> Job:
    return Job(instance_id=INSTANCE, key=23, element_id="notify", element_name="Notify",
               type="email", lane="Case Worker", persona="case-worker",
               attributes=dict(attrs if attrs is not None else {
                   "laneway:to": "{{ citizen.email }}, Clerk <clerk@city.example>",
                   "laneway:cc": "audit@city.example",
                   "laneway:bcc": "archive@city.example",
                   "laneway:subject": "Permit {{ permit.id }} approved",
                   "laneway:body": "Dear {{ citizen.name }},\n\nyour permit {{ permit.id }} "
                                   "is approved.\n",
                   "laneway:resultVariable": "mailId",
               }),
               variables={"citizen": {"name": "Ada", "email": "ada@example.org"},
                          "permit": {"id": "P-7"}},
               headers={}, retries=3)


def _run(job: Job, secrets: Secrets) -> Mapping[str, Any]:
    async def go() -> Mapping[str, Any]:
        async with httpx.AsyncClient() as http:
            ctx = ConnectorContext(secrets=secrets, http=http,
                                   log=logging.LoggerAdapter(logging.getLogger("test")),
                                   idempotency_key=job.idempotency_key, timeout=5.0)
            return await EmailConnector().run(job, ctx)
    return asyncio.run(go())


def _secrets(url: str, name: str = "smtp") -> Secrets:
    return Secrets({f"LANEWAY_SECRET_{name.upper()}": url}, "/nonexistent")


def test_sends_exactly_the_templated_message_with_auth(mailbox: Mailbox,
                                                       plain_port: int) -> None:
    # given the server in the default secret `smtp`, with a sender
    url = f"smtp://{SMTP_USER}:{quote(SMTP_PASSWORD)}@127.0.0.1:{plain_port}?from=noreply%40city.example"

    result = _run(_job(), _secrets(url))

    # then it logged in and received one message with this envelope and these headers
    assert mailbox.logins == [SMTP_USER]
    ((mail_from, rcpt_tos, content),) = mailbox.messages
    assert mail_from == "noreply@city.example"
    assert rcpt_tos == ["ada@example.org", "clerk@city.example", "audit@city.example",
                        "archive@city.example"]
    msg = message_from_bytes(content, policy=policy.default)
    assert msg["From"] == "noreply@city.example"
    assert msg["To"] == "ada@example.org, clerk@city.example"
    assert msg["Cc"] == "audit@city.example"
    assert msg["Bcc"] is None  # bcc only in the envelope
    assert msg["Subject"] == "Permit P-7 approved"
    assert msg["Message-ID"] == f"<job-{INSTANCE}-23@laneway>"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Dear Ada,\r\n\r\nyour permit P-7 is approved.\r\n"  # SMTP: CRLF
    assert result == {"mailId": f"<job-{INSTANCE}-23@laneway>"}


def test_laneway_smtp_names_the_secret_and_laneway_from_wins(mailbox: Mailbox,
                                                             plain_port: int) -> None:
    url = f"smtp://{SMTP_USER}:{quote(SMTP_PASSWORD)}@127.0.0.1:{plain_port}?from=noreply%40city.example"
    job = _job({"laneway:smtp": "main", "laneway:to": "a@example.org",
                "laneway:from": "permits@city.example", "laneway:subject": "s",
                "laneway:body": "b"})

    assert _run(job, _secrets(url, "smtp_main")) == {}

    ((mail_from, rcpt_tos, _),) = mailbox.messages
    assert (mail_from, rcpt_tos) == ("permits@city.example", ["a@example.org"])


def test_a_wrong_password_fails_without_retry_and_without_the_password(
        mailbox: Mailbox, plain_port: int) -> None:
    url = f"smtp://{SMTP_USER}:wrong-pw-99@127.0.0.1:{plain_port}?from=n%40x.example"
    with pytest.raises(JobFailed, match="SMTP login refused: 535") as caught:
        _run(_job(), _secrets(url))
    assert caught.value.retryable is False
    assert "wrong-pw-99" not in str(caught.value)
    assert mailbox.messages == []


def test_an_unreachable_server_is_retryable() -> None:
    url = f"smtp://{SMTP_USER}:{quote(SMTP_PASSWORD)}@127.0.0.1:{free_port()}?from=n%40x.example"
    with pytest.raises(JobFailed, match=r"SMTP connection to 127\.0\.0\.1") as caught:
        _run(_job(), _secrets(url))
    assert caught.value.retryable is True


@pytest.mark.parametrize(("attrs", "secret", "message"), [
    ({"laneway:to": ""}, "smtp://h", "name a recipient"),
    ({"laneway:to": "{{ nobody }}"}, "smtp://h", "Expected variable 'nobody'"),
    ({"laneway:to": "a@x.example"}, "smtp://h", "Expected laneway:from"),
    ({"laneway:to": "a@x.example"}, "http://h", r"scheme smtp, smtp\+starttls or smtps"),
    ({"laneway:to": "a@x.example", "laneway:smtp": "other"}, "smtp://h",
     "Expected secret 'smtp_other'"),
])
def test_malformed_input_fails_without_retry(attrs: dict[str, str], secret: str,
                                             message: str) -> None:
    with pytest.raises(JobFailed, match=message) as caught:
        _run(_job(attrs), _secrets(secret))
    assert caught.value.retryable is False


@pytest.mark.parametrize("email", [
    'a@x.org, b@y.net, "Boss" <c@z.com>', "a@x.org;b@y.net", "Boss <c@z.com>",
    "a@x.org\r\nBcc: e@f.com", ["a@x.org", "b@y.net"], "not an address",
])
def test_a_placeholder_in_an_address_field_must_be_one_address(
        mailbox: Mailbox, plain_port: int, email: Any) -> None:
    # given a form's e-mail field holding a list (the attribute says one address)
    url = f"smtp://{SMTP_USER}:{quote(SMTP_PASSWORD)}@127.0.0.1:{plain_port}?from=n%40x.example"
    job = dataclasses.replace(_job(), variables={"citizen": {"name": "Ada", "email": email},
                                                 "permit": {"id": "P-7"}})

    # then the job fails for good, naming the placeholder, and nobody is mailed
    with pytest.raises(JobFailed, match=r"Expected \{\{ citizen\.email \}\} in laneway:to "
                                        "to be one e-mail address") as caught:
        _run(job, _secrets(url))
    assert caught.value.retryable is False
    assert mailbox.messages == []


@pytest.mark.parametrize("field", ["subject", "from", "cc"])
def test_a_line_break_in_a_header_fails_without_retry(mailbox: Mailbox, plain_port: int,
                                                       field: str) -> None:
    url = f"smtp://{SMTP_USER}:{quote(SMTP_PASSWORD)}@127.0.0.1:{plain_port}?from=n%40x.example"
    attrs = {"laneway:to": "a@x.example", "laneway:subject": "s", "laneway:body": "b",
             f"laneway:{field}": "{{ text }}"}
    job = dataclasses.replace(_job(attrs), variables={"text": "x@y.example\r\nBcc: e@f.com"})

    with pytest.raises(JobFailed) as caught:
        _run(job, _secrets(url))
    assert caught.value.retryable is False
    assert ("line break" in caught.value.message
            or "to be one e-mail address" in caught.value.message), caught.value.message
    assert mailbox.messages == []


def test_a_literal_recipient_the_diagram_writes_is_not_an_address(mailbox: Mailbox,
                                                                   plain_port: int) -> None:
    url = f"smtp://{SMTP_USER}:{quote(SMTP_PASSWORD)}@127.0.0.1:{plain_port}?from=n%40x.example"
    job = _job({"laneway:to": "front desk", "laneway:subject": "s", "laneway:body": "b"})
    with pytest.raises(JobFailed, match="to hold e-mail addresses") as caught:
        _run(job, _secrets(url))
    assert caught.value.retryable is False


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


# `cryptography` is not installed, so the certificate comes from the openssl command line.
@pytest.mark.skipif(shutil.which("openssl") is None,
                    reason="needs the openssl command to make a self-signed certificate")
def test_starttls_with_a_private_ca_then_auth(mailbox: Mailbox, tmp_path: Path) -> None:
    # given a server that requires STARTTLS before AUTH, with a self-signed certificate
    cert, key = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with smtp_server(mailbox, tls_context=tls, require_starttls=True) as port:
        url = (f"smtp+starttls://{SMTP_USER}:{quote(SMTP_PASSWORD)}@127.0.0.1:{port}"
               f"?from=noreply%40city.example&cafile={quote(str(cert))}")

        # when the connector sends, trusting that certificate
        _run(_job(), _secrets(url))

        # then the message arrived over TLS after the login
        assert mailbox.logins == [SMTP_USER]
        ((_, _, content),) = mailbox.messages
        assert message_from_bytes(content)["Message-ID"] == f"<job-{INSTANCE}-23@laneway>"

        # and a client that does not trust the certificate refuses, without retrying
        untrusted = url.split("&cafile=")[0]
        with pytest.raises(JobFailed, match="certificate not trusted") as caught:
            _run(_job(), _secrets(untrusted))
        assert caught.value.retryable is False
