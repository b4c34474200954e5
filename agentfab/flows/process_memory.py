"""What a build process's memory is made of, by allocator.

`figures()` reads, in MB: the RSS; glibc malloc's bytes in use and the free bytes it keeps in its arenas
(mallinfo2: every arena, mmapped chunks counted as in use); Arrow's memory pool (bytes allocated through it, its
backend); SQLite's own allocator; and pymalloc's arenas (Python's small objects: they are mmapped apart from
malloc, so glibc does not count them). With AGENTFAB_MEMORY_LOG set to a file, every build process (the driver
after each shard it checks, a worker after each shard it builds) appends one JSON line of these figures to it:
benchmarks/build_scale.py prints them, so a long run shows where its memory is, not only how much. With
AGENTFAB_MEMORY_SMAPS set too, each such line in that file also holds the process's mappings that hold anonymous memory
(/proc/self/smaps) and addresses each allocator hands out just then, so growth outside every allocator's own count
can be named by mapping (build_scale.py --smaps).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

LOG_ENV = "AGENTFAB_MEMORY_LOG"
SMAPS_ENV = "AGENTFAB_MEMORY_SMAPS"
MB = 2**20
_LOCK = threading.Lock()
_COUNT: dict[str, int] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_COUNT.clear)  # a forked worker counts its own shards


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _Mallinfo2
        return libc
    except (OSError, AttributeError):  # not glibc >= 2.33
        return None


_LIBC = _libc()


def glibc_heap() -> tuple[int, int] | None:
    """(bytes in use, free bytes kept) of glibc malloc over all its arenas; None without glibc >= 2.33."""
    if _LIBC is None:
        return None
    info = _LIBC.mallinfo2()
    return info.uordblks + info.hblkhd, info.fordblks


def sqlite_bytes() -> int | None:
    try:
        return int(ctypes.CDLL("libsqlite3.so.0").sqlite3_memory_used())
    except (OSError, AttributeError):
        return None


_ARENAS = re.compile(rb"# arenas allocated current\s*=\s*([\d,]+)")
_ARENA_BYTES = re.compile(rb"(\d[\d,]*) arenas \* (\d[\d,]*) bytes/arena")


def pymalloc_bytes() -> int | None:
    """Bytes in pymalloc's arenas (from sys._debugmallocstats, which writes to the C stderr: read back through a
    file for the few milliseconds it takes)."""
    debug = getattr(sys, "_debugmallocstats", None)
    if debug is None:
        return None
    with _LOCK, tempfile.TemporaryFile() as fh:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(fh.fileno(), 2)
            debug()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        fh.seek(0)
        text = fh.read()
    m = _ARENA_BYTES.search(text)
    if m:
        return int(m.group(1).replace(b",", b"")) * int(m.group(2).replace(b",", b""))
    return None


_STATUS = {b"VmRSS:": "rss", b"RssAnon:": "anon", b"RssFile:": "file"}


def resident() -> dict[str, float]:
    """RSS in bytes and its parts, anonymous memory (every heap) and file pages (code, mapped files), from
    /proc/self/status (Linux; elsewhere nothing)."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                key = line.split(b" ", 1)[0].split(b"\t", 1)[0]
                if key in _STATUS:
                    out[_STATUS[key]] = int(line.split()[1]) * 1024.0
    except OSError:
        pass
    return out


def mappings() -> list[list[Any]]:
    """This process's mappings that hold anonymous memory, as [start, end, perms, name, Rss kB, Anonymous kB]
    (/proc/self/smaps; Linux, elsewhere none)."""
    out: list[list[Any]] = []
    current: list[Any] | None = None
    try:
        with open("/proc/self/smaps", "rb") as fh:
            for line in fh:
                head = line.split(None, 1)[0]
                if b"-" in head and not head.endswith(b":"):
                    parts = line.split(None, 5)
                    start, end = (int(x, 16) for x in head.split(b"-"))
                    name = parts[5].strip().decode(errors="replace") if len(parts) > 5 else ""
                    current = [start, end, parts[1].decode(), name, 0, 0]
                elif current is not None and head == b"Rss:":
                    current[4] = int(line.split()[1])
                elif current is not None and head == b"Anonymous:":
                    current[5] = int(line.split()[1])
                    if current[5]:
                        out.append(current)
    except OSError:
        pass
    return out


