"""The audit service's writer role and head key settings (docs/audit.md "Who may write")."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from laneway.settings import SettingsError
from scripts.services import Supervisor
from scripts.stack.config import Settings as StackSettings
from services.audit.anchor import DEV_KEY
from services.audit.settings import DEV_WRITER_ROLE, load_settings

OWNER = "postgresql://laneway:secret@db.example:5432/laneway"
PRODUCTION = {"LANEWAY_ENV": "production", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
              "DATABASE_URL": OWNER, "REDIS_URL": "redis://redis:6379/0"}


def test_in_development_the_writer_is_the_owners_url_with_the_writer_role() -> None:
    settings = load_settings({"DATABASE_URL": OWNER})
    writer = conninfo_to_dict(settings.writer_database_url)
    assert (writer["user"], writer["password"]) == (DEV_WRITER_ROLE, DEV_WRITER_ROLE)
    assert (writer["host"], writer["dbname"]) == ("db.example", "laneway")
    assert settings.common.database_url == OWNER  # the owner's, for the migrations only
    assert (settings.key, settings.key_is_dev) == (DEV_KEY, True)
    # the local stack creates the role the settings derive
    assert StackSettings.from_env({}).audit_writer == DEV_WRITER_ROLE


def test_a_writer_that_is_the_owner_is_refused() -> None:
    with pytest.raises(SettingsError, match="role of its own"):
        load_settings({"DATABASE_URL": OWNER, "LANEWAY_AUDIT_DATABASE_URL": OWNER})


def test_production_wants_the_writer_url_and_the_key_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LANEWAY_AUDIT_DATABASE_URL"):
        load_settings(PRODUCTION)
    writer = "postgresql://audit_writer:pw@db.example:5432/laneway"
    with pytest.raises(SettingsError, match="LANEWAY_AUDIT_KEY_FILE"):
        load_settings({**PRODUCTION, "LANEWAY_AUDIT_DATABASE_URL": writer})
    key = tmp_path / "key"
    key.write_bytes(b"x" * 31 + b"\n")
    with pytest.raises(SettingsError, match="at least 32 bytes, but it has 31"):
        load_settings({**PRODUCTION, "LANEWAY_AUDIT_DATABASE_URL": writer,
                       "LANEWAY_AUDIT_KEY_FILE": str(key)})
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings({**PRODUCTION, "LANEWAY_AUDIT_DATABASE_URL": writer,
                       "LANEWAY_AUDIT_KEY_FILE": str(tmp_path / "missing")})
    key.write_bytes(b"y" * 40 + b"\n")
    settings = load_settings({**PRODUCTION, "LANEWAY_AUDIT_DATABASE_URL": writer,
                              "LANEWAY_AUDIT_KEY_FILE": str(key)})
    assert (settings.key, settings.key_is_dev) == (b"y" * 40, False)
    assert "pw@" not in repr(settings)
    assert "y" * 40 not in repr(settings)


def test_make_up_gives_the_audit_service_a_key_of_this_machine(tmp_path: Path) -> None:
    key = tmp_path / "audit" / "key"
    env = Supervisor.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "state")},
                              dev_key_dir=tmp_path / "jwt", audit_key=key).service_env("audit")
    assert env["LANEWAY_AUDIT_KEY_FILE"] == str(key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    settings = load_settings(env)
    assert settings.key_is_dev is False
    # kept by the next `make up`: heads signed before still verify
    first = key.read_bytes()
    Supervisor.from_env({"LANEWAY_STACK_DIR": str(tmp_path / "state")},
                        dev_key_dir=tmp_path / "jwt", audit_key=key)
    assert key.read_bytes() == first
