"""Render plans into user requests from varied templates. Every argument value the agent needs is in the text,
except a clarify task's missing value and values that a plan step feeds from an earlier result."""

from __future__ import annotations

import random
import re
from typing import Any

from agentfab.generators.tasks import Plan, Step
from agentfab.generators.values import entity_words, normalize, render_value
from agentfab.schemas.tasks import Clarification, PlanStep, Task, UserTurn
from agentfab.worlds.core import Domain, Tool

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

OPENERS = ("Please ", "Could you ", "Can you ", "I need you to ", "Hi, please ", "Would you ", "Hey, can you ", "")
CLOSERS = (".", ", thanks.", " please.", " for me.", ". Thank you!")
QUESTION_CLOSERS = ("?", " for me?", ", please?", "? Thanks.")
REFERENCES = (
    "the {words} from that",
    "that {words}",
    "the {words} you got",
    "the resulting {words}",
    "the {words} you just found",
)
NOUN_REFERENCES = ("that {noun}", "the same {noun}", "the {noun} you found", "that {noun} from before")
CHAIN_JOINS = (
    ("First, {a}. Then {b}.", "{a}, then {b}"),
    ("{a}, and after that {b}.", "{a}, and after that {b}"),
    ("Step one: {a}. Step two: {b}.", "{a}; next, {b}"),
    ("{a}. Once you have it, {b}.", "{a}, and with that, {b}"),
)
PARALLEL_JOINS = (
    "I have {n} requests. {items}",
    "Several things at once: {items}",
    "{items}",
    "Please handle all of these: {items}",
)
NEXT_TURN = ("Thanks. Now {a}.", "Great. Next, {a}.", "OK, and {a}?", "Perfect. Could you also {a}?", "Now {a}.")


def fill(template: str, values: dict[str, str]) -> str:
    """Substitute `{param}` fields only: templates are data, never format strings with attribute access."""
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def phrase_for(tool: Tool, rng: random.Random) -> str:
    if tool.phrases:
        return tool.phrases[rng.randrange(len(tool.phrases))]
    required = tool.spec.parameters.get("required", [])
    action = tool.spec.description.rstrip(".")
    action = action[:1].lower() + action[1:]
    return action + "".join(f", with {p.replace('_', ' ')} {{{p}}}" for p in required)


def render_step(step: Step, tool: Tool, rng: random.Random, *, hide: str | None = None) -> str:
    props = tool.spec.parameters.get("properties", {})
    values: dict[str, str] = {}
    for param, value in step.arguments.items():
        if param in step.bindings:
            field = step.bindings[param].split(".", 1)[1]
            words = entity_words(props.get(param, {}).get("x-entity") or field)
            values[param] = REFERENCES[rng.randrange(len(REFERENCES))].format(words=words)
        elif param != hide:
            values[param] = render_value(value)
    if hide is not None:  # the request names the action, not the value the agent will have to ask for
        action = tool.spec.description.split(". ")[0].rstrip(".")
        template = action[:1].lower() + action[1:] + "".join(
            f", with {p.replace('_', ' ')} {{{p}}}" for p in step.arguments if p != hide
        )
    else:
        template = phrase_for(tool, rng)
    referred: set[str] = set()
    for param in step.bindings:  # "customer {customer_id}" fed by a result reads "that customer"
        noun = entity_words(props.get(param, {}).get("x-entity") or param).split(" ")[0]
        pattern = re.compile(r"\b" + re.escape(noun) + r" \{" + re.escape(param) + r"\}", re.IGNORECASE)
        if pattern.search(template):
            short = NOUN_REFERENCES[rng.randrange(len(NOUN_REFERENCES))].format(noun=noun)
            template = pattern.sub(short, template, count=1)
            referred.add(param)
    text = fill(template, values)
    for param in step.arguments:  # arguments the phrase does not mention still reach the text
        if "{" + param + "}" not in template and param != hide and param not in referred:
            text += f" ({param.replace('_', ' ')}: {values[param]})"
    return text


def _sentence(body: str, rng: random.Random) -> str:
    if body[:1].isupper():  # already whole sentences ("First, ... Then ...")
        return body if body.rstrip()[-1:] in ".?!" else body + "."
    opener = OPENERS[rng.randrange(len(OPENERS))]
    body = body if opener else body[:1].upper() + body[1:]
    question = opener.rstrip().endswith("you")  # Could you / Can you / Would you ... ?
    closers = QUESTION_CLOSERS if question else CLOSERS
    closers = [c for c in closers if not ("please" in c and "please" in opener.lower())]
    closer = closers[rng.randrange(len(closers))] if opener else "."
    return opener + body.rstrip(".") + closer


def render_chain(steps: list[Step], domain: Domain, rng: random.Random, hide: dict[str, str],
                 inline: bool = False) -> str:
    """Steps in order as one request; `inline` keeps it a lower-case clause (to follow "Now ..." or "(2)")."""
    parts = [render_step(s, domain.tool(s.tool), rng, hide=hide.get(s.id)) for s in steps]
    if len(parts) == 1:
        return parts[0]
    whole, inner = CHAIN_JOINS[rng.randrange(len(CHAIN_JOINS))]
    text = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        use_whole = i == len(parts) - 1 and len(parts) == 2 and not inline
        text = (whole if use_whole else inner).format(a=text, b=part)
    return text


