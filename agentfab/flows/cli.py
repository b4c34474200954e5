"""The `agentfab` command line: build, validate, export, inspect, show, schema."""

from __future__ import annotations

import errno
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from agentfab import __version__


class UserError(click.ClickException):
    """Printed as one `error: ...` line and exit code 2; never a traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


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
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder. Default: data/builds/<recipe name>.")
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
def build(recipe: Path, out: Path | None, records: int | None, seed: int | None, workers: int | None,
          overwrite: bool, runner_kind: str, address: str | None, extend: bool, quiet: bool) -> None:
    """Build a dataset from RECIPE, offline, with Prefect in its ephemeral mode.

    Re-running the same command resumes: finished shards are kept, unfinished ones are rebuilt. The same recipe
    and seed give the same rows on any machine.
    """
    from agentfab.flows.prefect_env import configure

    configure()
    from agentfab.flows.build import BuildError, build as run_build, set_progress
    from agentfab.flows.recipe import RecipeError
    from agentfab.llm.client import LLMError
    from agentfab.worlds.declared import DeclaredDomainError

    from agentfab.flows.runners import RunnerError, make_runner

    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    try:
        runner = make_runner(runner_kind, workers=workers or (os.cpu_count() or 1), address=address)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    progress = _Progress(quiet, out)
    set_progress(progress.update)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_build)
    try:
        with runner:
            # The build runs off the main thread so that Prefect's engine cannot swap in its own SIGTERM handler
            # (it installs one only on the main thread): that handler reported a crash to the server first and
            # left a terminated build alive for many seconds. Here SIGTERM and Ctrl-C reach `_stop_build` at once.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentfab-build") as pool:
                manifest = pool.submit(run_build, recipe, out=out, records=records, seed=seed, overwrite=overwrite,
                                       runner=runner, extend=extend).result()
    except (RecipeError, BuildError, DeclaredDomainError, RunnerError) as exc:
        raise UserError(str(exc)) from None
    except LLMError as exc:  # an endpoint that refuses or never answers: one line, finished shards kept
        raise UserError(f"{exc} [{exc.code}]; finished shards are kept, fix it and run the same command "
                        "again to resume") from None
    except ValueError as exc:  # e.g. a {python: module} that is not a domain
        raise UserError(str(exc)) from None
    except OSError as exc:  # a full disk, a read-only folder
        progress.close()
        _stop_on(exc, out)
    finally:
        progress.close()
        set_progress(None)
    _summary(manifest, out or Path("data/builds") / manifest["name"])


def _stop_build(signum: int, _frame: Any) -> None:
    """Ctrl-C or SIGTERM (a service manager, a CI cancel): one line, exit 128+signal, at once.

    Finished shards are already on disk, and a shard being written is a temporary file the next run removes. No
    clean-up runs: waiting for Prefect to flush its events took minutes with many shards. Worker processes and
    Prefect's server die with this process (see start_pool and lifeline.py); the OS releases the folder's lock.
    """
    restore = "\x1b[?25h" if sys.stderr.isatty() else ""  # the progress bar hides the cursor
    os.write(2, f"{restore}\ninterrupted: finished shards are kept; run the same command again to resume\n".encode())
    os._exit(128 + signum)


def _stop_on(exc: OSError, out: Path | None) -> None:
    """One line and out at once: Prefect's shutdown after a failed write would print pages of its own errors."""
    click.echo(f"error: {_os_error(exc, out)}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(UserError.exit_code)


def _os_error(exc: OSError, out: Path | None = None) -> str:
    """An OS failure while writing, as one line naming the file (or the output folder) and what to do."""
    where = f"{exc.filename}: " if exc.filename else (f"{out}: " if out else "")
    what = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"{where}no space left on device; free some space and run the same command again to resume"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}{what}; choose an --out folder you can write to"
    return f"{where}{what}"


