"""The oracle's thoughts (the `description` of its actions): why this tool and not an offered alternative, what
each result taught it, what went wrong when a call failed, and why its reply answers the request.

Reasoning may name tools (the agent is choosing between them); the reply to the user never does.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Any

from agentfab.generators.facts import Said
from agentfab.generators.language import retold
from agentfab.generators.failures import error_cause
from agentfab.generators.replies import fact_text
from agentfab.schemas.answers import render_value
from agentfab.schemas.tasks import PlanStep
from agentfab.schemas.wording import join_words, label, plural
from agentfab.worlds.core import Domain, Tool


_TIMES = {2: "twice", 3: "three times", 4: "four times", 5: "five times"}


def _by_tool(group: list[PlanStep]) -> dict[str, list[PlanStep]]:
    """A group's steps by tool, in the order each tool first comes."""
    steps: dict[str, list[PlanStep]] = {}
    for step in group:
        steps.setdefault(step.tool, []).append(step)
    return steps


def _times(steps: list[PlanStep], args_of: dict[str, dict[str, Any]]) -> str:
    """How often one tool is called in a group, and for which values: " three times (for DLV-019, DLV-049 and
    DLV-041)", so a thought does not say the same tool and purpose once per call."""
    if len(steps) == 1:
        return ""
    times = " " + _TIMES.get(len(steps), f"{len(steps)} times")
    calls = [args_of[step.id] for step in steps]
    for param in calls[0]:
        values = [render_value(call.get(param)) for call in calls]
        if len(set(values)) == len(values):
            return times + f" (for {join_words(values)})"
    return times


def _purpose(tool: Tool) -> str:
    return _purpose_of(tool.spec.description)


@functools.lru_cache(maxsize=65_536)
def _purpose_of(description: str) -> str:
    text = re.split(r",? (?:e\.g|i\.e)\.|\. |; |: ", description)[0].rstrip(".")  # "block a card, e.g. when ..."
    return text[:1].lower() + text[1:]


_VERB_WORDS = frozenset(("get", "find", "search", "list", "count", "create", "add", "update", "delete", "remove", "by",
                         "of", "total", "average", "max", "min", "all"))


def _name_words(name: str) -> list[str]:
    """The things a tool's name is about: "delete_car" -> car, "list_loans_of_member" -> loans, member."""
    return [w for w in name.split("_") if w not in _VERB_WORDS and w not in ("for", "in", "with")]


def _entities(tool: Tool) -> frozenset[str]:
    """What a tool is about: the entity types it takes, else the words of its name ("find_car_by_plate": car,
    plate). A tool about none of the same things is no alternative worth ruling out."""
    props = tool.spec.parameters.get("properties", {})
    return frozenset(p["x-entity"] for p in props.values() if "x-entity" in p) or \
        frozenset(w for w in tool.spec.name.split("_") if w not in _VERB_WORDS)


# a draw is `rng._randbelow(n)`: the draw of `rng.choice` and `rng.randrange(n)`, without their two extra calls; a
# thought's shapes are written as f-strings where they are drawn (only the one drawn is made)
_VERBS = ("I'll call", "The right tool is", "I need")


Known = dict[str, tuple[frozenset[str], str]]  # per tool of a domain: the entity types it takes, what it is for


def _tools_known(domain: Domain) -> tuple[Known, dict[str, frozenset[str]], dict[str, tuple[str, ...]],
                                          dict[str, frozenset[str]]]:
    """Once per domain, what a thought says of its tools: per tool, (the entity types it takes, what it is for); the
    tools about one of the same things (an alternative worth ruling out); the words of its name with their plurals
    (what a declined request may name it by); and among the near tools, those whose name says one of the same things
    (update_driver or list_trips_of_driver for get_driver, the alternatives a thought names first: update_trip also
    takes a driver, but is about a trip)."""
    known: Known = {t.name: (_entities(t), _purpose(t)) for t in domain.tools}
    near = {name: frozenset(n for n, (theirs, _) in known.items() if not mine.isdisjoint(theirs))
            for name, (mine, _) in known.items()}
    named = {name: tuple(dict.fromkeys(f for w in _name_words(name) for f in (w, plural(w)))) for name in known}
    kin = {name: frozenset(n for n in near[name] if not set(named[n]).isdisjoint(named[name])) for name in known}
    return known, near, named, kin


