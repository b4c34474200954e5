"""Requests say what they ask for and replies say it: required facts, `truth.incomplete_answer`, the template lint
(`rule.template_leak`), clarify requests written as a person would, and a judge whose scores spread."""

from __future__ import annotations

import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfab.generators.language import _ME, _ME_LOWER, sentence
from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.schemas.answers import flatten, mentioned, replace_mentions
from agentfab.validators.judge import RuleJudge
from agentfab.validators.language import check_language
from agentfab.validators.replay import check_truth, replay, turn_replies
from agentfab.validators.verify import verify
from agentfab.worlds.registry import BUILTIN, builtin_domain

KINDS = ["single", "parallel", "chain", "compound", "multi_turn", "clarify"]
_DOMAINS = {name: builtin_domain(name) for name in BUILTIN}
_STORES = {name: d.seeded(5) for name, d in _DOMAINS.items()}


def _task(world: str, kind: str, seed: int):
    domain, store = _DOMAINS[world], _STORES[world]
    rng = random.Random(seed)
    plan = Composer(domain, store, 5).compose(kind, rng)  # a fresh composer: same seed, same task
    if plan is None:
        return None
    task = to_task(plan, domain, rng, task_id="t", kind=kind, distractors=3)
    content = OracleAgent(domain, store).roll_out(task, rng).content
    return domain, store, task, content


def _codes(domain, store, task, content):
    offered = {n: domain.tool(n) for n in task.tools}
    return {c for c, _ in check_truth(task, content, replay(content, offered, store))} | \
        {c for c, _ in check_language(content, offered)}


def _replace_in_replies(content, task, turn_index, old, new):
    """The content with `old` replaced by `new` in the reply to user turn `turn_index` (as `turn_replies` pairs)."""
    picked, last = [], None
    for i, e in enumerate(content):
        if e.get("source") == "user":
            if last is not None:
                picked.append(last)
            last = None
        elif e["class_"] == "message_action":
            last = i
    picked += [last] if last is not None else []
    picked = picked[1:] if task.clarification else picked
    out = [dict(e) for e in content]
    out[picked[turn_index]]["content"] = replace_mentions(out[picked[turn_index]]["content"], old, new)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=st.sampled_from(BUILTIN), kind=st.sampled_from(KINDS), seed=st.integers(0, 10_000), data=st.data())
def test_every_required_fact_is_stated_by_the_oracle_and_removing_any_one_is_caught(world, kind, seed, data):
    made = _task(world, kind, seed)
    if made is None:
        return
    domain, store, task, content = made
    replies = turn_replies(content)
    replies = replies[1:] if task.clarification else replies
    facts = [(t, v) for t, turn in enumerate(task.user_turns) for f in turn.facts for v in f.values]
    for t, value in facts:
        assert mentioned(flatten(replies[t]), value), (value, replies[t])
    assert not _codes(domain, store, task, content) & {"truth.incomplete_answer", "truth.wrong_answer"}
    if not facts:
        return
    t, value = data.draw(st.sampled_from(facts))
    broken = _replace_in_replies(content, task, t, value, "something")
    assert _codes(domain, store, task, broken) & {"truth.incomplete_answer", "truth.wrong_answer"}


def test_an_intermediate_fact_left_out_fails_with_incomplete_answer_and_only_that():
    for seed in range(200):
        made = _task("shop", "chain", seed)
        if made is None:
            continue
        domain, store, task, content = made
        turn = task.user_turns[0]
        inner = [v for f in turn.facts for v in f.values if v not in turn.answer]
        if not inner:
            continue
        assert not _codes(domain, store, task, content)  # negative control: the oracle's reply is complete
        broken = _replace_in_replies(content, task, 0, inner[0], "something")
        assert _codes(domain, store, task, broken) == {"truth.incomplete_answer"}
        return
    raise AssertionError("no chain with an asked intermediate fact was generated")


