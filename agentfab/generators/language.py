"""The offline engine's words: requests, replies, clarifying questions and failure reports, realized from a small
grammar per tool class instead of by pasting tool descriptions or `field: value` lists.

What other generators call (all pure functions; randomness comes in as `rng`):
- `tool_class(tool)`: lookup | search | list | count | aggregate | create | update | delete | act.
- `phrases_of(tool)`: the request templates of a tool (its own, or the grammar's when it declares none).
- `action_text(tool, arguments)`: what a call does, as a verb phrase with its values ("block card CRD-5003").
- `reply(parts, rng)`: the reply to a turn; each `Said` part states the facts its request asked for.
- `failure_reply(tool, arguments, error, rng)`: "I couldn't block card CRD-5003: card CRD-5003 is already blocked."
- `alternative_reply(failed, error, done, rng)`: the plan changed after a failure; states the new route's facts.
- `clarify_template(text, param, tool)`, `clarify_question(tool, param, rng)`, `clarify_answer(tool, param, value,
  rng)`: a request that leaves one value out, the assistant's question, the user's answer.
- `sentence(body, rng)`: a clause as a whole request with a varied opener and closer.
Values are always written by `render_value`, so the answer checks find them as whole tokens.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from agentfab.schemas.answers import flatten, mentioned, render_value
from agentfab.schemas.wording import agree, counted, join_words, label, noun, plural, unit, yes_no_statement
from agentfab.worlds.core import Phrase, Tool, is_error

TOOL_CLASSES = ("lookup", "search", "list", "count", "aggregate", "create", "update", "delete", "act")

_CREATE = ("create", "open", "add", "place", "book", "schedule", "register", "new", "insert", "post")
_UPDATE = ("update", "change", "set", "reschedule", "rename", "edit", "modify", "patch", "put", "move")
_DELETE = ("delete", "remove", "cancel", "drop", "destroy")
_AGGREGATE = ("max", "min", "total", "average", "sum", "avg")
_PAST = {"send": "sent", "put": "put", "set": "set", "make": "made", "stop": "stopped", "freeze": "froze",
         "unfreeze": "unfroze", "get": "got", "find": "found", "show": "showed", "tell": "told", "give": "gave",
         "lift": "lifted", "call": "called", "cancel": "cancelled", "refund": "refunded", "add": "added",
         "book": "booked", "reserve": "reserved", "order": "ordered", "place": "placed", "open": "opened",
         "move": "moved", "invite": "invited", "issue": "issued", "mark": "marked", "block": "blocked",
         "restock": "restocked", "transfer": "transferred", "create": "created", "update": "updated",
         "change": "changed", "delete": "deleted", "remove": "removed", "reschedule": "rescheduled",
         "schedule": "scheduled", "register": "registered", "submit": "submitted", "approve": "approved"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _name_words(name: str) -> list[str]:
    return _CAMEL.sub("_", name).lower().split("_")


_MEMO: dict[tuple[str, int, str], str] = {}  # (what, id(tool), field) -> words; tools live as long as the process


def _memo(what: str, tool: Tool, field: str, make: Any) -> str:
    key = (what, id(tool), field)
    if key not in _MEMO:
        _MEMO[key] = make()
    return _MEMO[key]


def tool_class(tool: Tool) -> str:
    """The grammar class of a tool, from what it does to the world and how it is named."""
    return _memo("class", tool, "", lambda: _tool_class(tool))


def _tool_class(tool: Tool) -> str:
    words = _name_words(tool.name)
    first = words[0]
    if tool.spec.mutates:
        if first in _CREATE:
            return "create"
        if first in _UPDATE:
            return "update"
        if first in _DELETE:
            return "delete"
        return "act"
    if first == "count":
        return "count"
    if first in _AGGREGATE:
        return "aggregate"
    if first == "list":
        return "list"
    if first == "search":
        return "search"
    return "lookup"


def topic(tool: Tool) -> str:
    """What a tool is about, from its name: `get_latest_order` -> "latest order", `list_loans_of_member` -> "loans"."""
    return _memo("topic", tool, "", lambda: _topic(tool))


def _topic(tool: Tool) -> str:
    words = _name_words(tool.name)
    words = words[1:] if len(words) > 1 else words
    for cut in ("of", "by", "for", "in", "with"):
        if cut in words[1:]:
            words = words[: words.index(cut, 1)]
    if tool_class(tool) == "aggregate" and len(words) > 1:
        words = words[:1]
    return " ".join(words)


def param_label(tool: Tool, param: str) -> str:
    return label(_CAMEL.sub("_", param).lower())


def _entity_of(tool: Tool, param: str) -> str | None:
    return tool.spec.parameters.get("properties", {}).get(param, {}).get("x-entity")


def is_id(tool: Tool, param: str) -> bool:
    """Does the parameter name a record (an id), rather than carry a value (a date, an amount, a name)?"""
    entity = _entity_of(tool, param) or ""
    return entity.endswith("_id") or param.endswith("_id") or param in ("from_account", "to_account")


def phrases_of(tool: Tool) -> tuple[Phrase, ...]:
    """The tool's own request templates, or two from the grammar of its class (imported tools declare none)."""
    if tool.phrases:
        return tool.phrases
    props = tool.spec.parameters.get("properties", {})
    required = tool.spec.parameters.get("required", [])
    slots = [f"{param_label(tool, p)} {{{p}}}" for p in required if p in props]
    what = topic(tool)
    verb = _name_words(tool.name)[0]
    cls = tool_class(tool)
    with_slots = f" with {join_words(slots)}" if slots else ""
    for_slots = f" for {join_words(slots)}" if slots else ""
    if cls in ("create", "update", "delete", "act"):
        return (Phrase(f"{verb} the {what}{with_slots}"), Phrase(f"please {verb} the {what}{for_slots}"))
    if cls == "count":
        return (Phrase(f"count the {what}{for_slots}"), Phrase(f"tell me how many {what} there are{for_slots}"))
    if cls in ("list", "search"):
        return (Phrase(f"list the {what}{for_slots}"), Phrase(f"find the {what}{with_slots}"))
    return (Phrase(f"look up the {what}{for_slots}"), Phrase(f"get the {what}{for_slots}"))


