"""The LLM engine's stages of a shard: phrase (generator), roll out (agent, with the simulated user) and judge
(judge), wired over `agentfab.llm`. All records of a shard are in flight at once on one event loop, each role
bounded by its own concurrency; the CPU checks (verify, rule judge) run inline and stay cheap. Dedup and writing
stay in row order (flows.shard), so a build is reproducible whatever order the answers come back in.

A record is rejected by the same validators as an oracle one. Refused answers that do not reject a row (a
paraphrase that lost a value, a simulated user turn that did) keep the template text and are listed with their code.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from agentfab.flows.recipe import Recipe
from agentfab.flows.stages import Draft, JudgeStage, Record, ShardWorld, verify_stage
from agentfab.generators.queries import turn_answers
from agentfab.generators.tasks import Step
from agentfab.generators.values import sample_arguments
from agentfab.llm.agent import openai_tools, run_agent
from agentfab.llm.cache import RequestCache
from agentfab.llm.client import RoleClient, run_async, tls_context
from agentfab.llm.intents import Intent, propose_intents
from agentfab.llm.judge import Judged, LLMJudge
from agentfab.llm.prompts import prompt
from agentfab.llm.roles import Made, paraphrase, user_turn
from agentfab.llm.simulator import ToolSimulator
from agentfab.llm.usage import RoleUsage
from agentfab.schemas.answers import flatten, mentioned, normalize
from agentfab.schemas.codes import Reason, Refusal
from agentfab.schemas.tasks import Task, described_by, required_facts
from agentfab.validators.judge import RuleJudge
from agentfab.validators.verify import apply_judge
from agentfab.worlds.core import Domain, Store, Tool, ToolRaised, canonical_json
from agentfab.worlds.simulated import SimulatedCalls, calls_to_simulate, simulated_calls, state_of, writes

T = TypeVar("T")
INTENTS_PER_WORLD = 12  # asked of the generator per world and shard at most
PRIME_ROUNDS = 6  # simulated producers, then their consumers: chains of simulated calls this deep at most

PROMPT_OF = {"generator": "paraphrase", "agent": "agent", "user": "user", "judge": "judge", "simulator": "simulator"}


@dataclass
class Item:
    """One task through the LLM stages: the record that is written, and the oracle's version of the same task."""

    record: Record
    oracle: Record
    info: dict[str, Any] = field(default_factory=dict)  # role -> what it did; the row's provenance.models
    pair: bool = False  # write the oracle's accepted trajectory beside this rejected one (dpo pair)


_LITERALS = re.compile(r"'([^']+)'|\b([A-Za-z]{1,6}-\d+)\b|\b(\d[\d.,:/-]*\d|\d)\b")


