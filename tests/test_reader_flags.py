"""What a careful reader flagged in rows of main c557233, each checked on generated text: a reference to a value of a
result that holds two of its kind (or a value named for its role) that does not say which, a typo made alone inside
a group announced as made together, "There are 0 activities", "The teacher is TCH-0029 for the name Janet
Friedman", "the refills whose customer is that customer" and "years experience"."""

from __future__ import annotations

import random
import re

from agentfab.flows.worlds import synthesized_domains
from agentfab.generators.facts import Said
from agentfab.generators.queries import to_task
from agentfab.generators.references import result_kind as _kind
from agentfab.generators.replies import reply
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.schemas.answers import flatten, mentioned, mentions
from agentfab.schemas.wording import label, noun
from agentfab.validators.replay import check_truth, replay
from agentfab.worlds.registry import builtin_domain

_SYNTH = {d.name: d for d in synthesized_domains(30, 7)}
_BUILTIN = {n: builtin_domain(n) for n in ("bank", "travel", "calendar", "shop", "library")}


def _tasks(domain, kinds, seeds):
    store = domain.seeded(3)
    for kind in kinds:
        for seed in seeds:
            rng = random.Random(seed)
            plan = Composer(domain, store, 3).compose(kind, rng)
            if plan is not None:
                yield store, to_task(plan, domain, rng, task_id="t", kind=kind, distractors=2), rng


def test_no_chain_reference_points_at_one_of_two_values_of_a_kind_without_naming_which():
    """After get_flight (an origin and a destination), get_event (an organizer and attendees) or get_account (its
    owner), a fed value is named by its role: "the flight's destination city", "the organizer of that event"."""
    checked = named_roles = 0
    domains = [*_BUILTIN.values(), _SYNTH["sports_league"], _SYNTH["helpdesk"], _SYNTH["airline_ops"],
               _SYNTH["school"], _SYNTH["utility"]]
    for domain in domains:
        for _, task, _ in _tasks(domain, ("chain", "compound", "multi_turn"), range(12)):
            text = flatten(" ".join(t.text for t in task.user_turns))
            by_id = {s.id: s for s in task.plan}
            for step in task.plan:
                for param, ref in step.bindings.items():
                    source_id, field = ref.split(".", 1)
                    returns = domain.tool(by_id[source_id].tool).spec.returns.get("properties", {})
                    entity = domain.tool(step.tool).spec.parameters["properties"][param].get("x-entity") or field
                    twins = [f for f in returns if _kind(returns, f) == _kind(returns, field)]
                    role = label(field)
                    checked += 1
                    if len(twins) > 1 or role not in (noun(entity), label(entity)):
                        named_roles += 1
                        short = role.split(" ", 1)[-1]  # "the team's lead" names the team lead
                        assert re.search(r"\b" + re.escape(role) + r"\b", text) or \
                            re.search(r"(?:'s|\bthe) " + re.escape(short) + r" of that\b|'s " + re.escape(short) + r"\b", text), \
                            (domain.name, field, text)
    assert checked >= 100 and named_roles >= 10, (checked, named_roles)


def _recovery_rows(kind: str, n: int):
    """(task, content) of rollouts whose agent mistyped once, over built-in worlds."""
    for domain in _BUILTIN.values():
        for store, task, rng in _tasks(domain, (kind,), range(n)):
            content = OracleAgent(domain, store, recovery=1.0).roll_out(task, rng).content
            yield domain, store, task, content


def test_a_typo_inside_a_parallel_group_is_one_call_of_the_group_and_the_thought_says_so():
    groups_with_typo = 0
    for domain, store, task, content in _recovery_rows("parallel", 6):
        offered = {n: domain.tool(n) for n in task.tools}
        assert not check_truth(task, content, replay(content, offered, store)), task.id
        calls = [i for i, e in enumerate(content) if e["class_"] == "api_action"]
        first = calls[0]
        group = [i for i in calls if all(content[j]["class_"] == "api_action" for j in range(first, i + 1))]
        results = content[group[-1] + 1: group[-1] + 1 + len(group)]
        errors = [r for r in results if r["content"].startswith('{"error"')]
        if len(group) < 2 or not errors:
            continue
        groups_with_typo += 1
        thought = content[first]["description"]
        assert f"These {len(group)} calls" in thought, thought  # the thought counts what is made together
        assert len(group) == len({s.id for s in task.plan}), "every planned call is in the group, the typo too"
        assert len(errors) == 1
        retry = content[group[-1] + 1 + len(group)]
        assert retry["class_"] == "api_action" and retry["description"], "the retry follows, with its reason"
    assert groups_with_typo >= 5