def fill(template: str, values: dict[str, str]) -> str:
    """Substitute `{param}` slots only (templates are data, never format strings), then fix number agreement."""
    return agree(_SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), template))


def action_text(tool: Tool, arguments: dict[str, Any]) -> str:
    """What the call does, with its values: the tool's first phrase filled in."""
    phrase = phrases_of(tool)[0].text
    text = fill(phrase, {k: render_value(v) for k, v in arguments.items()})
    missing = [p for p in arguments if "{" + p + "}" not in phrase]
    if missing and tool_class(tool) == "update":
        text += setting(tool, [(p, render_value(arguments[p]), arguments[p]) for p in missing])
    elif missing:
        text += " with the " + join_words([f"{param_label(tool, p)} {render_value(arguments[p])}" for p in missing])
    return text


def setting(tool: Tool, changes: list[tuple[str, str, Any]]) -> str:
    """The new values of an update, after its record: ", setting the plan to plus"; a yes/no field is said as what
    becomes true (" to record that it is at an airport"), never "setting the airport to yes"."""
    plain = [f"{param_label(tool, p)} to {text}" for p, text, value in changes if not isinstance(value, bool)]
    flags = [_flag(tool, p, value) for p, _, value in changes if isinstance(value, bool)]
    out = ", setting the " + join_words(plain) if plain else ""
    if flags:
        out += (" and" if plain else "") + " to record that " + join_words(flags)
    return out


def _flag(tool: Tool, param: str, value: bool) -> str:
    """"it is at an airport", "the membership is not active": a yes/no value of the record an update changes."""
    described = tool.spec.parameters.get("properties", {}).get(param, {}).get("description", "")
    ids = [p for p in tool.spec.parameters.get("properties", {}) if is_id(tool, p)]
    thing = noun(_entity_of(tool, ids[0]) or ids[0]) if ids else ""
    return yes_no_statement(described, param, thing, "it", value).removeprefix("for it, ")


