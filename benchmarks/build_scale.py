"""How a build scales: wall time, trajectories/s, peak memory of the driver and the workers, bytes per row, finalize.

    python benchmarks/build_scale.py                          # 10k and 100k tasks, 2 worker processes
    python benchmarks/build_scale.py --sizes 10000 100000 1000000
    python benchmarks/build_scale.py --runner dask            # the same on a 2-worker Dask LocalCluster
    python benchmarks/build_scale.py --compare-dask 20000     # shards to Dask from Prefect tasks vs prefect-dask

Each size runs in a fresh process (`agentfab build --quiet`, the real command) while a sampler reads the RSS of
that process and of every descendant once every 0.2 s: the driver (the agentfab process), the workers (shard
processes or Dask workers) and Prefect's temporary server are reported apart. Prints figures; asserts nothing.
On a shared machine the figures move with the other load: say so when you quote them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def recipe_text(records: int, shard_size: int) -> str:
    return (f"name: scale\nseed: 1\nrecords: {records}\nshard_size: {shard_size}\n"
            "worlds: [bank, shop, travel, calendar, library]\nnegatives: 0.1\n"
            "rollouts: {agent: oracle, recovery: 0.1}\n")


class Sampler(threading.Thread):
    """Peak RSS per role of a process tree: driver, workers, Prefect server."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = {"driver": 0, "worker": 0, "prefect server": 0, "workers together": 0}
        self.done = threading.Event()

    def role(self, proc: psutil.Process) -> str:
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            return "worker"
        return "prefect server" if "uvicorn" in cmd or "prefect.server" in cmd else "worker"

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak["driver"] = max(self.peak["driver"], self.root.memory_info().rss)
                together = 0
                for child in self.root.children(recursive=True):
                    try:
                        rss = child.memory_info().rss
                    except psutil.Error:
                        continue
                    role = self.role(child)
                    self.peak[role] = max(self.peak[role], rss)
                    if role == "worker":
                        together += rss
                self.peak["workers together"] = max(self.peak["workers together"], together)
            except psutil.Error:
                pass
            time.sleep(0.2)


def run_size(records: int, shard_size: int, workers: int, runner: str, tmp: Path) -> dict:
    recipe = tmp / f"scale-{records}.yaml"
    recipe.write_text(recipe_text(records, shard_size))
    out = tmp / f"out-{records}"
    cmd = [sys.executable, "-m", "agentfab", "build", str(recipe), "--out", str(out), "--workers", str(workers),
           "--runner", runner, "--quiet", "--overwrite"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"build of {records} failed:\n{err[-3000:]}")
    m = json.loads((out / "manifest.json").read_text())
    accepted, rejected = m["rows"]["accepted"], m["rows"]["rejected"]
    acc_bytes = sum(p.stat().st_size for p in (out / "shards").glob("*.parquet"))
    rej_bytes = sum(p.stat().st_size for p in (out / "rejected").glob("*.parquet"))
    return {"records": records, "wall_s": wall, "accepted": accepted, "rejected": rejected,
            "trajectories_per_s": accepted / wall, "tasks_per_s": records / wall,
            "shards_s": m["timings"]["shards_wall_seconds"], "finalize_s": m["timings"]["finalize_seconds"],
            "bytes_per_accepted_row": acc_bytes / max(accepted, 1), "bytes_per_rejected_row": rej_bytes / max(rejected, 1),
            "moved_across_shards": m["cross_shard_duplicates_moved"],
            "peak_mb": {k: v / 2**20 for k, v in sampler.peak.items()}}


def compare_dask(records: int, shard_size: int, tmp: Path) -> None:
    """The same shards three ways, each a Prefect flow run on the ephemeral server, 2 workers."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from agentfab.flows.prefect_env import configure

    configure()
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from agentfab.flows.build import build, finalize, prepare_output, shard_jobs
    from agentfab.flows.dask_runner import DaskRunner
    from agentfab.flows.recipe import load_recipe
    from agentfab.flows.runners import ProcessRunner
    from agentfab.flows.shard import build_shard

    recipe_path = tmp / "compare.yaml"
    recipe_path.write_text(recipe_text(records, shard_size))
    figures = {}
    for name, make in (("process pool, Prefect task per shard", lambda: ProcessRunner(2)),
                       ("Dask direct from Prefect tasks (agentfab --runner dask)", lambda: DaskRunner(workers=2))):
        t0 = time.perf_counter()
        with make() as runner:
            build(recipe_path, out=tmp / f"cmp-{len(figures)}", runner=runner, overwrite=True)
        figures[name] = time.perf_counter() - t0
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        print("prefect-dask is not installed (pip install prefect-dask): its row is skipped")
    else:
        @task(name="build-shard-on-dask", cache_policy=NO_CACHE)
        def shard_task(job):  # type: ignore[no-untyped-def]
            return build_shard(job)

        runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True,
                                                "dashboard_address": None})

        @flow(name="prefect-dask-build", task_runner=runner)
        def via_prefect_dask(jobs):  # type: ignore[no-untyped-def]
            return [f.result() for f in shard_task.map(jobs)]

        recipe, recipe_dir = load_recipe(recipe_path, {})
        out = tmp / "cmp-prefect-dask"
        t0 = time.perf_counter()
        version, todo = prepare_output(recipe, out, overwrite=True, recipe_dir=recipe_dir)
        via_prefect_dask(shard_jobs(recipe, str(recipe_dir), str(out), version, todo))
        finalize.fn(recipe, out, time.perf_counter() - t0, todo, version)
        figures["Prefect tasks on Dask workers (prefect-dask DaskTaskRunner)"] = time.perf_counter() - t0
    print(f"\n{records:,} tasks in {-(-records // shard_size)} shards, 2 workers, whole build wall time:")
    for name, seconds in figures.items():
        print(f"  {name:<62} {seconds:7.1f} s  ({records / seconds:,.0f} tasks/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--shard-size", type=int, default=5_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runner", choices=["process", "dask"], default="process")
    ap.add_argument("--compare-dask", type=int, metavar="TASKS", help="Compare the Dask routes on TASKS tasks.")
    ap.add_argument("--keep", action="store_true", help="Keep the built datasets (printed folder).")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="agentfab-scale-"))
    try:
        if args.compare_dask:
            compare_dask(args.compare_dask, max(1000, args.compare_dask // 10), tmp)
            return
        print(f"runner {args.runner}, {args.workers} workers, shards of {args.shard_size:,}; {os.cpu_count()} cores "
              f"(shared machine: figures move with other load)")
        header = (f"{'tasks':>9} {'wall s':>7} {'traj/s':>7} {'tasks/s':>7} {'finalize s':>10} {'B/row':>6} "
                  f"{'driver MB':>9} {'worker MB':>9} {'workers MB':>10} {'prefect MB':>10} {'moved':>6}")
        print(header)
        for size in args.sizes:
            r = run_size(size, args.shard_size, args.workers, args.runner, tmp)
            p = r["peak_mb"]
            print(f"{size:>9,} {r['wall_s']:>7.1f} {r['trajectories_per_s']:>7,.0f} {r['tasks_per_s']:>7,.0f} "
                  f"{r['finalize_s']:>10.2f} {r['bytes_per_accepted_row']:>6,.0f} {p['driver']:>9,.0f} "
                  f"{p['worker']:>9,.0f} {p['workers together']:>10,.0f} {p['prefect server']:>10,.0f} "
                  f"{r['moved_across_shards']:>6,}", flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