def test_a_zero_count_reads_no_and_the_answer_check_accepts_it_but_not_its_omission():
    domain = _SYNTH["crm"]
    tool = domain.tool("count_activities_of_contact")
    said = [reply([Said(tool, {"contact_id": "CON-046"}, {"count": 0}, ("count",))], random.Random(s))
            for s in range(12)]
    assert not any(re.search(r"\b0 activities|number of activities is 0", t) for t in said), said
    assert "Contact CON-046 has no activities." in said or any("no activities for contact CON-046" in t
                                                               for t in said), said
    assert all(mentions(t, "0") for t in said)
    for negative in ("Contact CON-046 has activities.", "No, contact CON-046 is not active.",
                     "I can't do that: no tool I have supports it.", "None of my tools can do that."):
        assert not mentioned(flatten(negative), "0"), negative  # omitted, or a "no" that is no quantity
    assert mentions("I found zero activities.", "0") and not mentions("I found 10 activities.", "0")


def test_a_zero_count_in_a_built_task_passes_the_truth_check_and_a_reply_without_it_fails():
    checked = 0
    for domain in (_SYNTH["crm"], _SYNTH["veterinary"], _SYNTH["school"], _BUILTIN["library"]):
        for store, task, rng in _tasks(domain, ("single", "chain", "compound"), range(30)):
            zero = [f for t in task.user_turns for f in t.facts if f.field == "count" and f.values == ["0"]]
            if not zero:
                continue
            offered = {n: domain.tool(n) for n in task.tools}
            content = OracleAgent(domain, store).roll_out(task, rng).content
            text = content[-1]["content"]
            assert not re.search(r"\b0 [a-z]+s\b", text), text
            assert not check_truth(task, content, replay(content, offered, store)), text
            broken = [dict(e) for e in content]
            broken[-1]["content"] = re.sub(r"\bno ([a-z ]+?s)\b", r"some \1", text)
            assert broken[-1]["content"] != text
            codes = {c for c, _ in check_truth(task, broken, replay(broken, offered, store))}
            assert codes & {"truth.wrong_answer", "truth.incomplete_answer"}, (text, codes)
            checked += 1
    assert checked >= 3


def test_a_record_found_by_a_value_is_said_as_a_person_would():
    domain = _SYNTH["school"]
    tool = domain.tool("find_teacher_by_name")
    result = {"teacher_id": "TCH-0029", "name": "Janet Friedman", "subject": "math", "years_experience": 9}
    said = {reply([Said(tool, {"name": "Janet Friedman"}, result, ("teacher_id",))], random.Random(s))
            for s in range(12)}
    assert not any("for the name" in t.lower() or "the teacher is" in t.lower() for t in said), said
    assert any("Janet Friedman's teacher ID is TCH-0029" in t for t in said), said
    assert any("The teacher named Janet Friedman is TCH-0029" in t for t in said), said


def test_a_list_of_a_record_is_not_whose_record_is_that_record_and_years_read_of_experience():
    texts = []
    for domain in (_SYNTH["pharmacy"], _SYNTH["sports_league"], _SYNTH["school"], _SYNTH["library"]
                   if "library" in _SYNTH else _BUILTIN["library"]):
        texts += [t.text for _, task, _ in _tasks(domain, ("chain", "multi_turn"), range(25)) for t in task.user_turns]
    joined = " ".join(texts)
    assert not re.search(r"whose (\w+) is (that|the same) \1\b", joined), re.search(
        r".{60}whose (\w+) is (that|the same) \1\b.{20}", joined)
    assert re.search(r"\b(of|linked to) (that|the same) \w+", joined)
    assert label("years_experience") == "years of experience" and label("days_left") == "days left"
    teacher = _SYNTH["school"].tool("average_teacher_years_experience")
    assert all("years experience" not in p.text for p in teacher.phrases)


