"""Dataset folders at an fsspec URL (s3://bucket/prefix, gs://..., az://...): a local working copy, published file
by file with the guarantees of a local folder.

A build to a URL runs in a working copy (`$AGENTFAB_CACHE/staging/<hash of the URL>`) that holds the dataset's small
files (build.json, stats, manifest, the duplicate index) and only the shards the build is working on
(flows/store_build.py): a resume finds the finished shards by the store's listing (each object's size against its
stats), and a shard's bytes are checked against its SHA-256 when the checks across shards fetch it.
Each shard's worker publishes its own files as soon as they are written: the Parquet files first, the stats file
that marks the shard done last. A file is published with one PUT (an object store makes an object appear whole or
not at all, multipart uploads included); on a store that is a file system (sftp, hdfs...) it is written under a
temporary name and moved into place. The finished build publishes what finalize rewrote, then README.md, then
manifest.json, which lists the version as complete.

Ownership: before a file is published, a marker object `.agentfab/ledger/<quoted relative path>` records that
agentfab wrote it (one object per file: workers on several machines never race on one ledger object), and
`--overwrite` deletes exactly the recorded objects. A prefix holding other objects and no build is never written.

One writer: `.agentfab/lock` holds the writer's host, pid and a lease. It is created with a conditional PUT
(If-None-Match), renewed while the build runs, and taken over only when its lease ran out or its holder is a dead
process on this same machine (a build killed with SIGKILL resumes at once); on S3 the take-over is a conditional PUT
on the stale lock's ETag, so two writers can never both win it. Credentials come from the usual settings of the
store's fsspec driver (environment, config files, instance roles) and are never written into any output.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, unquote

from agentfab.flows.ownership import LEDGER, STATE, FolderError, start_ledger

# stores where one PUT (or a completed multipart upload) makes an object appear whole or not at all
ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "memory"}
LOCK_KEY = f"{STATE}/lock"
LEDGER_KEYS = f"{STATE}/ledger"
LEASE_SECONDS = 60.0
DATASET_FILES = {"build.json", "import.json", "manifest.json", "README.md"}
DATASET_FOLDERS = {"shards", "rejected", "stats", "index"}


def is_url(out: str | Path | None) -> bool:
    """True for an fsspec URL other than a local one (file:// is a local path)."""
    text = str(out or "")
    return "://" in text and not text.startswith("file://")


def local_path(out: str | Path) -> Path:
    """A local --out as a Path (file:///data/x is /data/x)."""
    text = str(out)
    return Path(text[len("file://"):]) if text.startswith("file://") else Path(text)


def staging_folder(url: str) -> Path:
    """The working copy of the dataset at `url` (the same on every run, so a resumed build finds its lock)."""
    base = os.environ.get("AGENTFAB_CACHE") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                                   / "agentfab")
    return Path(base) / "staging" / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:20]


