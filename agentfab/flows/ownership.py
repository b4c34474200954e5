"""Which folder agentfab may write into, which files in it are its own, and who is writing it now.

agentfab deletes only what it wrote. Every file it writes into a dataset folder is first recorded in that folder's
ledger (`.agentfab/ledger`, one relative path a line, appended before the file takes its final name), so
`--overwrite` removes exactly those files and nothing a user put beside them. A folder that is not an agentfab
dataset is never claimed, whatever the flags; nor is `/` or a home folder. Paths are never followed through a
symbolic link: a linked `shards/` could lead the writes and deletions anywhere.

One writer at a time: `.agentfab/lock` is held with an OS lock (flock) for the whole build, so a second build or
import into the same folder stops at once and names the process that holds it. The OS drops the lock when that
process dies, however it dies.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pwd
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

STATE = ".agentfab"
LEDGER = f"{STATE}/ledger"
LOCK = f"{STATE}/lock"
MARKERS = ("build.json", "import.json")
# what an agentfab of before the ledger wrote: the only names it may delete in a build folder that has no ledger
_LEGACY = re.compile(r"^(build\.json|import\.json|manifest\.json|README\.md|"
                     r"(shards|rejected)/shard-\d{5}\.parquet|stats/shard-\d{5}\.json)$")
_FOLDERS = ("shards", "rejected", "stats", "index")


class FolderError(ValueError):
    """An output folder agentfab must not write into (or not now); the message says why and what to do."""


def _homes() -> set[Path]:
    homes = {Path.home()}
    try:
        homes.update(Path(p.pw_dir) for p in pwd.getpwall() if p.pw_dir not in ("", "/"))
    except OSError:
        pass
    return {h.resolve() for h in homes}


def _links(out: Path) -> list[str]:
    """Entries of a dataset folder that agentfab would write or delete through, which are symbolic links."""
    names = (STATE, *_FOLDERS, *MARKERS, "manifest.json", "README.md")
    return [n for n in names if (out / n).is_symlink()]


def kind_of(out: Path) -> str:
    """'missing', 'empty', 'build', 'import' or 'foreign' (anything else, including a file)."""
    if not out.exists() and not out.is_symlink():
        return "missing"
    if not out.is_dir():
        return "foreign"
    if (out / "build.json").is_file():
        return "build"
    if (out / "import.json").is_file():
        return "import"
    # a folder holding only agentfab's lock and ledger is one whose build was stopped before it wrote anything
    return "empty" if all(p.name == STATE for p in out.iterdir()) else "foreign"


def check_writable(out: Path, *, command: str = "build") -> str:
    """The folder's kind, or FolderError when agentfab may not write there at all (whatever the flags)."""
    if out.exists() and not out.is_dir():
        raise FolderError(f"{out} is a file, not a folder; choose a folder for --out")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise FolderError(f"{parent} is a file, so {out} cannot be a folder; choose another --out")
    kind = kind_of(out)
    if kind == "foreign":
        raise FolderError(f"{out} is not empty and is not an agentfab dataset; agentfab only writes into a new or "
                          "empty folder or one it built, and never deletes files it did not write: choose another "
                          "--out")
    links = _links(out)
    if links:
        raise FolderError(f"{out / links[0]} is a symbolic link; agentfab never writes or deletes through links: "
                          "make it a real folder or file, or choose another --out")
    if command == "import" and kind != "missing" and kind != "empty":
        raise FolderError(f"{out} already holds an agentfab dataset; `agentfab import` writes a new folder: "
                          "choose another --out")
    return kind


def may_replace(out: Path) -> None:
    """Raise unless --overwrite may delete agentfab's files in `out` (never at /, in a home folder, or elsewhere)."""
    resolved = out.resolve()
    if resolved == Path(resolved.anchor) or resolved in _homes():
        raise FolderError(f"{out} is the root or a home folder; agentfab never replaces it: choose another --out")
    if kind_of(out) not in ("build", "import"):
        raise FolderError(f"{out} is not an agentfab dataset, so there is nothing of agentfab's to replace: choose "
                          "another --out")


def _inside(out: Path, rel: str) -> Path | None:
    """`out/rel` when it names a path inside `out` reached without any symbolic link; else None."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        return None
    path = out
    for part in parts[:-1]:
        path = path / part
        if path.is_symlink() or not path.is_dir():
            return None
    return path / parts[-1]


def owned_files(out: Path) -> list[str]:
    """The relative paths agentfab recorded writing into `out` (or, before the ledger existed, its own names)."""
    ledger = out / LEDGER
    if ledger.is_file():
        return list(dict.fromkeys(line for line in ledger.read_text(encoding="utf-8").splitlines() if line))
    found = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if _LEGACY.match(rel):
            found.append(rel)
    return found


def remove_owned(out: Path) -> list[str]:
    """Delete the regular files agentfab wrote in `out` (and its folders once empty); return what was removed."""
    may_replace(out)
    removed = []
    for rel in owned_files(out):
        path = _inside(out, rel)
        if path is None or path.is_symlink() or not path.is_file():
            continue
        path.unlink()
        removed.append(rel)
    for name in _FOLDERS:
        try:
            (out / name).rmdir()
        except OSError:  # not empty (a user's file) or not there: left alone
            pass
    ledger = out / LEDGER
    if ledger.is_file():
        ledger.write_text("", encoding="utf-8")
    return removed


def start_ledger(out: Path) -> None:
    (out / STATE).mkdir(parents=True, exist_ok=True)
    (out / LEDGER).touch()


def record(path: Path) -> None:
    """Note in the ledger of the dataset folder holding `path` (itself or one level up) that agentfab writes it.

    Called before the file takes its name, so a crash can leave a recorded name without a file but never a file
    of agentfab's that is not recorded. One O_APPEND write per name: safe from several worker processes at once.
    """
    for root in (path.parent, path.parent.parent):
        ledger = root / LEDGER
        if ledger.is_file():
            fd = os.open(ledger, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, (path.relative_to(root).as_posix() + "\n").encode("utf-8"))
            finally:
                os.close(fd)
            return


_HELD: dict[str, list[int]] = {}  # folder -> [fd, depth]: the lock is re-entrant within this process


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
        return str(json.loads(text)["pid"]) if text else "unknown"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


@contextmanager
def writer_lock(out: Path) -> Iterator[None]:
    """Hold the folder's write lock for the block; FolderError at once when another process holds it."""
    key = str(out.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    (out / STATE).mkdir(parents=True, exist_ok=True)
    path = out / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            raise FolderError(f"{out} is being written by another agentfab process (pid {_holder(path)}); wait "
                              "for it to finish or stop it, or choose another --out") from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid()}).encode())
    _HELD[key] = [fd, 1]
    try:
        yield
    finally:
        del _HELD[key]
        os.ftruncate(fd, 0)
        # LOCK_UN releases it even while forked worker processes still hold a copy of the descriptor
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
