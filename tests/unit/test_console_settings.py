"""The console's sign-in settings (docs/console.md): the OpenID Connect client, the development
sign-in and its users; `make up` turns the development sign-in on, the Helm chart never does."""

from __future__ import annotations

from pathlib import Path

import pytest

from laneway.auth import AuthSettings
from laneway.auth.dev import DEFAULT_SIGNING_KEY
from laneway.auth.dev_users import DEV_USERS, load_dev_users
from laneway.settings import SettingsError
from scripts.services import Supervisor
from scripts.stack.config import REPO_ROOT
from services.definitions.console import load_console

AUTH = AuthSettings(jwks_file=Path("jwks.json"), issuer="iss-x", audience="aud-x",
                    max_lifetime_s=3600)


def test_without_settings_there_is_no_oidc_client_and_no_dev_sign_in() -> None:
    console = load_console({}, AUTH)

    assert console.oidc is None
    assert console.dev_sign_in is None
    assert console.traces_url is None
    assert console.trace_view is False


def test_a_traces_query_url_turns_the_consoles_trace_view_on() -> None:
    console = load_console({"LANEWAY_TRACES_QUERY_URL": "http://jaeger-query:16686/"}, AUTH)

    assert console.trace_view is True
    assert console.traces_url is None  # no UI named: the view is the only way to a trace


def test_the_traces_url_is_kept_without_its_trailing_slash() -> None:
    # the console appends /trace/<id>
    console = load_console({"LANEWAY_TRACES_URL": " https://jaeger.example/ui/ "}, AUTH)

    assert console.traces_url == "https://jaeger.example/ui"


def test_the_oidc_client_with_its_default_scopes_and_the_apis_audience() -> None:
    console = load_console({"LANEWAY_OIDC_ISSUER": "https://idp.example/realms/x/",
                            "LANEWAY_OIDC_CLIENT_ID": "console"}, AUTH)

    assert console.oidc is not None
    # the issuer exactly as given: it must equal the discovery document's
    assert console.oidc.issuer == "https://idp.example/realms/x/"
    assert (console.oidc.client_id, console.oidc.scopes) == ("console", ("openid", "profile"))
    assert console.oidc.audience == "aud-x"


