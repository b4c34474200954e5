"""How a request refers to a value an earlier step produces: "that customer", "the flight's destination city", "the
loan's officer", "the vehicle with the highest odometer"; and the template slots such a reference fills ("customer
{customer_id}" said "that customer", "whose customer is {customer_id}" said "of that customer")."""

from __future__ import annotations

import functools
import random
import re

from agentfab.generators.language import is_id, tool_class, topic
from agentfab.schemas.wording import UNSAID_UNITS, label, noun
from agentfab.worlds.core import Tool

REFERENCES = ("the {words} from that", "that {words}", "the {words} you got", "the {words} you just found")
ROLE_REFERENCES = ("the {what}'s {role}", "that {what}'s {role}", "the {role} of that {what}")
NOUN_REFERENCES = ("that {noun}", "the {noun} you found")  # never "the same" one: nobody named it before


def reference(param: str, field: str, tool: Tool, source: Tool | None) -> str:
    """What a request calls a value an earlier step will produce: its entity ("course"), or the field's role when
    the field is more than its entity ("destination city", "organizer", "home city"), which it always is when the
    earlier result has two values of that kind (a flight's origin and destination city are never just "that
    city"). `source` is None only for a clarify task's deliberately vague reference."""
    props = tool.spec.parameters.get("properties", {})
    entity = props.get(param, {}).get("x-entity") or field
    plain = noun(entity) if is_id(tool, param) else label(entity)
    if source is None:
        return plain
    returns = source.spec.returns.get("properties", {})
    kind = result_kind(returns, field)
    twins = [f for f in returns if result_kind(returns, f) == kind]
    role = label(field)
    return role if len(twins) > 1 or role not in plain else plain


_BOUND: dict[tuple[int, str, str, int], tuple[Tool, Tool | None, str, str]] = {}


def bound(param: str, field: str, tool: Tool, source: Tool | None) -> tuple[str, str]:
    """(`_reference`, the thing the parameter names) of a fed value: computed once per tool, parameter, field and
    source tool (the entry holds both tools, so their ids stay theirs)."""
    key = (id(tool), param, field, id(source))
    found = _BOUND.get(key)
    if found is None or found[0] is not tool or found[1] is not source:
        if len(_BOUND) >= 65536:
            _BOUND.clear()
        thing = noun(tool.spec.parameters.get("properties", {}).get(param, {}).get("x-entity") or param)
        found = _BOUND[key] = (tool, source, reference(param, field, tool, source), thing)
    return found[2], found[3]


@functools.lru_cache(maxsize=16384)
def named_slot(template: str, thing: str, param: str) -> tuple[str, str] | None:
    """The template around its first "customer {customer_id}" (what a reference replaces), or None."""
    found = _slot_patterns(thing, param)[0].search(template)
    return None if found is None else (template[:found.start()], template[found.end():])


@functools.lru_cache(maxsize=16384)
def whose_slot(template: str, thing: str, param: str) -> str:
    """"the refills whose customer is {customer_id}" -> "the refills of {customer_id}"."""
    return _slot_patterns(thing, param)[1].sub(r"of \1", template, count=1)


