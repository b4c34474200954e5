"""`build --out URL`: the build of flows/build.py run in a working copy of the dataset at an fsspec URL.

object_store.py says how files reach the store whole, who owns them and who may write; this module wires that
around a build: claim the prefix (refuse a foreign one, take its write lock), fill the working copy with the
dataset's small files, run the build there with every shard published by the worker that built it, then publish
what finalize wrote.

The working copy stays small: a shard's Parquet files leave it once the checks across shards have read it (and
published it again if rows moved out of it), so it holds the shards being built and the one being checked, not
the dataset. What else reads a shard (an earlier version's diversity sample, an index rebuilt from its files)
fetches it from the store and lets it go the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from agentfab.flows import lifeline
from agentfab.flows.build import BuildError, _build_locked, check_output
from agentfab.flows.crossshard import ShardPlace, shard_files
from agentfab.flows.object_store import (Store, StoreLock, publish_finished, pull_shard, reset_working_copy,
                                         staging_folder)
from agentfab.flows.storage import check_file, check_shard, read_stats, shard_name
from agentfab.flows.ownership import FolderError, writer_lock
from agentfab.flows.quality import SampleRow, read_sample
from agentfab.flows.recipe import Recipe
from agentfab.flows.runners import ProcessRunner, ShardRunner
from agentfab.flows.shard import ShardJob


class StoreRunner(ShardRunner):
    """Another runner's shards, each published to the store by its worker, and present in the working copy when
    its future resolves (a worker on another machine wrote only to the store)."""

    def __init__(self, inner: ShardRunner, store: Store):
        super().__init__(inner.progress)
        self.inner, self.store = inner, store
        self.name = inner.name
        self.place = StoreShards(store)  # the checks across shards find the shards through it (build.shard_checks)

    def open(self, n_jobs: int, warm: Callable[[], None] | None = None) -> None:
        self.inner.open(n_jobs, warm)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()

    @property
    def concurrent(self) -> bool:
        return self.inner.concurrent

    def submit(self, job: ShardJob) -> Future:
        job = dataclasses.replace(job, publish=self.store.url)
        built = self.inner.submit(job)
        settled: Future = Future()

        def settle(done: Future) -> None:
            try:
                stats = done.result()
                pull_shard(self.store, Path(job.out), job.shard, job.version)
                self.place.arrived(Path(job.out), shard_name(job.shard, job.version))
                settled.set_result(stats)
            except BaseException as exc:  # noqa: BLE001 - the shard's own error travels to the awaiting task
                settled.set_exception(exc)

        built.add_done_callback(settle)
        return settled


def _is_shard_data(rel: str) -> bool:
    return rel.startswith(("shards/", "rejected/")) and rel.endswith(".parquet")


class StoreShards(ShardPlace):
    """Shards in the working copy only while the build needs them: fetched from the store when absent (a resumed
    shard, one a worker elsewhere built, one let go early) and checked against their recorded SHA-256, published
    again when the checks rewrote them, then deleted from the working copy.

    The checks read shards in order, so shards finished ahead of the one they wait for pile up; at most `waiting`
    of them stay (the nearest in order), the others' data goes at once and is fetched back when its turn comes.
    The working copy so holds at most workers + `waiting` + 1 shards' data, however far the checks lag."""

    def __init__(self, store: Store, waiting: int = 2):
        self.store, self.waiting = store, waiting
        self._lock = threading.Lock()
        self._waiting: list[str] = []  # finished here, not checked yet, data present
        self._reading: str | None = None

    def arrived(self, out: Path, stem: str) -> None:
        """A shard's data is in the working copy (its worker wrote it here, or it was pulled)."""
        with self._lock:
            if stem == self._reading:
                return
            self._waiting.append(stem)
            self._waiting.sort()  # shard names sort in the checks' order
            while len(self._waiting) > self.waiting:
                self._drop(out, self._waiting.pop())  # the farthest from its turn

    @staticmethod
    def _drop(out: Path, stem: str) -> None:
        files = shard_files(out, stem)
        for kind in ("rejected", "accepted"):
            files[kind].unlink(missing_ok=True)

    def fetch(self, out: Path, stem: str) -> None:
        with self._lock:
            self._reading = stem
            if stem in self._waiting:
                self._waiting.remove(stem)
        files = shard_files(out, stem)
        stats_rel = files["stats"].relative_to(out).as_posix()
        if not files["stats"].is_file():
            files["stats"].parent.mkdir(parents=True, exist_ok=True)
            self.store.fs.get_file(self.store.key(stats_rel), str(files["stats"]))
        recorded = (read_stats(files["stats"]) or {}).get("files") or {}
        for kind in ("rejected", "accepted"):
            path = files[kind]
            if check_file(path, recorded.get(kind), out, full=False) is None:
                continue  # written here by this build's worker
            path.parent.mkdir(parents=True, exist_ok=True)
            self.store.fs.get_file(self.store.key(path.relative_to(out).as_posix()), str(path))
            problem = check_file(path, recorded.get(kind), out)
            if problem is not None:
                raise BuildError(f"{self.store.url}: {problem}; delete {self.store.url}/{stats_rel} and run the "
                                 "same command again to rebuild that shard")

    def sample(self, out: Path, stem: str, rows: int) -> list[SampleRow]:
        """Read in place from the store: the sampled columns of the accepted file's first rows, in ranged reads
        (an extension fetched every earlier shard whole, both its files, for these few texts). Its checksum was
        checked when its version was built; Parquet's footer still refuses a damaged file."""
        key = self.store.key(shard_files(out, stem)["accepted"].relative_to(out).as_posix())
        with self.store.fs.open(key, "rb") as fh:
            return read_sample(fh, rows)  # type: ignore[arg-type]  # a file object: ParquetFile reads either

    def release(self, out: Path, stem: str, rewritten: bool) -> None:
        files = shard_files(out, stem)
        if rewritten:  # as a worker publishes a shard: its data first, the stats that record the data last
            for kind in ("rejected", "accepted", "stats"):
                self.store.put(files[kind], files[kind].relative_to(out).as_posix())
        with self._lock:
            self._drop(out, stem)
            self._reading = None


