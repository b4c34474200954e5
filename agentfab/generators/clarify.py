"""Clarify tasks: the request leaves a value out or names it ambiguously; the assistant asks, the simulated user
answers, the assistant goes on. Ground truth knows which step needs the answer and, for an ambiguity, every value
the request could mean, so a trajectory that guesses is caught (`truth.guessed_value`).

Four shapes, all composed over real executions:
- `first`: one call whose request leaves out a value ("block my card" -> "Which card is it?").
- `later`: a chain whose last call needs a value the user has not given; the assistant does the first steps,
  then asks, then finishes.
- `twins`: a chain whose next call takes "the city" of a flight that has two (origin and destination).
- `holdings`: "the due date of my loan" from a member who holds several; the assistant lists them and asks.
"""

from __future__ import annotations

import random
from typing import Any

from agentfab.generators.language import _cap, tool_class
from agentfab.generators.plans import Plan, Step
from agentfab.generators.tasks import FAILED, Composer
from agentfab.generators.values import between, sample_arguments
from agentfab.schemas.answers import render_value
from agentfab.schemas.wording import is_person, join_words, label, noun, plural
from agentfab.worlds.core import Domain, Tool

SHAPES = ("first", "later", "twins", "holdings")
MAX_OPTIONS = 4  # a question offers at most this many records; more would be a search, not a clarification


def compose_clarify(c: Composer, rng: random.Random) -> Plan | None:
    """A clarify plan of a shape drawn by `rng`; the plain `first` shape when the domain cannot make the drawn one."""
    r = rng.random()
    plan = None
    if r < 0.2:
        plan = _holdings(c, rng)
    elif r < 0.4:
        plan = _twins(c, rng)
    elif r < 0.65:
        plan = _later(c, rng)
    if plan is None:
        step = c.atomic(rng, with_args=True)
        plan = c.finish("clarify", [[step]], c.family_of(step)) if step else None
    return plan


def _later(c: Composer, rng: random.Random) -> Plan | None:
    """A chain where a step after the first needs a value the request leaves out (never an update's new value:
    a user who says "update X" without saying what is not asking anything). One chain is composed (chains are the
    costly part, so at most two); any later step with a free required value can be the one asked about."""
    for _ in range(2):
        chain = c.chain(between(rng, 2, min(3, max(2, c.limits.max_depth))), rng)
        if chain is None or len(chain) < 2:
            return None
        candidates = []
        for step in chain[1:]:
            tool = c.tools[step.tool]
            if tool_class(tool) != "update":
                required = tool.spec.parameters.get("required", [])
                candidates += [(step, p) for p in sorted(step.arguments) if p not in step.bindings and p in required]
        if candidates:
            step, step.ask = candidates[rng.randrange(len(candidates))]
            return c.finish("clarify", [chain], c.family_of(chain[-1]))
    return None


def _twin_producers(domain: Domain) -> list[tuple[Tool, str, str, tuple[str, ...]]]:
    """(tool, driver param, field, twin fields): read-only lookups whose result has two or more fields of one
    entity (a flight's origin and destination city), any of which a request saying "that city" could mean."""
    def build() -> list[tuple[Tool, str, str, tuple[str, ...]]]:
        out = []
        for tool in domain.tools:
            required = tool.spec.parameters.get("required", [])
            props = tool.spec.parameters.get("properties", {})
            if tool.spec.mutates or len(required) != 1 or "x-entity" not in props.get(required[0], {}):
                continue
            returns = tool.spec.returns.get("properties", {})
            by_entity: dict[str, list[str]] = {}
            for name, schema in returns.items():
                if schema.get("x-entity") and schema.get("type") in ("string", "integer"):
                    by_entity.setdefault(schema["x-entity"], []).append(name)
            for names in by_entity.values():
                if len(names) > 1:
                    out += [(tool, required[0], name, tuple(names)) for name in names]
        return out
    return domain.memo("clarify_twins", build)


def _consumers(domain: Domain) -> dict[str, list[tuple[Tool, str]]]:
    """entity -> (tool, required parameter of that entity)."""
    def build() -> dict[str, list[tuple[Tool, str]]]:
        out: dict[str, list[tuple[Tool, str]]] = {}
        for tool in domain.tools:
            props = tool.spec.parameters.get("properties", {})
            for p in tool.spec.parameters.get("required", []):
                entity = props.get(p, {}).get("x-entity")
                if entity:
                    out.setdefault(entity, []).append((tool, p))
        return out
    return domain.memo("clarify_consumers", build)


