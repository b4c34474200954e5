"""An OpenAPI 3 document made executable: its resources inferred as entities, its operations as tools.

Input is plain data the flows layer reads with the bounded tool importer: one `Operation` per path and method, with
the imported `ToolSpec` (the document's own operation name, description and parameter schema). Inference:

- a resource is the last literal segment of a path: `/pets` and `/pets/{petId}` are the resource `pets`, entity
  Pet, keyed by the record field named like the path parameter (`petId`) or `id`; `/owners/{ownerId}/pets` lists
  the pets whose `ownerId` (or `owner_id`) is the owner's key.
- its record schema is the object returned by GET one (else by POST, else the items of GET list, else the POST
  body); fields with an id-shaped name (`ownerId`, `owner_id`) that name another resource are references.
- families: GET collection = list (query parameters that name a field filter it; `limit`/`offset`/`page` and
  `q`/`search` are understood), POST collection = create, GET item = get, PUT/PATCH item = update, DELETE item =
  delete (refused while other records reference it).

An operation that fits none of this is left out and listed with the reason (`Skipped`), never faked. State is seeded
from the record schemas (types, formats, enums, examples, min/max) with Faker and the world's seed; every seeded
record is checked against its own schema when the domain is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agentfab.schemas.tools import ToolSpec
from agentfab.worlds.core import Domain, EntityPool, Tables, canonical_json
from agentfab.worlds.declared_spec import snake_case
from agentfab.worlds.openapi_values import Unsupported, draw, json_type
from agentfab.worlds.seeded_faker import seeded_faker

MAX_OPERATIONS = 2_000
ROWS = 30  # seeded records per resource
_PARAM = re.compile(r"^\{([^{}/]+)\}$")
_ID_FIELD = re.compile(r"^(.+?)(?:_id|Id|ID)$")
PAGING = {"limit": "limit", "page_size": "limit", "pagesize": "limit", "per_page": "limit", "perpage": "limit",
          "size": "limit", "max": "limit", "offset": "offset", "skip": "offset", "page": "page"}
SEARCH = ("q", "query", "search")


class OpenAPIWorldError(ValueError):
    """A document no executable world can be inferred from; the message says why."""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: ToolSpec
    query: tuple[str, ...] = ()  # query parameter names
    body: tuple[str, ...] = ()  # request-body property names merged into the parameters

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path} ({self.spec.name})"


@dataclass(frozen=True)
class Skipped:
    operation: str
    reason: str


@dataclass
class Resource:
    name: str  # "pets"
    entity: str  # "Pet"
    snake: str  # "pet"
    ops: list[tuple[str, Operation, str | None, str | None]] = field(default_factory=list)  # family, op, key, parent
    record: dict[str, Any] | None = None  # the record's JSON Schema (an object)
    key: str = ""  # the record field that is its key
    key_kind: str = "string"
    refs: dict[str, str] = field(default_factory=dict)  # record field -> referenced resource name

    @property
    def entity_key(self) -> str:
        return f"{self.snake}_id"


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(ss|x|ch|sh)es$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _resource_name(segment: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", snake_case(segment).lower()).strip("_")


def _shape(path: str) -> tuple[str, str | None, str | None] | None:
    """(resource, item key parameter or None, parent key parameter or None) for a resource path, else None."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    key = None
    if _PARAM.match(parts[-1]):
        key = _PARAM.match(parts[-1]).group(1)  # type: ignore[union-attr]
        parts = parts[:-1]
    if not parts or _PARAM.match(parts[-1]):
        return None
    parent = None
    if len(parts) >= 2 and _PARAM.match(parts[-2]):
        parent = _PARAM.match(parts[-2]).group(1)  # type: ignore[union-attr]
        if key is not None:
            return None  # /owners/{ownerId}/pets/{petId}: the pet is reached by its own key; one way only
    elif len(parts) >= 2 and any(_PARAM.match(p) for p in parts[:-1]):
        return None
    name = _resource_name(parts[-1])
    return (name, key, parent) if name else None


_FAMILY = {("get", False): "list", ("post", False): "create", ("get", True): "get", ("put", True): "update",
           ("patch", True): "update", ("delete", True): "delete"}


def _object(schema: Any) -> dict[str, Any] | None:
    return schema if isinstance(schema, dict) and json_type(schema) == "object" and schema.get("properties") else None