def test_the_judge_still_marks_down_a_hedge_a_redundant_call_and_an_error_whose_cause_is_not_named():
    from agentfab.validators.judge import RuleJudge

    judge = RuleJudge()
    domain = _BUILTIN["bank"]
    store, task, rng = next(x for x in _tasks(domain, ("single",), range(40)) if x[1].plan[0].arguments)
    content = OracleAgent(domain, store).roll_out(task, rng).content
    clean = judge.judge(task, content)
    assert clean.score == 5.0, clean.rationale
    reply_at = len(content) - 1
    for hedge in ("I think ", "It seems that ", "Probably: "):
        hedged = [*content[:reply_at], dict(content[reply_at], content=hedge + content[reply_at]["content"])]
        verdict = judge.judge(task, hedged)
        assert verdict.score < clean.score and "hedges" in verdict.rationale, hedge
    data = [dict(e) for e in content]  # negative control: a hedge word that is a value of the data is no hedge
    data[0]["content"] += " My note says probably fine."
    data[reply_at]["content"] += " Your note says 'probably fine'."
    assert "hedges" not in judge.judge(task, data).rationale
    calls = [i for i, e in enumerate(content) if e["class_"] == "api_action"]
    i = calls[0]
    again = content[: i + 2] + [dict(content[i], tool_call_id="again", description="Let me check once more."),
                                dict(content[i + 1], tool_call_id="again")] + content[i + 2:]
    redundant = judge.judge(task, again)
    assert redundant.score < clean.score and "repeated" in redundant.rationale, redundant.rationale
    # a recovered typo whose cause the next thought names costs half a point; one whose cause it hides costs more
    typo_store, typo_task, typo_rng = next(x for x in _tasks(domain, ("single",), range(40, 80))
                                           if x[1].plan[0].arguments)
    typo = OracleAgent(domain, typo_store, recovery=1.0).roll_out(typo_task, typo_rng).content
    told = judge.judge(typo_task, typo)
    errors = [i for i, e in enumerate(typo) if e.get("source") == "environment" and '"error"' in e["content"]]
    assert errors and told.score == 5.0 - 0.5 * len(errors) - max(0, len(errors) - 1) * 0.5, told.rationale
    hidden = [dict(e) for e in typo]
    for i in errors:
        hidden[i + 1]["description"] = "Trying again."
    muted = judge.judge(typo_task, hidden)
    assert muted.score < told.score and "cause" in muted.rationale, muted.rationale


def test_measures_totals_and_counts_read_as_a_person_says_them():
    from agentfab.generators.language import sentence
    from agentfab.generators.facts import fact_clause, value_text

    assert fact_clause("total minutes", "67", 67) == "the total is 67 minutes"  # not "the total minutes are 67"
    assert fact_clause("average years of experience", "5.50", 5.5) == "the average is 5.50 years of experience"
    assert fact_clause("hectares", "1,309.79", 1309.79) == "it has 1,309.79 hectares"  # not "the number of hectares"
    assert fact_clause("years of experience", "9", 9) == "it has 9 years of experience"
    assert fact_clause("minutes", "54", 54) == "it takes 54 minutes"
    assert fact_clause("days", "9", 9) == "the number of days is 9"
    assert fact_clause("highest attendance", "7514", 7514) == "the highest attendance is 7514"
    # what a write did, counted: not "the notified is 4" nor "the number of people notified is 4"
    assert fact_clause(label("notified"), "4", 4) == "4 people were notified"
    assert fact_clause(label("notified"), "1", 1) == "1 person was notified"
    assert fact_clause(label("restocked"), "0", 0) == "no units were put back in stock"
    assert mentions("no units were put back in stock", "0") and mentions("1 person was notified", "1")
    assert label("flight_hours") == "flight hours" and value_text("flight_hours", 10602, {}) == "10,602"
    field = _SYNTH["farm"].tool("get_field")
    said = {reply([Said(field, {"field_id": "FLD-004"}, {"field_id": "FLD-004", "hectares": 105.04}, ("hectares",))],
                  random.Random(s)) for s in range(6)}
    assert all("Field FLD-004 has 105.04 hectares." in t for t in said), said
    asked = {sentence("tell me the filing date and status of my claim", random.Random(s)) for s in range(40)}
    assert not any("for me" in t for t in asked), asked  # never "... of my claim for me?"


