"""Tool families generated from a declared domain: get, find, search, list related, count, aggregate, create,
update, delete. Each tool is a `ToolSpec` built from the declaration plus a closure that runs against the Store.

Arguments reach `run` already checked against the parameters' JSON Schema (`Tool.invoke`), so a closure only
checks what a schema cannot: that keys and references exist, uniqueness, date ranges, and delete restrictions.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any, Callable, Sequence

from agentfab.schemas.answers import render_value
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.wording import (AFTER_NOUN, UNSAID_UNITS, as_asked, ask_whether, counts, join_words, label,
                                      said_before_noun, singular, unit, unit_after, with_article)
from agentfab.worlds.authoring import ask
from agentfab.worlds.core import Phrase, Record, Store, Tool, ToolError, as_phrases
from agentfab.worlds.declared_schemas import (
    LIMIT, Examples, key_schema, list_schema, object_schema, param_schema, record_schema, result_schema,
)
from agentfab.worlds.declared_spec import DeclaredDomainError, DomainDef, EntityDef, FieldDef, relation_label

_TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_OP_NAME = {"max": "max", "min": "min", "sum": "total", "avg": "average"}
_OP_WORDS = {"max": ("highest", "maximum"), "min": ("lowest", "minimum"), "sum": ("total", "combined"),
             "avg": ("average", "mean")}


class _Family:
    """What the closures of one entity share: its definition, how a record looks in results, who references it."""

    def __init__(self, d: DomainDef, e: EntityDef):
        self.e = e
        self.targets = {f.name: d.entity(f.target) for f in e.fields if f.target}
        self.referrers = [(o, f) for o in d.entities for f in o.fields if f.target == e.name]
        key, key_name = e.key, e.key_name
        if key == key_name:
            self.out: Callable[[Record], Record] = dict
        else:
            def out(rec: Record) -> Record:
                o = {key_name: rec[key], **rec}
                del o[key]
                return o

            self.out = out

    def require(self, store: Store, key: str) -> Record:
        rec = store.get(self.e.table, key)
        if rec is None:
            raise ToolError("not_found", f"{self.e.words} {key} does not exist")
        return rec

    def check_rules(self, store: Store, op: str, rec: Record) -> None:
        """The entity's preconditions for `op` (create, update, delete) on `rec`, as the error a real API gives."""
        for rule in self.e.rules:
            if rule.when != op:
                continue
            if rule.ref is not None:
                target = self.targets[rule.ref]
                subject = store.get(target.table, rec[rule.ref])
                what = f"{target.words} {rec[rule.ref]}"
            else:
                subject, what = rec, f"{self.e.words} {rec[self.e.key]}" if self.e.key in rec else f"the {self.e.words}"
            if subject is None:
                continue  # a missing reference is reported as not_found by check_value
            value = subject[rule.field]
            words = rule.field.replace("_", " ")
            if rule.covers is not None and value < rec[rule.covers]:
                need = rule.covers.replace("_", " ")
                raise ToolError(rule.error, f"{what} has {words} {render_value(value)}, less than the {need} "  # type: ignore[arg-type]
                                            f"{render_value(rec[rule.covers])}")
            if rule.covers is None and value != rule.equals:
                if isinstance(rule.equals, bool):  # "book BK-0002 is not available"
                    state = f"is {'not ' if rule.equals else ''}{words}"
                else:
                    state = f"has {words} {render_value(value)}, not {render_value(rule.equals)}"
                raise ToolError(rule.error, f"{what} {state}")  # type: ignore[arg-type]

    def check_value(self, store: Store, f: FieldDef, value: Any, own_key: str | None) -> Any:
        """The value to store for `f`, or a ToolError for what the JSON Schema cannot see."""
        if f.kind == "ref":
            target = self.targets[f.name]
            if store.get(target.table, value) is None:
                raise ToolError("not_found", f"{target.words} {value} does not exist")
        elif f.kind == "date":
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ToolError("bad_value", f"{f.name} must be a date like 2024-01-31, got {value!r}") from None
            if not f.low <= day <= f.high:
                raise ToolError("bad_value", f"{f.name} must be between {f.low} and {f.high}, got {value}")
        elif f.kind == "number":
            return float(value)
        elif f.unique:
            for rec in store.where(self.e.table, f.name, value.casefold(), "casefold"):
                if rec[self.e.key] != own_key:
                    raise ToolError("invalid_state", f"the {f.words} {rec[f.name]!r} is already used by {self.e.words} "
                                                     f"{rec[self.e.key]}, and no two {self.e.plural_words} may share one")
        return value


