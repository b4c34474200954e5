"""Clarification for missing values and ambiguous references, first or later in a multi-step task: the assistant
asks right before the call that needs the answer, an ambiguous question offers every value the request could
mean, and a trajectory that guesses is rejected (`truth.guessed_value`)."""

from __future__ import annotations

import random
import re
from collections import Counter

from agentfab.flows.worlds import synthesized_domains
from agentfab.schemas.wording import is_person
from agentfab.generators.negatives import EXPECTED_CODE, make_negative
from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.schemas.answers import mentions
from agentfab.schemas.codes import Reason
from agentfab.validators.judge import RuleJudge
from agentfab.validators.verify import verify
from agentfab.worlds.registry import BUILTIN, builtin_domain

_DOMAINS = [builtin_domain(n) for n in BUILTIN] + list(synthesized_domains(8, 7))


def _shape(task) -> str:
    c = task.clarification
    if c.options:
        return "twins" if next(s for s in task.plan if s.id == c.step).bindings else "holdings"
    return "later" if c.step != task.plan[0].id else "first"


def _clarify_tasks(seeds: range = range(12), roll: bool = True):
    out = []
    for domain in _DOMAINS:
        store = domain.seeded(5).with_offset(77)
        for seed in seeds:
            rng = random.Random(seed)
            plan = Composer(domain, store, 5).compose("clarify", rng)
            if plan is None:
                continue
            task = to_task(plan, domain, rng, task_id=f"c{seed}", kind="clarify", distractors=2)
            content = OracleAgent(domain, store).roll_out(task, rng).content if roll else None
            out.append((domain, store, task, content))
    return out


_TASKS = _clarify_tasks()


def _verify(domain, store, task, content):
    return verify(task, content, {n: domain.tool(n) for n in task.tools}, store, RuleJudge(), 3)


def test_every_shape_occurs_and_the_oracle_passes_every_check():
    shapes = Counter(_shape(t) for _, _, t, _ in _TASKS)
    assert shapes["first"] >= 50 and shapes["later"] >= 10 and shapes["holdings"] >= 3 and shapes["twins"] >= 2, shapes
    for domain, store, task, content in _TASKS:
        v = _verify(domain, store, task, content)
        assert v.passed, (task.user_turns[0].text, v.reasons)


def test_the_question_comes_right_before_the_call_that_needs_the_answer():
    for domain, _, task, content in _TASKS:
        c = task.clarification
        question = next(i for i, e in enumerate(content) if e["class_"] == "message_action")
        assert content[question]["content"] == c.question and content[question + 1]["content"] == c.reply
        needed = next(s for s in task.plan if s.id == c.step)
        first_use = next(i for i, e in enumerate(content) if e["class_"] == "api_action"
                         and e["function"] == needed.tool and e["kwargs"].get(c.param) == c.value)
        assert question < first_use
        earlier = [e for e in content[:question] if e["class_"] == "api_action"]
        assert bool(earlier) == (_shape(task) != "first")  # later steps first, then the question


def test_an_ambiguous_request_never_says_which_and_the_question_offers_every_option():
    ambiguous = [(t, c) for _, _, t, c in _TASKS if t.clarification.options]
    assert len(ambiguous) >= 5
    for task, _ in ambiguous:
        c = task.clarification
        assert len(c.options) >= 2
        assert all(mentions(c.question, o.lower()) for o in c.options), c.question
        assert not mentions(task.user_turns[0].text, str(c.value).lower()), task.user_turns[0].text
        assert mentions(c.reply, str(c.value).lower())
        assert "?" in c.question
        text = task.user_turns[0].text
        said = re.match(r"(?:(?:Hi|Hey), )?(?:I'm|[Tt]his is|[Mm]y) ([a-z]+)( ID is)?", text)  # "My account ID is
        # ACC-032" may be a thing's
        assert said is None or said.group(2) or is_person(said.group(1)), text  # "I'm member MEM-17", never "I'm unit UNT-4"


def test_a_trajectory_that_guesses_is_rejected_with_its_own_code():
    caught = 0
    for domain, store, task, content in _TASKS:
        users = [i for i, e in enumerate(content) if e.get("source") == "user"]
        question = users[1] - 1
        guessed = [e for i, e in enumerate(content) if i not in (question, users[1])]  # never asks
        v = _verify(domain, store, task, guessed)
        assert Reason.GUESSED_VALUE in v.reasons and Reason.NO_CLARIFICATION in v.reasons, v.reasons
        # asks only after acting: the same calls, then the question and the answer, then the reply
        acted = [e for e in content if e not in (content[question], content[users[1]])]
        reply = acted.pop()
        after = [*acted, content[question], content[users[1]], reply]
        v = _verify(domain, store, task, after)
        assert Reason.GUESSED_VALUE in v.reasons, v.reasons
        caught += 1
    assert caught >= 60


def test_a_question_that_leaves_out_an_option_is_no_clarification():
    for domain, store, task, content in [x for x in _TASKS if x[2].clarification.options]:
        c = task.clarification
        other = next(o for o in c.options if o.lower() != str(c.value).lower())
        short = [dict(e) for e in content]
        i = next(i for i, e in enumerate(short) if e["class_"] == "message_action")
        short[i]["content"] = short[i]["content"].replace(other, "the other one")
        v = _verify(domain, store, task, short)
        assert Reason.NO_CLARIFICATION in v.reasons, (short[i]["content"], v.reasons)


