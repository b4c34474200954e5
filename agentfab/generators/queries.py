"""Render plans into user requests. Every argument value the agent needs is in the text, except a clarify task's
missing value and values that a plan step feeds from an earlier result; every clause records what it asks to see
(its phrase's `asks`), which becomes the task's required facts. The words come from `generators.language`."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import Any, NamedTuple

from agentfab.generators.clarify import ambiguity_answer, ambiguity_question, holdings_request
from agentfab.generators.facts import subject
from agentfab.generators.language import (
    THEN_SENTENCE, argument_text, clarify_answer, clarify_question, clarify_template, fill, param_label, phrases_of,
    sentence, setting,
    tool_class,
)
from agentfab.generators.plans import Plan, Step
from agentfab.generators.references import bound_slots
from agentfab.generators.failures import cause_reason, error_cause
from agentfab.generators.values import normalize, render_value, sample, shuffle
from agentfab.schemas.tasks import (
    Clarification, Fact, PlanStep, Task, UserTurn, asked_values, built, described_by,
)
from agentfab.schemas.wording import join_words, noun
from agentfab.worlds.core import Domain, Phrase, Tool

CHAIN_JOINS = (
    ("First, {a}. Then {b}.", "{a}, then {b}"),
    ("{a}, and after that {b}.", "{a}, and after that {b}"),
    ("Step one: {a}. Step two: {b}.", "{a}; next, {b}"),
    ("{a}" + THEN_SENTENCE + "{b}.", "{a}, and with that, {b}"),
)
PARALLEL_JOINS = (
    "I have {n} requests. {items}",
    "Several things at once: {items}",
    "{items}",
    "Please handle all of these: {items}",
)
NEXT_TURN = ("Thanks. Now {a}.", "Great. Next, {a}.", "OK, and {a}?", "Perfect. Could you also {a}?", "Now {a}.")


class Clause(NamedTuple):
    """One step as request text, and the phrase it was made from (which says what the text asks to see)."""

    text: str
    phrase: Phrase


def render_clause(step: Step, tool: Tool, rng: random.Random, *, hide: str | None = None,
                  sources: dict[str, Tool] | None = None, vague: str | None = None,
                  known: str | None = None) -> Clause:
    """A step as a request clause. Values fed by earlier steps are referred to, `hide` is left out (clarify), and
    `vague` is referred to by its kind alone even where the earlier result has two of that kind ("that city").
    `sources` must give the tool of every step a binding names: without it no reference could say which value.
    A phrase that asks only for `known` (a field whose value the request gives) is not used."""
    phrases = tool.phrases or phrases_of(tool)
    bindings, arguments = step.bindings, step.arguments
    if known is not None:  # never "the gallery of the tour of gallery GAL-003"
        phrases = [p for p in phrases if p.asks != (known,)] or phrases
    if bindings:  # a reference is no list item: never "add a field: the farm of that field"
        phrases = _unlisted(tool, phrases, tuple(bindings)) if known is None else [
            p for p in phrases if not _listed(p.text, tuple(bindings))] or phrases
    phrase = phrases[rng._randbelow(len(phrases))]
    template = phrase.text if hide is None else clarify_template(phrase.text, hide, tool)
    values: dict[str, str] = {}
    in_slot: set[str] | tuple[()] = ()  # parameters a reference replaced with its label
    if bindings:
        in_slot = set()
        sources = sources or {}
        for param in bindings:  # "customer {customer_id}" fed by a result reads "that customer"
            source_id, field = bindings[param].split(".", 1)
            source = None if param == vague else sources.get(source_id)
            if source is None and param != vague:
                raise ValueError(f"step {step.id}: the tool of its source step {source_id} was not given")
            options = bound_slots(template, param, field, tool, source)  # as `referred` draws the reference
            template, short, slotted = options[rng._randbelow(len(options))] if len(options) > 1 else options[0]
            if slotted:  # "customer {customer_id}" reads "that customer" or "the account's owner"
                in_slot.add(param)
            else:  # "the refills whose customer is that customer"
                values[param] = short
    for param, value in arguments.items():
        if param != hide and param not in bindings:  # a text without "_" is written as it is (`render_value`)
            values[param] = value if type(value) is str and "_" not in value else argument_text(tool, param, value)
    text = fill(template, values)
    unnamed = _unnamed(phrase.text, tuple(arguments))
    extra = [p for p in unnamed if p != hide and p not in in_slot] if unnamed else unnamed
    if extra:  # arguments the phrase does not name still reach the text, in words
        said = [f"{param_label(tool, p)} {values[p]}" for p in extra]
        if tool_class(tool) == "update":
            text += setting(tool, [(p, values[p], arguments.get(p)) for p in extra])
        else:
            text += " with the " + join_words(said)
    return _new_clause(Clause, (text, phrase))  # `Clause(text, phrase)`, without its __new__'s Python frame


_new_clause = tuple.__new__
_UNLISTED: dict[tuple[int, tuple[str, ...]], tuple[Tool, Sequence[Phrase]]] = {}


def _unlisted(tool: Tool, phrases: Sequence[Phrase], params: tuple[str, ...]) -> Sequence[Phrase]:
    """The tool's `phrases` less those that list one of `params` after a colon (all of them when each does): once
    per tool and bound parameters (the entry holds the tool, so its id stays its own)."""
    key = (id(tool), params)
    found = _UNLISTED.get(key)
    if found is None or found[0] is not tool:
        if len(_UNLISTED) >= 16384:
            _UNLISTED.clear()
        found = _UNLISTED[key] = (tool, [p for p in phrases if not _listed(p.text, params)] or phrases)
    return found[1]


@functools.lru_cache(maxsize=4096)
def _listed(text: str, params: tuple[str, ...]) -> bool:
    """Is one of `params` an item of the field list after a colon ("add a field: farm {farm_id}, crop {crop}")?"""
    colon = text.find(": ")
    return colon >= 0 and any(text.find("{" + p + "}", colon) > 0 for p in params)


@functools.lru_cache(maxsize=16384)
def _unnamed(text: str, params: tuple[str, ...]) -> list[str]:
    """The parameters a phrase's text has no slot for, in order (once per phrase and parameter list; read only)."""
    return [p for p in params if "{" + p + "}" not in text]