def test_a_value_fed_from_another_record_names_that_record_not_one_the_request_mentioned_before():
    """'(1) find the vehicle whose plate is X, ... the highest odometer among the vehicles of its depot, ... list the
    trips of that vehicle' read as the plate's vehicle; it meant the one with the highest odometer. A fed value is
    "the trip's vehicle", "the vehicle with the highest odometer (km)", never "the same vehicle"."""
    texts = []
    for domain in (_SYNTH["fleet"], _SYNTH["university"], _SYNTH["farm"], _BUILTIN["travel"]):
        texts += [t.text for _, task, _ in _tasks(domain, ("chain", "compound"), range(15)) for t in task.user_turns]
    joined = " ".join(texts)
    assert not re.search(r"\bthe same \w+|\bfrom before\b", joined), re.search(r".{40}(the same|from before).{20}", joined)
    assert re.search(r"\bthe \w+'s \w+", joined) and re.search(r"\bthe \w+ with the (highest|lowest) ", joined), joined


def test_a_created_record_is_named_by_its_new_id_and_hours_run_stay_a_number():
    from agentfab.generators.facts import fact_clause

    travel = _BUILTIN["travel"]
    tool, args = travel.tool("book_flight"), {"flight_id": "FL-0086", "traveler_id": "T-214"}
    result = {"booking_id": "BK-0048", "flight_id": "FL-0086", "traveler_id": "T-214", "price": 375.61,
              "status": "confirmed"}
    said = {reply([Said(tool, args, result, ("booking_id", "price"))], random.Random(s)) for s in range(6)}
    assert all("The new booking's ID is BK-0048." in t and "The booking is" not in t for t in said), said
    assert fact_clause("hours run", "71347", 71347) == "the number of hours run is 71347"  # not "it has ... run"


def test_a_count_keeps_every_value_it_was_asked_with_and_a_list_of_matches_names_them():
    from agentfab.generators.facts import noun_of_results

    events = _BUILTIN["calendar"].tool("list_events")
    said = {reply([Said(events, {"person_id": "P-101", "date": "2026-12-18"},
                        {"count": 0, "date": "2026-12-18", "events": []}, ("count",))], random.Random(s))
            for s in range(8)}
    assert all("no events" in t and "on 2026-12-18" in t for t in said), said  # not "P-101 has no events"
    matches = _SYNTH["sports_league"].tool("list_matches_of_home_team")
    assert noun_of_results(matches) == "match"
    result = {"count": 2, "results": [{"match_id": "MTC-0018"}, {"match_id": "MTC-0020"}]}
    said = {reply([Said(matches, {"home_team_id": "TM-0002"}, result, ("count",))], random.Random(s)) for s in range(4)}
    assert all("MTC-0018 and MTC-0020" in t for t in said), said


def test_a_reply_with_several_writes_says_done_once():
    bank = _BUILTIN["bank"]
    store, task, rng = next(x for x in _tasks(bank, ("parallel",), range(60))
                            if sum(bank.tool(s.tool).spec.mutates for s in x[1].plan) >= 2)
    for seed in range(20):
        content = OracleAgent(bank, store).roll_out(task, random.Random(seed)).content
        assert content[-1]["content"].count("Done") <= 1, content[-1]["content"]


def test_a_list_names_what_it_found_once_and_never_repeats_what_it_was_asked_for():
    bank = _BUILTIN["bank"]
    tool = bank.tool("list_accounts")
    result = {"customer_id": "CUS-123", "account_ids": ["ACC-1023", "ACC-1057"], "count": 2}
    for asks in (("customer_id", "count"), ("count", "account_ids")):
        said = {reply([Said(tool, {"customer_id": "CUS-123"}, result, asks)], random.Random(s)) for s in range(6)}
        assert not any("the customer is CUS-123" in t or "the accounts are" in t for t in said), said
    assert all("ACC-1023 and ACC-1057" in t for t in said), said


