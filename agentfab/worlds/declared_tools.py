"""Tool families generated from a declared domain: get, find, search, list related, count, aggregate, create,
update, delete (the writes in `declared_writes`, what the families share in `declared_family`). Each tool is a
`ToolSpec` built from the declaration plus a closure that runs against the Store.

Arguments reach `run` already checked against the parameters' JSON Schema (`Tool.invoke`), so a closure only
checks what a schema cannot: that keys and references exist, uniqueness, date ranges, and delete restrictions.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from agentfab.schemas.wording import (AFTER_NOUN, UNSAID_UNITS, as_asked, ask_whether, label, singular, unit,
                                      with_article)
from agentfab.worlds.authoring import ask
from agentfab.worlds.core import Record, Store, Tool, ToolError
from agentfab.worlds.declared_family import NAMES, Builder, Family, before_noun, own_words
from agentfab.worlds.declared_schemas import (
    LIMIT, Examples, key_schema, list_schema, object_schema, param_schema, record_schema, result_schema,
)
from agentfab.worlds.declared_spec import DomainDef, EntityDef, FieldDef, relation_label
from agentfab.worlds.declared_writes import writes

_OP_NAME = {"max": "max", "min": "min", "sum": "total", "avg": "average"}
_OP_WORDS = {"max": ("highest", "maximum"), "min": ("lowest", "minimum"), "sum": ("total", "combined"),
             "avg": ("average", "mean")}


def build_tools(d: DomainDef, domain: str, source: str, where: str, examples: Examples) -> tuple[Tool, ...]:
    b = Builder(d, domain, source, where, examples)
    for e in d.entities:
        fam = Family(d, e)
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
        writes(b, fam)
    return tuple(b.tools)


# -- the families ------------------------------------------------------------------------------------------------


def _reads(b: Builder, fam: Family) -> None:
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


def _search(b: Builder, fam: Family, f: FieldDef) -> None:
    e, out, name, table, key = fam.e, fam.out, f.name, fam.e.table, fam.e.key
    words = own_words(e, f)
    param = {**result_schema(f, e, b.d), "x-entity": f"{e.snake}_{name}"}
    if f.choices:
        def matches(value: str) -> Callable[[Record], bool]:
            return lambda r: r[name] == value

        description = f"List the {e.plural_words} with the given {words}"
        # "find all compact cars", "find all members on the plus plan", else "find all tickets with status open"
        second = (f"find all {{{name}}} {e.plural_words}" if before_noun(f) else
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


def _find(b: Builder, fam: Family, f: FieldDef) -> None:
    e, out, name, table = fam.e, fam.out, f.name, fam.e.table
    words = own_words(e, f)
    param = {**result_schema(f, e, b.d), "x-entity": f"{e.snake}_{name}", "minLength": 1}

    def find(store: Store, **kw: Any) -> Record:
        for r in store.where(table, name, kw[name].casefold(), "casefold"):
            return out(r)
        raise ToolError("not_found", f"no {e.words} has {words} {kw[name]!r}")

    b.add(f"find_{e.snake}_by_{name}",
          f"Find the one {e.words} whose {words} is exactly the given value (case-insensitive).",
          {name: param}, [name], record_schema(e, b.d), find,
          (f"find the {e.words} whose {words} is {{{name}}}",  # "look up the trainer named ...", "... with email ..."
           f"look up the {e.words} {NAMES[words]} {{{name}}}" if words in NAMES
           else f"look up the {e.words} with {words} {{{name}}}"),
          (fam.e.key_name,))


def _related(b: Builder, fam: Family, f: FieldDef) -> None:
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


def _aggregate(b: Builder, fam: Family, f: FieldDef, op: str, rel: FieldDef | None) -> None:
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


def _in_unit(f: FieldDef) -> str:
    """The unit a field's words leave out (they say "salary", "rate"), for an aggregate's value to be said with."""
    measured = unit(f.name)
    return f" in {measured}" if measured in UNSAID_UNITS else ""