# -- one tool ----------------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, d: DomainDef, domain: str, source: str, where: str, examples: Examples):
        self.d, self.domain, self.source, self.where, self.examples = d, domain, source, where, examples
        self.tools: list[Tool] = []

    def add(self, name: str, description: str, params: dict[str, Any], required: list[str], returns: dict[str, Any],
            run: Callable[..., Any], phrases: tuple[str | Phrase, ...], answer: tuple[str, ...] | None, *,
            mutates: bool = False, min_params: int = 0) -> None:
        if not _TOOL_NAME.match(name):
            raise DeclaredDomainError(f"{self.where}: generated tool name {name!r} is over 64 characters; "
                                      "shorten the entity or field names")
        if any(t.name == name for t in self.tools):
            raise DeclaredDomainError(f"{self.where}: two generated tools are named {name!r}; rename a field "
                                      "(e.g. a ref field that repeats another relation's name)")
        parameters: dict[str, Any] = {"type": "object", "properties": params, "required": required,
                                      "additionalProperties": False}
        if min_params:
            parameters["minProperties"] = min_params
        spec = ToolSpec(name=name, description=description, parameters=parameters, returns=returns,
                        domain=self.domain, source=self.source, mutates=mutates)  # type: ignore[arg-type]
        self.tools.append(Tool(spec=spec, run=run, phrases=as_phrases(phrases), answer=answer))


def build_tools(d: DomainDef, domain: str, source: str, where: str, examples: Examples) -> tuple[Tool, ...]:
    b = _Builder(d, domain, source, where, examples)
    for e in d.entities:
        fam = _Family(d, e)
        _reads(b, fam)
        for f in e.fields:
            if f.target:
                _related(b, fam, f)
        for f in e.fields:
            for op in f.aggregates:
                _aggregate(b, fam, f, op, None)
                for rel in e.fields:
                    if rel.target:
                        _aggregate(b, fam, f, op, rel)
        _writes(b, fam)
    return tuple(b.tools)


# -- the families ------------------------------------------------------------------------------------------------


def _reads(b: _Builder, fam: _Family) -> None:
    e, out, k = fam.e, fam.out, fam.e.key_name
    rec = "" if e.words.endswith("record") else " record"

    def get(store: Store, **kw: Any) -> Record:
        return out(fam.require(store, kw[k]))

    b.add(f"get_{e.snake}", f"Get {with_article(e.words)} by its id: {', '.join(f.words for f in e.fields)}.",
          {k: key_schema(e)}, [k], record_schema(e, b.d), get,
          (f"look up the {e.words}{rec} for {{{k}}}", f"show me the {e.words} details on file for {{{k}}}",
           *(ask(_tell(f, e, k), f.name) for f in e.fields[:3]),
           *(ask(f"tell me the {as_asked(label(a.name))} and {as_asked(label(z.name))} of {e.words} {{{k}}}",
                 a.name, z.name)
             for a, z in zip(e.fields[:2], e.fields[2:4]) if "boolean" not in (a.kind, z.kind))), None)
    for f in e.fields:
        if f.searchable:
            _search(b, fam, f)
        if f.searchable and f.unique:
            _find(b, fam, f)


def _tell(f: FieldDef, e: EntityDef, k: str) -> str:
    """A request for one field; a yes/no field is asked as a question ("whether club {id} has a pool")."""
    if f.kind == "boolean":
        return ask_whether(f.description or "", f.name, e.words, f"{e.words} {{{k}}}")
    return f"tell me the {as_asked(label(f.name))} of {e.words} {{{k}}}"  # "the number of hectares of", not "the
    # hectares of"


def _own_words(e: Any, f: FieldDef, words: str | None = None) -> str:
    """A field's words without its entity's: a part's `part_name` is its "name" ("the part whose name is Titanium
    Valve", "a new part with name ...", not "whose part name is")."""
    words, lead = words or f.words, e.words + " "
    return words[len(lead):] if words.startswith(lead) and len(words) > len(lead) else words


