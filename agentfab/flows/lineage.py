"""Dataset versions: one folder grows by versions, each a new set of shards with its own seed and a parent.

Version 1 is the first build (the recipe's own seed, shards shard-00000...). Version N > 1 (`agentfab build
--extend`, or a scheduled run) adds shards shard-vNNNN-00000... whose seed derives from the recipe seed and N,
never from the clock. build.json names the version being built; manifest.json lists the complete ones under
`lineage`, and is rewritten only when a version is complete, so an interrupted version is never listed. The
duplicate index of every accepted row up to version N is kept in index/near-vNNNN.sqlite (older builds kept
it as an .npz of numpy arrays; both are read), so version N + 1 is checked against all earlier rows without
reading them again; the version being built grows its own copy, index/building-vNNNN.sqlite, until it completes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentfab.flows.shard import derive_seed
from agentfab.flows.storage import shard_name


def version_seed(recipe_seed: int, version: int) -> int:
    return recipe_seed if version == 1 else derive_seed(recipe_seed, "version", version)


def version_recipe(canonical: dict[str, Any], version: int) -> dict[str, Any]:
    """The recipe a version's shards are built from: the same, with that version's seed."""
    return {**canonical, "seed": version_seed(canonical["seed"], version)}


def stems(n_shards: int, version: int) -> list[str]:
    return [shard_name(i, version) for i in range(n_shards)]


def read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def lineage(out: Path) -> list[dict[str, Any]]:
    """The complete versions, oldest first (a build from before versions existed counts as version 1)."""
    manifest = read_manifest(out)
    if manifest is None:
        return []
    return list(manifest.get("lineage") or [{"version": 1, "parent": None, "seed": manifest.get("seed"),
                                              "recipe_hash": manifest.get("recipe_hash"), "rows": manifest["rows"],
                                              "shards": stems(manifest.get("shards", 0), 1)}])


def building_version(out: Path) -> int:
    """The version build.json says is being built (or was built last)."""
    try:
        return int(json.loads((out / "build.json").read_text()).get("version", 1))
    except (OSError, ValueError, TypeError):
        return 1


def index_path(out: Path, version: int) -> Path:
    return out / "index" / f"near-v{version:04d}.sqlite"


def saved_index(out: Path, version: int) -> Path | None:
    """The duplicate index saved when `version` completed: an .sqlite, or an older build's .npz; None if gone."""
    for path in (index_path(out, version), index_path(out, version).with_suffix(".npz")):
        if path.is_file():
            return path
    return None


def working_index(out: Path, version: int) -> Path:
    return out / "index" / f"building-v{version:04d}.sqlite"
