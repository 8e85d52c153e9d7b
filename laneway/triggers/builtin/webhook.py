"""`webhook`: a partner's system calls `POST /api/hooks/{schedule id}` and an instance starts.

Not polled: the triggers service answers the call. The call is checked before anything
starts:

- **signature**: `X-Laneway-Signature: sha256=<hex>`, the HMAC-SHA256 of
  `<timestamp>.<raw body>` with the schedule's credential `secret` (set through the API; a
  schedule without one refuses every call);
- **replay window**: `X-Laneway-Timestamp` (epoch seconds) within `toleranceSeconds` (default
  300) of the service's clock, so a captured call cannot be sent again later;
- **delivery id**: `X-Laneway-Delivery` (any string of up to 200 characters) is the dedup key:
  a delivery sent again starts nothing new and is answered with the instance it started.
  Without one, the signature (unique per timestamp and body) is the key.

The header names are settings (`signatureHeader`, `timestampHeader`, `deliveryHeader`), so a
sender with its own convention (`X-Hub-Signature-256`) fits without a proxy. The body must be
a JSON object; it becomes the instance's variables under `variablesName` (default: the
object's keys are the variables themselves).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

from laneway.attributes import Attribute
from laneway.triggers._api import PollRequest, PollResult, Trigger, TriggerContext, TriggerItem

DEFAULT_SIGNATURE = "X-Laneway-Signature"
DEFAULT_TIMESTAMP = "X-Laneway-Timestamp"
DEFAULT_DELIVERY = "X-Laneway-Delivery"
DEFAULT_TOLERANCE_S = 300
MAX_DELIVERY_ID = 200
_MAX_TOLERANCE_S = 86_400


class HookRefused(Exception):
    """A call that starts nothing: its HTTP status and what the caller should know (never
    the secret, never which part of a signature differed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for a call (what a sender computes)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookTrigger(Trigger):
    """Webhook calls, answered by the triggers service's hook route."""

    type = "webhook"

    attributes = (
        Attribute("signatureHeader", "Signature header", "The header with sha256=<hex>; "
                  f"default {DEFAULT_SIGNATURE}"),
        Attribute("timestampHeader", "Timestamp header", "Epoch seconds of the call; default "
                  f"{DEFAULT_TIMESTAMP}"),
        Attribute("deliveryHeader", "Delivery header", "The delivery id, the dedup key; "
                  f"default {DEFAULT_DELIVERY}"),
        Attribute("toleranceSeconds", "Tolerance (seconds)", "How far the timestamp may be "
                  f"from the clock; default {DEFAULT_TOLERANCE_S}", kind="number", low=1),
        Attribute("variablesName", "Variable name", "The body as one variable of this name; "
                  "else its keys are the variables", group="result"),
    )
    initial = "fire-existing"
    polled = False

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        raw = settings.get("toleranceSeconds")
        if raw is not None and (not raw.isdigit() or not 1 <= int(raw) <= _MAX_TOLERANCE_S):
            yield (f"Expected laneway:toleranceSeconds to be a whole number of seconds from 1 "
                   f"to {_MAX_TOLERANCE_S}, but got {raw!r}")
        for name in ("signatureHeader", "timestampHeader", "deliveryHeader"):
            header = settings.get(name)
            if header is not None and not _token(header):
                yield f"Expected laneway:{name} to be an HTTP header name, but got {header!r}"
        var = settings.get("variablesName")
        if var is not None and not var.isidentifier():
            yield f"Expected laneway:variablesName to be a variable name, but got {var!r}"

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        # never called: `polled = False`; a stray call finds nothing
        return PollResult([], request.cursor)

    def accept(self, settings: Mapping[str, str], credentials: Mapping[str, str],
               headers: Mapping[str, str], body: bytes, now_s: float) -> TriggerItem:
        """The item a call starts, or HookRefused. `headers` keys in lower case."""
        secret = credentials.get("secret")
        if not secret:
            raise HookRefused(503, "Expected the schedule to have a signing secret, but none "
                                   "is set: an operator sets the credential 'secret'")
        sig_name = settings.get("signatureHeader", DEFAULT_SIGNATURE).lower()
        ts_name = settings.get("timestampHeader", DEFAULT_TIMESTAMP).lower()
        timestamp = headers.get(ts_name, "")
        signature = headers.get(sig_name, "")
        if not timestamp or not signature:
            raise HookRefused(401, f"Expected the headers {sig_name} and {ts_name}, but "
                                   f"{'both are' if not (timestamp or signature) else 'one is'} "
                                   "missing")
        try:
            sent = float(timestamp)
        except ValueError:
            raise HookRefused(401, f"Expected {ts_name} to be epoch seconds, but it is "
                                   "not") from None
        tolerance = int(settings.get("toleranceSeconds", DEFAULT_TOLERANCE_S))
        if not abs(now_s - sent) <= tolerance:
            raise HookRefused(401, f"Expected {ts_name} within {tolerance}s of now, but it is "
                                   "not (a replayed or late call, or a wrong clock)")
        # bytes, not text: compare_digest refuses text with non-ASCII characters (TypeError),
        # and a header's value may hold any byte
        if not hmac.compare_digest(sign(secret, timestamp, body).encode(),
                                   signature.strip().encode("utf-8", "replace")):
            raise HookRefused(401, f"Expected {sig_name} to be the HMAC-SHA256 of "
                                   "'<timestamp>.<body>' with the schedule's secret, but it "
                                   "is not")
        try:
            payload: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise HookRefused(422, "Expected a JSON object as the body, but it is not "
                                   "JSON") from None
        if not isinstance(payload, dict):
            raise HookRefused(422, f"Expected a JSON object as the body, but got "
                                   f"{type(payload).__name__}")
        delivery = headers.get(settings.get("deliveryHeader", DEFAULT_DELIVERY).lower())
        if delivery is not None and not 0 < len(delivery) <= MAX_DELIVERY_ID:
            raise HookRefused(422, f"Expected a delivery id of 1 to {MAX_DELIVERY_ID} "
                                   "characters, but it is not")
        key = f"delivery:{delivery}" if delivery else f"signature:{signature.strip()[:150]}"
        name = settings.get("variablesName")
        variables = {name: payload} if name else payload
        return TriggerItem(key, variables, {"delivery": delivery, "bytes": len(body)})


def _token(name: str) -> bool:
    return 0 < len(name) <= 100 and all(c.isalnum() or c in "-_" for c in name)
