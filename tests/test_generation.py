"""Queries, rollouts and user-supplied worlds."""

from __future__ import annotations

import json
import random

import pytest

from agentfab.flows.recipe import parse_recipe
from agentfab.flows.shard import ShardJob, build_shard
from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.generators.values import render_value
from agentfab.worlds.core import is_error
from agentfab.worlds.registry import BUILTIN, builtin_domain, python_domain

KINDS = ["single", "parallel", "chain", "compound", "multi_turn", "clarify"]


@pytest.mark.parametrize("world", BUILTIN)
def test_every_argument_value_the_agent_needs_is_in_the_user_text(world):
    domain = builtin_domain(world)
    comp = Composer(domain, domain.seeded(2), 2)
    rng = random.Random(4)
    checked = 0
    for i in range(70):
        kind = KINDS[i % len(KINDS)]
        plan = comp.compose(kind, rng)
        if plan is None:
            continue
        task = to_task(plan, domain, rng, task_id=str(i), kind=kind, distractors=2)
        text = " ".join(t.text for t in task.user_turns)
        if task.clarification:
            text += " " + task.clarification.reply
        for step in task.plan:
            for param, value in step.arguments.items():
                if param not in step.bindings:
                    said = render_value(value) in text or isinstance(value, bool) and "to note that" in text
                    assert said, (kind, param, value, text)
                    checked += 1
    assert checked > 50


def test_the_oracle_reasons_before_calls_calls_in_parallel_and_recovers_from_real_errors():
    domain = builtin_domain("bank")
    store = domain.seeded(1)
    comp, agent, rng = Composer(domain, store, 1), OracleAgent(domain, store, recovery=1.0), random.Random(3)
    recovered = parallel = 0
    for _ in range(30):
        plan = comp.compose("parallel", rng)
        task = to_task(plan, domain, rng, task_id="p", kind="parallel", distractors=2)
        content = agent.roll_out(task, rng).content
        first_call = next(i for i, e in enumerate(content) if e["class_"] == "api_action")
        assert content[first_call]["description"]
        results = [e for e in content if e.get("source") == "environment"]
        errors = [e for e in results if is_error(json.loads(e["content"]))]
        if errors:
            recovered += 1
            err_index = content.index(errors[0])
            message = json.loads(errors[0]["content"])["error"]["message"]
            assert content[err_index + 1]["class_"] == "api_action" and message in content[err_index + 1]["description"]
        # the width-many calls come in a row, then their results (a mistyped one among them, retried after)
        calls = [i for i, e in enumerate(content) if e["class_"] == "api_action"]
        if len(calls) >= task.width and calls[:task.width] == list(range(calls[0], calls[0] + task.width)):
            parallel += 1
    assert recovered > 10 and parallel == 30


def test_a_users_own_python_module_becomes_a_world(tmp_path):
    domain = python_domain("byo_tools")
    assert {t.name for t in domain.tools} == {"get_todo", "count_open", "set_status"}
    assert domain.tool("set_status").spec.mutates
    assert domain.tool("get_todo").spec.parameters["properties"]["todo_id"]["x-entity"] == "todo_id"
    recipe = parse_recipe({"name": "byo", "seed": 1, "records": 60, "shard_size": 60,
                           "worlds": [{"python": "byo_tools"}], "negatives": 0})
    stats = build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(tmp_path), 0))
    assert stats["rows"]["accepted"] > 20
    assert set(stats["distributions"]["tools_used"]) >= {"get_todo", "count_open"}


def test_a_recipe_can_declare_a_domain_inline(tmp_path):
    spec = {
        "name": "garage",
        "description": "Cars and their owners.",
        "entities": {
            "Owner": {"key": "id", "id_format": "OWN-{n:03d}", "count": 20,
                      "fields": {"name": {"type": "string", "faker": "name", "searchable": True}}},
            "Car": {"key": "id", "id_format": "CAR-{n:03d}", "count": 50,
                    "fields": {"owner_id": {"ref": "Owner"}, "year": {"type": "integer", "min": 1990, "max": 2025},
                               "plate": {"type": "string", "faker": "license_plate", "searchable": True}}},
        },
    }
    recipe = parse_recipe({"name": "inline", "seed": 2, "records": 80, "shard_size": 80,
                           "worlds": [{"declared": spec}], "negatives": 0})
    stats = build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(tmp_path), 0))
    assert stats["rows"]["accepted"] > 20
    assert any(t.startswith("get_car") for t in stats["distributions"]["tools_used"])


def test_request_phrases_are_imperative_and_name_every_parameter():
    import re

    for world in BUILTIN:
        for tool in builtin_domain(world).tools:
            params = set(tool.spec.parameters.get("properties", {}))
            required = set(tool.spec.parameters.get("required", []))
            for phrase in (p.text for p in tool.phrases):
                assert not re.match(r"(which|when|what|who|where|how|is|are|do|does|can)\b", phrase), phrase
                named = set(re.findall(r"\{(\w+)\}", phrase))
                assert named <= params and required <= named, (tool.name, phrase)
