"""A fixed-window rate limit in Redis, shared by every replica of the service.

Each (process, client address) has a counter `laneway:ratelimit:form:<process>:<address>`
that lives one window: the first hit creates it with the window as its expiry, every hit
increments it, and a hit past the limit is refused until the key expires (`Retry-After` is
what is left of the window). A fixed window lets a client send up to twice the limit around
a window's edge; for a flood guard in front of a public form that is enough, and it costs one
round trip.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from redis import Redis

# INCR and the expiry in one script, so a counter never outlives its window without an
# expiry (a client dying between INCR and EXPIRE would otherwise lock an address out for good).
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`count` requests per `window_s` seconds."""

    count: int
    window_s: int

    @staticmethod
    def parse(text: str) -> RateLimit:
        """`30/minute`, `5/second`, `100/hour`, `1000/day`, or with a number of units:
        `10/5minutes`. Raises ValueError otherwise."""
        match = _SPEC.fullmatch(text.lower())
        if match is None or int(match[1]) < 1 or match[2] == "0":
            raise ValueError(f"Expected a rate like '30/minute' (a positive count, '/', an "
                             f"optional number and second, minute, hour or day), but got "
                             f"{text!r}")
        return RateLimit(int(match[1]), int(match[2] or 1) * _UNITS[match[3]])


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a hit is allowed; when not, how many seconds until the window ends."""

    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Counts hits per key against one RateLimit. Redis errors (`redis.RedisError`) propagate:
    the caller decides to fail closed."""

    def __init__(self, redis: Redis, limit: RateLimit, key_prefix: str) -> None:
        self._limit = limit
        self._prefix = key_prefix
        self._hit = redis.register_script(_HIT)

    def hit(self, *parts: str) -> Decision:
        """Count one hit on the key made of `parts`."""
        key = ":".join((self._prefix, *parts))
        count, ttl_ms = self._hit(keys=[key], args=[self._limit.window_s * 1000])
        if int(count) <= self._limit.count:
            return Decision(True)
        return Decision(False, max(1, math.ceil(int(ttl_ms) / 1000)))
