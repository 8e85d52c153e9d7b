"""What an error answer may say: why, and what to do; never where the service keeps things
(a table, a module to start, a topic, a key file). The operators read that in the log."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from laneway.shared_reads import OwnerTableMissing
from laneway.web.problems import PROBLEM_JSON
from services.definitions import deps as definitions_deps
from tests.auth import ADMIN
from tests.service_apps import apps

MISSING = OwnerTableMissing("Expected the audit service's table instances, but it is missing: "
                            "start the audit service (python -m services.audit), which creates "
                            "it")


class _Missing:
    """Parts whose reads of another service's table find it not there yet."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise MISSING


@pytest.mark.parametrize(("name", "url"), [
    ("definitions", "/api/incidents/i1:1/resolve"),
])
def test_a_table_of_another_service_not_there_yet_is_503_naming_no_table(
        name: str, url: str) -> None:
    app = apps()[name]
    app.dependency_overrides[definitions_deps.get_deps] = _Missing
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(url, headers=ADMIN)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["retry-after"] == "5"
    for internal in ("table", "python -m", "services."):
        assert internal not in answer.json()["detail"], answer.text