class _Progress:
    def __init__(self, quiet: bool, out: Path | None = None):
        self.quiet = quiet
        self.out = out
        self.bar: Any = None
        self.task: Any = None

    def update(self, event: str, data: dict[str, Any]) -> None:
        if event == "machine_error":  # a full disk: the build cannot go on, and its finished shards are kept
            self.close()
            _stop_on(data["error"], self.out)
        if event == "damaged":  # even when quiet: the user must know a finished shard did not pass its check
            click.echo(f"warning: {data['problem']}; rebuilding shard {data['shard']}", err=True)
            return
        if self.quiet:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if event == "start":
            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("shards  {task.fields[rows]} rows accepted"), TimeElapsedColumn(),
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


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--rejected", "include_rejected", is_flag=True, help="Also re-check rejected rows (they must fail).")
def validate(dataset: Path, include_rejected: bool) -> None:
    """Re-check a written DATASET: the whole folder, then every accepted row by schema, replay and ground truth.

    The folder: every shard present and matching the checksum and row count recorded when it was written, the
    stats readable, the manifest consistent with the files, one recipe hash everywhere, no id twice. Exits 1 and
    names each damaged or missing file, or prints counts per reason code if any accepted row fails (or, with
    --rejected, if a rejected row passes).
    """
    from agentfab.flows.integrity import problems
    from agentfab.flows.revalidate import revalidate

    found = problems(dataset)
    if found:
        click.echo(f"{dataset} is not whole: {len(found)} problem{'s' if len(found) > 1 else ''}")
        for line in found:
            click.echo(f"  {line}")
    if (dataset / "import.json").is_file() and not (dataset / "build.json").is_file():
        if found:
            sys.exit(1)
        click.echo(f"{dataset} (written by `agentfab import`) is whole; its rows were verified when imported")
        return
    try:
        report = revalidate(dataset, include_rejected=include_rejected)
    except (FileNotFoundError, ValueError) as exc:
        if found:  # already explained above; the rows cannot be re-checked until the files are repaired
            click.echo(f"rows not re-checked: {exc}")
            sys.exit(1)
        raise UserError(str(exc)) from None
    click.echo(f"checked {report.checked} rows: {report.failed} failed")
    for code, n in sorted(report.codes.items()):
        click.echo(f"  {code}: {n}")
    for line in report.examples[:10]:
        click.echo(f"  e.g. {line}")
    if report.failed or found:
        sys.exit(1)


@main.command()
@click.option("--write", is_flag=True, help="Regenerate the committed JSON Schema files from the models.")
@click.option("--check", is_flag=True, help="Exit 1 if the committed files differ from the models.")
@click.argument("name", required=False)
def schema(write: bool, check: bool, name: str | None) -> None:
    """Print (or --write, --check) the JSON Schemas of the data contracts.

    NAME is one of tool_spec, task, trajectory, dataset_row; without it, all are listed.
    """
    from agentfab.schemas.publish import JSON_DIR, PUBLISHED, render, stale, write as write_all

    if write:
        for path in write_all():
            click.echo(f"wrote {path}")
        return
    if check:
        bad = stale()
        if bad:
            click.echo(f"stale: {', '.join(bad)}; run `agentfab schema --write`", err=True)
            sys.exit(1)
        click.echo("schemas are up to date")
        return
    if name is None:
        for key in PUBLISHED:
            click.echo(f"{key}\t{JSON_DIR / (key + '.schema.json')}")
        return
    if name not in PUBLISHED:
        raise UserError(f"unknown schema {name!r}; choose one of {', '.join(PUBLISHED)}")
    click.echo(render(PUBLISHED[name]), nl=False)


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--format", "fmt", required=True, help="adp-jsonl, openai, hf, sharegpt, hermes or dpo.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output file.")
@click.option("--where", help='A SQL condition on the columns, e.g. "depth >= 2 AND domain = \'bank\'".')
@click.option("--kind", multiple=True, help="Keep only these task kinds (repeatable).")
@click.option("--domain", multiple=True, help="Keep only these domains (repeatable).")
@click.option("--min-depth", type=int, help="Keep rows with depth >= N.")
@click.option("--min-score", type=float, help="Keep rows with judge score >= X.")
@click.option("--no-reasoning", is_flag=True, help="Drop the reasoning text shown before calls.")
@click.option("--val-fraction", type=float, default=0.0, show_default=True,
              help="Also write OUT with .val before the suffix: a split by task family.")
@click.option("--version", "version", type=int, help="The dataset as of this version (see `agentfab versions`).")
@click.option("--partial", is_flag=True,
              help="Export an unfinished or damaged build: only its intact shards; OUT.partial.json says what is "
                   "missing.")