def render_step(step: Step, tool: Tool, rng: random.Random, *, hide: str | None = None) -> str:
    return render_clause(step, tool, rng, hide=hide).text


def render_chain(steps: list[Step], domain: Domain, rng: random.Random, hide: dict[str, str],
                 inline: bool = False, asks: dict[str, Phrase] | None = None,
                 sources: dict[str, Tool] | None = None, vague: dict[str, str] | None = None) -> str:
    """Steps in order as one request; `inline` keeps it a lower-case clause (to follow "Now ..." or "(2)").

    `asks` (when given) receives, per step id, the phrase its clause was made from."""
    vague = vague or {}
    tools = sources or {s.id: domain.tool(s.tool) for s in steps}
    parts = []
    for s in steps:
        clause = render_clause(s, tools[s.id], rng, hide=hide.get(s.id), sources=sources, vague=vague.get(s.id))
        if asks is not None:
            asks[s.id] = clause.phrase
        parts.append(clause.text)
    if len(parts) == 1:
        return parts[0]
    whole, inner = CHAIN_JOINS[rng._randbelow(len(CHAIN_JOINS))]
    text = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        use_whole = i == len(parts) - 1 and len(parts) == 2 and not inline
        text = (whole if use_whole else inner).format(a=text, b=part)
    return text


