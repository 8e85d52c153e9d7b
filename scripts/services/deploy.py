"""Deploy the example diagrams through the definitions service's HTTP API and take them through
the definition lifecycle to AUTHORIZED, so `make up` leaves them ready to start.

The requests carry development tokens signed with the key the supervisor creates
(`var/dev/jwt/signing-key.json`): the deploy and DRAFT → REVIEW as `ana` (modeler), REVIEW →
APPROVED and APPROVED → AUTHORIZED as `ben` (reviewer, authorizer): four eyes, as the rules
want. A version already AUTHORIZED (or RETIRED) is left as it is. The JSON Schema forms beside a
diagram (`forms/<formId>.json` in its folder) are uploaded first, as `ana`, so its user tasks and
public start form find them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from laneway.auth.dev import SIGNING_KEY_FILE, issue_token
from scripts.services.supervisor import ServiceError
from scripts.stack.config import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "examples"
DEV_SIGNING_KEY = REPO_ROOT / "var" / "dev" / "jwt" / SIGNING_KEY_FILE
AUTHOR = ("ana", ("modeler",))
APPROVER = ("ben", ("reviewer", "authorizer"))
# the steps from each state to AUTHORIZED, and who takes them
_PATH = {"DRAFT": ("REVIEW", "author"), "REVIEW": ("APPROVED", "approver"),
         "APPROVED": ("AUTHORIZED", "approver")}


@dataclass(frozen=True)
class Deployed:
    """One process version the definitions service stored (or already had)."""

    file: Path
    process_id: str
    version: int
    new: bool
    """False when the same process was already deployed (the service returned its version)."""
    state: str = "DRAFT"
    """Its lifecycle state after `deploy` (AUTHORIZED unless a step was refused)."""
    note: str = ""
    """Why it is not AUTHORIZED, when it is not."""

    def label(self) -> str:
        return (f"{self.process_id} v{self.version} {self.state}"
                + ("" if self.new else " (unchanged)") + (f": {self.note}" if self.note else ""))


def example_files(root: Path = EXAMPLES_DIR) -> list[Path]:
    """Every examples/**/*.bpmn, in a stable order."""
    return sorted(root.rglob("*.bpmn"))


def dev_signing_key() -> Path:
    """The key tokens are signed with: `LANEWAY_DEV_KEY_FILE` (as for `laneway token`), else
    the supervisor's `var/dev/jwt/signing-key.json`."""
    given = os.environ.get("LANEWAY_DEV_KEY_FILE", "").strip()
    return Path(given) if given else DEV_SIGNING_KEY


def deploy(base_url: str, files: Sequence[Path], timeout: float = 30.0,
           signing_key: Path | None = None,
           echo: Callable[[str], None] | None = print) -> list[Deployed]:
    """POST each file to `{base_url}/api/definitions` as application/xml, then take each
    version to AUTHORIZED; `echo` gets one line per version with its state.

    Raises ServiceError on the first file refused: a 422 with the errors the service gave,
    a 404 saying the API is not there, anything else with its status and body. A transition
    the service refuses (e.g. lanes without personas) leaves the version where it is, with
    the reason in its line.
    """
    signing_key = signing_key or dev_signing_key()
    if not signing_key.is_file():
        raise ServiceError(f"Expected the development signing key at {_show(signing_key)} "
                           "(the supervisor creates it at `make up`), but it is not there")
    headers = {role: {"Authorization": "Bearer " + issue_token(
                   signing_key, user=user, roles=roles, ttl_s=600)}
               for role, (user, roles) in (("author", AUTHOR), ("approver", APPROVER))}
    url = f"{base_url.rstrip('/')}/api/definitions"
    deployed: list[Deployed] = []
    with httpx.Client(timeout=timeout) as client:
        for path in files:
            for form in sorted((path.parent / "forms").glob("*.json")):
                _upload_form(client, base_url, form, headers["author"])
            for each in _deploy_file(client, url, path, headers["author"]):
                done = _authorize(client, url, each, headers)
                if echo is not None:
                    echo(f"  {done.label()}  ({_show(path)})")
                deployed.append(done)
    return deployed


