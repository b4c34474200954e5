"""Is a dataset folder whole? Every shard present and matching its recorded checksum, the manifest agreeing.

`problems(folder)` lists what is wrong, one line each, naming the exact file. `validate` prints them all; `export`,
`inspect` and `show` refuse a folder with any (`require_whole`), unless an export is explicitly partial.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from agentfab.flows.lineage import lineage, stems
from agentfab.flows.recipe import Recipe
from agentfab.flows.storage import check_file, check_shard, read_stats

_STEM = re.compile(r"^shard-(?:v(\d{4})-)?(\d{5})$")
RESUME = "re-run the same `agentfab build` command to finish or repair it"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _strays(out: Path, expected: set[str]) -> list[str]:
    found = []
    for folder, ext in (("shards", "parquet"), ("rejected", "parquet"), ("stats", "json")):
        for path in sorted((out / folder).glob(f"*.{ext}")):
            if path.stem not in expected:
                found.append(f"{folder}/{path.name} is not one of this dataset's shards; move it out of the "
                             "dataset folder")
    return found


def _check_stem(out: Path, stem: str, recipe_hash: str | None, full: bool) -> str | None:
    m = _STEM.match(stem)
    if m is None:
        return f"{stem}: not a shard name"
    return check_shard(out, int(m.group(2)), recipe_hash, full=full, version=int(m.group(1) or 1))


def _expected(out: Path, recipe: Recipe, marker: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The shard stems a whole dataset has (every complete version's), and what says it is not finished."""
    manifest = _read_json(out / "manifest.json")
    building = int(marker.get("version", 1) or 1)
    if not isinstance(manifest, dict):
        return stems(recipe.n_shards, building), []
    done = lineage(out)
    names = [s for v in done for s in v.get("shards", [])]
    if building not in {v.get("version") for v in done}:
        return names + stems(recipe.n_shards, building), [f"version {building} is not finished; {RESUME}"]
    return names, []


def _duplicate_ids(out: Path, files: list[Path]) -> list[str]:
    seen: dict[str, str] = {}
    found = []
    for path in files:
        name = path.relative_to(out).as_posix()
        try:
            ids = pq.read_table(path, columns=["id"]).column(0).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            found.append(f"{name} cannot be read as Parquet ({str(exc).splitlines()[0]})")
            continue
        for row_id in ids:
            if row_id in seen:
                found.append(f"row id {row_id!r} appears twice ({seen[row_id]} and {name})")
                if len(found) >= 5:
                    return found
            else:
                seen[row_id] = name
    return found


def _build_problems(out: Path, marker: Any, full: bool) -> list[str]:
    try:
        recipe = Recipe.model_validate(marker["recipe"])
    except (KeyError, TypeError, ValueError):
        return ["build.json does not hold a valid recipe; rebuild with `agentfab build RECIPE --out DIR --overwrite`"]
    recipe_hash = recipe.hash()
    if marker.get("recipe_hash") != recipe_hash:
        return [f"build.json: its recipe_hash does not match its recipe; {RESUME}"]
    expected, found = _expected(out, recipe, marker)
    intact = []
    for stem in expected:
        problem = _check_stem(out, stem, recipe_hash, full)
        if problem:
            found.append(f"{problem}; {RESUME}")
        else:
            intact.append(stem)
    found += _strays(out, set(expected))
    manifest = _read_json(out / "manifest.json")
    if not (out / "manifest.json").is_file():
        found.append(f"manifest.json is missing: the build did not finish; {RESUME}")
    elif not isinstance(manifest, dict) or not isinstance(manifest.get("rows"), dict):
        found.append(f"manifest.json is not a readable agentfab manifest; {RESUME}")
    elif manifest.get("recipe_hash") != recipe_hash:
        found.append(f"manifest.json describes another recipe than build.json; {RESUME}")
    elif len(intact) == len(expected):
        rows: dict[str, int] = {"accepted": 0, "rejected": 0}
        for stem in intact:
            stats = read_stats(out / "stats" / f"{stem}.json") or {}
            for kind in rows:
                rows[kind] += stats["rows"].get(kind, 0)
        if {k: manifest["rows"].get(k, 0) for k in rows} != rows:
            found.append(f"manifest.json counts {manifest['rows']} rows, the shards {rows}; {RESUME}")
    if not found:
        found += _duplicate_ids(out, [out / folder / f"{stem}.parquet" for folder in ("shards", "rejected")
                                      for stem in expected])
    return found


def _import_problems(out: Path, marker: Any, full: bool) -> list[str]:
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        return ["import.json has no file records (written by an older agentfab or damaged); import the source "
                "again into a new folder"]
    found = []
    for kind, folder in (("accepted", "shards"), ("rejected", "rejected")):
        problem = check_file(out / folder / "shard-00000.parquet", marker["files"].get(kind), out, full=full)
        if problem:
            found.append(f"{problem}; import the source again into a new folder")
    found += _strays(out, {"shard-00000"})
    if not found:
        found += _duplicate_ids(out, [out / "shards" / "shard-00000.parquet", out / "rejected" / "shard-00000.parquet"])
    return found


def problems(out: Path, *, full: bool = True) -> list[str]:
    """What is wrong with the dataset folder `out` (empty when it is whole). `full`: also read every checksum."""
    if not out.is_dir():
        return [f"{out}: no such folder; pass the --out folder of `agentfab build`"]
    if (out / "build.json").is_file():
        marker = _read_json(out / "build.json")
        if not isinstance(marker, dict):
            return ["build.json is not valid JSON; rebuild with `agentfab build RECIPE --out DIR --overwrite`"]
        return _build_problems(out, marker, full)
    if (out / "import.json").is_file():
        return _import_problems(out, _read_json(out / "import.json"), full)
    return [f"{out} is not an agentfab dataset (no build.json or import.json); make one with `agentfab build` or "
            "`agentfab import`"]


def require_whole(out: Path, *, full: bool = True) -> None:
    """ValueError with one line naming what is wrong when the folder is not a whole dataset."""
    found = problems(out, full=full)
    if found:
        more = f" (and {len(found) - 1} more problems; `agentfab validate {out}` lists them)" if len(found) > 1 else ""
        raise ValueError(f"{out}: {found[0]}{more}")


def whole_shards(out: Path) -> tuple[list[str], list[str]]:
    """For a partial export: the shard stems that are done and intact, and what is wrong with the others."""
    marker = _read_json(out / "build.json")
    if not isinstance(marker, dict) or "recipe" not in marker:
        raise ValueError(f"{out} is not an agentfab build (no readable build.json)")
    recipe = Recipe.model_validate(marker["recipe"])
    good, bad = [], []
    for stem in _expected(out, recipe, marker)[0]:
        problem = _check_stem(out, stem, recipe.hash(), True)
        if problem:
            bad.append(problem)
        else:
            good.append(stem)
    return good, bad
