"""Deliberate negatives that only the checks can tell apart: no token, field or casing accepted data never has."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from small_builds import make_build

from agentfab.flows.rows import event_from_row
from agentfab.generators.value_bank import tokens


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("negatives") / "b"
    return make_build(out, {"name": "neg", "seed": 5, "records": 360, "shard_size": 180,
                            "worlds": ["bank", "shop", "travel", "calendar", "library"], "negatives": 0.3})


def _rows(build: Path, folder: str) -> list[dict]:
    return pl.read_parquet(build / folder / "*.parquet").to_dicts()


def _giveaways(build: Path, passed: bool = False) -> tuple[int, int, list[tuple[str, set[str]]]]:
    """Negatives with a token no accepted row has; `passed` also counts rows that passed every check and were only
    deduplicated (cross-shard dedup moves some after their shard's negatives learned from them)."""
    vocab: set[str] = set()
    rows = _rows(build, "shards")
    if passed:
        rows += [r for r in _rows(build, "rejected") if not r["provenance"]["negative"]
                 and all(c.startswith("dedup.") for c in r["verification"]["reasons"])]
    for row in rows:
        vocab |= tokens([event_from_row(e) for e in row["content"]])
    negatives = [r for r in _rows(build, "rejected") if r["provenance"]["negative"]]
    flagged = []
    for row in negatives:
        unseen = tokens([event_from_row(e) for e in row["content"]]) - vocab
        if unseen:
            flagged.append((row["provenance"]["negative"], unseen))
    return len(flagged), len(negatives), flagged


def test_under_five_percent_of_negatives_add_a_token_unseen_in_accepted_data(build):
    flagged, made, examples = _giveaways(build)
    assert made >= 60
    assert flagged / made < 0.05, examples[:5]
    manifest = json.loads((build / "manifest.json").read_text())
    counts = manifest["negatives"]
    assert counts["made"] == made and counts["giveaway"] / counts["made"] < 0.05  # the shard-level upper bound
    assert manifest["quality"]["negative_giveaway_rate"] == round(counts["giveaway"] / made, 4)
    assert counts["giveaway"] >= _giveaways(build, passed=True)[0]  # a shard's count bounds the build's from above


def test_every_negative_is_still_caught_by_its_expected_code(build):
    counts = json.loads((build / "manifest.json").read_text())["negatives"]
    assert counts["caught_by_expected_code"] == counts["made"] and counts.get("escaped", 0) == 0
    kinds = {r["provenance"]["negative"] for r in _rows(build, "rejected") if r["provenance"]["negative"]}
    assert len(kinds) >= 8


def test_the_giveaway_measure_catches_the_old_artefacts(build):
    """Negative control: a lower-cased id, a reversed string or a `fabricated` field is a token never seen."""
    vocab: set[str] = set()
    accepted = _rows(build, "shards")
    for row in accepted:
        vocab |= tokens([event_from_row(e) for e in row["content"]])
    row = next(r for r in accepted if any(e["source"] == "environment" for e in r["content"]))
    content = [event_from_row(e) for e in row["content"]]
    obs = next(i for i, e in enumerate(content) if e.get("source") == "environment")
    value = json.loads(content[obs]["content"])
    for broken in ({"fabricated": True, **value},
                   {k: (v.lower() if isinstance(v, str) and v.lower() != v else v) for k, v in value.items()},
                   {k: (v[::-1] if isinstance(v, str) else v) for k, v in value.items()}):
        if broken == value:
            continue
        altered = [*content[:obs], {**content[obs], "content": json.dumps(broken)}, *content[obs + 1:]]
        assert tokens(altered) - vocab, broken
