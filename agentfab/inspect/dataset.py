"""A finished build folder, opened for reading: its manifest and lazy scans of its accepted and rejected rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from agentfab.schemas.manifest import Manifest
from agentfab.schemas.rows import ROW_ARROW_SCHEMA

SPLITS = ("accepted", "rejected")
_FOLDERS = {"accepted": "shards", "rejected": "rejected"}


@dataclass(frozen=True)
class BuildDir:
    path: Path
    manifest: Manifest
    stems: tuple[str, ...] | None = None  # the shards of one dataset version (and its ancestors); None: all
    version: int | None = None

    def scan(self, split: str) -> pl.LazyFrame:
        """Lazy scan of one split ("accepted" or "rejected"); an empty frame of the row schema when it has no files."""
        folder = self.path / _FOLDERS[split]
        files = sorted(folder.glob("*.parquet")) if self.stems is None else \
            [folder / f"{s}.parquet" for s in self.stems if (folder / f"{s}.parquet").exists()]
        if not files:
            return pl.from_arrow(ROW_ARROW_SCHEMA.empty_table()).lazy()
        return pl.scan_parquet(files)


def version_stems(path: Path, manifest: dict[str, Any], version: int | None) -> tuple[str, ...] | None:
    """The shard names of the dataset as of `version` (None: all); a ValueError names the complete versions."""
    if version is None:
        return None
    known = manifest.get("lineage") or []
    if version not in {v["version"] for v in known}:
        have = ", ".join(str(v["version"]) for v in known) or "none"
        raise ValueError(f"{path}: no complete version {version} (complete versions: {have}); "
                         f"see `agentfab versions {path}`")
    return tuple(s for v in known if v["version"] <= version for s in v["shards"])


def open_build(dataset_dir: str | Path, version: int | None = None) -> BuildDir:
    """Open a finished build, or raise ValueError saying what the folder is missing and how to get it."""
    path = Path(dataset_dir)
    if not path.is_dir():
        raise ValueError(f"{path}: no such folder; pass the --out folder of `agentfab build`")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file() and (path / "import.json").is_file():  # written by `agentfab import`
        try:
            record = json.loads((path / "import.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path / 'import.json'}: not valid JSON ({exc}); import the source again") from exc
        return BuildDir(path, {"name": path.name, "imported": record})
    if not manifest_path.is_file():
        if (path / "build.json").is_file():
            raise ValueError(f"{path}: the build did not finish (no manifest.json); re-run the same "
                             "`agentfab build` command to resume it")
        raise ValueError(f"{path} is not an agentfab build (no manifest.json, shards/ or rejected/); "
                         f"make one with `agentfab build RECIPE --out {path}`")
    if not (path / "shards").is_dir():
        raise ValueError(f"{path}: manifest.json is there but shards/ is missing; rebuild with "
                         "`agentfab build RECIPE --out DIR --overwrite`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{manifest_path}: not valid JSON ({exc}); re-run `agentfab build` to rewrite it") from exc
    if not isinstance(manifest, dict) or "funnel" not in manifest:
        raise ValueError(f"{manifest_path}: not an agentfab manifest (no 'funnel'); re-run `agentfab build`")
    stems = version_stems(path, manifest, version)
    try:
        return BuildDir(path, Manifest.model_validate(manifest), stems, version)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ValueError(f"{manifest_path}: {where}: {first['msg']}; it was written by another agentfab version: "
                         "re-run `agentfab build` to rewrite it") from None