def past(clause: str) -> str:
    """"transfer 25.00 from ..." -> "transferred 25.00 from ..." (the first verb only)."""
    head, _, rest = clause.partition(" ")
    low = head.lower()
    if low in _PAST:
        done = _PAST[low]
    elif low.endswith("e"):
        done = low + "d"
    elif low.endswith("y") and low[-2:-1] not in "aeiou":
        done = low[:-1] + "ied"
    else:
        done = low + "ed"
    return f"{done} {rest}".strip()


# -- facts -----------------------------------------------------------------------------------------------------

_MONEY = {"balance", "amount", "from_balance", "total", "price", "total_price", "cheapest_price", "refund_amount",
          "price_per_night"}


@dataclass(frozen=True)
class Said:
    """One step's share of a reply: the call, what it returned, and the result fields the request asked for."""

    tool: Tool
    arguments: dict[str, Any]
    result: Any
    asks: tuple[str, ...]


def value_text(field: str, value: Any, result: dict[str, Any]) -> str:
    """A value as a reply writes it, with its unit: "30°C", "1204.50 USD", "ACC-1001 and ACC-1041"."""
    if isinstance(value, list):
        return join_words([render_value(v) for v in value]) if value else "none"
    text = render_value(value)
    if field.endswith("_c") and isinstance(value, (int, float)):
        return f"{text}°C"
    if unit(field) and isinstance(value, (int, float)):
        return f"{text} {unit(field)}"
    if field in _MONEY and isinstance(result.get("currency"), str):
        return f"{text} {result['currency']}"
    return text


def fact_label(tool: Tool, field: str) -> str:
    """What a result field is called in a reply; generic names ("value") take their schema description."""
    return _memo("fact", tool, field, lambda: _fact_label(tool, field))


def _fact_label(tool: Tool, field: str) -> str:
    if field in ("value", "result"):
        described = tool.spec.returns.get("properties", {}).get(field, {}).get("description", "")
        if described:
            text = described[:1].lower() + described[1:]
            return text[4:] if text.startswith("the ") else text
        return topic(tool)
    if field == "count":
        return "number of " + plural(noun_of_results(tool))
    return label(field)


def noun_of_results(tool: Tool) -> str:
    """The singular noun of what a list, search or count returns: `count_loans_of_member` -> "loan"."""
    what = topic(tool).split(" ")
    last = what[-1]
    single = last[:-3] + "y" if last.endswith("ies") else last[:-1] if last.endswith("s") and not last.endswith("ss") \
        else last
    return " ".join([*what[:-1], single])


def subject(tool: Tool, arguments: dict[str, Any]) -> str:
    """The record a call is about: "account ACC-1001", or the values it was asked with ("Paris on 2025-06-01")."""
    ids = [p for p in arguments if is_id(tool, p)]
    if ids:
        p = ids[0]
        return f"{noun(_entity_of(tool, p) or p)} {render_value(arguments[p])}"
    if len(arguments) == 1:  # "the username pattonvanessa", "the status delayed"
        (param, value), = arguments.items()
        return f"the {param_label(tool, param)} {render_value(value)}"
    words = [render_value(v) if i == 0 else f"{_preposition(p)} {render_value(v)}"
             for i, (p, v) in enumerate(arguments.items())]
    return " ".join(words)


def _preposition(param: str) -> str:
    if param in ("origin", "source") or param.startswith("from_"):
        return "from"
    if param in ("destination", "target") or param.startswith("to_"):
        return "to"
    if param == "date" or param.endswith(("_on", "_date")):
        return "on"
    return "for"


def headline(tool: Tool, arguments: dict[str, Any]) -> str:
    """A heading for a part of a reply: "Latest booking of traveler T-211", "Weather for Miami on 2026-12-19"."""
    what = topic(tool)
    about = subject(tool, arguments)
    ids = [p for p in arguments if is_id(tool, p)]
    if ids and noun(_entity_of(tool, ids[0]) or ids[0]) == what:
        return _cap(about)
    if not about:
        return _cap(what)
    joiner = " of " if ids else f" {_preposition(next(iter(arguments)))} "
    return _cap(what + joiner + about)


