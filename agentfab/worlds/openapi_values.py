"""Values for an OpenAPI-inferred world, drawn from the document's own JSON Schemas with a seeded Faker.

Bounded by construction: nesting deeper than `MAX_VALUE_DEPTH` or arrays longer than `MAX_ITEMS` are never
generated, and a string with a `pattern` only ever takes the document's own examples, enum or default values that
match it (no regex is run on generated text, so a hostile pattern cannot make generation slow).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from faker import Faker

MAX_VALUE_DEPTH = 4
MAX_ITEMS = 3
MAX_PATTERN = 200
_DAY0 = date(2020, 1, 1)

# field-name words -> a Faker provider (checked in this order; the first word found in the name wins)
_BY_NAME = (
    ("email", "email"), ("phone", "phone_number"), ("city", "city"), ("country", "country"),
    ("street", "street_address"), ("address", "street_address"), ("zip", "postcode"), ("postcode", "postcode"),
    ("company", "company"), ("url", "url"), ("website", "url"), ("username", "user_name"),
    ("first", "first_name"), ("last", "last_name"), ("title", "catch_phrase"), ("description", "sentence"),
    ("note", "sentence"), ("comment", "sentence"), ("summary", "sentence"), ("name", "name"), ("color", "color_name"),
    ("currency", "currency_code"), ("language", "language_name"), ("job", "job"), ("tag", "word"),
)


class Unsupported(ValueError):
    """A schema agentfab cannot draw valid values for; the message says which part."""


def _words(name: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z][a-z]*|[0-9]+", name)]


def _documented(schema: dict[str, Any]) -> list[Any]:
    values = list(schema.get("examples") or []) if isinstance(schema.get("examples"), list) else []
    for key in ("example", "default"):
        if key in schema:
            values.append(schema[key])
    return values


def _options(schema: dict[str, Any]) -> dict[str, Any]:
    """anyOf/oneOf: the first option that is not null; a type list: its first non-null type."""
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            options = [s for s in schema[key] if isinstance(s, dict) and s.get("type") != "null"]
            if not options:
                raise Unsupported(f"{key} with only null options")
            return {**{k: v for k, v in schema.items() if k != key}, **options[0]}
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict):
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                merged = {**merged, **part, "properties": props}
                merged["required"] = sorted({*schema.get("required", []), *part.get("required", []),
                                             *merged.get("required", [])})
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if not kinds:
            raise Unsupported("a type that is only null")
        return {**schema, "type": kinds[0]}
    return schema


def json_type(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    schema = _options(schema)
    kind = schema.get("type")
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "enum" in schema and schema["enum"]:
        return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(type(schema["enum"][0]))
    return kind if isinstance(kind, str) else None


def draw(schema: Any, name: str, fake: Faker, depth: int = 0) -> Any:
    """One value valid under `schema` (for the JSON Schema keywords OpenAPI documents use), or `Unsupported`."""
    if depth > MAX_VALUE_DEPTH:
        raise Unsupported(f"{name}: nested more than {MAX_VALUE_DEPTH} levels")
    if not isinstance(schema, dict) or schema in ({},):
        raise Unsupported(f"{name}: no type")
    schema = _options(schema)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        choices = [v for v in schema["enum"] if v is not None]
        if not choices:
            raise Unsupported(f"{name}: an enum of only null")
        return choices[fake.random.randrange(len(choices))]
    kind = json_type(schema)
    documented = _documented(schema)
    if kind == "string":
        return _string(schema, name, fake, documented)
    if kind in ("integer", "number"):
        return _number(schema, name, kind, fake)
    if kind == "boolean":
        return fake.random.random() < 0.5
    if kind == "array":
        items = schema.get("items")
        low = int(schema.get("minItems", 0))
        high = min(int(schema.get("maxItems", MAX_ITEMS)), MAX_ITEMS)
        if low > high:
            raise Unsupported(f"{name}: needs at least {low} items")
        out: list[Any] = []
        for _ in range(fake.random.randint(max(low, min(1, high)), high)):
            value = draw(items if isinstance(items, dict) else {}, name, fake, depth + 1)
            if not (schema.get("uniqueItems") and value in out):
                out.append(value)
        if len(out) < low:
            raise Unsupported(f"{name}: cannot draw {low} distinct items")
        return out
    if kind == "object":
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = set(schema.get("required") or [])
        out_obj = {}
        for prop, sub in props.items():
            if prop in required or fake.random.random() < 0.7:
                out_obj[prop] = draw(sub, prop, fake, depth + 1)
        if required - set(props):
            raise Unsupported(f"{name}: requires {sorted(required - set(props))[0]!r}, which it does not describe")
        return out_obj
    if documented:
        return documented[fake.random.randrange(len(documented))]
    raise Unsupported(f"{name}: type {schema.get('type')!r}")


def _string(schema: dict[str, Any], name: str, fake: Faker, documented: list[Any]) -> str:
    texts = [v for v in documented if isinstance(v, str)]
    pattern = schema.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
            raise Unsupported(f"{name}: a pattern over {MAX_PATTERN} characters")
        try:
            compiled = re.compile(pattern)
        except re.error:
            raise Unsupported(f"{name}: pattern {pattern!r} is not a valid regular expression") from None
        texts = [t for t in texts if len(t) <= 100 and compiled.search(t)]
        if not texts:
            raise Unsupported(f"{name}: a pattern ({pattern}) with no example that matches it")
        return texts[fake.random.randrange(len(texts))]
    fmt = schema.get("format")
    if fmt == "date":
        value = (_DAY0 + timedelta(days=fake.random.randrange(2200))).isoformat()
    elif fmt == "date-time":
        moment = datetime(2020, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=15 * fake.random.randrange(200_000))
        value = moment.isoformat().replace("+00:00", "Z")
    elif fmt == "uuid":
        value = str(uuid.UUID(int=fake.random.getrandbits(128), version=4))
    elif fmt == "email":
        value = fake.email()
    elif fmt in ("uri", "url"):
        value = f"https://example.com/{fake.word()}/{fake.random.randrange(1000)}"
    elif texts and fake.random.random() < (0.7 if {"name", "title"} & set(_words(name)) else 0.3):
        value = texts[fake.random.randrange(len(texts))]
    else:
        words = _words(name)
        provider = next((p for word, p in _BY_NAME if word in words), "word")
        value = str(getattr(fake, provider)())
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    if high is not None and len(value) > int(high):
        value = value[: int(high)].rstrip() or value[: int(high)]
    if len(value) < low:
        value = (value + " " + "x" * low)[: max(low, len(value))] if high is None or low <= int(high) else value
    if len(value) < low or (high is not None and len(value) > int(high)):
        raise Unsupported(f"{name}: length bounds {low}..{high}")
    return value


def _number(schema: dict[str, Any], name: str, kind: str, fake: Faker) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), (int, float)) and not isinstance(schema["exclusiveMinimum"], bool):
        low = schema["exclusiveMinimum"] + (1 if kind == "integer" else 0.01)
    if isinstance(schema.get("exclusiveMaximum"), (int, float)) and not isinstance(schema["exclusiveMaximum"], bool):
        high = schema["exclusiveMaximum"] - (1 if kind == "integer" else 0.01)
    low = 0 if low is None else low
    high = (low + (100 if kind == "integer" else 500)) if high is None else high
    if low > high:
        raise Unsupported(f"{name}: minimum above maximum")
    step = schema.get("multipleOf")
    if kind == "integer":
        value: int | float = fake.random.randint(int(-(-low // 1)), int(high // 1))
        if isinstance(step, int) and step > 0:
            value = max(int(-(-low // step)) * step, min(int(high // step) * step, value - value % step))
        return value
    value = round(fake.random.uniform(float(low), float(high)), 2)
    return min(max(value, float(low)), float(high))