def list_array(returns: Any) -> tuple[str | None, dict[str, Any]] | None:
    """Where a list response keeps its records: (None, items) for an array, (property, items) for an object with
    exactly one array property; None when the shape is not understood."""
    if isinstance(returns, dict) and json_type(returns) == "array" and isinstance(returns.get("items"), dict):
        return None, returns["items"]
    obj = _object(returns)
    if obj is None:
        return None
    arrays = [(k, v) for k, v in obj["properties"].items() if json_type(v) == "array" and isinstance(v.get("items"), dict)]
    return (arrays[0][0], arrays[0][1]["items"]) if len(arrays) == 1 else None


def _record_schema(res: Resource) -> dict[str, Any] | None:
    by_family = {family: op for family, op, _, _ in res.ops}
    candidates = []
    if "get" in by_family:
        candidates.append(by_family["get"].spec.returns)
    if "create" in by_family:
        candidates.append(by_family["create"].spec.returns)
    if "list" in by_family:
        found = list_array(by_family["list"].spec.returns)
        candidates.append(found[1] if found else None)
    if "create" in by_family:
        op = by_family["create"]
        props = op.spec.parameters.get("properties", {})
        candidates.append({"type": "object", "properties": {b: props[b] for b in op.body if b in props}})
    for schema in candidates:
        obj = _object(schema)
        if obj is not None:
            return obj
    return None


def _field_for(param: str, record: dict[str, Any]) -> str | None:
    """The record field a parameter names: the same name, or its snake/camel twin."""
    props = record["properties"]
    for name in (param, snake_case(param), re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), param)):
        if name in props:
            return name
    return None


def infer_resources(operations: list[Operation], skipped: list[Skipped]) -> dict[str, Resource]:
    if len(operations) > MAX_OPERATIONS:
        raise OpenAPIWorldError(f"{len(operations)} operations is over the {MAX_OPERATIONS} agentfab infers a world "
                                "from; split the document")
    resources: dict[str, Resource] = {}
    for op in operations:
        shape = _shape(op.path)
        if shape is None:
            skipped.append(Skipped(op.label, "the path is not a resource collection (/things) or item "
                                             "(/things/{id}), nor a collection under one parent item"))
            continue
        name, key, parent = shape
        family = _FAMILY.get((op.method, key is not None))
        if family is None:
            skipped.append(Skipped(op.label, f"{op.method.upper()} on a {'item' if key else 'collection'} path maps "
                                             "to none of get, list, create, update, delete"))
            continue
        if parent is not None and family not in ("list", "create"):
            skipped.append(Skipped(op.label, "only listing and creating are inferred under a parent item"))
            continue
        snake = singular(name)
        entity = "".join(w.capitalize() for w in snake.split("_"))
        res = resources.setdefault(name, Resource(name, entity, snake))
        if any(f == family and p == parent for f, _, _, p in res.ops):
            skipped.append(Skipped(op.label, f"a second {family} operation for {name}"))
            continue
        res.ops.append((family, op, key, parent))
    for res in list(resources.values()):
        problem = _resolve_record(res)
        if problem:
            for _, op, _, _ in res.ops:
                skipped.append(Skipped(op.label, problem))
            del resources[res.name]
    _link(resources, skipped)
    return resources


def _resolve_record(res: Resource) -> str | None:
    res.record = _record_schema(res)
    if res.record is None:
        return f"no object schema (with properties) describes {res.name!r} records: an action or a report, not a resource"
    keys = {k for _, _, k, _ in res.ops if k}
    for candidate in [*sorted(keys), "id", f"{res.snake}_id", f"{res.snake}Id"]:
        found = _field_for(candidate, res.record)
        if found is not None:
            res.key = found
            break
    else:
        wanted = " or ".join(sorted(keys | {"id"}))
        return f"{res.name!r} records have no key field ({wanted}): an action or a search, not a resource"
    res.key_kind = json_type(res.record["properties"][res.key]) or "string"
    if res.key_kind not in ("string", "integer"):
        return f"the {res.snake} key {res.key!r} is neither a string nor an integer"
    return None


