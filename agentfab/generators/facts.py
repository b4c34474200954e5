"""One step's facts as a reply states them: what a tool's fields and parameters are called, values with their units,
and clauses with agreement ("the number of songs is 263", "2 people were notified").

Everything that depends only on a tool (its class, topic, which parameters name a record, what each result field is
called) is worked out once per tool (`words`); everything that depends on one call's values is worked out once per
reply part (`Said.stated`), however many shapes of sentence a reply then tries. `replies` builds the sentences.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from agentfab.generators.language import _entity_of, is_id, param_label, tool_class, topic
from agentfab.schemas.answers import flatten, mentioned, render_of_field, render_value
from agentfab.schemas.wording import agree, join_words, label, noun, plural, singular, unit
from agentfab.worlds.core import Memo, Tool

MONEY = frozenset({"balance", "amount", "from_balance", "total", "price", "total_price", "cheapest_price",
                   "refund_amount", "price_per_night"})

# a record's own free text: a reply quotes it when it is several words
QUOTED = frozenset({"subject", "title", "label", "headline", "summary", "note", "notes", "comment", "message"})


class ToolWords:
    """What a tool's name, parameters and result fields are called, computed once per tool (`words(tool)`)."""

    __slots__ = ("tool", "mutates", "cls", "topic", "results_noun", "results_key", "results_plural", "_ids",
                 "_labels", "_described", "_firsts", "_asked")

    def __init__(self, tool: Tool):
        self.tool = tool
        self.mutates = tool.spec.mutates  # (read for every part a reply or thought says)
        self.cls = tool_class(tool)
        self.topic = topic(tool)
        self.results_noun = _noun_of_results(self.topic)
        self.results_key = self.results_noun.replace(" ", "_") + "_id"
        self.results_plural = plural(self.results_noun)
        self._ids: dict[str, str | None] = {}  # parameter -> the noun of the record it names, None for a value
        self._labels: dict[str, str] = {}
        self._firsts: dict[tuple[str, ...], str | None] = {}  # parameter names of a call -> its first id parameter
        self._asked: dict[tuple[str, ...], tuple[tuple[tuple[str, str, bool, bool], ...], tuple[str, ...]]] = {}
        props = tool.spec.returns.get("properties", {})
        self._described = {f: p.get("description", "") for f, p in props.items() if isinstance(p, dict)} \
            if isinstance(props, dict) else {}

    def id_noun(self, param: str) -> str | None:
        """"account" for a parameter that names an account (`from_account`, `account_id`); None for a value."""
        try:
            return self._ids[param]
        except KeyError:
            found = self._ids[param] = noun(_entity_of(self.tool, param) or param) if is_id(self.tool, param) \
                else None
            return found

    def first_id(self, arguments: dict[str, Any]) -> str | None:
        """The first parameter of the call that names a record."""
        names = tuple(arguments)
        try:
            return self._firsts[names]
        except KeyError:
            found = self._firsts[names] = next((p for p in names if self.id_noun(p) is not None), None)
            return found

    def asked(self, asks: tuple[str, ...]) -> tuple[tuple[tuple[str, str, bool, bool], ...], tuple[str, ...]]:
        """For the fields a request asks: (field, label, a sum of money, plain) each, and the money fields among
        them. A plain field's text value is said as it is (no sum, no currency, no quoted words)."""
        try:
            return self._asked[asks]
        except KeyError:
            found = self._asked[asks] = (
                tuple((f, self.label(f), f in MONEY, f not in MONEY and f != "currency" and f not in QUOTED)
                      for f in asks),
                tuple(f for f in asks if f in MONEY))
            return found

    def described(self, field: str) -> str:
        """The schema description of a result field ("" when none)."""
        return self._described.get(field, "")

    def label(self, field: str) -> str:
        """What a result field is called in a reply; generic names ("value") take their schema description."""
        try:
            return self._labels[field]
        except KeyError:
            found = self._labels[field] = self._label(field)
            return found

    def _label(self, field: str) -> str:
        if field in ("value", "result"):
            described = self.described(field)
            if described:
                text = described[:1].lower() + described[1:]
                return text[4:] if text.startswith("the ") else text
            return self.topic
        if field == "count":
            return "number of " + self.results_plural
        return label(field)


_WORDS: dict[int, ToolWords] = {}