def fact_clause(lab: str, text: str, value: Any) -> str:
    """One stated fact as a clause with agreement: "the number of songs is 263", "the total minutes are 4"."""
    if isinstance(value, bool):
        return f"{lab}: {text}"
    if isinstance(value, list):
        return f"the {lab} {'is' if len(value) == 1 else 'are'} {text}"
    plural = lab.endswith("s") and not lab.endswith(("ss", "us", "is"))
    if plural and isinstance(value, (int, float)):
        if lab.startswith(("average", "total", "highest", "lowest", "maximum", "minimum")):
            return f"the {lab} are {text}"  # "the total minutes is 4" is not English either
        if not lab.startswith("number"):
            return f"the number of {lab} is {text}"  # "the hectares is 117.75" is not English
    return f"the {lab} is {text}"


def _facts(part: Said, skip: set[str] = frozenset(), said: str = "") -> list[tuple[str, str, Any]]:
    """(label, text, value) of the asked facts, leaving out those `said` already states (the subject's id) and the
    yes/no facts (`_verdicts` states those as sentences)."""
    result = part.result if isinstance(part.result, dict) else {}
    out = []
    flat = flatten(said) if said else ""
    money = any(f in _MONEY for f in part.asks if f in result)  # "1204.50 USD" already says the currency
    for field in part.asks:
        if field == "currency" and money:
            continue
        if field in result and field not in skip and not isinstance(result[field], bool):
            text = value_text(field, result[field], result)
            if flat and mentioned(flat, flatten(text)):
                continue
            out.append((fact_label(part.tool, field), text, result[field]))
    return out


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _record(part: Said) -> tuple[str, str]:
    """(kind, words) of the record a call is about: ("location", "location LOC-0003")."""
    ids = [p for p in part.arguments if is_id(part.tool, p)]
    if ids:
        thing = noun(_entity_of(part.tool, ids[0]) or ids[0])
        return thing, f"{thing} {render_value(part.arguments[ids[0]])}"
    result = part.result if isinstance(part.result, dict) else {}
    thing = noun_of_results(part.tool)
    key = result.get(thing.replace(" ", "_") + "_id")
    return (thing, f"{thing} {key}") if isinstance(key, str) else ("it", "it")


def yes_no_fact(part: Said, field: str) -> str:
    """A boolean fact as a statement: "location LOC-0003 is not at an airport"."""
    value = part.result[field]
    described = part.tool.spec.returns.get("properties", {}).get(field, {}).get("description", "")
    thing, record = _record(part)
    return yes_no_statement(described, field, thing, record, value)


def _verdicts(part: Said) -> list[str]:
    """The asked yes/no facts as answers: "No, location LOC-0003 is not at an airport." (the yes/no is the value)."""
    result = part.result if isinstance(part.result, dict) else {}
    return [f"{'Yes' if result[f] else 'No'}, {yes_no_fact(part, f)}." for f in part.asks
            if isinstance(result.get(f), bool)]


def fact_text(part: Said, field: str) -> str:
    """One asked fact as a clause (for reasoning): "the title is Dune", "club CLB-4 has a pool"."""
    result = part.result if isinstance(part.result, dict) else {}
    if isinstance(result.get(field), bool):
        return yes_no_fact(part, field)
    return fact_clause(fact_label(part.tool, field), value_text(field, result[field], result), result[field])


def _sentences(part: Said, rng: random.Random) -> str:
    """One part as prose, shaped by its tool class; a fact the chosen shape left unsaid is added at the end."""
    text = _shaped(part, rng)
    unsaid = _facts(part, said=text)
    if unsaid:
        text = (text + " " if text else "") + _cap(join_words([fact_clause(a, b, c) for a, b, c in unsaid])) + "."
    return " ".join([text, *_verdicts(part)]).strip()


