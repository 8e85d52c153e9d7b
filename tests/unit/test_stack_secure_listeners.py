"""The local stack's secured listeners: what `up` makes for them and the token endpoint the
tests use (the broker side is tested in tests/integration/test_kafka_security.py)."""

from __future__ import annotations

import base64
import json
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from scripts.stack.config import Settings, StackError
from scripts.stack.kafka_secure import SecureInfo, SecureListeners, check_ports, secure_info
from scripts.stack.oidc import TokenEndpoint


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LANEWAY_STACK_DIR": str(tmp_path), **env})


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, SecureInfo]:
    s = settings(tmp_path_factory.mktemp("stack"))
    SecureListeners(s).ensure()
    return s, secure_info(s)


def test_the_broker_certificate_is_for_the_loopback_and_signed_by_the_ca(
        made: tuple[Settings, SecureInfo]) -> None:
    s, info = made
    listeners = SecureListeners(s)
    ca = x509.load_pem_x509_certificate(Path(info.ca).read_bytes())
    broker = x509.load_pem_x509_certificate(listeners.broker.read_bytes())
    broker.verify_directly_issued_by(ca)
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    client = x509.load_pem_x509_certificate(Path(info.client_certificate).read_bytes())
    client.verify_directly_issued_by(ca)
    for key in (listeners.broker, listeners.client_key, listeners.signing_key,
                listeners.ca_key, listeners.info_file):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_the_credentials_are_random_kept_across_starts_and_not_in_the_repr(
        made: tuple[Settings, SecureInfo], tmp_path: Path) -> None:
    s, info = made
    assert len(info.password) >= 24
    SecureListeners(s).ensure()  # a second start keeps them
    assert secure_info(s).password == info.password
    other = settings(tmp_path)
    SecureListeners(other).ensure()
    assert secure_info(other).password != info.password
    assert info.password not in repr(info)
    assert info.oauth_client_secret not in repr(info)


def test_the_broker_properties_name_both_listeners_and_the_jwks(
        made: tuple[Settings, SecureInfo]) -> None:
    s, info = made
    listeners, advertised, props = SecureListeners(s).properties()
    assert listeners == ["SASL_SSL://127.0.0.1:19094", "SSL://127.0.0.1:19095"]
    assert advertised == listeners
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
    jwks_url = props["listener.name.sasl_ssl.oauthbearer.sasl.oauthbearer.jwks.endpoint.url"]
    assert jwks_url.startswith("file:///")
    assert SecureListeners(s).jvm_options() == [
        f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={jwks_url}"]
    assert info.sasl_ssl == "127.0.0.1:19094"


def test_ports_of_zero_turn_the_listeners_off(tmp_path: Path) -> None:
    s = settings(tmp_path, LANEWAY_KAFKA_SECURE_PORT="0", LANEWAY_KAFKA_SSL_PORT="0")
    assert not SecureListeners(s).enabled
    assert SecureListeners(s).properties() == ([], [], {})
    with pytest.raises(StackError, match="started without its secured listeners"):
        secure_info(s)


def test_a_secured_port_that_is_another_listeners_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="LANEWAY_KAFKA_SECURE_PORT"):
        check_ports(settings(tmp_path, LANEWAY_KAFKA_SECURE_PORT="19092"))


def _post(url: str, body: bytes, auth: str | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        **({"Authorization": auth} if auth else {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status), dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(json.loads(exc.read()))


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_token_endpoint_signs_for_the_known_client_only(
        made: tuple[Settings, SecureInfo]) -> None:
    s, info = made
    with TokenEndpoint(info) as endpoint:
        status, body = _post(endpoint.url, b"grant_type=client_credentials&scope=kafka",
                             _basic(info.oauth_client_id, info.oauth_client_secret))
        assert status == 200, body
        wrong, _ = _post(endpoint.url, b"grant_type=client_credentials",
                         _basic(info.oauth_client_id, "nope"))
        grant, _ = _post(endpoint.url, b"grant_type=password",
                         _basic(info.oauth_client_id, info.oauth_client_secret))
        big, _ = _post(endpoint.url, b"x" * 9000)
        form, _ = _post(endpoint.url, (
            f"grant_type=client_credentials&client_id={info.oauth_client_id}"
            f"&client_secret={info.oauth_client_secret}").encode())
    assert (wrong, grant, big, form) == (401, 400, 413, 200)
    assert endpoint.issued == 2
    header, claims, signature = body["access_token"].split(".")
    jwk = json.loads(SecureListeners(s).jwks.read_text())["keys"][0]
    assert json.loads(_unb64(header))["kid"] == jwk["kid"]
    public = rsa.RSAPublicNumbers(int.from_bytes(_unb64(jwk["e"]), "big"),
                                  int.from_bytes(_unb64(jwk["n"]), "big")).public_key()
    public.verify(_unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(),
                  hashes.SHA256())
    decoded = json.loads(_unb64(claims))
    assert (decoded["iss"], decoded["aud"], decoded["sub"], decoded["scope"]) == (
        info.issuer, info.audience, info.oauth_client_id, "kafka")
    assert decoded["exp"] > decoded["iat"]
