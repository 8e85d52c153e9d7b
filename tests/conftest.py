"""Root test configuration: tests are marked by the folder they live in.

`tests/integration/` is marked `integration` and `tests/e2e/` is marked `e2e` (markers declared
in pyproject.toml), so `pytest -m "not integration and not e2e"` runs the unit tests alone.
Integration fixtures (the real local stack, unique names, polling with a deadline) live in
`tests/integration/conftest.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
_MARK_BY_FOLDER = {"integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            folder = item.path.resolve().relative_to(_TESTS).parts[0]
        except ValueError:
            continue
        mark = _MARK_BY_FOLDER.get(folder)
        if mark is not None:
            item.add_marker(mark)
