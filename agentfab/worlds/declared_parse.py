"""The declared-domain format, parsed: the YAML through its pydantic models (`declared_spec`), then the checks
pydantic cannot express (names, references, value ranges, rules, a seeding order). Every user mistake becomes one
`DeclaredDomainError` line per problem; `parse_domain` returns the frozen `DomainDef` the tool generator reads.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import replace
from datetime import date
from typing import Any

from pydantic import ValidationError

from agentfab.schemas.wording import with_article
from agentfab.worlds.core import ERROR_KINDS
from agentfab.worlds.core import RULE_ERRORS as _RULE_KINDS
from agentfab.worlds.declared_spec import (
    AGGREGATES, FAKER_PROVIDERS, FIELD_TYPES, DeclaredDomainError, DomainDef, DomainSpec, EntityDef, EntitySpec,
    FieldDef, FieldSpec, RuleDef, RuleSpec, pluralize, snake_case,
)

_ENTITY_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


# -- parsing -----------------------------------------------------------------------------------------------------


_MODEL_AT_DEPTH = {0: DomainSpec, 2: EntitySpec, 4: FieldSpec}  # () / entities.X / entities.X.fields.Y


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_lines(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            model = _MODEL_AT_DEPTH.get(len(loc) - 1)
            allowed = f" (allowed: {', '.join(sorted(model.model_fields))})" if model else ""
            where = _path(loc[:-1]) or "top level"
            lines.append(f"{where}: unknown key {loc[-1]!r}{allowed}")
        elif loc and loc[-1] == "[key]":
            hint = " (YAML reads unquoted yes/no/on/off as booleans: quote it or pick another name)" \
                if isinstance(err["input"], bool) else ""
            lines.append(f"{_path(loc[:-2]) or 'top level'}: names must be strings, got {err['input']!r}{hint}")
        elif err["type"] == "missing":
            lines.append(f"{_path(loc[:-1]) or 'top level'}: missing required key {loc[-1]!r}")
        else:
            msg = re.sub(r" or instance of \w+", "", err["msg"].removeprefix("Input should be "))
            msg = ("should be " + msg) if err["msg"].startswith("Input should be") else msg
            lines.append(f"{_path(loc) or 'top level'}: {msg}, got {err['input']!r}")
    return lines


def parse_domain(raw: Any, where: str) -> DomainDef:
    """Validate a declared domain (already read from YAML) and resolve it; raise one line per problem."""
    if not isinstance(raw, dict):
        raise DeclaredDomainError(
            f"{where}: a declared domain is a mapping with name, description and entities, got {type(raw).__name__}"
        )
    try:
        spec = DomainSpec.model_validate(raw)
    except ValidationError as exc:
        raise DeclaredDomainError("\n".join(f"{where}: {line}" for line in _pydantic_lines(exc))) from None
    problems: list[str] = []
    domain = _resolve(spec, problems)
    if problems:
        raise DeclaredDomainError("\n".join(f"{where}: {p}" for p in problems))
    assert domain is not None
    return domain


def _resolve(spec: DomainSpec, problems: list[str]) -> DomainDef | None:
    if not _SNAKE.match(spec.name):
        problems.append(f"name: must be lower_snake_case (letters, digits, _), got {spec.name!r}")
    if not spec.entities:
        problems.append("entities: declare at least one entity")
    known = sorted(spec.entities)
    entities: dict[str, EntityDef] = {}
    for ename, espec in spec.entities.items():
        entity = _entity(ename, espec, known, problems)
        if entity is not None:
            entities[ename] = entity
    order = _seeding_order(entities, problems)
    if not problems:
        for ename, espec in spec.entities.items():
            rules = tuple(_rule(f"entities.{ename}.rules[{i}]", r, entities[ename], entities, problems)
                          for i, r in enumerate(espec.rules))
            entities[ename] = replace(entities[ename], rules=rules)
    if problems:
        return None
    description = spec.description or f"A declared domain with {', '.join(known)}."
    return DomainDef(spec.name, " ".join(description.split()), tuple(entities[n] for n in order))


def _id_format(path: str, fmt: str, problems: list[str]) -> str | None:
    """The key pattern for an `id_format` like "BK-{n:04d}", or None (with a problem) when it is not usable."""
    try:
        parts = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        problems.append(f"{path}: {exc} in {fmt!r}; write the row number as {{n}} or {{n:04d}}")
        return None
    fields = [(name, spec) for _, name, spec, _ in parts if name is not None]
    if [name for name, _ in fields] != ["n"] or not re.fullmatch(r"0?\d*d?", fields[0][1] or ""):
        problems.append(f"{path}: must contain {{n}} exactly once (optionally {{n:04d}}), got {fmt!r}")
        return None
    return "^" + "".join(_escape(lit) + (r"\d+" if name else "") for lit, name, _, _ in parts) + "$"


def _escape(literal: str) -> str:
    """Escape regex metacharacters only: `re.escape` also escapes `-`, which ECMA regexes (JSON Schema) reject
    in unicode mode."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", literal)


