"""How the engine loop calls librdkafka's transactional API: bounded, and with each error
sorted into what the loop does next (docs/engine-service.md, "Exactly once").

- retriable (a coordinator away, a call that timed out): the same call again, until the
  transaction's own timeout has passed;
- abortable (`txn_requires_abort`, e.g. the consumer's group generation is no longer current:
  KIP-447 refused this replica's offsets because it lost its partitions): the loop aborts,
  restores its partitions from `state` and goes on as the member the group now has;
- fenced (another producer took this transactional id: a newer process of this replica): this
  process must stop producing for good; it does not fence the newer one back;
- any other fatal error: the producer is replaced by a new one under the same transactional id
  (its `init_transactions` aborts whatever the broken one left open).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException

_log = logging.getLogger(__name__)

# error codes that say another producer holds this transactional id now
_FENCED = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                     KafkaError.INVALID_PRODUCER_EPOCH,
                     KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED})

CALL_TIMEOUT_S = 10.0
"""How long one transactional call may block before it is tried again (librdkafka's default is
forever: after a broker restart a commit could wait on a coordinator that never answered)."""


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The KafkaError a KafkaException carries, if any."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def fenced(exc: BaseException) -> bool:
    """Whether `exc` says another producer took this transactional id."""
    err = kafka_error(exc)
    return err is not None and err.code() in _FENCED


def fatal(exc: BaseException) -> bool:
    """Whether `exc` leaves the producer unusable (fenced or otherwise failed for good)."""
    err = kafka_error(exc)
    return err is not None and (err.fatal() or err.code() in (_FENCED | {KafkaError._FATAL}))


def bounded(call: Callable[[float], object], what: str, limit_s: float,
            call_timeout_s: float = CALL_TIMEOUT_S) -> None:
    """Run `call(timeout)` again while it fails with a retriable error that does not require
    an abort, for at most `limit_s`; any other error (or the limit) is raised."""
    deadline = time.monotonic() + limit_s
    while True:
        left = deadline - time.monotonic()
        try:
            call(max(0.1, min(call_timeout_s, left)))
            return
        except KafkaException as exc:
            err = kafka_error(exc)
            if (err is None or not err.retriable() or err.txn_requires_abort() or err.fatal()
                    or time.monotonic() >= deadline):
                raise
            _log.warning("%s did not succeed (%s); trying again", what, err)