def test_the_template_lint_catches_each_kind_of_leak_and_passes_clean_text():
    made = _task("travel", "single", 11) or _task("travel", "single", 12)
    domain, store, task, content = made
    offered = {t.name: t for t in domain.tools}
    assert check_language(content, offered) == []
    tool = domain.tool(task.plan[0].tool)
    leaks = ["Your id is {flight_id}.", "Use a city, e.g. Paris.", f"I used {tool.name} for that.",
             "The cheapest_flight_id is FL-0001.", "Forecast: high c: 30.",
             tool.spec.description.split(". ")[0].rstrip(".") + " for me."]
    for text in leaks:
        broken = [dict(e) for e in content]
        broken[-1]["content"] = text
        found = check_language(broken, offered)
        assert [c for c, _ in found] == ["rule.template_leak"], text


def test_a_snake_case_value_from_the_data_is_not_a_leak():
    domain = _DOMAINS["calendar"]
    made = next(m for s in range(50) if (m := _task("calendar", "single", s)) is not None)
    _, _, task, content = made
    offered = {n: domain.tool(n) for n in task.tools}
    content = [dict(e) for e in content]
    content.insert(1, {"class_": "api_action", "function": "x", "kwargs": {"email": "ann_lee@example.com"},
                       "tool_call_id": "c0"})
    content[-1]["content"] += " Her address is ann_lee@example.com."
    assert check_language(content, offered) == []


def test_clarify_requests_leave_one_value_out_and_never_copy_a_tool_description():
    seen = 0
    for world in BUILTIN:
        for seed in range(12):
            made = _task(world, "clarify", seed)
            if made is None:
                continue
            domain, _, task, content = made
            text = task.user_turns[0].text.lower()
            for tool in domain.tools:
                assert tool.spec.description.split(". ")[0].rstrip(".").lower() not in text, (text, tool.name)
            assert "(" not in text and "e.g" not in text and "{" not in text, text
            assert task.clarification.question.endswith("?") or "?" in task.clarification.question
            assert "_" not in task.clarification.question
            seen += 1
    assert seen >= 20


def test_judge_scores_spread_with_wasted_calls_and_the_minimum_rejects_flailing():
    domain, store = _DOMAINS["bank"], _STORES["bank"]
    agent = OracleAgent(domain, store, recovery=1.0)
    scores: dict[int, set[float]] = {}
    for seed in range(120):
        rng = random.Random(seed)
        plan = Composer(domain, store, 5).compose("single", rng)
        task = to_task(plan, domain, rng, task_id="t", kind="single", distractors=2)
        rollout = agent.roll_out(task, rng)
        offered = {n: domain.tool(n) for n in task.tools}
        v = verify(task, rollout.content, offered, store, RuleJudge(), 3)
        scores.setdefault(rollout.n_errors, set()).add(v.judgement.score)
        assert ("judge.low_score" in v.reasons) == (v.judgement.score < 3)
    assert scores[1] == {4.5} and scores.get(2, {3.5}) == {3.5}  # two typos only ever in two different values
    assert scores.get(3, {2.5}) == {2.5}
    clean = _task("bank", "single", 1)
    assert RuleJudge().judge(clean[2], clean[3]).score == 5.0


def test_the_judge_marks_down_an_ungrounded_value_and_a_missing_fact():
    domain, store, task, content = next(m for s in range(50) if (m := _task("shop", "single", s)) and
                                         m[2].user_turns[0].facts)
    base = RuleJudge().judge(task, content).score
    invented = [dict(e) for e in content]
    invented[-1]["content"] += " Your reference is ORD-99999."
    assert RuleJudge().judge(task, invented).score < base
    value = task.user_turns[0].facts[0].values[0]
    missing = _replace_in_replies(content, task, 0, value, "something")
    assert RuleJudge().judge(task, missing).score < base