def _entity(ename: str, espec: EntitySpec, known: list[str], problems: list[str]) -> EntityDef | None:
    at = f"entities.{ename}"
    before = len(problems)
    if not _ENTITY_NAME.match(ename):
        problems.append(f"{at}: entity names are CamelCase (e.g. Book, LoanRecord), got {ename!r}")
    snake = snake_case(ename)
    plural = espec.plural or pluralize(snake)
    if not _SNAKE.match(plural):
        problems.append(f"{at}.plural: must be lower_snake_case, got {plural!r}")
    if not _SNAKE.match(espec.key):
        problems.append(f"{at}.key: must be lower_snake_case, got {espec.key!r}")
    key_name = espec.key if espec.key.startswith(snake + "_") else f"{snake}_{espec.key}"
    id_format = espec.id_format or f"{snake[:3].upper()}-{{n:04d}}"
    pattern = _id_format(f"{at}.id_format", id_format, problems)
    if not espec.fields:
        problems.append(f"{at}.fields: declare at least one field")
    fields = []
    for fname, fspec in espec.fields.items():
        fpath = f"{at}.fields.{fname}"
        if not _SNAKE.match(fname):
            problems.append(f"{fpath}: field names are lower_snake_case, got {fname!r}")
        elif fname in (espec.key, key_name):
            problems.append(f"{fpath}: {fname!r} is the entity's key; rename the field or the key")
        f = _field(fname, fspec, fpath, ename, known, problems, espec.count)
        if f is not None:
            fields.append(f)
    _check_by(fields, at, problems)
    if len(problems) > before:
        return None
    return EntityDef(
        name=ename, snake=snake, plural=plural, key=espec.key, key_name=key_name, id_format=id_format,
        key_pattern=pattern or "", count=espec.count,
        description=" ".join((espec.description or f"A {snake.replace('_', ' ')}.").split()), fields=tuple(fields),
    )


