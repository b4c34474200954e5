"""Every third-party module agentfab imports at module level comes with `pip install -e .` (README command 1): it is
a base dependency or a requirement of one. numpy once came only through a dev extra and the quickstart failed."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = {"dask", "distributed", "s3fs", "datasets"}  # extras, imported inside functions or guarded


def _module_level_imports(path: Path) -> set[str]:
    """Top-level module names imported at module level, outside try/except (a guarded import is optional)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _closure(names: list[str]) -> set[str]:
    """The base requirements and everything they require (installed metadata, markers honoured, no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_every_module_level_import_is_installed_by_the_base_dependencies():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    base = [Requirement(d).name for d in deps]
    for d in deps:  # a base dependency's own extras (openai[aiohttp]) count as base too
        for extra in Requirement(d).extras:
            base += [Requirement(r).name for r in metadata.requires(Requirement(d).name) or []
                     if Requirement(r).marker is not None and Requirement(r).marker.evaluate({"extra": extra})]
    installed = _closure(base)
    providers = metadata.packages_distributions()
    modules = set().union(*(_module_level_imports(p) for p in (ROOT / "agentfab").rglob("*.py")))
    missing = {}
    for module in sorted(modules - set(sys.stdlib_module_names) - {"agentfab"} - OPTIONAL):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [module])}
        if not dists & installed:
            missing[module] = sorted(dists)
    assert not missing, f"imported at module level but not installed by `pip install -e .`: {missing}"
