"""How a reply says which records it speaks of: what a total is over, which record holds a highest or lowest value,
what kind of records were counted, and which one a "latest" lookup found."""

from __future__ import annotations

import random

from agentfab.flows.worlds import synthesized_domains
from agentfab.generators.facts import Said
from agentfab.generators.replies import reply
from agentfab.schemas.answers import flatten, mentioned

_SYNTH = {d.name: d for d in synthesized_domains(30, 7)}


def test_a_total_says_what_it_is_over():
    """'The total quantity is 0 for machine MCH-0019.' (the machine has no work orders) and 'The total delay is 3836
    minutes. The total delay is 453 minutes for airport APT-001.' (two totals of one quickstart reply, the same
    words): a total over nothing says so ('Machine MCH-0019 has no work orders, so the total quantity is 0.'), and
    any other says over how many records ('... over all 26 flights.', '... for machine MCH-0003, from a single work
    order.')."""
    tool = _SYNTH["manufacturing"].tool("total_work_order_quantity_of_machine")
    none = {reply([Said(tool, {"machine_id": "MCH-0019"}, {"count": 0, "value": 0}, ("value",))], random.Random(s))
            for s in range(6)}
    assert all(t.endswith("Machine MCH-0019 has no work orders, so the total quantity is 0.") for t in none), none
    one = {reply([Said(tool, {"machine_id": "MCH-0003"}, {"count": 1, "value": 3326}, ("value",))],
                 random.Random(s)) for s in range(6)}
    assert all(t.endswith("3,326 for machine MCH-0003, from a single work order.") for t in one), one
    some = {reply([Said(tool, {"machine_id": "MCH-0003"}, {"count": 4, "value": 812}, ("value",))],
                  random.Random(s)) for s in range(6)}
    assert all(t.endswith("812 over the 4 work orders for machine MCH-0003.") for t in some), some
    every = _SYNTH["airline_ops"].tool("total_flight_delay_minutes")
    said = {reply([Said(every, {}, {"count": 26, "value": 3836}, ("value",))], random.Random(s)) for s in range(6)}
    assert all(t.endswith("3,836 minutes over all 26 flights.") for t in said), said



def test_a_highest_value_names_the_record_that_has_it():
    """'The lowest asking price is 168,279.00 USD for agent AGT-0016.', then 'There is 1 offer for listing LST-048'
    (a quickstart compound row: the reader never learns that LST-048 is the cheapest listing), and 'The highest
    price is 53.92 USD and the book is BK-0127 for author AUT-014.': the record is named after the value, whether or
    not the request asked for it, and the answer check finds both."""
    tool = _SYNTH["real_estate"].tool("min_listing_asking_price_usd_of_agent")
    result = {"listing_id": "LST-048", "value": 168279.0}
    for asks in (("value",), ("value", "listing_id")):
        said = {reply([Said(tool, {"agent_id": "AGT-0016"}, result, asks)], random.Random(s)) for s in range(6)}
        assert all(t.endswith("168,279.00 USD for agent AGT-0016 (listing LST-048).") for t in said), said
        assert all(mentioned(flatten(t), "lst-048") and t.count("LST-048") == 1 for t in said), said


def test_records_of_a_kind_are_counted_with_the_kind_before_their_noun():
    """'There are 22 courses with level undergraduate', 'There are 9 policies with line auto' and 'I found 13
    listeners with plan student' (quickstart replies): '22 undergraduate courses', '9 auto policies', '13 listeners
    on the student plan', '22 outages caused by wildlife'; a status keeps its words ('with status delayed'), and so
    does a one-letter value ("with level A", not "A courses")."""
    cases = [("university", "search_courses_by_level", {"level": "undergraduate"}, "22 undergraduate courses"),
             ("insurance", "search_policies_by_line", {"line": "auto"}, "22 auto policies"),
             ("streaming", "search_listeners_by_plan", {"plan": "student"}, "22 listeners on the student plan"),
             ("utility", "search_outages_by_cause", {"cause": "wildlife"}, "22 outages caused by wildlife"),
             ("car_rental", "search_cars_by_category", {"category": "compact"}, "22 compact cars"),
             ("helpdesk", "search_support_agents_by_team", {"team": "billing"},
              "22 support agents on the billing team"),
             ("helpdesk", "search_tickets_by_priority", {"priority": "high"}, "22 tickets with high priority"),
             ("crm", "search_opportunities_by_stage", {"stage": "proposal"}, "22 opportunities at the proposal stage"),
             ("university", "search_courses_by_level", {"level": "A"}, "22 courses with level A")]
    for domain, name, arguments, said in cases:
        tool = _SYNTH[domain].tool(name)
        texts = {reply([Said(tool, arguments, {"count": 22, "results": []}, ("count",))], random.Random(s))
                 for s in range(6)}
        assert all(said in t and t.count(" with ") == said.count(" with ") for t in texts), texts  # said once


def test_the_latest_record_of_another_is_named_as_the_latest():
    """'For traveler T-212, the booking is BK-0037, the flight is FL-0075 and the status is confirmed.' (a quickstart
    chain row: which booking?): 'The latest booking of traveler T-212 is BK-0037: the flight is ...'; asked for its
    flight alone, 'For the latest booking of traveler T-212 (BK-0037), the flight is FL-0075.'"""
    from agentfab.worlds.registry import builtin_domain

    tool = builtin_domain("travel").tool("get_latest_booking")
    result = {"booking_id": "BK-0037", "flight_id": "FL-0075", "status": "confirmed", "traveler_id": "T-212"}
    whole = {reply([Said(tool, {"traveler_id": "T-212"}, result, ("booking_id", "flight_id", "status"))],
                   random.Random(s)) for s in range(6)}
    assert all(t.endswith("The latest booking of traveler T-212 is BK-0037: the flight is FL-0075 and the status is "
                          "confirmed.") for t in whole), whole
    flight = {reply([Said(tool, {"traveler_id": "T-212"}, result, ("flight_id",))], random.Random(s)) for s in range(6)}
    assert all(t.endswith("For the latest booking of traveler T-212 (BK-0037), the flight is FL-0075.")
               for t in flight), flight


def test_records_found_by_a_role_of_another_record_say_the_role():
    """'list the matches whose home team is the team you found' -> 'Team TM-0009 has 5 matches' and 'count the flights
    whose origin is APT-006' -> 'Airport APT-006 has 1 flight' (quickstart rows): the team has more matches and the
    airport more flights; the reply says the role ('5 matches with home team TM-0009', '1 flight with origin
    APT-006'). A record in no role of its own keeps 'Team TM-0009 has 4 players'."""
    cases = [("sports_league", "list_matches_of_home_team", {"home_team_id": "TM-0009"},
              {"count": 2, "results": [{"match_id": "MTC-0002", "home_team_id": "TM-0009"},
                                       {"match_id": "MTC-0010", "home_team_id": "TM-0009"}]},
              "2 matches with home team TM-0009", "Team TM-0009 has"),
             ("airline_ops", "count_flights_of_origin", {"origin_id": "APT-006"}, {"count": 1},
              "1 flight with origin APT-006", "APT-006 has"),
             ("sports_league", "count_players_of_team", {"team_id": "TM-0009"}, {"count": 4},
              "Team TM-0009 has 4 players", None)]
    for domain, name, arguments, result, said, never in cases:
        tool = _SYNTH[domain].tool(name)
        texts = {reply([Said(tool, arguments, result, ("count",))], random.Random(s)) for s in range(8)}
        assert all(said in t for t in texts) if never else any(said in t for t in texts), texts
        assert never is None or not any(never in t for t in texts), texts
