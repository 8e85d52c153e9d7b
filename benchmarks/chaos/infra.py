"""A Kafka, PostgreSQL and Redis of the chaos run only: its own state directory and ports.

The chaos run restarts each of them, so it never uses the developer's stack (or the one other
test runs share): `scripts.stack`'s components are started here under `<workdir>/stack` on
free ports, with the same functions `python -m scripts.stack up/down` use.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.stack import Settings as StackSettings
from scripts.stack.kafka import Kafka
from scripts.stack.postgres import Postgres
from scripts.stack.redis import Redis
from tests.ports import free_port

# What would point the components at a server that already runs (the shared stack).
_EXTERNAL = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL")


@dataclass
class PrivateStack:
    """The three components under `state_dir`; `restart(name)` stops and starts one."""

    state_dir: Path
    kafka_heap: str = "512m"
    settings: StackSettings = field(init=False)
    restarts: dict[str, float] = field(default_factory=dict, init=False)
    """Seconds each restart took (down and up again), by component."""

    def __post_init__(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in _EXTERNAL and not k.startswith("LANEWAY_")}
        env.update({"LANEWAY_STACK_DIR": str(self.state_dir),
                    "LANEWAY_KAFKA_PORT": str(free_port()),
                    "LANEWAY_KAFKA_CONTROLLER_PORT": str(free_port()),
                    # no secured listeners (their default ports are the shared stack's)
                    "LANEWAY_KAFKA_SECURE_PORT": "0", "LANEWAY_KAFKA_SSL_PORT": "0",
                    "LANEWAY_POSTGRES_PORT": str(free_port()),
                    "LANEWAY_REDIS_PORT": str(free_port()),
                    "LANEWAY_MAIL_PORT": str(free_port()),
                    "LANEWAY_KAFKA_HEAP": self.kafka_heap})
        if os.environ.get("LANEWAY_STACK_NO_INSTALL"):
            env["LANEWAY_STACK_NO_INSTALL"] = os.environ["LANEWAY_STACK_NO_INSTALL"]
        self.settings = StackSettings.from_env(env)

    @property
    def components(self) -> dict[str, Kafka | Postgres | Redis]:
        s = self.settings
        return {"redis": Redis(s), "postgres": Postgres(s), "kafka": Kafka(s)}

    def up(self) -> None:
        for component in self.components.values():
            component.up()

    def restart(self, name: str) -> float:
        """Stop the component as `scripts.stack down` does and start it again; the seconds."""
        component = self.components[name]
        began = time.monotonic()
        component.down()
        component.up()
        took = time.monotonic() - began
        self.restarts[name] = took
        return took

    def down(self, keep_data: bool) -> None:
        """Stop all three; drop their data (the logs stay) unless `keep_data`."""
        for component in reversed(self.components.values()):
            component.down()
        if not keep_data:
            for name in ("kafka", "postgres", "redis"):
                shutil.rmtree(self.state_dir / name, ignore_errors=True)
