"""What a reply names the records it speaks of by: which record a "latest" lookup found, which record holds a
highest or lowest value, what a total is over, and what kind of records a search counted (`replies` says the rest)."""

from __future__ import annotations

from typing import Any

from agentfab.generators.facts import Fact, Said
from agentfab.schemas.answers import render_value
from agentfab.schemas.wording import AFTER_NOUN, join_words, said_before_noun, singular

_WHICH = ("latest ", "next ", "earliest ", "first ", "last ", "newest ", "oldest ")


def which_record(part: Said, facts: list[Fact], about: str) -> str | None:
    """A call that finds one record of another kind ("the latest booking" of a traveler) names it as that: "The latest
    booking of traveler T-209 is BK-0034: the flight is FL-0059 and the status is confirmed.", never "For traveler
    T-209, the booking is BK-0034, ..." (which booking?). None for any other call."""
    topic = part.named.topic
    if not topic.startswith(_WHICH) or about.startswith("the "):
        return None
    thing = topic.split(" ", 1)[1]
    own = next((f for f in facts if f[0] == thing), None)
    if own is None:  # "For the latest booking of traveler T-209 (BK-0034), the flight is FL-0059."
        key = part.result.get(thing.replace(" ", "_") + "_id") if type(part.result) is dict else None
        which = f" ({key})" if type(key) is str else ""
        return f"For the {topic} of {about}{which}, {join_words([f[3] for f in facts])}."
    rest = [f[3] for f in facts if f is not own]
    return f"The {topic} of {about} is {own[1]}" + (f": {join_words(rest)}." if rest else ".")


def holder(part: Said) -> tuple[str, str] | None:
    """(noun, id) of the record a highest or lowest value belongs to, when the result names one the call was not
    asked about: "The highest price is 53.92 USD for author AUT-014 (book BK-0127).", never "... and the book is
    BK-0127 for author AUT-014"."""
    result = part.result
    if type(result) is not dict or "value" not in result:
        return None
    held = [f for f, v in result.items() if f.endswith("_id") and type(v) is str and f not in part.arguments]
    if len(held) != 1:
        return None
    thing = part.named.id_noun(held[0])
    return (thing, result[held[0]]) if thing else None


def over_ending(over: str, result: Any, tail: str) -> str:
    """The end of an aggregate's sentence: what it is over, so that two totals in one reply are not the same words
    ("... over all 26 flights.", "... over the 3 flights from APT-001.", "... for field FLD-2, from a single
    harvest."); without a count, only `tail`."""
    n = result.get("count") if type(result) is dict else None
    if not over.endswith(" counted") or type(n) is not int or n < 1:
        return f" {tail}." if tail else "."
    things = over[:-8]
    if n == 1:
        return f"{' ' + tail if tail else ''}, from a single {singular(things)}."
    if tail.startswith("for the "):  # "over the 3 flights with origin APT-001", not "... for the origin APT-001"
        tail = "with " + tail[8:]
    return f" over the {n} {things} {tail}." if tail else f" over all {n} {things}."


def kind_said(part: Said) -> tuple[str | None, str | None]:
    """For a search by a kind-of-thing field, the value as words before the noun ("undergraduate", "robot arm") or
    the words after it (" on the free plan"); (None, None) for any other search (by a name, a status, a city: "3
    hotels in Seattle", "with status delayed")."""
    if len(part.arguments) != 1:
        return None, None
    (param, value), = part.arguments.items()
    if type(value) is not str or not value or len(value.split()) > 3:
        return None, None
    if said_before_noun(param, value):
        return render_value(value), None
    after = AFTER_NOUN.get(param)
    return (None, after.format(render_value(value))) if after else (None, None)