class Reasoner:
    """Thoughts for one task: knows the offered tools, so it can say why the others do not fit."""

    __slots__ = ("domain", "offered", "needed", "_known", "_near", "_named", "_kin")

    def __init__(self, domain: Domain, offered: list[str], needed: list[str]):
        self.domain = domain
        self.offered, self.needed = offered, needed
        self._known, self._near, self._named, self._kin = domain.memo("reasoning_tools", lambda: _tools_known(domain))

    @property
    def others(self) -> list[str]:
        """The offered tools the plan does not call (a thought may rule them out)."""
        needed = self.needed
        return [n for n in self.offered if n not in needed]

    def _alternative(self, name: str, rng: random.Random) -> str:
        # not "Not delete_location" for find_car_by_plate; `others` near the tool, read in one pass (most offered
        # tools are not near it)
        near, needed = self._near[name], self.needed
        close = [n for n in self.offered if n in near and n not in needed]
        if not close:
            return ""
        kin = self._kin[name]
        close = [n for n in close if n in kin] or close  # about the same thing first: update_driver, not update_trip
        alt = close[rng._randbelow(len(close))]
        purpose = self._known[alt][1]
        shape = rng._randbelow(3)  # as rng.choice(_NOT_THAT) draws; only the one drawn is written
        return (f" {alt} would {purpose} instead, which is not what is needed here." if shape == 0 else
                f" Not {alt}: it would {purpose}." if shape == 1 else
                f" {alt} is offered too, but it would only {purpose}.")

    def before_calls(self, group: list[PlanStep], args_of: dict[str, dict[str, Any]], results: dict[str, Any],
                     tool_of: dict[str, str], rng: random.Random) -> str:
        """Before a group of calls: what was learned that feeds them, and why each tool."""
        fed: dict[str, dict[str, list[str]]] = {}  # tool -> label -> values: "from get_delivery" is said once
        known = self._known
        for step in group:
            if step.bindings:
                for param, ref in sorted(step.bindings.items()):
                    source, field = ref.split(".", 1)
                    if source in results:
                        values = fed.setdefault(tool_of.get(source, "the earlier call"), {}).setdefault(label(field), [])
                        value = render_value(args_of[step.id][param])
                        values.extend([value] if value not in values else [])
        head = ""
        if fed:
            learned = [join_words([f"the {plural(name) if len(values) > 1 else name} {join_words(values)}"
                                   for name, values in named.items()]) + f" from {tool}" for tool, named in fed.items()]
            x, shape = join_words(learned), rng._randbelow(3)  # as rng.choice(_LEARNED) draws
            head = (f"I now have {x}, which the next step needs. " if shape == 0 else
                    f"The results give me {x}. " if shape == 1 else f"From what came back I have {x}. ")
        if len(group) == 1:
            name = group[0].tool
            return head + f"{_VERBS[rng._randbelow(3)]} {name} to {known[name][1]}." + self._alternative(name, rng)
        plans = [f"{tool_name}{_times(steps, args_of)} to {known[tool_name][1]}"
                 for tool_name, steps in _by_tool(group).items()]
        return head + (f"These {len(group)} calls do not depend on each other, so I'll make them together: "
                       f"{'; '.join(plans)}.")

    def after_error(self, tool: Tool, wrong: dict[str, Any], right: dict[str, Any], error: Any,
                    rng: random.Random, fed: dict[str, str] | None = None) -> str:
        """After a failed call: its cause, and what changes in the retry. `fed` names the earlier call a value came
        from (otherwise the request gave it)."""
        changed = [p for p in right if wrong.get(p) != right[p]]
        cause = error_cause(error)
        if changed:
            p = changed[0]
            where = f"{fed[p]} returned" if fed and p in fed else "the request says"
            fix = f"I wrote the {label(p)} as {render_value(wrong[p])}, but {where} {render_value(right[p])}."
            return rng.choice((f"That failed: {cause}. {fix} Retrying with the right value.",
                               f"The call was refused ({cause}). {fix} I'll call {tool.name} again.",
                               f"Error: {cause}. My mistake: {fix} Trying again."))
        return f"That failed: {cause}. I'll try {tool.name} again."

    def before_reply(self, parts: list[Said], rng: random.Random, failure: Any = None) -> str:
        """Before the reply: what the results say, and that they cover what was asked; after a business-rule
        failure, its cause first (the reply must tell the user why)."""
        said: list[str] = []
        known: set[str] = set()  # a fact two parts share ("the booking is BK-0042") is named once
        stated = writes = 0  # facts the thought itself names: "each of these" only after several
        for part in parts[:3]:
            every, texts, clause = _asked_facts(part)
            if known and not known.isdisjoint(every):
                texts = [t for t in every if t not in known]
                texts = _not_within(texts, 2) if len(texts) > 1 else texts
                clause = _clause(part, texts)
            known.update(texts)
            writes += part.named.mutates
            if clause and clause not in said:
                said.append(clause)
                stated += max(1, len(texts))
        if failure is not None:
            cause = error_cause(failure)
            if not said:
                return rng.choice((f"The request cannot be done: {cause}. I'll tell the user plainly what failed "
                                   "and why.", f"That was refused because {cause}. Nothing else was asked, so I'll "
                                   "explain the failure and its cause."))
            return f"The first attempt failed because {cause}. The alternative worked: {'; '.join(said)}. " \
                   "I'll report both."
        if not said:
            return "The calls succeeded; I'll confirm that to the user."
        summary = "; ".join(said).rstrip(".")  # a value may end a sentence already ("Joshua Pitts Jr.")
        shape = rng._randbelow(3)  # as rng.choice(_COVERED) draws; only the one drawn is written
        if shape == 0:
            return f"The results show that {summary}. That covers what was asked, so I can answer."
        if shape == 2:
            return f"Everything asked for is in the results: {summary}."
        tell = ("I'll confirm it to the user." if writes == len(said) == 1 else
                "I'll tell the user each of these." if stated > 1 else "That is what the user asked, so I'll say it.")
        return f"Now I know that {summary}. {tell}"

    @staticmethod
    def before_question(tool: Tool | None, param: str, options: list[str] | None = None) -> str:
        goal = f"To {_purpose(tool)}, I need" if tool is not None else "I need"
        if options:
            return (f"{goal} one {label(param)}, but the request could mean any of {len(options)}: "
                    f"{join_words(options, 'or')}. Picking one would be a guess, so I'll ask which.")
        return f"{goal} the {label(param)}, and the request does not give it. I should ask rather than guess."

    def refusal(self, request: str | None, rng: random.Random) -> str:
        """Why no tool is called: what is asked, and what an offered tool would do instead."""
        others = self.others
        if not request or not others:
            return "None of the offered tools can do what is asked, so I should say so and not call any."
        # "The user wants me to email them a copy", but "Nothing offered can email the user a copy" (no "them"
        # before the user is named)
        wanted, drawn = retold(request, "they"), rng._randbelow(len(others))
        asked = retold(request, "the user")
        said = set(re.findall(r"[a-z]+", request.lower()))
        # a near miss is a tool about something the request names: not "create_pupil would only create a new
        # pupil" for "find the total tip across all deliveries"
        named = self._named
        close = [n for n in others if not said.isdisjoint(named[n])]
        if not close:
            return rng.choice((
                f"The user wants me to {wanted}. None of the {len(others)} offered tools deals with that, so "
                "I should decline and not call any.",
                f"Nothing offered can {asked}, and no offered tool is about anything like it. I won't call a tool; "
                "I'll tell the user.",
                f"The request is to {asked}. No offered tool does it or anything close. I'll say so plainly and "
                "call nothing."))
        near = close[drawn % len(close)]
        purpose = self._known[near][1]
        return rng.choice((
            f"The user wants me to {wanted}. None of the {len(others)} offered tools does that ({near} "
            f"would only {purpose}), so I should decline and not call any.",
            f"Nothing offered can {asked}: {near} would {purpose}, and the other tools are no closer. "
            "I won't call a tool; I'll tell the user.",
            f"The request is to {asked}. No offered tool does it; {near}, for one, would only {purpose}. "
            "I'll say so plainly and call nothing."))


