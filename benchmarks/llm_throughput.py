"""LLM build throughput against the loopback OpenAI-compatible server with a fixed latency.

    python benchmarks/llm_throughput.py                          # C=64 requests in flight, L=100 ms, agent role
    python benchmarks/llm_throughput.py --concurrency 128 --latency 0.05 --roles agent,judge,generator

The server runs in its own process (`python -m agentfab.llm.loopback`), answering as a scripted model that replays
good agent turns, so the client's work per request is what is measured. A client can do at most C/L requests per
second; the figure to watch is "NN% of C/L" (target >= 90% at C=64, L=100 ms on 2 cores). Also printed: client CPU
per request, the server's CPU per request (it must not compete with the client for a core), accepted records/s,
and the time of a re-run served entirely by the request cache. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--records", type=int, default=1500)
    ap.add_argument("--roles", default="agent", help="comma-separated LLM roles: agent, judge, generator")
    ap.add_argument("--worlds", default="bank, shop, travel, calendar, library")
    ap.add_argument("--bare", type=int, default=2000, metavar="N",
                    help="also time N requests from a bare AsyncOpenAI loop (aiohttp transport, a semaphore of C) "
                    "against the same server, as a reference for the same machine load; 0 to skip")
    args = ap.parse_args()

    from agentfab.flows.prefect_env import configure

    configure()
    import polars as pl

    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, build_shard
    from agentfab.llm.loopback import agent_script

    tmp = Path(tempfile.mkdtemp(prefix="agentfab-llm-bench-"))
    worlds = [w.strip() for w in args.worlds.split(",")]
    base = {"name": "llmbench", "seed": 1, "records": args.records, "shard_size": args.records, "worlds": worlds,
            "negatives": 0.0}

    def run_shard(recipe_dict: dict, out: Path) -> dict:
        recipe = parse_recipe(recipe_dict)
        out.mkdir(parents=True, exist_ok=True)
        return build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(out), 0))

    # 1. the oracle's trajectories of the same tasks: the scripted model replays them
    run_shard(base, tmp / "oracle")
    rows = [r for f in ("shards", "rejected") for r in pl.read_parquet(tmp / "oracle" / f / "*.parquet").to_dicts()]
    script_path = tmp / "script.json"
    script_path.write_text(json.dumps(agent_script(rows)))

    server = subprocess.Popen([sys.executable, "-m", "agentfab.llm.loopback", "--script", str(script_path),
                               "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        roles = [r.strip() for r in args.roles.split(",") if r.strip()]
        role = {"base_url": url, "model": "bench", "max_concurrency": args.concurrency, "timeout": 30,
                "sampling": {"temperature": 0.0}, "prices": {"input": 0.15, "output": 0.6}}
        recipe = {**base, "models": {r: role for r in roles},
                  "rollouts": {"agent": "llm" if "agent" in roles else "oracle", "max_steps": 12},
                  "filters": {"judge": {"engine": "llm" if "judge" in roles else "rules", "min_score": 3}}}

        def served() -> int:
            with urllib.request.urlopen(url.removesuffix("/v1") + "/stats") as r:
                return json.loads(r.read())["requests"]

        import psutil

        def server_cpu() -> float:
            t = psutil.Process(server.pid).cpu_times()
            return t.user + t.system

        # 2. the LLM build: a window of the shard's records in flight, C requests at a time
        cpu0, sent0, server0 = time.process_time(), served(), server_cpu()
        stats = run_shard(recipe, tmp / "llm")
        cpu = time.process_time() - cpu0
        requests = served() - sent0
        server_cpu_used = server_cpu() - server0
        llm_seconds = stats["timings"]["llm"]
        rate = requests / llm_seconds
        limit = args.concurrency / args.latency

        bare_rate = bare_loop(url, args.concurrency, args.bare) if args.bare else None

        # 3. the same build again from the request cache alone
        for f in ("shards", "rejected", "stats"):
            shutil.rmtree(tmp / "llm" / f, ignore_errors=True)
        t0, sent1 = time.perf_counter(), served()
        again = run_shard(recipe, tmp / "llm")
        rerun = time.perf_counter() - t0
        rerun_requests = served() - sent1
    finally:
        server.terminate()
        server.wait()

    accepted = stats["rows"]["accepted"]
    print(f"machine: {os.cpu_count()} cores (shared: figures are noisy when others load it)")
    print(f"workload: {args.records} records, roles {','.join(roles)}, C={args.concurrency}, "
          f"L={args.latency * 1000:.0f} ms, server in its own process")
    print(f"requests: {requests} in {llm_seconds:.2f} s of LLM stages = {rate:.0f} requests/s "
          f"= {100 * rate / limit:.0f}% of C/L ({limit:.0f}/s)")
    if bare_rate is not None:
        print(f"reference, bare AsyncOpenAI loop now: {bare_rate:.0f} requests/s = {100 * bare_rate / limit:.0f}% of C/L")
    print(f"client CPU per request: {1000 * cpu / max(1, requests):.3f} ms "
          f"(whole shard in this process: compose, verify, write included)")
    print(f"loopback server CPU per request: {1000 * server_cpu_used / max(1, requests):.3f} ms "
          f"({100 * server_cpu_used / llm_seconds:.0f}% of one core during the LLM stages)")
    print(f"accepted records: {accepted} of {stats['tasks']} = {accepted / stats['seconds']:.0f} accepted/s "
          f"(shard wall {stats['seconds']:.2f} s)")
    print(f"cache-hit re-run: {rerun:.2f} s, {rerun_requests} requests sent, "
          f"{again['llm']['usage']['agent']['cache_hits'] if 'agent' in roles else '-'} cache hits")
    shutil.rmtree(tmp, ignore_errors=True)


def bare_loop(url: str, concurrency: int, n: int) -> float:
    """Requests/s of the simplest client: chat.completions.create under a semaphore, nothing else."""
    import asyncio

    import openai

    async def run() -> float:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0, http_client=openai.DefaultAioHttpClient())
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await client.chat.completions.create(model="bench", messages=[{"role": "user", "content": f"q{i}"}])

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        took = time.perf_counter() - started
        await client.close()
        return n / took

    return asyncio.run(run())


if __name__ == "__main__":
    main()
