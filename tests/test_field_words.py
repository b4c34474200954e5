"""Field names read as words and a refused delete reads as a reason: "origination date", not "originat date";
"rate 8.90%", not "rate pct 8.90"; "energy use 291.10 kWh", not "kwh 291.10"; and a record still in use is
reported as "member MEM-038 still has 3 loans (...), which must be deleted or reassigned first", a clause a reply
can carry, not an instruction ("; delete or change those first") spliced into the assistant's words."""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml

from agentfab.generators.facts import value_text

from agentfab.generators.failures import failure_reply
from agentfab.schemas.wording import label, unit
from agentfab.worlds.registry import builtin_domain

_VOCAB = Path(__file__).parents[1] / "agentfab" / "generators" / "vocab"
_UNIT_WORDS = {"pct", "kwh", "km", "kg", "mg", "usd", "eur"}


def _vocabulary_fields() -> set[str]:
    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "fields" and isinstance(value, dict):
                    names.update(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(_VOCAB.glob("*.yaml")):
        walk(yaml.safe_load(path.read_text()))
    return names


def test_a_date_field_named_by_a_past_participle_reads_as_its_noun():
    assert label("originated_on") == "origination date"
    assert label("approved_on") == "approval date" and label("received_on") == "receipt date"
    assert label("visited_on") == "visit date" and label("hired_on") == "hire date"


def test_an_abbreviation_reads_as_letters():
    """'the status is returned and the eta is 2025-04-01' (quickstart logistics rows): 'the ETA'."""
    assert label("eta") == "ETA"


def test_no_field_of_the_vocabulary_reads_with_a_unit_word_or_a_cut_participle():
    fields = _vocabulary_fields()
    assert {"rate_pct", "kwh", "originated_on"} <= fields  # the vocabulary still has the cases this test is for
    for name in fields:
        words = label(name).split()
        assert not _UNIT_WORDS & set(words), (name, label(name))
        if name.endswith("_on"):  # "originat date": a participle cut to a non-word
            assert not re.search(r"(at|iv|ac|ov)$", words[-2]), (name, label(name))


def test_a_percentage_or_a_kwh_value_carries_its_unit():
    assert unit("rate_pct") == "%" and value_text("rate_pct", 8.9, {}) == "8.90%"
    assert unit("kwh") == "kWh" and value_text("kwh", 291.1, {}) == "291.10 kWh"
    assert label("kwh") == "energy use"
    assert unit("minutes") is None  # a field named "minutes" is a count, not a unit after a number


def test_a_refused_delete_is_a_reason_a_reply_can_carry():
    domain = builtin_domain("library")
    world = domain.seeded(3).fork()
    member = next(r["member_id"] for r in world.rows("loans"))
    result = domain.tool("delete_member").invoke(world, {"member_id": member})
    message = result["error"]["message"]
    assert re.fullmatch(rf"member {member} still has \d+ loans? \([^)]+\), which must be deleted or reassigned "
                        r"first", message), message
    text = failure_reply(domain.tool("delete_member"), {"member_id": member}, result, random.Random(0))
    assert "; delete" not in text and "still has" in text and text.endswith("first.")


def test_a_person_is_their_not_its():
    from agentfab.generators.replies import _its
    from agentfab.schemas.wording import is_person
    assert is_person("teacher") and is_person("loan officer") and not is_person("farm")
    assert _its("the name is Mary Brown", "person") == "their name is Mary Brown"
    assert _its("it has 28 years of experience", "teacher") == "they have 28 years of experience"
    assert _its("the artist is ART-6", "artwork") == "its artist is ART-6"  # a thing stays "its"


def test_a_reference_never_names_a_record_by_itself():
    """A value fed from get_next_event / get_latest_booking is "that event", never "the next event's event" or
    "the booking of that latest booking" (22 quickstart rows read like that)."""
    from agentfab.generators.queries import to_task
    from agentfab.generators.tasks import Composer

    doubled = re.compile(r"\b(\w+)'s \1\b|\bthe (\w+) of that \w+ \2\b")
    seen = 0
    for world in ("calendar", "travel"):
        domain = builtin_domain(world)
        store = domain.seeded(5)
        composer, rng = Composer(domain, store, 5), random.Random(5)
        for i in range(150):
            plan = composer.compose("chain", rng)
            if plan is None:
                continue
            task = to_task(plan, domain, rng, task_id=f"c{i}", kind="chain", distractors=1)
            text = " ".join(t.text for t in task.user_turns)
            seen += any(s.tool in ("get_next_event", "get_latest_booking") for s in task.plan[:-1])
            assert not doubled.search(text), text
    assert seen >= 5  # the chains this test is about were composed


def test_a_clarify_question_about_a_person_asks_for_their_id():
    from agentfab.generators.language import clarify_question
    from agentfab.worlds.registry import builtin_domain as domain_of

    library = domain_of("library")
    tool = next(t for t in library.tools if "member_id" in t.spec.parameters.get("properties", {}))
    book = next(t for t in library.tools if list(t.spec.parameters.get("properties", {})) == ["book_id"])
    asked = {clarify_question(tool, "member_id", random.Random(i)) for i in range(40)}
    assert any("their ID" in q for q in asked) and not any("its ID" in q for q in asked), asked
    assert any("its ID" in q for q in {clarify_question(book, "book_id", random.Random(i)) for i in range(40)})


def test_a_username_is_made_from_its_owners_name():
    """"sarahward" for Elizabeth Wright read as a mistake; every seeded username now comes from the row's name."""
    from agentfab.flows.worlds import synthesized_domains

    checked = 0
    for domain in synthesized_domains(30, 7):
        store = domain.seeded(1)
        for entity in ("developers", "learners", "listeners"):
            try:
                rows_ = list(store.rows(entity))
            except KeyError:
                continue
            for r in rows_:
                if "username" in r and "name" in r:
                    last = r["name"].lower().split()[-1]
                    assert last.strip(".") in r["username"], (r["name"], r["username"])
                    checked += 1
    assert checked >= 10


def test_a_refused_delete_of_a_record_with_many_referrers_names_five_and_counts_the_rest():
    """'the location still has 6 cars (CAR-0010, CAR-0019, CAR-0020, CAR-0025, CAR-0035, ...)' (35 quickstart
    replies passed the '...' on): five are named and the rest counted, '... CAR-0035 and 1 more)'."""
    domain = builtin_domain("library")
    world = domain.seeded(3).fork()
    first = next(iter(world.rows("loans")))
    book = first["book_id"]
    for n in range(6):  # give one book more than five loans
        world.put("loans", f"LN-9{n:04d}", {**first, "id": f"LN-9{n:04d}"})
    result = domain.tool("delete_book").invoke(world, {"book_id": book})
    message = result["error"]["message"]
    held = sorted(r["id"] for r in world.rows("loans") if r["book_id"] == book)
    assert len(held) > 5 and "..." not in message, message
    assert f"({', '.join(held[:5])} and {len(held) - 5} more)" in message, message
