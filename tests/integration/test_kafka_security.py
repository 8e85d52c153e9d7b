"""Kafka client security against the stack's secured listeners (scripts/stack/kafka_secure.py).

Records go through SASL_SSL with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (JWTs
from a local token endpoint, checked by the broker against its JWKS), and through SSL with a
client certificate; a wrong CA, a wrong password, a token signed by another key and a missing
client certificate are refused. Then the engine service runs as a deployment would, configured
only by the LANEWAY_KAFKA_* settings, against the SASL_SSL listener, and carries an instance to
its end, without its log ever showing the password.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from laneway.codec import DefinitionRecord, decode_record, encode_definition, encode_record
from laneway.kafka import admin_config, consumer_config, producer_config
from laneway.kafka_security import KafkaSecurity
from laneway.records import Command, command
from laneway.topics import Topics
from laneway.triggers import PollResult
from laneway.triggers._api import Schedule
from laneway.triggers.builtin.topic import TopicTrigger
from laneway.triggers.testing import make_context, make_schedule, poll_once
from scripts.stack import Connections
from scripts.stack.config import Settings, StackError
from scripts.stack.kafka_secure import SecureInfo, _ca, _cert_pem, _rsa, _write_key, secure_info
from scripts.stack.oidc import TokenEndpoint
from scripts.stack.proc import port_open
from scripts.stack.testing import unique_name, wait_until
from tests.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def secure(stack: Connections) -> SecureInfo:
    """The stack's secured listeners; the test fails saying why when they are not there."""
    try:
        info = secure_info(Settings.from_env())
    except StackError as exc:
        pytest.fail(f"no secured Kafka listener to test against: {exc}")
    for address in (info.sasl_ssl, info.ssl):
        if address is None:
            pytest.fail("the stack's secured Kafka listeners are turned off "
                        "(LANEWAY_KAFKA_SECURE_PORT / LANEWAY_KAFKA_SSL_PORT is 0)")
        host, _, port = address.rpartition(":")
        if not port_open(int(port), host, 2.0):
            pytest.fail(f"nothing listens on {address}, the secured Kafka listener that "
                        f"{Settings.from_env().state_dir}/kafka/secure/secure.json names: "
                        "the broker was started without it (restart the stack)")
    return info


def sasl(info: SecureInfo, mechanism: str, **changes: Any) -> KafkaSecurity:
    base = KafkaSecurity(protocol="SASL_SSL", mechanism=mechanism, username=info.username,
                         password=info.password, ca_location=info.ca)
    return dataclasses.replace(base, **changes)


def create_topic(bootstrap: str, security: KafkaSecurity, partitions: int = 1) -> str:
    topic = unique_name("sec")
    admin = AdminClient(admin_config(bootstrap, security=security))
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                                replication_factor=1)],
                                      operation_timeout=30).values():
        future.result(30)
    return topic


def round_trip(bootstrap: str, security: KafkaSecurity) -> None:
    """Create a topic, produce a record and read it back, each client with `security`."""
    topic = create_topic(bootstrap, security)
    payload = uuid.uuid4().bytes
    producer = Producer(producer_config(bootstrap, security=security))
    producer.produce(topic, payload, b"k")
    assert producer.flush(30) == 0, "the record was not delivered"
    consumer = Consumer(consumer_config(bootstrap, unique_name("sec"), security=security))
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])

        def read() -> bytes | None:
            msg = consumer.poll(0.2)
            return msg.value() if msg is not None and msg.error() is None else None

        assert wait_until(read, 30, 0, "the record read back") == payload
    finally:
        consumer.close()


def refusal(bootstrap: str, security: KafkaSecurity, **extra: Any) -> KafkaError:
    """The error a client with `security` gets from the broker (it must get one, and no
    metadata)."""
    errors: list[KafkaError] = []
    admin = AdminClient({**admin_config(bootstrap, security=security), **extra,
                         "error_cb": errors.append})
    with pytest.raises(KafkaException):  # no metadata; what the broker said comes below
        admin.list_topics(timeout=5)

    def reported() -> KafkaError | None:
        admin.poll(0.1)  # serves the error callback
        return next(iter(errors), None)

    return wait_until(reported, 20, 0, "an error callback")


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_records_go_through_sasl_ssl_with_a_password(secure: SecureInfo, mechanism: str) -> None:
    assert secure.sasl_ssl is not None
    round_trip(secure.sasl_ssl, sasl(secure, mechanism))


