"""Speed work that must not change behaviour: the collector settings a shard build uses are put back after it."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfab.flows.shard import fewer_collections


def test_a_shard_build_restores_the_collector_thresholds_even_nested_and_on_error():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == 50_000
        with fewer_collections():  # shards run in threads of one process: the last one out restores
            assert gc.get_threshold()[0] == 50_000
        assert gc.get_threshold()[0] == 50_000
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError):
        with fewer_collections():
            raise RuntimeError("a shard failed")
    assert gc.get_threshold() == before


def _near_by_brute_force(rows: list[frozenset[str]], threshold: float) -> list[str | None]:
    """The near-duplicate verdicts a scan of every earlier accepted row in order gives (the original algorithm)."""
    accepted: list[frozenset[str]] = []
    out: list[str | None] = []
    for feats in rows:
        verdict = None
        for other in accepted:
            if other & feats:
                similarity = len(feats & other) / len(feats | other)
                if similarity >= threshold:
                    verdict = f"Jaccard {similarity:.2f} with an accepted row"
                    break
        out.append(verdict)
        if verdict is None:
            accepted.append(feats)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.frozensets(st.sampled_from("abcdefgh"), min_size=1, max_size=5), min_size=1, max_size=40),
       st.sampled_from([0.3, 0.5, 0.67, 0.9]))
def test_near_duplicates_are_the_earliest_similar_row_as_a_full_scan_finds_it(rows, threshold):
    import agentfab.validators.dedup as dedup

    real = dedup.features
    dedup.features = lambda task: set(task)  # the rows' feature sets stand in for tasks
    try:
        deduper = dedup.Deduper(threshold)
        got = []
        for i, feats in enumerate(rows):
            found = deduper.check(feats, [], key=f"row-{i}")  # distinct keys: only the near path decides
            got.append(found[1] if found else None)
    finally:
        dedup.features = real
    assert got == _near_by_brute_force(rows, threshold)
    if len(rows) >= 2 and rows[0] == rows[1]:  # negative control: a repeated feature set is always caught
        assert got[1] is not None


def test_tools_with_the_same_parameter_schema_share_one_compiled_validator_and_others_do_not():
    import copy

    from agentfab.worlds.core import compile_parameters

    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^A-[0-9]{3}$"}},
              "required": ["code"], "additionalProperties": False}
    same = compile_parameters(schema)
    assert compile_parameters(copy.deepcopy(schema)) is same
    same({"code": "A-123"})
    other = copy.deepcopy(schema)
    other["properties"]["code"]["pattern"] = "^B-[0-9]{3}$"
    checked = compile_parameters(other)
    assert checked is not same
    checked({"code": "B-123"})  # negative control: the other schema's rule, not the cached one, decides
    with pytest.raises(Exception, match="must match pattern"):
        checked({"code": "A-123"})
