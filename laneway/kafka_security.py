"""How every Kafka client of a service reaches a secured broker: TLS and SASL from settings.

One set of `LANEWAY_KAFKA_*` settings (docs/kafka-security.md) applies to every client a
process builds (producers, consumers, admin clients), so a managed Kafka (SASL_SSL with PLAIN,
SCRAM or OAUTHBEARER; TLS with a client certificate) needs no code change. The values are
checked once, up front, with messages that say which setting is wrong; the secrets in them
(the SASL password, the key's password, the OAuth client secret) are never shown: not in a
repr, not in an error message, not in a log line.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["KAFKA_SECURITY_VARIABLES", "MECHANISMS", "PROTOCOLS", "KafkaSecurity",
           "KafkaSecurityError", "process_kafka_security"]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")

_P = "LANEWAY_KAFKA_"
# spelled out whole, so a search for a name (and the chart's consistency test) finds it here
KAFKA_SECURITY_VARIABLES = (
    "LANEWAY_KAFKA_SECURITY_PROTOCOL", "LANEWAY_KAFKA_SASL_MECHANISM",
    "LANEWAY_KAFKA_SASL_USERNAME", "LANEWAY_KAFKA_SASL_PASSWORD",
    "LANEWAY_KAFKA_SSL_CA_LOCATION", "LANEWAY_KAFKA_SSL_CERTIFICATE_LOCATION",
    "LANEWAY_KAFKA_SSL_KEY_LOCATION", "LANEWAY_KAFKA_SSL_KEY_PASSWORD",
    "LANEWAY_KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL",
    "LANEWAY_KAFKA_SASL_OAUTHBEARER_CLIENT_ID", "LANEWAY_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET",
    "LANEWAY_KAFKA_SASL_OAUTHBEARER_SCOPE",
)
"""Every setting read here (a chart or a test passes exactly these)."""

_MAX_VALUE = 4096  # a setting is a name, a path or a URL: anything longer is a mistake


class KafkaSecurityError(ValueError):
    """A Kafka security setting is missing, malformed or contradicts another.
    (`laneway.settings.SettingsError` is raised for it where the service's settings are read.)"""


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSecurity:
    """The security of every Kafka connection of a process. The default is PLAINTEXT."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    ca_location: str | None = None
    certificate_location: str | None = None
    key_location: str | None = None
    key_password: str | None = None
    token_endpoint_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        # the secrets are shown only as set or not, so a logged Settings leaks nothing
        def secret(value: str | None) -> str:
            return "None" if value is None else "'***'"

        return (f"KafkaSecurity(protocol={self.protocol!r}, mechanism={self.mechanism!r}, "
                f"username={self.username!r}, password={secret(self.password)}, "
                f"ca_location={self.ca_location!r}, "
                f"certificate_location={self.certificate_location!r}, "
                f"key_location={self.key_location!r}, key_password={secret(self.key_password)}, "
                f"token_endpoint_url={self.token_endpoint_url!r}, "
                f"client_id={self.client_id!r}, client_secret={secret(self.client_secret)}, "
                f"scope={self.scope!r})")

    __str__ = __repr__

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The settings in `env` (default: the process environment), checked."""
        e = os.environ if env is None else env

        def get(name: str, *, secret: bool = False) -> str | None:
            assert _P + name in KAFKA_SECURITY_VARIABLES
            raw = e.get(_P + name, "")
            if len(raw) > _MAX_VALUE:
                raise KafkaSecurityError(
                    f"Expected {_P}{name} to be at most {_MAX_VALUE} characters, but it has "
                    f"{len(raw)}")
            # a secret is taken as written (spaces may be part of it); the rest is trimmed
            value = raw if secret else raw.strip()
            return value or None

        protocol = (get("SECURITY_PROTOCOL") or "PLAINTEXT").upper()
        mechanism = get("SASL_MECHANISM")
        security = cls(
            protocol=protocol,
            mechanism=mechanism.upper() if mechanism else None,
            username=get("SASL_USERNAME"),
            password=get("SASL_PASSWORD", secret=True),
            ca_location=get("SSL_CA_LOCATION"),
            certificate_location=get("SSL_CERTIFICATE_LOCATION"),
            key_location=get("SSL_KEY_LOCATION"),
            key_password=get("SSL_KEY_PASSWORD", secret=True),
            token_endpoint_url=get("SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL"),
            client_id=get("SASL_OAUTHBEARER_CLIENT_ID"),
            client_secret=get("SASL_OAUTHBEARER_CLIENT_SECRET", secret=True),
            scope=get("SASL_OAUTHBEARER_SCOPE"),
        )
        security.check()
        return security

    def check(self) -> None:
        """Raise KafkaSecurityError naming the first setting that is wrong."""
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(
                f"Expected {_P}SECURITY_PROTOCOL to be one of {', '.join(PROTOCOLS)}, but got "
                f"{self.protocol!r}")
        self._check_sasl()
        self._check_tls()

    def _check_sasl(self) -> None:
        oauth = (self.token_endpoint_url, self.client_id, self.client_secret, self.scope)
        if not self.sasl:
            for name, value in (("SASL_MECHANISM", self.mechanism),
                                ("SASL_USERNAME", self.username),
                                ("SASL_PASSWORD", self.password)):
                if value is not None:
                    raise KafkaSecurityError(
                        f"{_P}{name} is set, but {_P}SECURITY_PROTOCOL is {self.protocol}: "
                        "set it to SASL_SSL (or SASL_PLAINTEXT) to use SASL")
            if any(v is not None for v in oauth):
                raise KafkaSecurityError(
                    f"The {_P}SASL_OAUTHBEARER_* settings are set, but {_P}SECURITY_PROTOCOL "
                    f"is {self.protocol}: set it to SASL_SSL and {_P}SASL_MECHANISM to "
                    "OAUTHBEARER")
            return
        if self.mechanism is None:
            raise KafkaSecurityError(
                f"{_P}SECURITY_PROTOCOL is {self.protocol}, so {_P}SASL_MECHANISM must be set "
                f"(one of {', '.join(MECHANISMS)})")
        if self.mechanism not in MECHANISMS:
            raise KafkaSecurityError(
                f"Expected {_P}SASL_MECHANISM to be one of {', '.join(MECHANISMS)}, but got "
                f"{self.mechanism!r}")
        if self.mechanism == "OAUTHBEARER":
            self._check_oauth()
            return
        if any(v is not None for v in oauth):
            raise KafkaSecurityError(
                f"The {_P}SASL_OAUTHBEARER_* settings are set, but {_P}SASL_MECHANISM is "
                f"{self.mechanism}, not OAUTHBEARER")
        missing = [name for name, value in (("SASL_USERNAME", self.username),
                                            ("SASL_PASSWORD", self.password)) if value is None]
        if missing:
            raise KafkaSecurityError(
                f"{_P}SASL_MECHANISM is {self.mechanism}, which needs a user name and a "
                f"password, but {' and '.join(_P + m for m in missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set")

    def _check_oauth(self) -> None:
        if self.username is not None or self.password is not None:
            raise KafkaSecurityError(
                f"{_P}SASL_MECHANISM is OAUTHBEARER, which takes a client id and secret "
                f"({_P}SASL_OAUTHBEARER_CLIENT_ID/_CLIENT_SECRET), not {_P}SASL_USERNAME/"
                "_PASSWORD")
        missing = [name for name, value in (
            ("SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL", self.token_endpoint_url),
            ("SASL_OAUTHBEARER_CLIENT_ID", self.client_id),
            ("SASL_OAUTHBEARER_CLIENT_SECRET", self.client_secret)) if value is None]
        if missing:
            raise KafkaSecurityError(
                f"{_P}SASL_MECHANISM is OAUTHBEARER, which needs a token endpoint, a client id "
                f"and a client secret, but {', '.join(_P + m for m in missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set")
        assert self.token_endpoint_url is not None
        url = urlsplit(self.token_endpoint_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise KafkaSecurityError(
                f"Expected {_P}SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL to be an http(s) URL, but "
                f"got {self.token_endpoint_url!r}")

    def _check_tls(self) -> None:
        files = (("SSL_CA_LOCATION", self.ca_location),
                 ("SSL_CERTIFICATE_LOCATION", self.certificate_location),
                 ("SSL_KEY_LOCATION", self.key_location))
        if not self.tls:
            for name, value in (*files, ("SSL_KEY_PASSWORD", self.key_password)):
                if value is not None:
                    raise KafkaSecurityError(
                        f"{_P}{name} is set, but {_P}SECURITY_PROTOCOL is {self.protocol}, "
                        "which does not use TLS: set it to SSL or SASL_SSL")
            return
        for name, value in files:
            if value is not None and not Path(value).is_file():
                raise KafkaSecurityError(
                    f"{_P}{name} names {value!r}, which is not a readable file")
        if (self.certificate_location is None) != (self.key_location is None):
            raise KafkaSecurityError(
                f"A client certificate needs both {_P}SSL_CERTIFICATE_LOCATION and "
                f"{_P}SSL_KEY_LOCATION, but only one is set")
        if self.key_password is not None and self.key_location is None:
            raise KafkaSecurityError(
                f"{_P}SSL_KEY_PASSWORD is set, but {_P}SSL_KEY_LOCATION is not")

    def config(self) -> dict[str, Any]:
        """The librdkafka properties for these settings (empty for PLAINTEXT). They hold the
        secrets: pass them to a client, never to a log."""
        if self.protocol == "PLAINTEXT":
            return {}
        config: dict[str, Any] = {"security.protocol": self.protocol.lower()}
        if self.tls:
            for key, value in (("ssl.ca.location", self.ca_location),
                               ("ssl.certificate.location", self.certificate_location),
                               ("ssl.key.location", self.key_location),
                               ("ssl.key.password", self.key_password)):
                if value is not None:
                    config[key] = value
            # the broker's name is checked against its certificate (librdkafka's default
            # since 2.0, stated so a changed default cannot turn it off silently)
            config["ssl.endpoint.identification.algorithm"] = "https"
        if self.sasl:
            assert self.mechanism is not None
            config["sasl.mechanism"] = self.mechanism
            if self.mechanism == "OAUTHBEARER":
                # librdkafka's own OIDC client: client credentials grant at the endpoint,
                # the token renewed before it expires
                config["sasl.oauthbearer.method"] = "oidc"
                config["sasl.oauthbearer.token.endpoint.url"] = self.token_endpoint_url
                config["sasl.oauthbearer.client.id"] = self.client_id
                config["sasl.oauthbearer.client.secret"] = self.client_secret
                if self.scope is not None:
                    config["sasl.oauthbearer.scope"] = self.scope
            else:
                config["sasl.username"] = self.username
                config["sasl.password"] = self.password
        return config


def process_kafka_security() -> KafkaSecurity:
    """The settings in the process environment, read and checked once for the values there
    (a test that changes them gets the new ones)."""
    return _cached(tuple(os.environ.get(name) for name in KAFKA_SECURITY_VARIABLES))


@functools.lru_cache(maxsize=4)
def _cached(values: tuple[str | None, ...]) -> KafkaSecurity:
    return KafkaSecurity.from_env({name: value for name, value
                                   in zip(KAFKA_SECURITY_VARIABLES, values, strict=True)
                                   if value is not None})