class Store:
    """The dataset prefix at `url`, through its fsspec driver."""

    def __init__(self, url: str):
        try:
            import fsspec

            self.fs, root = fsspec.core.url_to_fs(url)
        except ImportError as exc:  # fsspec knows the scheme, its driver package is missing
            raise FolderError(f"--out {url}: {exc}; install the driver (for s3:// `pip install 'agentfab[s3]'`)") \
                from None
        except ValueError as exc:
            raise FolderError(f"--out {url}: {exc}") from None
        self.url = url.rstrip("/")
        self.root = root.rstrip("/")
        self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]

    def key(self, rel: str) -> str:
        """The full key of `rel`; on a store that is a file system (sftp, hdfs...) its folder is made first."""
        key = f"{self.root}/{rel}"
        if self.protocol not in ATOMIC_PUT:
            self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        return key

    def files(self) -> list[str]:
        """Every object under the prefix, as a path relative to it."""
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(self.root)
        except FileNotFoundError:
            return []
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - a driver's own error (no credentials, no endpoint): one line
            raise FolderError(f"{self.url}: {type(exc).__name__}: {exc}; check the store's settings (for S3: "
                              "AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for "
                              "another S3-compatible store)") from None
        return sorted(p[len(self.root) + 1:] for p in found if p.startswith(self.root + "/"))

    def sizes(self) -> dict[str, int]:
        """Every object under the prefix with its size in bytes, by path relative to it (one listing)."""
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return {}
        return {p[len(self.root) + 1:]: int(info.get("size") or 0) for p, info in found.items()
                if p.startswith(self.root + "/")}

    def kind(self) -> str:
        """'missing', 'empty', 'build', 'import' or 'foreign', as ownership.kind_of says of a local folder."""
        files = self.files()
        if not files:
            return "missing"
        if "build.json" in files:
            return "build"
        if "import.json" in files:
            return "import"
        return "empty" if all(f.startswith(STATE + "/") for f in files) else "foreign"

    def owned(self) -> list[str]:
        return sorted(unquote(f.rsplit("/", 1)[1]) for f in self.files() if f.startswith(LEDGER_KEYS + "/"))

    def record(self, rel: str) -> None:
        self.fs.pipe_file(self.key(f"{LEDGER_KEYS}/{quote(rel, safe='')}"), b"")

    def put(self, local: Path, rel: str) -> None:
        """Publish one file whole: recorded in the ledger first, then one PUT (or a temporary key moved in place)."""
        self.record(rel)
        if self.protocol in ATOMIC_PUT:
            self.fs.put_file(str(local), self.key(rel))
            return
        name = rel.rsplit("/", 1)
        tmp = "/".join([*name[:-1], f".{name[-1]}.agentfab-{uuid.uuid4().hex[:12]}.tmp"])
        self.fs.put_file(str(local), self.key(tmp))
        try:
            self.fs.mv(self.key(tmp), self.key(rel))
        except BaseException:
            self.fs.rm_file(self.key(tmp))
            raise

    def remove_owned(self) -> list[str]:
        """Delete what agentfab recorded writing here, and nothing else (its ledger markers last)."""
        owned = self.owned()
        present = set(self.files())
        doomed = [self.key(rel) for rel in owned if rel in present and not rel.startswith(STATE + "/")]
        if doomed:
            self.fs.rm(doomed)
        markers = [self.key(f"{LEDGER_KEYS}/{quote(rel, safe='')}") for rel in owned]
        if markers:
            self.fs.rm(markers)
        return owned

    def download(self, folder: Path, wanted: Callable[[str], bool] | None = None) -> list[str]:
        """Copy the dataset's files into `folder`: what agentfab wrote, and anything in its folders (a stray shard
        must be seen); not a user's other objects, the lock or the ledger. A local ledger lists the owned.
        `wanted` (a relative path -> bool) narrows the files copied."""
        owned = set(self.owned())
        rels = [rel for rel in self.files() if not rel.startswith(STATE + "/") and not rel.endswith(".tmp")
                and (rel in owned or rel in DATASET_FILES or rel.split("/", 1)[0] in DATASET_FOLDERS)
                and (wanted is None or wanted(rel))]
        for rel in rels:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        if rels:
            self.fs.get([self.key(r) for r in rels], [str(folder / r) for r in rels])
        start_ledger(folder)
        (folder / LEDGER).write_text("".join(f"{rel}\n" for rel in sorted(owned)), encoding="utf-8")
        return rels


def reset_working_copy(folder: Path) -> None:
    """Empty the working copy (agentfab's own cache folder) but for the lock this process holds on it and the LLM
    request cache (cache/: a resumed LLM build asks nothing twice)."""
    for path in sorted(folder.rglob("*"), reverse=True):
        rel = path.relative_to(folder).as_posix()
        if rel == "cache" or rel.startswith("cache/"):
            continue
        if path.is_symlink() or path.is_file():
            if rel != f"{STATE}/lock":
                path.unlink()
        elif path.is_dir() and rel != STATE:
            path.rmdir()


def publish_finished(store: Store, out: Path, lock: "StoreLock") -> None:
    """After finalize: the shards it rewrote (data, then stats), its other files, README.md, and manifest.json
    last; files finalize deleted go from the store too."""
    from agentfab.flows.ownership import owned_files

    if lock.lost:
        raise FolderError(f"{store.url}: this build lost its write lock (its lease was not renewed in time) and "
                          "another writer may have taken it; re-run the same command to finish the build")
    local = sorted((out / "stats").glob("*.json"))
    keys = [store.key(f"stats/{p.name}") for p in local]
    remote = store.fs.cat(keys, on_error="omit") if keys else {}
    for path, key in zip(local, keys):
        if remote.get(key) != path.read_bytes():
            for folder in ("rejected", "shards"):
                data = out / folder / f"{path.stem}.parquet"
                if data.is_file():
                    store.put(data, f"{folder}/{data.name}")
            store.put(path, f"stats/{path.name}")
    last = ("README.md", "manifest.json")
    # build.json, the duplicate index of each version (index/), what decontamination wrote...
    indexes = [p.relative_to(out).as_posix() for p in sorted((out / "index").glob("near-v*"))]
    rest = [rel for rel in dict.fromkeys([*owned_files(out), *indexes]) if rel not in last and (out / rel).is_file()
            and not rel.startswith((f"{STATE}/", "shards/", "rejected/", "stats/"))]
    for rel in [*rest, *last]:
        if (out / rel).is_file():
            store.put(out / rel, rel)
    # a shard's data leaves the working copy once checked (store_build.StoreShards): only other files finalize
    # deleted go
    gone = [rel for rel in store.owned() if not rel.startswith((f"{STATE}/", "shards/", "rejected/"))
            and not (out / rel).exists()]
    present = set(store.files())
    doomed = [store.key(rel) for rel in gone if rel in present]
    if doomed:
        store.fs.rm(doomed)
    if gone:
        store.fs.rm([store.key(f"{LEDGER_KEYS}/{quote(rel, safe='')}") for rel in gone])


