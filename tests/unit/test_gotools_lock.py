"""scripts.gotools builds one tool at a time per cache: a second caller (the tests' Jaeger while
`make test`'s background build runs) waits for the first build and takes its binary, or gives up
at its deadline saying why, rather than building the same program again on the same cores."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from scripts.gotools import TOOLS, ToolMissing, _binary, _build_lock, ensure


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty tool cache, and a `go` on PATH that fails if it is ever run: these tests must
    never build (ensure looks for `go` before it looks at a build under way)."""
    monkeypatch.setenv("LANEWAY_TOOLS_CACHE", str(tmp_path / "tools"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text("#!/bin/sh\necho 'no build in this test' >&2\nexit 1\n")
    go.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return tmp_path / "tools"


def test_a_build_under_way_is_waited_for_and_its_binary_taken(cache: Path) -> None:
    target = _binary(TOOLS["jaeger"], None)
    held = threading.Event()
    finished = threading.Event()

    def other_build() -> None:
        with _build_lock(TOOLS["jaeger"], None, 10):
            held.set()
            finished.wait(10)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("#!/bin/sh\n")
            os.chmod(target, 0o755)

    builder = threading.Thread(target=other_build)
    builder.start()
    try:
        assert held.wait(10)
        # the lock is held now: ensure waits rather than starting a build of its own
        time_before = time.monotonic()
        waiter_result: list[Path] = []
        waiter = threading.Thread(target=lambda: waiter_result.append(
            ensure("jaeger", quiet=True, timeout=30)))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive(), "ensure did not wait for the build under way"
        finished.set()
        waiter.join(30)
    finally:
        finished.set()
        builder.join(10)
    assert waiter_result == [target]
    assert time.monotonic() - time_before < 30
    # nothing else was built beside it
    assert [p.name for p in target.parent.iterdir()] == ["jaeger"]


def test_a_build_under_way_past_the_deadline_is_a_tool_missing_that_says_so(
        cache: Path) -> None:
    release = threading.Event()
    held = threading.Event()

    def other_build() -> None:
        with _build_lock(TOOLS["jaeger"], None, 10):
            held.set()
            release.wait(10)

    builder = threading.Thread(target=other_build)
    builder.start()
    try:
        assert held.wait(10)
        with pytest.raises(ToolMissing, match="still being built by another process"):
            ensure("jaeger", quiet=True, timeout=0.6)
    finally:
        release.set()
        builder.join(10)
    assert not _binary(TOOLS["jaeger"], None).exists()
