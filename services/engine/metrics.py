"""The engine service's Prometheus metrics (served by `laneway.health.HealthServer`).

Defined once per process at module level, as prometheus_client expects: a second definition of
the same name in the default registry is an error, and tests run the loop more than once.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter("laneway_engine_commands_processed", "Commands processed, by intent",
                   ["intent"])
EVENTS = Counter("laneway_engine_events_produced", "Events (and rejections) produced")
REJECTIONS = Counter("laneway_engine_rejections", "Commands refused with a rejection, by intent",
                     ["intent"])
DEAD_LETTERS = Counter("laneway_engine_dead_letters", "Records sent to the dead-letter topic, "
                       "by reason", ["reason"])
TIMERS = Counter("laneway_engine_timers_triggered", "TRIGGER_TIMER commands written")
ABORTS = Counter("laneway_engine_transactions_aborted", "Transactions aborted (then recovered)")
BATCH_SIZE = Histogram("laneway_engine_batch_size", "Records consumed per transaction",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
BATCH_SECONDS = Histogram("laneway_engine_batch_seconds",
                          "Time from the first record of a batch to its commit")
RESTORE_SECONDS = Histogram("laneway_engine_restore_seconds",
                            "Time to restore one partition from the state topic",
                            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
OWNED_PARTITIONS = Gauge("laneway_engine_owned_partitions", "Partitions this replica owns")
