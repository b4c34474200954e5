"""Compose-stage speed work that must not change a plan: what exploring already computed is reused only where it is
provably the same computation, and everything else still executes."""

from __future__ import annotations

import dataclasses
import random

import pytest

from agentfab.generators.tasks import FAILED, Composer, Step
from agentfab.generators.values import sample_arguments
from agentfab.worlds.registry import builtin_domain


@pytest.fixture
def counted(monkeypatch):
    """A bank composer whose tools record each real execution."""
    domain = builtin_domain("bank")
    composer = Composer(domain, domain.seeded(3).with_offset(17), 3)
    runs: list[str] = []
    for tool in domain.tools:
        real = tool.run
        monkeypatch.setattr(tool, "run", lambda *a, _real=real, _name=tool.name, **k: runs.append(_name) or _real(*a, **k))
    return composer, runs


def _succeeding(composer: Composer, mutates: bool, sid: str) -> Step:
    rng = random.Random(4)
    for tool in composer.domain.tools:
        if tool.spec.mutates != mutates or not tool.spec.parameters.get("required"):
            continue
        for _ in range(30):
            step = Step(sid, tool.name, sample_arguments(tool, composer.pools, rng))
            if composer.execute([step]) is not None:
                return step
    raise AssertionError("no succeeding call")


def test_executing_a_plan_answers_a_read_it_met_alone_on_a_fresh_world_and_runs_it_after_a_write(counted):
    composer, runs = counted
    read, write = _succeeding(composer, False, "t1"), _succeeding(composer, True, "t2")
    composer.compose("single", random.Random(1))  # a new plan: nothing met yet
    runs.clear()
    alone = composer.try_call(read)
    assert alone is not FAILED and runs == [read.tool]
    runs.clear()
    results, diff = composer.execute([Step("s1", read.tool, dict(read.arguments))])
    assert runs == [] and results["s1"] == alone and diff == {}  # met alone on a fresh world: the same answer

    # negative controls: after a write the read executes for real; so does one the plan never met alone
    executed = composer.execute([Step("s1", write.tool, dict(write.arguments)),
                                 Step("s2", read.tool, dict(read.arguments))])
    assert executed is not None and runs == [write.tool, read.tool]
    runs.clear()
    composer.compose("single", random.Random(1))  # the next plan starts with nothing met
    runs.clear()
    composer.execute([Step("s1", read.tool, dict(read.arguments))])
    assert runs == [read.tool]


def test_a_read_of_a_users_module_is_never_answered_from_what_exploring_met(counted):
    composer, runs = counted
    read = _succeeding(composer, False, "t1")
    tool = composer.tools[read.tool]
    composer.tools[read.tool] = dataclasses.replace(tool, spec=tool.spec.model_copy(update={"source": "python"}))
    composer.compose("single", random.Random(1))
    runs.clear()
    composer.try_call(read)
    composer.execute([Step("s1", read.tool, dict(read.arguments))])
    assert runs == [read.tool, read.tool]


def test_the_memos_of_all_variants_stay_within_the_process_budget_and_forgetting_changes_no_plan(monkeypatch):
    """A worker holds every variant of every domain; each variant's memo cap alone let a 1M-task build's workers
    grow ~1 MB per shard. Over the process budget every composer forgets, and the plans are the same."""
    from agentfab.generators import memo_budget

    domains = [builtin_domain(n) for n in ("bank", "travel", "shop", "library")]

    def plans() -> list[object]:
        out = []
        composers = [Composer(d, d.seeded(s), s) for d in domains for s in (1, 2)]
        for i in range(120):
            composer = composers[i % len(composers)]
            plan = composer.compose(("single", "chain", "parallel")[i % 3], random.Random(i))
            out.append(None if plan is None else [(s.tool, s.arguments) for s in plan.steps])
            kept = sum(len(c._reads) + len(c.index._value_sets) for c in composers)
            assert kept <= memo_budget.KEPT_IN_PROCESS + 2, kept
        return out

    roomy = plans()
    monkeypatch.setattr(memo_budget, "KEPT_IN_PROCESS", 10)
    assert plans() == roomy and any(p is not None and len(p) > 1 for p in roomy)