@functools.lru_cache(maxsize=8192)
def _slot_patterns(thing: str, param: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """"customer {customer_id}" (said "that customer") and "whose customer is {customer_id}" or "whose officer is
    {loan_officer_id}" (said "of ...")."""
    slot = r"\{" + re.escape(param) + r"\}"
    last = thing.rsplit(" ", 1)[-1]
    return (re.compile(r"\b" + re.escape(thing) + " " + slot, re.IGNORECASE),
            re.compile(r"\bwhose (?:" + re.escape(thing) + "|" + re.escape(last) + ") is (" + slot + ")"))


def result_kind(returns: dict, field: str) -> str:
    """What a result field holds: its entity (a list's items' entity), or its own name when it has none."""
    schema = returns.get(field, {})
    return schema.get("x-entity") or schema.get("items", {}).get("x-entity") or field


def referred(words: str, thing: str, field: str, source: Tool | None, rng: random.Random) -> str:
    """The words of a reference, naming the record the value belongs to wherever the source says it, so that a
    request never reads as if it meant another record of that kind it mentioned before: "the trip's vehicle", "the
    flight's destination city", "the vehicle with the highest odometer (km)"; "that course" when the source is the
    course itself (or a list, a search, a write). One of `reference_options`, drawn (none drawn when there is one)."""
    options = reference_options(words, thing, field, source)
    return options[rng._randbelow(len(options))] if len(options) > 1 else options[0]


def reference_options(words: str, thing: str, field: str, source: Tool | None) -> tuple[str, ...]:
    """The references `referred` draws one of (a function of its arguments: what `bound_slots` keeps)."""
    if source is not None:
        what, cls = topic(source), tool_class(source)
        # never "the next event's event"; "the loan's loan officer" is fine
        if cls == "lookup" and what.rsplit(" ", 1)[-1] != words.rsplit(" ", 1)[-1] and words not in what and what != thing:
            role = words[len(what) + 1:] if words.startswith(what + " ") else words  # "the loan's officer"
            return tuple(r.format(role=role, what=what) for r in ROLE_REFERENCES)
        best = source.spec.returns.get("properties", {}).get("value", {}).get("description", "")
        if cls == "aggregate" and field != "value" and best.lower().startswith("the "):
            for measured in UNSAID_UNITS:  # the value's unit, which its aggregate's description names
                best = best.removesuffix(f" in {measured}")
            return (f"the {words} with {best[:1].lower()}{best[1:]}",)  # the record that has the highest value
    if words == thing:
        return tuple(r.format(noun=thing) for r in NOUN_REFERENCES)
    return tuple(r.format(words=words) for r in REFERENCES)


# (template, param, field, id(tool), id(source)) -> (tool, source, [(template, reference, in a slot)]): see `bound_slots`
_SLOTS: dict[tuple[str, str, str, int, int], tuple[Tool, Tool | None, tuple[tuple[str, str, bool], ...]]] = {}


def bound_slots(template: str, param: str, field: str, tool: Tool, source: Tool | None
                ) -> tuple[tuple[str, str, bool], ...]:
    """What a request template becomes with each reference `referred` may draw for the parameter `param` of `tool`
    fed by `field` of `source`'s result: (the template, the reference, whether it replaced a labelled slot
    ("customer {customer_id}" reads "that customer") or is the parameter's value), in the order `referred` draws
    them. A function of its arguments, made once per template, parameter, field and tools (the entry holds both
    tools, so their ids stay theirs)."""
    key = (template, param, field, id(tool), id(source))
    found = _SLOTS.get(key)
    if found is None or found[0] is not tool or found[1] is not source:
        if len(_SLOTS) >= 65536:
            _SLOTS.clear()
        words, thing = bound(param, field, tool, source)
        made = []
        for short in reference_options(words, thing, field, source):
            text = unlabelled(template, param, short)
            named = named_slot(text, thing, param)
            if named is not None:
                made.append((named[0] + short + named[1], short, True))
            else:  # "the refills whose customer is that customer" reads "the refills of that customer"
                made.append((whose_slot(text, thing, param), short, False))
        found = _SLOTS[key] = (tool, source, tuple(made))
    return found[2]


_BEFORE_LABEL = frozenset({"with", "for", "to", "of", "by", "on", "from", "and", "a", "an", "the", "is", "as"})


@functools.lru_cache(maxsize=32768)  # pure, and its patterns are made per call: once per template and reference
def unlabelled(template: str, param: str, short: str) -> str:
    """A slot's label left out where the reference says it: "with home team {home_team_id}" fed "that match's home
    team" reads "with that match's home team", not "with home team that match's home team"; fed "the player's team"
    (which names only part of the label) it reads "with the player's team as home team", not "with home the
    player's team"."""
    said = re.search(r"((?:\w+ ){1,3})\{" + re.escape(param) + r"\}", template)
    if said is None:
        return template
    words, slot = said[1].split(), "{" + param + "}"
    start = max((i + 1 for i, w in enumerate(words) if w in _BEFORE_LABEL), default=0)
    before = " ".join([template[:said.start()].rstrip(), *words[:start]])
    if before.endswith((":", ",", " with")):  # a field list's whole label: "home team {x}", never "remove owner {x}"
        label_words = words[start:]
        label_text = " ".join(label_words)
        if label_words and re.search(r"\b" + re.escape(label_text) + r"\b", short):
            return template.replace(label_text + " " + slot, slot, 1)
        if len(label_words) > 1 and re.search(r"\b" + re.escape(label_words[-1]) + r"\b", short):
            return template.replace(label_text + " " + slot, f"{slot} as {label_text}", 1)  # names its noun only
    return template  # elsewhere ("the branch city of loan officer {x}") the slot's own pattern takes the label