def render_turn(plan: Plan, turn: int, domain: Domain, rng: random.Random, hide: dict[str, str],
                asks: dict[str, Phrase] | None = None, vague: dict[str, str] | None = None,
                sources: dict[str, Tool] | None = None, by_id: dict[str, Step] | None = None) -> str:
    """One user turn's request. `sources` (each step's tool) and `by_id` (each step), when the caller has them."""
    by_id = by_id or {s.id: s for s in plan.steps}
    sources = sources or {s.id: domain.tool(s.tool) for s in plan.steps}
    chains = []  # each member's steps in this turn (plain loops: a comprehension is a frame of its own)
    for member in plan.members:
        chain = []
        for sid in member:
            step = by_id[sid]
            if step.turn == turn:
                chain.append(step)
        if chain:
            chains.append(chain)
    inline = turn > 0 or len(chains) > 1
    bodies = []
    for chain in chains:
        bodies.append(render_chain(chain, domain, rng, hide, inline, asks, sources, vague))
    if turn > 0:
        return NEXT_TURN[rng._randbelow(len(NEXT_TURN))].format(a=" and ".join(bodies).rstrip("."))
    if len(bodies) == 1:
        return sentence(bodies[0], rng)
    items = " ".join([f"({i}) {b.rstrip('.')}." for i, b in enumerate(bodies, 1)])
    template = PARALLEL_JOINS[rng._randbelow(len(PARALLEL_JOINS))]
    return template.format(n=len(bodies), items=items)


