"""`make up`'s supervisor gives every service the development key's JWKS file."""

from __future__ import annotations

import stat
from pathlib import Path

from laneway.auth import AuthSettings, TokenVerifier
from laneway.auth.dev import issue_token
from scripts.services import Supervisor
from scripts.stack.config import REPO_ROOT


def test_services_get_the_dev_jwks(tmp_path: Path) -> None:
    keys = tmp_path / "jwt"
    supervisor = Supervisor.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "state")},
                                     dev_key_dir=keys)
    env = supervisor.service_env("definitions")
    assert env["LANEWAY_JWT_JWKS_FILE"] == str(keys / "jwks.json")
    assert stat.S_IMODE((keys / "signing-key.json").stat().st_mode) == 0o600
    # what a service builds from that environment verifies what `laneway token` signs
    verifier = TokenVerifier(AuthSettings.from_env(env))
    token = issue_token(keys / "signing-key.json", user="carla")
    assert verifier.verify(token).id == "carla"
    # a second `make up` keeps the key, so tokens already handed out stay valid
    Supervisor.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "state")}, dev_key_dir=keys)
    assert verifier.verify(token).id == "carla"


def test_a_key_source_in_the_environment_wins(tmp_path: Path) -> None:
    keys = tmp_path / "jwt"
    supervisor = Supervisor.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "state"),
                                      "LANEWAY_JWT_JWKS_URL": "https://idp.example/jwks"},
                                     dev_key_dir=keys)
    env = supervisor.service_env("engine")
    assert "LANEWAY_JWT_JWKS_FILE" not in env
    assert env["LANEWAY_JWT_JWKS_URL"] == "https://idp.example/jwks"
    assert not keys.exists()


def test_var_is_not_committed() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    assert "var/" in ignored