def _found_ids(tool: Tool, result: dict[str, Any]) -> str:
    """A list or search names what it found (": BLD-003 and BLD-007"), not only how many; when the tool returned
    only the first page of a longer list, it says so ("; the first 10 are ...")."""
    key = noun_of_results(tool).replace(" ", "_") + "_id"
    found = result.get("results")
    if found is None:  # a hand-written tool names its list ("products", "events")
        found = next((v for v in result.values() if isinstance(v, list) and v and isinstance(v[0], dict)), None)
    if not isinstance(found, list) or not found:
        return ""
    ids = [item.get(key) for item in found if isinstance(item, dict)]
    if len(ids) != len(found) or not all(isinstance(i, str) for i in ids):
        return ""
    total = result.get("count")
    if isinstance(total, int) and total > len(ids):
        return f"; the first {len(ids)} are " + join_words(ids)
    return ": " + join_words(ids)


def _shaped(part: Said, rng: random.Random) -> str:
    cls = tool_class(part.tool)
    result = part.result if isinstance(part.result, dict) else {}
    about = subject(part.tool, part.arguments)
    if cls in ("list", "search", "count") and "count" in part.asks and isinstance(result.get("count"), int):
        what = counted(result["count"], noun_of_results(part.tool))
        there = "There is" if result["count"] == 1 else "There are"
        head = rng.choice((f"I found {what}", f"{there} {what}", f"I count {what}"))
        head += (f" with {about[4:]}" if about.startswith("the ") else f" for {about}") if about else ""
        head += _found_ids(part.tool, result) if cls != "count" else ""
        rest = _facts(part, {"count"})
        tail = "; " + join_words([fact_clause(a, b, c) for a, b, c in rest]) if rest else ""
        return head + tail + "."
    if cls in ("create", "update", "delete", "act"):
        done = past(action_text(part.tool, part.arguments))
        lead = rng.choice((f"I've {done}", f"Done: I {done}", f"I {done}"))
        facts = _facts(part, said=done)
        return f"{lead}. {_cap(join_words([fact_clause(a, b, c) for a, b, c in facts]))}." if facts else f"{lead}."
    facts = _facts(part, said=about)
    if not facts:
        full = _facts(part)
        return _cap(join_words([fact_clause(a, b, c) for a, b, c in full])) + f" for {about}." if full else ""
    clauses = [fact_clause(a, b, c) for a, b, c in facts]
    if cls == "aggregate":
        return f"{_cap(join_words(clauses))}" + (f" for {about}." if about else ".")
    if not about:
        return _cap(join_words(clauses)) + "."
    if len(clauses) == 1:
        lab, text, value = facts[0]
        if about.startswith("the "):
            return rng.choice((f"{_cap(clauses[0])} for {about}.", f"For {about}, {clauses[0]}."))
        verb = "are" if isinstance(value, list) and len(value) != 1 else "is"
        return rng.choice((f"The {lab} of {about} {verb} {text}.", f"For {about}, {clauses[0]}."))
    itself = not about.startswith("the ") and about.split(" ", 1)[0] == topic(part.tool)  # get_person: the person
    intro = rng.choice((f"For {about}, ", f"Here is {about}: " if itself else f"For {about}, "))
    return _cap(intro + join_words(clauses)) + "."


def _head(part: Said) -> str:
    return _cap(past(action_text(part.tool, part.arguments))) if part.tool.spec.mutates else \
        headline(part.tool, part.arguments)


def _bullets(part: Said) -> str:
    head = _head(part)
    facts = _facts(part, said=head) or _facts(part)
    verdicts = "".join("\n" + v for v in _verdicts(part))
    return head + ":\n" + "\n".join(f"- {_cap(a)}: {b}" for a, b, _ in facts) + verdicts


READ_LEADS = ("", "Here's what I found. ", "Sure. ", "I checked. ", "Got it. ")
WRITE_LEADS = ("", "All set. ", "Done. ")


def reply(parts: list[Said], rng: random.Random) -> str:
    """The reply to one turn: every part's asked facts, as prose or (for fact-heavy parts) a short list."""
    if not parts:
        return "Done."
    use_list = sum(len(p.asks) for p in parts) >= 4 and rng.random() < 0.4
    texts = []
    for part in parts:
        if use_list and len(_facts(part, said=_head(part))) >= 3:
            texts.append(_bullets(part))
        else:
            texts.append(_sentences(part, rng))
    texts = [t for t in texts if t]
    writes = any(p.tool.spec.mutates for p in parts)
    lead = rng.choice(WRITE_LEADS if writes else READ_LEADS)
    lead = "" if any(t.startswith(("Done", "I've", "I ", "Here")) for t in texts[:1]) else lead
    joiner = "\n\n" if use_list else " "
    return (lead + joiner.join(texts)).strip() or "Done."