def test_a_build_reports_its_quality_figures_in_manifest_card_and_report(tmp_path):
    import json

    from fixtures.small_builds import make_build

    from agentfab.inspect import write_report

    out = make_build(tmp_path / "b", {"name": "q", "seed": 3, "records": 120, "shard_size": 60,
                                      "worlds": ["bank", "shop", "library"], "negatives": 0.2,
                                      "rollouts": {"agent": "oracle", "recovery": 0.3}})
    q = json.loads((out / "manifest.json").read_text())["quality"]
    assert q["rows_measured"] > 50 and q["asked_facts"] > 0 and q["asked_facts_stated_share"] == 1.0
    assert 0 < q["user_text"]["distinct_1"] < 1 and 0 < q["assistant_text"]["distinct_2"] <= 1
    assert q["error_types"].get("not_found", 0) > 0  # recovery 0.3 makes real failed calls
    assert 0 <= q["created_ids_distinct_share"] <= 1 and q["template_lint_rejected_rows"] == 0
    assert "negative_giveaway_rate" in q
    assert "## Quality" in (out / "README.md").read_text()
    html = write_report(out, tmp_path / "r.html").read_text()
    assert "Quality figures" in html and "asked facts stated" in html


def test_a_value_fed_from_a_result_with_two_of_its_entity_is_named_by_its_field():
    """A flight has an origin and a destination city: a request never says just "that city"; a hotel has one."""
    import pytest

    from agentfab.generators.queries import render_clause
    from agentfab.generators.tasks import Step

    travel = _DOMAINS["travel"]
    step = Step("s2", "get_weather", {"city": "Boston", "date": "2026-12-20"},
                bindings={"city": "s1.destination_city"}, depends_on=["s1"])
    texts = {render_clause(step, travel.tool("get_weather"), random.Random(i),
                           sources={"s1": travel.tool("get_flight")}).text for i in range(20)}
    assert all("destination city" in t for t in texts), texts
    step = Step("s2", "get_weather", {"city": "Boston", "date": "2026-12-20"}, bindings={"city": "s1.city"},
                depends_on=["s1"])
    plain = {render_clause(step, travel.tool("get_weather"), random.Random(i),
                           sources={"s1": travel.tool("get_hotel")}).text for i in range(20)}
    assert any("that city" in t or "the city" in t for t in plain), plain
    with pytest.raises(ValueError, match="source step s1"):  # no source, no way to say which: never "that city"
        render_clause(step, travel.tool("get_weather"), random.Random(0))


def test_clarify_requests_over_declared_domains_never_end_on_a_dangling_slot():
    """'whose username contains {username}' less its value reads 'by username', never 'whose username contains.'"""
    import re

    from agentfab.generators.domains import synthesize_domains
    from agentfab.worlds.declared import declared_domain_from_dict

    dangling = re.compile(r"\b(contains|is|with name|in their [a-z ]+|whose [a-z ]+|: (name|title|username|city))[.,?!]*$")
    seen = 0
    for spec in synthesize_domains(8, 3):
        domain = declared_domain_from_dict(spec, source="synthesized", where=spec["name"])
        store = domain.seeded(5)
        for seed in range(25):
            rng = random.Random(seed)
            plan = Composer(domain, store, 5).compose("clarify", rng)
            if plan is None:
                continue
            task = to_task(plan, domain, rng, task_id="t", kind="clarify", distractors=2)
            text = task.user_turns[0].text
            core = re.sub(r"(,? ?(please|thanks|for me|thank you!?)[.?!]*|[.?!])+$", "", text, flags=re.I).strip()
            assert not dangling.search(core.lower()), text
            assert "{" not in text, text
            seen += 1
    assert seen >= 50


def test_a_stated_fact_agrees_with_its_label():
    from agentfab.generators.facts import fact_clause

    assert fact_clause("total minutes", "4", 4) == "the total is 4 minutes"
    assert fact_clause("songs", "263", 263) == "the number of songs is 263"
    assert fact_clause("number of rooms", "2", 2) == "the number of rooms is 2"
    assert fact_clause("status", "active", "active") == "the status is active"
    assert fact_clause("average value", "12.50", 12.5) == "the average value is 12.50"
    assert fact_clause("maximum number of nights", "13", 13) == "the maximum number of nights is 13"
    assert fact_clause("minimum number of tonnes", "2.50", 2.5) == "the minimum number of tonnes is 2.50"


