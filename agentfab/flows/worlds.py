"""From a recipe's `worlds:` entries to the domains a build runs on.

Most entries are one domain (a built-in name, `{declared: ...}`, `{python: ...}`, `{openapi: FILE}`); a
`{synthesize: {domains: N, seed: S}}` entry is N domains. Each domain gets a *label*, stored in every row's
provenance, from which `agentfab validate` finds the same domain again; a world's seed per shard derives from it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agentfab.flows.recipe import DeclaredWorld, OpenAPIWorld, PythonWorld, SynthesizeWorld, ToolsWorld, WorldRef
from agentfab.worlds.core import Domain, canonical_json
from agentfab.worlds.declared import DeclaredDomainError
from agentfab.worlds.registry import builtin_domain, declared_domain, python_domain


def world_label(ref: WorldRef) -> str:
    return ref if isinstance(ref, str) else canonical_json(ref.model_dump())


def world_file(name: str, recipe_dir: Path, what: str = "declared domain") -> Path:
    """A file a recipe names: absolute, or relative to the recipe's folder, then to the current folder."""
    path = Path(name)
    if path.is_absolute():
        return path
    candidates = [recipe_dir / path, Path.cwd() / path]
    found = [c for c in candidates if c.exists()]
    if not found:
        raise DeclaredDomainError(f"{what} {name!r} not found next to the recipe ({candidates[0]}) or in the "
                                  f"current folder ({candidates[1]})")
    return found[0].resolve()


def world_files(worlds: list[WorldRef], recipe_dir: Path) -> dict[str, str]:
    """Every declared domain or OpenAPI file of a recipe, as written there -> its absolute path: stored in
    build.json, so that a build can be re-checked from any folder."""
    out = {}
    for ref in worlds:
        if isinstance(ref, DeclaredWorld) and isinstance(ref.declared, str):
            out[ref.declared] = str(world_file(ref.declared, recipe_dir))
        elif isinstance(ref, OpenAPIWorld):
            out[ref.openapi] = str(world_file(ref.openapi, recipe_dir, "OpenAPI document"))
        elif isinstance(ref, ToolsWorld):
            out[ref.tools] = str(world_file(ref.tools, recipe_dir, "tool list"))
    return out


def load_world(ref: WorldRef, recipe_dir: Path, files: dict[str, str] | None = None) -> Domain:
    """The one domain of a single-domain entry (every kind but `synthesize`); `files` (from build.json) pins where
    declared domain and OpenAPI files were found."""
    if isinstance(ref, str):
        return builtin_domain(ref)
    if isinstance(ref, PythonWorld):
        return python_domain(ref.python)
    if isinstance(ref, DeclaredWorld):
        if isinstance(ref.declared, dict):
            from agentfab.worlds.declared import declared_domain_from_dict

            return declared_domain_from_dict(ref.declared, source="declared", where="recipe worlds")
        pinned = (files or {}).get(ref.declared)
        return declared_domain(pinned or str(world_file(ref.declared, recipe_dir)))
    if isinstance(ref, OpenAPIWorld):
        from agentfab.flows.openapi_world import openapi_domain

        pinned = (files or {}).get(ref.openapi)
        return openapi_domain(pinned or str(world_file(ref.openapi, recipe_dir, "OpenAPI document")))
    if isinstance(ref, ToolsWorld):
        pinned = (files or {}).get(ref.tools)
        return simulated_tools(pinned or str(world_file(ref.tools, recipe_dir, "tool list")), ref.format)
    raise TypeError(f"world entry {ref!r} is not a single domain")


@lru_cache(maxsize=32)
def simulated_tools(path: str, fmt: str) -> Domain:
    """The simulated domain of an imported tool list (built once per process: its memo of simulated calls lives
    as long as the domain)."""
    from agentfab.formats.toolspecs import ToolImportError, tools_from_json, tools_from_mcp
    from agentfab.worlds.simulated import simulated_domain

    try:
        specs = (tools_from_mcp if fmt == "mcp" else tools_from_json)(path)
    except ToolImportError as exc:
        raise DeclaredDomainError(str(exc)) from None
    if not specs:
        raise DeclaredDomainError(f"{path}: the tool list is empty")
    name = specs[0].domain
    return simulated_domain(name, f"tools imported from {Path(path).name}, simulated", specs)


@lru_cache(maxsize=16)
def synthesized_domains(n: int, seed: int) -> tuple[Domain, ...]:
    """The executable domains of `{synthesize: {domains: n, seed: seed}}`, built once per process."""
    from agentfab.generators.domains import synthesize_domains
    from agentfab.worlds.declared import declared_domain_from_dict

    return tuple(declared_domain_from_dict(spec, source="synthesized", where=f"synthesized domain {spec['name']}")
                 for spec in synthesize_domains(n, seed))


def world_labels(ref: WorldRef) -> list[str]:
    """The labels of the domains one recipe entry stands for, without building them."""
    if isinstance(ref, SynthesizeWorld):
        from agentfab.generators.domains import domain_names

        base = ref.model_dump()
        return [canonical_json({**base, "domain": name})
                for name in domain_names(ref.synthesize.domains, ref.synthesize.seed)]
    return [world_label(ref)]


def expand_world(ref: WorldRef, recipe_dir: Path, files: dict[str, str] | None = None) -> list[tuple[str, Domain]]:
    """(label, domain) for every domain one recipe entry stands for."""
    if isinstance(ref, SynthesizeWorld):
        domains = synthesized_domains(ref.synthesize.domains, ref.synthesize.seed)
        return list(zip(world_labels(ref), domains))
    return [(world_label(ref), load_world(ref, recipe_dir, files))]


def expand_worlds(refs: list[WorldRef], recipe_dir: Path, files: dict[str, str] | None = None
                  ) -> list[tuple[str, Domain]]:
    """Every domain of a recipe, in recipe order; two domains with one name are refused (rows name domains)."""
    out: list[tuple[str, Domain]] = []
    where: dict[str, int] = {}
    for i, ref in enumerate(refs):
        for label, domain in expand_world(ref, recipe_dir, files):
            if domain.name in where:
                raise DeclaredDomainError(f"worlds[{where[domain.name]}] and worlds[{i}] both define a domain named "
                                          f"{domain.name!r}; rename one (rows and tools are keyed by domain name)")
            where[domain.name] = i
            out.append((label, domain))
    return out
