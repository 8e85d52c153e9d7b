"""The local Kafka's secured listeners, so the clients' TLS and SASL settings are tested for real.

Beside its PLAINTEXT listener the stack's broker listens (on by default; a port of 0 turns one
off):
- SASL_SSL on `LANEWAY_KAFKA_SECURE_PORT` (19094) with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
  and OAUTHBEARER. OAUTHBEARER tokens are validated for real: signed JWTs checked against a
  JWKS (a file the stack writes; Kafka's OAuthBearerValidatorCallbackHandler), with issuer and
  audience. Tokens come from a small OIDC token endpoint (`scripts.stack.oidc`) that signs
  with the matching key; the tests run it.
- SSL with a required client certificate on `LANEWAY_KAFKA_SSL_PORT` (19095).

Everything is made once into `<state>/kafka/secure/` with the `cryptography` package: a CA,
the broker's certificate for 127.0.0.1 and localhost, a client certificate, the JWT signing
key, and `secure.json`, which tells tests and developers where the listeners are and the test
principal's credentials (random, readable only by the owner). Nothing here is for production:
it is a stand-in for a managed Kafka.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.stack.config import Settings, StackError
from scripts.stack.proc import log

__all__ = ["AUDIENCE", "ISSUER", "SecureInfo", "SecureListeners", "check_ports", "secure_info"]

USER = "laneway-test"
OAUTH_CLIENT_ID = "laneway-test-client"
ISSUER = "https://laneway.local/oidc"
AUDIENCE = "laneway-kafka"
KEY_ID = "laneway-stack-1"
SCRAM_ITERATIONS = 8192
_VALID = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class SecureInfo:
    """What `secure.json` says: where the secured listeners are and how to log in."""

    sasl_ssl: str | None
    """host:port of the SASL_SSL listener, None when off."""
    ssl: str | None
    """host:port of the SSL listener (client certificate required), None when off."""
    ca: str
    client_certificate: str
    client_key: str
    username: str
    password: str
    oauth_client_id: str
    oauth_client_secret: str
    oauth_signing_key: str
    """The PEM private key whose public half is the broker's JWKS (for the token endpoint)."""
    issuer: str
    audience: str
    key_id: str

    def __repr__(self) -> str:  # the secrets stay out of test output
        return f"SecureInfo(sasl_ssl={self.sasl_ssl!r}, ssl={self.ssl!r}, ca={self.ca!r})"


def secure_info(settings: Settings) -> SecureInfo:
    """The stack's secured listeners, from `secure.json`; StackError saying why when the
    stack was started without them."""
    path = SecureListeners(settings).info_file
    if not path.is_file():
        raise StackError(
            f"{path} does not exist: the stack's Kafka was started without its secured "
            "listeners (LANEWAY_KAFKA_SECURE_PORT=0, or a stack older than them: restart it "
            "with `make down && make up`), or LANEWAY_STACK_DIR does not name the state "
            "directory of the stack that is running")
    return SecureInfo(**json.loads(path.read_text()))


