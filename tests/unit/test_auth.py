"""`laneway.auth`: settings, and tokens verified into principals or refused with a reason."""

from __future__ import annotations

import base64
import json
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, Key, KeySet, OctKey, OKPKey, RSAKey

from laneway.auth import AuthError, AuthSettings, KeySourceError, TokenVerifier
from laneway.records import PrincipalKind
from laneway.settings import SettingsError

NOW = 1_800_000_000
SECRET = "s" * 40


def ec_key(kid: str = "k1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": "laneway-dev", "aud": "laneway", "sub": "carla",
                            "iat": NOW, "nbf": NOW, "exp": NOW + 3600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Key, body: dict[str, Any], alg: str = "ES256", **header: Any) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # EdDSA's deprecation (RFC 9864)
        return jwt.encode({"alg": alg, "kid": key.kid, **header}, body, key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write_jwks(path: Path, *keys: Key) -> Path:
    path.write_text(json.dumps(KeySet(list(keys)).as_dict(private=False)))
    return path


@pytest.fixture
def key() -> ECKey:
    return ec_key()


@pytest.fixture
def verifier(tmp_path: Path, key: ECKey) -> TokenVerifier:
    settings = AuthSettings(jwks_file=write_jwks(tmp_path / "jwks.json", key))
    return TokenVerifier(settings, clock=lambda: NOW)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    return caught.value.reason


# --- settings ------------------------------------------------------------------------------


def test_settings_read_one_key_source_and_defaults(tmp_path: Path) -> None:
    settings = AuthSettings.from_env({"LANEWAY_JWT_JWKS_FILE": str(tmp_path / "j.json")})
    assert settings.jwks_file == tmp_path / "j.json"
    assert (settings.issuer, settings.audience, settings.leeway_s) == ("laneway-dev", "laneway", 60)
    custom = AuthSettings.from_env({"LANEWAY_JWT_JWKS_URL": "https://idp.example/jwks",
                                    "LANEWAY_JWT_ISSUER": "https://idp.example",
                                    "LANEWAY_JWT_AUDIENCE": "api", "LANEWAY_JWT_LEEWAY_S": "0"})
    assert (custom.jwks_url, custom.issuer, custom.audience, custom.leeway_s) == (
        "https://idp.example/jwks", "https://idp.example", "api", 0)


@pytest.mark.parametrize("env", [
    {},
    {"LANEWAY_JWT_JWKS_FILE": "a.json", "LANEWAY_JWT_SECRET": SECRET},
    {"LANEWAY_JWT_JWKS_URL": "  "},
])
def test_settings_need_exactly_one_key_source(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="Expected exactly one of LANEWAY_JWT_JWKS_FILE, "
                       "LANEWAY_JWT_JWKS_URL, LANEWAY_JWT_SECRET_FILE, LANEWAY_JWT_SECRET"):
        AuthSettings.from_env(env)


def test_settings_refuse_weak_or_unsafe_sources(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 32 bytes"):
        AuthSettings.from_env({"LANEWAY_JWT_SECRET": "short"})
    with pytest.raises(SettingsError, match="https://"):
        AuthSettings.from_env({"LANEWAY_JWT_JWKS_URL": "http://idp.example/jwks"})
    with pytest.raises(SettingsError, match="LANEWAY_JWT_LEEWAY_S"):
        AuthSettings.from_env({"LANEWAY_JWT_SECRET": SECRET, "LANEWAY_JWT_LEEWAY_S": "-1"})
    with pytest.raises(SettingsError, match="LANEWAY_JWT_SECRET_FILE"):
        AuthSettings.from_env({"LANEWAY_JWT_SECRET_FILE": str(tmp_path / "missing")})


def test_secret_file_is_read_and_never_shown(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    settings = AuthSettings.from_env({"LANEWAY_JWT_SECRET_FILE": str(tmp_path / "secret")})
    assert settings.secret == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in settings.source


# --- valid tokens --------------------------------------------------------------------------


def test_valid_token_gives_the_principal(verifier: TokenVerifier, key: ECKey) -> None:
    token = sign(key, claims(roles=["reviewer"], personas=["Case Worker"], groups=["ops"],
                             name="Carla"))
    principal = verifier.verify(token)
    assert principal.kind is PrincipalKind.HUMAN
    assert principal.id == "carla"
    assert principal.roles == ("reviewer",)
    assert principal.personas == ("Case Worker",)
    assert principal.groups == ("ops",)
    assert principal.holds_persona("case-worker")
    # only what the engine's checks read: the principal rides on every event, and the rest of
    # a token (name, e-mail, the provider's extras) is nobody else's business
    assert principal.claims == {"personas": ["Case Worker"], "groups": ["ops"]}


def test_agent_kind_and_audience_lists(verifier: TokenVerifier, key: ECKey) -> None:
    principal = verifier.verify(sign(key, claims(kind="agent", aud=["other", "laneway"])))
    assert (principal.kind, principal.roles) == (PrincipalKind.AGENT, ())


def test_leeway_tolerates_a_slightly_late_clock(verifier: TokenVerifier, key: ECKey) -> None:
    assert verifier.verify(sign(key, claims(exp=NOW - 30))).id == "carla"
    assert verifier.verify(sign(key, claims(nbf=NOW + 30, iat=NOW + 30))).id == "carla"


@pytest.mark.parametrize(("alg", "make"), [
    ("RS256", lambda: RSAKey.generate_key(2048, parameters={"kid": "r"})),
    ("EdDSA", lambda: OKPKey.generate_key("Ed25519", parameters={"kid": "e"})),
    ("ES256", lambda: ec_key("e1")),
])
def test_key_set_algorithms(tmp_path: Path, alg: str, make: Any) -> None:
    key = make()
    other = ec_key("unrelated")
    settings = AuthSettings(jwks_file=write_jwks(tmp_path / "jwks.json", other, key))
    verifier = TokenVerifier(settings, clock=lambda: NOW)
    assert verifier.verify(sign(key, claims(), alg=alg)).id == "carla"


def test_token_without_kid_tries_the_keys_that_fit(tmp_path: Path) -> None:
    key, other = ec_key("a"), ec_key("b")
    verifier = TokenVerifier(AuthSettings(jwks_file=write_jwks(tmp_path / "j.json", other, key)),
                             clock=lambda: NOW)
    token = jwt.encode({"alg": "ES256"}, claims(), key, algorithms=["ES256"])
    assert verifier.verify(token).id == "carla"


def test_shared_secret_verifies_hs256_only(key: ECKey) -> None:
    verifier = TokenVerifier(AuthSettings(secret=SECRET), clock=lambda: NOW)
    secret_key = OctKey.import_key(SECRET.encode())
    token = jwt.encode({"alg": "HS256"}, claims(), secret_key, algorithms=["HS256"])
    assert verifier.verify(token).id == "carla"
    assert "unsupported algorithm" in refused(verifier, sign(key, claims()))
    other = OctKey.import_key(("x" * 40).encode())
    forged = jwt.encode({"alg": "HS256"}, claims(), other, algorithms=["HS256"])
    assert refused(verifier, forged).startswith("bad signature")


# --- refused tokens ------------------------------------------------------------------------


def test_expired(verifier: TokenVerifier, key: ECKey) -> None:
    reason = refused(verifier, sign(key, claims(exp=NOW - 61)))
    assert reason.startswith("token expired at 2027-01-15T07:58:59")


def test_wrong_audience(verifier: TokenVerifier, key: ECKey) -> None:
    reason = refused(verifier, sign(key, claims(aud=["billing"])))
    assert reason == "wrong audience: expected 'laneway', but the token is for ['billing']"


def test_wrong_issuer(verifier: TokenVerifier, key: ECKey) -> None:
    reason = refused(verifier, sign(key, claims(iss="someone-else")))
    assert reason == "wrong issuer: expected 'laneway-dev', but the token is from 'someone-else'"


def test_not_yet_valid_and_issued_in_the_future(verifier: TokenVerifier, key: ECKey) -> None:
    assert refused(verifier, sign(key, claims(nbf=NOW + 120))).startswith("token not valid")
    assert refused(verifier, sign(key, claims(iat=NOW + 120))).startswith("token issued in the")


@pytest.mark.parametrize("exp", ["1e308", "1e400", "NaN", "Infinity", "-Infinity", "true",
                                 '"soon"'])
def test_exp_must_be_a_finite_number(verifier: TokenVerifier, key: ECKey, exp: str) -> None:
    # json.loads reads 1e400 as infinity and accepts NaN; both compare as "not expired"
    payload = json.dumps(claims(exp=None))[:-1] + f', "exp": {exp}}}'
    token = jws.serialize_compact({"alg": "ES256", "kid": key.kid}, payload.encode(), key)
    reason = refused(verifier, token)
    assert reason.startswith(("malformed token: 'exp' must be a finite number",
                              "token valid for too long")), reason


def test_exp_beyond_the_maximum_lifetime(tmp_path: Path, key: ECKey) -> None:
    settings = AuthSettings(jwks_file=write_jwks(tmp_path / "j.json", key), max_lifetime_s=3600)
    verifier = TokenVerifier(settings, clock=lambda: NOW)
    # within the lifetime plus the leeway: accepted; a minute past it: refused
    assert verifier.verify(sign(key, claims(exp=NOW + 3600 + 60))).id == "carla"
    reason = refused(verifier, sign(key, claims(exp=NOW + 3600 + 61)))
    assert reason.startswith("token valid for too long: it expires at 2027-01-15T09:01:01"), reason
    reason = refused(verifier, sign(key, claims(exp=10**12)))
    assert "LANEWAY_JWT_MAX_LIFETIME_S" in reason


def test_nbf_and_iat_must_be_finite(verifier: TokenVerifier, key: ECKey) -> None:
    for name in ("nbf", "iat"):
        payload = json.dumps(claims(**{name: None}))[:-1] + f', "{name}": NaN}}'
        token = jws.serialize_compact({"alg": "ES256", "kid": key.kid}, payload.encode(), key)
        assert refused(verifier, token).startswith(f"malformed token: {name!r} must be")


def test_max_lifetime_setting() -> None:
    env = {"LANEWAY_JWT_SECRET": SECRET}
    assert AuthSettings.from_env(env).max_lifetime_s == 24 * 3600
    assert AuthSettings.from_env({**env, "LANEWAY_JWT_MAX_LIFETIME_S": "600"}
                                 ).max_lifetime_s == 600
    for bad in ("0", "-5", "1e9", "day"):
        with pytest.raises(SettingsError, match="LANEWAY_JWT_MAX_LIFETIME_S"):
            AuthSettings.from_env({**env, "LANEWAY_JWT_MAX_LIFETIME_S": bad})


def test_tampered_payload(verifier: TokenVerifier, key: ECKey) -> None:
    header, _, signature = sign(key, claims()).split(".")
    forged = b64(json.dumps(claims(sub="admin", roles=["admin"])).encode())
    assert refused(verifier, f"{header}.{forged}.{signature}").startswith("bad signature")


def test_other_key_with_the_same_kid(verifier: TokenVerifier) -> None:
    assert refused(verifier, sign(ec_key("k1"), claims())).startswith("bad signature")


def test_unknown_kid(verifier: TokenVerifier) -> None:
    assert refused(verifier, sign(ec_key("k9"), claims())).startswith("unknown key id 'k9'")


def test_alg_none(verifier: TokenVerifier) -> None:
    header = b64(json.dumps({"alg": "none", "kid": "k1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(roles=["admin"])).encode())
    reason = refused(verifier, f"{header}.{payload}.")
    assert reason == ("unsupported algorithm: expected one of ES256, RS256, EdDSA, but the "
                      "token names 'none'")


def test_hs256_signed_with_the_public_key_is_refused(verifier: TokenVerifier,
                                                     key: ECKey) -> None:
    # The classic confusion: the attacker HMACs with the public key's bytes and names HS256.
    public = json.dumps(key.as_dict(private=False)).encode()
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims(roles=["admin"]),
                       OctKey.import_key(public), algorithms=["HS256"])
    assert refused(verifier, token).startswith("unsupported algorithm")


def test_rs256_token_against_an_ec_kid_is_refused(verifier: TokenVerifier) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    assert refused(verifier, sign(rsa, claims(), alg="RS256")).startswith("unknown key id")


@pytest.mark.parametrize(("body", "expected"), [
    (claims(sub=None), "malformed token: missing claim sub"),
    (claims(exp=None), "malformed token: missing claim exp"),
    (claims(sub=""), "malformed token: 'sub' must be a non-empty string"),
    (claims(sub=7), "malformed token: 'sub' must be a non-empty string"),
    (claims(kind="system"), "unsupported kind: expected 'human' or 'agent', but the token "
                            "claims 'system'"),
    (claims(kind="robot"), "unsupported kind: expected 'human' or 'agent', but the token "
                           "claims 'robot'"),
    (claims(roles="admin"), "malformed token: 'roles' must be a list of strings"),
    (claims(personas=[1]), "malformed token: 'personas' must be a list of strings"),
])
def test_claims_refused(verifier: TokenVerifier, key: ECKey, body: dict[str, Any],
                        expected: str) -> None:
    assert refused(verifier, sign(key, body)) == expected


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 20_000])
def test_malformed(verifier: TokenVerifier, token: str) -> None:
    assert refused(verifier, token).startswith("malformed token")


def test_missing_jwks_file_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(KeySourceError, match="readable JWKS file"):
        TokenVerifier(AuthSettings(jwks_file=tmp_path / "nope.json"))


def test_jwks_with_a_symmetric_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [OctKey.import_key(SECRET.encode()).as_dict()]}))
    with pytest.raises(KeySourceError, match="symmetric"):
        TokenVerifier(AuthSettings(jwks_file=path))


