"""A rate limit in Redis, shared by every replica of the service: GCRA, the generic cell rate
algorithm (a token bucket kept as one timestamp).

Each (process, client address) key holds its "theoretical arrival time": when the next hit
would be due if hits came evenly, one per `window / count`. A hit is allowed while that time
is no more than one window ahead of now, so a client may burst `count` hits and then gets one
per interval; unlike a fixed window it never lets twice the limit through around a window's
edge. The clock is Redis' own (`TIME`), so replicas with skewed clocks agree, and the key
expires when it no longer matters. One round trip per hit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from redis import Redis

# The whole decision in one script: read, decide and write cannot interleave with another
# replica's hit on the same key.
_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_from = next_tat - window
if now < allowed_from then
  return {0, math.ceil(allowed_from - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now))
return {1, 0}
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
    """Whether a hit is allowed; when not, how many seconds until the next one would be."""

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
        window_ms = self._limit.window_s * 1000
        allowed, wait_ms = self._hit(keys=[key],
                                     args=[window_ms / self._limit.count, window_ms])
        if int(allowed):
            return Decision(True)
        return Decision(False, max(1, math.ceil(int(wait_ms) / 1000)))
