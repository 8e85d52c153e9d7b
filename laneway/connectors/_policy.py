"""Retries, backoff and timeout of a job, read from its element's attributes.

| attribute | meaning | default |
|---|---|---|
| `laneway:retries` | attempts in all (used when the job itself carries no retries) | 3 |
| `laneway:retryBackoff` | ISO 8601 duration before the 2nd attempt; doubles each time | `PT1S` |
| `laneway:retryBackoffMax` | ISO 8601 duration the backoff never exceeds | `PT5M` |
| `laneway:timeout` | ISO 8601 duration one attempt may take | `PT30S` |

The job's own `retries` wins over `laneway:retries`: the engine set it from that attribute when
it created the job, and an operator who resolves an incident sets it anew ("retry once more").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import isodate

DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 1.0
DEFAULT_BACKOFF_MAX_S = 300.0
DEFAULT_TIMEOUT_S = 30.0


class PolicyError(ValueError):
    """A retry or timeout attribute cannot be read. Not retryable: the diagram has to change."""


def parse_duration(text: str, attribute: str) -> float:
    """Seconds of an ISO 8601 duration of days and time (`PT5S`, `PT0.2S`, `P1DT2H`); months
    and years have no fixed length and are refused."""
    try:
        value = isodate.parse_duration(text.strip())
    except (isodate.ISO8601Error, ValueError):
        value = None
    if not isinstance(value, timedelta):
        raise PolicyError(f"Expected {attribute} to be an ISO 8601 duration of days, hours, "
                          f"minutes or seconds such as 'PT5S', but got {text!r}")
    seconds = value.total_seconds()
    if seconds < 0:
        raise PolicyError(f"Expected {attribute} to be positive, but got {text!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long the worker tries one job."""

    retries: int
    """Attempts in all; after the last failed one the job gets FAIL_JOB with no retries."""
    backoff_s: float
    """Seconds before the second attempt."""
    backoff_max_s: float
    """Upper bound of the wait between attempts."""
    timeout_s: float
    """Seconds one attempt may take before it counts as a (retryable) failure."""

    def backoff(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt `failed_attempt` (from 1) failed: the base doubled
        per earlier failure, capped at `backoff_max_s`."""
        return min(self.backoff_max_s, self.backoff_s * 2.0 ** min(60, max(0, failed_attempt - 1)))

    @staticmethod
    def from_attributes(attributes: Mapping[str, str], job_retries: int = 0) -> RetryPolicy:
        """The policy of a job with these element attributes and the job's own retries."""
        retries = job_retries
        if retries <= 0:
            raw = attributes.get("laneway:retries", "").strip()
            if not raw:
                retries = DEFAULT_RETRIES
            elif raw.isdigit() and int(raw) > 0:
                retries = int(raw)
            else:
                raise PolicyError(f"Expected laneway:retries to be a positive whole number, "
                                  f"but got {raw!r}")

        def seconds(name: str, default: float) -> float:
            raw = attributes.get(name, "").strip()
            return parse_duration(raw, name) if raw else default

        timeout = seconds("laneway:timeout", DEFAULT_TIMEOUT_S)
        if timeout <= 0:
            raise PolicyError("Expected laneway:timeout to be longer than zero")
        backoff = seconds("laneway:retryBackoff", DEFAULT_BACKOFF_S)
        return RetryPolicy(retries=retries, backoff_s=backoff,
                           backoff_max_s=max(backoff, seconds("laneway:retryBackoffMax",
                                                              DEFAULT_BACKOFF_MAX_S)),
                           timeout_s=timeout)