def test_jwks_file_is_read_again_for_an_unknown_kid(tmp_path: Path, key: ECKey) -> None:
    path = write_jwks(tmp_path / "jwks.json", key)
    clock = [0.0]
    verifier = TokenVerifier(AuthSettings(jwks_file=path), clock=lambda: NOW,
                             monotonic=lambda: clock[0])
    rotated = ec_key("k2")
    write_jwks(path, rotated)
    clock[0] = 11.0
    assert verifier.verify(sign(rotated, claims())).id == "carla"


# --- JWKS URL ------------------------------------------------------------------------------


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving a JWKS that a test can swap."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.status = 200
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                body = json.dumps(owner.jwks).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def serve(self, *keys: Key) -> None:
        self.jwks = KeySet(list(keys)).as_dict(private=False)  # type: ignore[assignment]


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_jwks_url_cached_and_refetched_on_rotation(jwks_server: JwksServer) -> None:
    old, new = ec_key("old"), ec_key("new")
    jwks_server.serve(old)
    clock = [1000.0]
    verifier = TokenVerifier(AuthSettings(jwks_url=jwks_server.url), clock=lambda: NOW,
                             monotonic=lambda: clock[0])
    assert jwks_server.fetches == 0  # fetched on first use, so a service starts without its IdP
    assert verifier.verify(sign(old, claims())).id == "carla"
    assert verifier.verify(sign(old, claims(sub="ben"))).id == "ben"
    assert jwks_server.fetches == 1

    # The identity provider rotates: a token with the new kid makes one refetch.
    jwks_server.serve(new)
    clock[0] += 30
    assert verifier.verify(sign(new, claims())).id == "carla"
    assert jwks_server.fetches == 2
    # The old key is gone from the set now.
    assert refused(verifier, sign(old, claims())) == (
        "unknown key id 'old': no such key in the trusted key set")
    assert jwks_server.fetches == 2  # just fetched: no second refetch within MIN_REFRESH_S
    # Made-up kids do not refetch more than once per MIN_REFRESH_S.
    clock[0] += 11
    for n in range(5):
        refused(verifier, sign(ec_key(f"made-up-{n}"), claims()))
    assert jwks_server.fetches == 3

    # After five minutes the cache is refreshed even for known kids.
    clock[0] += 301
    assert verifier.verify(sign(new, claims())).id == "carla"
    assert jwks_server.fetches == 4


def test_jwks_url_down(jwks_server: JwksServer) -> None:
    key = ec_key()
    jwks_server.status = 500
    clock = [0.0]
    verifier = TokenVerifier(AuthSettings(jwks_url=jwks_server.url), clock=lambda: NOW,
                             monotonic=lambda: clock[0])
    with pytest.raises(KeySourceError, match="Expected 200 from the JWKS URL"):
        verifier.verify(sign(key, claims()))
    # Once keys are cached, an outage keeps them in use instead of refusing everyone.
    jwks_server.status = 200
    jwks_server.serve(key)
    clock[0] += 11
    assert verifier.verify(sign(key, claims())).id == "carla"
    jwks_server.status = 503
    clock[0] += 301
    assert verifier.verify(sign(key, claims())).id == "carla"
    assert jwks_server.fetches == 3


def test_real_clock_is_the_default(tmp_path: Path, key: ECKey) -> None:
    verifier = TokenVerifier(AuthSettings(jwks_file=write_jwks(tmp_path / "j.json", key)))
    now = int(time.time())
    assert verifier.verify(sign(key, claims(iat=now, nbf=now, exp=now + 60))).id == "carla"
    assert refused(verifier, sign(key, claims(iat=None))).startswith("token not valid before")