def test_a_thought_names_a_tool_called_several_times_in_a_group_once():
    """'get_delivery to get a delivery by its id; get_delivery to get a delivery by its id; get_delivery to ...' and
    'the restaurant RES-013 from get_delivery, the restaurant RES-024 from get_delivery' read 'get_delivery three
    times (for DLV-019, DLV-049 and DLV-041) to get a delivery by its id' and 'the restaurants RES-013 and RES-024
    from get_delivery'."""
    grouped = 0
    for domain in (_SYNTH["food_delivery"], _SYNTH["project_tracker"], _SYNTH["gym"], _BUILTIN["bank"]):
        for store, task, rng in _tasks(domain, ("compound", "parallel"), range(25)):
            for event in OracleAgent(domain, store).roll_out(task, rng).content:
                thought = event.get("description") or ""
                together = thought.partition("so I'll make them together: ")[2]
                if not together:
                    continue
                called = re.findall(r"(?:^|; )(\w+)", together)
                assert len(called) == len(set(called)), thought
                assert len(re.findall(r"from (\w+)", thought)) == len(set(re.findall(r"from (\w+)", thought))), thought
                grouped += bool(re.search(r"\w+ (?:twice|three times|four times) \(for ", together))
    assert grouped >= 5, grouped


def test_a_record_s_own_words_are_quoted_in_a_sentence_and_said_once():
    """'The subject of ticket TCK-0033 is invoice question.' (quickstart rows): a subject, title or label of several
    words is quoted in a sentence ('is "invoice question"'), stands alone in a list ('- Subject: invoice question'),
    and is said once; a one-word value and a name are not quoted."""
    tool = _SYNTH["helpdesk"].tool("get_ticket")
    result = {"ticket_id": "TCK-0033", "customer_id": "CUS-0010", "assignee_id": "AGT-006", "priority": "urgent",
              "subject": "invoice question"}
    said = {reply([Said(tool, {"ticket_id": "TCK-0033"}, result, asks)], random.Random(s))
            for s in range(16) for asks in (("subject",), ("subject", "priority"), tuple(result)[1:])}
    for text in said:
        assert text.count("invoice question") == 1, text
        assert '"invoice question"' in text or "- Subject: invoice question\n" in text + "\n", text
        assert '"urgent"' not in text and '"TCK-0033"' not in text, text
    assert any('"invoice question"' in t for t in said) and any("- Subject:" in t for t in said), said
    album = _SYNTH["streaming"].tool("find_album_by_title")  # and a record found by its title quotes it alike
    found = {"album_id": "ALB-021", "title": "Quiet Hearts", "artist_id": "ART-0007"}
    said = {reply([Said(album, {"title": "Quiet Hearts"}, found, ("album_id",))], random.Random(s)) for s in range(6)}
    assert all('The album titled "Quiet Hearts" is ALB-021' in t for t in said), said


def test_a_record_found_by_its_own_name_is_named_not_with_itself():
    """'The company with company Harris, Bell and McCoy is CO-103.' (a quickstart travel row) and 'The part with
    part name Nylon Valve': a record found by its name reads 'The company named Harris, Bell and McCoy is CO-103'."""
    tool = _BUILTIN["travel"].tool("find_company")
    result = {"company_id": "CO-103", "hq_city": "Seattle", "industry": "media", "name": "Harris, Bell and McCoy"}
    said = {reply([Said(tool, {"company_name": "Harris, Bell and McCoy"}, result, ("company_id",))],
                  random.Random(s)) for s in range(8)}
    assert all("The company named Harris, Bell and McCoy is CO-103" in t for t in said), said
    part = _SYNTH["manufacturing"].tool("find_part_by_part_name")
    said = {reply([Said(part, {"part_name": "Nylon Valve"}, {"part_id": "PRT-0012", "part_name": "Nylon Valve"},
                        ("part_id",))], random.Random(s)) for s in range(8)}
    assert all("The part named Nylon Valve is PRT-0012" in t for t in said), said