def _search(b: _Builder, fam: _Family, f: FieldDef) -> None:
    e, out, name, table, key = fam.e, fam.out, f.name, fam.e.table, fam.e.key
    words = _own_words(e, f)
    param = {**result_schema(f, e, b.d), "x-entity": f"{e.snake}_{name}"}
    if f.choices:
        def matches(value: str) -> Callable[[Record], bool]:
            return lambda r: r[name] == value

        description = f"List the {e.plural_words} with the given {words}"
        # "find all compact cars", "find all members on the plus plan", else "find all tickets with status open"
        second = (f"find all {{{name}}} {e.plural_words}" if _before_noun(f) else
                  f"find all {e.plural_words}" + AFTER_NOUN[name].format(f"{{{name}}}") if name in AFTER_NOUN else
                  f"find all {e.plural_words} with {words} {{{name}}}")
        phrases = (f"list the {e.plural_words} whose {words} is {{{name}}}", second)
    else:
        def matches(value: str) -> Callable[[Record], bool]:
            needle = value.casefold()
            return lambda r: needle in r[name].casefold()

        param["minLength"] = 1
        description = f"Search {e.plural_words} whose {words} contains the given text (case-insensitive)"
        # "with Lisa in their name", but "with holder Colleen Gordon" (not "with Colleen Gordon in their holder")
        second = (f"find the {e.plural_words} with {{{name}}} in their {words}" if words.endswith(_NAMED) else
                  f"find the {e.plural_words} with {words} {{{name}}}")
        phrases = (f"search for {e.plural_words} whose {words} contains {{{name}}}", second)

    def search(store: Store, **kw: Any) -> dict[str, Any]:
        hits = sorted(filter(matches(kw[name]), store.rows(table)), key=lambda r: r[key])
        return {"results": [out(r) for r in hits[:LIMIT]], "count": len(hits)}

    b.add(f"search_{e.plural}_by_{name}", f"{description}: up to {LIMIT}, sorted by id, and the total count.",
          {name: param}, [name], list_schema(e, b.d), search, phrases, ("count",))


_NAMED = ("name", "title", "description", "notes", "address", "email", "summary", "subject", "bio", "tags")


def _find(b: _Builder, fam: _Family, f: FieldDef) -> None:
    e, out, name, table = fam.e, fam.out, f.name, fam.e.table
    words = _own_words(e, f)
    param = {**result_schema(f, e, b.d), "x-entity": f"{e.snake}_{name}", "minLength": 1}

    def find(store: Store, **kw: Any) -> Record:
        for r in store.where(table, name, kw[name].casefold(), "casefold"):
            return out(r)
        raise ToolError("not_found", f"no {e.words} has {words} {kw[name]!r}")

    b.add(f"find_{e.snake}_by_{name}",
          f"Find the one {e.words} whose {words} is exactly the given value (case-insensitive).",
          {name: param}, [name], record_schema(e, b.d), find,
          (f"find the {e.words} whose {words} is {{{name}}}",  # "look up the trainer named ...", "... with email ..."
           f"look up the {e.words} {_NAMES[words]} {{{name}}}" if words in _NAMES
           else f"look up the {e.words} with {words} {{{name}}}"),
          (fam.e.key_name,))


def _related(b: _Builder, fam: _Family, f: FieldDef) -> None:
    e, d, out, name = fam.e, b.d, fam.out, f.name
    target = fam.targets[name]
    label = relation_label(f, target)
    lw = label.replace("_", " ")
    table, key = e.table, e.key
    param = {name: param_schema(f, e, d, {})}

    def related(store: Store, kw: dict[str, Any]) -> Sequence[Record]:
        value = kw[name]
        if store.get(target.table, value) is None:
            raise ToolError("not_found", f"{target.words} {value} does not exist")
        return store.where(table, name, value)

    def list_of(store: Store, **kw: Any) -> dict[str, Any]:
        hits = sorted(related(store, kw), key=lambda r: r[key])
        return {"results": [out(r) for r in hits[:LIMIT]], "count": len(hits)}

    def count_of(store: Store, **kw: Any) -> dict[str, Any]:
        return {"count": len(related(store, kw))}

    b.add(f"list_{e.plural}_of_{label}",
          f"List the {e.plural_words} whose {f.words} is the given {target.words}: up to {LIMIT}, sorted by id, "
          "and the count.",
          param, [name], list_schema(e, d), list_of,
          (f"list the {e.plural_words} {_of_related(lw, target, 'for', name)}",
           f"show all {e.plural_words} linked to {{{name}}}"),
          ("count",))
    b.add(f"count_{e.plural}_of_{label}", f"Count the {e.plural_words} whose {f.words} is the given {target.words}.",
          param, [name],
          {"type": "object", "properties": {"count": {"type": "integer", "description": f"Number of {e.plural_words}"}},
           "required": ["count"], "additionalProperties": False},
          count_of,
          (f"count the {e.plural_words} {_of_related(lw, target, 'for', name)}",
           f"tell me how many {e.plural_words} are linked to {{{name}}}"),
          ("count",))


