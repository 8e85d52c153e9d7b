"""End-to-end fixtures: a whole Laneway (engine, HTTP API, audit, connectors) as subprocesses.

`stack` is the integration suite's session fixture (the real Kafka, PostgreSQL and Redis,
started here when nothing runs, or the ones KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and REDIS_URL
name). `laneway` is a factory: each call starts the services it is asked for on free ports
under a fresh topic prefix and PostgreSQL schema, and the fixture stops them and drops both at
the end of the test (the logs stay in the test's tmp_path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.stack import Connections
from tests.e2e.harness import ALL, Laneway
from tests.integration.conftest import jaeger, stack

__all__ = ["jaeger", "laneway", "stack"]

LanewayFactory = Callable[..., Laneway]


@pytest.fixture
def laneway(stack: Connections, tmp_path: Path) -> Iterator[LanewayFactory]:
    started: list[Laneway] = []

    def make(services: tuple[str, ...] = ALL, **kwargs: Any) -> Laneway:
        # the services' spans go to the stack's Jaeger when it runs (tests/e2e read traces)
        kwargs.setdefault("otlp_endpoint", stack.otlp_endpoint)
        lw = Laneway(bootstrap=stack.kafka_bootstrap_servers, database_url=stack.database_url,
                     redis_url=stack.redis_url, workdir=tmp_path / f"laneway{len(started)}",
                     services=services, **kwargs)
        started.append(lw)
        return lw.start()

    yield make
    for lw in started:
        lw.close()
