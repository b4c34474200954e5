"""Builds to an object store: a real S3 server (moto's, on 127.0.0.1) read and written through s3fs.

The same guarantees as a local folder: the same rows, files whole or absent, resume after SIGKILL without loss or
duplicates, one writer, nothing deleted that agentfab did not write, validate and export read it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from agentfab.flows.build import BuildError, build
from agentfab.flows.cli import main
from agentfab.flows.object_store import Store, StoreLock, for_reading, lineage_only, local_copy, staging_folder

RECIPE = "name: stored\nseed: 21\nrecords: 90\nshard_size: 30\nworlds: [bank, library]\nnegatives: 0.2\n"
BUCKET = "agentfab-test"


@pytest.fixture(scope="module")
def s3():
    """A real S3 endpoint for this module, found by s3fs (and by subprocesses) through the usual AWS variables."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir(BUCKET)
    urls: list[str] = []
    yield fs, urls
    for url in urls:  # the working copies of this module's builds
        shutil.rmtree(staging_folder(url), ignore_errors=True)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


@pytest.fixture(scope="module")
def local_build(prefect_harness, tmp_path_factory) -> tuple[Path, dict]:
    """RECIPE built once into a local folder: what every build of it to the store must equal."""
    folder = tmp_path_factory.mktemp("local")
    recipe = _recipe(folder)
    return folder / "local", build(recipe, out=folder / "local", workers=2)


def _url(s3, name: str) -> str:
    url = f"s3://{BUCKET}/{name}-{os.getpid()}"
    s3[1].append(url)
    return url


def _recipe(tmp_path: Path, text: str = RECIPE) -> Path:
    path = tmp_path / "stored.yaml"
    path.write_text(text)
    return path


def _table(fs, url: str, folder: str) -> pl.DataFrame:
    """Rows as a consumer reads them from the store: pyarrow's dataset over s3fs, then polars."""
    fs.invalidate_cache()
    return pl.from_arrow(pads.dataset(f"{url[5:]}/{folder}", filesystem=fs, format="parquet").to_table()).sort("id")


def _keys(fs, url: str) -> list[str]:
    fs.invalidate_cache()
    root = url[5:]
    return sorted(k[len(root) + 1:] for k in fs.find(root))


def test_a_build_to_s3_has_the_rows_of_the_same_build_to_a_local_folder(local_build, s3, tmp_path: Path):
    fs, _ = s3
    recipe = _recipe(tmp_path)
    folder, local = local_build
    url = _url(s3, "same")
    stored = build(recipe, out=url, workers=2)
    assert stored["rows"] == local["rows"]
    for kind in ("shards", "rejected"):
        assert _table(fs, url, kind).equals(pl.read_parquet(folder / kind / "*.parquet").sort("id"))
    keys = _keys(fs, url)
    assert not [k for k in keys if k.endswith(".tmp")]
    assert ".agentfab/lock" not in keys, "the write lock outlived the build"
    owned = Store(url).owned()
    data = [k for k in keys if not k.startswith(".agentfab/")]
    assert set(data) <= set(owned), "an object agentfab wrote is missing from its ledger"
    assert "index/near-v0001.sqlite" in data
    assert "index/near-v0001.sqlite" in (folder / ".agentfab" / "ledger").read_text().splitlines()  # local ledger too
    manifest = json.loads(fs.cat_file(f"{url[5:]}/manifest.json"))
    assert manifest["rows"] == local["rows"] and manifest["lineage"][0]["version"] == 1
    # resume of a finished build: every shard verified from the store's bytes, nothing rebuilt
    again = build(recipe, out=url, workers=2)
    assert again["timings"]["shards_built_this_run"] == 0
    assert _table(fs, url, "shards").equals(pl.read_parquet(folder / "shards" / "*.parquet").sort("id"))


