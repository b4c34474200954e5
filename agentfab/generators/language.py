"""The offline engine's words for tools and requests: request templates and clarifying questions, realized from a small
grammar per tool class instead of by pasting tool descriptions (replies and failure reports: `replies`).

What other generators call (all pure functions; randomness comes in as `rng`):
- `tool_class(tool)`: lookup | search | list | count | aggregate | create | update | delete | act.
- `phrases_of(tool)`: the request templates of a tool (its own, or the grammar's when it declares none).
- `action_text(tool, arguments)`: what a call does, as a verb phrase with its values ("block card CRD-5003").
- `clarify_template(text, param, tool)`, `clarify_question(tool, param, rng)`, `clarify_answer(tool, param, value,
  rng)`: a request that leaves one value out, the assistant's question, the user's answer.
- `sentence(body, rng)`: a clause as a whole request with a varied opener and closer.
Values are always written by `render_value`, so the answer checks find them as whole tokens.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Any

from agentfab.schemas.answers import render_of_field, render_value
from agentfab.schemas.wording import (AFTER_NOUN, COUNTED_WORDS, HELD, UNITS, agree, as_asked, is_person, join_words,
                                      label, noun, plural, unit_after, yes_no_statement)
from agentfab.worlds.core import Phrase, Tool

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
    return _param_label(param)


@functools.lru_cache(maxsize=4096)
def _param_label(param: str) -> str:
    return label(_CAMEL.sub("_", param).lower())  # (a few hundred parameter names; the regex sub is ~1 us)


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
    parts, slots = _slots(template)
    if not slots:
        return agree(template)
    out = list(parts)
    for i, name, listed in slots:
        value = values.get(name)
        if value is None:
            value = "{" + name + "}"
        elif listed and ", " in value:  # a list item with commas of its own:
            value = f'"{value}"'  # 'company "Baker, Young and Bartlett", industry education and ...'
        out[i] = value
    return agree("".join(out))


@functools.lru_cache(maxsize=16384)
def _slots(template: str) -> tuple[tuple[str, ...], tuple[tuple[int, str, bool], ...]]:
    """The template as text, slot name, text, ..., slot name, text, and its slots as (index in those parts, name,
    whether an item of a list follows: the text after it opens with "," or " and "), once per template."""
    parts = tuple(_SLOT.split(template))
    return parts, tuple((i, parts[i], parts[i + 1].startswith((",", " and "))) for i in range(1, len(parts), 2))


def argument_text(tool: Tool, param: str, value: Any) -> str:
    """An argument's value as a request or a reply writes it: `render_value`, with a thousands separator in a whole
    number from 1,000 that is not a year ("attendance 2,841", "built in 1998")."""
    if type(value) is int and 1000 <= abs(value) < 10_000:  # only then does the description matter
        return render_of_field(value, param, tool.spec.parameters.get("properties", {}).get(param, {})
                               .get("description", ""))
    return render_value(value)


def action_text(tool: Tool, arguments: dict[str, Any]) -> str:
    """What the call does, with its values: the tool's first phrase filled in."""
    phrase = phrases_of(tool)[0].text
    said = {k: argument_text(tool, k, v) for k, v in arguments.items()}
    text = fill(phrase, said)
    missing = [p for p in arguments if "{" + p + "}" not in phrase]
    if missing and tool_class(tool) == "update":
        text += setting(tool, [(p, said[p], arguments[p]) for p in missing])
    elif missing:
        text += " with the " + join_words([f"{param_label(tool, p)} {said[p]}" for p in missing])
    return text


def setting(tool: Tool, changes: list[tuple[str, str, Any]]) -> str:
    """The new values of an update, after its record: ", setting the plan to plus"; a yes/no field is said as what
    becomes true (" to note that it is at an airport"), never "setting the airport to yes"."""
    plain = [f"{as_asked(param_label(tool, p))} to {text}{unit_after(p)}" for p, text, value in changes
             if not isinstance(value, bool)]  # "the number of lines to 4", "the weight to 4.40 kg", "to 16.50 USD"
    flags = [_flag(tool, p, value) for p, _, value in changes if isinstance(value, bool)]
    out = ", setting the " + join_words(plain) if plain else ""
    if flags:
        out += (" and" if plain else "") + " to note that " + join_words(flags)
    return out


