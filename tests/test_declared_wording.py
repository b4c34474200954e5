"""How declared domains' fields, examples and aggregates read in tools and text."""

from __future__ import annotations

import re


def test_a_unit_in_a_field_name_is_said_as_a_unit_not_as_a_word():
    """A reader flagged 'the highest weight kg is 696.20', then 'the highest delay (minutes)': `weight_kg` reads
    'weight in kg' in tools and text."""
    from agentfab.worlds.declared_spec import FieldDef

    assert FieldDef("weight_kg", "number", "").words == "weight in kg"
    assert FieldDef("odometer_km", "integer", "").words == "odometer in km"
    assert FieldDef("pet_name", "text", "").words == "pet name"


def test_free_text_examples_differ_between_domains_and_fields():
    """Every domain drew its examples from one shared stream, so each domain's city parameter offered the same three
    cities and a third of the cities a quickstart build wrote were 'Kansas City'."""
    from agentfab.flows.worlds import synthesized_domains

    by_words: dict[str, list[tuple[str, ...]]] = {}
    for domain in synthesized_domains(30, 7):
        for tool in domain.tools:
            if tool.name.startswith("create_"):
                for name, schema in tool.spec.parameters["properties"].items():
                    if schema.get("examples") and schema.get("type") == "string" and "date" not in name:
                        by_words.setdefault(schema["description"].split()[-1], []).append(tuple(schema["examples"]))
    shared = [lists for lists in by_words.values() if len(lists) >= 3]
    assert shared  # e.g. the names and cities of several domains
    for lists in shared:
        assert len(set(lists)) == len(lists), lists  # no two fields offer the same examples
        assert len({v for examples in lists for v in examples}) > 5, lists


def test_a_total_of_a_number_field_is_a_number_like_its_values_even_when_whole():
    """'The total principal is 718,868 for borrower BRW-0010' beside 'Principal: 147,207.00' (10 quickstart rows): a
    field of whole-valued numbers summed to an int. Its total is a float like its values, said '718,868.00'."""
    from agentfab.flows.worlds import synthesized_domains

    totals = 0
    for domain in synthesized_domains(30, 7):
        store = domain.seeded(1)
        for tool in domain.tools:
            if not tool.name.startswith("total_") or tool.spec.parameters.get("required"):
                continue
            result = tool.invoke(store.fork(), {})
            kind = tool.spec.returns["properties"]["value"]["type"]
            assert isinstance(result["value"], float if kind == "number" else int), (tool.name, result)
            totals += kind == "number"
    assert totals >= 10, totals


def test_an_aggregate_is_asked_for_over_its_records_not_as_a_noun_pile():
    """'tell me the mean teacher years of experience', 'the maximum meter reading energy use in kWh for ACCT-0020'
    (quickstart requests): an aggregate's phrases say the value and then what it is over ('the mean years of
    experience of all teachers', 'the maximum energy use in kWh of the meter readings for ...')."""
    import re

    from agentfab.flows.worlds import synthesized_domains

    checked = 0
    for domain in synthesized_domains(30, 7):
        for tool in domain.tools:
            if not re.match(r"(?:max|min|total|average)_", tool.name):
                continue
            for phrase in tool.phrases:
                checked += 1
                assert re.search(r"\b(?:all|the) [a-z ]+s\b", phrase.text), phrase.text
                assert not re.search(r"\b(?:maximum|minimum|combined|mean) [a-z]+ [a-z]+ [a-z]+ (?:for|$)",
                                     phrase.text) or " of " in phrase.text, phrase.text
    assert checked >= 200, checked