def test_counted_records_read_in_a_city_named_and_aircraft_stay_aircraft():
    """'There are 3 hotels with city Seattle', 'I found 3 pets with pet name Milo', 'There are 6 aircrafts with
    model E190' and a plate '10B•030' (quickstart replies): '3 hotels in Seattle', '3 pets named Milo' (only
    where every match has that name), '6 aircraft', plates typed with a hyphen."""
    from agentfab.schemas.wording import plural
    from agentfab.worlds.declared import faker_pool

    assert plural("aircraft") == "aircraft" and plural("crew member") == "crew members"
    assert not any(ord(c) > 127 for plate in faker_pool("license_plate") for c in plate)
    pets = _SYNTH["veterinary"].tool("search_pets_by_pet_name")
    found = [{"pet_id": f"PET-0{i}", "pet_name": name} for i, name in ((18, "Milo"), (23, "Milo"))]
    said = {reply([Said(pets, {"pet_name": "Milo"}, {"count": 2, "results": found}, ("count",))], random.Random(s))
            for s in range(8)}
    assert all("2 pets named Milo" in t for t in said), said
    found[1]["pet_name"] = "Milo Junior"
    said = {reply([Said(pets, {"pet_name": "Milo"}, {"count": 2, "results": found}, ("count",))], random.Random(s))
            for s in range(8)}
    assert not any("named Milo" in t for t in said), said
    airports = _SYNTH["airline_ops"].tool("search_airports_by_city")
    result = {"count": 1, "results": [{"airport_id": "APT-010", "city": "Denver"}]}
    said = {reply([Said(airports, {"city": "Denver"}, result, ("count",))], random.Random(s)) for s in range(8)}
    assert all("1 airport in Denver" in t for t in said), said


def test_a_whether_question_is_answered_first_and_a_refused_transfer_says_why_in_a_sentence():
    """'For absence ABS-018, the pupil is PUP-014. And yes, absence ABS-018 was excused.' (a quickstart multi-turn
    row: the request asked whether, the pupil was added for the next turn) answers the question first: 'Yes, absence
    ABS-018 was excused.'; asked for the details, the yes/no still follows them. 'That was refused because
    insufficient funds in ACC-1027: balance 45.14' read as no sentence: the bank's refusal is one."""
    tool = _SYNTH["school"].tool("get_absence")
    result = {"absence_id": "ABS-018", "day": "2025-10-09", "excused": True, "pupil_id": "PUP-014", "reason": "travel"}
    asked = {reply([Said(tool, {"absence_id": "ABS-018"}, result, ("excused", "pupil_id"))], random.Random(s))
             for s in range(8)}
    for text in asked:
        assert "Yes, absence ABS-018 was excused. " in text and "And yes" not in text, text
        assert text.index("excused") < text.index("PUP-014"), text
    details = {reply([Said(tool, {"absence_id": "ABS-018"}, result, ("pupil_id", "day", "excused"))],
                     random.Random(s)) for s in range(8)}
    assert all(t.index("PUP-014") < t.index("excused") for t in details), details
    bank = _BUILTIN["bank"]
    world = bank.seeded(3).fork()
    poor = min((r for r in world.rows("accounts") if r["status"] == "active"), key=lambda r: (r["balance"], r["id"]))
    other = next(r["id"] for r in world.rows("accounts") if r["status"] == "active" and r["id"] != poor["id"])
    out = bank.tool("transfer").invoke(world, {"from_account": poor["id"], "to_account": other,
                                               "amount": round(poor["balance"] + 10, 2)})
    assert out["error"]["type"] == "insufficient_funds"
    assert out["error"]["message"] == (f"account {poor['id']} holds only {poor['balance']:,.2f} USD, less than the "
                                       f"{poor['balance'] + 10:,.2f} USD to send")


def test_money_in_the_built_in_worlds_is_said_with_its_currency():
    """'Its price is 259.20.', 'The refund is 359.43.', 'The highest late fee is 3.74.' (quickstart replies): the
    shop, travel and bank results carry their currency and the library's money fields are named in USD, so every
    sum a reply states says 'USD' after it."""
    cases = [("shop", "get_product", "products", "product_id", "price"),
             ("travel", "get_booking", "bookings", "booking_id", "price"),
             ("library", "get_book", "books", "book_id", "price_usd")]
    for world, tool_name, table, key, money in cases:
        domain = _BUILTIN[world]
        store = domain.seeded(3).fork()
        first = min(r["id"] for r in store.rows(table))
        tool = domain.tool(tool_name)
        result = tool.invoke(store, {key: first})
        said = {reply([Said(tool, {key: first}, result, (money,))], random.Random(s)) for s in range(4)}
        amount = f"{result[money]:,.2f} USD"
        assert all(amount in text for text in said), (world, said)