def _of_related(label_words: str, target: Any, preposition: str, param: str) -> str:
    """The records of a related one, the way a person asks: "for part {part_id}", "of field {field_id}"; a relation
    with a role of its own keeps saying it: "whose home team is {home_team_id}"."""
    if label_words == target.words:
        return f"{preposition} {label_words} {{{param}}}"
    return f"whose {label_words} is {{{param}}}"


def _is_year(f: FieldDef) -> bool:
    """A whole-number field that holds a year: `year`, `built_year`, `founded` ("Year founded")."""
    return f.kind == "integer" and "year" in label(f.name).split(" ")


def _aggregate(b: _Builder, fam: _Family, f: FieldDef, op: str, rel: FieldDef | None) -> None:
    e, d, k = fam.e, b.d, fam.e.key_name
    table, key, name = e.table, e.key, f.name
    word, _ = _OP_WORDS[op]
    said, said2 = _counted_words(f, op)  # the request's words; the description keeps the operation's own
    year = _is_year(f)
    if year and op in ("min", "max"):  # "the latest year built", never "the highest built year"
        word = said = said2 = "latest" if op == "max" else "earliest"
    fw = label(name) if year else f.words  # "year built", not "built year"
    doc = said2 if said2.endswith(" number of") else word  # "the maximum number of days", not "the highest days"
    among = "among" if op in ("min", "max") else "across" if op == "sum" else "of"  # "the total X across the Ys"
    value_schema = {"type": "number" if f.kind == "number" or op == "avg" else "integer",
                    "description": f"The {doc} {fw}" + _in_unit(f)}  # "5.88%", "234,762.00 USD"
    if op in ("min", "max"):
        returns = {"value": value_schema, k: key_schema(e, f"The {e.words} with that {fw} (lowest id on ties)")}
    else:
        returns = {"value": value_schema, "count": {"type": "integer", "description": f"{e.plural_words} counted"}}
    pick = max if op == "max" else min
    digits = f.decimals if f.kind == "number" else 0

    def rows_of(store: Store, kw: dict[str, Any]) -> Sequence[Record]:
        if rel is None:
            return list(store.rows(table))
        value = kw[rel.name]
        target = fam.targets[rel.name]
        if store.get(target.table, value) is None:
            raise ToolError("not_found", f"{target.words} {value} does not exist")
        return store.where(table, rel.name, value)

    def run(store: Store, **kw: Any) -> dict[str, Any]:
        rows = rows_of(store, kw)
        if not rows and op != "sum":
            whose = f" of {fam.targets[rel.name].words} {kw[rel.name]}" if rel else ""
            raise ToolError("not_found", f"there are no {e.plural_words}{whose}")
        if op in ("min", "max"):
            best = pick(r[name] for r in rows)
            return {"value": best, k: min(r[key] for r in rows if r[name] == best)}
        total = math.fsum(r[name] for r in rows)
        if op == "sum":
            # a number field's total is a number like its values ("718,868.00" beside "147,207.00"), even whole
            return {"value": round(total, digits) if f.kind == "number" else int(total), "count": len(rows)}
        return {"value": round(total / len(rows), 2), "count": len(rows)}

    base = f"{_OP_NAME[op]}_{e.snake}_{name}"
    if rel is None:
        b.add(base, f"Get the {doc} {fw} over all {e.plural_words}"
              + (f", and the {e.words} that has it." if op in ("min", "max") else "."),
              {}, [], object_schema(returns), run,
              (f"find the {said} {fw} {among} all {e.plural_words}",
               f"tell me the {said2} {fw} of all {e.plural_words}"),  # not "the mean teacher years of experience"
              ("value",))
        return
    target = fam.targets[rel.name]
    lw = relation_label(rel, target).replace("_", " ")
    b.add(f"{base}_of_{relation_label(rel, target)}",
          f"Get the {doc} {fw} over the {e.plural_words} of the given {target.words}"
          + (f", and the {e.words} that has it." if op in ("min", "max") else "."),
          {rel.name: param_schema(rel, e, d, {})}, [rel.name], object_schema(returns), run,
          (f"find the {said} {fw} {among} the {e.plural_words} {_of_related(lw, target, 'of', rel.name)}",
           f"tell me the {said2} {fw} of the {e.plural_words} for {{{rel.name}}}"),
          ("value",))