def _upload_form(client: httpx.Client, base_url: str, form: Path,
                 headers: dict[str, str]) -> None:
    """PUT a form schema under its file's stem (`permit-review.json` is `permit-review`)."""
    url = f"{base_url.rstrip('/')}/api/form-schemas/{form.stem}"
    try:
        response = client.put(url, content=form.read_bytes(),
                              headers={**headers, "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise ServiceError(f"uploading {_show(form)}: PUT {url} failed: {exc}") from exc
    if not response.is_success:
        raise ServiceError(f"uploading {_show(form)}: PUT {url} answered "
                           f"{response.status_code}: {response.text[:1000]}")


def _deploy_file(client: httpx.Client, url: str, path: Path,
                 headers: dict[str, str]) -> list[Deployed]:
    try:
        response = client.post(
            url,
            content=path.read_bytes(),
            headers={**headers, "Content-Type": "application/xml", "X-File-Name": _show(path)},
        )
    except httpx.HTTPError as exc:
        raise ServiceError(f"deploying {_show(path)}: POST {url} failed: {exc}") from exc
    if response.status_code == 422:
        raise ServiceError(
            f"deploying {_show(path)}: the definitions service refused it (422):\n"
            + _errors(response)
        )
    if response.status_code == 404:
        raise ServiceError(
            f"deploying {_show(path)}: POST {url} answered 404; the definitions "
            "service does not serve /api/definitions yet"
        )
    if not response.is_success:
        raise ServiceError(
            f"deploying {_show(path)}: POST {url} answered {response.status_code}: "
            f"{response.text[:500]}"
        )
    return _deployed(path, response)


def _authorize(client: httpx.Client, url: str, each: Deployed,
               headers: dict[str, dict[str, str]]) -> Deployed:
    """Take a version from where it is to AUTHORIZED, one transition at a time."""
    base = f"{url}/{each.process_id}/versions/{each.version}"
    state = _state(client, url, each, headers["author"])
    while state in _PATH:
        to, who = _PATH[state]
        try:
            response = client.post(f"{base}/transitions", headers=headers[who],
                                   json={"to": to, "comment": "make up: example"})
        except httpx.HTTPError as exc:
            raise ServiceError(f"{each.process_id} v{each.version}: {state} -> {to} "
                               f"failed: {exc}") from exc
        if response.status_code in (403, 409, 422):
            return Deployed(each.file, each.process_id, each.version, each.new, state,
                            f"{state} -> {to} refused ({response.status_code}): "
                            f"{_detail(response)}")
        if not response.is_success:
            raise ServiceError(f"{each.process_id} v{each.version}: {state} -> {to} answered "
                               f"{response.status_code}: {response.text[:500]}")
        state = str(response.json()["state"])
    return Deployed(each.file, each.process_id, each.version, each.new, state)


def _state(client: httpx.Client, url: str, each: Deployed, headers: dict[str, str]) -> str:
    response = client.get(url, params={"processId": each.process_id}, headers=headers)
    if not response.is_success:
        raise ServiceError(f"listing {each.process_id}: GET {url} answered "
                           f"{response.status_code}: {response.text[:500]}")
    for item in response.json():
        if item.get("version") == each.version:
            return str(item["state"])
    raise ServiceError(f"Expected {each.process_id} v{each.version} in GET {url}, but it is "
                       "not listed")


def _deployed(path: Path, response: httpx.Response) -> list[Deployed]:
    """The versions of a 200/201 `{"deployed": [{"processId", "version", "new"}]}`."""
    try:
        items = response.json()["deployed"]
        return [
            Deployed(path, str(item["processId"]), int(item["version"]), bool(item["new"]))
            for item in items
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise ServiceError(
            f"deploying {_show(path)}: unexpected answer {response.status_code}: "
            f"{response.text[:500]}"
        ) from exc


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


def _errors(response: httpx.Response) -> str:
    """The problems of a 422 (`{"errors": [{"file", "line", "elementId", "message"}]}`)."""
    try:
        items = response.json()["errors"]
        return "\n".join(
            f"  {item['file']}:{item['line']}: element {item.get('elementId')!r}: {item['message']}"
            for item in items
        )
    except (ValueError, KeyError, TypeError):
        return response.text[:2000]


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
