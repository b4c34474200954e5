"""Harder cases: near-miss irrelevance (the domain's own tools come close but cannot do it) and requests with a
doable and an undoable part (do one, decline the other)."""

from __future__ import annotations

import random

import pytest

from agentfab.flows.recipe import parse_recipe
from agentfab.flows.stages import Compose, Draft, ShardWorld, TemplatePhrase
from agentfab.generators.language import retold
from agentfab.generators.negatives import make_negative
from agentfab.generators.rollouts import message
from agentfab.validators.judge import RuleJudge
from agentfab.validators.verify import verify
from agentfab.worlds.registry import builtin_domain

WORLDS = ["bank", "shop", "travel", "calendar", "library"]


def drafts(kind: str, n: int = 40):
    recipe = parse_recipe({"name": "hard", "seed": 2, "records": n, "worlds": WORLDS,
                           "tasks": {"mix": {kind: 1}}, "rollouts": {"recovery": 0}})
    worlds = [ShardWorld(name, builtin_domain(name), 11, recipe) for name in WORLDS]
    rng = random.Random(4)
    compose, phrase = Compose(recipe, worlds, rng), TemplatePhrase(recipe, worlds, rng)
    out = []
    for k in range(n):
        draft: Draft = compose(k, f"t{k}")
        task = phrase(draft)
        content = draft.world.agent.roll_out(task, rng).content
        out.append((draft, task, content))
    return out


def _verify(draft, task, content):
    offered = {n: draft.world.domain.tool(n) for n in task.tools}
    return verify(task, content, offered, draft.world.store, RuleJudge(), 3)


def test_near_miss_requests_come_from_the_same_domain_and_offer_its_closest_tools():
    near = 0
    for draft, task, content in drafts("irrelevant"):
        assert task.expect_refusal and _verify(draft, task, content).passed
        text = task.user_turns[0].text.lower()
        templates = [t.split("{")[0].strip().lower() for t in draft.world.domain.near_misses]
        if any(t and t in text for t in templates):
            near += 1
            assert all(n in {t.name for t in draft.world.domain.tools} for n in task.tools)
            bad = make_negative(task, content, draft.world.agent, random.Random(1), only="ignored_refusal")
            if bad is not None:
                assert "truth.unexpected_call" in _verify(draft, task, bad[1]).reasons
    assert near >= 10


def test_a_refusal_says_back_what_was_asked_and_its_thought_names_an_offered_tool_about_the_same_things():
    """254 irrelevant rows had 3 replies ("I can't do that: it is outside what my available tools support.") and one
    thought: a constant a model learns by heart. Now the reply says back the request, and the thought what an
    offered tool would do instead, if one is about something the request names: not 'None of the 4 offered tools
    does that (create_pupil would only create a new pupil)' for 'find the total tip across all deliveries'."""
    import re

    from agentfab.schemas.wording import plural

    verbs = {"get", "find", "search", "list", "count", "create", "add", "update", "delete", "remove", "by", "of",
             "total", "average", "max", "min", "all", "for", "in", "with"}

    replies, thoughts = set(), set()
    rows = drafts("irrelevant", 80)
    named = unnamed = 0
    for draft, task, content in rows:
        assert task.declined and task.declined.lower() in task.user_turns[0].text.lower()
        final = content[-1]
        assert retold(task.declined) in final["content"], final["content"]
        thought = final["description"]  # 'them' only after 'The user wants me to ...' names who they are
        if thought.startswith("The user wants me to "):
            assert retold(task.declined, "they") in thought, thought
        else:
            assert retold(task.declined, "the user") in thought, thought
        said = set(re.findall(r"[a-z]+", task.declined.lower()))
        close = [n for n in task.tools if any(w in said or plural(w) in said for w in n.split("_") if w not in verbs)]
        names = [n for n in task.tools if n in final["description"]]
        assert names == close[:1] or (len(names) == 1 and names[0] in close), (task.declined, final["description"])
        named += bool(names)
        unnamed += not names
        replies.add(final["content"])
        thoughts.add(final["description"])
    assert named >= 10 and unnamed >= 5, (named, unnamed)
    assert len(replies) >= len(rows) * 0.8 and len(thoughts) >= len(rows) * 0.8
    assert retold("email me a copy of my record", "they") == "email them a copy of their record"
    assert retold("email me a copy of my record", "the user") == "email the user a copy of the user's record"
    # 'I can't add a drug: name Lisinopril, unit price 31.62 USD: none of ...' (a quickstart row) read a colon twice
    assert retold("add a drug: name Lisinopril, unit price 31.62 USD") == (
        "add a drug (name Lisinopril, unit price 31.62 USD)")
    # a non-ASCII request: "İ" and "ı" match "i" case-blind but are no pronoun (they raised KeyError)
    assert retold("email me the İ ı report for Café Zoë") == "email you the İ ı report for Café Zoë"


@pytest.fixture(scope="module")
def partial():
    return drafts("partial", 30)


def test_a_partial_request_does_the_doable_part_and_declines_the_rest(partial):
    for draft, task, content in partial:
        assert task.kind == "partial" and task.declined and task.declined in task.user_turns[0].text
        v = _verify(draft, task, content)
        assert v.passed, v.details
        assert retold(task.declined) in content[-1]["content"]


def test_the_declined_part_is_said_back_to_the_user_not_in_their_words():
    assert retold("email me a copy of my record CUS-0043") == "email you a copy of your record CUS-0043"
    assert retold("export all members to a spreadsheet") == "export all members to a spreadsheet"


def test_not_declining_or_not_doing_is_caught(partial):
    for draft, task, content in partial:
        reply = content[-1]["content"]
        silent = [*content[:-1], {**content[-1], "content": reply.split(" I can't ")[0].split(" As for the other")[0]}]
        assert "truth.no_refusal" in _verify(draft, task, silent).reasons
        only_refuses = [content[0], message("Sorry, I can't do any of that.")]
        assert "truth.missing_call" in _verify(draft, task, only_refuses).reasons


def test_a_thought_rules_out_a_tool_about_the_same_thing_first():
    """'I need get_driver to get a driver by its id. update_trip is offered too, but it would only change one or more
    fields of a trip.' (a quickstart row; update_trip takes a driver, but is about a trip): where an offered tool is
    about the same thing (update_driver), the thought names it; where none is, a tool that takes the same thing
    still may."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.reasoning import Reasoner

    fleet = {d.name: d for d in synthesized_domains(30, 7)}["fleet"]
    names = {t.name for t in fleet.tools}
    assert {"get_driver", "update_trip", "update_driver"} <= names
    both = {Reasoner(fleet, ["get_driver", "update_trip", "update_driver"], ["get_driver"])._alternative(
        "get_driver", random.Random(s)) for s in range(12)}
    assert all("update_driver" in t and "update_trip" not in t for t in both), both
    alone = {Reasoner(fleet, ["get_driver", "update_trip"], ["get_driver"])._alternative("get_driver", random.Random(s))
             for s in range(4)}
    assert all("update_trip" in t for t in alone), alone
