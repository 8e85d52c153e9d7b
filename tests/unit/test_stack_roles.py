"""The local stack creates the audit writer role, also on a server started before the role was
added (docs/audit.md "Who may write"); psql is replaced by a recorder here."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.stack import postgres, stack
from scripts.stack.config import Settings


class _Psql:
    def __init__(self, roles: set[str]) -> None:
        self.roles = roles
        self.statements: list[str] = []

    def __call__(self, sql: str, db: str = "postgres") -> str:
        self.statements.append(sql)
        if sql.startswith("SELECT 1 FROM pg_roles"):
            return "1" if sql.split("'")[1] in self.roles else ""
        return "1" if sql.startswith("SELECT 1 FROM pg_database") else ""


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LANEWAY_STACK_DIR": str(tmp_path), **env})


def test_up_creates_the_writer_role_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pg = postgres.Postgres(_settings(tmp_path))
    psql = _Psql({"laneway"})
    monkeypatch.setattr(pg, "_psql", psql)
    pg._ensure_database()
    assert "CREATE ROLE laneway_audit_writer LOGIN PASSWORD 'laneway_audit_writer'" in \
        psql.statements
    # a role that is there is left as it is
    psql.roles.add("laneway_audit_writer")
    psql.statements.clear()
    pg._ensure_database()
    assert not [s for s in psql.statements if s.startswith("CREATE")]


def test_a_database_url_naming_the_stacks_own_server_gets_its_roles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ensured: list[str] = []
    monkeypatch.setattr(postgres.Postgres, "ensure_roles",
                        lambda self: ensured.append(self.s.database_url))
    monkeypatch.setattr(stack, "find_bin_dir", lambda: tmp_path)
    own = _settings(tmp_path)
    assert own.local_database_url == "postgresql://laneway:laneway@127.0.0.1:15432/laneway"
    stack._ensure_roles(own)
    assert ensured == [own.local_database_url]
    # what `up` does with an external DATABASE_URL: only the stack's own server is touched
    started: list[str] = []
    monkeypatch.setattr(postgres.Postgres, "up", lambda self: started.append("up"))
    for url, touched in ((own.local_database_url, True),
                         ("postgresql://app:pw@db.example:5432/app", False)):
        ensured.clear()
        stack._postgres_up(_settings(tmp_path, DATABASE_URL=url))
        assert bool(ensured) is touched
    assert started == []
    stack._postgres_up(own)
    assert started == ["up"]
