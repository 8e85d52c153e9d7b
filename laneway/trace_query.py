"""Where an instance's trace is read from: `LANEWAY_TRACES_QUERY_URL`, a Jaeger query API
(`GET <it>/api/traces/<trace id>`), which the audit service reads for the console's trace view
(`GET /api/instances/{id}/trace`) and whose presence tells the console to offer that view.

One instance, one trace: the trace id is the instance id's 32 hex digits (a UUID is 128 bits,
as a trace id is), so the id is all the lookup needs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

from laneway.settings import SettingsError

__all__ = ["VARIABLE", "http_url_setting", "query_url", "trace_id_of"]

VARIABLE = "LANEWAY_TRACES_QUERY_URL"


def query_url(env: Mapping[str, str] | None = None) -> str | None:
    """`LANEWAY_TRACES_QUERY_URL` without its trailing slash; None when it is not set.

    http or https (a query service usually sits on the cluster's network without TLS), a host,
    no credentials, query or fragment: the reader appends `/api/traces/<id>` to it."""
    env = os.environ if env is None else env
    return http_url_setting(env, VARIABLE, "a Jaeger query API")


def http_url_setting(env: Mapping[str, str], name: str, what: str) -> str | None:
    """`env[name]` without its trailing slash, None when unset: an http or https URL with a
    host and no credentials, query or fragment (callers append paths to it), at most 2,000
    characters; else a `SettingsError` saying it should be `what`."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        host = None
    if (parts.scheme not in {"http", "https"} or not host or parts.username is not None
            or parts.query or parts.fragment or len(raw) > 2000):
        raise SettingsError(f"Expected {name} to be the http(s) URL of {what} such as "
                            f"http://127.0.0.1:16686, but got {raw!r}")
    return raw.rstrip("/")


def trace_id_of(instance_id: str) -> str | None:
    """The instance's trace id (its UUID's 32 lowercase hex digits), or None when the id is not
    a UUID (in its 36-character form, as every instance id is, or as the 32 digits)."""
    if len(instance_id) not in (32, 36):
        return None
    try:
        parsed = uuid.UUID(instance_id)
    except ValueError:
        return None
    # uuid.UUID also takes braces and a "urn:uuid:" prefix: only the two plain forms are ids
    if instance_id.lower() not in (str(parsed), parsed.hex):
        return None
    return parsed.hex