def words(tool: Tool) -> ToolWords:
    """The tool's `ToolWords` (kept per tool object: tools live as long as the process that loaded them)."""
    found = _WORDS.get(id(tool))
    if found is None or found.tool is not tool:
        if len(_WORDS) >= 65_536:
            _WORDS.clear()
        found = _WORDS[id(tool)] = ToolWords(tool)
    return found


def _noun_of_results(what_text: str) -> str:
    what = what_text.split(" ")
    last = what[-1]
    if last.endswith("ies"):
        single = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "xes", "sses", "zes")):  # "matches" is "match", not "matche"
        single = last[:-2]
    else:
        single = last[:-1] if last.endswith("s") and not last.endswith("ss") else last
    return " ".join([*what[:-1], single])


def noun_of_results(tool: Tool) -> str:
    """The singular noun of what a list, search or count returns: `count_loans_of_member` -> "loan"."""
    return words(tool).results_noun


def fact_label(tool: Tool, field: str) -> str:
    """What a result field is called in a reply; generic names ("value") take their schema description."""
    return words(tool).label(field)


@functools.lru_cache(maxsize=4096)
def _measure(field: str) -> str | None:
    """The unit a number of this field is written with: "°C", "%", "km"... (None: none)."""
    return "°C" if field.endswith("_c") else unit(field)


def value_text(field: str, value: Any, result: dict[str, Any], described: str = "") -> str:
    """A value as a reply writes it, with its unit: "30°C", "1204.50 USD", "ACC-1001 and ACC-1041", "3,836 minutes"
    (`described`: the field's schema description, which says whether a whole number is a year)."""
    if isinstance(value, list):
        return join_words([render_value(v) for v in value]) if value else "none"
    text = render_of_field(value, field, described)
    if isinstance(value, (int, float)):
        measure = _measure(field)
        if measure:
            return f"{text}{measure}" if measure in ("°C", "%") else f"{text} {measure}"
    if field in MONEY and isinstance(result.get("currency"), str):
        return f"{text} {result['currency']}"
    return text


class Said:
    """One step's share of a reply: the call, what it returned, and the result fields the request asked for; with
    the tool's words, the facts a clause states, worked out once as the part is made (every part is said), and
    (on first use) the record it is about.

    - `stated`: (field, label, text, value, text flattened, clause) of each asked fact a clause states: the yes/no
      facts are sentences of their own, and "1204.50 USD" already says the currency;
    - `flags`: the asked fields whose value is a yes/no, in the order asked (`replies` states them as sentences);
    - `clauses`: field -> its clause, of the facts in `stated`;
    - `spoken`: every asked field of the result has a clause in `clauses` (no yes/no, no currency beside its sum),
      so a thought's facts are those clauses, in the order asked.

    Everything a Said works out is a pure function of those four."""

    __slots__ = ("tool", "arguments", "result", "asks", "named", "stated", "flags", "clauses", "spoken", "_about",
                 "_flat_about")

    def __init__(self, tool: Tool, arguments: dict[str, Any], result: Any, asks: tuple[str, ...]):
        self.tool = tool
        self.arguments = arguments
        self.result = result
        self.asks = asks
        self.named = words(tool)
        self._about: str | None = None
        self._flat_about: str | None = None
        self._facts()

    def __repr__(self) -> str:
        return f"Said({self.tool.spec.name}, {self.arguments!r}, {self.result!r}, {self.asks!r})"

    @property
    def about(self) -> str:
        """`subject` of the call: "account ACC-1001"."""
        if self._about is None:
            self._about = _subject(self.named, self.arguments)
        return self._about

    def flat(self, said: str) -> str:
        """`flatten(said)`, kept for the subject (said against again and again)."""
        if said is not self._about:
            return flatten(said)
        if self._flat_about is None:
            self._flat_about = flatten(said)
        return self._flat_about

    def _facts(self) -> None:
        out: list[Stated] = []
        flags: list[str] = []
        clauses: dict[str, str] = {}
        self.stated, self.flags, self.clauses, self.spoken = (), flags, clauses, True
        result = self.result
        if not result or not isinstance(result, dict):
            return
        plan, money_fields = self.named.asked(self.asks)
        money = not result.keys().isdisjoint(money_fields) if money_fields else False  # (no generator's frame)
        for field, lab, is_money, plain in plan:
            if field in result:
                value = result[field]
                if plain and type(value) is str:  # the common case: no unit, no currency, no enum code, no quotes
                    text = value if "_" not in value else render_value(value)  # as render_value writes it
                    clause = f"the {lab} is {text}"  # as fact_clause says it
                elif field == "currency" and money:  # "1204.50 USD" says it
                    self.spoken = False
                    continue
                elif type(value) is str and not is_money:
                    text = value if "_" not in value else render_value(value)
                    if field in QUOTED and " " in text:  # 'the subject is "invoice question"'; found unquoted
                        out.append((field, lab, f'"{text}"', value, _FLAT[text], f'the {lab} is "{text}"'))
                        clauses[field] = out[-1][5]
                        continue
                    clause = f"the {lab} is {text}"  # as fact_clause says it
                elif isinstance(value, bool):
                    flags.append(field)
                    continue
                else:
                    text = value_text(field, value, result, self.named.described(field))
                    clause = fact_clause(lab, text, value)
                out.append((field, lab, text, value, _FLAT[text], clause))
                clauses[field] = clause
        self.stated = tuple(out)