def stated_values(task: Task, text: str) -> list[str]:
    """What a rewrite of `text` must keep, of all `text` states: the plan's argument values, the expected answers
    and every turn's required facts (the ground truth), quoted text, ids and numbers. Each is kept only if `text`
    states it as a whole token, the same test a rewrite must pass."""
    values = [str(v) for s in task.plan for v in s.arguments.values()
              if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    values += [v for t in task.user_turns for v in [*t.answer, *(x for f in t.facts for x in f.values)]]
    values += [next(g for g in m.groups() if g) for m in _LITERALS.finditer(text)]
    flat = flatten(text)
    return list(dict.fromkeys(v for v in values if v.strip() and mentioned(flat, normalize(v))))


def _codes(record: Record) -> set[str]:
    verify_stage(record)
    return set(record.verdict.reasons)


def _substitute(content: list[dict[str, Any]], texts: dict[str, str]) -> list[dict[str, Any]]:
    return [{**e, "content": texts.get(e["content"], e["content"])}
            if e.get("source") == "user" else e for e in content]


class LLMStages:
    def __init__(self, recipe: Recipe, cache_dir: Path, writer: str):
        self.recipe = recipe
        self.roles = recipe.models.roles()
        self.cache = RequestCache(cache_dir, writer)
        self.usage = {role: RoleUsage() for role in self.roles}
        self.refused: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.rule_judge = JudgeStage(RuleJudge(), recipe.filters.judge.min_score)
        self.clients: dict[str, RoleClient] = {}
        self.simulator: ToolSimulator | None = None
        self.llm_judge = (LLMJudge(self.roles["judge"], RuleJudge()) if recipe.filters.judge.engine == "llm"
                          else None)
        tls_context()  # the process's HTTP stack set up once, before any stage runs

    def run(self, items: list[Item]) -> None:
        """Every item's stages, a window of them at a time (twice the roles' summed concurrency: enough to keep
        every role's slots busy; starting all of a shard's records at once kept the loop from reading answers
        while thousands of records took their first steps). The longest (by the oracle's trajectory of the same
        task) start first, so with the client's gate (a conversation further along goes first) the shard ends on
        short ones, not on a tail of long conversations at a fraction of the concurrency. Outputs do not depend
        on this order."""
        queue = iter(sorted(items, key=lambda item: -len(item.oracle.content)))
        window = min(len(items), 2 * sum(s.max_concurrency for s in self.roles.values()))

        async def worker() -> None:
            for item in queue:  # one event loop: workers share the iterator without a lock
                await self._process(item)

        self._in_loop(lambda: asyncio.gather(*(worker() for _ in range(window))))

    def prime(self, domains: list[Domain]) -> None:
        """Before any task is composed: the simulator's answer to every call the composer can draw in the simulated
        domains (imported tools without an implementation), memoized in each domain; the tools that produce a
        linked parameter's values first, then the calls over those values (`calls_to_simulate`)."""
        def unsimulated() -> list[tuple[SimulatedCalls, Tool, dict[str, Any]]]:
            return [(calls, tool, args) for d in domains if (calls := simulated_calls(d)) is not None
                    for tool, args in calls_to_simulate(d)]

        todo = unsimulated()
        if not todo:
            return

        async def ask() -> None:
            nonlocal todo
            for _ in range(PRIME_ROUNDS):
                if not todo:
                    return
                results = await asyncio.gather(*(self.simulator.call(tool.spec, args) for _, tool, args in todo))
                for (calls, tool, args), result in zip(todo, results):
                    calls.record(tool.name, args, result)
                self.counts["simulated_calls"] += len(todo)
                todo = unsimulated()

        self._in_loop(ask)

    def propose(self, worlds: list[ShardWorld], wanted: int, rng: random.Random) -> list[tuple[ShardWorld, Intent]]:
        """The generator's task intents for each world, checked against its tools; rejected ones are listed with
        their code (rejected/llm-answers-*.jsonl), accepted ones returned in world order."""
        if wanted <= 0 or not worlds:
            return []
        examples = {w.ref: {t.name: [sample_arguments(t, w.pools, rng) for _ in range(3)] for t in w.domain.tools}
                    for w in worlds}
        count = min(INTENTS_PER_WORLD, max(2, -(-wanted // len(worlds))))

        async def ask() -> list[tuple[list[Any], str | None]]:
            return await asyncio.gather(*(propose_intents(self.clients["generator"], w.domain, examples[w.ref], count)
                                          for w in worlds))

        pool: list[tuple[ShardWorld, Intent]] = []
        for w, (judged, failure) in zip(worlds, self._in_loop(ask)):
            if failure is not None:
                self._refuse_intent(failure.split(":", 1)[0], failure, "")
            for j in judged:
                if j.code is None:
                    pool.append((w, j.intent))
                else:
                    self._refuse_intent(j.code, j.detail, j.intent.model_dump_json())
        self.counts["intents_accepted"] += len(pool)
        return pool

    def intent_draft(self, world: ShardWorld, intent: Intent, index: int, task_id: str,
                     rng: random.Random) -> Draft | None:
        """The intent's calls as a plan, executed on a world variant like a composed one; None (refused with
        `intent.failed_call`) when a call fails there."""
        here = world.for_task(rng)
        members = [[Step(f"i{n}", c.tool, dict(c.arguments))] for n, c in enumerate(intent.calls)]
        kind = "single" if len(members) == 1 else "parallel"
        family = hashlib.sha256(canonical_json([world.domain.name, intent.model_dump()["calls"]]).encode())
        try:
            plan = here.composer.finish(kind, members, family.hexdigest()[:16])
        except ToolRaised as exc:  # the user's tool code failed on the intent's calls: that task alone is rejected
            return Draft(index, task_id, kind, here, None, raised=exc)
        if plan is None:
            self._refuse_intent(Refusal.INTENT_FAILED_CALL, "a call failed on the task's world",
                                intent.model_dump_json())
            return None
        self.counts["intent_tasks"] += 1
        return Draft(index, task_id, kind, here, plan)

    @staticmethod
    def intent_task(draft: Draft, task: Task, request: str) -> Task:
        """The task told with the generator's request in place of the template's. Its required facts are what
        that request asks to see: the result fields it names ("the status of account ACC-1"), or, for a request
        that names none, what the tool answers by default; never what the replaced template happened to ask."""
        flat = flatten(request)
        steps = []
        for s in task.plan:
            result = task.results.get(s.id)
            named = [k for k in result if mentioned(flat, k.replace("_", " "))] if isinstance(result, dict) else []
            asks = named or draft.world.domain.tool(s.tool).asked(None, result)
            steps.append(s.model_copy(update={"asks": asks}))
        assert draft.plan is not None
        described = described_by(steps, lambda name: draft.world.domain.tool(name).spec.returns)
        facts = [required_facts(steps, task.results, i, described) for i in range(len(task.user_turns))]
        turns = [t.model_copy(update={"text": request if i == 0 else t.text,
                                      "answer": turn_answers(draft.plan, i, steps, facts[i]), "facts": facts[i]})
                 for i, t in enumerate(task.user_turns)]
        return task.model_copy(update={"plan": steps, "user_turns": turns})

    def mark_intent(self, item: Item) -> None:
        self._info(item, "generator", intent=prompt("intents").ref)

    def _refuse_intent(self, code: str, detail: str, kept: str) -> None:
        self.counts[f"refused.{code}"] += 1
        self.refused.append({"task_id": None, "role": "generator", "code": code, "detail": detail, "kept": kept})

    def _in_loop(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` with this shard's clients on one event loop (a thread's own when called from a running one)."""
        async def go() -> T:
            self.clients = {role: RoleClient(role, s, self.cache, self.usage[role]) for role, s in self.roles.items()}
            self.simulator = ToolSimulator(self.clients["simulator"]) if "simulator" in self.clients else None
            try:
                return await work()
            finally:
                for client in self.clients.values():
                    await client.close()
                self.cache.close()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return run_async(go())
        from concurrent.futures import ThreadPoolExecutor  # called from a running loop (in-process Prefect task)

        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(run_async, go()).result()

    def _refuse(self, item: Item, role: str, made: Made) -> None:
        self.counts[f"refused.{made.code}"] += 1
        self.refused.append({"task_id": item.record.task.id, "role": role, "code": made.code,
                             "detail": made.detail, "kept": made.text})

    def _info(self, item: Item, role: str, **extra: Any) -> None:
        entry = item.info.setdefault(role, {"model": self.roles[role].model,
                                            "prompt": prompt(PROMPT_OF[role]).ref})
        entry.update(extra)

    async def _process(self, item: Item) -> None:
        rec = item.record
        if "generator" in self.roles:
            await self._paraphrase_requests(item)
        if self.recipe.rollouts.agent == "llm":
            try:
                failure = await self._roll_out(item)
            except ToolRaised as exc:  # the user's tool code failed under the agent: this task alone is rejected
                rec.content = item.oracle.content[:1]  # the request; the agent's run ended with the exception
                failure = (str(Reason.TOOL_RAISED), str(exc))
        else:
            rec.content = item.oracle.content
            failure = None
            if "generator" in self.roles:
                await self._paraphrase_replies(item)
        verify_stage(rec)
        if failure:
            rec.verdict.add([failure])
        if simulated_calls(rec.draft.world.domain) is not None:  # the row says its tool results were simulated
            self._info(item, "simulator", tools=sorted({e["function"] for e in rec.content
                                                        if e.get("class_") == "api_action"}))
            self.counts["simulated_rows"] += 1
        await self._judge(item)
        if self.recipe.rollouts.agent == "llm" and self.recipe.rollouts.oracle_pairs and not rec.verdict.passed:
            verify_stage(item.oracle)
            self.rule_judge(item.oracle)
            item.pair = item.oracle.verdict.passed
            self.counts["oracle_pairs"] += item.pair

    async def _paraphrase_requests(self, item: Item) -> None:
        task = item.record.task
        made = await asyncio.gather(*(paraphrase(self.clients["generator"], t.text, stated_values(task, t.text))
                                      for i, t in enumerate(task.user_turns)))

        def trial(subs: dict[int, Made]) -> Record:  # the oracle's trajectory told with these requests
            turns = [t.model_copy(update={"text": subs[i].text}) if i in subs else t
                     for i, t in enumerate(task.user_turns)]
            texts = {task.user_turns[i].text: m.text for i, m in subs.items()}
            return Record(item.oracle.draft, task.model_copy(update={"user_turns": turns}),
                          _substitute(item.oracle.content, texts))

        checked = self._checks_kept(dict(enumerate(made)), trial)
        for m in checked.values():
            if m.code is not None:
                self._refuse(item, "generator", m)
        self.counts["paraphrased_requests"] += sum(m.code is None for m in checked.values())
        self._info(item, "generator", requests=[m.code or "paraphrased" for m in checked.values()])
        chosen = trial({i: m for i, m in checked.items() if m.code is None})
        item.record.task = item.oracle.task = chosen.task
        item.oracle.content = chosen.content

    async def _paraphrase_replies(self, item: Item) -> None:
        content = list(item.record.content)
        task = item.record.task
        spots = [i for i, e in enumerate(content) if e.get("class_") == "message_action"]
        made = await asyncio.gather(*(paraphrase(self.clients["generator"], content[i]["content"],
                                                 stated_values(task, content[i]["content"])) for i in spots))

        def trial(subs: dict[int, Made]) -> Record:
            return Record(item.record.draft, task, [{**e, "content": subs[i].text} if i in subs else e
                                                    for i, e in enumerate(content)])

        checked = self._checks_kept(dict(zip(spots, made)), trial)
        for m in checked.values():
            if m.code is not None:
                self._refuse(item, "generator", m)
        self.counts["paraphrased_replies"] += sum(m.code is None for m in checked.values())
        self._info(item, "generator", replies=[m.code or "paraphrased" for m in checked.values()])
        item.record.content = trial({i: m for i, m in checked.items() if m.code is None}).content

    def _checks_kept(self, made: dict[int, Made], trial: Callable[[dict[int, Made]], Record]) -> dict[int, Made]:
        """Rewrites must pass every check their templates passed (the truth checks above all: each required fact
        stated). One that fails a check is refused (`phrase.dropped_fact`) and its template text stays.
        `trial(rewrites)` is the record told with those rewrites in place of their templates."""
        rewritten = {i: m for i, m in made.items() if m.code is None}
        if not rewritten:
            return made
        base = _codes(trial({}))

        def new_codes(subs: dict[int, Made]) -> set[str]:
            return _codes(trial(subs)) - base

        if not new_codes(rewritten):
            return made
        blamed = {i: new_codes({i: m}) for i, m in rewritten.items()}
        alone = any(blamed.values())
        out = dict(made)
        for i, m in rewritten.items():
            codes = blamed[i] if alone else {"the checks only together with the other rewrites"}
            if codes:
                out[i] = Made(m.original, Refusal.DROPPED_FACT,
                              f"rewrite {m.text!r} fails {', '.join(sorted(codes))}")
        return out

    async def _roll_out(self, item: Item) -> tuple[str, str] | None:
        rec = item.record
        task, world = rec.task, rec.draft.world
        store = world.store.fork()
        offered = set(task.tools)

        calls = simulated_calls(world.domain)

        def execute(name: str, kwargs: dict[str, Any]) -> str | Awaitable[str]:
            if name not in offered:
                return canonical_json({"error": {"type": "not_found", "message": f"no tool named {name!r} is offered"}})
            tool = world.domain.tool(name)
            if calls is not None and tool.check(kwargs) is None and not calls.has(name, kwargs, state_of(store)):
                return self._simulate(calls, tool, kwargs, store)  # a call nobody made in this state: simulate it
            return canonical_json(tool.invoke(store, kwargs))

        specs = [world.domain.tool(n).spec for n in task.tools]
        tools = world.domain.memo(("openai_tools", tuple(task.tools)), lambda: openai_tools(specs))
        run = await run_agent(self.clients["agent"], task.user_turns[0].text, tools, execute,
                              self._next_user(item), self.recipe.rollouts.max_steps)
        rec.content = run.content
        self._info(item, "agent", steps=run.steps, stopped=run.code)
        return (run.code, run.detail) if run.code else None

    async def _simulate(self, calls: SimulatedCalls, tool: Tool, kwargs: dict[str, Any], store: Store) -> str:
        assert self.simulator is not None
        state = state_of(store)  # this rollout's world does not change while it waits
        result = await self.simulator.call(tool.spec, kwargs, writes(store))
        if not calls.has(tool.name, kwargs, state):  # another rollout may have asked the same call meanwhile
            calls.record(tool.name, kwargs, result, state)
            self.counts["simulated_calls"] += 1
        return canonical_json(tool.invoke(store, kwargs))

    def _next_user(self, item: Item) -> Any:
        task = item.record.task
        c = task.clarification
        queue = ([c.reply] if c else []) + [t.text for t in task.user_turns[1:]]
        goal = " Then: ".join(t.text for t in task.user_turns)
        if c:
            goal += f" (You left out the {c.param}; it is {c.value}. Give it only when asked.)"
        state = {"asked": c is None}

        async def next_user(messages: list[dict[str, Any]]) -> str | None:
            if not queue:
                return None
            if not state["asked"]:  # the withheld value goes only to an agent that asked for it
                if "?" not in (messages[-1].get("content") or ""):
                    return None
                state["asked"] = True
            scripted = queue.pop(0)
            if "user" not in self.roles:
                return scripted
            made = await user_turn(self.clients["user"], goal, messages, scripted,
                                   stated_values(task, scripted) + ([str(c.value)] if c and scripted == c.reply
                                                                      else []))
            if made.code is not None:
                self._refuse(item, "user", made)
            self._info(item, "user")
            return made.text

        return next_user

    async def _judge(self, item: Item) -> None:
        rec = item.record
        if self.llm_judge is None:
            self.rule_judge(rec)
            return
        j = await self.llm_judge.grade(rec.task, rec.content, self.clients["judge"])
        apply_judge(rec.verdict, rec.task, rec.content, Judged(j), self.recipe.filters.judge.min_score)
        self._info(item, "judge", score=None if j.code else j.score, rule_score=j.rule_score, rubric=j.rubric)

    def stats(self) -> dict[str, Any]:
        return {"usage": {r: u.to_dict() for r, u in sorted(self.usage.items())},
                "counts": dict(sorted(self.counts.items()))}

    def refused_jsonl(self) -> str:
        """The refused answers in task order (they are refused in whatever order the answers came back)."""
        order = sorted(self.refused, key=lambda r: (r["task_id"] or "", r["role"], r["code"], r["detail"], r["kept"]))
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in order)