def _flag(tool: Tool, param: str, value: bool) -> str:
    """"it is at an airport", "the membership is not active": a yes/no value of the record an update changes."""
    described = tool.spec.parameters.get("properties", {}).get(param, {}).get("description", "")
    ids = [p for p in tool.spec.parameters.get("properties", {}) if is_id(tool, p)]
    thing = noun(_entity_of(tool, ids[0]) or ids[0]) if ids else ""
    record = f"the {thing}" if thing and is_person(thing) else "it"  # "that the professor holds tenure", not "it"
    return yes_no_statement(described, param, thing, record, value).removeprefix("for it, ")


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


_PERSONS = {"you": {"me": "you", "my": "your", "mine": "yours", "myself": "yourself", "i": "you", "i'm": "you're"},
            "they": {"me": "them", "my": "their", "mine": "theirs", "myself": "themselves", "i": "they",
                     "i'm": "they're"},
            # a thought that has not named the user yet: "Nothing offered can email the user a copy of ..."
            "the user": {"me": "the user", "my": "the user's", "mine": "the user's", "myself": "the user",
                         "i": "the user", "i'm": "the user is"}}
_PERSON_WORD = re.compile(r"\b(?:myself|mine|my|me|i'm|i)\b", re.IGNORECASE)
# the same words in an ASCII text lower-cased, found from each "m" and "i" (as `_ME_LOWER`): ~2x faster
_PERSON_LOWER = re.compile(r"(?:m(?<=\bm)(?:yself|ine|y|e)|i(?<=\bi)(?:'m)?)\b")


_LISTED = re.compile(r"^((?:add|create) an? [a-z ]+): (.+)$")  # "add a drug: name Lisinopril, unit price 31.62 USD"


def retold(request: str, person: str = "you") -> str:
    """The user's words said back to them ('email me a copy of my record' -> 'email you a copy of your record') or,
    with person="they", about them in a thought ('... email them a copy of their record'). A record listed after a
    colon is said in brackets, as the colon that follows in a reply would read twice ("I can't add a drug (name
    Lisinopril, unit price 31.62 USD): none of ...")."""
    words = _PERSONS[person]
    listed = _LISTED.match(request)
    if listed:
        request = f"{listed.group(1)} ({listed.group(2)})"
    if not request.isascii():
        # ("İ" and "ı" match "i" case-blind, but are no English pronoun: they stay as written)
        return _PERSON_WORD.sub(lambda m: words.get(m.group(0).lower(), m.group(0)), request)
    out: list[str] = []
    at = 0
    for m in _PERSON_LOWER.finditer(request.lower()):  # (an ASCII text lower-cases letter for letter, in place)
        out += (request[at:m.start()], words[m.group(0)])
        at = m.end()
    return "".join(out) + request[at:] if out else request


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]



# -- clarify ---------------------------------------------------------------------------------------------------

_A_VOWEL = re.compile(r"\b([Aa]) (?=[aeio])")
_COUNTED = r"\s+(?:x\s+)?" + COUNTED_WORDS  # "{nights} nights", "{quantity} x units" (wording's counted words)
_COUNTED_SLOT = r"(?:" + _COUNTED + r"|-[a-z]+)?"
# (or a compound adjective made with it: "a free {duration_minutes}-minute slot" less the value is "a free slot")
# a field's unit after its value in a request: "delay {delay_minutes} minutes", "rate {rate_pct}%"
_UNIT_AFTER = r"(?: (?:" + "|".join(sorted({re.escape(u) for u in UNITS.values() if u != "%"})) + r")\b|%)"
_PREPOSITION = r"(?:\s+(?:with|for|of|on|to|from|in|at|by|reason:?|,)\s*|\s+)"


def clarify_template(text: str, param: str, tool: Tool) -> str:
    """A request template that leaves `param` out the way a person does: "block my card", "restock PRD-1"."""
    return _memo("clarify", tool, f"{param}\n{text}", lambda: _clarify_template(text, param, tool))