def test_validate_export_inspect_and_versions_read_a_dataset_on_s3(local_build, s3, tmp_path: Path):
    fs, _ = s3
    recipe = _recipe(tmp_path)
    folder, _ = local_build
    url = _url(s3, "read")
    build(recipe, out=url, workers=1)
    cli = CliRunner()
    result = cli.invoke(main, ["validate", url])
    assert result.exit_code == 0, result.output
    for where, name in ((url, "s3.jsonl"), (str(folder), "local.jsonl")):
        result = cli.invoke(main, ["export", where, "--format", "openai", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "s3.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()
    result = cli.invoke(main, ["versions", url])
    assert result.exit_code == 0 and "      1       -  21" in result.output, result.output
    assert cli.invoke(main, ["inspect", url]).exit_code == 0

    # negative control: an object replaced on the store is named, and export refuses it
    fs.pipe_file(f"{url[5:]}/shards/shard-00001.parquet", fs.cat_file(f"{url[5:]}/shards/shard-00000.parquet"))
    result = cli.invoke(main, ["validate", url])
    assert result.exit_code == 1 and "shards/shard-00001.parquet" in result.output, result.output
    result = cli.invoke(main, ["export", url, "--format", "openai", "--out", str(tmp_path / "bad.jsonl")])
    assert result.exit_code == 2 and "shards/shard-00001.parquet" in result.output, result.output
    # and the next build repairs exactly that shard from the recipe
    repaired = build(recipe, out=url, workers=1)
    assert repaired["timings"]["shards_built_this_run"] == 1
    assert cli.invoke(main, ["validate", url]).exit_code == 0


def test_reading_commands_download_only_what_they_read(local_build, s3, tmp_path: Path):
    """Not the duplicate index (only a build reads it), and for `versions` only the manifest and build.json."""
    url = _url(s3, "partial")
    build(_recipe(tmp_path), out=url, workers=1)

    def copied(wanted) -> set[str]:
        with local_copy(url, wanted) as folder:
            return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
                    if p.is_file() and not p.relative_to(folder).as_posix().startswith(".agentfab/")}

    everything = copied(lambda rel: True)  # the control: the index is there to be left out
    assert "index/near-v0001.sqlite" in everything and "shards/shard-00002.parquet" in everything
    assert copied(for_reading) == {rel for rel in everything if not rel.startswith("index/")}
    assert copied(lineage_only) == {"build.json", "manifest.json"}
    result = CliRunner().invoke(main, ["versions", url])
    assert result.exit_code == 0 and "      1       -  21" in result.output, result.output


def test_a_sigkilled_build_to_s3_resumes_without_loss_duplicates_or_half_files(prefect_harness, s3, tmp_path: Path):
    fs, _ = s3
    recipe = _recipe(tmp_path, RECIPE.replace("records: 90", "records: 640").replace("shard_size: 30",
                                                                                      "shard_size: 40"))
    url = _url(s3, "killed")
    command = [sys.executable, "-m", "agentfab", "build", str(recipe), "--out", url, "--workers", "2", "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    published: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        published = [k for k in _keys(fs, url) if k.startswith("stats/")]
        if len(published) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be killed: " + proc.stderr.read()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # its workers die with it: nothing is published after this
    keys = _keys(fs, url)
    assert 3 <= len([k for k in keys if k.startswith("stats/")]) < 16
    assert "manifest.json" not in keys and "build.json" in keys
    for key in keys:  # every data object on the store is whole, never half an upload
        if key.endswith(".parquet") and not key.startswith(".agentfab/"):
            pq.read_metadata(fs.open(f"{url[5:]}/{key}", "rb"))
    lock = json.loads(fs.cat_file(f"{url[5:]}/.agentfab/lock"))
    assert lock["pid"] == proc.pid  # the killed build's lock: its holder is dead, so the re-run takes it over

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    clean = build(recipe, out=tmp_path / "clean", workers=2)
    for folder in ("shards", "rejected"):
        rows = _table(fs, url, folder)
        assert rows["id"].n_unique() == rows.height, "a row was published twice"
        assert rows.equals(pl.read_parquet(tmp_path / "clean" / folder / "*.parquet").sort("id"))
    assert json.loads(fs.cat_file(f"{url[5:]}/manifest.json"))["rows"] == clean["rows"]
    assert not [k for k in _keys(fs, url) if k.endswith(".tmp") or k == ".agentfab/lock"]


def test_one_writer_and_ownership_on_s3(prefect_harness, s3, tmp_path: Path):
    fs, _ = s3
    recipe = _recipe(tmp_path, RECIPE.replace("records: 90", "records: 30"))
    url = _url(s3, "owned")
    with StoreLock(Store(url)):  # a live writer (this process): a build stops at once and names it
        with pytest.raises(BuildError, match=f"pid {os.getpid()} on {socket.gethostname()}"):
            build(recipe, out=url, workers=1)
    # a lock whose lease ran out (a writer on another machine that died) is taken over
    fs.pipe_file(f"{url[5:]}/.agentfab/lock", json.dumps({"host": "elsewhere", "pid": 1, "token": "x",
                                                           "lease_until": time.time() - 5}).encode())
    build(recipe, out=url, workers=1)
    fs.pipe_file(f"{url[5:]}/shards/notes.txt", b"a user's notes")
    fs.pipe_file(f"{url[5:]}/q3-report.csv", b"a,b\n")
    other = _recipe(tmp_path, RECIPE.replace("records: 90", "records: 30").replace("seed: 21", "seed: 22"))
    with pytest.raises(BuildError, match="--overwrite"):
        build(other, out=url, workers=1)
    build(other, out=url, workers=1, overwrite=True)
    keys = _keys(fs, url)
    assert "shards/notes.txt" in keys and "q3-report.csv" in keys, "--overwrite deleted a user's object"
    assert json.loads(fs.cat_file(f"{url[5:]}/build.json"))["recipe"]["seed"] == 22

    foreign = _url(s3, "foreign")
    fs.pipe_file(f"{foreign[5:]}/data.csv", b"x\n")
    for overwrite in (False, True):
        with pytest.raises(BuildError, match="not an agentfab dataset"):
            build(recipe, out=foreign, workers=1, overwrite=overwrite)
    assert _keys(fs, foreign) == ["data.csv"]


def test_the_dask_runner_writes_to_s3_and_extends_it(local_build, s3, tmp_path: Path):
    from agentfab.flows.dask_runner import DaskRunner

    fs, _ = s3
    recipe = _recipe(tmp_path)
    folder, local = local_build
    url = _url(s3, "dask")
    with DaskRunner(workers=2) as runner:
        stored = build(recipe, out=url, runner=runner)
        assert stored["timings"]["runner"].startswith("dask")
        extended = build(recipe, out=url, runner=runner, extend=True)
    assert stored["rows"] == local["rows"]
    assert _table(fs, url, "shards").filter(~pl.col("id").str.contains("-v0002-")).equals(
        pl.read_parquet(folder / "shards" / "*.parquet").sort("id"))
    assert [v["version"] for v in extended["lineage"]] == [1, 2]
    card = fs.cat_file(f"{url[5:]}/README.md").decode()
    assert "## Versions" in card and "| 2 | 1 |" in card


def test_a_store_without_credentials_is_one_line_naming_the_settings(s3, tmp_path: Path):
    recipe = _recipe(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_ENDPOINT_URL"}
    env["HOME"] = str(tmp_path)  # no ~/.aws/credentials either
    for command in (["build", str(recipe), "--out", f"s3://{BUCKET}/nocreds", "--quiet"],
                    ["validate", f"s3://{BUCKET}/nocreds"]):
        done = subprocess.run([sys.executable, "-m", "agentfab", *command], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "AWS_ACCESS_KEY_ID" in done.stderr, done.stderr
        assert "NoCredentialsError" in done.stderr


def test_a_worker_on_another_machine_publishes_its_shard_and_the_driver_pulls_it_whole(local_build, s3,
                                                                                      tmp_path: Path):
    import dataclasses

    from agentfab.flows.build import shard_jobs
    from agentfab.flows.object_store import pull_shard
    from agentfab.flows.recipe import load_recipe
    from agentfab.flows.shard import build_shard
    from agentfab.flows.storage import check_shard

    url = _url(s3, "pulled")
    recipe, recipe_dir = load_recipe(_recipe(tmp_path), {})
    (tmp_path / "a-file").write_text("")
    driver_path = tmp_path / "a-file" / "working-copy"  # the driver's folder cannot exist on the worker's machine
    job = dataclasses.replace(shard_jobs(recipe, str(recipe_dir), str(driver_path), 1, [1])[0], publish=url)
    build_shard(job)
    assert {"shards/shard-00001.parquet", "rejected/shard-00001.parquet", "stats/shard-00001.json"} <= set(
        _keys(s3[0], url))
    driver = tmp_path / "driver"
    assert check_shard(driver, 1, recipe.hash()) is not None
    pull_shard(Store(url), driver, 1, 1)
    assert check_shard(driver, 1, recipe.hash()) is None
    assert pl.read_parquet(driver / "shards" / "shard-00001.parquet").equals(
        pl.read_parquet(local_build[0] / "shards" / "shard-00001.parquet"))


def test_the_store_lock_is_won_by_one_writer_and_a_lost_lease_stops_the_final_publish(s3, tmp_path: Path):
    from agentfab.flows.object_store import publish_finished
    from agentfab.flows.ownership import FolderError

    fs, _ = s3
    store = Store(_url(s3, "locks"))
    key = store.key(".agentfab/lock")
    fs.pipe_file(key, json.dumps({"host": "elsewhere", "pid": 1, "lease_until": time.time() - 1}).encode())
    stale = fs.info(key)["ETag"]
    first, second = StoreLock(store), StoreLock(store)
    first._put(stale)  # both saw the same stale lock: the conditional PUT lets exactly one replace it
    with pytest.raises(FileExistsError):
        second._put(stale)
    assert json.loads(fs.cat_file(key))["token"] == first.token
    with pytest.raises(FolderError, match="being written by another agentfab process"):
        second.acquire()  # the winner's lease is live

    fs.rm_file(key)
    holder = StoreLock(store, lease=0.6)
    holder.acquire()
    fs.pipe_file(key, b'{"host": "elsewhere", "pid": 2, "lease_until": 0}')  # another writer took it meanwhile
    deadline = time.monotonic() + 10
    while not holder.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder.lost, "a renewal over another writer's lock must fail"
    with pytest.raises(FolderError, match="lost its write lock"):
        publish_finished(store, tmp_path, holder)
    holder.release()
    assert json.loads(fs.cat_file(key))["pid"] == 2, "release deleted another writer's lock"


def test_a_url_where_only_a_local_path_fits_is_refused_in_one_line(tmp_path: Path):
    cli = CliRunner()
    for command in (["decontaminate", f"s3://{BUCKET}/x"], ["import", str(_recipe(tmp_path)), "--format", "sharegpt",
                                                              "--out", f"s3://{BUCKET}/x"]):
        result = cli.invoke(main, command)
        assert result.exit_code == 2 and "give a local path here" in result.output, result.output
    assert not Path("s3:").exists()


def test_a_store_without_atomic_puts_gets_a_temporary_key_moved_into_place_and_the_generic_lock(tmp_path: Path):
    from agentfab.flows.ownership import FolderError

    store = Store(f"file://{tmp_path}/ds")  # fsspec's local driver: a file system, not an object store
    source = tmp_path / "shard.parquet"
    source.write_bytes(b"PAR1 whole file PAR1")
    store.put(source, "shards/shard-00000.parquet")
    assert (tmp_path / "ds" / "shards" / "shard-00000.parquet").read_bytes() == source.read_bytes()
    assert store.owned() == ["shards/shard-00000.parquet"]
    assert not list((tmp_path / "ds").rglob("*.tmp"))
    with StoreLock(store):
        with pytest.raises(FolderError, match=f"pid {os.getpid()}"):
            StoreLock(store).acquire()
    assert not (tmp_path / "ds" / ".agentfab" / "lock").exists()


def test_a_build_to_s3_keeps_only_the_shards_it_works_on_in_its_working_copy(prefect_harness, s3, tmp_path: Path):
    import threading

    fs, _ = s3
    recipe = _recipe(tmp_path, RECIPE.replace("records: 90", "records: 360").replace("[bank, library]", "[bank]"))  # 12 shards
    url = _url(s3, "bounded")
    staging = staging_folder(url)
    most, stop = [0], threading.Event()

    def watch() -> None:  # the shards whose accepted rows sit in the working copy, every few milliseconds
        while not stop.is_set():
            most[0] = max(most[0], sum(1 for _ in staging.glob("shards/*.parquet")))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        stored = build(recipe, out=url, workers=2)
    finally:
        stop.set()
        watcher.join()
    assert 1 <= most[0] <= 2 + 2 + 1, most  # workers + the shards waiting for the checks + the one checked
    assert not list(staging.glob("shards/*.parquet")) and not list(staging.glob("rejected/*.parquet"))
    clean = build(recipe, out=tmp_path / "clean", workers=2)
    assert stored["rows"] == clean["rows"] and stored["cross_shard_duplicates_moved"] > 0  # rows moved and re-put
    for folder in ("shards", "rejected"):
        assert _table(fs, url, folder).equals(pl.read_parquet(tmp_path / "clean" / folder / "*.parquet").sort("id"))
    # a resume finds the finished shards by the store's listing; the checks fetch each one and verify its bytes
    again = build(recipe, out=url, workers=2)
    assert again["timings"]["shards_built_this_run"] == 0 and again["rows"] == clean["rows"]
    assert not list(staging.glob("shards/*.parquet"))
    # an object whose size is not its record's is rebuilt; one of the right size but other bytes is refused
    fs.pipe_file(f"{url[5:]}/shards/shard-00003.parquet", b"not parquet")
    healed = build(recipe, out=url, workers=2)
    assert healed["timings"]["shards_built_this_run"] == 1
    assert _table(fs, url, "shards").equals(pl.read_parquet(tmp_path / "clean" / "shards" / "*.parquet").sort("id"))
    key = f"{url[5:]}/rejected/shard-00005.parquet"
    body = bytearray(fs.cat_file(key))
    body[len(body) // 2] ^= 0xFF
    fs.pipe_file(key, bytes(body))
    with pytest.raises(BuildError, match=r"rejected/shard-00005.parquet does not match its recorded checksum.*"
                                         r"stats/shard-00005.json"):
        build(recipe, out=url, workers=2)


def test_extending_a_store_dataset_samples_earlier_shards_without_fetching_them(local_build, s3, tmp_path: Path,
                                                                               monkeypatch):
    """The diversity sample of an earlier version's shards is read in place (ranged reads of two columns), not by
    downloading each shard whole; the figures equal the same extension of a local folder."""
    from agentfab.flows.store_build import StoreShards

    folder, _ = local_build
    recipe = _recipe(tmp_path)
    url = _url(s3, "extend-sample")
    build(recipe, out=url, workers=1)
    fetched: list[str] = []
    real_fetch = StoreShards.fetch

    def fetch(self, out, stem):  # type: ignore[no-untyped-def]
        fetched.append(stem)
        return real_fetch(self, out, stem)

    monkeypatch.setattr(StoreShards, "fetch", fetch)
    stored = build(recipe, out=url, workers=1, extend=True)
    assert fetched and all("-v0002" in stem for stem in fetched), fetched  # only this version's shards (checked)
    local = tmp_path / "local"
    shutil.copytree(folder, local)
    extended = build(recipe, out=local, workers=1, extend=True)
    assert stored["query_diversity"] == extended["query_diversity"]
    assert stored["quality"]["user_text"] == extended["quality"]["user_text"]
    assert stored["quality"]["assistant_text"] == extended["quality"]["assistant_text"]
