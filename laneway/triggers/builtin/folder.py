"""`folder`: one instance per file that arrives in a local or mounted directory.

Declared on a message start event's `<bpmn:message>`:

    <bpmn:message id="Msg_Scan" name="scan" laneway:trigger="folder"
                  laneway:path="/srv/inbox" laneway:pattern="*.pdf"
                  laneway:doneFolder="/srv/inbox-done"/>

Settings: `laneway:path` (absolute, required), `laneway:pattern` (a glob on the file name,
default `*`), `laneway:recursive` (`true`/`false`, default false), `laneway:stableSeconds`
(default 2), `laneway:doneFolder` (absolute, or relative to the folder), `laneway:maxItems`
(default 100), `laneway:createFolder` (default false: a missing folder fails the poll),
`laneway:initial` (`skip-existing` by default) and `laneway:interval`. The deployment bounds
the entries looked at per poll (`LANEWAY_TRIGGER_FOLDER_MAX_ENTRIES`, default 10,000).

A file fires once its size and modification time were seen unchanged for `stableSeconds` (a
copy in progress grows), so the cursor remembers the files it saw last; the dedup key is the
relative path, size and modification time, so a file replaced by new content fires again and
the same file seen twice does not. Hidden names (a leading dot, as partial uploads use) are not
looked at; a symlink is followed only to a file inside the folder. After the starts, a
`doneFolder` receives the files, never overwriting one there.
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import hashlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from laneway.attributes import Attribute, polling
from laneway.triggers._api import (
    INITIAL_POLICIES,
    MAX_DEDUP_KEY,
    InitialPolicy,
    PollRequest,
    PollResult,
    Trigger,
    TriggerContext,
    TriggerFailed,
    TriggerItem,
)
from laneway.triggers._declared import interval_ms
from laneway.triggers._settings import whole_number

DEFAULT_MAX_ENTRIES = 10_000
"""Directory entries looked at per poll unless the deployment sets
`LANEWAY_TRIGGER_FOLDER_MAX_ENTRIES`; a larger folder is seen in part (a warning says so)."""
DEFAULT_MAX_ITEMS = 100
MAX_ITEMS_LIMIT = 1000
DEFAULT_STABLE_SECONDS = 2.0
MAX_STABLE_SECONDS = 3600.0
_MAX_PATTERN = 255  # a file name's own bound on most file systems
_MAX_SUFFIX = 1000  # `name-1.pdf` ... before a done folder's name gets a random suffix
_SOON_MS = 200  # the earliest next poll asked for, so a clock step cannot make a busy loop


@dataclass(frozen=True, slots=True)
class _File:
    rel: str
    """The path relative to the folder, with `/`."""
    path: str
    """Where it is, under the folder as `laneway:path` names it (a link's own path)."""
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class _Settings:
    root: Path
    pattern: str
    recursive: bool
    stable_ms: int
    done: Path | None
    max_items: int
    create: bool


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def dedup_key(rel: str, size: int, mtime_ns: int) -> str:
    """`file:<relative path>:<size>:<mtime ns>`, hashed when longer than MAX_DEDUP_KEY."""
    key = f"file:{rel}:{size}:{mtime_ns}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return "file-sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def _iso_ns(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _read(settings: Mapping[str, str]) -> _Settings:
    """The settings, or ValueError saying what is wrong (the deploy check's messages)."""
    path = settings.get("path", "").strip()
    if not path:
        raise ValueError("Expected laneway:path, the folder's absolute path, but there is none")
    root = Path(path)
    if not root.is_absolute():
        raise ValueError(f"Expected laneway:path to be an absolute path, but got {path!r}")
    pattern = settings.get("pattern", "*").strip() or "*"
    if len(pattern) > _MAX_PATTERN or "/" in pattern:
        raise ValueError(f"Expected laneway:pattern to be a glob on the file name (at most "
                         f"{_MAX_PATTERN} characters, no '/'), but got {pattern[:80]!r}")
    raw_stable = settings.get("stableSeconds")
    try:
        stable = DEFAULT_STABLE_SECONDS if raw_stable is None else float(raw_stable)
    except ValueError:
        stable = -1.0
    if not 0 <= stable <= MAX_STABLE_SECONDS:  # also refuses nan
        raise ValueError(f"Expected laneway:stableSeconds to be a number of seconds from 0 to "
                         f"{MAX_STABLE_SECONDS:g}, but got {raw_stable!r}")
    done: Path | None = None
    raw_done = settings.get("doneFolder", "").strip()
    if raw_done:
        done = root / raw_done  # an absolute doneFolder stays as it is
        if ".." in Path(raw_done).parts or Path(os.path.normpath(done)) == Path(
                os.path.normpath(root)):
            raise ValueError(f"Expected laneway:doneFolder to be another folder (absolute, or "
                             f"under the folder, without '..'), but got {raw_done!r}")
    max_items = whole_number(settings, "maxItems", DEFAULT_MAX_ITEMS, 1, MAX_ITEMS_LIMIT)
    return _Settings(root, pattern, _flag(settings, "recursive"), int(stable * 1000), done,
                     max_items, _flag(settings, "createFolder"))


def _flag(settings: Mapping[str, str], name: str) -> bool:
    value = settings.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"Expected laneway:{name} to be true or false, but got "
                         f"{settings[name]!r}")
    return value == "true"


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _scan(s: _Settings, max_entries: int) -> tuple[list[_File], bool]:
    """The matching files (at most `max_entries` directory entries looked at) and whether the
    walk stopped at that bound. Run in a thread: it is file system calls."""
    if s.create:
        # only when asked: made by default, a folder would hide a share that failed to mount
        # (files written to the mount point, then covered by the share)
        try:
            s.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TriggerFailed(f"Expected to create the folder {s.root}, but {exc.strerror}",
                                retryable=False) from None
    try:
        real_root = os.path.realpath(s.root, strict=True)
    except FileNotFoundError:
        raise TriggerFailed(f"Expected the folder {s.root} to exist, but it does not (is the "
                            f"share mounted?)") from None
    except OSError as exc:
        raise TriggerFailed(f"Expected the folder {s.root} to be readable, but {exc.strerror}",
                            retryable=False) from None
    if not os.path.isdir(real_root):
        raise TriggerFailed(f"Expected {s.root} to be a folder, but it is a file",
                            retryable=False)
    skip = os.path.realpath(s.done) if s.done is not None else None
    files: list[_File] = []
    looked = 0
    stack = [(real_root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    looked += 1
                    if looked > max_entries:
                        return files, True
                    found = _look(entry, prefix, s, real_root, skip, stack)
                    if found is not None:
                        files.append(found)
        except PermissionError as exc:
            if folder == real_root:
                raise TriggerFailed(f"Expected the folder {s.root} to be readable, but "
                                    f"{exc.strerror}", retryable=False) from None
        except FileNotFoundError:
            if folder == real_root:
                raise TriggerFailed(f"Expected the folder {s.root} to exist, but it is "
                                    f"gone") from None
    return files, False


def _look(entry: os.DirEntry[str], prefix: str, s: _Settings, real_root: str,
          skip: str | None, stack: list[tuple[str, str]]) -> _File | None:
    """One directory entry: a matching file, or a folder put on `stack` to walk."""
    if entry.name.startswith(".") or not _utf8(entry.name):
        return None
    rel = prefix + entry.name
    try:
        if entry.is_symlink():
            # followed only to a file inside the folder; a linked folder is never walked
            # (a loop, or a way out of the folder)
            target = os.path.realpath(entry.path)
            if not _inside(target, real_root) or not os.path.isfile(target):
                return None
            if not fnmatch.fnmatchcase(entry.name, s.pattern):
                return None
            st = os.stat(target)
            return _File(rel, str(s.root / rel), st.st_size, st.st_mtime_ns)
        if entry.is_dir(follow_symlinks=False):
            if s.recursive and entry.path != skip:
                stack.append((entry.path, rel + "/"))
            return None
        # fnmatch: a glob, not a regular expression; since Python 3.9 its translation cannot
        # backtrack on many stars, and a name is at most 255 bytes
        if not entry.is_file(follow_symlinks=False) or not fnmatch.fnmatchcase(entry.name,
                                                                                s.pattern):
            return None
        st = entry.stat(follow_symlinks=False)
    except (FileNotFoundError, PermissionError):
        return None  # gone while we looked, or not ours to read
    return _File(rel, str(s.root / rel), st.st_size, st.st_mtime_ns)


def _utf8(name: str) -> bool:
    # a name that is not UTF-8 reaches Python with surrogates, which no variable, JSON column
    # or Kafka record can carry
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _digests(cursor: Mapping[str, Any], name: str) -> list[str]:
    raw = cursor.get(name)
    return [d for d in raw if isinstance(d, str)] if isinstance(raw, list) else []


def _keep_unseen(before: Sequence[str], now: Sequence[str], bound: int) -> list[str]:
    """`now`, after the digests of `before` it lacks (at most `bound` of them)."""
    kept = set(now)
    return [d for d in before if d not in kept][-bound:] + list(now)


def _initial(settings: Mapping[str, str], default: InitialPolicy) -> InitialPolicy:
    value = settings.get("initial")
    return next((p for p in INITIAL_POLICIES if p == value), default)


def _item(f: _File) -> TriggerItem:
    return TriggerItem(
        dedup_key(f.rel, f.size, f.mtime_ns),
        {"file": {"name": PurePosixPath(f.rel).name, "path": f.rel, "absolutePath": f.path,
                  "size": f.size, "modified": _iso_ns(f.mtime_ns)}},
        {"file": f.rel[:200], "size": f.size})


def _free_name(target: Path) -> Iterator[Path]:
    """`target`, then `name-1.ext`, `name-2.ext`, ...: where a file may go without replacing
    another."""
    yield target
    stem, suffix = target.stem, target.suffix
    for n in range(1, _MAX_SUFFIX):
        yield target.with_name(f"{stem}-{n}{suffix}")
    yield target.with_name(f"{stem}-{os.urandom(6).hex()}{suffix}")


def _move(source: Path, done: Path) -> Path:
    """Move `source` to `done` (or a free name beside it), never replacing a file there."""
    done.parent.mkdir(parents=True, exist_ok=True)
    for target in _free_name(done):
        try:
            # a link fails when the name is taken: no check-then-rename race with a writer
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            try:  # another file system, or one without hard links: copy to a new name
                with open(source, "rb") as src, open(target, "xb") as dst:
                    shutil.copyfileobj(src, dst)
                shutil.copystat(source, target)
            except FileExistsError:
                continue
        os.unlink(source)
        return target
    raise FileExistsError(f"no free name for {done}")  # unreachable: the last name is random


class FolderTrigger(Trigger):
    """A local or mounted directory."""

    type = "folder"

    attributes = (
        Attribute("path", "Folder", "An absolute path", required=True),
        Attribute("pattern", "File name pattern", "A glob such as *.pdf; default *"),
        Attribute("recursive", "Sub-folders too", "", kind="boolean", default="false"),
        Attribute("stableSeconds", "Stable for (seconds)", "A file fires once unchanged this "
                  "long; default 2", kind="number", low=0, high=MAX_STABLE_SECONDS,
                  fraction=True),
        Attribute("doneFolder", "Done folder", "Move the file there after the start"),
        Attribute("createFolder", "Create the folder", "Make it when missing", kind="boolean",
                  default="false"),
        Attribute("maxItems", "Max items per poll", f"1 to {MAX_ITEMS_LIMIT}; default "
                  f"{DEFAULT_MAX_ITEMS}", kind="number", low=1, high=MAX_ITEMS_LIMIT),
        *polling("PT30S"),
    )
    initial = "skip-existing"
    default_interval_ms = 30_000

    def check(self, settings: Mapping[str, str]) -> Iterator[str]:
        try:
            _read(settings)
        except ValueError as exc:
            yield str(exc)

    async def poll(self, request: PollRequest, ctx: TriggerContext) -> PollResult:
        try:
            s = _read(request.schedule.settings)
        except ValueError as exc:
            raise TriggerFailed(str(exc), retryable=False) from None
        max_entries = self._max_entries(ctx)
        files, cut = await asyncio.to_thread(_scan, s, max_entries)
        if cut:
            ctx.log.warning("the folder %s has more than %d entries: only those looked at "
                            "first are seen (LANEWAY_TRIGGER_FOLDER_MAX_ENTRIES)", s.root,
                            max_entries)
        cursor: dict[str, Any] = request.cursor if isinstance(request.cursor, dict) else {}
        if request.cursor is None and _initial(request.schedule.settings,
                                               self.initial) == "skip-existing":
            ctx.log.info("first poll: the %d files already in %s are not started",
                         len(files), s.root)
            skipped = [_digest(dedup_key(f.rel, f.size, f.mtime_ns)) for f in files]
            return PollResult([], {"pending": {}, "fired": [], "skipped": skipped})
        result, leftovers = self._fire(files, cut, max_entries, cursor, s, request)
        for f in leftovers:
            # fired by an earlier poll whose cursor was saved, so its start was acknowledged,
            # but still here: the service stopped before `acknowledged`, or the scheduler
            # dropped the item as fired already (the same file copied in again)
            await asyncio.to_thread(self._done, s, f.rel,
                                    dedup_key(f.rel, f.size, f.mtime_ns), ctx)
        return result

    def _fire(self, files: Sequence[_File], cut: bool, max_entries: int,
              cursor: Mapping[str, Any], s: _Settings,
              request: PollRequest) -> tuple[PollResult, list[_File]]:
        """The files stable long enough (oldest first, at most maxItems) and the next cursor,
        and the files that fired before and are still here while a done folder is set.

        The cursor: the files still settling (`pending`: size, mtime, since when unchanged, by
        the digest of the relative path), and the digests of the dedup keys of the files still
        there that fired (`fired`) or were there at the first poll (`skipped`)."""
        now = request.now_ms
        fired_before = _digests(cursor, "fired")
        skipped_before = set(_digests(cursor, "skipped"))
        fired_set = set(fired_before)
        raw_pending = cursor.get("pending")
        pending_before = raw_pending if isinstance(raw_pending, dict) else {}
        fired: list[str] = []
        skipped: list[str] = []
        leftovers: list[_File] = []
        pending: dict[str, list[int]] = {}
        ready: list[tuple[_File, list[int]]] = []
        for f in files:
            key = _digest(dedup_key(f.rel, f.size, f.mtime_ns))
            if key in fired_set:
                fired.append(key)
                if s.done is not None:
                    leftovers.append(f)
                continue
            if key in skipped_before:
                skipped.append(key)
                continue
            seen = pending_before.get(_digest(f.rel))
            since = now
            if isinstance(seen, list) and len(seen) == 3 and seen[:2] == [f.size, f.mtime_ns]:
                since = int(seen[2])  # unchanged since then
            if now - since >= s.stable_ms:
                ready.append((f, [f.size, f.mtime_ns, since]))
            else:
                pending[_digest(f.rel)] = [f.size, f.mtime_ns, since]
        ready.sort(key=lambda r: (r[0].mtime_ns, r[0].rel))
        started = ready[:s.max_items]
        for f, seen in ready[s.max_items:]:  # left for the next poll, still stable
            pending[_digest(f.rel)] = seen
        fired += [_digest(dedup_key(f.rel, f.size, f.mtime_ns)) for f, _ in started]
        if cut:
            # files not looked at this time are still there: keep what was known of them
            fired = _keep_unseen(fired_before, fired, max_entries)
            skipped = _keep_unseen(_digests(cursor, "skipped"), skipped, max_entries)
        next_poll: int | None = None
        if pending:
            # the earliest a file still settling may be stable, when before the next interval
            due = min(p[2] for p in pending.values()) + s.stable_ms
            if due < now + self._interval(request):
                next_poll = max(due, now + _SOON_MS)
        next_cursor = {"pending": pending, "fired": fired, "skipped": skipped}
        return PollResult([_item(f) for f, _ in started], next_cursor, next_poll_ms=next_poll,
                          more=len(ready) > len(started)), leftovers

    def _interval(self, request: PollRequest) -> int:
        try:
            return interval_ms(request.schedule.settings["interval"])
        except (KeyError, ValueError):
            return self.default_interval_ms

    @staticmethod
    def _max_entries(ctx: TriggerContext) -> int:
        raw = ctx.settings.get("max_entries")
        try:
            return max(1, int(raw)) if raw else DEFAULT_MAX_ENTRIES
        except ValueError:
            ctx.log.warning("LANEWAY_TRIGGER_FOLDER_MAX_ENTRIES is not a number (%r); looking "
                            "at %d entries", raw, DEFAULT_MAX_ENTRIES)
            return DEFAULT_MAX_ENTRIES

    async def acknowledged(self, request: PollRequest, items: Sequence[TriggerItem],
                           ctx: TriggerContext) -> None:
        """Move each started file to the done folder, when one is set, unless it changed
        since it was seen (then it is another file: it fires on its own)."""
        try:
            s = _read(request.schedule.settings)
        except ValueError:
            return
        if s.done is None:
            return
        for item in items:
            rel = item.variables.get("file", {}).get("path")
            if isinstance(rel, str):
                await asyncio.to_thread(self._done, s, rel, item.dedup_key, ctx)

    @staticmethod
    def _done(s: _Settings, rel: str, key: str, ctx: TriggerContext) -> None:
        assert s.done is not None
        source = s.root / rel
        try:
            st = source.stat()  # a link's target, as the poll saw it
            if dedup_key(rel, st.st_size, st.st_mtime_ns) != key:
                ctx.log.info("%s changed after it was started: left where it is", rel)
                return
            moved = _move(source, s.done / rel)
        except FileNotFoundError:
            ctx.log.info("%s was gone before it could be moved to the done folder", rel)
            return
        except OSError as exc:
            ctx.log.warning("could not move %s to the done folder: %s", rel,
                            exc.strerror or exc)
            return
        ctx.log.info("moved %s to %s", rel, moved)