def _link(resources: dict[str, Resource], skipped: list[Skipped]) -> None:
    """References from id-shaped fields, then the fields that tie nested collections to their parent."""
    by_snake = {r.snake: r.name for r in resources.values()}
    for res in resources.values():
        assert res.record is not None
        for prop, schema in res.record["properties"].items():
            m = _ID_FIELD.match(prop)
            if prop == res.key or m is None or json_type(schema) not in ("string", "integer"):
                continue
            target = by_snake.get(snake_case(m.group(1)))
            if target and target != res.name:
                res.refs[prop] = target
        kept = []
        for family, op, key, parent in res.ops:
            if parent is not None:
                link = _field_for(parent, res.record)
                target = res.refs.get(link or "")
                if link is None or target is None:
                    skipped.append(Skipped(op.label, f"{res.name} records have no field that references the parent "
                                                     f"{{{parent}}}"))
                    continue
            kept.append((family, op, key, parent))
        res.ops = kept
    _break_cycles(resources)


def _break_cycles(resources: dict[str, Resource]) -> None:
    """Seeding needs referenced records first; a reference that closes a cycle stays a plain value."""
    done: set[str] = set()
    for name in sorted(resources):
        trail: list[str] = []

        def visit(n: str) -> None:
            if n in done:
                return
            trail.append(n)
            for prop, target in sorted(resources[n].refs.items()):
                if target in trail:
                    del resources[n].refs[prop]
                else:
                    visit(target)
            trail.pop()
            done.add(n)

        visit(name)


def seeding_order(resources: dict[str, Resource]) -> list[Resource]:
    order: list[str] = []

    def visit(n: str) -> None:
        if n in order:
            return
        for target in sorted(set(resources[n].refs.values())):
            visit(target)
        order.append(n)

    for name in sorted(resources):
        visit(name)
    return [resources[n] for n in order]


def key_of(res: Resource, n: int) -> Any:
    """The n-th key: an integer, a uuid, or shaped like the key's documented example (`ST-0001` -> `ST-0042`)."""
    if res.key_kind == "integer":
        return n
    schema = res.record["properties"][res.key] if res.record else {}
    if schema.get("format") == "uuid":
        return f"00000000-0000-4000-8000-{n:012d}"
    example = next((v for v in [schema.get("example"), *(schema.get("examples") or [])] if isinstance(v, str)), "")
    m = re.fullmatch(r"(\D{0,20}?)(\d{1,12})", example)
    if m:
        return f"{m.group(1)}{n:0{len(m.group(2))}d}"
    return f"{res.snake[:3].upper()}-{n:04d}"


def seeder(resources: dict[str, Resource]):
    order = seeding_order(resources)

    def seed_state(seed: int) -> Tables:
        fake = seeded_faker(seed)
        tables: Tables = {}
        for res in order:
            rows: dict[str, dict[str, Any]] = {}
            assert res.record is not None
            for n in range(1, ROWS + 1):
                rec = draw(res.record, res.snake, fake)
                rec[res.key] = key_of(res, n)
                for prop, target in res.refs.items():
                    if prop in rec or prop in res.record.get("required", []):
                        keys = list(tables[target])
                        rec[prop] = tables[target][keys[fake.random.randrange(len(keys))]][resources[target].key]
                rows[str(rec[res.key])] = rec
            tables[res.name] = rows
        return tables

    return seed_state


def pools(resources: dict[str, Resource]) -> dict[str, EntityPool]:
    return {r.entity_key: EntityPool(r.name, r.key) for r in resources.values()}


def build_domain(name: str, description: str, operations: list[Operation]) -> tuple[Domain, list[Skipped]]:
    """The executable domain of a document's operations, and the operations left out (with the reason)."""
    from agentfab.worlds.openapi_tools import build_tools

    skipped: list[Skipped] = []
    resources = infer_resources(operations, skipped)
    seed_state = seeder(resources)
    try:
        sample = seed_state(0)
    except Unsupported as exc:
        raise OpenAPIWorldError(f"cannot seed records: {exc}") from None
    tools = build_tools(resources, sample, name, skipped)
    if not tools:
        reasons = "; ".join(f"{s.operation}: {s.reason}" for s in skipped[:3])
        raise OpenAPIWorldError(f"no operation could be made executable ({reasons or 'the document has none'})")
    domain = Domain(name=name, description=description, tools=tuple(tools), seed_state=seed_state,
                    entities=pools(resources))
    assert canonical_json(seed_state(0)) == canonical_json(sample), "seeding is not deterministic"
    return domain, skipped
