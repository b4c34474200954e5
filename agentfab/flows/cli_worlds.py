"""The commands about tools and worlds: convert tool definitions (tools); synthesize, propose or infer
domains (domains)."""

from __future__ import annotations

from pathlib import Path

import click

from agentfab.flows.cli_errors import UserError


@click.command()
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


@click.group()
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
