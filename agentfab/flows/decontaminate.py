"""`agentfab decontaminate DIR`: the build's benchmark check, run on a dataset that exists (built or imported)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from agentfab.flows.benchmark_sets import contamination_index
from agentfab.flows.crossshard import PassReport, cross_shard_pass
from agentfab.flows.lineage import read_manifest
from agentfab.flows.manifest import dataset_card
from agentfab.flows.storage import write_json, write_text
from agentfab.schemas.codes import Reason


def decontaminate_dataset(dataset: Path) -> PassReport:
    """Move contaminated accepted rows to rejected/ (code dedup.contaminated); update the manifest if there is one."""
    folder = dataset / "shards"
    stems = sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []
    if not stems:
        raise ValueError(f"{dataset} has no shards/*.parquet: pass a folder written by `agentfab build` or "
                         "`agentfab import`")
    index = contamination_index()
    report = cross_shard_pass(dataset, stems, near=None, contamination=index)
    manifest = read_manifest(dataset)
    if manifest is None:
        return report
    found = sum(sum(c.values()) for c in report.contaminated.values())
    rows = Counter()
    for split, sub in (("accepted", "shards"), ("rejected", "rejected")):
        rows[split] = sum(pq.read_metadata(p).num_rows for p in sorted((dataset / sub).glob("*.parquet")))
    manifest["rows"] = dict(rows)
    if found:
        reasons = manifest.setdefault("reasons", {})
        entry = reasons.setdefault(Reason.CONTAMINATED.value, {"count": 0, "meaning": Reason.CONTAMINATED.description})
        entry["count"] += found
        if "funnel" in manifest and "dedup" in manifest["funnel"]:
            stage = manifest["funnel"]["dedup"]
            stage["rejected"] += found
            stage["passed"] = stage["entered"] - stage["rejected"]
    manifest["decontamination"] = {"status": "checked", "benchmarks": index.benchmarks,
                                   "checked_rows": report.checked, "examples": report.examples,
                                   "contaminated": {b: dict(c) for b, c in sorted(report.contaminated.items())},
                                   "by": "agentfab decontaminate"}
    write_json(dataset / "manifest.json", manifest)
    if (dataset / "README.md").exists():
        try:
            write_text(dataset / "README.md", dataset_card(manifest))
        except KeyError:  # a manifest of another shape (an import): its card stays as it was
            pass
    return report