def render_turn(plan: Plan, turn: int, domain: Domain, rng: random.Random, hide: dict[str, str]) -> str:
    steps_in_turn = {s.id for s in plan.steps if s.turn == turn}
    chains = [[sid for sid in member if sid in steps_in_turn] for member in plan.members]
    chains = [c for c in chains if c]
    by_id = {s.id: s for s in plan.steps}
    inline = turn > 0 or len(chains) > 1
    bodies = [render_chain([by_id[sid] for sid in c], domain, rng, hide, inline) for c in chains]
    if turn > 0:
        return NEXT_TURN[rng.randrange(len(NEXT_TURN))].format(a=" and ".join(bodies).rstrip("."))
    if len(bodies) == 1:
        return _sentence(bodies[0], rng)
    items = " ".join(f"({i + 1}) {b.rstrip('.')}." for i, b in enumerate(bodies))
    template = PARALLEL_JOINS[rng.randrange(len(PARALLEL_JOINS))]
    return template.format(n=len(bodies), items=items)


def answer_fields(tool: Tool, result: Any) -> list[str]:
    if not isinstance(result, dict):
        return []
    if tool.answer is not None:
        return [f for f in tool.answer if f in result]
    return [k for k, v in result.items() if not isinstance(v, (list, dict))]


def turn_answers(plan: Plan, turn: int, domain: Domain) -> list[str]:
    """Normalized values a reply to `turn` must state: the answer fields of the turn's last step per member."""
    values: list[str] = []
    by_id = {s.id: s for s in plan.steps}
    for member in plan.members:
        in_turn = [sid for sid in member if by_id[sid].turn == turn]
        if not in_turn:
            continue
        last = by_id[in_turn[-1]]
        result = plan.results[last.id]
        for name in answer_fields(domain.tool(last.tool), result):
            value = normalize(result[name])
            if value not in values:
                values.append(value)
    return values


def clarify_question(param: str, tool: Tool) -> str:
    entity = tool.spec.parameters["properties"][param].get("x-entity")
    words = entity_words(param)
    if entity and entity != param and entity_words(entity) not in words:
        words = f"{words} ({entity_words(entity)})"  # "from account (account id)", not just "account id"
    return f"Sure. Which {words} should I use?"


def clarify_reply(value: Any, rng: random.Random) -> str:
    forms = ("It's {v}.", "Use {v}.", "{v}, please.", "Sorry, it is {v}.", "The value is {v}.")
    return forms[rng.randrange(len(forms))].format(v=render_value(value))


def offer_tools(domain: Domain, needed: list[str], distractors: int, rng: random.Random) -> list[str]:
    """The needed tools plus the most similar others (sharing entity types), in a seeded order."""
    def entities(name: str) -> frozenset[str]:
        props = domain.tool(name).spec.parameters.get("properties", {})
        return frozenset(p["x-entity"] for p in props.values() if "x-entity" in p)

    def rank() -> list[list[str]]:
        wanted = frozenset().union(*(entities(n) for n in needed)) if needed else frozenset()
        by_score: dict[int, list[str]] = {}
        for t in domain.tools:
            if t.name not in needed:
                by_score.setdefault(len(entities(t.name) & wanted), []).append(t.name)
        return [by_score[k] for k in sorted(by_score, reverse=True)]

    buckets = domain.memo(("distractors", tuple(sorted(set(needed)))), rank)
    chosen: list[str] = []
    for group in buckets:  # most similar first; ties broken by the seeded rng
        take = min(distractors - len(chosen), len(group))
        if take <= 0:
            break
        chosen += rng.sample(group, take)
    offered = list(dict.fromkeys(needed)) + chosen
    rng.shuffle(offered)
    return offered


def to_task(
    plan: Plan | None,
    domain: Domain,
    rng: random.Random,
    *,
    task_id: str,
    kind: str,
    distractors: int,
    foreign_request: str = "",
) -> Task:
    """Render a composed plan (or, for `irrelevant`, a request no offered tool serves) into a Task."""
    if plan is None:
        if kind != "irrelevant":
            raise ValueError(f"a {kind} task needs a plan")
        return Task(
            id=task_id,
            family=task_id,
            domain=domain.name,
            kind="irrelevant",
            depth=0,
            width=0,
            user_turns=[UserTurn(text=_sentence(foreign_request, rng))],
            tools=offer_tools(domain, [], distractors + 1, rng),
            needed_tools=[],
            plan=[],
            expect_refusal=True,
        )
    hide: dict[str, str] = {}
    clarification = None
    if kind == "clarify":
        head = plan.steps[0]
        props = domain.tool(head.tool).spec.parameters.get("properties", {})
        choices = [p for p in sorted(head.arguments) if p not in head.bindings and "x-entity" in props.get(p, {})]
        choices = choices or [p for p in sorted(head.arguments) if p not in head.bindings]
        if not choices:
            raise ValueError(f"tool {head.tool} has no argument to ask about")
        param = choices[rng.randrange(len(choices))]
        hide[head.id] = param
        value = head.arguments[param]
        clarification = Clarification(
            step=head.id,
            param=param,
            question=clarify_question(param, domain.tool(head.tool)),
            reply=clarify_reply(value, rng),
            value=value,
        )
    n_turns = 1 + max(s.turn for s in plan.steps)
    turns = [
        UserTurn(
            text=render_turn(plan, t, domain, rng, hide),
            steps=[s.id for s in plan.steps if s.turn == t],
            answer=turn_answers(plan, t, domain),
        )
        for t in range(n_turns)
    ]
    needed = list(dict.fromkeys(s.tool for s in plan.steps))
    return Task(
        id=task_id,
        family=plan.family,
        domain=domain.name,
        kind=kind,  # type: ignore[arg-type]
        depth=plan.depth,
        width=plan.width,
        user_turns=turns,
        tools=offer_tools(domain, needed, distractors, rng),
        needed_tools=needed,
        plan=[
            PlanStep(id=s.id, tool=s.tool, arguments=s.arguments, bindings=s.bindings, depends_on=s.depends_on,
                     turn=s.turn)
            for s in plan.steps
        ],
        results=plan.results,
        state_diff=plan.state_diff,
        clarification=clarification,
    )