def _clarify_template(text: str, param: str, tool: Tool) -> str:
    slot = "{" + param + "}"
    if slot not in text:
        return text
    # the patterns below are made around the slot: one stand-in for every parameter's slot makes most of them the
    # same text for every parameter and phrase, compiled once (re's cache) instead of once per (phrase, parameter)
    return _left_out(text.replace(slot, _SLOT_STAND_IN), param, tool).replace(_SLOT_STAND_IN, slot)


_SLOT_STAND_IN = "{\x00}"  # no template has it, and no pattern below matches its inside (a letter, a space)


def _left_out(text: str, param: str, tool: Tool) -> str:
    slot = _SLOT_STAND_IN
    if slot + " " in text and re.search(r"\b(?:a new|all) " + re.escape(slot) + " ", text):
        return text.replace(slot + " ", "", 1)  # "create a new {kind} activity" -> "create a new activity"
    for words in AFTER_NOUN.values():  # "... on the {plan} plan with ..." -> "... with ..."
        said = words.format(slot)
        if said in text:
            return " ".join(text.replace(said, "", 1).split())
        if said.startswith(" with ") and said[6:] in text:  # an item of a list: "..., subject {s} and {p} priority"
            text = text.replace(said[6:], slot, 1)  # is left out as a bare item is below
    text = re.sub(re.escape(slot) + _UNIT_AFTER, lambda _: slot, text)  # a value left out takes its unit with it
    lasting = None if is_id(tool, param) else re.search(
        r"\s+(?:lasting|for)\s+" + re.escape(slot) + _COUNTED_SLOT + r"(?=[\s.,?!]|$)", text)
    if lasting:  # "... on {day} lasting {minutes} minutes with ..." -> "... on {day} with ..."
        return " ".join((text[: lasting.start()] + text[lasting.end():]).split())
    whose = re.search(r"\s+whose\s+([a-z][a-z ]*?)\s+(?:contains|is)\s+" + re.escape(slot), text)
    if whose:  # "rooms whose property is {id}" -> "rooms of my property"; "... whose name contains {x}" -> "by name"
        if is_id(tool, param):
            said = f" of {_unnamed(noun(_entity_of(tool, param) or param))}"
        else:
            said = f" by {whose.group(1)}"
        return " ".join((text[: whose.start()] + said + text[whose.end():]).split())
    their = re.search(r"\s+with\s+" + re.escape(slot) + r"\s+in\s+their\s+([a-z][a-z ]*[a-z])", text)
    if their:  # "players with {name} in their name" -> "players by name"
        return " ".join((text[: their.start()] + f" by {their.group(1)}" + text[their.end():]).split())
    label = re.search(r"\s+with\s+([a-z][a-z -]*?)\s+" + re.escape(slot) + r"(?=[\s.,?!]|$)", text)  # its label as said
    if label and not is_id(tool, param):  # "the carrier with name {name}" -> "the carrier by name"
        said, rest = f" by {label.group(1)}", text[label.end():]
        if tool_class(tool) == "create":  # "a new customer with email {e} and company {c}" -> "... with company {c}"
            more = re.match(r"\s*(?:,|\s+and)\s+", rest)
            said, rest = (" with ", rest[more.end():]) if more else ("", rest)
        return " ".join((text[: label.start()] + said + rest).split())
    named_as = re.search(r"\s+(?:named|called|titled)\s+" + re.escape(slot), text)
    if named_as and tool_class(tool) == "create":  # "create a new pet named {name} for ..." -> "create a new pet for"
        return " ".join((text[: named_as.start()] + text[named_as.end():]).split())
    if named_as:  # "look up the product named {name}" -> "look up the product by name"
        return " ".join((text[: named_as.start()] + f" by {param_label(tool, param)}" + text[named_as.end():]).split())
    only = re.search(r":\s+" + re.escape(param_label(tool, param)) + r"\s+" + re.escape(slot) + r"(?=[.?!]|$)", text)
    if only:  # "add a carrier: name {name}" -> "add a carrier"
        return " ".join((text[: only.start()] + text[only.end():]).split())
    if is_id(tool, param) and not 0 <= text.find(": ") < text.find(slot):  # in a list after a colon ("add a
        # donation: donor {id}, campaign ...") the item goes, as any other does, not "add a donation: one of our donors"
        thing = noun(_entity_of(tool, param) or param)
        # "the borrower record for {id}" -> "the record of one of our borrowers"
        text = re.sub(r"\bthe " + re.escape(thing) + r" record for " + re.escape(slot), f"the record of {slot}", text)
        role = param_label(tool, param)
        if role.endswith(" " + thing) and role.split(" ", 1)[0] not in _ROLELESS:  # "home team {id}" is not "home
            # one of our teams" but "one of our teams as the home team"
            as_role = re.compile(r"\b(?:the\s+)?" + re.escape(role) + r"\s+" + re.escape(slot), re.IGNORECASE)
            if as_role.search(text):
                return as_role.sub(f"{_unnamed(thing)} as the {role}", text, count=1)
        named = re.compile(r"\b(?:the\s+)?" + re.escape(thing) + r"\s+" + re.escape(slot), re.IGNORECASE)
        if named.search(text):
            return named.sub(_unnamed(thing), text, count=1)
        return text.replace(slot, _unnamed(thing), 1)
    named = r"(?:(?:[a-z][a-z-]*\s+){0,2}(?!(?:for|of|at|to|from|by|on|with)\s)[a-z][a-z-]*\s+" + re.escape(slot)
    named += "|" + re.escape(slot) + _COUNTED + ")"
    last = re.escape(slot) + r"(?=\s*(?:,|\band\b|[.?!]|$))"  # or bare, its unit gone: "day {day} and {minutes}"
    for pattern in (r"(,\s*|\s+and\s+)(?:" + named + "|" + last + ")", named + r"(,\s*|\s+and\s+)"):  # an item,
        found = re.search(pattern, text)  # labelled ("floor {floor}") or counted ("{nights} nights")
        if found:
            listed = text[: found.start()] + text[found.end():]
            if "and" in found.group(1) and ", " in listed:  # "a, b and c" less c is "a and b"
                head, _, last = listed.rpartition(", ")
                listed = f"{head} and {last}"
            return " ".join(listed.split())
    words = param_label(tool, param)
    bare = re.search(r"(?:\b(?:where|when|who|what|which|how|whether)\s+|\s+the\s+" + re.escape(words) + r"\s+)"
                     + re.escape(slot) + r"(?=\s+[a-z]|[.?!]?$)", text)
    if bare:  # the value is the sentence's subject or object: "tell me where {company_name} has ..." -> "tell me
        # where a certain company has ...", "look up who has the email address {email}" -> "... a certain email address"
        said = bare.group(0)[: -len(slot)] if not bare.group(0).lstrip().startswith("the ") else " "
        return " ".join((text[: bare.start()] + said + f"a certain {words}" + text[bare.end():]).split())
    dropped = re.sub(_PREPOSITION + re.escape(slot) + _COUNTED_SLOT, "", text, count=1)
    if dropped == text:
        dropped = text.replace(slot, "it", 1)
    dropped = _A_VOWEL.sub(r"\1n ", dropped)  # "open a {type} account" less its type is "open an account"
    return " ".join(dropped.split()).rstrip(",")