def test_records_go_through_sasl_ssl_with_an_oauth_token_from_the_token_endpoint(
        secure: SecureInfo) -> None:
    assert secure.sasl_ssl is not None
    with TokenEndpoint(secure) as endpoint:
        security = sasl(secure, "OAUTHBEARER", username=None, password=None,
                        token_endpoint_url=endpoint.url, client_id=secure.oauth_client_id,
                        client_secret=secure.oauth_client_secret, scope="kafka")
        round_trip(secure.sasl_ssl, security)
        assert endpoint.issued >= 1, "the client never asked the token endpoint"


def test_a_token_signed_by_another_key_is_refused(secure: SecureInfo, tmp_path: Path) -> None:
    """The broker checks the token's signature (not the unsecured validator, which takes any)."""
    assert secure.sasl_ssl is not None
    other = tmp_path / "other.key"
    _write_key(other, _rsa())
    forged = dataclasses.replace(secure, oauth_signing_key=str(other))
    with TokenEndpoint(forged) as endpoint:
        security = sasl(secure, "OAUTHBEARER", username=None, password=None,
                        token_endpoint_url=endpoint.url, client_id=secure.oauth_client_id,
                        client_secret=secure.oauth_client_secret)
        error = refusal(secure.sasl_ssl, security)
        assert endpoint.issued >= 1
    assert error.code() == KafkaError._AUTHENTICATION, error


def test_a_wrong_password_is_refused(secure: SecureInfo) -> None:
    assert secure.sasl_ssl is not None
    error = refusal(secure.sasl_ssl, sasl(secure, "SCRAM-SHA-512", password="not-the-password"))
    assert error.code() == KafkaError._AUTHENTICATION, error
    assert "not-the-password" not in str(error)


def test_tls_with_a_wrong_ca_is_refused_naming_the_certificate(
        secure: SecureInfo, tmp_path: Path) -> None:
    assert secure.sasl_ssl is not None
    wrong_ca = tmp_path / "ca.pem"
    wrong_ca.write_bytes(_cert_pem(_ca()[1]))
    error = refusal(secure.sasl_ssl, sasl(secure, "SCRAM-SHA-512", ca_location=str(wrong_ca)))
    # librdkafka reports a failed handshake as a transport error, naming the reason
    assert error.code() in (KafkaError._SSL, KafkaError._TRANSPORT), error
    assert "certificate verify failed" in error.str(), error


def test_records_go_through_tls_with_a_client_certificate(secure: SecureInfo) -> None:
    assert secure.ssl is not None
    round_trip(secure.ssl, KafkaSecurity(protocol="SSL", ca_location=secure.ca,
                                         certificate_location=secure.client_certificate,
                                         key_location=secure.client_key))


def test_tls_without_the_client_certificate_is_refused(secure: SecureInfo) -> None:
    assert secure.ssl is not None
    error = refusal(secure.ssl, KafkaSecurity(protocol="SSL", ca_location=secure.ca))
    assert error.code() in (KafkaError._SSL, KafkaError._TRANSPORT), error
    assert "bad certificate" in error.str(), error  # the broker's TLS alert


# -- the topic trigger: the deployment's Kafka with these settings, a partner's without ----


def _poll(schedule: Schedule, tmp_path: Path, cursor: Any,
          settings: dict[str, str] | None = None) -> PollResult:
    trigger = TopicTrigger()

    async def go() -> PollResult:
        async with httpx.AsyncClient() as http:
            ctx = make_context(http, tmp_path, settings=settings or {})
            try:
                return await poll_once(trigger, schedule, ctx, cursor=cursor)
            finally:
                await trigger.close()
    return asyncio.run(go())


