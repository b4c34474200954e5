"""The commands that read or write a dataset folder: validate, export, import, inspect, show, versions,
decontaminate, and the data contracts' JSON Schemas (schema)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agentfab.flows.cli_errors import UserError, os_error
from agentfab.flows.dataset_paths import DatasetFolder, LocalPath
from agentfab.flows.object_store import lineage_only


@click.command()
@click.argument("dataset", type=DatasetFolder())
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


@click.command()
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


@click.command()
@click.argument("dataset", type=DatasetFolder())
@click.option("--format", "fmt", required=True, help="adp-jsonl, openai, hf, sharegpt, hermes or dpo.")
@click.option("--out", required=True, type=LocalPath(dir_okay=False, path_type=Path), help="Output file.")
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
        raise UserError(os_error(exc)) from None
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


@click.command(name="import")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--format", "fmt", required=True, help="openai, hf, sharegpt, hermes or xlam.")
@click.option("--out", required=True, type=LocalPath(file_okay=False, path_type=Path),
              help="Dataset folder to write.")
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
        raise UserError(os_error(exc)) from None
    for line in import_report_lines(summary):
        click.echo(line)


@click.command()
@click.argument("dataset", type=DatasetFolder(exists=False))
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


@click.command()
@click.argument("dataset", type=DatasetFolder(exists=False))
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


@click.command()
@click.argument("dataset", type=DatasetFolder(wanted=lineage_only))
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


@click.command()
@click.argument("dataset", type=LocalPath(file_okay=False, exists=True, path_type=Path))
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
