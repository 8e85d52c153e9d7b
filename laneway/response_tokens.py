"""One-time signed links for the `response` connector: `…/respond/{token}`.

A token is `<payload>.<mac>`, both base64url without padding: the payload is compact JSON
naming what the answer completes, the mac the HMAC-SHA256 of the payload's base64url text
with the signing key (the secret `response_signing_key`, never in a diagram or a log). The
connector signs (laneway/connectors/builtin/response.py), the triggers service verifies
(services/triggers/respond.py); both read the key from the same secret store.

Payload keys (short: the token travels in a URL):

- `v` 1; `id` a random token id (the nonce: the one-time row's key, and the message id);
- `i` the instance id; `j` the job key (mode `task`: the answer completes the job) or
  `m` the message name (mode `message`: the answer is published with `id` as the
  correlation key);
- `e` the expiry (epoch seconds); `f` the answer's fields; `t` the form's title;
- `w` the name of the webhook secret for signed machine answers (optional);
- `r` the variable the answer lands in (default `response`).

Verification refuses, in this order: a token too long or malformed (`invalid`), a mac that
does not match (`invalid`: which part differed is never said), an expired one (`expired`).
That it was used already is the triggers service's table's to say (`used`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_TOKEN = 2048
"""The longest token accepted or made (characters)."""
MAX_FIELDS = 20
MAX_FIELD_NAME = 64
MAX_TITLE = 200
MIN_KEY = 32
"""The shortest signing key accepted (characters)."""
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class TokenRefused(Exception):
    """A token that answers nothing: `reason` is `invalid` or `expired`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class ResponseToken:
    """What a valid token names."""

    token_id: str
    instance_id: str
    expires_s: int
    job_key: int | None = None
    message: str | None = None
    fields: tuple[str, ...] = ()
    title: str = ""
    webhook_secret: str | None = None
    result: str = "response"

    @property
    def mode(self) -> str:
        """`task` or `message`."""
        return "task" if self.job_key is not None else "message"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": 1, "id": self.token_id, "i": self.instance_id,
                                "e": self.expires_s}
        if self.job_key is not None:
            data["j"] = self.job_key
        if self.message is not None:
            data["m"] = self.message
        if self.fields:
            data["f"] = list(self.fields)
        if self.title:
            data["t"] = self.title
        if self.webhook_secret:
            data["w"] = self.webhook_secret
        if self.result != "response":
            data["r"] = self.result
        return data


def new_token_id() -> str:
    """128 random bits, base64url."""
    return _b64(secrets.token_bytes(16))


def check_fields(fields: Sequence[str]) -> str | None:
    """Why these field names cannot be an answer's fields, or None."""
    if len(fields) > MAX_FIELDS:
        return f"Expected at most {MAX_FIELDS} fields, but got {len(fields)}"
    for name in fields:
        if not _FIELD.match(name):
            return (f"Expected a field name of letters, digits and '_' (at most "
                    f"{MAX_FIELD_NAME}), but got {name[:80]!r}")
    if len(set(fields)) != len(fields):
        return "Expected each field once, but one is named twice"
    return None


def sign(key: str, token: ResponseToken) -> str:
    """The token's text; ValueError when it would be longer than `MAX_TOKEN` or the key is
    too short."""
    _check_key(key)
    body = _b64(json.dumps(token.payload(), separators=(",", ":"),
                           ensure_ascii=True).encode())
    text = f"{body}.{_mac(key, body)}"
    if len(text) > MAX_TOKEN:
        raise ValueError(f"Expected a token of at most {MAX_TOKEN} characters, but it has "
                         f"{len(text)}: fewer or shorter fields, or a shorter title")
    return text


def verify(key: str, text: str, now_s: float) -> ResponseToken:
    """The token `text` names, or TokenRefused."""
    _check_key(key)
    if not 0 < len(text) <= MAX_TOKEN or text.count(".") != 1:
        raise TokenRefused("invalid", "This link is not valid.")
    body, mac = text.split(".")
    if not hmac.compare_digest(_mac(key, body).encode(), mac.encode("utf-8", "replace")):
        raise TokenRefused("invalid", "This link is not valid.")
    try:
        data = json.loads(_unb64(body))
        token = _parse(data)
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise TokenRefused("invalid", "This link is not valid.") from None
    if now_s >= token.expires_s:
        raise TokenRefused("expired", "This link has expired.")
    return token


def _parse(data: Any) -> ResponseToken:
    if not isinstance(data, dict) or data.get("v") != 1:
        raise ValueError("version")
    job = data.get("j")
    message = data.get("m")
    if (job is None) == (message is None):
        raise ValueError("mode")
    if job is not None and (not isinstance(job, int) or isinstance(job, bool)):
        raise ValueError("job")
    fields = data.get("f", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) \
            or check_fields(fields) is not None:
        raise ValueError("fields")
    expires = data["e"]
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise ValueError("expiry")
    for name in ("id", "i"):
        if not isinstance(data[name], str) or not data[name]:
            raise ValueError(name)
    title, webhook, result = data.get("t", ""), data.get("w"), data.get("r", "response")
    if not isinstance(result, str) or not result.isidentifier():
        raise ValueError("result")
    if not isinstance(title, str) or (webhook is not None and not isinstance(webhook, str)) \
            or (message is not None and not isinstance(message, str)):
        raise ValueError("text")
    return ResponseToken(token_id=data["id"], instance_id=data["i"], expires_s=expires,
                         job_key=job, message=message, fields=tuple(fields), title=title,
                         webhook_secret=webhook, result=result)


def _check_key(key: str) -> None:
    if len(key) < MIN_KEY:
        raise ValueError(f"Expected a signing key of at least {MIN_KEY} characters")


def _mac(key: str, body: str) -> str:
    return _b64(hmac.new(key.encode(), b"laneway-response." + body.encode(),
                         hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("alphabet")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