def test_the_largest_count_of_things_is_the_most_of_them_not_the_highest():
    """'find the highest nights among the stays of the stay's guest' (a quickstart compound request): a highest or
    lowest count of things is asked for as 'the most nights', 'the maximum number of seats', 'the fewest floors';
    an amount named by its unit as 'the most tonnes', 'the minimum number of tonnes' (a reader flagged 'the harvest
    with the highest tonnes'); a measure keeps its word ('the highest energy use in kWh'). The tool's description
    and its value say 'the maximum number of nights', and so does a reply ('The maximum number of nights is 13')."""
    from agentfab.worlds.declared import declared_domain_from_dict

    number = {"type": "number", "min": 1, "max": 90, "aggregate": ["max", "min"]}
    spec = {"name": "stays", "description": "A tiny hotel.", "entities": {
        "Stay": {"id_format": "STY-{n:02d}", "count": 6,
                 "fields": {"nights": {"type": "integer", "min": 1, "max": 14, "aggregate": ["max", "min"]},
                            "tonnes": number, "energy_use_kwh": number}}}}
    tools = {t.name: t for t in declared_domain_from_dict(spec).tools}
    most = tools["max_stay_nights"]
    assert [p.text for p in most.phrases] == ["find the most nights among all stays",
                                              "tell me the maximum number of nights of all stays"]
    assert most.spec.description.startswith("Get the maximum number of nights over all stays")
    assert most.spec.returns["properties"]["value"]["description"] == "The maximum number of nights"
    assert [p.text for p in tools["min_stay_nights"].phrases][0] == "find the fewest nights among all stays"
    assert [p.text for p in tools["min_stay_tonnes"].phrases] == ["find the minimum number of tonnes among all stays",
                                                                   "tell me the minimum number of tonnes of all stays"]
    assert [p.text for p in tools["max_stay_tonnes"].phrases][0] == "find the most tonnes among all stays"
    assert [p.text for p in tools["max_stay_energy_use_kwh"].phrases][0] == \
        "find the highest energy use in kWh among all stays"


def test_a_whole_number_of_things_is_said_before_them_and_agrees():
    """'create a new airport with city Houston and gates 54' and 'a new unit with building BLD-001, bedrooms 1'
    (quickstart requests and replies): a count of things reads '54 gates', '1 bedroom'; left out of a clarify
    request it goes with its noun."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.language import action_text, clarify_template

    domains = {d.name: d for d in synthesized_domains(30, 7)}
    airport = domains["airline_ops"].tool("create_airport")
    assert airport.phrases[0].text == "create a new airport with city {city}, {gates} gates and {runways} runways"
    assert clarify_template(airport.phrases[0].text, "gates", airport) == (
        "create a new airport with city {city} and {runways} runways")
    assert clarify_template(airport.phrases[1].text, "gates", airport) == "add an airport: city {city}, {runways} runways"
    unit = domains["property_management"].tool("create_unit")
    assert action_text(unit, {"building_id": "BLD-001", "bedrooms": 1, "monthly_rent_usd": 980.0}) == (
        "create a new unit for building BLD-001 with 1 bedroom and monthly rent 980.00 USD")


def test_a_create_request_names_the_record_then_says_whose_and_when_then_the_rest():
    """'create a new playlist with listener USR-029, name Road Trip Vibes and 79 songs', 'a new match with home team
    TM-0002, day 2025-08-31 and attendance 2841' (quickstart requests): a person says "named ... for listener ...
    with 79 songs", "on 2025-08-31"; a role ("home team") stays in the with-list. Left out of a clarify request, the
    name goes whole (not "a new playlist by name"), and an id in a colon list goes as any item does."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.language import action_text, clarify_template

    domains = {d.name: d for d in synthesized_domains(30, 7)}
    playlist = domains["streaming"].tool("create_playlist")
    assert playlist.phrases[0].text == "create a new playlist named {name} for listener {listener_id} with {songs} songs"
    assert clarify_template(playlist.phrases[0].text, "name", playlist) == (
        "create a new playlist for listener {listener_id} with {songs} songs")
    assert clarify_template(playlist.phrases[1].text, "listener_id", playlist) == "add a playlist: name {name}, {songs} songs"
    match = domains["sports_league"].tool("create_match")
    assert action_text(match, {"home_team_id": "TM-0002", "day": "2025-08-31", "attendance": 2841}) == (
        "create a new match on 2025-08-31 with home team TM-0002 and attendance 2,841")