_ALLOWED_BY_KIND = {
    "ref": {"ref", "description"},
    "string": {"type", "description", "faker", "choices", "combine", "searchable", "unique"},
    "integer": {"type", "description", "min", "max", "aggregate", "by", "ranges"},
    "number": {"type", "description", "min", "max", "decimals", "aggregate", "by", "ranges"},
    "boolean": {"type", "description", "p_true", "default"},
    "date": {"type", "description", "min", "max"},
}


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _field(name: str, spec: FieldSpec, at: str, owner: str, known: list[str], problems: list[str],
           owner_count: int = 0) -> FieldDef | None:
    before = len(problems)
    if (spec.type is None) == (spec.ref is None):
        problems.append(f"{at}: give exactly one of `type` ({', '.join(FIELD_TYPES)}) or `ref` (an entity name)")
        return None
    kind = spec.type or "ref"
    for key in sorted(spec.model_fields_set - _ALLOWED_BY_KIND[kind]):
        problems.append(f"{at}.{key}: does not apply to {with_article(kind)} field (it takes: "
                        f"{', '.join(sorted(_ALLOWED_BY_KIND[kind]))}); remove it")
    if len(problems) > before:
        return None
    description = " ".join((spec.description or "").split())
    if kind == "ref":
        if spec.ref not in known:
            problems.append(f"{at}.ref: unknown entity {spec.ref!r} (known: {', '.join(known)})")
        elif spec.ref == owner:
            problems.append(f"{at}.ref: an entity cannot reference itself ({owner!r})")
        return FieldDef(name, "ref", description, target=spec.ref)
    if kind == "string":
        if sum(source is not None for source in (spec.faker, spec.choices, spec.combine)) != 1:
            problems.append(f"{at}: a string field needs exactly one value source: `faker` (a provider name), "
                            f"`choices` (a list) or `combine` (lists of words)")
            return None
        if spec.combine is not None:
            parts = spec.combine
            if not parts or any(not p or len(set(p)) != len(p) for p in parts):
                problems.append(f"{at}.combine: give lists of distinct words, e.g. [[Blue, Red], [Harbor, Ridge]]")
            elif spec.unique and math.prod(len(p) for p in parts) < owner_count + 3:  # 3 spare for create examples
                problems.append(f"{at}.combine: {math.prod(len(p) for p in parts)} combinations are too few for "
                                f"{owner_count} unique values; add words or lower count")
        if spec.faker is not None and spec.faker not in FAKER_PROVIDERS:
            problems.append(f"{at}.faker: unknown faker provider {spec.faker!r} "
                            f"(allowed: {', '.join(sorted(FAKER_PROVIDERS))})")
        if spec.choices is not None:
            if not spec.choices or len(set(spec.choices)) != len(spec.choices):
                problems.append(f"{at}.choices: give a non-empty list of distinct values, got {spec.choices!r}")
            if spec.unique:
                problems.append(f"{at}.unique: a field drawn from choices cannot be unique; use `faker`")
        return FieldDef(name, "string", description, faker=spec.faker, choices=tuple(spec.choices or ()),
                        combine=tuple(tuple(p) for p in spec.combine or ()), searchable=spec.searchable,
                        unique=spec.unique)
    if kind == "boolean":
        return FieldDef(name, "boolean", description, p_true=0.5 if spec.p_true is None else spec.p_true,
                        default=bool(spec.default))
    if spec.min is None or spec.max is None:
        example = "{min: 2020-01-01, max: 2025-12-31}" if kind == "date" else "{min: 0, max: 100}"
        problems.append(f"{at}: {with_article(kind)} field needs both `min` and `max`, e.g. {example}")
        return None
    if kind == "date":
        low, high = _as_date(spec.min), _as_date(spec.max)
        for key, raw, value in (("min", spec.min, low), ("max", spec.max, high)):
            if value is None:
                problems.append(f"{at}.{key}: must be an ISO date like 2024-01-31, got {raw!r}")
    else:
        low, high = spec.min, spec.max
        for key, value in (("min", low), ("max", high)):
            if not _is_number(value, kind):
                problems.append(f"{at}.{key}: must be {'an integer' if kind == 'integer' else 'a number'}, "
                                f"got {value!r}")
    if len(problems) == before and low > high:
        problems.append(f"{at}: min ({spec.min}) is above max ({spec.max})")
    aggregates = tuple(a for a in AGGREGATES if a in (spec.aggregate if spec.aggregate is not None else AGGREGATES))
    ranges = _ranges(spec, at, kind, problems) if len(problems) == before else ()
    return FieldDef(name, kind, description, low=low, high=high,
                    decimals=2 if spec.decimals is None else spec.decimals,
                    aggregates=aggregates if kind != "date" else (), by=spec.by, ranges=ranges)


def _is_number(value: Any, kind: str) -> bool:
    """A value of an integer or number field (a bool is neither, though Python counts it an int)."""
    return not isinstance(value, bool) and isinstance(value, int if kind == "integer" else (int, float))


def _ranges(spec: FieldSpec, at: str, kind: str, problems: list[str]) -> tuple[tuple[str, Any, Any], ...]:
    """`ranges` as (choice, low, high), each within the field's min..max; whether the choices are those of `by` is
    checked with the entity's other fields (`_check_by`)."""
    if (spec.by is None) != (spec.ranges is None):
        problems.append(f"{at}: `by` and `ranges` go together, e.g. by: species, ranges: {{cat: [2, 7], dog: [4, 45]}}")
        return ()
    out = []
    for choice, pair in (spec.ranges or {}).items():
        if (len(pair) != 2 or not all(_is_number(v, kind) for v in pair)
                or not spec.min <= pair[0] <= pair[1] <= spec.max):
            problems.append(f"{at}.ranges.{choice}: give [low, high] with {spec.min} <= low <= high <= {spec.max}, "
                            f"got {pair!r}")
        else:
            out.append((choice, pair[0], pair[1]))
    return tuple(out)


