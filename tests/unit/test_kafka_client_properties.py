"""Extra librdkafka properties per client role (`LANEWAY_KAFKA_*_PROPERTIES`,
laneway/kafka.py): they reach the clients of their role only, and never what exactly-once
rests on."""

from __future__ import annotations

import pytest

from laneway.kafka import (
    CLIENT_PROPERTIES_VARIABLES,
    TRANSACTIONAL_RETRY_BACKOFF_MS,
    ClientPropertiesError,
    client_properties,
    consumer_config,
    producer_config,
)
from laneway.settings import Settings, SettingsError

CONSUMER = CLIENT_PROPERTIES_VARIABLES["consumer"]
PRODUCER = CLIENT_PROPERTIES_VARIABLES["producer"]
TRANSACTIONAL = CLIENT_PROPERTIES_VARIABLES["transactional"]


def test_each_role_gets_its_own_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONSUMER, "fetch.wait.max.ms=100, fetch.queue.backoff.ms=10")
    monkeypatch.setenv(PRODUCER, "linger.ms=0")
    monkeypatch.setenv(TRANSACTIONAL, "linger.ms=5,compression.type=none")
    consumer = consumer_config("b:9092", "g")
    assert (consumer["fetch.wait.max.ms"], consumer["fetch.queue.backoff.ms"]) == (100, 10)
    assert "linger.ms" not in consumer
    assert producer_config("b:9092")["linger.ms"] == 0
    assert producer_config("b:9092")["compression.type"] == "lz4"
    txn = producer_config("b:9092", transactional_id="t")
    assert (txn["linger.ms"], txn["compression.type"]) == (5, "none")
    assert "fetch.wait.max.ms" not in txn


def test_without_the_settings_the_clients_keep_their_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLIENT_PROPERTIES_VARIABLES.values():
        monkeypatch.delenv(name, raising=False)
    assert producer_config("b:9092")["linger.ms"] == 2
    assert "fetch.wait.max.ms" not in consumer_config("b:9092", "g")


@pytest.mark.parametrize("raw", [
    "isolation.level=read_uncommitted", "enable.idempotence=false", "acks=1",
    "enable.auto.commit=true", "transactional.id=x", "group.id=other",
    "bootstrap.servers=elsewhere:9092", "sasl.password=x", "security.protocol=SSL",
    "partition.assignment.strategy=roundrobin", "transaction.timeout.ms=900000"])
def test_what_exactly_once_rests_on_may_not_be_changed(raw: str) -> None:
    with pytest.raises(ClientPropertiesError, match="may not be set here"):
        client_properties("consumer", {CONSUMER: f"fetch.wait.max.ms=10,{raw}"})


@pytest.mark.parametrize("raw", ["linger.ms", "linger.ms=", "=5", "Linger.ms=5", "a b=1"])
def test_a_malformed_setting_names_itself(raw: str) -> None:
    with pytest.raises(ClientPropertiesError, match=f"^{PRODUCER}: expected name=value"):
        client_properties("producer", {PRODUCER: raw})


def test_the_number_of_properties_is_bounded() -> None:
    raw = ",".join(f"p{n}.x=1" for n in range(33))
    with pytest.raises(ClientPropertiesError, match="at most 32"):
        client_properties("producer", {PRODUCER: raw})


def test_a_wrong_setting_stops_the_service_at_start() -> None:
    with pytest.raises(SettingsError, match=CONSUMER):
        Settings.from_env("engine", {CONSUMER: "isolation.level=read_uncommitted"})
    settings = Settings.from_env("engine", {TRANSACTIONAL: "linger.ms=5"})
    assert settings.kafka_properties["transactional"] == {"linger.ms": 5}


def test_the_transactional_producer_retries_a_concurrent_transaction_soon(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the engine's next transaction begins right after a commit; librdkafka's default first
    # backoff (100 ms) was added to it whenever the markers were not written yet
    monkeypatch.delenv(TRANSACTIONAL, raising=False)
    assert producer_config("b:9092", transactional_id="t")["retry.backoff.ms"] \
        == TRANSACTIONAL_RETRY_BACKOFF_MS <= 10
    assert "retry.backoff.ms" not in producer_config("b:9092")
    monkeypatch.setenv(TRANSACTIONAL, "retry.backoff.ms=100")
    assert producer_config("b:9092", transactional_id="t")["retry.backoff.ms"] == 100
