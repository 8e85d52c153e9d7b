"""The service kit: what every Laneway service process is made of, written once.

- `run_service` / `Running` (`main.py`): the `__main__` around a service's work: settings read
  once, logging, the stop signal, /health and /metrics, exit statuses.
- `StopSignal` (`signals.py`): SIGTERM and SIGINT as one event.
- `wait_for_kafka`, `wait_for_postgres`, `wait_for_redis` and the `Unavailable` family
  (`waits.py`): bounded waits for dependencies at start.
- `Metrics` (`metrics.py`): the base of a service's Prometheus metrics.
- `laneway.health`: the health checks and the small server for /health and /metrics;
  `laneway.service.http.health_router`: the same routes for a FastAPI app.
- `laneway.consuming`: the consume-and-project loop (decode, handle in a database transaction,
  dead-letter, commit after the database); `laneway.kafka.RenewingProducer`: a producer that
  replaces itself when it turns fatal.
"""

from laneway.service.main import Running, ServiceLoop, ServiceSettings, run_service
from laneway.service.metrics import Metrics
from laneway.service.signals import StopSignal
from laneway.service.waits import (
    DatabaseUnavailable,
    KafkaUnavailable,
    RedisUnavailable,
    Unavailable,
    wait_for_kafka,
    wait_for_postgres,
    wait_for_redis,
)

__all__ = [
    "DatabaseUnavailable",
    "KafkaUnavailable",
    "Metrics",
    "RedisUnavailable",
    "Running",
    "ServiceLoop",
    "ServiceSettings",
    "StopSignal",
    "Unavailable",
    "run_service",
    "wait_for_kafka",
    "wait_for_postgres",
    "wait_for_redis",
]