def _twins(c: Composer, rng: random.Random) -> Plan | None:
    """get_flight, then a call on "that city": the flight has two, so the assistant must ask which."""
    producers = _twin_producers(c.domain)
    consumers = _consumers(c.domain)
    for _ in range(6):
        if not producers:
            return None
        tool, driver, field, twins = producers[rng.randrange(len(producers))]
        entity = tool.spec.returns["properties"][field]["x-entity"]
        heads = [h for h in consumers.get(entity, []) if h[0].name != tool.name]
        pool = c.pools.pool(tool.spec.parameters["properties"][driver]["x-entity"])
        if not heads or not pool:
            continue
        source = Step(c._new_id(), tool.name, {driver: pool[rng.randrange(len(pool))]})
        result = c.try_call(source)  # once per variant; the plan's runs below take it from there
        if result is FAILED:
            continue
        options = list(dict.fromkeys(result[t] for t in twins))
        if len(options) < 2:
            continue  # a round trip (same origin and destination) is no ambiguity
        head_tool, param = heads[rng.randrange(len(heads))]
        args = sample_arguments(head_tool, c.pools, rng)
        args[param] = result[field]
        head = Step(c._new_id(), head_tool.name, args, {param: f"{source.id}.{field}"}, [source.id],
                    ask=param, options=options)
        if c.execute([source, head]) is not None:
            return c.finish("clarify", [[source, head]], c.family_of(head))
    return None


def _listers(domain: Domain) -> list[tuple[Tool, str, str, str | None, str]]:
    """(tool, owner param, list field, key of an item or None for a list of ids, entity of the items)."""
    def build() -> list[tuple[Tool, str, str, str | None, str]]:
        out = []
        for tool in domain.tools:
            required = tool.spec.parameters.get("required", [])
            props = tool.spec.parameters.get("properties", {})
            owner = props.get(required[0], {}).get("x-entity", "") if len(required) == 1 else ""
            if tool.spec.mutates or not owner.endswith("_id"):  # "I'm member MEM-17", never "I'm country India"
                continue
            for name, schema in tool.spec.returns.get("properties", {}).items():
                if schema.get("type") != "array":
                    continue
                items = schema.get("items", {})
                keyed = [(k, s["x-entity"]) for k, s in items.get("properties", {}).items()
                         if s.get("x-entity") and k == s["x-entity"]]
                if keyed:
                    out.append((tool, required[0], name, keyed[0][0], keyed[0][1]))
                elif items.get("type") == "string" and name.endswith("_ids"):
                    out.append((tool, required[0], name, None, name[:-1]))
        return out
    return domain.memo("clarify_listers", build)


def _holdings(c: Composer, rng: random.Random) -> Plan | None:
    """"I'm member MEM-017. When is my loan due?" from a member with several loans: list them, then ask which."""
    consumers = _consumers(c.domain)
    listers = [x for x in _listers(c.domain) if any(h[0].name != x[0].name for h in consumers.get(x[4], []))]
    for _ in range(5):
        if not listers:
            return None
        tool, owner, field, key, entity = listers[rng.randrange(len(listers))]
        owner_entity = tool.spec.parameters["properties"][owner]["x-entity"]
        pool = c.pools.pool(owner_entity)
        if not pool:
            continue
        lister = Step(c._new_id(), tool.name, {owner: pool[rng.randrange(len(pool))]})
        result = c.try_call(lister)  # once per variant; the plan's runs below take it from there
        if result is FAILED:
            continue
        ids = held_ids(result, field, key)
        if not 2 <= len(ids) <= MAX_OPTIONS or result.get("count", len(ids)) != len(ids):
            continue
        heads = [h for h in consumers[entity] if h[0].name != tool.name]
        head_tool, param = heads[rng.randrange(len(heads))]
        args = sample_arguments(head_tool, c.pools, rng)
        args[param] = ids[rng.randrange(len(ids))]
        props = head_tool.spec.parameters.get("properties", {})
        if any(props.get(k, {}).get("x-entity") == owner_entity for k in args if k != param):
            continue  # never "I'm student STU-34. ... update my enrollment, setting the student to STU-27"
        head = Step(c._new_id(), head_tool.name, args, depends_on=[lister.id], ask=param, options=ids)
        if c.execute([lister, head]) is not None:
            return c.finish("clarify", [[lister, head]], c.family_of(head))
    return None


