"""`build --out URL`: the build of flows/build.py run in a working copy of the dataset at an fsspec URL.

object_store.py says how files reach the store whole, who owns them and who may write; this module wires that
around a build: claim the prefix (refuse a foreign one, take its write lock), fill the working copy from the store,
run the build there with every shard published by the worker that built it, then publish what finalize wrote.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from agentfab.flows import lifeline
from agentfab.flows.build import BuildError, _build_locked, check_output
from agentfab.flows.object_store import (Store, StoreLock, publish_finished, pull_shard, reset_working_copy,
                                         staging_folder)
from agentfab.flows.ownership import FolderError, writer_lock
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
                settled.set_result(stats)
            except BaseException as exc:  # noqa: BLE001 - the shard's own error travels to the awaiting task
                settled.set_exception(exc)

        built.add_done_callback(settle)
        return settled


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
            store.download(staging)
            try:
                if check_output(recipe, staging, overwrite):
                    store.remove_owned()  # then the build removes the working copy's own files
            except BuildError as exc:
                raise _in_url_terms(exc, staging, store.url) from None
            inner = runner or ProcessRunner(workers if workers else (os.cpu_count() or 1))
            try:
                manifest = _build_locked(recipe, recipe_dir, staging, workers, overwrite, StoreRunner(inner, store),
                                         extend, on_claimed=lambda: _publish_claim(store, staging))
            finally:
                if runner is None:
                    inner.close()
            publish_finished(store, staging, lock)
            return manifest
    except FolderError as exc:
        raise _in_url_terms(exc, staging, store.url) from None
