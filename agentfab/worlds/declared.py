"""Declared domains: a world described as data, from which executable tool families are generated.

No code written by anyone is run: the YAML names entities, typed fields and value generators from fixed
allow-lists, and agentfab builds the tools (closures over the Store) and the seeded state from it. A recipe points
at a file (`worlds: [{declared: my_domain.yaml}]`) or declares the domain inline (`{declared: {name: ..., ...}}`).

Format::

    name: library                      # lower_snake_case; becomes ToolSpec.domain
    description: A public library ...  # optional
    entities:                          # CamelCase names; tables are the snake plural (Book -> books)
      Author:
        key: id                        # key field of stored records (default id); tools call it author_id
        id_format: "AUT-{n:03d}"       # optional (default "AUT-{n:04d}"); n counts from 1; only {n} is allowed
        count: 40                      # rows seeded (default 20); each world seed keeps 80-100% of them
        plural: authors                # optional; the default adds -s/-es/-ies
        description: A writer.         # optional
        fields:
          name:    {type: string, faker: name, searchable: true, unique: true}
          country: {type: string, choices: [France, Japan, Brazil], searchable: true}
      Book:
        fields:
          author_id: {ref: Author}                       # a key of another entity (no cycles, no self-reference)
          year:      {type: integer, min: 1950, max: 2025, aggregate: [min, max]}
          binding:   {type: string, choices: [paperback, hardcover]}
          price:     {type: number, min: 5, max: 80, decimals: 2}  # aggregate defaults to [min, max, sum, avg]
          pages:     {type: integer, min: 40, max: 1200, by: binding,  # a range per choice of a field before it
                      ranges: {paperback: [40, 600], hardcover: [80, 1200]}}
          available: {type: boolean, p_true: 0.8, default: true}  # default: the value create_book uses
          added_on:  {type: date, min: 2020-01-01, max: 2025-06-30}
        rules:                                           # preconditions of writes (optional)
          - {when: create, ref: author_id, field: active, equals: true, error: unavailable}
          - {when: create, ref: account_id, field: balance, covers: price}   # referenced balance >= the new price
          - {when: delete, field: available, equals: true}  # the record itself; error defaults to invalid_state

Field keys: `type` (string, integer, number, boolean, date) or `ref`; `description` on any field. A string takes
exactly one of `faker` (a provider from `FAKER_PROVIDERS`), `choices`, or `combine` (lists of words: a value is one
word of each, e.g. `[[Alpine, Harbor], [Trail, Summit], [Jacket, Boots]]` -> "Harbor Trail Boots"; a word
written `-zine` is a suffix glued to the word before it: `[[Cetiri, Ibu], [-zine, -profen]]` -> "Cetirizine"), plus
`searchable` and `unique` (faker and combine strings only). Numbers and dates need `min` and `max`: they bound
both the seeded values and what create/update accept. A number may be drawn `by` a choices field declared before
it, with `ranges` giving [low, high] within min..max for each of its choices: a seeded record, and the values
create and update requests give, take the range of the record's choice (a cat weighs 2.5-7 kg, a horse 350-800). Unknown
keys, and keys that do not apply to a field's type, are refused.
A rule runs `when` a create, update or delete happens; it reads the record itself, or with `ref` the record a ref field
points at, and needs that `field` to equal `equals` or to be at least the write's value of `covers` (a number
field of this entity; create only). `error` is one of the business-rule error types (`RULE_ERRORS`); a failed
rule is that error with a message naming the record, the field and its value.

Generated tools, for an entity Book (plural books) with key book_id:
  get_book(book_id)                        the record; ref fields carry `x-entity` of the referenced key
  search_books_by_<f>(<f>)                 per searchable field: substring (case-insensitive) or exact choice;
                                           {"results": up to 10 records sorted by key, "count": total}
  find_book_by_<f>(<f>)                    per searchable unique field: the one record, or not_found
  list_books_of_<rel>(<ref field>)         per ref field (rel = the target, or the field without _id)
  count_books_of_<rel>(<ref field>)        {"count": n}
  max|min|total|average_book_<f>()         per numeric field and aggregate; min/max also return the key
  max|..._book_<f>_of_<rel>(<ref field>)   the same over one related record's books
  create_book(...)                         all fields required except booleans; refs must exist; unique kept
  update_book(book_id, <fields>)           at least one field
  delete_book(book_id)                     invalid_state while another record references it

Seeding draws with a Random seeded per world (Faker providers through a per-process pool of 2,000 values made from
a fixed seed): the same seed gives the same state, and refs always point at seeded keys. Entity pools: every key (`book_id`), every searchable field (`book_title`), every choices field.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from agentfab.worlds import plausible
from agentfab.schemas.yaml_input import YamlInputError, load_yaml
from agentfab.worlds.core import Domain, EntityPool, Tables, canonical_json
from agentfab.worlds.declared_parse import parse_domain
from agentfab.worlds.declared_spec import FAKER_PROVIDERS, DeclaredDomainError, DomainDef, FieldDef
from agentfab.worlds.declared_tools import Examples, build_tools
from agentfab.worlds.seeded_faker import last_name, plain_name, seeded_faker, spelled

__all__ = ["DeclaredDomainError", "FAKER_PROVIDERS", "declared_domain_from_dict", "load_declared_domain"]

EXAMPLE_SEED = 1_000_003  # examples for free-text parameters come from a Faker stream no world is seeded with
EXAMPLES = 5  # per free-text parameter, in its schema's `examples`
POOL_SEED = 1_000_037
_UNIQUE_ATTEMPTS = 200
_BUILT: dict[str, Domain] = {}


def load_declared_domain(path: Path, source: str = "declared") -> Domain:
    """Read a domain YAML file and generate its tools; a mistake in it raises `DeclaredDomainError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeclaredDomainError(f"{path}: cannot read the domain file ({exc.strerror or exc})") from None
    try:
        raw = load_yaml(text, str(path))  # anchors and aliases bounded before anything is built from them
    except YamlInputError as exc:
        raise DeclaredDomainError(str(exc)) from None
    return _build(raw, source, str(path))


def declared_domain_from_dict(spec: dict[str, Any], source: str = "declared", where: str = "<recipe>") -> Domain:
    """A domain declared inline (a recipe's `{declared: {...}}`); `where` starts every error message."""
    cache_key = canonical_json([spec, source, where])
    if cache_key not in _BUILT:
        _BUILT[cache_key] = _build(spec, source, where)
    return _BUILT[cache_key]


def _build(raw: Any, source: str, where: str) -> Domain:
    d = parse_domain(raw, where)
    seed_state = _seeder(d, where)
    sample = seed_state(0)  # fails now, not mid-build, when unique values run out
    tools = build_tools(d, d.name, source, where, _examples(d, sample))
    return Domain(name=d.name, description=d.description, tools=tools, seed_state=seed_state, entities=_pools(d),
                  near_misses=_near_misses(d))


def _near_misses(d: DomainDef) -> tuple[str, ...]:
    """What no generated tool family does: mail, print, export or undo (tools only read, write and aggregate)."""
    out: list[str] = []
    for e in d.entities:
        key = "{" + e.key_name + "}"
        record = e.words if e.words.endswith(" record") else f"{e.words} record"  # never "service record record"
        out += [f"email me a copy of the {record} {key}", f"print a label for {e.words} {key}",
                f"undo the last change made to {e.words} {key}", f"export all {e.plural_words} to a spreadsheet"]
    return tuple(out)


def _pools(d: DomainDef) -> dict[str, EntityPool]:
    pools: dict[str, EntityPool] = {}
    for e in d.entities:
        pools[e.key_name] = EntityPool(e.table)
        for f in e.fields:
            if f.searchable:
                pools[f"{e.snake}_{f.name}"] = EntityPool(e.table, f.name)
            elif f.choices:
                pools[f"{e.snake}_{f.name}"] = EntityPool(values=f.choices)
    return pools


# -- seeding -----------------------------------------------------------------------------------------------------

FAKER_POOL = 2_000  # values per provider, drawn once per process from a fixed seed
_LEADING_ZEROS = re.compile(r"\b0+(?=\d)")
_POOLS: dict[str, tuple[Any, ...]] = {}


def faker_pool(provider: str) -> tuple[Any, ...]:
    """Values of one Faker provider, made once per process: a seeded world draws from them with its own Random.

    Calling Faker per value costs tens of microseconds; a build with hundreds of declared domains seeds thousands
    of records per world variant, so the draws are what must be cheap. The pool is the same on every machine."""
    if provider not in _POOLS:
        if provider == "tail_number":  # agentfab's own, pooled as a Faker provider is
            make = functools.partial(plausible.tail_number, random.Random(POOL_SEED))
        else:
            fake = seeded_faker(POOL_SEED)
            make = getattr(fake, provider)  # from the allow-list checked in declared_parse, never any attribute
            if provider in ("name", "last_name"):
                make = functools.partial(plain_name if provider == "name" else last_name, fake)
        values = (make() for _ in range(FAKER_POOL))
        if provider == "license_plate":  # some of Faker's US plates carry a bullet ("10B•030"): a hyphen is typed
            values = (v.replace("\u2022", "-") for v in values)
        elif provider == "street_address":  # "056 Lopez Creek", "Suite 009": no such number starts with a zero
            values = (_LEADING_ZEROS.sub("", v) for v in values)
        _POOLS[provider] = tuple(spelled(v) for v in values) if provider == "company" else tuple(values)
    return _POOLS[provider]


Keys = dict[str, list[str]]  # table -> its seeded keys, for drawing references
Draw = Callable[[random.Random, Keys], Any]


def _drawer(f: FieldDef, table_of: dict[str, str]) -> Draw:
    """How one field's seeded values are drawn, with the world's seeded Random (never the global one)."""
    if f.kind == "ref":
        target = table_of[f.target or ""]
        return lambda rng, keys: keys[target][rng.randrange(len(keys[target]))]
    if f.faker == "city":
        return lambda rng, keys: plausible.city(rng)
    if f.faker == "book_title":
        return lambda rng, keys: plausible.book_title(rng)
    if f.faker:
        pool = faker_pool(f.faker)
        return lambda rng, keys: pool[rng.randrange(len(pool))]
    if f.choices:
        choices = f.choices
        return lambda rng, keys: choices[rng.randrange(len(choices))]
    if f.combine:
        parts = f.combine
        # a word written "-zine" is a suffix: glued to the word before it ("Cetiri" + "-zine" is "Cetirizine")
        return lambda rng, keys: " ".join(p[rng.randrange(len(p))] for p in parts).replace(" -", "")
    if f.kind == "integer":
        low, high = f.low, f.high
        return lambda rng, keys: rng.randint(low, high)
    if f.kind == "number":
        low, high, digits = float(f.low), float(f.high), f.decimals
        return lambda rng, keys: round(rng.uniform(low, high), digits)
    if f.kind == "boolean":
        p = f.p_true
        return lambda rng, keys: rng.random() < p
    start, span = f.low, (f.high - f.low).days
    return lambda rng, keys: (start + timedelta(days=rng.randint(0, span))).isoformat()


def _seeder(d: DomainDef, where: str) -> Callable[[int], Tables]:
    table_of = {e.name: e.table for e in d.entities}
    plan = [(e, [(f, _drawer(f, table_of)) for f in e.fields], {f.name for f in e.fields}) for e in d.entities]
    by_choice = {(e.name, f.name): {c: _drawer(replace(f, low=low, high=high), table_of) for c, low, high in f.ranges}
                 for e in d.entities for f in e.fields if f.by}  # a weight drawn in the range of the pet's species

    def seed_state(seed: int) -> Tables:
        rng = random.Random(seed)
        tables: Tables = {}
        keys: Keys = {}
        for e, drawers, names in plan:
            rows: dict[str, dict[str, Any]] = {}
            tables[e.table] = rows
            seen: dict[str, set[str]] = {f.name: set() for f, _ in drawers if f.unique}
            count = e.count - rng.randrange(e.count // 5 + 1)  # the seed varies row counts (up to -20%)
            for n in range(1, count + 1):
                key = e.key_of(n)
                rec: dict[str, Any] = {e.key: key}
                for f, draw in drawers:
                    value = (by_choice[e.name, f.name][rec[f.by]] if f.by else draw)(rng, keys)
                    if f.unique and not (f.faker in _OF_NAME and "name" in names):
                        value = _fresh(value, draw, rng, keys, seen[f.name], f"{where}: entities.{e.name}"
                                       f".fields.{f.name}: {f'faker {f.faker!r}' if f.faker else 'combine'} ran out of unique values after "
                                       f"{len(seen[f.name])} of {e.count} rows; lower count or drop unique")
                    rec[f.name] = value
                for f, _ in drawers:  # a person's username and email are made from their own name, drawn after it
                    if f.faker in _OF_NAME and isinstance(rec.get("name"), str):
                        made = _OF_NAME[f.faker](rec["name"], rec[f.name])
                        value = made(rng, keys)
                        rec[f.name] = _fresh(value, lambda rng, keys: _numbered(made(rng, keys), rng),
                                             rng, keys, seen[f.name], f"{where}: entities.{e.name}.fields.{f.name}: "
                                             f"ran out of unique {f.faker} values; drop unique") if f.unique else value
                rows[key] = rec
            keys[e.table] = list(rows)
        return tables

    return seed_state


def _numbered(handle: str, rng: random.Random) -> str:
    """A handle made unique the way people do: "ewright7", "ewright7@example.org"."""
    user, at, domain = handle.partition("@")
    return f"{user}{rng.randrange(2, 100)}{at}{domain}"


_OF_NAME: dict[str, Callable[[str, str], Draw]] = {  # faker -> (name, drawn value) -> a value made from the name
    "user_name": lambda name, drawn: lambda rng, keys: _username_of(name, rng),
    "email": lambda name, drawn: lambda rng, keys: f"{_username_of(name, rng)}@{drawn.partition('@')[2]}",
}


def made_from_name(kind: str, name: str, drawn: str, rng: random.Random) -> str:
    """A person's `kind` ("email" or "user_name") made from their name, as seeding makes it: a create request that
    gives "name Mary Hill" gives "mhill@example.org", not a handle drawn apart ("robert37@example.org")."""
    return _OF_NAME[kind](name, drawn)(rng, {})


def _username_of(name: str, rng: random.Random) -> str:
    """A username made from the person's own name: "Elizabeth Wright" -> "ewright", "elizabeth.wright" or
    "wrighte" (never another person's name, which a reader would take for a mistake)."""
    words = "".join(c for c in name.lower() if c.isalpha() or c == " ").split()
    first, last = (words[0], words[-1]) if len(words) > 1 else ((words or ["user"])[0], "")
    return rng.choice((first[:1] + last, f"{first}.{last}".rstrip("."), last + first[:1]))


def _fresh(value: Any, draw: Draw, rng: random.Random, keys: Keys, seen: set[str], problem: str) -> Any:
    for _ in range(_UNIQUE_ATTEMPTS):
        if value.casefold() not in seen:
            seen.add(value.casefold())
            return value
        value = draw(rng, keys)
    raise DeclaredDomainError(problem)


def _examples(d: DomainDef, sample: Tables) -> Examples:
    """EXAMPLES values for each free-text or date parameter, which requests draw from; for a unique field none is in
    the seed-0 world, so a create with them does not collide. Each field has its own stream: a stream shared by
    every domain gave each domain's city the same three ("Columbus", "Kansas City", "Nashville": a third of the
    cities a quickstart build wrote were Kansas City)."""
    table_of = {e.name: e.table for e in d.entities}
    out: Examples = {}
    for e in d.entities:
        for f in e.fields:
            if not (f.faker or f.combine or f.kind == "date"):
                continue
            rng = random.Random(f"{EXAMPLE_SEED}:{d.name}:{e.name}:{f.name}")
            draw = _drawer(f, table_of)
            taken = {r[f.name].casefold() for r in sample[e.table].values()} if f.unique else set()
            values: list[Any] = []
            for _ in range(50):
                v = draw(rng, {})
                if v.casefold() not in taken and v not in values:
                    values.append(v)
                if len(values) == EXAMPLES:
                    break
            out[(e.name, f.name)] = values
    return out