class SecureListeners:
    """Makes the certificates, keys and credentials once, and the broker's properties."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.dir = settings.state_dir / "kafka" / "secure"
        self.ca = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca.key"
        self.broker = self.dir / "broker.pem"  # key and certificate: Kafka's PEM keystore
        self.client_certificate = self.dir / "client.pem"
        self.client_key = self.dir / "client.key"
        self.signing_key = self.dir / "oauth.key"
        self.jwks = self.dir / "jwks.json"
        self.info_file = self.dir / "secure.json"

    @property
    def enabled(self) -> bool:
        return bool(self.s.kafka_secure_port or self.s.kafka_ssl_port)

    @property
    def jwks_url(self) -> str:
        return self.jwks.as_uri()

    def ensure(self) -> None:
        """Make what is missing (a complete set is kept as it is)."""
        if self.info_file.is_file() and all(p.is_file() for p in (
                self.ca, self.broker, self.client_certificate, self.client_key,
                self.signing_key, self.jwks)):
            self._write_info(json.loads(self.info_file.read_text()))
            return
        log(f"making the secured Kafka listeners' CA, certificates and keys in {self.dir}")
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        ca_key, ca_cert = _ca()
        _write_key(self.ca_key, ca_key)
        self.ca.write_bytes(_cert_pem(ca_cert))
        broker_key, broker_cert = _leaf(ca_key, ca_cert, "localhost", server=True)
        _write_key(self.broker, broker_key, extra=_cert_pem(broker_cert))
        client_key, client_cert = _leaf(ca_key, ca_cert, USER, server=False)
        _write_key(self.client_key, client_key)
        self.client_certificate.write_bytes(_cert_pem(client_cert))
        signing = _rsa()
        _write_key(self.signing_key, signing)
        self.jwks.write_text(json.dumps({"keys": [_jwk(signing, KEY_ID)]}))
        self._write_info({"password": secrets.token_urlsafe(24),
                          "oauth_client_secret": secrets.token_urlsafe(24)})

    def _write_info(self, old: dict[str, Any]) -> None:
        """secure.json with the listeners of the current settings (the ports may change
        between runs) and the credentials made the first time."""
        host = "127.0.0.1"
        info = {
            "sasl_ssl": f"{host}:{self.s.kafka_secure_port}" if self.s.kafka_secure_port else None,
            "ssl": f"{host}:{self.s.kafka_ssl_port}" if self.s.kafka_ssl_port else None,
            "ca": str(self.ca), "client_certificate": str(self.client_certificate),
            "client_key": str(self.client_key), "username": USER, "password": old["password"],
            "oauth_client_id": OAUTH_CLIENT_ID,
            "oauth_client_secret": old["oauth_client_secret"],
            "oauth_signing_key": str(self.signing_key), "issuer": ISSUER,
            "audience": AUDIENCE, "key_id": KEY_ID,
        }
        tmp = self.info_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        tmp.replace(self.info_file)

    def properties(self) -> tuple[list[str], list[str], dict[str, str]]:
        """The (listeners, advertised listeners, other properties) the broker adds."""
        if not self.enabled:
            return [], [], {}
        info = secure_info(self.s)
        listeners: list[str] = []
        props = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.broker),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca),
        }
        if self.s.kafka_secure_port:
            listeners.append(f"SASL_SSL://127.0.0.1:{self.s.kafka_secure_port}")
            name = "listener.name.sasl_ssl."
            scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            oauth = "org.apache.kafka.common.security.oauthbearer"
            props.update({
                "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
                # PLAIN's users live in the broker's JAAS config (the password only in this
                # file, which is the owner's alone; see _write_config)
                f"{name}plain.sasl.jaas.config": (
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'user_{info.username}="{info.password}";'),
                # SCRAM's are in the cluster metadata (add_scram_users, after start)
                f"{name}scram-sha-256.sasl.jaas.config": scram,
                f"{name}scram-sha-512.sasl.jaas.config": scram,
                f"{name}oauthbearer.sasl.jaas.config": f"{oauth}.OAuthBearerLoginModule required;",
                f"{name}oauthbearer.sasl.server.callback.handler.class":
                    f"{oauth}.OAuthBearerValidatorCallbackHandler",
                f"{name}oauthbearer.sasl.oauthbearer.jwks.endpoint.url": self.jwks_url,
                f"{name}oauthbearer.sasl.oauthbearer.expected.issuer": ISSUER,
                f"{name}oauthbearer.sasl.oauthbearer.expected.audience": AUDIENCE,
            })
        if self.s.kafka_ssl_port:
            listeners.append(f"SSL://127.0.0.1:{self.s.kafka_ssl_port}")
            props["listener.name.ssl.ssl.client.auth"] = "required"
        return listeners, list(listeners), props

    def jvm_options(self) -> list[str]:
        # Kafka reads no OAuth URL it is not allowed to (a guard against SSRF by config)
        if not self.s.kafka_secure_port:
            return []
        return [f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={self.jwks_url}"]

    def add_scram_users(self, bootstrap: str, timeout: float = 30.0) -> None:
        """Give the test principal its SCRAM-SHA-256 and -512 credentials (an upsert: the
        same on every start), through the plaintext listener."""
        if not self.s.kafka_secure_port:
            return
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import (
            AdminClient,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        info = secure_info(self.s)
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        # one request a mechanism: Kafka refuses two changes of one user in one request
        for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
            upsert = UserScramCredentialUpsertion(
                info.username, ScramCredentialInfo(mechanism, SCRAM_ITERATIONS),
                info.password.encode(), secrets.token_bytes(16))
            futures = admin.alter_user_scram_credentials([upsert], request_timeout=timeout)
            for user, future in futures.items():
                try:
                    future.result(timeout=timeout)
                except KafkaException as exc:
                    raise StackError(
                        f"cannot add the {mechanism.name} credentials of {user}: {exc}") from exc


# -- the certificates and keys ------------------------------------------------------------


def _rsa() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Laneway local stack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca() -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _rsa()
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(_name("Laneway local stack CA"))
            .issuer_name(_name("Laneway local stack CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca_key: Any, ca_cert: Any, common_name: str, *, server: bool) -> tuple[Any, Any]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _rsa()
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name))
               .issuer_name(ca_cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + _VALID)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(
                   [ExtendedKeyUsageOID.SERVER_AUTH if server
                    else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if server:  # librdkafka checks the name it dialled against these
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _cert_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: Any, extra: bytes = b"") -> None:
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem + extra)


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwk(key: Any, kid: str) -> dict[str, str]:
    public = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": _b64(public.n), "e": _b64(public.e)}


def check_ports(settings: Settings) -> None:
    """Refuse secured ports that collide with the others."""
    ports = [settings.kafka_port, settings.kafka_controller_port]
    for port in (settings.kafka_secure_port, settings.kafka_ssl_port):
        if port and port in ports:
            raise StackError(f"the secured Kafka listener's port {port} is already in use by "
                             "another listener: set LANEWAY_KAFKA_SECURE_PORT / "
                             "LANEWAY_KAFKA_SSL_PORT")
        ports.append(port)