_ROLELESS = frozenset({"for", "of", "at", "to", "from", "by", "on", "with", "in", "the", "a", "an"})


def _unnamed(thing: str) -> str:
    """How a user names the record they leave out: "my card" of what a customer holds, otherwise "one of our
    airports", "one of our borrowers" (a clerk says neither "my airport" nor "my borrower")."""
    return f"my {thing}" if thing.rsplit(" ", 1)[-1] in HELD else f"one of our {plural(thing)}"


def clarify_question(tool: Tool, param: str, rng: random.Random) -> str:
    """The assistant's natural question for the one value the request left out."""
    words = param_label(tool, param)
    if is_id(tool, param):
        thing = noun(_entity_of(tool, param) or param)
        its = "their" if is_person(thing) else "its"  # a renter is a person: "their ID"
        return rng.choice((f"Sure. Which {thing} is it? Please give me {its} ID.",
                           f"Happy to help. What is the {thing} ID?",
                           f"Of course. Which {thing} do you mean? I'll need {its} ID."))
    schema = tool.spec.parameters.get("properties", {}).get(param, {})
    if schema.get("type") == "integer" and words.endswith("s"):
        return rng.choice((f"Sure. How many {words}?", f"How many {words} should it be?"))
    if "year" in words.split():  # "year built": not "What year built should it have?"
        return rng.choice(("Sure. Which year should I put down?", "What year should it be?"))
    if "date" in words or param == "date":
        return rng.choice(("Sure. For which date?", "Which date should I use?"))
    if param in ("amount", "quantity"):
        return rng.choice((f"Sure. What {words} should I use?", f"How much should it be?"))
    if not tool.spec.mutates:  # a find or search by a value: what to look for, not "which name do you want?"
        return rng.choice((f"Sure. What {words} should I look for?", f"What {words} are you looking for?"))
    return rng.choice((f"Sure. What {words} should I use?", f"What {words} should it have?"))