def export(dataset: Path, fmt: str, out: Path, where: str | None, kind: tuple[str, ...], domain: tuple[str, ...],
           min_depth: int | None, min_score: float | None, no_reasoning: bool, val_fraction: float,
           version: int | None, partial: bool) -> None:
    """Export a built DATASET to a trainer format (JSONL).

    Filters select rows; the train/validation split keeps every extension of one atomic task on one side. An
    unfinished or damaged build is refused (`agentfab validate` says what is wrong) unless --partial.
    """
    from agentfab.flows.exporting import run_export
    from agentfab.flows.integrity import whole_shards

    try:
        reports = run_export(dataset, fmt, out, where=where, kinds=list(kind), domains=list(domain),
                             min_depth=min_depth, min_score=min_score, reasoning=not no_reasoning,
                             val_fraction=val_fraction, version=version, partial=partial)
        if partial:
            good, bad = whole_shards(dataset)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(_os_error(exc)) from None
    if partial:
        import json as _json

        marker = out.with_name(out.name + ".partial.json")
        marker.write_text(_json.dumps({"partial": True, "dataset": str(dataset), "shards_exported": good,
                                       "not_exported": bad}, indent=2) + "\n", encoding="utf-8")
        click.echo(f"warning: PARTIAL export: {len(good)} intact shards of {len(good) + len(bad)}; "
                   f"what is missing is listed in {marker}", err=True)
    for report in reports:
        click.echo(f"wrote {report.records} {report.fmt} records to {report.path}")
        for reason, n in sorted(report.skipped.items()):
            click.echo(f"  skipped {n}: {reason}")
        for sidecar in report.sidecars:
            click.echo(f"  also wrote {sidecar}")


@main.command(name="import")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--format", "fmt", required=True, help="openai, hf, sharegpt, hermes or xlam.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset folder to write.")
@click.option("--world", help="A built-in world whose tools the data calls: those calls are replayed and checked.")
@click.option("--world-seed", type=int, default=0, show_default=True, help="Seed of that world's state.")
def import_(source: Path, fmt: str, out: Path, world: str | None, world_seed: int) -> None:
    """Import trajectories from SOURCE (a .jsonl or .json file) into ADP rows, re-verified.

    Every record is checked for roles, call/result pairing, known tools and arguments valid under each tool's
    JSON Schema; with --world, calls are also replayed. Malformed records are listed with their line number and
    skipped; the rest are written to OUT/shards (passed) and OUT/rejected (failed, with reason codes), ready for
    `agentfab export`.
    """
    from agentfab.flows.importing import import_report_lines, run_import
    from agentfab.worlds.registry import BUILTIN

    if world is not None and world not in BUILTIN:
        raise UserError(f"unknown world {world!r}; built-in worlds are: {', '.join(BUILTIN)}")
    try:
        summary = run_import(source, fmt, out, world=world, world_seed=world_seed)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(_os_error(exc)) from None
    for line in import_report_lines(summary):
        click.echo(line)


@main.command()
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(["openapi", "mcp", "json"]),
              help="An OpenAPI 3 document (JSON or YAML), an MCP tools/list result, or a JSON list of tools.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the ToolSpecs here (JSON).")
