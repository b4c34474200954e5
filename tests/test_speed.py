"""Speed work that must not change behaviour: the collector settings a shard build uses are put back after it."""

from __future__ import annotations

import gc

import pytest

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
