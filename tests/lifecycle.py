"""Taking a deployed definition version through the lifecycle to AUTHORIZED in tests.

    from tests.auth import auth_header
    from tests.lifecycle import AUTHOR, APPROVER, authorize
    client.post("/api/definitions", content=xml, headers={**AUTHOR, ...})
    authorize(client, "order", 1)                    # DRAFT -> REVIEW -> APPROVED -> AUTHORIZED

`client` is an httpx.Client (FastAPI's TestClient is one) or a base URL. The author moves the
version to REVIEW; the approver (another principal: four eyes) approves and authorizes it.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from tests.auth import auth_header

__all__ = ["APPROVER", "AUTHOR", "authorize", "transition"]

AUTHOR = auth_header("test-modeler", roles=["modeler"])
"""A modeler: deploys, and moves DRAFT -> REVIEW."""
APPROVER = auth_header("test-approver", roles=["reviewer", "authorizer"])
"""Another principal: approves and authorizes."""


def transition(client: httpx.Client | str, process_id: str, version: int, to: str,
               headers: Mapping[str, str], **body: object) -> httpx.Response:
    """POST one transition; the answer as it is."""
    path = f"/api/definitions/{process_id}/versions/{version}/transitions"
    payload = {"to": to, **body}
    if isinstance(client, str):
        return httpx.post(client.rstrip("/") + path, json=payload, headers=dict(headers),
                          timeout=30)
    return client.post(path, json=payload, headers=dict(headers))


def authorize(client: httpx.Client | str, process_id: str, version: int,
              author_headers: Mapping[str, str] = AUTHOR,
              approver_headers: Mapping[str, str] = APPROVER,
              personas: Mapping[str, str] | None = None) -> None:
    """DRAFT -> REVIEW (author) -> APPROVED (approver, with `personas` if given) ->
    AUTHORIZED (approver); fails the test with the service's answer if a step is refused."""
    approve: dict[str, object] = {} if personas is None else {"personas": dict(personas)}
    for to, headers, body in (("REVIEW", author_headers, {}),
                              ("APPROVED", approver_headers, approve),
                              ("AUTHORIZED", approver_headers, {})):
        response = transition(client, process_id, version, to, headers, **body)
        assert response.status_code == 200, (
            f"Expected {process_id} v{version} -> {to} to be 200, but got "
            f"{response.status_code}: {response.text}")
