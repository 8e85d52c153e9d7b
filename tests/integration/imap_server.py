"""A real IMAP server for the `imap-mailbox` trigger's tests: Dovecot (scripts/stack/imap.py)
with a test certificate authority, so IMAPS and STARTTLS are tested as well as plain IMAP, and
a small client to put messages in its folders and look at them (imaplib, as a mail client
would).

    with imap_server(tmp) as server:
        with server.client("ada") as box:
            box.append("Invoices", message(subject="Invoice 1"))
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import ipaddress
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scripts.stack.imap import Dovecot

PASSWORDS = {"ada": "ada-Pa55-word", "nomove": "nomove-Pa55-word",
             "uidplus": "uidplus-Pa55-word", "umlaut": "Pässwörd-ü1"}
"""The server's users; `nomove` is offered neither MOVE nor UIDPLUS (as an older server),
`uidplus` UIDPLUS but no MOVE; `umlaut` has a password that IMAP's LOGIN cannot carry."""


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1 and localhost."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Laneway test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def message(*, subject: str = "Hello", sender: str = "Ada Lovelace <ada@example.org>",
            to: str = "desk@example.org", cc: str | None = None, text: str | None = "Hi.",
            html: str | None = None, message_id: str | None = None,
            attachments: tuple[tuple[str, bytes, str], ...] = ()) -> bytes:
    """A message as a mail client writes it; attachments as (name, bytes, content type)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    if cc:
        mail["Cc"] = cc
    mail["Subject"] = subject
    mail["Date"] = "Tue, 01 Jul 2025 10:00:00 +0200"
    if message_id:
        mail["Message-ID"] = message_id
    if text is not None:
        mail.set_content(text)
    if html is not None:
        if text is None:
            mail.set_content(html, subtype="html")
        else:
            mail.add_alternative(html, subtype="html")
    for name, data, content_type in attachments:
        maintype, _, subtype = content_type.partition("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes()


class Client:
    """A logged-in imaplib connection for putting messages in and looking at them."""

    def __init__(self, conn: imaplib.IMAP4) -> None:
        self.conn = conn

    def create(self, folder: str) -> None:
        assert self.conn.create(folder)[0] == "OK"

    def delete(self, folder: str) -> None:
        assert self.conn.delete(folder)[0] == "OK"

    def append(self, folder: str, raw: bytes) -> int:
        """Put a message in the folder; its UID."""
        typ, data = self.conn.append(folder, "", None, raw)
        assert typ == "OK", data
        # [APPENDUID <uidvalidity> <uid>] (Dovecot has UIDPLUS)
        return int(data[0].split(b"]")[0].split()[-1])

    def exists(self, folder: str) -> bool:
        typ, data = self.conn.list('""', f'"{folder}"')
        return typ == "OK" and any(data)

    def uids(self, folder: str) -> list[int]:
        assert self.conn.select(folder, readonly=True)[0] == "OK"
        _typ, data = self.conn.uid("SEARCH", "ALL")
        return [int(u) for u in data[0].split()]

    def flags(self, folder: str, uid: int) -> str:
        assert self.conn.select(folder, readonly=True)[0] == "OK"
        _typ, data = self.conn.uid("FETCH", str(uid), "(FLAGS)")
        return b" ".join(d for d in data if isinstance(d, bytes)).decode()

    def uid_validity(self, folder: str) -> int:
        assert self.conn.select(folder, readonly=True)[0] == "OK"
        return int(self.conn.response("UIDVALIDITY")[1][0])


@dataclass
class ImapServer:
    dovecot: Dovecot
    ca_file: Path

    @property
    def port(self) -> int:
        return self.dovecot.port

    @property
    def tls_port(self) -> int:
        return self.dovecot.tls_port

    @contextlib.contextmanager
    def client(self, user: str) -> Iterator[Client]:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            secret = f"\0{user}\0{PASSWORDS[user]}".encode()
            conn.authenticate("PLAIN", lambda _challenge: secret)
            yield Client(conn)
        finally:
            with contextlib.suppress(Exception):
                conn.logout()


@contextlib.contextmanager
def imap_server() -> Iterator[ImapServer]:
    """Dovecot with the users of PASSWORDS, on free loopback ports (IMAP with STARTTLS and
    IMAPS), in a directory of its own that is removed afterwards."""
    # not pytest's tmp_path: its parents are private to root, and Dovecot's login and mail
    # processes run as other users
    home = Path(tempfile.mkdtemp(prefix="laneway-imap-"))
    home.chmod(0o755)
    try:
        ca, cert, key = _certificates(home)
        server = Dovecot(home / "dovecot", PASSWORDS, certificate=(cert, key), extra={
            "nomove": {"imap_capability": "IMAP4rev1 LITERAL+ IDLE"},
            "uidplus": {"imap_capability": "IMAP4rev1 LITERAL+ UIDPLUS"}})
        with server:
            yield ImapServer(server, ca)
    finally:
        shutil.rmtree(home, ignore_errors=True)
