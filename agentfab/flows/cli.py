"""The `agentfab` command line: the entry point with build and serve. The data commands are in cli_data.py,
the tool and domain commands in cli_worlds.py, one-line errors in cli_errors.py."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from agentfab import __version__
from agentfab.flows.cli_data import decontaminate, export, import_, inspect, schema, show, validate, versions
from agentfab.flows.cli_errors import UserError, stop_build, stop_on
from agentfab.flows.dataset_paths import OutFolder
from agentfab.flows.cli_worlds import domains, tools


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="agentfab")
def main() -> None:
    """Build verified training data for tool-using LLM agents.

    A recipe (YAML) says which worlds, how many tasks of which kinds, and which filters. `agentfab build`
    turns it into a folder of Parquet shards in one ADP-style schema, with a manifest and a dataset card;
    the other commands check, export and inspect that folder.

    \b
    Quick start:
      agentfab build data/recipes/quickstart.yaml
      agentfab inspect data/builds/quickstart
      agentfab export data/builds/quickstart --format openai --out train.jsonl
      agentfab import other.jsonl --format sharegpt --out data/builds/other
    """


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=OutFolder(),
              help="Output folder, or an fsspec URL such as s3://bucket/prefix (pip install 'agentfab[s3]'). "
                   "Default: data/builds/<recipe name>.")
@click.option("--records", type=int, help="Override the recipe's number of tasks.")
@click.option("--seed", type=int, help="Override the recipe's seed.")
@click.option("--workers", type=int, help="Worker processes for shards. Default: all cores; 1 runs in-process.")
@click.option("--overwrite", is_flag=True, help="Replace an output folder built from a different recipe.")
@click.option("--runner", "runner_kind", type=click.Choice(["process", "dask"]), default="process", show_default=True,
              help="Where shards run: a process pool on this machine, or a Dask cluster.")
@click.option("--address", help="With --runner dask: the scheduler, e.g. tcp://HOST:8786. Default: a LocalCluster "
                                "of --workers processes.")
@click.option("--extend", is_flag=True, help="Add a version to the dataset in --out: new shards with the seed of "
                                           "that version, deduplicated against every earlier version.")
@click.option("--quiet", is_flag=True, help="No progress bar; print only the summary.")
def build(recipe: Path, out: Path | str | None, records: int | None, seed: int | None,
          workers: int | None, overwrite: bool, runner_kind: str, address: str | None, extend: bool,
          quiet: bool) -> None:
    """Build a dataset from RECIPE, offline, with Prefect in its ephemeral mode.

    Re-running the same command resumes: finished shards are kept, unfinished ones are rebuilt. The same recipe
    and seed give the same rows on any machine.
    """
    from agentfab.flows.process_memory import collections_every

    with collections_every(50_000):  # this process imports, sets up, waits and checks; shards set their own
        _build(recipe, out, records, seed, workers, overwrite, runner_kind, address, extend, quiet)


def _build(recipe: Path, out: Path | str | None, records: int | None, seed: int | None,
           workers: int | None, overwrite: bool, runner_kind: str, address: str | None, extend: bool,
           quiet: bool) -> None:
    from agentfab.flows.prefect_env import configure, quiet_console

    from agentfab.flows.lifeline import ServerStartError, start_server

    configure()
    quiet_console()  # Prefect's log lines go to a file: a user error stays one line on stderr
    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    from agentfab.flows.recipe import RecipeError, load_recipe

    try:  # a broken recipe is one line before any server starts (build() reads it again, in microseconds)
        load_recipe(recipe, {"records": records, "seed": seed})
    except RecipeError as exc:
        raise UserError(str(exc)) from None
    start_server()  # before Prefect is imported: the server starts while this process imports and sets up
    from agentfab.flows.build import BuildError, build as run_build
    from agentfab.llm.errors import LLMError
    from agentfab.worlds.declared import DeclaredDomainError

    from agentfab.flows.runners import RunnerError, make_runner

    try:
        runner = make_runner(runner_kind, workers=workers or (os.cpu_count() or 1), address=address)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    progress = _Progress(quiet, out)
    runner.progress = progress.update  # the bar hears the build's events from the runner the build runs on
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop_build)
    try:
        with runner:
            # The build runs off the main thread so that Prefect's engine cannot swap in its own SIGTERM handler
            # (it installs one only on the main thread): that handler reported a crash to the server first and
            # left a terminated build alive for many seconds. Here SIGTERM and Ctrl-C reach `stop_build` at once.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentfab-build") as pool:
                manifest = pool.submit(run_build, recipe, out=out, records=records, seed=seed, overwrite=overwrite,
                                       runner=runner, extend=extend).result()
    except (RecipeError, BuildError, DeclaredDomainError, RunnerError, ServerStartError) as exc:
        raise UserError(str(exc)) from None
    except LLMError as exc:  # an endpoint that refuses or never answers: one line, finished shards kept
        raise UserError(f"{exc} [{exc.code}]; finished shards are kept, fix it and run the same command "
                        "again to resume") from None
    except ValueError as exc:  # e.g. a {python: module} that is not a domain
        raise UserError(str(exc)) from None
    except OSError as exc:  # a full disk, a read-only folder
        progress.close()
        stop_on(exc, out)
    finally:
        progress.close()
    _summary(manifest, out or Path("data/builds") / manifest["name"])
    _exit_without_teardown()


def _exit_without_teardown() -> None:
    """The build is done and said so: run what Python runs at exit (Prefect sends its last events, its server records
    them and stops, log files are flushed), then leave without freeing the heap object by object, which took 1-2 s
    after every build. Only as the program itself: a caller that swapped sys.stdout (CliRunner, pytest) goes on."""
    import atexit
    import sys
    import threading

    if sys.stdout is not sys.__stdout__:
        return
    threading._shutdown()  # type: ignore[attr-defined]  # joins threads, then Prefect's services drain (they hook here)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class _Progress:
    def __init__(self, quiet: bool, out: Path | None = None):
        self.quiet = quiet
        self.out = out
        self.bar: Any = None
        self.task: Any = None

    def update(self, event: str, data: dict[str, Any]) -> None:
        if event == "machine_error":  # a full disk: the build cannot go on, and its finished shards are kept
            self.close()
            stop_on(data["error"], self.out)
        if event == "damaged":  # even when quiet: the user must know a finished shard did not pass its check
            click.echo(f"warning: {data['problem']}; rebuilding shard {data['shard']}", err=True)
            return
        if self.quiet:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if event == "start":
            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("shards  {task.fields[rows]} rows (before cross-shard dedup)"),
                                TimeElapsedColumn(),
                                transient=False)
            self.bar.start()
            done = data["total"] - data["todo"]
            self.task = self.bar.add_task("building", total=data["total"], completed=done, rows=0)
        elif event == "shard_done" and self.bar is not None:
            rows = self.bar.tasks[0].fields["rows"] + data["stats"]["rows"]["accepted"]
            self.bar.update(self.task, advance=1, rows=rows)
        elif event == "finalize" and self.bar is not None:
            self.bar.update(self.task, description="finishing")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _summary(manifest: dict[str, Any], out: Path) -> None:
    from agentfab.schemas.codes import Reason
    from agentfab.schemas.manifest import Manifest

    m = Manifest.model_validate(manifest)
    click.echo(f"built {m.name}: {m.rows.accepted} accepted, {m.rows.rejected} rejected "
               f"({m.timings.shards_resumed} of {m.shards} shards resumed) in "
               f"{m.timings.total_seconds or 0:.1f}s -> {out}")
    top = sorted(m.reasons.items(), key=lambda kv: -kv[1].count)[:5]
    if top:
        click.echo("top rejection reasons: " + ", ".join(f"{c} {r.count}" for c, r in top))
    neg = m.negatives
    if neg.made:
        click.echo(f"negatives: {neg.made} made, {neg.caught_by_expected_code} caught by their expected "
                   f"code, {neg.escaped} escaped")
    raised = m.reasons.get(Reason.TOOL_RAISED)
    if raised is not None:
        click.echo(f"tool errors: {raised.count} records rejected because a {{python: module}} tool raised "
                   f"({Reason.TOOL_RAISED}){_raised_example(out)}")


def _raised_example(out: Path) -> str:
    """`, e.g. ID: tool X raised ...` from the rejected rows (empty if they cannot be read)."""
    import polars as pl

    from agentfab.schemas.codes import Reason

    try:
        hit = (pl.scan_parquet(out / "rejected" / "*.parquet")
               .select("id", pl.col("verification").struct.field("reasons"),
                       pl.col("verification").struct.field("details"))
               .filter(pl.col("reasons").list.contains(str(Reason.TOOL_RAISED))).head(1).collect())
    except (OSError, pl.exceptions.PolarsError):
        return ""
    if hit.is_empty():
        return ""
    detail = next((d for d in hit["details"][0] if d.startswith(Reason.TOOL_RAISED)), "")
    return f", e.g. {hit['id'][0]}: {detail.split(': ', 1)[-1]}"


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--cron", required=True, help='When to build, a cron expression in UTC, e.g. "0 3 * * *".')
@click.option("--out", type=OutFolder(),
              help="The dataset folder (or fsspec URL, e.g. s3://bucket/prefix) each run adds a version to. "
                   "Default: data/builds/<recipe name>.")
@click.option("--name", help="Deployment name. Default: the recipe's name.")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes per run.")
@click.option("--port", type=int, help="Port of the local Prefect server agentfab starts (default: a free one).")
def serve(recipe: Path, cron: str, out: Path | str | None, name: str | None, workers: int,
          port: int | None) -> None:
    """Build RECIPE on a schedule: every run adds a version to one dataset folder (see `agentfab versions`).

    Uses the Prefect server named by PREFECT_API_URL, or starts a local `prefect server` on 127.0.0.1 (and stops
    it on exit); either way it prints the API and UI addresses. Trigger a run now with
    `prefect deployment run 'agentfab-scheduled-build/NAME'`. Version N's seed derives from the recipe seed and N.
    """
    from agentfab.flows.prefect_env import configure

    configure()
    from prefect.schedules import Cron

    from agentfab.flows.recipe import RecipeError, load_recipe
    from agentfab.flows.serve import ServerError, find_or_start_server, interrupt_on_sigterm, serve_recipe

    try:
        Cron(cron, timezone="UTC")
    except ValueError as exc:
        raise UserError(f"--cron: {exc}; e.g. --cron \"0 3 * * *\" (03:00 UTC daily)") from None
    try:
        parsed, _ = load_recipe(recipe, {})
    except RecipeError as exc:
        raise UserError(str(exc)) from None
    target = out if isinstance(out, str) else (out or Path("data") / "builds" / parsed.name).resolve()
    interrupt_on_sigterm()
    try:
        server = find_or_start_server(port)
    except ServerError as exc:
        raise UserError(str(exc)) from None
    try:
        serve_recipe(recipe.resolve(), cron=cron, out=target, name=name or parsed.name, workers=workers,
                     server=server, announce=click.echo)
    except KeyboardInterrupt:
        click.echo("stopped serving", err=True)
    finally:
        server.stop()


for command in (validate, schema, export, import_, tools, domains, inspect, show, versions, decontaminate):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