def check_published(sizes: dict[str, int], out: Path, shard: int, recipe_hash: str | None, *,
                    version: int = 1) -> str | None:
    """storage.check_shard for a shard whose data is in the store, not the working copy: its stats (downloaded)
    against the store's listing (`sizes`: relative path -> bytes). The bytes are checked against their SHA-256
    when the checks fetch the shard (StoreShards.fetch)."""
    return check_shard(out, shard, recipe_hash, version=version,
                       size_of=lambda path: sizes.get(path.relative_to(out).as_posix()))


def _publish_claim(store: Store, staging: Path) -> None:
    """build.json before any shard (a prefix with shards and no build.json would look foreign), and the card that
    lists a version being added as in progress."""
    store.put(staging / "build.json", "build.json")
    if (staging / "README.md").is_file():
        store.put(staging / "README.md", "README.md")


def _in_url_terms(exc: Exception, staging: Path, url: str) -> BuildError:
    return BuildError(str(exc).replace(str(staging), url))


def build_to_store(recipe: Recipe, recipe_dir: Path, url: str, workers: int | None, overwrite: bool,
                   runner: ShardRunner | None, extend: bool) -> dict[str, Any]:
    """Build (or resume, or extend) the dataset at `url`; returns the manifest, as `build` does."""
    try:
        store = Store(url)
        kind = store.kind()
    except FolderError as exc:
        raise BuildError(str(exc)) from None
    if kind == "foreign":
        raise BuildError(f"{store.url} holds objects and is not an agentfab dataset; agentfab only writes into a new "
                         "or empty prefix or one it built, and never deletes objects it did not write: choose another "
                         "--out")
    staging = staging_folder(store.url)
    staging.mkdir(parents=True, exist_ok=True)
    try:
        with writer_lock(staging), StoreLock(store) as lock:
            lifeline.install()  # Prefect's temporary server dies with this process, even by SIGKILL
            reset_working_copy(staging)
            store.download(staging, lambda rel: not _is_shard_data(rel))  # shards: fetched when read
            try:
                if check_output(recipe, staging, overwrite):
                    store.remove_owned()  # then the build removes the working copy's own files
            except BuildError as exc:
                raise _in_url_terms(exc, staging, store.url) from None
            sizes = store.sizes()  # what a resume finds finished: the shards whose objects match their stats
            inner = runner or ProcessRunner(workers if workers else (os.cpu_count() or 1))
            try:
                manifest = _build_locked(recipe, recipe_dir, staging, workers, overwrite, StoreRunner(inner, store),
                                         extend, on_claimed=lambda: _publish_claim(store, staging),
                                         check=functools.partial(check_published, sizes))
            finally:
                if runner is None:
                    inner.close()
            publish_finished(store, staging, lock)
            return manifest
    except FolderError as exc:
        raise _in_url_terms(exc, staging, store.url) from None