def clarify_answer(tool: Tool, param: str, value: Any, rng: random.Random) -> str:
    """The user's answer to the clarifying question."""
    text = render_value(value)
    if is_id(tool, param):
        thing = noun(_entity_of(tool, param) or param)
        return rng.choice((f"It's {text}.", f"Sorry, it's {thing} {text}.", f"{text}, thanks."))
    if not tool.spec.mutates:
        return rng.choice((f"It's {text}.", f"Oh, sorry: {text}.", _cap(f"{text}, please.")))
    return rng.choice((f"It's {text}.", f"Oh, sorry: {text}.", f"Make it {text}.", f"Use {text}, please."))


# -- whole requests --------------------------------------------------------------------------------------------

OPENERS = ("Please ", "Could you ", "Can you ", "I need you to ", "Hi, please ", "Would you ", "Hey, can you ", "")
CLOSERS = (".", ", thanks.", " please.", " for me.", ". Thank you!")
QUESTION_CLOSERS = ("?", " for me?", ", please?", "? Thanks.")
# a chain's next request as a sentence of its own ("Find the trainer named Sarah Baker. Once you have it, ...")
THEN_SENTENCE = ". Once you have it, "


_ME = re.compile(r"\b(?:me|my|mine)\b", re.IGNORECASE)
# the same words in an ASCII text lower-cased, found from each "m" (a pattern that opens with \b and ignores case
# is tried at every position of the text: ~5x the cost)
_ME_LOWER = re.compile(r"m(?<=\bm)(?:e|y|ine)\b")


def _closers(opener: str, question: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The closers `sentence` draws from after `opener`: (for any body, for a body that says me, my or mine).
    Never "please" twice, never "my claim for me?"."""
    closers = [c for c in (QUESTION_CLOSERS if question else CLOSERS)
               if not ("please" in c and "please" in opener.lower())]
    return tuple(closers), tuple(c for c in closers if "for me" not in c)


_CLOSERS = {(opener, question): _closers(opener, question) for opener in OPENERS for question in (False, True)}


def sentence(body: str, rng: random.Random) -> str:
    """A request clause as a whole sentence with a varied opener and closer; whole sentences pass through."""
    if body[:1].isupper():
        return body if body.rstrip()[-1:] in ".?!" else body + "."
    opener = OPENERS[rng._randbelow(len(OPENERS))]  # the draw of `rng.randrange(len(OPENERS))`
    if not opener:
        return _cap(body).rstrip(".") + "."
    question = opener.rstrip().endswith("you")
    first, then, rest = body.partition(THEN_SENTENCE) if question else (body, "", "")
    if then:  # the question is the first sentence: "Could you find X? Once you have it, count Y.", not "X. ...?"
        body, question = f"{first}? {then[2:]}{rest}", False
    closers, not_mine = _CLOSERS[opener, question]
    if len(not_mine) < len(closers) and (_ME_LOWER.search(body.lower()) if body.isascii() else _ME.search(body)):
        closers = not_mine
    closer = closers[rng._randbelow(len(closers))]
    return opener + body.rstrip(".") + closer