def test_a_measure_in_a_create_list_follows_its_value_and_an_update_of_a_count_says_number_of():
    """'add a farm: name Maple Acres Orchard, county Marion County, hectares 235.27', 'flight hours 3485', 'tonnes
    374.74' and 'update the plant record for PLT-002, setting the lines to 1' (quickstart rows)."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.language import action_text, clarify_template

    domains = {d.name: d for d in synthesized_domains(30, 7)}
    farm = domains["farm"].tool("create_farm")
    assert farm.phrases[1].text == "add a farm: name {name}, county {county}, {hectares} hectares"
    assert clarify_template(farm.phrases[0].text, "hectares", farm) == (
        "create a new farm named {name} with county {county}")
    crew = domains["airline_ops"].tool("create_crew_member")
    assert action_text(crew, {"name": "Jennifer Smith", "base_id": "APT-005", "flight_hours": 1}) == (
        "create a new crew member named Jennifer Smith with base APT-005 and 1 flight hour")
    harvest = domains["farm"].tool("create_harvest")
    assert harvest.phrases[0].text == (  # its grade says what kind of harvest it is: before the noun
        "create a new {grade} harvest for field {field_id} with delivery date {delivered_on} and {tonnes} tonnes")
    assert "{tonnes} tonnes, grade {grade}" in harvest.phrases[1].text
    asked = [p.text for p in domains["farm"].tool("get_harvest").phrases]  # 'tell me the tonnes of harvest ...'
    assert "tell me the number of tonnes of harvest {harvest_id}" in asked
    assert "tell me the field and number of tonnes of harvest {harvest_id}" in asked
    machine = domains["manufacturing"].tool("create_machine")  # 'hours run 30,217', 'the number of hours run'
    assert "{operating_hours} operating hours" in machine.phrases[0].text
    plant = domains["manufacturing"].tool("update_plant")
    assert action_text(plant, {"plant_id": "PLT-002", "lines": 4, "city": "Denver"}).endswith(
        ", setting the number of lines to 4 and city to Denver")


def test_an_aggregate_of_a_percentage_is_said_with_its_percent_sign():
    """'The lowest rate is 5.88 for loan officer LO-003.' (a quickstart chain row; the field is `rate_pct`): the
    aggregate's value reads '5.88%'."""
    import random

    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.facts import Said
    from agentfab.generators.replies import reply

    loans = next(d for d in synthesized_domains(30, 7) if d.name == "banking_loans")
    tool = loans.tool("min_loan_rate_pct_of_officer")
    said = {reply([Said(tool, {"officer_id": "LO-003"}, {"loan_id": "LN-0001", "value": 5.88}, ("value",))],
                  random.Random(s)) for s in range(6)}
    assert all(t.endswith("The lowest rate is 5.88% for loan officer LO-003 (loan LN-0001).") for t in said), said


def test_money_is_said_with_its_currency_and_asked_for_without_it():
    """'the amount is 58,306.58', 'the principal is 713,295.00' (quickstart replies; the vocabulary's fields are
    described "in USD"): money fields are named `*_usd`, a value reads '58,306.58 USD', and a request asks for 'the
    highest principal' and 'the loan with the lowest rate', never 'the highest principal in USD' or 'rate in %'."""
    import random

    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.facts import Said
    from agentfab.generators.references import referred
    from agentfab.generators.replies import reply

    loans = next(d for d in synthesized_domains(30, 7) if d.name == "banking_loans")
    top = loans.tool("max_loan_principal_usd_of_officer")
    assert [p.text for p in top.phrases][0] == (
        "find the highest principal among the loans whose officer is {officer_id}")
    said = reply([Said(top, {"officer_id": "LO-003"}, {"loan_id": "LN-0001", "value": 850540.0}, ("value",))],
                 random.Random(0))
    assert said.endswith("The highest principal is 850,540.00 USD for loan officer LO-003 (loan LN-0001)."), said
    low = loans.tool("min_loan_rate_pct_of_officer")
    assert referred("loan", "loan", "loan_id", low, random.Random(0)) == "the loan with the lowest rate"
    assert referred("loan", "loan", "loan_id", top, random.Random(0)) == "the loan with the highest principal"


def test_a_value_fed_from_a_result_is_never_an_item_of_a_colon_list():
    """'add a field: the farm of that field', 'add a course: title X, that course's instructor, 3.87 hours'
    (quickstart requests, 50 of 2,894 rows): a reference has no label to stand in a list, so a create request fed
    from an earlier result is said the other way ("create a new field for the farm of that field"); fed nothing,
    both ways are used."""
    import random

    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.queries import render_clause
    from agentfab.generators.tasks import Step

    farm = {d.name: d for d in synthesized_domains(30, 7)}["farm"]
    create = farm.tool("create_field")
    assert any(p.text.startswith("add a field: ") for p in create.phrases)
    fed = Step("s2", "create_field", {"farm_id": "FRM-0002", "crop": "wheat"}, bindings={"farm_id": "s1.farm_id"},
               depends_on=["s1"])
    texts = {render_clause(fed, create, random.Random(i), sources={"s1": farm.tool("get_field")}).text
             for i in range(30)}
    assert texts and not any(": " in t for t in texts), texts
    assert all("create a new field for " in t and "farm" in t for t in texts), texts
    given = Step("s1", "create_field", {"farm_id": "FRM-0002", "crop": "wheat"})
    plain = {render_clause(given, create, random.Random(i)).text for i in range(30)}
    assert any(t.startswith("add a field: ") for t in plain) and any(t.startswith("create a new") for t in plain)


