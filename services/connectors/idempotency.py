"""The idempotency guard of a job's side effect, in Redis.

Key `laneway:idem:<type>:<instance>:<jobKey>`. A worker takes a job with
`SET key <pending> NX EX <attempt timeout + margin>` and, once the job has an outcome, stores
it: `SET key <done: the encoded command> EX <LANEWAY_CONNECTOR_IDEMPOTENCY_TTL_S>`, before the
command is produced and the offset committed. A redelivered job (the worker died before its
commit, or the record was produced twice) finds the key:

- done: the stored command is produced again, byte for byte; the side effect is not repeated
  (the engine refuses the second completion of a job).
- pending: another worker is on it; wait until it is done (then as above) or its lease ends
  (the holder died: take it over). The lease is renewed before every attempt.

An outcome that is a failure (FAIL_JOB with no retries, THROW_ERROR) of an earlier incarnation
of the job (another JOB_CREATED record id: the engine created the job again after an incident
was resolved) is not replayed: the job runs again, which is what resolving asked for.

The window this leaves: a worker that dies after the side effect and before storing the
outcome (or whose lease runs out mid-attempt) leaves no trace, so the job runs again. Passing
the key on (HTTP `Idempotency-Key`, e-mail `Message-ID`) lets the far side close it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

from redis.asyncio import Redis

# Compare-and-set / compare-and-delete: only the value we read (or wrote) is replaced, so two
# workers racing for an expired lease or a stale outcome cannot both win.
_CAS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

_REPLAYABLE_ACROSS_INCARNATIONS = {"COMPLETE_JOB"}


def idempotency_key(connector_type: str, instance_id: str, job_key: int) -> str:
    """`laneway:idem:<type>:<instance>:<jobKey>`."""
    return f"laneway:idem:{connector_type}:{instance_id}:{job_key}"


class IdempotencyStore:
    """Leases and stored outcomes of jobs (see the module docstring)."""

    def __init__(self, redis: Redis, *, done_ttl_s: float, wait_interval_s: float = 0.1) -> None:
        self._redis = redis
        self._done_ttl = max(1, int(done_ttl_s))
        self._interval = wait_interval_s
        self._owner = uuid.uuid4().hex  # this process
        self._cas = redis.register_script(_CAS)

    def _lease(self, record_id: str) -> str:
        return json.dumps({"s": "pending", "owner": self._owner, "record": record_id},
                          sort_keys=True)

    async def claim(self, key: str, record_id: str, lease_s: float) -> bytes | None:
        """Take the job: None when this worker now holds it (do the work), else the stored
        command to produce again. Waits while another worker holds the lease."""
        lease = self._lease(record_id)
        ttl = max(1, int(lease_s + 0.999))
        while True:
            if await self._redis.set(key, lease, nx=True, ex=ttl):
                return None
            raw = await self._redis.get(key)
            if raw is None:
                continue  # expired between the two calls
            current = _parse(raw)
            if current.get("s") == "done":
                if (current.get("record") == record_id
                        or current.get("intent") in _REPLAYABLE_ACROSS_INCARNATIONS):
                    return base64.b64decode(current["command"])
                if await self._cas(keys=[key], args=[raw, lease, ttl]):
                    return None
                continue
            # another worker (or an earlier copy of the record here) holds the lease
            await asyncio.sleep(self._interval)

    async def renew(self, key: str, record_id: str, lease_s: float) -> None:
        """Extend this worker's lease before another attempt."""
        lease = self._lease(record_id)
        await self._cas(keys=[key], args=[lease, lease, max(1, int(lease_s + 0.999))])

    async def finish(self, key: str, record_id: str, intent: str, command: bytes) -> None:
        """Store the job's outcome (the encoded command) for redeliveries."""
        value = json.dumps({"s": "done", "record": record_id, "intent": intent,
                            "command": base64.b64encode(command).decode()}, sort_keys=True)
        await self._redis.set(key, value, ex=self._done_ttl)

    async def release(self, key: str, record_id: str) -> None:
        """Give the lease up without an outcome (the worker stops mid-job), so a redelivery
        need not wait for it to run out."""
        await self._cas(keys=[key], args=[self._lease(record_id), "", 0])


def _parse(raw: bytes | str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
