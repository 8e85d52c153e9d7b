"""The engine service's settings that bound how long a stuck replica keeps its partitions."""

from __future__ import annotations

import pytest

from laneway.settings import SettingsError
from services.engine.settings import load_settings

BASE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}


def test_the_poll_interval_defaults_to_the_clients_own() -> None:
    assert load_settings(BASE).max_poll_interval_ms == 300_000


def test_the_poll_interval_is_read_and_never_shorter_than_the_session() -> None:
    # the client refuses a poll interval under the session timeout; the shorter one is raised
    assert load_settings({**BASE, "LANEWAY_ENGINE_SESSION_TIMEOUT_MS": "6000",
                          "LANEWAY_ENGINE_MAX_POLL_INTERVAL_MS": "7000"}
                         ).max_poll_interval_ms == 7000
    assert load_settings({**BASE, "LANEWAY_ENGINE_SESSION_TIMEOUT_MS": "9000",
                          "LANEWAY_ENGINE_MAX_POLL_INTERVAL_MS": "7000"}
                         ).max_poll_interval_ms == 9000


def test_the_collector_settings_default_to_fewer_young_collections_and_no_freeze() -> None:
    settings = load_settings(BASE)
    assert (settings.gc_young, settings.gc_freeze) == (20_000, False)
    tuned = load_settings({**BASE, "LANEWAY_ENGINE_GC_YOUNG": "700",
                           "LANEWAY_ENGINE_GC_FREEZE": "1"})
    assert (tuned.gc_young, tuned.gc_freeze) == (700, True)


def test_the_warm_instances_and_the_gather_default_to_1000_and_off() -> None:
    settings = load_settings(BASE)
    assert (settings.warm_instances, settings.gather_s, settings.gather_min) == (1000, 0.0, 8)
    tuned = load_settings({**BASE, "LANEWAY_ENGINE_WARM_INSTANCES": "0",
                           "LANEWAY_ENGINE_GATHER_MS": "5", "LANEWAY_ENGINE_GATHER_MIN": "900",
                           "LANEWAY_ENGINE_BATCH_SIZE": "100"})
    # the gather minimum is at most a batch
    assert (tuned.warm_instances, tuned.gather_s, tuned.gather_min) == (0, 0.005, 100)
    assert load_settings({**BASE, "LANEWAY_ENGINE_WARM_INSTANCES": "10000000"}
                         ).warm_instances == 100_000
    with pytest.raises(SettingsError):
        load_settings({**BASE, "LANEWAY_ENGINE_GATHER_MS": "-1"})


def test_the_transactional_retry_backoff_defaults_to_5_ms_and_reaches_the_producer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # librdkafka's own 100 ms made a transaction begun while the coordinator still wrote the
    # last one's markers (CONCURRENT_TRANSACTIONS on AddOffsetsToTxn) wait 100 ms; the
    # default is laneway.kafka's for every transactional producer, and
    # LANEWAY_KAFKA_TRANSACTIONAL_PROPERTIES tunes it (for an A/B: the old 100)
    configs: list[dict[str, object]] = []

    class Recorded:
        def __init__(self, config: dict[str, object]) -> None:
            configs.append(config)

        def init_transactions(self, timeout: float) -> None:
            pass

    import services.engine.loop as loop_module
    monkeypatch.setattr(loop_module, "Producer", Recorded)
    settings = load_settings(BASE)
    monkeypatch.delenv("LANEWAY_KAFKA_TRANSACTIONAL_PROPERTIES", raising=False)
    loop_module.EngineLoop(settings)._new_producer()
    assert configs[0]["retry.backoff.ms"] == 5
    assert configs[0]["transactional.id"] == settings.transactional_id
    monkeypatch.setenv("LANEWAY_KAFKA_TRANSACTIONAL_PROPERTIES", "retry.backoff.ms=100")
    loop_module.EngineLoop(settings)._new_producer()
    assert configs[1]["retry.backoff.ms"] == 100