def _counted_words(f: FieldDef, op: str) -> tuple[str, str]:
    """The two words a request says an aggregate with: "the most nights among the stays", not "the highest
    nights"; "the maximum number of seats of all aircraft", not "the maximum seats"."""
    word, word2 = _OP_WORDS[op]
    last = f.words.rsplit(" ", 1)[-1]
    if op not in ("max", "min") or " in " in f.words or singular(last) == last or last.endswith(("us", "is")):
        return word, word2  # a measure ("energy use in kWh"), or not a plural noun
    if op == "max":
        return "most", f"{word2} number of"  # "the harvest with the most tonnes", "the maximum number of tonnes"
    return "fewest" if f.kind == "integer" else f"{word2} number of", f"{word2} number of"  # not "the fewest tonnes"


def _rules_text(e: EntityDef, op: str) -> str:
    """The entity's preconditions for `op`, as the sentences a tool description carries."""
    out = []
    for r in e.rules:
        if r.when != op:
            continue
        whose = f"the {r.ref[:-3] if r.ref.endswith('_id') else r.ref}" if r.ref else "it"
        words = r.field.replace("_", " ")
        if r.covers:
            out.append(f" Refused unless {whose}'s {words} covers the {r.covers.replace('_', ' ')}.")
        elif isinstance(r.equals, bool):
            out.append(f" Refused unless {whose} is {'' if r.equals else 'not '}{words}.")
        else:
            out.append(f" Refused unless {whose}'s {words} is {render_value(r.equals)}.")
    return "".join(out)


def _in_unit(f: FieldDef) -> str:
    """The unit a field's words leave out (they say "salary", "rate"), for an aggregate's value to be said with."""
    measured = unit(f.name)
    return f" in {measured}" if measured in UNSAID_UNITS else ""


_NAMES = {"name": "named", "title": "titled"}


def _before_noun(f: FieldDef) -> bool:
    """Is every choice of this field said before its record's noun ("a new suite room", "find all compact cars")?"""
    return bool(f.choices) and all(said_before_noun(f.name, str(c)) for c in f.choices)


def _create_words(fam: _Family, required: list[str], words: dict[str, str], given: dict[str, str]) -> str:
    """What a create request gives after "create a new", the way a person lists it: the kind of thing before its
    noun, its name, the records it belongs to, its day, then the rest ("pet named {name} for owner {owner_id} with
    species {species} and weight {weight_kg} kg", "{room_type} room for property {property_id} with ...", "member
    ... on the {plan} plan"), not "pet with owner {owner_id}, name {name}, species ...". A relation with a role of
    its own ("home team", "assignee") stays in the "with" list."""
    named = next((n for n in required if words[n] in _NAMES and n not in fam.targets), None)
    owners = [n for n in required if n in fam.targets and fam.targets[n].key_name == n]
    when = next((n for n in required if words[n] in ("day", "date") and n not in owners), None)
    # how long it lasts, before the rest: "lasting {minutes} minutes", "for {nights} nights", never "with 35 minutes"
    long = next((n for n in required if words[n] in _LASTS and n not in owners), None)
    fields = {f.name: f for f in fam.e.fields}
    # what kind it is before the noun ("a new suite room"); a plan, a team, a cause in words of its own
    kind = next((n for n in required if _before_noun(fields[n]) and n not in owners), None)
    listed = [n for n in required if n not in (named, when, long, kind) and n not in owners]
    # a plan, a team, a cause in words of its own after the rest; a priority is one more item of the "with" list
    # ("with assignee {assignee_id}, subject {subject} and {priority} priority")
    roles = [n for n in listed if n in AFTER_NOUN and fields[n].choices and not AFTER_NOUN[n].startswith(" with ")]
    rest = [AFTER_NOUN[n].format(f"{{{n}}}").removeprefix(" with ") if n in AFTER_NOUN and fields[n].choices
            else given[n] for n in listed if n not in roles]
    return ((f"{{{kind}}} " if kind else "") + fam.e.words
            + (f" {_NAMES[words[named]]} {{{named}}}" if named else "")
            + (f" for {join_words([given[n] for n in owners])}" if owners else "")
            + (f" on {{{when}}}" if when else "") + (f" {_LASTS[words[long]]} {given[long]}" if long else "")
            + "".join(AFTER_NOUN[n].format(f"{{{n}}}") for n in roles)
            + (f" with {join_words(rest)}" if rest else ""))


