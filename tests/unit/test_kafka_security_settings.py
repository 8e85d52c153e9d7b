"""The Kafka security settings: what is refused and why, the client configs they make, and
that their secrets never show (repr, errors, Settings, a logged config)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from laneway.kafka import admin_config, consumer_config, producer_config
from laneway.kafka_security import (
    KAFKA_SECURITY_VARIABLES,
    KafkaSecurity,
    KafkaSecurityError,
    process_kafka_security,
)
from laneway.settings import Settings, SettingsError

SECRET = "s3cr3t-Pa55word"
P = "LANEWAY_KAFKA_"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("pem")
        out[name] = str(tmp_path / name)
    return out


def scram(**extra: str) -> dict[str, str]:
    return {f"{P}SECURITY_PROTOCOL": "SASL_SSL", f"{P}SASL_MECHANISM": "SCRAM-SHA-512",
            f"{P}SASL_USERNAME": "laneway", f"{P}SASL_PASSWORD": SECRET, **extra}


def oauth(**extra: str) -> dict[str, str]:
    return {f"{P}SECURITY_PROTOCOL": "SASL_SSL", f"{P}SASL_MECHANISM": "OAUTHBEARER",
            f"{P}SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "https://idp.example/oauth2/token",
            f"{P}SASL_OAUTHBEARER_CLIENT_ID": "laneway",
            f"{P}SASL_OAUTHBEARER_CLIENT_SECRET": SECRET, **extra}


def test_nothing_set_is_plaintext_and_adds_nothing_to_a_client() -> None:
    security = KafkaSecurity.from_env({})
    assert security.protocol == "PLAINTEXT"
    assert security.config() == {}
    assert "security.protocol" not in producer_config("b:9092", security=security)


def test_sasl_ssl_with_scram_configures_every_kind_of_client(files: dict[str, str]) -> None:
    security = KafkaSecurity.from_env(scram(**{f"{P}SSL_CA_LOCATION": files["ca.pem"]}))
    expected = {"security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": "laneway", "sasl.password": SECRET,
                "ssl.ca.location": files["ca.pem"],
                "ssl.endpoint.identification.algorithm": "https"}
    assert security.config() == expected
    for config in (producer_config("b:9092", security=security, transactional_id="t"),
                   consumer_config("b:9092", "g", security=security),
                   admin_config("b:9092", security=security)):
        assert {k: config[k] for k in expected} == expected
        assert config["bootstrap.servers"] == "b:9092"


def test_tls_with_a_client_certificate(files: dict[str, str]) -> None:
    security = KafkaSecurity.from_env({
        f"{P}SECURITY_PROTOCOL": "ssl", f"{P}SSL_CA_LOCATION": files["ca.pem"],
        f"{P}SSL_CERTIFICATE_LOCATION": files["client.pem"],
        f"{P}SSL_KEY_LOCATION": files["client.key"], f"{P}SSL_KEY_PASSWORD": SECRET})
    assert security.config() == {
        "security.protocol": "ssl", "ssl.ca.location": files["ca.pem"],
        "ssl.certificate.location": files["client.pem"],
        "ssl.key.location": files["client.key"], "ssl.key.password": SECRET,
        "ssl.endpoint.identification.algorithm": "https"}


def test_oauthbearer_uses_librdkafkas_oidc_client() -> None:
    security = KafkaSecurity.from_env(oauth(**{f"{P}SASL_OAUTHBEARER_SCOPE": "kafka"}))
    assert security.config() == {
        "security.protocol": "sasl_ssl", "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
        "sasl.oauthbearer.client.id": "laneway", "sasl.oauthbearer.client.secret": SECRET,
        "sasl.oauthbearer.scope": "kafka",
        "ssl.endpoint.identification.algorithm": "https"}


@pytest.mark.parametrize(("env", "message"), [
    ({f"{P}SECURITY_PROTOCOL": "TLS"}, "LANEWAY_KAFKA_SECURITY_PROTOCOL to be one of"),
    ({f"{P}SASL_MECHANISM": "PLAIN"}, "LANEWAY_KAFKA_SASL_MECHANISM is set, but "
                                      "LANEWAY_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({f"{P}SECURITY_PROTOCOL": "SSL", f"{P}SASL_USERNAME": "u"},
     "LANEWAY_KAFKA_SASL_USERNAME is set, but LANEWAY_KAFKA_SECURITY_PROTOCOL is SSL"),
    ({f"{P}SECURITY_PROTOCOL": "SASL_SSL"}, "so LANEWAY_KAFKA_SASL_MECHANISM must be set"),
    ({f"{P}SECURITY_PROTOCOL": "SASL_SSL", f"{P}SASL_MECHANISM": "GSSAPI"},
     "LANEWAY_KAFKA_SASL_MECHANISM to be one of"),
    (scram(**{f"{P}SASL_PASSWORD": ""}), "LANEWAY_KAFKA_SASL_PASSWORD is not set"),
    ({f"{P}SECURITY_PROTOCOL": "SASL_SSL", f"{P}SASL_MECHANISM": "PLAIN"},
     "LANEWAY_KAFKA_SASL_USERNAME and LANEWAY_KAFKA_SASL_PASSWORD are not set"),
    (scram(**{f"{P}SSL_CA_LOCATION": "/no/such/ca.pem"}),
     "LANEWAY_KAFKA_SSL_CA_LOCATION names '/no/such/ca.pem', which is not a readable file"),
    ({f"{P}SSL_CA_LOCATION": "/etc/hostname"}, "which does not use TLS"),
    (oauth(**{f"{P}SASL_OAUTHBEARER_CLIENT_ID": ""}),
     "LANEWAY_KAFKA_SASL_OAUTHBEARER_CLIENT_ID is not set"),
    (oauth(**{f"{P}SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "file:///etc/passwd"}),
     "TOKEN_ENDPOINT_URL to be an http(s) URL"),
    (oauth(**{f"{P}SASL_USERNAME": "u"}), "not LANEWAY_KAFKA_SASL_USERNAME"),
    (scram(**{f"{P}SASL_OAUTHBEARER_CLIENT_ID": "c"}), "SASL_MECHANISM is SCRAM-SHA-512, not"),
    ({f"{P}SASL_OAUTHBEARER_SCOPE": "x"}, "set it to SASL_SSL"),
    ({f"{P}SASL_USERNAME": "u" * 5000}, "at most 4096 characters"),
    (scram(**{f"{P}SASL_PASSWORD": SECRET * 500}), "PASSWORD to be at most 4096 characters"),
])
def test_a_wrong_setting_is_refused_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(KafkaSecurityError) as caught:
        KafkaSecurity.from_env(env)
    assert message in str(caught.value)
    # and a service stops at start with it, as a settings error
    with pytest.raises(SettingsError) as at_start:
        Settings.from_env("engine", env)
    assert message in str(at_start.value)


def test_a_password_keeps_its_spaces_and_a_name_is_trimmed() -> None:
    security = KafkaSecurity.from_env(scram(**{f"{P}SASL_PASSWORD": " pass word ",
                                               f"{P}SASL_USERNAME": " laneway\n"}))
    assert (security.username, security.password) == ("laneway", " pass word ")


def test_every_setting_is_read(files: dict[str, str]) -> None:
    """Each name the chart passes changes what the clients get (none is a dead name)."""
    values = {f"{P}SECURITY_PROTOCOL": "SASL_SSL", f"{P}SASL_MECHANISM": "OAUTHBEARER",
              f"{P}SSL_CA_LOCATION": files["ca.pem"],
              f"{P}SSL_CERTIFICATE_LOCATION": files["client.pem"],
              f"{P}SSL_KEY_LOCATION": files["client.key"], f"{P}SSL_KEY_PASSWORD": "kp",
              f"{P}SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL": "https://idp/token",
              f"{P}SASL_OAUTHBEARER_CLIENT_ID": "c", f"{P}SASL_OAUTHBEARER_CLIENT_SECRET": "s",
              f"{P}SASL_OAUTHBEARER_SCOPE": "sc"}
    config = KafkaSecurity.from_env(values).config()
    assert set(config.values()) >= set(values.values()) - {"SASL_SSL"}
    config = KafkaSecurity.from_env(scram(**{f"{P}SASL_MECHANISM": "PLAIN"})).config()
    assert {config["sasl.username"], config["sasl.password"], config["sasl.mechanism"]} == {
        "laneway", SECRET, "PLAIN"}
    assert set(values) | set(scram()) == set(KAFKA_SECURITY_VARIABLES)


def test_half_a_client_certificate_is_refused(files: dict[str, str]) -> None:
    with pytest.raises(KafkaSecurityError, match=r"needs both .*CERTIFICATE_LOCATION and "
                                                 r".*KEY_LOCATION"):
        KafkaSecurity.from_env({f"{P}SECURITY_PROTOCOL": "SSL",
                                f"{P}SSL_CERTIFICATE_LOCATION": files["client.pem"]})


def test_the_secrets_never_show(caplog: pytest.LogCaptureFixture) -> None:
    env = scram(**{f"{P}SASL_MECHANISM": "PLAIN"})
    settings = Settings.from_env("engine", env)
    security = settings.kafka_security
    assert security.password == SECRET  # it is there, for the clients
    assert SECRET not in repr(security)
    assert SECRET not in str(security)
    assert SECRET not in repr(settings)
    oauth_security = KafkaSecurity.from_env(oauth())
    assert SECRET not in repr(oauth_security)
    # a settings object in a log line shows no secret
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("laneway.test").info("settings %s %r", settings, oauth_security)
    assert "'***'" in caplog.text
    assert SECRET not in caplog.text
    # and an error about another setting does not echo it
    with pytest.raises(SettingsError) as caught:
        Settings.from_env("engine", {**env, f"{P}SSL_CA_LOCATION": "/no/ca"})
    assert SECRET not in str(caught.value)


def test_clients_take_the_process_environment_and_see_it_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KAFKA_SECURITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert "security.protocol" not in consumer_config("b:9092", "g")
    for name, value in scram().items():
        monkeypatch.setenv(name, value)
    assert process_kafka_security().password == SECRET
    config = consumer_config("b:9092", "g")
    assert config["security.protocol"] == "sasl_ssl"
    assert config["sasl.password"] == SECRET
    monkeypatch.setenv(f"{P}SASL_MECHANISM", "NOPE")
    with pytest.raises(KafkaSecurityError, match="SASL_MECHANISM to be one of"):
        producer_config("b:9092")