def _carried(plan: Plan, asks: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """A later turn refers only to values the assistant said: a field fed across turns joins its step's asks."""
    by_id = {s.id: s for s in plan.steps}
    out = dict(asks)
    for step in plan.steps:
        for ref in step.bindings.values():
            source, field = ref.split(".", 1)
            if by_id[source].turn < step.turn and field not in out.get(source, ()):
                out[source] = (*out.get(source, ()), field)
    return out


def turn_answers(plan: Plan, turn: int, steps: list[PlanStep], facts: list[Fact]) -> list[str]:
    """Normalized values a reply to `turn` must state: the asked facts of the turn's last step per member (`facts`:
    the turn's `required_facts`, whose values they are)."""
    return _answers(plan, turn, {s.id: s.asks for s in steps}, {(f.step, f.field): f.values for f in facts},
                    {s.id: s.turn for s in plan.steps})


def _answers(plan: Plan, turn: int, asks: dict[str, Sequence[str]],
             known: dict[tuple[str, str], list[str]], turns: dict[str, int]) -> list[str]:
    """`turn_answers` from each step's asked fields, the turn's facts, (step, field) -> values, and each step's
    turn: an asked field with no fact (a nested value) is no answer either."""
    values: dict[str, None] = {}  # in order, each once
    for member in plan.members:
        for last in reversed(member):  # the member's last step in this turn
            if turns[last] == turn:
                break
        else:
            continue
        for name in asks.get(last, ()):
            for value in known.get((last, name), ()):
                values[value] = None
    return list(values)


def offer_tools(domain: Domain, needed: list[str], distractors: int, rng: random.Random) -> list[str]:
    """The needed tools plus the most similar others (sharing entity types, then name words), in a seeded order."""
    buckets = domain.recent(("distractors", frozenset(needed)), lambda: _ranked(domain, needed))
    chosen: list[str] = []
    for group in buckets:  # most similar first; ties broken by the seeded rng
        left = distractors - len(chosen)
        if left <= 0:
            break
        chosen += sample(rng, group, left if left < len(group) else len(group))
    offered = list(dict.fromkeys(needed)) + chosen
    shuffle(rng, offered)
    return offered


def _ranked(domain: Domain, needed: list[str]) -> list[list[str]]:
    """The domain's other tools in groups of equal likeness to `needed`, most alike first, each in the domain's
    tool order: near misses first, the same entity types, then the most name words in common (find_x_by_name ~
    search_xs_by_name), so distractors stay hard in a domain of many tools. A tool's entity types and name words
    are bits of two masks (`_offer_profiles`): what it shares is the bits of an AND."""
    profiles, masks = domain.memo("offer_profiles", lambda: _offer_profiles(domain))
    wanted = named = 0
    for name in needed:
        entities, words = masks[name]
        wanted |= entities
        named |= words
    by_score: dict[tuple[int, int], list[str]] = {}
    for name, entities, words in profiles:
        if name not in needed:
            score = ((entities & wanted).bit_count(), (words & named).bit_count())
            group = by_score.get(score)
            if group is None:
                by_score[score] = [name]
            else:
                group.append(name)
    return [by_score[k] for k in sorted(by_score, reverse=True)]


def _offer_profiles(domain: Domain) -> tuple[list[tuple[str, int, int]], dict[str, tuple[int, int]]]:
    """Each tool's entity types and name words (what distractors are ranked by) as two bit masks, one bit an entity
    type or a word: [(tool, entity mask, word mask)] in the domain's tool order, and the masks by tool."""
    bits: dict[tuple[str, str], int] = {}  # ("entity" | "word", its name) -> its bit

    def mask(kind: str, names: frozenset[str]) -> int:
        out = 0
        for name in names:
            out |= 1 << bits.setdefault((kind, name), len(bits))
        return out

    profiles = [(t.name,
                 mask("entity", frozenset(p["x-entity"] for p in t.spec.parameters.get("properties", {}).values()
                                          if "x-entity" in p)),
                 mask("word", frozenset(t.name.lower().split("_")) - {"by", "of", "for", "the"}))
                for t in domain.tools]
    return profiles, {name: (entities, words) for name, entities, words in profiles}


def to_task(
    plan: Plan | None,
    domain: Domain,
    rng: random.Random,
    *,
    task_id: str,
    kind: str,
    distractors: int,
    foreign_request: str = "",
    near_tools: list[str] | None = None,
) -> Task:
    """Render a composed plan (or, for `irrelevant`, a request no offered tool serves) into a Task.

    `foreign_request` is the undoable request of an `irrelevant` or `partial` task; `near_tools` (a near miss from
    the same domain) are the tools that come closest to it, offered instead of random ones."""
    if plan is None:
        if kind != "irrelevant":
            raise ValueError(f"a {kind} task needs a plan")
        return built(Task, {
            "id": task_id,
            "family": task_id,
            "domain": domain.name,
            "kind": "irrelevant",
            "depth": 0,
            "width": 0,
            "user_turns": [built(UserTurn, {"text": sentence(foreign_request, rng), "steps": [], "answer": [],
                                            "facts": []})],
            "tools": (sample(rng, near_tools, min(len(near_tools), distractors + 1)) if near_tools
                      else offer_tools(domain, [], distractors + 1, rng)),
            "needed_tools": [],
            "plan": [],
            "results": {},
            "state_diff": {},
            "clarification": None,
            "expect_refusal": True,
            "declined": foreign_request or None,
            "failure_outcome": None,
        })
    hide: dict[str, str] = {}
    vague: dict[str, str] = {}
    clarification = None
    asked = next((s for s in plan.steps if s.ask), None) if kind == "clarify" else None
    if asked is not None:
        clarification, hide, vague = _clarification(plan, asked, domain, rng)
    elif kind == "clarify":
        head = plan.steps[0]
        tool = domain.tool(head.tool)
        props = tool.spec.parameters.get("properties", {})
        free = [p for p in sorted(head.arguments) if p not in head.bindings]
        if tool_class(tool) == "update":  # never the new value: "change room RM-51" says nothing to ask about
            free = [p for p in free if p in tool.spec.parameters.get("required", [])] or free
        choices = [p for p in free if "x-entity" in props.get(p, {})] or free
        if not choices:
            raise ValueError(f"tool {head.tool} has no argument to ask about")
        param = choices[rng._randbelow(len(choices))]
        hide[head.id] = param
        value = head.arguments[param]
        clarification = _missing(head.id, tool, param, value, rng)
    steps = plan.steps
    by_id: dict[str, Step] = {}
    tools: dict[str, Tool] = {}  # each step's tool, looked up once
    n_turns = 1
    for s in steps:  # one pass, not a comprehension's frame for each of these
        by_id[s.id] = s
        tools[s.id] = domain.tool(s.tool)
        if s.turn >= n_turns:
            n_turns = s.turn + 1
    silent: set[str] = set()
    phrases: dict[str, Phrase] = {}
    if kind == "failure":
        texts = [failure_request(plan, domain, rng, phrases)]
    elif asked is not None and asked.options and not asked.bindings:  # "I'm member MEM-17. ... my loan"
        lister = by_id[asked.depends_on[0]]
        silent.add(lister.id)  # the user never asked to see the list: the assistant looks it up to ask
        clause = render_clause(asked, domain.tool(asked.tool), rng, hide=asked.ask,
                               known=next(iter(lister.arguments)))  # the owner the request names
        phrases[asked.id] = clause.phrase
        thing = noun(domain.tool(asked.tool).spec.parameters["properties"][asked.ask].get("x-entity") or "")
        texts = [holdings_request(domain.tool(lister.tool), *next(iter(lister.arguments.items())), clause.text, thing,
                                  sentence, rng)]
    else:
        texts = [render_turn(plan, t, domain, rng, hide, phrases, vague, tools, by_id) for t in range(n_turns)]
    results = plan.results
    asks: dict[str, tuple[str, ...]] = {}
    for s in steps:
        asks[s.id] = () if s.id in silent else tuple(tools[s.id].asked(phrases.get(s.id), results[s.id]))
    if n_turns > 1:  # only a later turn can refer to a value an earlier one said
        asks = _carried(plan, asks)
    declined = None
    if kind == "partial" and foreign_request:  # a doable request and an undoable one: do one, decline the other
        declined = foreign_request
        texts[0] = add_sentence(texts[0].rstrip(), ALSO[rng._randbelow(len(ALSO))].format(b=foreign_request))
    # each step's (id, turn, asks), its PlanStep, its turn, and the steps that expect an error (a failure task's:
    # what its answers lead with), in one pass
    asked: list[tuple[str, int, tuple[str, ...]]] = []
    planned: list[PlanStep] = []
    uses: dict[str, None] = {}  # the tools, in order, each once
    turn_of: dict[str, int] = {}
    failing: list[Step] = []
    for s in steps:
        a = asks[s.id]
        asked.append((s.id, s.turn, a))
        planned.append(built(PlanStep, {"id": s.id, "tool": s.tool, "arguments": dict(s.arguments),
                                        "bindings": dict(s.bindings), "depends_on": list(s.depends_on),
                                        "turn": s.turn, "expect_error": s.expect_error, "asks": list(a)}))
        uses[s.tool] = None
        turn_of[s.id] = s.turn
        if s.expect_error:
            failing.append(s)
    turns = []
    described = described_by(steps, lambda name: domain.tool(name).spec.returns)
    for t in range(n_turns):
        known: dict[tuple[str, str], list[str]] = {}
        facts = []
        for a, b, c in asked_values(asked, results, t, described):
            known[(a, b)] = c
            facts.append(built(Fact, {"step": a, "field": b, "values": c}))
        turns.append(built(UserTurn, {
            "text": texts[t], "steps": [s.id for s in steps if s.turn == t] if n_turns > 1 else list(by_id),
            "answer": _failure_answer(plan, t, asks, known, failing, turn_of) if failing
            else _answers(plan, t, asks, known, turn_of),
            "facts": facts}))
    needed = list(uses)
    return built(Task, {  # built, not validated: every value below is made here (or by the composer) of its type
        "id": task_id,
        "family": plan.family,
        "domain": domain.name,
        "kind": kind,
        "depth": plan.depth,
        "width": plan.width,
        "user_turns": turns,
        "tools": offer_tools(domain, needed, distractors, rng),
        "needed_tools": needed,
        "plan": planned,
        "results": dict(plan.results),
        "state_diff": {table: {key: list(change) for key, change in rows.items()}
                       for table, rows in plan.state_diff.items()},
        "clarification": clarification,
        "expect_refusal": False,
        "declined": declined,
        "failure_outcome": ("alternative" if len(plan.steps) > 1 else "report") if kind == "failure" else None,
    })


def _clarification(plan: Plan, asked: Step, domain: Domain,
                   rng: random.Random) -> tuple[Clarification, dict[str, str], dict[str, str]]:
    """The question, the user's answer and what the request leaves out (`hide`) or names vaguely (`vague`) for a
    step marked to be asked about: a missing value, or an ambiguous one with its options."""
    tool, param = domain.tool(asked.tool), asked.ask or ""
    value = asked.arguments[param]
    by_id = {s.id: s for s in plan.steps}
    if not asked.options:
        return _missing(asked.id, tool, param, value, rng), {asked.id: param}, {}
    if asked.bindings:  # twins: "that city" of a flight with two; the answer names the field it meant
        source_id, field = asked.bindings[param].split(".", 1)
        source, result = domain.tool(by_id[source_id].tool), plan.results[source_id]
        returns = source.spec.returns.get("properties", {})
        entity = returns[field].get("x-entity")
        fields = [f for f in returns if f in result and returns[f].get("x-entity") == entity]
        about = subject(source, by_id[source_id].arguments)
        question = ambiguity_question(tool, param, [result[f] for f in fields], fields, about, rng)
        answer, hide, vague = ambiguity_answer(value, field, rng), {}, {asked.id: param}
    else:  # holdings: "my loan" of a member with several
        lister = by_id[asked.depends_on[0]]
        about = subject(domain.tool(lister.tool), lister.arguments)
        question = ambiguity_question(tool, param, asked.options, None, about, rng)
        answer, hide, vague = ambiguity_answer(value, None, rng), {asked.id: param}, {}
    return (built(Clarification, {"step": asked.id, "param": param, "question": question, "reply": answer,
                                  "value": value, "options": [render_value(o) for o in asked.options]}), hide, vague)


def _missing(step_id: str, tool: Tool, param: str, value: Any, rng: random.Random) -> Clarification:
    """The clarification of a value the request leaves out: the assistant's question and the user's answer."""
    return built(Clarification, {"step": step_id, "param": param, "question": clarify_question(tool, param, rng),
                                 "reply": clarify_answer(tool, param, value, rng), "value": value, "options": []})


ALSO = ("Also, {b}.", "And while you're at it, {b}.", "Could you also {b}?")
_THANKS = (" Thank you!", " Thanks.")  # the closers of `sentence` that are a sentence of their own


def add_sentence(text: str, more: str) -> str:
    """`text` and then `more`, a thank-you that closed `text` moved to the end: "Please remove trainer TRN-026.
    Should that fail, delete TRN-031. Thank you!", not "... TRN-026. Thank you! Should that fail, ..."."""
    thanks = next((t for t in _THANKS if text.endswith(t)), "")
    return text[:len(text) - len(thanks)] + " " + more + thanks


FALLBACK_CLAUSES = ("If that doesn't work, {b} instead.", "If that's not possible, please {b} instead.",
                    "Should that fail, {b}.")


def failure_request(plan: Plan, domain: Domain, rng: random.Random, asks: dict[str, Phrase]) -> str:
    """A failure task's request: the write that will break a rule, plus (for an alternative route) the fallback the
    user offers."""
    failing, *alternative = plan.steps
    clause = render_clause(failing, domain.tool(failing.tool), rng)
    asks[failing.id] = clause.phrase
    text = sentence(clause.text, rng)
    if alternative:
        alt = render_clause(alternative[0], domain.tool(alternative[0].tool), rng)
        asks[alternative[0].id] = alt.phrase
        text = add_sentence(text, FALLBACK_CLAUSES[rng._randbelow(len(FALLBACK_CLAUSES))].format(b=alt.text))
    return text


def _failure_answer(plan: Plan, turn: int, asks: dict[str, Sequence[str]],
                    known: dict[tuple[str, str], list[str]], failing: list[Step], turns: dict[str, int]) -> list[str]:
    """A turn's answer: `turn_answers`, led for a failure task by what failed and why (the cause a reply must
    state). `failing`: the plan's steps that expect an error, in order; `turns`: each step's turn."""
    causes = [normalize(cause_reason(error_cause(plan.results[s.id]))) for s in failing if s.turn == turn]
    answers = _answers(plan, turn, asks, known, turns)
    return causes + [v for v in answers if v not in causes] if causes else answers