def test_a_field_named_by_a_past_participle_is_said_as_a_noun():
    """A reader saw "the founded is 1987" in a team's details."""
    from agentfab.generators.facts import fact_clause
    from agentfab.schemas.wording import label

    assert fact_clause(label("founded"), "1987", 1987) == "the founding year is 1987"
    assert label("born") == "birth year" and label("hired_on") == "hire date"


def test_catalogue_titles_are_spelled_as_plurals():
    """A reader saw the book "Secret Librarys"."""
    import random

    from agentfab.worlds import plausible

    titles = {plausible.book_title(random.Random(seed)) for seed in range(3000)}
    assert "Secret Libraries" in titles or any(t.endswith(" Libraries") for t in titles)
    wrong = sorted(t for t in titles if re.search(r"[^aeiou]ys$|sss?$", t))  # "Librarys", "Glasss"
    assert not wrong, wrong


def test_the_vocabulary_memo_of_offered_tool_sets_stays_under_its_cap_and_answers_the_same(monkeypatch):
    """A worker meets ~1,100 new offered sets per 5,000 tasks: the memo is bounded, and a cleared entry comes back
    equal (a long build's worker must not grow with the tasks it has built)."""
    from itertools import combinations

    from agentfab.validators import language

    monkeypatch.setattr(language, "_VOCABULARIES", {})
    monkeypatch.setattr(language, "_VOCABULARIES_MAX", 4)
    tools = builtin_domain("bank").tools[:5]
    sets = [{t.name: t for t in pair} for pair in combinations(tools, 2)]
    first = [language._vocabulary(s) for s in sets]
    assert len(language._VOCABULARIES) <= 4
    assert [language._vocabulary(s) for s in sets] == first == [language._vocabulary_of(s) for s in sets]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(BUILTIN)), st.randoms(use_true_random=False), st.data())
def test_a_text_reads_clean_tool_by_tool_exactly_when_the_offered_sets_vocabulary_finds_nothing(world, rng, data):
    """The lint's first look reads a record's texts against each offered tool's own words instead of the offered
    set's vocabulary: the same verdict on texts made of every kind of residue (tool and field names, spelled-out
    fields, description openings, placeholders), of data and of plain words, whatever tools are offered."""
    from agentfab.validators import language

    tools = _DOMAINS[world].tools
    offered = {t.name: t for t in rng.sample(tools, rng.randint(0, min(5, len(tools))))}
    words = ["hello", "the", "total:", "in_transit", "{account_id}", "e.g.", "<name>", "x_y", ":", "10:30"]
    for tool in rng.sample(tools, min(4, len(tools))):
        own = language._tool_vocabulary(tool)
        words += [*own[0], *own[1], *own[2], *own[3], *(s[:-1] for s in own[2])]
    # glued or split by colons too: a spelled name is found wherever it ends right before a ':'
    text = data.draw(st.sampled_from([" ", "", ":", ": "])).join(data.draw(st.lists(st.sampled_from(words),
                                                                                      max_size=6)))
    blob = " ".join(data.draw(st.lists(st.sampled_from(words), max_size=2)))
    found = language.template_leaks(text, language._vocabulary_of(offered), blob)
    assert language._reads_clean(text, offered, blob) is (not found)
    assert language._reads_clean(text, offered, lambda: blob) is (not found)