Stated = tuple[str, str, str, Any, str, str]  # (field, label, text, value, text flattened, clause)
Fact = tuple[str, str, Any, str]  # (label, text, value, clause)
_FLAT = Memo(flatten)  # the same values (ids, names, statuses) come back in reply after reply


def facts(part: Said, skip: tuple[str, ...] = (), said: str = "") -> list[Fact]:
    """(label, text, value, clause) of the asked facts, leaving out those of the fields `skip` and those `said`
    already states (the subject's id), and the yes/no facts (`replies` states those as sentences)."""
    stated = part.stated
    if not stated:
        return []
    flat = (flatten(said) if said is not part._about else part.flat(said)) if said else ""
    out = []
    for field, lab, text, value, flat_text, clause in stated:
        # `mentioned` only where the text could be there (a zero may be said as "no ...")
        if field not in skip and not (flat and (flat_text in flat or flat_text == "0") and mentioned(flat, flat_text)):
            out.append((lab, text, value, clause))
    return out


def states_all(part: Said, text: str) -> bool:
    """True when `text` surely states every fact of `part.stated` (then `facts(part, said=text)` is empty, and need
    not be searched for): each fact's text is in it after a space and before a space, ',', ':', '. ' or its final
    '.', or in parentheses ("... (EV-3043) on ..."). That is a whole token of the flattened text where the fact's
    text flattens to itself lower-cased (ASCII, no white space at its ends or twice): `mentioned` finds it.
    Anything else answers False, and is searched."""
    if not text.isascii():
        return False
    for _, _, written, _, flat, _ in part.stated:
        if not flat or len(flat) != len(written):
            return False
        if f" {written} " not in text and f" {written}," not in text and f" {written}:" not in text \
                and not text.endswith(f" {written}.") and f" {written}. " not in text and f"({written})" not in text:
            return False
    return True


_AGGREGATES = ("average", "total", "highest", "lowest", "maximum", "minimum", "combined", "mean")
_SPANS = ("years", "months", "weeks", "days", "hours", "minutes")  # "years of experience" is plural
# a count of what a write did: "number of people notified", "number of units put back in stock"
_DONE_TO = re.compile(r"number of (\w+) ((?:\w+ed|put|sent|made|paid)\b.*)")
_IN_UNIT = re.compile(r"(.+) in (km|kg|mg|kWh|USD|EUR|%|minutes|hours|days|nights|hectares|liters|tonnes)")


@functools.lru_cache(maxsize=16_384)
def _label_shape(lab: str) -> tuple[tuple[str, str] | None, tuple[str, str] | None, bool, bool, str, str, bool]:
    """What `fact_clause` reads off a label, once per label: (what a write did to how many, (what, unit) of a
    measure named with its unit, aggregate, plural, first word, the rest, a span of time "of" something)."""
    done = _DONE_TO.fullmatch(lab)
    measured = _IN_UNIT.fullmatch(lab)
    words_ = lab.split(" ")
    aggregate = words_[0] in _AGGREGATES
    head = words_[1] if aggregate and len(words_) > 1 else words_[0]
    is_plural = any(w.endswith("s") and not w.endswith(("ss", "us", "is")) for w in (lab, head)) or head in _SPANS
    span_of = head in _SPANS and " of " in lab
    return (done.groups() if done else None), ((measured[1], measured[2]) if measured else None), \
        aggregate and len(words_) > 1, is_plural, words_[0], " ".join(words_[1:]), span_of