def tools(source: Path, fmt: str, out: Path | None) -> None:
    """Convert tool definitions in SOURCE into agentfab ToolSpecs (JSON Schema parameters and results).

    Remote $refs are refused and never fetched; oversized or deeply nested schemas fail with a clear error.
    """
    import json as _json

    from agentfab.formats.toolspecs import ToolImportError, tools_from_json, tools_from_mcp, tools_from_openapi

    convert = {"openapi": tools_from_openapi, "mcp": tools_from_mcp, "json": tools_from_json}[fmt]
    try:
        specs = convert(source)
    except (ToolImportError, ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    text = _json.dumps([s.model_dump() for s in specs], indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(specs)} tools to {out}")


@main.group()
def domains() -> None:
    """Synthesize declared domains from agentfab's vocabulary; show the world inferred from an OpenAPI document."""


@domains.command(name="synthesize")
@click.option("--n", "n", type=int, required=True, help="How many domains to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same domains.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the files.")
def synthesize(n: int, seed: int, out: Path) -> None:
    """Write N synthesized declared domains to OUT, one NAME.yaml each, every one validated and built.

    Use one with `worlds: [{declared: OUT/NAME.yaml}]`, or all of them at once with
    `worlds: [{synthesize: {domains: N, seed: SEED}}]` (the same domains, without the files).
    """
    from agentfab.generators.domains import SynthesisError, domain_yaml, synthesize_domains
    from agentfab.worlds.declared import DeclaredDomainError, declared_domain_from_dict

    if seed < 0:
        raise UserError("--seed must be >= 0")
    try:
        specs = synthesize_domains(n, seed)
        tools = sum(len(declared_domain_from_dict(s, source="synthesized", where=s["name"]).tools) for s in specs)
    except (SynthesisError, DeclaredDomainError) as exc:
        raise UserError(str(exc).replace("domains:", "--n:", 1)) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        for spec in specs:
            (out / f"{spec['name']}.yaml").write_text(domain_yaml(spec, seed=seed), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write the domain files ({exc.strerror or exc})") from None
    click.echo(f"wrote {len(specs)} domains ({tools} tools) to {out}")


@domains.command(name="propose")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--theme", required=True, help="What the domain is about, e.g. 'a veterinary clinic'.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The YAML file to write.")
def propose(recipe: Path, theme: str, out: Path) -> None:
    """Ask the RECIPE's `models.generator` for a new domain about THEME, as declared-domain data (never code):
    validated by the same schema as a hand-written domain file and built into executable tools before it is
    written. Use it with `worlds: [{declared: OUT}]`."""
    import asyncio

    import yaml

    from agentfab.flows.recipe import RecipeError, load_recipe
    from agentfab.generators.domains import synthesize_domains
    from agentfab.llm.cache import RequestCache
    from agentfab.llm.client import LLMError, RoleClient
    from agentfab.llm.domains import DomainRejected, propose_domain

    try:
        parsed, _ = load_recipe(recipe)
    except RecipeError as exc:
        raise UserError(str(exc)) from None
    if parsed.models.generator is None:
        raise UserError(f"{recipe.name}: models.generator is missing (base_url, model, api_key_env)")

    async def ask() -> tuple[dict, object]:
        client = RoleClient("generator", parsed.models.generator, RequestCache(None))
        try:
            return await propose_domain(client, theme, synthesize_domains(1, 0)[0])
        finally:
            await client.close()

    try:
        spec, domain = asyncio.run(ask())
    except (LLMError, DomainRejected) as exc:
        raise UserError(str(exc)) from None
    try:
        out.write_text(f"# proposed by {parsed.models.generator.model} for theme {theme!r}\n"
                       + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror or exc})") from None
    click.echo(f"wrote domain {spec.get('name')} ({len(domain.tools)} executable tools) to {out}")


@domains.command(name="openapi")
@click.argument("document", type=click.Path(dir_okay=False, path_type=Path))
def openapi(document: Path) -> None:
    """Show the executable world agentfab infers from an OpenAPI 3 DOCUMENT: its tools (the document's own
    operations) and the operations left out, each with the reason.

    Use the document in a recipe with `worlds: [{openapi: DOCUMENT}]`.
    """
    from agentfab.flows.openapi_world import inferred
    from agentfab.worlds.openapi import OpenAPIWorldError

    if not document.is_file():
        raise UserError(f"{document}: no such file")
    try:
        domain, skipped = inferred(str(document.resolve()))
    except OpenAPIWorldError as exc:
        raise UserError(str(exc)) from None
    tables = domain.seed_state(0)
    click.echo(f"domain {domain.name}: {len(domain.tools)} executable tools over "
               + ", ".join(f"{t} ({len(rows)} seeded)" for t, rows in tables.items()))
    for t in domain.tools:
        required = t.spec.parameters.get("required", [])
        click.echo(f"  {t.name}({', '.join(required)}){'  [mutates]' if t.spec.mutates else ''}")
    click.echo(f"left out: {len(skipped)} operation(s)")
    for s in skipped:
        click.echo(f"  {s.operation}: {s.reason}")


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report (plots, samples) to this file.")
@click.option("--version", "version", type=int, help="The dataset as of this version (see `agentfab versions`).")
def inspect(dataset: Path, html_out: Path | None, version: int | None) -> None:
    """Summarize a built DATASET: counts, the funnel with reason codes, distributions, tools, lengths.

    With --html, write one offline HTML file with plots and accepted/rejected samples side by side.
    """
    from agentfab.flows.integrity import require_whole
    from agentfab.inspect import summarize, write_report

    try:
        require_whole(dataset)
        if (dataset / "import.json").is_file() and not (dataset / "build.json").is_file():
            raise ValueError(f"{dataset} was written by `agentfab import`, which keeps no build funnel or "
                             f"distributions to summarize: its counts are in {dataset / 'import.json'}; read a row "
                             f"with `agentfab show {dataset} ID`, or export it")
        click.echo(summarize(dataset, version), nl=False)
        if html_out is not None:
            click.echo(f"wrote {write_report(dataset, html_out)}")
    except ValueError as exc:
        raise UserError(str(exc)) from None


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@click.argument("row_id")
def show(dataset: Path, row_id: str) -> None:
    """Show one trajectory of DATASET (accepted or rejected) as a readable conversation, with its verdict."""
    from agentfab.flows.integrity import require_whole
    from agentfab.inspect import find_row, render_trajectory

    try:
        require_whole(dataset)  # every checksum: a damaged file is named, never shown as if it were data
        click.echo(render_trajectory(find_row(dataset, row_id)))
    except ValueError as exc:
        raise UserError(str(exc)) from None


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--cron", required=True, help='When to build, a cron expression in UTC, e.g. "0 3 * * *".')
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="The dataset folder each run adds a version to. Default: data/builds/<recipe name>.")
@click.option("--name", help="Deployment name. Default: the recipe's name.")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes per run.")
@click.option("--port", type=int, help="Port of the local Prefect server agentfab starts (default: a free one).")
def serve(recipe: Path, cron: str, out: Path | None, name: str | None, workers: int, port: int | None) -> None:
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
    target = (out or Path("data") / "builds" / parsed.name).resolve()
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


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True, path_type=Path))
def versions(dataset: Path) -> None:
    """List the complete versions of DATASET with their lineage (parent, seed, shards added, counts).

    A version is added by `agentfab build --extend` or a scheduled run (`agentfab serve`); one still being built
    is shown as in progress, never as complete.
    """
    from agentfab.flows.lineage import building_version, lineage

    known = lineage(dataset)
    if not known and not (dataset / "build.json").exists():
        raise UserError(f"{dataset} is not an agentfab build (no manifest.json or build.json)")
    click.echo("version  parent  seed                  shards  accepted  rejected  moved  contaminated  finished")
    for v in known:
        moved = sum((v.get("moved_across_shards") or {}).values())
        click.echo(f"{v['version']:>7}  {str(v['parent'] or '-'):>6}  {v['seed']:<20}  {len(v['shards']):>6}  "
                   f"{v['rows'].get('accepted', 0):>8}  {v['rows'].get('rejected', 0):>8}  {moved:>5}  "
                   f"{v.get('contaminated', 0):>12}  {v.get('finished_at', '')}")
    pending = building_version(dataset)
    if (dataset / "build.json").exists() and pending > max((v["version"] for v in known), default=0):
        click.echo(f"version {pending}: in progress (not complete); run the same build command to resume it")


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False, exists=True, path_type=Path))
def decontaminate(dataset: Path) -> None:
    """Check DATASET (built or imported) against public function-calling test sets (BFCL).

    Accepted rows whose request contains a test query, whose calls are a test item's expected calls, or whose
    offered tools are a benchmark's function definitions move to rejected/ with the code dedup.contaminated.
    """
    from agentfab.flows.benchmark_sets import BenchmarkUnavailable
    from agentfab.flows.decontaminate import decontaminate_dataset

    try:
        report = decontaminate_dataset(dataset)
    except (BenchmarkUnavailable, ValueError) as exc:
        raise UserError(str(exc)) from None
    total = sum(sum(c.values()) for c in report.contaminated.values())
    click.echo(f"checked {report.checked} accepted rows: {total} contaminated")
    for bench, tests in sorted(report.contaminated.items()):
        click.echo(f"  {bench}: " + ", ".join(f"{t} {n}" for t, n in sorted(tests.items())))
    for line in report.examples:
        click.echo(f"  e.g. {line}")


if __name__ == "__main__":  # pragma: no cover
    main()
