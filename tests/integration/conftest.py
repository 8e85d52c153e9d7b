"""Integration fixtures: the real local stack (Kafka, PostgreSQL, Redis), started once a session.

The `stack` fixture calls the same code as `python -m scripts.stack up`, so on a fresh machine
the first integration test installs, fetches and starts everything. KAFKA_BOOTSTRAP_SERVERS,
DATABASE_URL and REDIS_URL, when set, point it at existing infrastructure instead.

`jaeger` is the same stack with its Jaeger running (the tests that read traces).

Helpers: `unique_name(prefix)` for per-test topic/group/schema names and
`wait_until(predicate, timeout, interval)` for polling with a deadline (never fixed sleeps);
import them from `scripts.stack.testing` (re-exported here).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `scripts` is not an installed package
    sys.path.insert(0, str(_ROOT))

from laneway.auth import KEY_SOURCE_VARIABLES  # noqa: E402
from scripts.stack import Connections, Settings, down, jaeger_up, up  # noqa: E402
from scripts.stack.testing import unique_name, wait_until  # noqa: E402
from tests.auth import auth_env, signing_key  # noqa: E402

__all__ = ["jaeger", "stack", "unique_name", "wait_until"]


@pytest.fixture(scope="session")
def stack() -> Iterator[Connections]:
    """Ensure the local stack is up (installing what is missing) and yield its settings.

    It is left running after the session so the next run starts warm (stop it with
    `python -m scripts.stack down`), unless LANEWAY_STACK_DOWN_AFTER=1, as on CI.
    """
    settings = Settings.from_env()
    started = time.monotonic()
    # Jaeger only if it is built already: its first build (minutes, started in the background
    # by `make test`) is waited for by the tests that read traces (`jaeger`), not by all
    conns = up(settings, build_jaeger=False)
    sys.stderr.write(f"\n[stack] ready in {time.monotonic() - started:.1f}s\n")
    yield conns
    if os.environ.get("LANEWAY_STACK_DOWN_AFTER", "").strip() in {"1", "true", "yes"}:
        down(settings)


@pytest.fixture(scope="session")
def jaeger(stack: Connections) -> Connections:
    """The stack with its Jaeger running (built first, or its build under way waited for, at
    most LANEWAY_JAEGER_BUILD_TIMEOUT s): `traces_url` and `otlp_endpoint` are set. A machine
    that cannot build it fails the test with the reason (CI has Go: never a silent skip)."""
    if stack.traces_url:
        return stack
    started = time.monotonic()
    conns = jaeger_up(Settings.from_env())
    if not conns.traces_url:
        pytest.fail(f"the stack's Jaeger does not run: {conns.traces_note}")
    sys.stderr.write(f"\n[stack] jaeger ready in {time.monotonic() - started:.1f}s\n")
    return conns


@pytest.fixture(scope="session", autouse=True)
def _jwt_key() -> Iterator[None]:
    """Services these tests start inherit the environment: point them at the session's
    development key (tests/auth.py), so the tokens the tests sign verify; a key source the
    developer's shell sets is put aside for the session."""
    with pytest.MonkeyPatch.context() as patch:
        for name in KEY_SOURCE_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in auth_env().items():
            patch.setenv(name, value)
        # what signs for `laneway token` and the example deploy, when a test runs them
        patch.setenv("LANEWAY_DEV_KEY_FILE", str(signing_key()))
        yield