def probes() -> dict[str, list[int]]:
    """Addresses each allocator hands out now, to tell which mappings are whose: glibc malloc's (from this thread's
    arena, and one block above its mmap threshold), Arrow's pool, and pymalloc's (every 500th object the collector
    tracks: its arenas are spread over many mappings)."""
    import gc

    out: dict[str, list[int]] = {"pymalloc": [id(o) for o in gc.get_objects()[::500]]}
    if _LIBC is not None:
        _LIBC.malloc.restype, _LIBC.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
        _LIBC.free.argtypes = [ctypes.c_void_p]
        blocks = [_LIBC.malloc(64), _LIBC.malloc(8 * MB)]
        out["glibc"], out["glibc_mmapped"] = [blocks[0]], [blocks[1]]
        for b in blocks:
            _LIBC.free(b)
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        out["arrow"] = [pa.allocate_buffer(64).address, pa.allocate_buffer(4 * MB).address]
    return out


def figures() -> dict[str, Any]:
    """This process's memory, in MB, by allocator (a figure it cannot read is left out)."""
    out: dict[str, Any] = {k: v / MB for k, v in resident().items()}  # no "rss" off Linux
    out["python_blocks"] = sys.getallocatedblocks()  # live Python objects' blocks (pymalloc or not)
    heap = glibc_heap()
    if heap is not None:
        out["glibc_in_use"], out["glibc_free"] = heap[0] / MB, heap[1] / MB
    python = pymalloc_bytes()
    if python is not None:
        out["pymalloc"] = python / MB
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pool = pa.default_memory_pool()
        out["arrow"], out["arrow_backend"] = pool.bytes_allocated() / MB, pool.backend_name
    lite = sqlite_bytes()
    if lite is not None:
        out["sqlite"] = lite / MB
    return out


def release_unused() -> None:
    """Hand back to the system what this process freed: Arrow's pool (mimalloc) keeps freed pages for reuse, and
    glibc the free parts of its arenas. A worker kept ~40 MB that way after each shard (RSS 345-352 MB without,
    306-313 with, shards of 2,000 built one after another in one process; ~3 ms a shard); the driver after 30
    checked shards of 1,000 rows was at 480-535 MB and rising without, 430 MB with."""
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


@contextmanager
def collections_every(young: int) -> Iterator[None]:
    """While the block runs, this process's young generation is collected every `young` net allocations instead
    of every 700 (each collection walks the young objects, and every tenth, or every full one, the older ones too);
    the thresholds before it come back after. For a process that imports, sets up, waits and checks (the build
    command's driver): `agentfab build --workers 2` of 20k quickstart tasks spent 0.85 s of the driver's 9.1 s of
    CPU in collections, 0.54 s of it in five full ones (25-247 ms, walking the modules, Prefect and the warm
    caches), for 4k cyclic objects freed. A shard sets its own (flows.shard.fewer_collections saves and restores
    whatever it finds, this too), so shards built in this process are unaffected; worker processes forked
    inside the block start with it."""
    saved = gc.get_threshold()
    gc.set_threshold(young, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def step_done(role: str) -> None:
    """A shard built (`role` "shard") or checked ("checks") in this process: release what it freed, and with
    AGENTFAB_MEMORY_LOG set, log where the memory is."""
    release_unused()
    note(role)


def note(role: str) -> None:
    """With AGENTFAB_MEMORY_LOG set: one more `role` step (a shard built, a shard checked) done in this process;
    append its figures to that file."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    with _LOCK:
        _COUNT[role] = _COUNT.get(role, 0) + 1
        n = _COUNT[role]
    point = {"pid": os.getpid(), "role": role, "n": n, "time": round(time.time(), 3),
             "cpu": round(time.process_time(), 3), **figures()}
    if os.environ.get(SMAPS_ENV):
        point.update(maps=mappings(), probes=probes())
    line = json.dumps(point) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