def test_the_topic_trigger_reads_the_deployments_kafka_with_its_security_and_a_partners_without(
        secure: SecureInfo, stack: Connections, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    assert secure.sasl_ssl is not None
    security = sasl(secure, "SCRAM-SHA-512")
    topic = create_topic(secure.sasl_ssl, security)
    producer = Producer(producer_config(secure.sasl_ssl, security=security))
    producer.produce(topic, json.dumps({"n": 1}).encode())
    assert producer.flush(30) == 0
    # the deployment's Kafka is the SASL_SSL listener, reached with the LANEWAY_KAFKA_* settings
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", secure.sasl_ssl)
    for name, value in {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512",
                        "SASL_USERNAME": secure.username, "SASL_PASSWORD": secure.password,
                        "SSL_CA_LOCATION": secure.ca}.items():
        monkeypatch.setenv(f"LANEWAY_KAFKA_{name}", value)
    schedule = make_schedule("topic", {"topic": topic})
    first = _poll(schedule, tmp_path, None)
    assert first.cursor["offsets"] == {"0": 1}  # it reached the broker: the end is known

    # a partner's cluster (here: the same broker's plaintext listener) is read with only what
    # its schedule says, not with the deployment's SASL_SSL settings
    read = _poll(make_schedule("topic", {"topic": topic}), tmp_path, {"offsets": {"0": 0}},
                 settings={"bootstrap": stack.kafka_bootstrap_servers})
    assert [item.variables["record"] for item in read.items] == [{"n": 1}]


# -- a real service over SASL_SSL ---------------------------------------------------------

SIMPLE = b"""<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d-PID"
  targetNamespace="t"><process id="PID" isExecutable="true">
  <startEvent id="s"/><task id="t"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
  <sequenceFlow id="f2" sourceRef="t" targetRef="e"/></process></definitions>"""


@pytest.fixture
def engine_over_sasl_ssl(secure: SecureInfo, tmp_path: Path
                         ) -> Iterator[tuple[Topics, KafkaSecurity, Path]]:
    """`python -m services.engine` with only LANEWAY_KAFKA_* settings pointing it at the
    SASL_SSL listener (SCRAM-SHA-512), on topics of its own."""
    assert secure.sasl_ssl is not None
    security = sasl(secure, "SCRAM-SHA-512")
    topics = Topics(unique_name("sec") + ".")
    admin = AdminClient(admin_config(secure.sasl_ssl, security=security))
    specs = [NewTopic(t, num_partitions=2, replication_factor=1)
             for t in (topics.commands, topics.events, topics.messages, topics.dlq)]
    specs += [NewTopic(t, num_partitions=n, replication_factor=1,
                       config={"cleanup.policy": "compact"})
              for t, n in ((topics.state, 2), (topics.definitions, 1))]
    for future in admin.create_topics(specs, operation_timeout=30).values():
        future.result(30)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("LANEWAY_KAFKA_")}
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": secure.sasl_ssl, "LANEWAY_TOPIC_PREFIX": topics.prefix,
        "LANEWAY_ENGINE_GROUP": unique_name("engine"), "LANEWAY_HTTP_PORT": str(free_port()),
        "LANEWAY_ENGINE_POLL_S": "0.05", "LANEWAY_LOG_LEVEL": "DEBUG",
        "PYTHONPATH": str(ROOT),
        "LANEWAY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LANEWAY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "LANEWAY_KAFKA_SASL_USERNAME": secure.username,
        "LANEWAY_KAFKA_SASL_PASSWORD": secure.password,
        "LANEWAY_KAFKA_SSL_CA_LOCATION": secure.ca,
    })
    log = tmp_path / "engine.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.engine"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield topics, security, log
    finally:
        proc.terminate()
        code = proc.wait(30)
        assert code == 0, f"the engine exited with {code}:\n{log.read_text()[-4000:]}"


def test_the_engine_runs_an_instance_over_sasl_ssl_and_never_logs_the_password(
        secure: SecureInfo, engine_over_sasl_ssl: tuple[Topics, KafkaSecurity, Path]) -> None:
    assert secure.sasl_ssl is not None
    topics, security, log = engine_over_sasl_ssl
    bootstrap = secure.sasl_ssl
    process_id = unique_name("p").replace("-", "_")
    producer = Producer(producer_config(bootstrap, security=security))
    definition = DefinitionRecord(process_id, 1, SIMPLE.replace(b"PID", process_id.encode()),
                                  "digest", int(time.time() * 1000))
    producer.produce(topics.definitions, encode_definition(definition),
                     definition.key.encode())
    instance = str(uuid.uuid4())
    start = command(Command.START_INSTANCE, instance, {"processId": process_id, "variables": {}},
                    record_id=f"test-{uuid.uuid4()}", timestamp=int(time.time() * 1000))
    topic, key = topics.route(start)
    producer.produce(topic, encode_record(start), key.encode())
    assert producer.flush(30) == 0

    events = Consumer(consumer_config(bootstrap, unique_name("sec"), security=security))
    seen: list[Any] = []
    try:
        events.assign([TopicPartition(topics.events, p, OFFSET_BEGINNING) for p in range(2)])

        def ended() -> bool:
            for msg in events.consume(100, timeout=0.2):
                if msg.error() is None:
                    seen.append(decode_record(msg.value() or b""))
            return any(r.instance_id == instance and r.intent == "ELEMENT_COMPLETED"
                       and r.element_type == "process" for r in seen)

        wait_until(ended, 60, 0, f"the instance completed (engine log: {log})")
    finally:
        events.close()
    text = log.read_text()
    assert secure.password not in text
    assert json.dumps(secure.password) not in text