def test_the_guessing_negative_is_caught_by_its_expected_code():
    made = 0
    for domain, store, task, content in _TASKS[::3]:
        out = make_negative(task, content, OracleAgent(domain, store), random.Random(1), only="guessed_value")
        assert out is not None
        name, broken = out
        v = _verify(domain, store, task, broken)
        assert EXPECTED_CODE[name] in v.reasons and not v.passed
        made += 1
    assert made >= 20


def test_a_value_left_out_takes_its_compound_adjective_and_a_person_is_not_it():
    """'find a free-minute slot' (a clarify request without the minutes of 'a free {n}-minute slot') and 'to record
    that it holds tenure' (of a professor) were flagged by a reader."""
    from agentfab.generators.language import clarify_template, setting
    from agentfab.generators.reasoning import Reasoner

    calendar = builtin_domain("calendar")
    slot = calendar.tool("find_free_slot")
    assert clarify_template("find a free {duration_minutes}-minute slot for {person_id} on {date}",
                            "duration_minutes", slot) == "find a free slot for {person_id} on {date}"
    question = Reasoner.before_question(slot, "duration_minutes")
    assert question.startswith("To ") and ", I need" in question, question
    said = 0
    for domain in [*synthesized_domains(30, 7), *(builtin_domain(n) for n in BUILTIN)]:
        for tool in domain.tools:
            properties = tool.spec.parameters.get("properties", {})
            flags = [p for p, s in properties.items() if s.get("type") == "boolean"]
            ids = [p for p in properties if p.endswith("_id")]
            if tool.spec.name.startswith("update_") and flags and ids:
                text = setting(tool, [(flags[0], "yes", True)])
                thing = ids[0][:-3].replace("_", " ")
                if is_person(thing):
                    assert " it " not in text + " " and f"the {thing}" in text, (tool.spec.name, text)
                    said += 1
    assert said >= 1, said


def test_a_question_for_a_value_to_look_for_asks_what_to_look_for():
    """'Please search for borrowers by name.' was answered 'Which name do you want?'."""
    from agentfab.generators.language import clarify_answer, clarify_question

    asked = 0
    for domain in [*synthesized_domains(30, 7), *(builtin_domain(n) for n in BUILTIN)]:
        for tool in domain.tools:
            for param, schema in tool.spec.parameters.get("properties", {}).items():
                if schema.get("type") != "string" or param.endswith("_id") or "date" in param:
                    continue
                for seed in range(4):
                    question = clarify_question(tool, param, random.Random(seed))
                    answer = clarify_answer(tool, param, "Amanda Fox", random.Random(seed))
                    assert "do you want" not in question, (tool.spec.name, question)
                    if not tool.spec.mutates:
                        assert "look" in question and not answer.startswith(("Make it", "Use")), (question, answer)
                        asked += 1
    assert asked >= 50, asked


def test_an_owner_introduces_themself_after_the_greeting_and_never_hands_their_record_to_another():
    """'I'm student STU-0034. Hi, please update the record of my enrollment, setting the student to STU-0027,
    thanks.' (a quickstart row): the greeting comes first, and a request about one of my records never moves it to
    another owner."""
    owners = greeted = 0
    for domain, _, task, _ in _clarify_tasks(range(40), roll=False):
        text = task.user_turns[0].text
        intro = re.match(r"(?:(?:Hi|Hey), )?(?:I'm|[Mm]y|[Tt]his is) ([a-z ]+?) (?:ID is )?[A-Z]+-\d+\.", text)
        if _shape(task) != "holdings" or intro is None:
            continue
        owners += 1
        greeted += text.startswith(("Hi, ", "Hey, "))
        assert not re.search(r"\. (?:Hi|Hey), ", text), text
        lister = task.plan[0]
        owner = domain.tool(lister.tool).spec.parameters["properties"][next(iter(lister.arguments))]["x-entity"]
        head = next(s for s in task.plan if s.id == task.clarification.step)
        props = domain.tool(head.tool).spec.parameters["properties"]
        moved = [k for k in head.arguments if k != task.clarification.param and props[k].get("x-entity") == owner]
        assert not moved, (text, head.arguments)
    assert owners >= 20 and greeted >= 2, (owners, greeted)
    from agentfab.generators.clarify import introduced

    assert introduced("I'm member MEM-1.", "Hi, please renew my loan.") == "Hi, I'm member MEM-1. Please renew my loan."
    assert introduced("My account ID is A-1.", "Hey, can you block my card?") == (
        "Hey, my account ID is A-1. Can you block my card?")


def test_a_holdings_request_never_asks_for_the_owner_it_names():
    """'Can you tell me the gallery of the tour of gallery GAL-003?' (3 quickstart clarify rows): a request about one
    of an owner's records asks for anything but that owner."""
    from agentfab.generators.queries import render_clause
    from agentfab.generators.plans import Step

    museum = next(d for d in synthesized_domains(30, 7) if d.name == "museum")
    tool = museum.tool("get_tour")
    assert any(p.asks == ("gallery_id",) for p in tool.phrases)  # the phrase there is to avoid
    step = Step("s1", "get_tour", {"tour_id": "TOUR-0004"})
    asked = {render_clause(step, tool, random.Random(s), hide="tour_id", known="gallery_id").phrase.asks
             for s in range(60)}
    assert ("gallery_id",) not in asked and len(asked) > 1, asked
    unfiltered = {render_clause(step, tool, random.Random(s), hide="tour_id").phrase.asks for s in range(60)}
    assert ("gallery_id",) in unfiltered  # the control: without `known` it is drawn
