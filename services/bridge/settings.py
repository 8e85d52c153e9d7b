"""Settings of the agency bridge: the shared `Settings`, this agency's partners, and the loop's
knobs (docs/agencies.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.agencies import AgencyConfig, load_agencies
from laneway.settings import Settings, positive_float, positive_int


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeSettings:
    """Everything the bridge reads from the environment, checked once."""

    common: Settings
    agencies: AgencyConfig
    """`LANEWAY_AGENCY_NAME` and `LANEWAY_AGENCY_PARTNERS`; without them the bridge idles."""
    group: str
    """The consumer group of the bridge's replicas (`LANEWAY_BRIDGE_GROUP`, default
    `<prefix>bridge`)."""
    message_ttl_ms: int
    """How long a message from a partner stays buffered for a subscription that opens later,
    and so how long a resend of the same message id is refused as a duplicate
    (`LANEWAY_AGENCY_MESSAGE_TTL_S`, default 86400)."""
    batch_size: int = 500
    """At most this many records per poll (`LANEWAY_BRIDGE_BATCH_SIZE`)."""
    poll_timeout_s: float = 0.2
    """How long one poll waits (`LANEWAY_BRIDGE_POLL_S`)."""
    attempts: int = 5
    """How often a batch's produce is tried before the process gives up and restarts from the
    committed offsets (`LANEWAY_BRIDGE_ATTEMPTS`)."""
    session_timeout_ms: int = 45_000
    """How soon the group hands a dead bridge's partitions to another
    (`LANEWAY_BRIDGE_SESSION_TIMEOUT_MS`)."""


def load_settings(environ: Mapping[str, str] | None = None) -> BridgeSettings:
    """Read the bridge's settings from `environ` (default: the process environment)."""
    common = Settings.from_env("bridge", environ)
    env = os.environ if environ is None else environ
    return BridgeSettings(
        common=common,
        agencies=load_agencies(env),
        group=env.get("LANEWAY_BRIDGE_GROUP", "").strip() or f"{common.topic_prefix}bridge",
        message_ttl_ms=int(positive_float(env, "LANEWAY_AGENCY_MESSAGE_TTL_S", 86400.0) * 1000),
        batch_size=positive_int(env, "LANEWAY_BRIDGE_BATCH_SIZE", 500),
        poll_timeout_s=positive_float(env, "LANEWAY_BRIDGE_POLL_S", 0.2),
        attempts=positive_int(env, "LANEWAY_BRIDGE_ATTEMPTS", 5),
        session_timeout_ms=positive_int(env, "LANEWAY_BRIDGE_SESSION_TIMEOUT_MS", 45_000),
    )