def failure_reply(tool: Tool, arguments: dict[str, Any], error: Any, rng: random.Random) -> str:
    """Telling the user plainly what could not be done and why (the error's own words as the cause)."""
    cause = error_cause(error)
    action = action_text(tool, arguments)
    return rng.choice((f"I couldn't {action}: {cause}.", f"I wasn't able to {action}, because {cause}.",
                       f"Sorry, I can't {action}: {cause}."))


def alternative_reply(failed: tuple[Tool, dict[str, Any]], error: Any, done: list[Said], rng: random.Random) -> str:
    """A failure that the agent routed around: what failed and why, then what it did instead and its facts."""
    tool, arguments = failed
    action, cause = action_text(tool, arguments), error_cause(error)
    first = rng.choice((f"I couldn't {action}: {cause}.", f"I wasn't able to {action}, because {cause}."))
    then = rng.choice(("So I went with the alternative you gave.", "As you suggested, I took the other option.",
                       "So I used your fallback instead."))
    return f"{first} {then} {reply(done, rng)}"


def error_cause(error: Any) -> str:
    """The reason a call failed, as a clause: the message of an `{"error": ...}` result."""
    if is_error(error):
        message = str(error["error"].get("message", "")).strip().rstrip(".")
        first = message.split(" ", 1)[0]
        if first[1:] != first[1:].lower() or any(ch.isdigit() or ch == "-" for ch in first):
            return message  # it starts with an id ("P-113 is busy ..."): never lower-case an id
        return message[:1].lower() + message[1:] if message else "the service reported an error"
    return str(error).strip().rstrip(".")


# -- clarify ---------------------------------------------------------------------------------------------------

_A_VOWEL = re.compile(r"\b([Aa]) (?=[aeio])")
_COUNTED_SLOT = r"(?:\s+(?:x\s+)?(?:units?|nights?|seats?|rooms?|guests?|minutes?|copies|people))?"
_PREPOSITION = r"(?:\s+(?:with|for|of|on|to|from|in|at|by|reason:?|,)\s*|\s+)"


def clarify_template(text: str, param: str, tool: Tool) -> str:
    """A request template that leaves `param` out the way a person does: "block my card", "restock PRD-1"."""
    return _memo("clarify", tool, f"{param}\n{text}", lambda: _clarify_template(text, param, tool))


