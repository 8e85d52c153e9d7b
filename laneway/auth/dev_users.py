"""The development users: who the console's development sign-in offers (docs/console.md).

A fixed set that covers the README's permit walkthrough and the console's tests: a modeler who
deploys, two reviewers (so four eyes can be shown), the lanes' personas, an auditor, an
operator and an admin. `LANEWAY_DEV_USERS_FILE` names a TOML file that replaces the set:

    [[user]]
    id = "carla"
    name = "Carla Case Worker"
    personas = ["Case Worker"]
    description = "Works the case worker's queue"
    # also: kind = "human" | "agent", roles = [...], groups = [...]

Like the development key, they are for a developer's machine and tests only.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laneway.auth.dev import KINDS
from laneway.settings import SettingsError

__all__ = ["DEV_USERS", "MAX_DEV_USERS", "DevUser", "load_dev_users"]

MAX_DEV_USERS = 200
"""Most users a file may list: the sign-in page shows them all."""
_MAX_TEXT = 200
_MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DevUser:
    """One development user: what a token signed for them claims, and what the picker shows."""

    id: str
    name: str
    kind: str = "human"
    roles: tuple[str, ...] = ()
    personas: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The user as the API shows it."""
        return {"id": self.id, "name": self.name, "kind": self.kind, "roles": list(self.roles),
                "personas": list(self.personas), "groups": list(self.groups),
                "description": self.description}


DEV_USERS: tuple[DevUser, ...] = (
    DevUser("ana", "Ana Modeler", roles=("modeler",),
            description="Draws and deploys definitions; submits them for review"),
    DevUser("ben", "Ben Reviewer", roles=("reviewer", "authorizer"),
            description="Approves and authorizes definitions (not his own)"),
    DevUser("rita", "Rita Reviewer", roles=("reviewer",),
            description="A second reviewer, for four eyes"),
    DevUser("carla", "Carla Case Worker", personas=("Case Worker",),
            description="Works the case worker's tasks (the permit's review)"),
    DevUser("sam", "Sam Supervisor", personas=("Supervisor",),
            description="Works the supervisor's tasks (the permit's decision)"),
    DevUser("ida", "Ida Auditor", roles=("auditor",),
            description="Reads every instance and its audit history"),
    DevUser("olga", "Olga Operator", roles=("operator",),
            description="Watches instances, resolves incidents, sees every task"),
    DevUser("admin", "Admin", roles=("admin",),
            description="Holds every role (still never approves their own definition)"),
)
"""The default set (docs/console.md, "Development sign-in")."""


def load_dev_users(path: Path) -> tuple[DevUser, ...]:
    """The users a TOML file lists (`[[user]]` tables); raises SettingsError naming the file
    and the first thing wrong with it."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"Expected LANEWAY_DEV_USERS_FILE to name a readable file, but "
                            f"reading {str(path)!r} failed: {exc.strerror or exc}") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise SettingsError(f"Expected LANEWAY_DEV_USERS_FILE {str(path)!r} to be at most "
                            f"{_MAX_FILE_BYTES // 1024} KiB, but it is larger")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"Expected LANEWAY_DEV_USERS_FILE {str(path)!r} to be TOML, but "
                            f"{exc}") from None
    entries = data.get("user")
    if not isinstance(entries, list) or not entries:
        raise SettingsError(f"Expected [[user]] tables in {str(path)!r}, but found none")
    if len(entries) > MAX_DEV_USERS:
        raise SettingsError(f"Expected at most {MAX_DEV_USERS} users in {str(path)!r}, but "
                            f"it lists {len(entries)}")
    users = tuple(_user(entry, i, path) for i, entry in enumerate(entries))
    ids = [u.id for u in users]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise SettingsError(f"Expected each user id once in {str(path)!r}, but {repeated} "
                            "repeat")
    return users


def _user(entry: Any, index: int, path: Path) -> DevUser:
    where = f"{str(path)!r}, user {index + 1}"
    if not isinstance(entry, Mapping):
        raise SettingsError(f"Expected a table in {where}, but got {type(entry).__name__}")
    unknown = sorted(set(entry) - {"id", "name", "kind", "roles", "personas", "groups",
                                   "description"})
    if unknown:
        raise SettingsError(f"Expected only id, name, kind, roles, personas, groups and "
                            f"description in {where}, but found {unknown}")
    user_id = _text(entry, "id", where, required=True)
    kind = _text(entry, "kind", where) or "human"
    if kind not in KINDS:
        raise SettingsError(f"Expected kind 'human' or 'agent' in {where}, but got {kind!r}")
    return DevUser(id=user_id, name=_text(entry, "name", where) or user_id, kind=kind,
                   roles=_texts(entry, "roles", where), personas=_texts(entry, "personas", where),
                   groups=_texts(entry, "groups", where),
                   description=_text(entry, "description", where))


def _text(entry: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or len(value) > _MAX_TEXT or (required and not value.strip()):
        raise SettingsError(f"Expected {key} in {where} to be a{' non-empty' if required else ''}"
                            f" string of at most {_MAX_TEXT} characters, but got {value!r}")
    return value.strip()


def _texts(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or len(value) > 50 or not all(
            isinstance(v, str) and v.strip() and len(v) <= _MAX_TEXT for v in value):
        raise SettingsError(f"Expected {key} in {where} to be a list of non-empty strings, "
                            f"but got {value!r}")
    return tuple(v.strip() for v in value)
