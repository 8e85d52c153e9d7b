"""Secrets for connectors: from the environment or mounted files, never from the diagram.

A secret `smtp_main` is `LANEWAY_SECRET_SMTP_MAIN` when set, else the file `smtp_main` in
`LANEWAY_SECRETS_DIR` (default `/run/secrets/laneway`, where Kubernetes and Docker mount
them). Every value handed out is remembered so `redact` can keep it out of logs and failure
messages; for a URL its password is remembered too (an error may quote only that part).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from laneway.connectors._api import JobFailed

DEFAULT_SECRETS_DIR = "/run/secrets/laneway"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Shorter values would redact ordinary words; no real secret is this short.
_MIN_REDACTED = 3
MASK = "***"


class Secrets:
    """Looks secrets up by name and remembers them for redaction. Thread-safe."""

    def __init__(self, environ: Mapping[str, str] | None = None,
                 directory: str | os.PathLike[str] | None = None) -> None:
        self._env = dict(os.environ if environ is None else environ)
        self._dir = Path(directory if directory is not None else
                         self._env.get("LANEWAY_SECRETS_DIR", DEFAULT_SECRETS_DIR))
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        """The secret's value; raises a non-retryable `JobFailed` naming where it was looked
        for (but never a value) when it is missing: the deployment has to change."""
        if not _NAME.match(name):
            raise JobFailed(f"Expected a secret name of letters, digits, '_', '.', '-', but got "
                            f"{name!r}", retryable=False)
        env_name = "LANEWAY_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
        value = self._env.get(env_name)
        if value is None:
            path = self._dir / name
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError:
                raise JobFailed(
                    f"Expected secret '{name}' in {env_name} or the file {path}, but neither "
                    "is there", retryable=False) from None
        self.remember(value)
        return value

    def remember(self, value: str) -> None:
        """Treat `value` (and, for a URL, its user name's password) as secret from now on."""
        candidates = {value.strip()}
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            candidates |= {password, unquote(password)}
        with self._lock:
            self._seen |= {c for c in candidates if len(c) >= _MIN_REDACTED}

    def redact(self, text: str) -> str:
        """`text` with every remembered value replaced by `***` (longest first, so a value
        containing another is masked whole)."""
        with self._lock:
            values = sorted(self._seen, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return text