_LASTS = {"minutes": "lasting", "hours": "lasting", "nights": "for", "days": "for", "weeks": "for"}


def _writes(b: _Builder, fam: _Family) -> None:
    e, d, out, k = fam.e, b.d, fam.out, fam.e.key_name
    table, key, fields = e.table, e.key, e.fields
    record = record_schema(e, d)
    rec = "" if e.words.endswith("record") else " record"
    params = {f.name: param_schema(f, e, d, b.examples) for f in fields}
    required = [f.name for f in fields if f.kind != "boolean"]
    create_params = {f.name: ({**params[f.name], "default": f.default} if f.kind == "boolean" else params[f.name])
                     for f in fields}

    def create(store: Store, **kw: Any) -> Record:
        n = store.serial(table)
        while store.get(table, e.key_of(n)) is not None:
            n += 1
        new_key = e.key_of(n)
        rec = {key: new_key}
        for f in fields:
            rec[f.name] = fam.check_value(store, f, kw.get(f.name, f.default), None)
        fam.check_rules(store, "create", rec)
        store.put(table, new_key, rec)
        return out(rec)

    words = {f.name: relation_label(f, fam.targets[f.name]).replace("_", " ") if f.target
             else _own_words(e, f, label(f.name)) for f in fields}
    # "delay {delay_minutes} minutes", "{days} days"
    given = {n: f"{{{n}}} {words[n]}" if counts(words[n]) else f"{words[n]} {{{n}}}" + unit_after(n) for n in required}
    colon = ", ".join(given[n] for n in required)
    b.add(f"create_{e.snake}",
          f"Create a new {e.words}; its id is assigned and returned."
          + (" Referenced records must exist." if fam.targets else "")
          + "".join(f" The {f.words} must be unique." for f in fields if f.unique) + _rules_text(e, "create"),
          create_params, required, record, create,
          (f"create a new {_create_words(fam, required, words, given)}", f"add {with_article(e.words)}: {colon}"),
          (k,), mutates=True)

    def update(store: Store, **kw: Any) -> Record:
        own = kw[k]
        rec = fam.require(store, own)
        changes = {f.name: fam.check_value(store, f, kw[f.name], own) for f in fields if f.name in kw}
        if not changes:
            raise ToolError("bad_value", f"give at least one field of the {e.words} to change")
        fam.check_rules(store, "update", rec)
        new = {**rec, **changes}
        store.put(table, own, new)
        return out(new)

    b.add(f"update_{e.snake}",
          f"Change one or more fields of {with_article(e.words)}; fields not given keep their value." + _rules_text(e, "update"),
          {k: key_schema(e), **params}, [k], record, update,
          (f"update the {e.words}{rec} for {{{k}}}", f"change the {e.words} details on file for {{{k}}}"), (k,),
          mutates=True, min_params=2)

    def delete(store: Store, **kw: Any) -> dict[str, Any]:
        own = kw[k]
        fam.check_rules(store, "delete", fam.require(store, own))
        for other, f in fam.referrers:
            users = sorted(r[other.key] for r in store.where(other.table, f.name, own))
            if users:
                # "(CAR-0010, CAR-0019, CAR-0020, CAR-0025, CAR-0035 and 1 more)": a reply passes it on as it reads
                shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
                what = other.words if len(users) == 1 else other.plural_words
                raise ToolError("invalid_state", f"{e.words} {own} still has {len(users)} {what} ({shown}), "
                                                 "which must be deleted or reassigned first")
        store.delete(table, own)
        return {k: own, "deleted": True}

    refs = sorted({o.plural_words for o, _ in fam.referrers})
    b.add(f"delete_{e.snake}",
          f"Delete {with_article(e.words)}."
          + (f" Refused while {' or '.join(refs)} still reference it." if refs else "") + _rules_text(e, "delete"),
          {k: key_schema(e)}, [k],
          object_schema({k: key_schema(e, f"The deleted {e.words}"), "deleted": {"type": "boolean"}}), delete,
          (f"delete the {e.words}{rec} for {{{k}}}", f"remove {e.words} {{{k}}}"), (k,),
          mutates=True)