def pull_shard(store: Store, out: Path, shard: int, version: int) -> None:
    """A shard a worker on another machine published: copied into the working copy unless already there whole."""
    from agentfab.flows.storage import check_shard, paths

    if check_shard(out, shard, None, full=False, version=version) is None:
        return
    p = paths(out, shard, version)
    for path in (p["rejected"], p["accepted"], p["stats"]):
        path.parent.mkdir(parents=True, exist_ok=True)
        store.fs.get_file(store.key(path.relative_to(out).as_posix()), str(path))


def publish_shard(url: str, out: Path, shard: int, version: int) -> None:
    """A finished shard's files from the working copy to the store: data first, the stats file that marks it done
    last. Runs in the worker that built the shard."""
    from agentfab.flows.storage import paths, shard_name

    store = Store(url)
    p = paths(out, shard, version)
    answers = out / "rejected" / f"llm-answers-{shard_name(shard)}.jsonl"
    for path in (p["rejected"], answers, p["accepted"], p["stats"]):
        if path.is_file():
            store.put(path, path.relative_to(out).as_posix())


def _is_ours_and_dead(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return False


class StoreLock:
    """The one-writer lock of a dataset prefix (see the module's doc); `with StoreLock(store):` holds it."""

    def __init__(self, store: Store, lease: float | None = None):
        self.store = store
        self.lease = float(os.environ.get("AGENTFAB_LOCK_LEASE") or lease or LEASE_SECONDS)
        self.token = uuid.uuid4().hex
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                           "lease_until": time.time() + self.lease}).encode()

    def _s3(self) -> bool:
        return hasattr(self.store.fs, "call_s3")

    def _put(self, if_match: str | None) -> None:
        key = self.store.key(LOCK_KEY)
        if self._s3():
            bucket, path, _ = self.store.fs.split_path(key)
            condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
            try:
                reply = self.store.fs.call_s3("put_object", Bucket=bucket, Key=path, Body=self._body(), **condition)
            except OSError as exc:
                if "pre-condition" in str(exc).lower() or "precondition" in str(exc).lower():
                    raise FileExistsError(key) from None
                raise
            self.etag = reply.get("ETag")
            return
        if if_match is None:  # a store without conditional writes: create-exclusive where its driver has it
            self.store.fs.pipe_file(key, self._body(), mode="create")
        else:
            self.store.fs.pipe_file(key, self._body())
        self.etag = "-"

    def _current(self) -> tuple[dict[str, Any], str | None]:
        key = self.store.key(LOCK_KEY)
        self.store.fs.invalidate_cache()
        try:
            info = self.store.fs.info(key)
            holder = json.loads(self.store.fs.cat_file(key))
        except FileNotFoundError:
            return {}, None
        except ValueError:
            holder = {}
        return (holder if isinstance(holder, dict) else {}), info.get("ETag")

    def acquire(self) -> None:
        try:
            self._put(None)
        except FileExistsError:
            holder, etag = self._current()
            until = holder.get("lease_until")
            live = isinstance(until, (int, float)) and until > time.time() and not _is_ours_and_dead(holder)
            if live:
                raise FolderError(f"{self.store.url} is being written by another agentfab process (pid "
                                  f"{holder.get('pid', 'unknown')} on {holder.get('host', 'unknown')}, lease renewed "
                                  f"every {self.lease / 3:.0f}s); wait for it to finish or stop it, or choose another "
                                  "--out") from None
            try:
                self._put(etag)  # on S3 only if the stale lock is still the one read (or, gone, still absent)
            except FileExistsError:
                raise FolderError(f"{self.store.url}: another agentfab process took the write lock at the same "
                                  "moment; choose another --out or try again when it has finished") from None
        self._thread = threading.Thread(target=self._renew, name="agentfab-store-lock", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self._put(self.etag if self._s3() else "-")
            except (OSError, FileExistsError):
                self.lost = True  # someone took a lease we could not renew in time: the final publish refuses
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        holder, _ = self._current()
        if holder.get("token") == self.token:
            self.store.fs.rm_file(self.store.key(LOCK_KEY))

    def __enter__(self) -> "StoreLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def for_reading(rel: str) -> bool:
    """What a reading command needs of a dataset: all but the duplicate index (only a build reads it; a million
    rows' index is ~150 MB)."""
    return not rel.startswith("index/")


def lineage_only(rel: str) -> bool:
    """What `versions` reads: the manifest and build.json."""
    return rel in ("manifest.json", "build.json")


@contextmanager
def local_copy(url: str, wanted: Callable[[str], bool] = for_reading) -> Iterator[Path]:
    """A read-only command's view of the dataset at `url`: the `wanted` files downloaded into a temporary
    folder."""
    import tempfile

    store = Store(url)
    kind = store.kind()
    if kind in ("missing", "empty"):
        raise FolderError(f"{url}: no agentfab dataset there (nothing was written under that prefix)")
    with tempfile.TemporaryDirectory(prefix="agentfab-read-") as tmp:
        folder = Path(tmp) / (store.root.rsplit("/", 1)[-1] or "dataset")
        folder.mkdir()
        store.download(folder, wanted)
        yield folder