def _check_by(fields: list[FieldDef], at: str, problems: list[str]) -> None:
    """A field drawn `by` another names a choices field declared before it and gives a range for each choice."""
    before: dict[str, FieldDef] = {}
    for f in fields:
        if f.by is not None:
            by = before.get(f.by)
            where = f"{at}.fields.{f.name}"
            if by is None or not by.choices:
                options = [g.name for g in before.values() if g.choices]
                problems.append(f"{where}.by: {f.by!r} is not a choices field declared before {f.name} "
                                f"(choices fields before it: {', '.join(options) or 'none'}); declare it first")
            elif (given := {c for c, _, _ in f.ranges}) != set(by.choices):
                missing = [c for c in by.choices if c not in given]
                extra = [c for c, _, _ in f.ranges if c not in by.choices]
                problems.append(f"{where}.ranges: give one range per choice of {f.by}"
                                + (f"; missing: {', '.join(missing)}" if missing else "")
                                + (f"; not a choice of {f.by}: {', '.join(extra)}" if extra else ""))
        before[f.name] = f


RULE_ERRORS = tuple(k for k in ERROR_KINDS if k in _RULE_KINDS)  # error types a precondition may report


def _rule(at: str, spec: RuleSpec, e: EntityDef, entities: dict[str, EntityDef], problems: list[str]) -> RuleDef:
    """Resolve one precondition; every problem names the rule's key and what would be valid."""
    fields = {f.name: f for f in e.fields}
    subject = e
    if spec.ref is not None:
        ref = fields.get(spec.ref)
        if ref is None or ref.kind != "ref":
            refs = [f.name for f in e.fields if f.kind == "ref"]
            problems.append(f"{at}.ref: {spec.ref!r} is not a ref field of {e.name} "
                            f"(ref fields: {', '.join(refs) or 'none'})")
            return RuleDef(spec.when, spec.field, spec.ref, spec.equals, spec.covers, "invalid_state")
        subject = entities[ref.target or ""]
    target = {f.name: f for f in subject.fields}.get(spec.field)
    if target is None:
        problems.append(f"{at}.field: {subject.name} has no field {spec.field!r} "
                        f"(fields: {', '.join(f.name for f in subject.fields)})")
    elif (spec.equals is None) == (spec.covers is None):
        problems.append(f"{at}: give exactly one of `equals` (a value {spec.field} must have) or `covers` "
                        f"(a number field of {e.name} that {spec.field} must be at least)")
    elif spec.equals is not None and not _fits(target, spec.equals):
        allowed = f" (one of: {', '.join(target.choices)})" if target.choices else ""
        problems.append(f"{at}.equals: {spec.equals!r} is not a possible {target.kind} value of "
                        f"{subject.name}.{spec.field}{allowed}")
    elif spec.covers is not None:
        amount = fields.get(spec.covers)
        if target.kind not in ("integer", "number"):
            problems.append(f"{at}.field: covers compares numbers, but {subject.name}.{spec.field} is {target.kind}")
        elif amount is None or amount.kind not in ("integer", "number"):
            numbers = [f.name for f in e.fields if f.kind in ("integer", "number")]
            problems.append(f"{at}.covers: {spec.covers!r} is not a number field of {e.name} "
                            f"(number fields: {', '.join(numbers) or 'none'})")
        elif spec.when != "create":
            problems.append(f"{at}.covers: only a create gives the amount to cover; use when: create")
    default = "insufficient_funds" if spec.covers is not None else "invalid_state"
    error = spec.error or default
    if error not in RULE_ERRORS:
        problems.append(f"{at}.error: unknown error type {error!r} (allowed: {', '.join(RULE_ERRORS)})")
    return RuleDef(spec.when, spec.field, spec.ref, spec.equals, spec.covers, error)


def _fits(f: FieldDef, value: Any) -> bool:
    if f.kind == "boolean":
        return isinstance(value, bool)
    if f.kind == "string":
        return isinstance(value, str) and (not f.choices or value in f.choices)
    if f.kind in ("integer", "number"):
        return _is_number(value, f.kind)
    return isinstance(value, str)


def _seeding_order(entities: dict[str, EntityDef], problems: list[str]) -> list[str]:
    """Entities in an order where every referenced entity is seeded first; a reference cycle is a problem."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done" or name not in entities:
            return
        if state.get(name) == "open":
            cycle = trail[trail.index(name):] + [name]
            problems.append(f"entities: references form a cycle ({' -> '.join(cycle)}); "
                            "break it, e.g. by dropping one ref")
            return
        state[name] = "open"
        for f in entities[name].fields:
            if f.target:
                visit(f.target, [*trail, name])
        state[name] = "done"
        order.append(name)

    for name in entities:
        visit(name, [])
    return order
