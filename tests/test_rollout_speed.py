"""Speed work in the oracle's rollouts that must not change a row: reads it keeps, reply parts it reuses."""

from __future__ import annotations

import random

from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.worlds.registry import builtin_domain


def _tasks(domain, store, kind, n):
    tasks = []
    for seed in range(n):
        rng = random.Random(seed)
        plan = Composer(domain, store, 5).compose(kind, rng)
        if plan is not None:
            tasks.append(to_task(plan, domain, rng, task_id=f"t{seed}", kind=kind, distractors=2))
    return tasks


def _counting_runs(monkeypatch, domain):
    runs: list[str] = []
    for tool in domain.tools:
        real = tool.run
        monkeypatch.setattr(tool, "run",
                            lambda *a, _real=real, _name=tool.name, **k: runs.append(_name) or _real(*a, **k))
    return runs


def test_a_read_made_again_on_the_same_seeded_state_is_answered_from_what_the_agent_kept(monkeypatch):
    domain = builtin_domain("travel")
    base = domain.seeded(5)
    tasks = [t for t in _tasks(domain, base, "parallel", 30) + _tasks(domain, base, "chain", 30)
             if not any(domain.tool(s.tool).spec.mutates for s in t.plan)]  # reads only: after a write, see below
    with monkeypatch.context() as m:  # the rows as every call executed: no read kept
        m.setattr(OracleAgent, "_read", lambda self, tool, world, args: None)
        fresh = [OracleAgent(domain, base.with_offset(k)).roll_out(t, random.Random(k)).content
                 for k, t in enumerate(tasks)]
    agent = OracleAgent(domain, base.with_offset(0))
    runs = _counting_runs(monkeypatch, domain)
    for rounds in range(2):
        for k, task in enumerate(tasks):
            agent.store = base.with_offset(k)  # each task on its own world, as a shard's tasks are
            assert agent.roll_out(task, random.Random(k)).content == fresh[k]  # rows never change
        if rounds == 0:
            first, runs[:] = len(runs), []
    assert len(tasks) > 10 and first and not runs  # the second round ran no read again

    # negative control: another seeded state is never answered from the first one's reads
    other = domain.seeded(6)
    runs.clear()
    agent.store = other.with_offset(0)
    agent.roll_out(tasks[0], random.Random(0))
    assert runs


def test_a_read_after_a_write_in_the_same_rollout_runs_for_real(monkeypatch):
    domain = builtin_domain("bank")
    base = domain.seeded(5)
    agent = OracleAgent(domain, base.with_offset(0))
    runs = _counting_runs(monkeypatch, domain)
    get, freeze = domain.tool("get_account"), domain.tool("freeze_account")
    account = base.keys("accounts")[0]
    world = base.fork()
    kept = agent._read(get, world, {"account_id": account})
    assert kept is agent._read(get, base.fork(), {"account_id": account}) and runs == ["get_account"]
    assert freeze.invoke(world, {"account_id": account})["status"] == "frozen"
    assert agent._read(get, world, {"account_id": account}) is None  # the caller invokes it on the changed world
    assert get.invoke(world, {"account_id": account})["status"] == "frozen" != kept.value["status"]