def test_records_found_by_their_whole_title_are_said_titled_as_found_by_name_are_named():
    """'I found 1 course with title Introduction to Poetry' (quickstart, 13 rows) reads 'titled "Introduction to
    Poetry"', the way the reply of a lookup by title says it; a part of a title keeps 'with'."""
    import random

    from agentfab.flows.worlds import synthesized_domains
    from agentfab.schemas.tasks import PlanStep
    from agentfab.generators.rollouts import describe_answer

    university = {d.name: d for d in synthesized_domains(30, 7)}["university"]
    course = {"course_id": "CRS-025", "level": "graduate", "professor_id": "PRF-001", "title": "Introduction to Poetry"}
    found = {"count": 1, "results": [course]}

    def said(title: str) -> set[str]:
        step = PlanStep(id="s1", tool="search_courses_by_title", arguments={"title": title})
        return {describe_answer(university, [step], {"s1": found}, random.Random(i)) for i in range(8)}

    whole = said("Introduction to Poetry")
    assert all('1 course titled "Introduction to Poetry": CRS-025' in t for t in whole), whole
    part = said("Poetry")
    assert all("with title Poetry" in t and "titled" not in t for t in part), part


def test_a_record_looked_up_by_its_whole_name_or_title_is_asked_for_as_named_or_titled():
    """'look up the trainer with name Sarah Baker' (quickstart, 222 requests) reads 'look up the trainer named Sarah
    Baker'; other unique fields keep 'with' ('the aircraft with tail number N82J'); left out, 'by name'."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.language import clarify_template

    domains = {d.name: d for d in synthesized_domains(30, 7)}
    trainer = domains["gym"].tool("find_trainer_by_name")
    assert [p.text for p in trainer.phrases] == ["find the trainer whose name is {name}",
                                                 "look up the trainer named {name}"]
    assert clarify_template(trainer.phrases[1].text, "name", trainer) == "look up the trainer by name"
    course = domains["university"].tool("find_course_by_title")
    assert course.phrases[1].text == "look up the course titled {title}"
    aircraft = domains["airline_ops"].tool("find_aircraft_by_tail_number")
    assert aircraft.phrases[1].text == "look up the aircraft with tail number {tail_number}"


def test_records_of_a_related_one_are_asked_for_as_its_records_and_a_role_keeps_its_name():
    """'list the work orders whose part is PRT-0012', 'the most tonnes among the harvests whose field is FLD-023'
    (quickstart, 184 requests) read 'list the work orders for part PRT-0012', 'among the harvests of field
    FLD-023'; a relation with a role of its own says it: 'count the flights whose origin is APT-006'."""
    import random

    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.language import clarify_template
    from agentfab.generators.queries import render_clause
    from agentfab.generators.tasks import Step

    domains = {d.name: d for d in synthesized_domains(30, 7)}
    gym, farm = domains["gym"], domains["farm"]
    assert gym.tool("list_members_of_club").phrases[0].text == "list the members for club {club_id}"
    assert gym.tool("count_members_of_club").phrases[0].text == "count the members for club {club_id}"
    assert farm.tool("max_harvest_tonnes_of_field").phrases[0].text == (
        "find the most tonnes among the harvests of field {field_id}")
    assert domains["airline_ops"].tool("count_flights_of_origin").phrases[0].text == (
        "count the flights whose origin is {origin_id}")
    members = gym.tool("list_members_of_club")
    left_out = clarify_template(members.phrases[0].text, "club_id", members)
    assert "{" not in left_out and left_out.startswith("list the members for ") and "club" in left_out, left_out
    fed = Step("s2", "list_members_of_club", {"club_id": "CLB-004"}, bindings={"club_id": "s1.club_id"},
               depends_on=["s1"])
    texts = {render_clause(fed, members, random.Random(i), sources={"s1": gym.tool("get_member")}).text
             for i in range(40)}
    said = [t for t in texts if t.startswith("list the members")]
    assert said and all(t.startswith("list the members for ") and "club" in t and "for club the" not in t
                        for t in said), said