def test_an_aggregate_of_years_says_latest_or_earliest():
    """A reader saw "tell me the maximum built year of all buildings" and "The highest built year is 1968"."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.worlds.declared import declared_domain_from_dict

    years = {"type": "integer", "min": 1900, "max": 2024, "aggregate": ["min", "max"]}
    clubs = declared_domain_from_dict({"name": "clubs", "description": "Clubs and their trophies.", "entities": {
        "Club": {"id_format": "CL-{n:02d}", "count": 4, "fields": {"founded": years, "built_year": years}},
        "Trophy": {"id_format": "TR-{n:02d}", "count": 6, "fields": {"year": years}}}}, where="test")
    said = {}
    for d in (*synthesized_domains(60, 7), clubs):
        for t in d.tools:
            texts = [t.spec.description, *(p.text for p in t.phrases),
                     *(s.get("description", "") for s in t.spec.returns.get("properties", {}).values())]
            for text in texts:
                assert "built year" not in text and not re.search(
                    r"\b(highest|lowest|maximum|minimum|most|fewest) [a-z ]*\b(year|built|founded)\b", text), text
            if d is clubs and t.name.startswith(("max_", "min_")):
                said[t.name] = t.phrases[0].text
    assert said == {"max_club_founded": "find the latest founding year among all clubs",
                    "min_club_founded": "find the earliest founding year among all clubs",
                    "max_club_built_year": "find the latest year built among all clubs",
                    "min_club_built_year": "find the earliest year built among all clubs",
                    "max_trophy_year": "find the latest year among all trophies",
                    "min_trophy_year": "find the earliest year among all trophies"}, said


def test_seeded_addresses_and_tail_numbers_read_like_real_ones():
    """A reader saw an account at "056 Lopez Creek Suite 632" and an ATR 72 with the tail number "257 1676"."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.worlds.declared import faker_pool

    assert not [a for a in faker_pool("street_address") if re.search(r"\b0\d", a)]
    airline = next(d for d in synthesized_domains(60, 7) if d.name == "airline_ops")
    tails = [a["tail_number"] for seed in range(3) for a in airline.seeded(seed).rows("aircraft")]
    assert tails and all(re.fullmatch(r"N[1-9]\d{1,3}[A-HJ-NP-Z]{0,2}", t) for t in tails), tails
    assert len(set(tails)) > len(tails) // 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["me", "Me", "MY", "mine", "Mine", "mines", "name", "member", "my_x", "me1", "MEM-017",
                                 "(me)", "m", "e", "timely", "ñme", "mé", "İ", "mıne"]), max_size=6),
       st.sampled_from([" ", "", "-", "'", ", "]))
def test_a_body_is_found_to_say_me_my_or_mine_as_the_case_blind_pattern_finds_it(words, glue):
    """`sentence` finds me/my/mine in an ASCII body lower-cased, from each "m" (a faster search): the same bodies as
    the case-blind pattern, so the same closers are drawn ("my claim" never ends "for me?")."""
    body = glue.join(words)
    if body.isascii():
        assert bool(_ME_LOWER.search(body.lower())) == bool(_ME.search(body)), body
    said = {sentence(f"tell me about {body}", random.Random(s)) for s in range(4)}
    assert not any(t.endswith(("for me.", "for me?")) for t in said), said  # "tell me" says me already


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["me", "Me", "MY", "mine", "Mine", "myself", "MYSELF", "i", "I", "i'm", "I'M", "I'll",
                                 "mines", "name", "my_x", "me1", "MEM-017", "(me)", "m", "i'", "timely", "taxi",
                                 "'m", "ñme", "mé", "I'd", "mY", "iM", "x-i"]), max_size=6),
       st.sampled_from([" ", "", "-", "'", ", ", "."]), st.sampled_from(["you", "they", "the user"]))
def test_a_request_is_retold_with_the_same_words_as_the_case_blind_pattern_retells_it(words, glue, person):
    """`retold` finds the user's own words in an ASCII request lower-cased, from each "m" and "i" (a faster search):
    the same words the case-blind pattern finds, each said back the same way."""
    from agentfab.generators.language import _PERSON_WORD, _PERSONS, retold
    request = glue.join(words)
    said = _PERSONS[person]
    if request.isascii():  # (any other request is retold by the case-blind pattern itself)
        assert retold(request, person) == _PERSON_WORD.sub(lambda m: said[m.group(0).lower()], request), request