def held_ids(result: Any, field: str, key: str | None) -> list[Any]:
    items = result.get(field) if isinstance(result, dict) else None
    if not isinstance(items, list):
        return []
    return [item.get(key) if key else item for item in items if (isinstance(item, dict) if key else True)]


# -- words -------------------------------------------------------------------------------------------------------


def ambiguity_question(tool: Tool, param: str, options: list[Any], fields: list[str] | None, about: str,
                       rng: random.Random) -> str:
    """Which one the user means, offering every option: "Flight FL-0207 has two cities, the origin city Chicago
    and the destination city Denver. Which one do you mean?" / "You have 3 loans: LN-1, LN-2 and LN-3. Which one
    is it?"."""
    thing = noun(tool.spec.parameters.get("properties", {}).get(param, {}).get("x-entity") or param)
    if fields:  # twins: name each by its field
        offered = join_words([f"the {label(f)} {render_value(v)}" for f, v in zip(fields, options)])
        head = f"{about[:1].upper() + about[1:]} has {len(options)} {plural(thing)}, {offered}."
        return head + " " + rng.choice(("Which one do you mean?", "Which of these should I use?"))
    listed = join_words([render_value(v) for v in options], "and")
    owner = about.split(" ", 1)[0]
    head = rng.choice((f"You have {len(options)} {plural(thing)}: {listed}." if is_person(owner) else
                       f"{about[:1].upper() + about[1:]} has {len(options)} {plural(thing)}: {listed}.",
                       f"I see {len(options)} {plural(thing)} under {about}: {listed}."))
    return head + " " + rng.choice(("Which one do you mean?", "Which one is it?", "Which of these should I use?"))


def ambiguity_answer(value: Any, field: str | None, rng: random.Random) -> str:
    """The user picks one: by what it is ("The destination city, please.") or by its id."""
    text = render_value(value)
    if field:
        return rng.choice((f"The {label(field)}, {text}.", f"I mean {text}, the {label(field)}.",
                           _cap(f"{text}, the {label(field)}.")))
    return rng.choice((f"It's {text}.", _cap(f"{text}, please."), f"The one with ID {text}."))


OWNER_INTROS = ("I'm {owner} {value}.", "My {owner} ID is {value}.", "This is {owner} {value}.")


def holdings_request(tool: Tool, owner: str, value: Any, clause: str, thing: str, sentence: Any,
                     rng: random.Random) -> str:
    """A request about one of several records the owner holds, without saying which: a person says "I'm member
    MEM-017. When is my loan due?"; of a thing, "... the tenant of unit UNT-0041"."""
    entity = tool.spec.parameters.get("properties", {}).get(owner, {}).get("x-entity") or owner
    who, said = noun(entity), render_value(value)
    clause = clause.replace(f"one of our {plural(thing)}", f"my {thing}")  # the owner's own: "my meter reading"
    # a person says "my loan"; a unit or an order is spoken of ("the tenant of unit UNT-4")
    if is_person(who):
        intro = OWNER_INTROS[rng.randrange(len(OWNER_INTROS))].format(owner=who, value=said)
        return introduced(intro, sentence(clause, rng))
    if f"my {thing}" not in clause:  # "My account ID is ACC-032.", never "I'm account ACC-032."
        return introduced(OWNER_INTROS[1].format(owner=who, value=said), sentence(clause, rng))
    return sentence(clause.replace(f"my {thing}", f"the {thing} of {who} {said}", 1), rng)


def introduced(intro: str, request: str) -> str:
    """The owner's intro before the request, after its greeting: "Hi, I'm student STU-0034. Please update ...",
    never "I'm student STU-0034. Hi, please update ..."."""
    greeting, comma, rest = request.partition(", ")
    if not comma or greeting not in ("Hi", "Hey"):
        return f"{intro} {request}"
    lower = intro if intro.startswith("I'm") else intro[:1].lower() + intro[1:]
    return f"{greeting}, {lower} {rest[:1].upper()}{rest[1:]}"