def _is_bare(text: str, value: Any) -> bool:
    """Is `text` the value as `value_text` writes it without a unit ("3,836" or "1976" for a whole number)?"""
    return text == render_value(value) or text == render_value(value, True)


def fact_clause(lab: str, text: str, value: Any) -> str:
    """One stated fact as a clause with agreement: "the number of songs is 263", "the total minutes are 4"."""
    if type(value) is str:  # the common case: no count, no measure
        return f"the {lab} is {text}"
    if isinstance(value, bool):
        return f"{lab}: {text}"
    if isinstance(value, list):
        return f"the {lab} {'is' if len(value) == 1 else 'are'} {text}"
    done, measured, aggregate, is_plural, first, rest, span_of = _label_shape(lab)
    if done is not None and isinstance(value, int):
        # "2 people were notified", "1 person was notified", "no units were put back in stock"
        things, what = done
        return f"no {things} were {what}" if value == 0 else agree(f"{text} {things} {'was' if value == 1 else 'were'} {what}")
    if value == 0 and lab.startswith("number of "):
        return f"there are no {lab[10:]}"  # "the number of events is 0" is not how a person says it
    if measured and isinstance(value, (int, float)) and _is_bare(text, value):
        # "the average odometer is 188795.33 km", not "the average odometer in km is 188795.33"
        return f"the {measured[0]} is {text}{'' if measured[1] == '%' else ' '}{measured[1]}"
    if is_plural and isinstance(value, (int, float)):
        if rest.startswith("number of "):
            return f"the {lab} is {text}"  # "the maximum number of days is 30"
        if aggregate and _is_bare(text, value):
            return f"the {first} is {text} {rest}"  # "the total is 67 minutes"
        if first in _AGGREGATES:
            return f"the {lab} are {text}"
        if lab in ("minutes", "hours") and _is_bare(text, value):
            return f"it takes {text} {singular(lab) if value == 1 else lab}"  # an appointment's minutes
        if (isinstance(value, float) or span_of) and _is_bare(text, value):
            return f"it has {text} {lab}"  # "it has 1309.79 hectares", not "the number of hectares is 1309.79"
        if not lab.startswith("number"):
            return f"the number of {lab} is {text}"  # "the hectares is 117.75" is not English
    return f"the {lab} is {text}"


def subject(tool: Tool, arguments: dict[str, Any]) -> str:
    """The record a call is about: "account ACC-1001", or the values it was asked with ("Paris on 2025-06-01")."""
    return _subject(words(tool), arguments)


def _subject(named: ToolWords, arguments: dict[str, Any]) -> str:
    p = named.first_id(arguments)
    if p is not None:
        value = arguments[p]
        said = value if type(value) is str and '_' not in value else render_value(value)
        thing, role = named.id_noun(p), param_label(named.tool, p)
        if len(arguments) == 1 and thing is not None and not thing.endswith(role) and not role.startswith(
                ("from ", "to ")):
            # a record in one of its roles: the matches of "the home team TM-0009" (not all of team TM-0009's),
            # the flights of "the origin APT-006" (not every flight of airport APT-006); but "loan officer LO-004"
            # for an officer, "service area SA-01" for an area
            return f"the {role} {said}"
        return f"{thing} {said}"
    if len(arguments) == 1:  # "the username pattonvanessa", "the status delayed"
        (param, value), = arguments.items()
        return f"the {param_label(named.tool, param)} {render_value(value)}"
    return " ".join([render_value(v) if i == 0 and preposition(p) != "from" else f"{preposition(p)} {render_value(v)}"
                     for i, (p, v) in enumerate(arguments.items())])  # a route says its "from": "from ORD to BOS"


def for_about(about: str) -> str:
    """What a reply is for: "for account ACC-1", "for Paris on 2025-06-01", but a route as it is ("from ORD to BOS
    on 2026-12-19"), never "for ORD to BOS"."""
    return about if about.startswith("from ") else f"for {about}"


def preposition(param: str) -> str:
    if param in ("origin", "source") or param.startswith("from_"):
        return "from"
    if param in ("destination", "target") or param.startswith("to_"):
        return "to"
    if param == "date" or param.endswith(("_on", "_date")):
        return "on"
    return "for"