def test_how_long_a_created_record_lasts_is_said_as_a_duration():
    """'create a new appointment for doctor DR-0003 and patient PT-0020 on 2025-05-25 with 35 minutes' and 'with kind
    email, 7 nights and status checked out' (quickstart requests and replies): a length reads 'lasting 35 minutes',
    a stay 'for 7 nights'; left out of a clarify request it goes whole, and a label with a hyphen ('check-in date')
    leaves its list as any other does."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.language import action_text, clarify_template

    domains = {d.name: d for d in synthesized_domains(30, 7)}
    appointment = domains["clinic"].tool("create_appointment")
    assert action_text(appointment, {"doctor_id": "DR-0003", "patient_id": "PT-0020", "day": "2025-05-25",
                                     "minutes": 35}) == (
        "create a new appointment for doctor DR-0003 and patient PT-0020 on 2025-05-25 lasting 35 minutes")
    assert clarify_template(appointment.phrases[0].text, "minutes", appointment) == (
        "create a new appointment for doctor {doctor_id} and patient {patient_id} on {day}")
    stay = domains["hotel"].tool("create_stay")
    assert stay.phrases[0].text == ("create a new stay for room {room_id} and guest {guest_id} for {nights} nights "
                                    "with check-in date {check_in} and status {status}")
    assert clarify_template(stay.phrases[0].text, "nights", stay) == (
        "create a new stay for room {room_id} and guest {guest_id} with check-in date {check_in} and status {status}")
    assert clarify_template(stay.phrases[0].text, "check_in", stay) == (
        "create a new stay for room {room_id} and guest {guest_id} for {nights} nights with status {status}")
    activity = domains["crm"].tool("create_activity")
    assert clarify_template(activity.phrases[0].text, "minutes", activity) == (
        "create a new {kind} activity for contact {contact_id} on {day}")
    texts = [p.text for d in domains.values() for t in d.tools for p in t.phrases]
    assert not [t for t in texts if re.search(r"with \{\w+\} (?:minutes|hours|nights|days)\b", t)]


def test_a_kind_plan_team_or_priority_is_said_as_a_person_says_it():
    """'find all events with category family', 'create a new support agent named Alexander Hunt with team onboarding'
    and 'with work timing belt' (quickstart requests): the kind before the noun ('find all family events', 'a new
    suite room'), a plan, a team, a stage or a cause in words of their own, a priority as an item of the list; a
    request that leaves one out drops its words whole."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.language import action_text, clarify_template

    domains = {d.name: d for d in synthesized_domains(30, 7)}
    events = domains["events"].tool("search_events_by_category")
    assert action_text(events, {"category": "family"}) == "list the events whose category is family"
    assert events.phrases[1].text == "find all {category} events"
    assert clarify_template(events.phrases[1].text, "category", events) == "find all events"
    agent = domains["helpdesk"].tool("create_support_agent")
    assert action_text(agent, {"name": "Alexander Hunt", "team": "onboarding"}) == (
        "create a new support agent named Alexander Hunt on the onboarding team")
    assert clarify_template(agent.phrases[0].text, "team", agent) == "create a new support agent named {name}"
    ticket = domains["helpdesk"].tool("create_ticket")
    said = action_text(ticket, {"customer_id": "CUS-0004", "assignee_id": "AGT-004", "subject": "bug report",
                                "priority": "high"})
    assert said.endswith(" with assignee AGT-004, subject bug report and high priority") and said.count(" with ") == 1
    assert clarify_template(ticket.phrases[0].text, "priority", ticket).endswith(
        " with assignee {assignee_id} and subject {subject}")
    room = domains["hotel"].tool("create_room")
    assert room.phrases[0].text.startswith("create a new {room_type} room for property {property_id} with ")
    assert clarify_template(room.phrases[0].text, "room_type", room).startswith(
        "create a new room for property {property_id} with ")
    outage = domains["utility"].tool("search_outages_by_cause")
    assert action_text(outage, {"cause": "storm"}) == "list the outages whose cause is storm"
    assert outage.phrases[1].text == "find all outages caused by {cause}"
