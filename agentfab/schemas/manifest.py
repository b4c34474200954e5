"""What a build says about itself: each shard's stats (stats/shard-N.json) and the manifest (manifest.json).

Typed, so that readers use attributes instead of `.get(key, 0)` and a misspelled key fails where it is written.
Counts default to zero, so a shard that rejected nothing simply has no reason codes. To add a section to the
manifest (quality figures, coverage, ...): give it a model here and an optional field on `Manifest` (None = the
build has no such section; it is then left out of manifest.json); a per-shard part goes on `ShardStats` the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Counts = dict[str, int]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RowCounts(_Section):
    accepted: int = 0
    rejected: int = 0


class StageCounts(_Section):
    entered: int = 0
    rejected: int = 0


class StageFunnel(StageCounts):
    passed: int = 0


class NegativeCounts(_Section):
    made: int = 0
    caught_by_expected_code: int = 0
    escaped: int = 0
    giveaway: int = Field(0, description="negatives holding a token no accepted row of their shard has")


class FileRecord(_Section):
    """One Parquet file as agentfab wrote it: resume and validate trust the file only while it still matches."""

    sha256: str
    bytes: int
    rows: int


class ShardQuality(_Section):
    """What finalize needs of a shard's rows for the quality figures and the coverage, measured when the shard is
    written (flows.quality) and merged by finalize, which never re-reads rows for them. Every field adds up over
    shards, and rows moved out of a shard later (cross-shard dedup) are subtracted."""

    rows: int = Field(0, description="accepted rows measured")
    asked_facts: int = 0
    stated_facts: int = 0
    template_lint_rejected_rows: int = Field(0, description="generated rows (not negatives) rejected by the lint")
    error_types: Counts = Field(default_factory=dict, description="error type of a failed call -> calls")
    created_ids: Counts = Field(default_factory=dict, description="key of a record an accepted row creates -> rows")
    calls: dict[str, Counts] = Field(default_factory=dict, description="domain -> tool -> calls in accepted rows")


class ShardStats(_Section):
    """stats/shard-N.json: written last, it marks the shard complete."""

    shard: int
    version: int = Field(1, description="the dataset version (lineage) this shard belongs to")
    recipe_hash: str
    rows: RowCounts
    files: dict[str, FileRecord] = Field(default_factory=dict, description="accepted/rejected -> its file's record")
    tasks: int
    funnel: dict[str, StageCounts]
    reasons: Counts = Field(default_factory=dict)
    fallbacks: Counts = Field(default_factory=dict, description="kind -> tasks composed as `single` instead")
    negatives: NegativeCounts = Field(default_factory=NegativeCounts)
    negative_reasons: Counts = Field(default_factory=dict)
    distributions: dict[str, Counts] = Field(default_factory=dict, description="column -> value -> accepted rows")
    timings: dict[str, float] = Field(default_factory=dict, description="stage -> seconds")
    seconds: float = 0.0
    llm: dict[str, Any] | None = Field(None, description="LLM usage of the shard (agentfab.llm.usage)")
    quality: ShardQuality | None = Field(None, description="None in stats written before it existed")


class ReasonCount(_Section):
    count: int
    meaning: str


class ManifestNegatives(NegativeCounts):
    reasons: Counts = Field(default_factory=dict)


class QueryDiversity(_Section):
    distinct_1: float
    distinct_2: float
    distinct_3: float
    rows_measured: int


class Timings(_Section):
    shards_wall_seconds: float
    shards_built_this_run: int
    shards_resumed: int
    finalize_seconds: float = 0.0
    # set by the `build` API around the flow: Prefect's start-up and shut-down included
    runner: str | None = None
    total_seconds: float | None = None
    outside_shards_seconds: float | None = None


class LineageEntry(_Section):
    """One version of a dataset that grows by versions (flows/lineage.py)."""

    version: int
    parent: int | None = None
    seed: int | None = None
    recipe_hash: str | None = None
    shards: list[str] = Field(default_factory=list)
    records: int | None = None
    rows: RowCounts = Field(default_factory=RowCounts)
    moved_across_shards: Counts = Field(default_factory=dict)
    contaminated: int = 0
    finished_at: str | None = None


class Manifest(_Section):
    name: str
    recipe_hash: str
    seed: int
    records: int
    shards: int
    engine: str
    recipe: dict[str, Any]
    versions: dict[str, str]
    rows: RowCounts
    funnel: dict[str, StageFunnel]
    reasons: dict[str, ReasonCount] = Field(default_factory=dict)
    fallbacks: Counts = Field(default_factory=dict)
    negatives: ManifestNegatives = Field(default_factory=ManifestNegatives)
    distributions: dict[str, Counts] = Field(default_factory=dict)
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    cross_shard_duplicates_moved: int = 0
    query_diversity: QueryDiversity | None = None
    timings: Timings
    finished_at: str
    # optional sections, one typed field each
    llm: dict[str, Any] | None = Field(None, description="LLM usage per role, cost (agentfab.llm.usage)")
    decontamination: dict[str, Any] | None = Field(None, description="benchmark overlap check (flows.benchmark_sets)")
    lineage: list[LineageEntry] | None = Field(None, description="the dataset's versions, oldest first")
    coverage: dict[str, Any] | None = Field(None, description="domains, tools and families covered (flows.coverage)")
    quality: dict[str, Any] | None = Field(None, description="quality figures of the written rows (flows.quality)")

    def as_json(self) -> dict[str, Any]:
        """The manifest.json form: absent optional sections and timings left out rather than written as null."""
        absent = {name for name in ("query_diversity", "llm", "decontamination", "lineage", "coverage", "quality")
                  if getattr(self, name) is None}
        timings = {name for name in ("runner", "total_seconds", "outside_shards_seconds")
                   if getattr(self.timings, name) is None}
        return self.model_dump(mode="json", exclude={*absent, "timings"}) | {
            "timings": self.timings.model_dump(mode="json", exclude=timings)}
