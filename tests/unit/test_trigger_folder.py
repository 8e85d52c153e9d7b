"""The `folder` trigger on a real directory: files arriving, growing, replaced, matched by
pattern, walked with bounds, moved to a done folder. Time passes through the poll's clock
(`now_ms`), not by sleeping; modification times are set with os.utime."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.triggers import MAX_DEDUP_KEY, PollRequest, PollResult, TriggerFailed, TriggerItem
from laneway.triggers.builtin.folder import FolderTrigger
from laneway.triggers.testing import make_context, make_schedule, poll_once

T0 = 1_780_000_000_000  # the poll clock, ms
MTIME = 1_779_000_000_123_456_789  # a file's modification time, ns


def _write(path: Path, data: bytes = b"%PDF-1.7 scan", mtime_ns: int = MTIME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


class Folder:
    """Polls one folder schedule the way the scheduler does, carrying the cursor."""

    def __init__(self, root: Path, data: Path, ctx_settings: Mapping[str, str] | None = None,
                 **settings: str) -> None:
        self.schedule = make_schedule("folder", {"path": str(root), **settings})
        self.data = data
        self.ctx_settings = ctx_settings
        self.cursor: Any = None
        self.trigger = FolderTrigger()

    def poll(self, now: int) -> PollResult:
        async def go() -> PollResult:
            async with httpx.AsyncClient() as http:
                ctx = make_context(http, self.data, settings=self.ctx_settings)
                return await poll_once(self.trigger, self.schedule, ctx, cursor=self.cursor,
                                       now_ms=now)
        result = asyncio.run(go())
        self.cursor = result.cursor
        return result

    def acknowledge(self, items: Sequence[TriggerItem], now: int) -> None:
        async def go() -> None:
            async with httpx.AsyncClient() as http:
                ctx = make_context(http, self.data)
                await self.trigger.acknowledged(PollRequest(self.schedule, self.cursor, {}, now),
                                                items, ctx)
        asyncio.run(go())


def _paths(result: PollResult) -> list[str]:
    return [item.variables["file"]["path"] for item in result.items]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def test_files_already_there_are_skipped_and_a_new_one_fires_once_when_stable(
        inbox: Path, tmp_path: Path) -> None:
    # given a folder with two files, polled for the first time (skip-existing by default)
    _write(inbox / "old-1.pdf")
    _write(inbox / "old-2.pdf")
    folder = Folder(inbox, tmp_path / "data")
    assert folder.poll(T0).items == []

    # when a file arrives: first seen, then seen unchanged 2 s later (stableSeconds default)
    new = _write(inbox / "scan 7.pdf", b"%PDF-1.7 new scan", MTIME + 5)
    seen = folder.poll(T0 + 1000)
    assert seen.items == []
    assert seen.next_poll_ms == T0 + 3000  # when it may be stable, not the 30 s interval
    stable = folder.poll(T0 + 3000)

    # then it fires once, with its name, paths, size and time, no content
    (item,) = stable.items
    assert item.dedup_key == f"file:scan 7.pdf:17:{MTIME + 5}"
    assert item.variables == {"file": {
        "name": "scan 7.pdf", "path": "scan 7.pdf", "absolutePath": str(new),
        "size": 17, "modified": "2026-05-17T06:40:00.123Z"}}
    assert item.summary == {"file": "scan 7.pdf", "size": 17}
    assert folder.poll(T0 + 60_000).items == []


def test_a_file_still_growing_fires_only_after_it_stopped_changing(
        inbox: Path, tmp_path: Path) -> None:
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="5")
    part = _write(inbox / "big.csv", b"a,b\n", MTIME)
    assert folder.poll(T0).items == []
    _write(part, b"a,b\n1,2\n", MTIME + 1_000_000_000)  # more was copied
    assert folder.poll(T0 + 6000).items == []  # changed since: the wait starts again
    assert folder.poll(T0 + 10_000).items == []

    (item,) = folder.poll(T0 + 11_000).items

    assert item.variables["file"]["size"] == 8


def test_a_file_replaced_with_new_content_fires_again_and_the_same_file_does_not(
        inbox: Path, tmp_path: Path) -> None:
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0")
    _write(inbox / "report.txt", b"v1")
    first = folder.poll(T0)
    assert _paths(first) == ["report.txt"]
    assert folder.poll(T0 + 1000).items == []

    _write(inbox / "report.txt", b"v2 longer", MTIME + 10)
    again = folder.poll(T0 + 2000)

    assert _paths(again) == ["report.txt"]
    assert again.items[0].dedup_key != first.items[0].dedup_key
    assert folder.poll(T0 + 3000).items == []


def test_pattern_recursive_and_hidden_names(inbox: Path, tmp_path: Path) -> None:
    for rel in ("a.pdf", "b.PDF", "notes.txt", ".partial.pdf", "sub/c.pdf", "sub/deeper/d.pdf",
                ".hidden/e.pdf"):
        _write(inbox / rel)
    flat = Folder(inbox, tmp_path / "d1", initial="fire-existing", stableSeconds="0",
                  pattern="*.pdf")
    deep = Folder(inbox, tmp_path / "d2", initial="fire-existing", stableSeconds="0",
                  pattern="*.pdf", recursive="true")

    assert _paths(flat.poll(T0)) == ["a.pdf"]
    assert sorted(_paths(deep.poll(T0))) == ["a.pdf", "sub/c.pdf", "sub/deeper/d.pdf"]


def test_a_symlink_is_followed_only_to_a_file_inside_the_folder(
        inbox: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _write(outside / "secret.txt")
    _write(inbox / "real.txt")
    (inbox / "inside-link.txt").symlink_to(inbox / "real.txt")
    (inbox / "outside-link.txt").symlink_to(outside / "secret.txt")
    (inbox / "linked-folder").symlink_to(outside, target_is_directory=True)
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0",
                    recursive="true")

    assert sorted(_paths(folder.poll(T0))) == ["inside-link.txt", "real.txt"]


def test_a_folder_named_through_a_symlink_gives_paths_under_that_name(
        inbox: Path, tmp_path: Path) -> None:
    # a share mounted elsewhere and linked to where the diagram says
    (tmp_path / "scans").symlink_to(inbox, target_is_directory=True)
    _write(inbox / "a.tif")
    folder = Folder(tmp_path / "scans", tmp_path / "data", initial="fire-existing",
                    stableSeconds="0")

    (item,) = folder.poll(T0).items

    assert item.variables["file"]["absolutePath"] == str(tmp_path / "scans" / "a.tif")


def test_a_name_that_is_not_utf8_is_left_out(inbox: Path, tmp_path: Path) -> None:
    _write(inbox / "fine.txt")
    fd = os.open(os.path.join(os.fsencode(inbox), b"caf\xe9.txt"), os.O_CREAT | os.O_WRONLY)
    os.close(fd)
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0")

    assert _paths(folder.poll(T0)) == ["fine.txt"]


def test_max_items_starts_the_oldest_first_and_says_more(inbox: Path, tmp_path: Path) -> None:
    for n in range(5):
        _write(inbox / f"f{n}.txt", mtime_ns=MTIME - n)  # f4 is the oldest
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0",
                    maxItems="2")

    first = folder.poll(T0)
    second = folder.poll(T0 + 1)
    third = folder.poll(T0 + 2)

    assert (_paths(first), first.more) == (["f4.txt", "f3.txt"], True)
    assert (_paths(second), second.more) == (["f2.txt", "f1.txt"], True)
    assert (_paths(third), third.more) == (["f0.txt"], False)


def test_the_walk_stops_at_the_entries_bound_and_reaches_the_rest_as_files_leave(
        inbox: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    names = [f"f{n:02}.txt" for n in range(12)]
    for name in names:
        _write(inbox / name)
    folder = Folder(inbox, tmp_path / "data", {"max_entries": "5"}, initial="fire-existing",
                    stableSeconds="0")

    with caplog.at_level(logging.WARNING):
        fired = _paths(folder.poll(T0))
    assert len(fired) == 5
    assert "has more than 5 entries" in caplog.text
    # the started files leave (as to a done folder): the walk reaches the others, each once
    started = list(fired)
    for n in range(1, 5):
        for rel in fired:
            (inbox / rel).unlink()
        fired = _paths(folder.poll(T0 + n))
        started += fired
    assert sorted(started) == names


def test_a_missing_folder_or_a_file_fails_the_poll_clearly(tmp_path: Path) -> None:
    missing = Folder(tmp_path / "not-mounted", tmp_path / "data")
    _write(tmp_path / "a-file")
    a_file = Folder(tmp_path / "a-file", tmp_path / "data")

    with pytest.raises(TriggerFailed) as gone:
        missing.poll(T0)
    with pytest.raises(TriggerFailed) as not_folder:
        a_file.poll(T0)

    assert gone.value.message == (f"Expected the folder {tmp_path / 'not-mounted'} to exist, "
                                  f"but it does not (is the share mounted?)")
    assert gone.value.retryable
    assert not_folder.value.message == f"Expected {tmp_path / 'a-file'} to be a folder, but " \
                                       f"it is a file"
    assert not not_folder.value.retryable


def test_create_folder_makes_a_missing_folder_instead_of_failing(tmp_path: Path) -> None:
    folder = Folder(tmp_path / "new" / "inbox", tmp_path / "data", createFolder="true")

    assert folder.poll(T0).items == []

    assert (tmp_path / "new" / "inbox").is_dir()


def test_started_files_move_to_the_done_folder_without_replacing_one_there(
        inbox: Path, tmp_path: Path) -> None:
    # given a recursive folder whose done folder is inside it, with a.pdf already done once
    _write(inbox / "done" / "a.pdf", b"the first a")
    _write(inbox / "a.pdf", b"the second a")
    _write(inbox / "sub" / "b.pdf")
    _write(inbox / "changed.pdf", b"v1")
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0",
                    recursive="true", doneFolder="done")
    result = folder.poll(T0)
    assert sorted(_paths(result)) == ["a.pdf", "changed.pdf", "sub/b.pdf"]
    _write(inbox / "changed.pdf", b"v2, written after the poll", MTIME + 1)

    # when the starts are acknowledged
    folder.acknowledge(result.items, T0)

    # then the files are in the done folder (a.pdf beside the one there), the changed one stays
    assert (inbox / "done" / "a.pdf").read_bytes() == b"the first a"
    assert (inbox / "done" / "a-1.pdf").read_bytes() == b"the second a"
    assert (inbox / "done" / "sub" / "b.pdf").exists()
    assert not (inbox / "a.pdf").exists()
    assert not (inbox / "sub" / "b.pdf").exists()
    assert (inbox / "changed.pdf").read_bytes() == b"v2, written after the poll"
    # and the done folder is not walked: only the changed file fires again
    assert _paths(folder.poll(T0 + 1000)) == ["changed.pdf"]


def test_a_started_file_not_moved_before_a_stop_moves_on_the_next_poll(
        inbox: Path, tmp_path: Path) -> None:
    # given a file that fired and whose cursor was saved, but the service stopped before
    # `acknowledged` moved it; and a file that was there at the first poll
    _write(inbox / "old.pdf")
    folder = Folder(inbox, tmp_path / "data", stableSeconds="0", doneFolder="done")
    assert folder.poll(T0).items == []
    _write(inbox / "new.pdf", b"new", MTIME + 1)
    assert _paths(folder.poll(T0 + 1000)) == ["new.pdf"]

    # when the next poll comes
    again = folder.poll(T0 + 2000)

    # then the started file moves (and does not fire again); the skipped one stays
    assert again.items == []
    assert (inbox / "done" / "new.pdf").read_bytes() == b"new"
    assert not (inbox / "new.pdf").exists()
    assert (inbox / "old.pdf").exists()
    assert folder.poll(T0 + 3000).items == []


def test_a_symlinked_file_moves_as_the_link(inbox: Path, tmp_path: Path) -> None:
    _write(inbox / "store" / "real.txt")
    (inbox / "link.txt").symlink_to(inbox / "store" / "real.txt")
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0",
                    doneFolder=str(tmp_path / "done"))

    result = folder.poll(T0)
    folder.acknowledge(result.items, T0)

    assert _paths(result) == ["link.txt"]
    assert (tmp_path / "done" / "link.txt").is_symlink()
    assert not (inbox / "link.txt").exists()


def test_a_done_folder_on_another_file_system_gets_a_copy_and_the_file_leaves(
        inbox: Path, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == inbox.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's folder")
    done = shm / f"laneway-done-{uuid.uuid4().hex}"
    try:
        _write(done / "a.pdf", b"already there")
        _write(inbox / "a.pdf", b"new a")
        folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0",
                        doneFolder=str(done))

        folder.acknowledge(folder.poll(T0).items, T0)

        assert (done / "a.pdf").read_bytes() == b"already there"
        assert (done / "a-1.pdf").read_bytes() == b"new a"
        assert (done / "a-1.pdf").stat().st_mtime_ns == MTIME
        assert not (inbox / "a.pdf").exists()
    finally:
        shutil.rmtree(done, ignore_errors=True)


def test_a_long_path_gives_a_hashed_dedup_key(inbox: Path, tmp_path: Path) -> None:
    deep = inbox
    for n in range(5):
        deep = deep / (f"{n}" * 120)
    _write(deep / ("x" * 200 + ".txt"))
    folder = Folder(inbox, tmp_path / "data", initial="fire-existing", stableSeconds="0",
                    recursive="true")

    (item,) = folder.poll(T0).items

    assert item.dedup_key.startswith("file-sha256:")
    assert len(item.dedup_key) <= MAX_DEDUP_KEY


@pytest.mark.parametrize(("settings", "message"), [
    ({}, "Expected laneway:path, the folder's absolute path, but there is none"),
    ({"path": "inbox"}, "Expected laneway:path to be an absolute path, but got 'inbox'"),
    ({"path": "/srv/in", "pattern": "sub/*.pdf"},
     "Expected laneway:pattern to be a glob on the file name (at most 255 characters, no '/'), "
     "but got 'sub/*.pdf'"),
    ({"path": "/srv/in", "recursive": "yes"},
     "Expected laneway:recursive to be true or false, but got 'yes'"),
    ({"path": "/srv/in", "createFolder": "1"},
     "Expected laneway:createFolder to be true or false, but got '1'"),
    ({"path": "/srv/in", "stableSeconds": "-1"},
     "Expected laneway:stableSeconds to be a number of seconds from 0 to 3600, but got '-1'"),
    ({"path": "/srv/in", "stableSeconds": "nan"},
     "Expected laneway:stableSeconds to be a number of seconds from 0 to 3600, but got 'nan'"),
    ({"path": "/srv/in", "doneFolder": "../elsewhere"},
     "Expected laneway:doneFolder to be another folder (absolute, or under the folder, "
     "without '..'), but got '../elsewhere'"),
    ({"path": "/srv/in", "doneFolder": "/srv/in/"},
     "Expected laneway:doneFolder to be another folder (absolute, or under the folder, "
     "without '..'), but got '/srv/in/'"),
    ({"path": "/srv/in", "maxItems": "5000"},
     "Expected laneway:maxItems to be a whole number from 1 to 1000, but got '5000'"),
])
def test_the_deploy_check_refuses_bad_settings(settings: dict[str, str], message: str) -> None:
    assert list(FolderTrigger().check(settings)) == [message]


def test_the_deploy_check_takes_good_settings() -> None:
    assert list(FolderTrigger().check({
        "path": "/srv/inbox", "pattern": "scan-[0-9]*.pdf", "recursive": "true",
        "stableSeconds": "0.5", "doneFolder": "/srv/done", "maxItems": "10",
        "createFolder": "True"})) == []
