"""Re-check a written dataset from its files alone: rebuild each row's task and world, then run the validators."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from agentfab.flows.recipe import Recipe
from agentfab.flows.rows import event_from_row
from agentfab.flows.worlds import expand_world, world_labels
from agentfab.schemas.codes import Reason
from agentfab.schemas.rows import returns_of
from agentfab.schemas.tasks import Clarification, PlanStep, Task, UserTurn, described_by, required_facts
from agentfab.validators.judge import Judge, Judgement, RuleJudge
from agentfab.validators.verify import verify
from agentfab.worlds.core import Domain, Store, canonical_json
from agentfab.worlds.simulated import learn_calls


@dataclass
class Report:
    checked: int = 0
    failed: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


def task_from_row(row: dict[str, Any]) -> Task:
    gt = row["ground_truth"]
    plan = []
    results = {}
    for s in gt["plan"]:
        bindings = dict(b.split("=", 1) for b in s["bindings"])
        plan.append(PlanStep(id=s["id"], tool=s["tool"], arguments=json.loads(s["arguments"]), bindings=bindings,
                             depends_on=s["depends_on"], turn=s["turn"], asks=s.get("asks") or [],
                             expect_error=s.get("expect_error")))
        results[s["id"]] = json.loads(s["result"])
    diff: dict[str, dict[str, list[Any]]] = {}
    for c in gt["state_changes"]:
        diff.setdefault(c["table"], {})[c["key"]] = [
            None if c["before"] is None else json.loads(c["before"]),
            None if c["after"] is None else json.loads(c["after"]),
        ]
    texts = gt["user_turns"] or [row["query"]]
    described = described_by(plan, returns_of(row["tools"]))
    turns = [UserTurn(text=t, steps=[s.id for s in plan if s.turn == i], answer=gt["answers"][i],
                      facts=required_facts(plan, results, i, described))
             for i, t in enumerate(texts)]
    clarification = None
    if gt["clarify_param"]:
        head = next((s for s in plan if s.id == gt.get("clarify_step")), plan[0])
        clarification = Clarification(step=head.id, param=gt["clarify_param"], question=gt["clarify_question"] or "",
                                      reply=gt["clarify_reply"] or "", value=head.arguments[gt["clarify_param"]],
                                      options=gt.get("clarify_options") or [])
    return Task(
        id=row["task_id"], family=row["family"], domain=row["domain"], kind=row["kind"], depth=row["depth"],
        width=row["width"], user_turns=turns, tools=[t["name"] for t in row["tools"]],
        needed_tools=gt["needed_tools"], plan=plan, results=results, state_diff=diff,
        clarification=clarification, expect_refusal=gt["expect_refusal"],
        failure_outcome=gt.get("failure_outcome"), declined=gt.get("declined"),
    )


def _rows(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("shard-*.parquet")):
        try:
            batches = list(pq.ParquetFile(path).iter_batches(batch_size=1000))  # a shard is a few MB at most
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"{folder.name}/{path.name} cannot be read as Parquet "
                             f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        for batch in batches:
            yield from batch.to_pylist()


def revalidate(dataset: Path, include_rejected: bool = False) -> Report:
    marker = dataset / "build.json"
    if not marker.exists():
        raise FileNotFoundError(f"{dataset} is not an agentfab build (no build.json)")
    meta = json.loads(marker.read_text())
    recipe = Recipe.model_validate(meta["recipe"])
    files = meta.get("world_files", {})  # builds older than build.json's world_files: found from the current folder
    refs: dict[str, Any] = {}
    for ref in recipe.worlds:  # label -> the entry it comes from (a synthesize entry has one label per domain)
        for label in world_labels(ref):
            refs[label] = ref
    domains: dict[str, Domain] = {}
    stores: dict[tuple[str, int], Store] = {}
    judge = RuleJudge()
    report = Report()
    accepted_keys: set[str] = set()
    folders = [("shards", True)] + ([("rejected", False)] if include_rejected else [])
    for folder, should_pass in folders:
        for row in _rows(dataset / folder):
            prov = row["provenance"]
            ref = refs.get(prov["world"])
            if ref is None:
                raise ValueError(f"row {row['id']}: world {prov['world']!r} is not in the build's recipe")
            if prov["world"] not in domains:
                domains.update(expand_world(ref, Path.cwd(), files))
            domain = domains[prov["world"]]
            key = (prov["world"], prov["world_seed"])
            if key not in stores:
                stores[key] = domain.seeded(prov["world_seed"])
            task = task_from_row(row)
            content = [event_from_row(e) for e in row["content"]]
            learn_calls(domain, content)  # simulated tools: their results are the rows' own, checked for agreement
            offered = {}
            known = domain.memo("tool_names", lambda d=domain: {x.name for x in d.tools})
            for t in row["tools"]:
                if t["name"] in known:
                    tool = domain.tool(t["name"])
                    if domain.memo(("parameters_json", tool.name), lambda s=tool.spec: canonical_json(s.parameters)) \
                            != t["parameters"]:
                        report.codes[Reason.TOOL_DRIFT] += 1
                    offered[t["name"]] = tool
            world = stores[key].with_offset(prov.get("world_offset") or 0)
            verdict = verify(task, content, offered, world, _judge_for(row, judge), recipe.filters.judge.min_score)
            report.checked += 1
            dedup_key = row["verification"]["dedup_key"]
            if should_pass:
                accepted_keys.add(dedup_key)
            stored = row["verification"]["reasons"]
            if not should_pass and stored and all(c.startswith("dedup.") for c in stored):
                # dedup is a dataset-level judgement: the row itself must pass, and an exact duplicate must have
                # its twin among the accepted rows
                if not verdict.passed or (Reason.EXACT_DUPLICATE in stored and dedup_key not in accepted_keys):
                    report.failed += 1
                    report.codes[Reason.DEDUP_UNFOUNDED] += 1
                    report.examples.append(f"{row['id']}: rejected as {stored}, which does not hold")
                continue
            if verdict.passed != should_pass:
                report.failed += 1
                if should_pass:
                    report.codes.update(verdict.reasons)
                    report.examples.append(f"{row['id']}: {'; '.join(verdict.details[:2])}")
                else:
                    report.codes[Reason.REJECTED_ROW_PASSED] += 1
                    report.examples.append(f"{row['id']}: rejected as {row['verification']['reasons']} but passes now")
    return report


class StoredJudgement:
    """An LLM judge cannot be asked again offline: its stored score is checked against the threshold instead
    (0 when the LLM judge gave none, so a row rejected for that stays rejected)."""

    name = "stored"

    def __init__(self, judgement: Judgement):
        self.judgement = judgement

    def judge(self, task: Any, content: Any) -> Judgement:
        return self.judgement


def _judge_for(row: dict[str, Any], rules: Judge) -> Judge:
    models = json.loads(row["provenance"].get("models") or "{}")
    llm = models.get("judge") if isinstance(models, dict) else None
    if not isinstance(llm, dict):
        return rules
    v = row["verification"]
    score = llm.get("score")
    return StoredJudgement(Judgement(float(score) if score is not None else 0.0, v.get("judge_rationale") or ""))
