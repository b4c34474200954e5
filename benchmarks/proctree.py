"""Peak RSS and CPU seconds of a running command's process tree, by role: the driver (the command itself), the
workers (shard processes or Dask workers) and Prefect's temporary API server.

Used by build_offline.py --cli and build_scale.py. CPU is read two ways: every 0.2 s from each live process
(by role; a process that exits between two samples loses at most its last 0.2 s), and, once the command has
exited, from the kernel's rusage of all its waited-for descendants (the total, exact).
"""

from __future__ import annotations

import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import psutil

ROLES = ("driver", "worker", "prefect server")


def role(proc: psutil.Process) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "worker"
    # Prefect's server runs as `-m uvicorn` (or through agentfab's lifeline, which runs uvicorn in-process)
    return "prefect server" if ("uvicorn" in cmd or "prefect.server" in cmd or "flows.lifeline" in cmd) else "worker"


class Sampler(threading.Thread):
    """Samples a process tree until `done` is set: peak RSS per role and per-process CPU seconds."""

    def __init__(self, pid: int, every: float = 0.2, progress: Callable[[], int] | None = None,
                 timeline_every: float = 5.0):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.every = every
        # with `progress` (e.g. shards done so far): every `timeline_every` s, (seconds, progress, driver RSS,
        # largest worker RSS, workers together) in bytes, to show how memory moves through a run
        self.progress, self.timeline_every = progress, timeline_every
        self.timeline: list[tuple[float, int, int, int, int]] = []
        self.peak = dict.fromkeys((*ROLES, "workers together"), 0)
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (role, user + system seconds last seen)
        self.done = threading.Event()

    def _sample(self, proc: psutil.Process, name: str) -> int:
        with proc.oneshot():
            rss = proc.memory_info().rss
            t = proc.cpu_times()
        self.cpu[proc.pid] = (name, t.user + t.system)
        self.peak[name] = max(self.peak[name], rss)
        return rss

    def run(self) -> None:
        started = next_point = time.perf_counter()
        while not self.done.is_set():
            try:
                driver = self._sample(self.root, "driver")
                together = largest = 0
                for child in self.root.children(recursive=True):
                    try:
                        # not cached: sampled between fork and exec, the server looks like its parent; once seen as
                        # the server it stays the server (an exiting process's command line reads as empty)
                        seen = self.cpu.get(child.pid, ("",))[0]
                        name = seen if seen == "prefect server" else role(child)
                        rss = self._sample(child, name)
                    except psutil.Error:
                        continue
                    if name == "worker":
                        together += rss
                        largest = max(largest, rss)
                self.peak["workers together"] = max(self.peak["workers together"], together)
                now = time.perf_counter()
                if self.progress is not None and now >= next_point:
                    self.timeline.append((now - started, self.progress(), driver, largest, together))
                    next_point = now + self.timeline_every
            except psutil.Error:
                pass
            time.sleep(self.every)

    def cpu_by_role(self) -> dict[str, float]:
        out = dict.fromkeys(ROLES, 0.0)
        for name, seconds in self.cpu.values():
            out[name] += seconds
        return out


@dataclass
class TreeRun:
    returncode: int
    wall: float
    cpu: float  # user + system of the command and every descendant it waited for
    cpu_by_role: dict[str, float] = field(default_factory=dict)  # sampled
    peak_mb: dict[str, float] = field(default_factory=dict)
    stderr: str = ""
    timeline: list[tuple[float, int, int, int, int]] = field(default_factory=list)  # see Sampler.timeline


def run_tree(cmd: list[str], progress: Callable[[], int] | None = None, timeline_every: float = 5.0) -> TreeRun:
    """Run `cmd` to completion while sampling its process tree (and, with `progress`, its memory over time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid, progress=progress, timeline_every=timeline_every)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return TreeRun(proc.returncode, wall, cpu, sampler.cpu_by_role(),
                   {k: v / 2**20 for k, v in sampler.peak.items()}, err, sampler.timeline)
