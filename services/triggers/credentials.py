"""Credentials per schedule, stored encrypted: AES-256-GCM with a key that is a secret of the
deployment (never in the database, the diagram or a log).

The key is the secret `triggers_credentials_key` (`LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY`,
or the file of that name in `LANEWAY_SECRETS_DIR`): any string of at least 32 characters,
stretched to 256 bits with HKDF-SHA256. Each value is `nonce (12 bytes) || ciphertext`, with
the schedule's id as associated data, so a ciphertext copied onto another schedule does not
decrypt. The credentials are a JSON object of strings, written whole through the API and never
read back by it (only their names are shown).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from laneway.connectors import JobFailed, Secrets

KEY_SECRET = "triggers_credentials_key"
KEY_VARIABLE = "LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY"
"""Where the secret store looks first for the key (`Secrets`' naming rule); compose and Helm
set it."""
MIN_KEY_CHARS = 32
MAX_CREDENTIALS = 20
MAX_VALUE_CHARS = 8192
_NONCE = 12


class CredentialsUnavailable(RuntimeError):
    """No key is configured, or a stored value does not decrypt with it. Not retryable: the
    deployment (its key) or the schedule's credentials have to change."""


class Vault:
    """Encrypts and decrypts the credentials of schedules with the deployment's key."""

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._aead: AESGCM | None = None

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            try:
                raw = self._secrets.get(KEY_SECRET)
            except JobFailed as exc:
                raise CredentialsUnavailable(
                    f"Expected the secret '{KEY_SECRET}' to encrypt schedules' credentials, "
                    f"but it is not configured: {exc.message}") from None
            if len(raw) < MIN_KEY_CHARS:
                raise CredentialsUnavailable(
                    f"Expected the secret '{KEY_SECRET}' to have at least {MIN_KEY_CHARS} "
                    "characters, but it is shorter")
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"laneway triggers credentials").derive(raw.encode())
            self._aead = AESGCM(key)
        return self._aead

    def available(self) -> str | None:
        """None when credentials can be written, else why not."""
        try:
            self._cipher()
        except CredentialsUnavailable as exc:
            return str(exc)
        return None

    def seal(self, schedule_id: str, values: Mapping[str, str]) -> bytes:
        """The stored form of `values` for `schedule_id`."""
        nonce = os.urandom(_NONCE)
        data = json.dumps(dict(values), separators=(",", ":")).encode()
        return nonce + self._cipher().encrypt(nonce, data, schedule_id.encode())

    def open(self, schedule_id: str, sealed: bytes | None) -> dict[str, str]:
        """The credentials of `schedule_id` ({} when none are set); each value is remembered
        by the secret store so that logs and errors redact it."""
        if not sealed:
            return {}
        try:
            data = self._cipher().decrypt(sealed[:_NONCE], sealed[_NONCE:],
                                          schedule_id.encode())
        except InvalidTag:
            raise CredentialsUnavailable(
                "Expected the schedule's credentials to decrypt with the configured key, but "
                "they do not (the key changed?): set them again") from None
        values = json.loads(data)
        out = {str(k): str(v) for k, v in values.items()}
        for value in out.values():
            self._secrets.remember(value)
        return out


def check_values(values: Mapping[str, object]) -> dict[str, str]:
    """The credentials a client sent, as strings; raises ValueError saying what is wrong."""
    if len(values) > MAX_CREDENTIALS:
        raise ValueError(f"Expected at most {MAX_CREDENTIALS} credentials, but got "
                         f"{len(values)}")
    out: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(value, str):
            raise ValueError(f"Expected credential '{name}' to be a string, but it is "
                             f"{type(value).__name__}")
        if not name or len(name) > 100 or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"Expected credential names of letters, digits, '_' and '-', but "
                             f"got {name[:100]!r}")
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"Expected credential '{name}' of at most {MAX_VALUE_CHARS} "
                             "characters, but it is longer")
        out[name] = value
    return out