def _asked_facts(part: Said) -> tuple[list[str], list[str], str]:
    """The asked facts of a part as clauses, each once; and, when no other part named one of them already, the
    (at most 2) a thought names and its clause about the part."""
    if part.spoken and not part.flags:  # every fact has its clause, in the order asked
        texts = list(part.clauses.values())
        if len(set(texts)) != len(texts):  # two fields said alike: each once
            texts = list(dict.fromkeys(texts))
    else:
        result = part.result if isinstance(part.result, dict) else {}
        clauses = part.clauses  # fact_text's own first answer, read here without a call per fact
        texts = []
        for f in part.asks:
            if f in result:
                text = clauses.get(f)
                if text is None:
                    text = fact_text(part, f)
                if text not in texts:  # each once, in the order asked
                    texts.append(text)
    named = _not_within(texts, 2) if len(texts) > 1 else texts
    return texts, named, _clause(part, named)


def _clause(part: Said, texts: list[str]) -> str:
    """What a thought says of a part: its facts; a write is done, not learned ("delete_teacher went through
    (...)")."""
    if part.named.mutates:
        return f"{part.tool.name} went through" + (f" ({join_words(texts)})" if texts else "")
    return join_words(texts)


def _not_within(facts: list[str], most: int) -> list[str]:
    """The first `most` facts whose value no other fact already carries: not "the currency is USD" beside "the
    balance is 11108.28 USD". A fact's value is carried by another that ends with it: with the facts joined, each
    ended by a NUL, that is one more ending than the facts equal to it make (an ending spans no NUL: one per fact)."""
    joined = "\0".join(facts) + "\0"
    if joined.count("\0") != len(facts):  # a fact with a NUL of its own: compare fact by fact
        return _not_within_each(facts, most)
    out: list[str] = []
    for fact in facts:
        if len(out) == most:
            break
        if " is " in fact:
            value = fact.rsplit(" is ", 1)[1]
            if value and joined.count(f" {value}\0") > facts.count(fact):
                continue
        out.append(fact)
    return out


def _not_within_each(facts: list[str], most: int) -> list[str]:
    out: list[str] = []
    for fact in facts:
        if len(out) == most:
            break
        value = fact.rsplit(" is ", 1)[-1] if " is " in fact else ""
        if value:
            tail = " " + value
            for other in facts:
                if other != fact and other.endswith(tail):
                    break
            else:
                out.append(fact)
        else:
            out.append(fact)
    return out


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
