"""Deploy the example diagrams through the definitions service's HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from scripts.services.supervisor import ServiceError
from scripts.stack.config import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "examples"


@dataclass(frozen=True)
class Deployed:
    """One process version the definitions service stored (or already had)."""

    file: Path
    process_id: str
    version: int
    new: bool
    """False when the same process was already deployed (the service returned its version)."""

    def label(self) -> str:
        return f"{self.process_id} v{self.version}" + ("" if self.new else " (unchanged)")


def example_files(root: Path = EXAMPLES_DIR) -> list[Path]:
    """Every examples/**/*.bpmn, in a stable order."""
    return sorted(root.rglob("*.bpmn"))


def deploy(base_url: str, files: Sequence[Path], timeout: float = 30.0) -> list[Deployed]:
    """POST each file to `{base_url}/api/definitions` as application/xml.

    Raises ServiceError on the first file refused: a 422 with the errors the service gave,
    a 404 saying the API is not there, anything else with its status and body.
    """
    url = f"{base_url.rstrip('/')}/api/definitions"
    deployed: list[Deployed] = []
    with httpx.Client(timeout=timeout) as client:
        for path in files:
            try:
                response = client.post(
                    url,
                    content=path.read_bytes(),
                    headers={"Content-Type": "application/xml", "X-File-Name": _show(path)},
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
            deployed.extend(_deployed(path, response))
    return deployed


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