def _clarify_template(text: str, param: str, tool: Tool) -> str:
    slot = "{" + param + "}"
    if slot not in text:
        return text
    whose = re.search(r"\s+whose\s+([a-z][a-z ]*?)\s+(?:contains|is)\s+" + re.escape(slot), text)
    if whose:  # "rooms whose property is {id}" -> "rooms of my property"; "... whose name contains {x}" -> "by name"
        if is_id(tool, param):
            said = f" of my {noun(_entity_of(tool, param) or param)}"
        else:
            said = f" by {whose.group(1)}"
        return " ".join((text[: whose.start()] + said + text[whose.end():]).split())
    their = re.search(r"\s+with\s+" + re.escape(slot) + r"\s+in\s+their\s+([a-z][a-z ]*[a-z])", text)
    if their:  # "players with {name} in their name" -> "players by name"
        return " ".join((text[: their.start()] + f" by {their.group(1)}" + text[their.end():]).split())
    label = re.search(r"\s+with\s+(" + re.escape(param_label(tool, param)) + r")\s+" + re.escape(slot) + r"(?=[\s.,?!]|$)", text)
    if label and not is_id(tool, param):  # "the carrier with name {name}" -> "the carrier by name"
        said = "" if tool_class(tool) == "create" else f" by {label.group(1)}"
        return " ".join((text[: label.start()] + said + text[label.end():]).split())
    only = re.search(r":\s+" + re.escape(param_label(tool, param)) + r"\s+" + re.escape(slot) + r"(?=[.,?!]|$)", text)
    if only:  # "add a carrier: name {name}" -> "add a carrier"
        return " ".join((text[: only.start()] + text[only.end():]).split())
    if is_id(tool, param):
        thing = noun(_entity_of(tool, param) or param)
        named = re.compile(r"\b(?:the\s+)?" + re.escape(thing) + r"\s+" + re.escape(slot), re.IGNORECASE)
        if named.search(text):
            return named.sub(f"my {thing}", text, count=1)
        return text.replace(slot, f"my {thing}", 1)
    named = re.escape(param_label(tool, param)) + r"\s+" + re.escape(slot)
    for pattern in (r"(,\s*|\s+and\s+)" + named, named + r"(,\s*|\s+and\s+)"):  # an item of a listing
        found = re.search(pattern, text)
        if found:
            listed = text[: found.start()] + text[found.end():]
            if "and" in found.group(1) and ", " in listed:  # "a, b and c" less c is "a and b"
                head, _, last = listed.rpartition(", ")
                listed = f"{head} and {last}"
            return " ".join(listed.split())
    dropped = re.sub(_PREPOSITION + re.escape(slot) + _COUNTED_SLOT, "", text, count=1)
    if dropped == text:
        dropped = text.replace(slot, "it", 1)
    dropped = _A_VOWEL.sub(r"\1n ", dropped)  # "open a {type} account" less its type is "open an account"
    return " ".join(dropped.split()).rstrip(",")


def clarify_question(tool: Tool, param: str, rng: random.Random) -> str:
    """The assistant's natural question for the one value the request left out."""
    words = param_label(tool, param)
    if is_id(tool, param):
        thing = noun(_entity_of(tool, param) or param)
        return rng.choice((f"Sure. Which {thing} is it? Please give me its ID.",
                           f"Happy to help. What is the {thing} ID?",
                           f"Of course. Which {thing} do you mean? I'll need its ID."))
    schema = tool.spec.parameters.get("properties", {}).get(param, {})
    if schema.get("type") == "integer" and words.endswith("s"):
        return rng.choice((f"Sure. How many {words}?", f"How many {words} should it be?"))
    if "date" in words or param == "date":
        return rng.choice(("Sure. For which date?", "Which date should I use?"))
    if param in ("amount", "quantity"):
        return rng.choice((f"Sure. What {words} should I use?", f"How much should it be?"))
    return rng.choice((f"Sure. What {words} should I use?", f"Which {words} do you want?"))


def clarify_answer(tool: Tool, param: str, value: Any, rng: random.Random) -> str:
    """The user's answer to the clarifying question."""
    text = render_value(value)
    if is_id(tool, param):
        thing = noun(_entity_of(tool, param) or param)
        return rng.choice((f"It's {text}.", f"Sorry, it's {thing} {text}.", f"{text}, thanks."))
    return rng.choice((f"It's {text}.", f"Oh, sorry: {text}.", f"Make it {text}.", f"Use {text}, please."))


# -- whole requests --------------------------------------------------------------------------------------------

OPENERS = ("Please ", "Could you ", "Can you ", "I need you to ", "Hi, please ", "Would you ", "Hey, can you ", "")
CLOSERS = (".", ", thanks.", " please.", " for me.", ". Thank you!")
QUESTION_CLOSERS = ("?", " for me?", ", please?", "? Thanks.")


def sentence(body: str, rng: random.Random) -> str:
    """A request clause as a whole sentence with a varied opener and closer; whole sentences pass through."""
    if body[:1].isupper():
        return body if body.rstrip()[-1:] in ".?!" else body + "."
    opener = OPENERS[rng.randrange(len(OPENERS))]
    body = body if opener else _cap(body)
    question = opener.rstrip().endswith("you")
    closers = QUESTION_CLOSERS if question else CLOSERS
    closers = [c for c in closers if not ("please" in c and "please" in opener.lower())]
    closer = closers[rng.randrange(len(closers))] if opener else "."
    return opener + body.rstrip(".") + closer