@pytest.mark.parametrize(("env", "message"), [
    ({"LANEWAY_OIDC_ISSUER": "https://idp.example"}, "LANEWAY_OIDC_CLIENT_ID too"),
    ({"LANEWAY_OIDC_CLIENT_ID": "console"}, "LANEWAY_OIDC_ISSUER too"),
    ({"LANEWAY_OIDC_ISSUER": "http://idp.example", "LANEWAY_OIDC_CLIENT_ID": "c"},
     "https://"),
    ({"LANEWAY_OIDC_ISSUER": "https://idp.example", "LANEWAY_OIDC_CLIENT_ID": "c",
      "LANEWAY_OIDC_SCOPES": "profile email"}, "'openid'"),
    ({"LANEWAY_DEV_SIGNIN": "maybe"}, "LANEWAY_DEV_SIGNIN"),
    ({"LANEWAY_TRACES_URL": "javascript:alert(1)"}, "LANEWAY_TRACES_URL"),
    ({"LANEWAY_TRACES_URL": "127.0.0.1:16686"}, "LANEWAY_TRACES_URL"),
    ({"LANEWAY_TRACES_URL": "http://jaeger:99999"}, "LANEWAY_TRACES_URL"),
    ({"LANEWAY_TRACES_URL": "https://user:pw@jaeger.example"}, "LANEWAY_TRACES_URL"),
    ({"LANEWAY_TRACES_URL": "https://jaeger.example/?q=1"}, "LANEWAY_TRACES_URL"),
    ({"LANEWAY_TRACES_QUERY_URL": "jaeger:16686"}, "LANEWAY_TRACES_QUERY_URL"),
    ({"LANEWAY_TRACES_QUERY_URL": "http://u:p@jaeger:16686"}, "LANEWAY_TRACES_QUERY_URL"),
    ({"LANEWAY_TRACES_QUERY_URL": "http://jaeger:16686/#x"}, "LANEWAY_TRACES_QUERY_URL"),
])
def test_malformed_console_settings_are_refused_naming_the_setting(
        env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_console(env, AUTH)


def test_scopes_are_split_on_spaces_and_commas_once_each() -> None:
    console = load_console({"LANEWAY_OIDC_ISSUER": "http://127.0.0.1:9000",
                            "LANEWAY_OIDC_CLIENT_ID": "c",
                            "LANEWAY_OIDC_SCOPES": "openid, email profile email"}, AUTH)

    assert console.oidc is not None
    assert console.oidc.scopes == ("openid", "email", "profile")


def test_the_dev_sign_in_signs_as_the_services_verify_within_their_longest_lifetime() -> None:
    sign_in = load_console({"LANEWAY_DEV_SIGNIN": "1"}, AUTH).dev_sign_in

    assert sign_in is not None
    assert sign_in.key_file == DEFAULT_SIGNING_KEY
    assert sign_in.users == DEV_USERS
    assert (sign_in.issuer, sign_in.audience) == ("iss-x", "aud-x")
    assert sign_in.ttl_s == 3600  # the services' LANEWAY_JWT_MAX_LIFETIME_S, under 8 h
    assert load_console({"LANEWAY_DEV_SIGNIN": "0"}, AUTH).dev_sign_in is None


def test_the_dev_users_cover_the_permit_walkthroughs_people() -> None:
    users = {u.id: u for u in DEV_USERS}

    assert "modeler" in users["ana"].roles
    assert {"reviewer", "authorizer"} <= set(users["ben"].roles)
    assert "reviewer" in users["rita"].roles  # a second reviewer: four eyes
    assert users["carla"].personas == ("Case Worker",)
    assert users["sam"].personas == ("Supervisor",)
    assert users["ida"].roles == ("auditor",)
    assert users["olga"].roles == ("operator",)
    assert users["admin"].roles == ("admin",)
    # the walkthrough's personas are the permit diagram's lanes
    permit = (REPO_ROOT / "examples" / "permit" / "permit.bpmn").read_text()
    assert 'laneway:persona="Case Worker"' in permit
    assert 'laneway:persona="Supervisor"' in permit


def test_a_dev_users_file_replaces_the_set(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text('[[user]]\nid = "zoe"\nname = "Zoe"\nkind = "agent"\ngroups = ["ops"]\n')

    console = load_console({"LANEWAY_DEV_SIGNIN": "1",
                            "LANEWAY_DEV_USERS_FILE": str(path)}, AUTH)

    assert console.dev_sign_in is not None
    [zoe] = console.dev_sign_in.users
    assert (zoe.id, zoe.name, zoe.kind, zoe.groups, zoe.roles) == (
        "zoe", "Zoe", "agent", ("ops",), ())


@pytest.mark.parametrize(("text", "message"), [
    ("not toml [", "to be TOML"),
    ("", r"\[\[user\]\] tables"),
    ('[[user]]\nname = "no id"\n', "non-empty string"),
    ('[[user]]\nid = "a"\nkind = "robot"\n', "kind 'human' or 'agent'"),
    ('[[user]]\nid = "a"\nroles = "admin"\n', "list of non-empty strings"),
    ('[[user]]\nid = "a"\npassword = "x"\n', "password"),
    ('[[user]]\nid = "a"\n[[user]]\nid = "a"\n', "repeat"),
])
def test_a_malformed_dev_users_file_is_refused_naming_what_is_wrong(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "users.toml"
    path.write_text(text)

    with pytest.raises(SettingsError, match=message):
        load_dev_users(path)


def test_a_missing_dev_users_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="readable"):
        load_dev_users(tmp_path / "missing.toml")


def test_make_up_turns_the_dev_sign_in_on_with_the_key_the_services_verify(
        tmp_path: Path) -> None:
    keys = tmp_path / "jwt"
    supervisor = Supervisor.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "state")},
                                     dev_key_dir=keys)

    env = supervisor.service_env("definitions")

    assert env["LANEWAY_DEV_SIGNIN"] == "1"
    assert env["LANEWAY_DEV_KEY_FILE"] == str(keys / "signing-key.json")


def test_a_key_source_of_ones_own_leaves_the_dev_sign_in_off(tmp_path: Path) -> None:
    # tokens signed with the development key would not verify against another key source
    supervisor = Supervisor.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "state"),
                                      "LANEWAY_JWT_JWKS_URL": "https://idp.example/jwks"},
                                     dev_key_dir=tmp_path / "jwt")

    assert "LANEWAY_DEV_SIGNIN" not in supervisor.service_env("definitions")


def test_the_helm_chart_never_turns_the_dev_sign_in_on() -> None:
    chart = "\n".join(p.read_text() for p in (REPO_ROOT / "helm").rglob("*")
                      if p.is_file())

    assert "LANEWAY_DEV_SIGNIN" not in chart
    assert "LANEWAY_DEV_KEY_FILE" not in chart
