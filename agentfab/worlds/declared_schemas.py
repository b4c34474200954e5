"""The JSON Schemas of a declared domain's tools: a record's key, its fields as results and as parameters, a record,
a page of records. Built from the declaration (worlds/declared_spec.py) for the tools of worlds/declared_tools.py."""

from __future__ import annotations

from typing import Any

from agentfab.worlds.declared_spec import DomainDef, EntityDef, FieldDef, relation_label

LIMIT = 10  # records per search or list result; `count` is always the total
_JSON_TYPE = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "date": "string",
              "ref": "string"}

MADE_FROM_NAME = ("email", "user_name")  # faker providers a person's record makes from their name (declared.py)
Examples = dict[tuple[str, str], list[Any]]  # (entity, field) -> free-text example values


def key_schema(e: EntityDef, description: str | None = None) -> dict[str, Any]:
    return {"type": "string", "description": description or f"The {e.words} id, e.g. {e.key_of(1)}",
            "x-entity": e.key_name, "pattern": e.key_pattern}


def field_description(f: FieldDef, e: EntityDef, d: DomainDef) -> str:
    if f.description:
        return f.description
    if f.kind == "ref":
        return f"The {relation_label(f, d.entity(f.target)).replace('_', ' ')} of the {e.words} ({f.target} id)"
    return f"The {e.words}'s {f.words}"


def result_schema(f: FieldDef, e: EntityDef, d: DomainDef) -> dict[str, Any]:
    s: dict[str, Any] = {"type": _JSON_TYPE[f.kind], "description": field_description(f, e, d)}
    if f.kind == "ref":
        s["x-entity"] = d.entity(f.target).key_name
    elif f.kind == "date":
        s["format"] = "date"
    elif f.choices:
        s["enum"] = list(f.choices)
    return s


def param_schema(f: FieldDef, e: EntityDef, d: DomainDef, examples: Examples) -> dict[str, Any]:
    if f.kind == "ref":
        target = d.entity(f.target)
        return key_schema(target, field_description(f, e, d) + f", e.g. {target.key_of(1)}")
    s = result_schema(f, e, d)
    if f.kind in ("integer", "number"):
        s["minimum"], s["maximum"] = f.low, f.high
        if f.by:  # agentfab's own keyword (exports drop x- keys): a create draws a weight in the range of the species
            # it gives, an update of a pet (`of` its key) in the range of the pet's stored species
            s["x-range-by"] = {"field": f.by, "of": e.key_name, "ranges": {c: [low, high] for c, low, high in f.ranges}}
    elif f.kind == "date":
        s["pattern"] = r"^\d{4}-\d{2}-\d{2}$"
        s["description"] += f", between {f.low} and {f.high}"
    if f.kind == "string" and not f.choices:
        s["minLength"] = 1
    if (e.name, f.name) in examples:
        s["examples"] = list(examples[(e.name, f.name)])
    if f.faker in MADE_FROM_NAME and any(g.name == "name" and g.kind == "string" for g in e.fields):
        s["x-made-from"] = {"field": "name", "as": f.faker}  # a create's email is made from the name it gives
    return s


def record_schema(e: EntityDef, d: DomainDef) -> dict[str, Any]:
    props = {e.key_name: key_schema(e), **{f.name: result_schema(f, e, d) for f in e.fields}}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def list_schema(e: EntityDef, d: DomainDef) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": record_schema(e, d),
                        "description": f"Up to {LIMIT} {e.plural_words}, sorted by {e.key_name}"},
            "count": {"type": "integer", "description": f"How many {e.plural_words} match in total"},
        },
        "required": ["results", "count"],
        "additionalProperties": False,
    }


def object_schema(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
