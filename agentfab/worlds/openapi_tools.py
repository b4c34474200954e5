"""The tools of an OpenAPI-inferred world: each operation keeps the document's name, description and parameters,
and runs against the seeded Store as the family inferred for it (get, list, create, update, delete).

What the offered schema gains is annotation only: `x-entity` on keys and references (so values come from the world
and calls can be chained), `examples` on free-text inputs, and `minProperties` on an update whose fields are all
optional (so a call changes something). Every argument the oracle sends is still valid under the document's own
parameter schema.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import jsonschema
from faker import Faker

from agentfab.worlds.core import Record, Store, Tables, Tool, ToolError, as_phrases
from agentfab.worlds.openapi import PAGING, SEARCH, Operation, Resource, Skipped, _field_for, key_of, list_array
from agentfab.worlds.openapi_values import Unsupported, draw, json_type

EXAMPLE_SEED = 1_000_033
_COUNTS = ("total", "count", "totalCount", "total_count", "totalItems", "total_items")


def _valid(value: Any, schema: Any) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    except jsonschema.SchemaError:
        return False
    return True


class _Builder:
    def __init__(self, resources: dict[str, Resource], sample: Tables, skipped: list[Skipped]):
        self.resources, self.sample, self.skipped = resources, sample, skipped
        self.fake = Faker("en_US")
        self.fake.seed_instance(EXAMPLE_SEED)
        self.tools: list[Tool] = []

    def skip(self, op: Operation, reason: str) -> None:
        self.skipped.append(Skipped(op.label, reason))

    def first(self, res: Resource) -> Record:
        return next(iter(self.sample[res.name].values()))

    def annotate(self, res: Resource, op: Operation, key: str | None, parent: str | None) -> dict[str, Any] | None:
        """The offered parameters: the document's, plus x-entity and examples; None (with a skip) when a required
        parameter cannot be given a valid value."""
        params = copy.deepcopy(op.spec.parameters)
        props: dict[str, Any] = params.setdefault("properties", {})
        assert res.record is not None
        for name, schema in props.items():
            if not isinstance(schema, dict):
                continue
            if name == key:
                schema["x-entity"] = res.entity_key
                continue
            if name == parent:
                target = self.resources[res.refs[_field_for(parent, res.record) or ""]]
                schema["x-entity"] = target.entity_key
                continue
            fieldname = _field_for(name, res.record) if name in op.body or name in op.query else None
            if fieldname in res.refs:
                schema["x-entity"] = self.resources[res.refs[fieldname]].entity_key
                continue
            if name not in params.get("required", []) and "minProperties" not in params:
                continue
            if "enum" in schema or "examples" in schema or json_type(schema) in ("integer", "number", "boolean"):
                continue
            values = []
            for _ in range(12):
                try:
                    value = draw(schema, name, self.fake)
                except Unsupported as exc:
                    if name in params.get("required", []):
                        self.skip(op, f"cannot draw a valid value for parameter {exc}")
                        return None
                    break
                if value not in values and _valid(value, op.spec.parameters["properties"][name]):
                    values.append(value)
                if len(values) == 3:
                    break
            if values:
                schema["examples"] = values
        return params

    def returns(self, res: Resource, returns: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(returns)
        props = out.get("properties") if isinstance(out, dict) else None
        if isinstance(props, dict):
            for name, schema in props.items():
                if isinstance(schema, dict) and name == res.key:
                    schema["x-entity"] = res.entity_key
                elif isinstance(schema, dict) and name in res.refs:
                    schema["x-entity"] = self.resources[res.refs[name]].entity_key
        return out

    def add(self, res: Resource, op: Operation, key: str | None, parent: str | None, run: Callable[..., Any],
            phrases: tuple[str, ...], answer: tuple[str, ...] | None, *, min_fields: bool = False) -> None:
        params = self.annotate(res, op, key, parent)
        if params is None:
            return
        if min_fields and not (set(params.get("required", [])) & set(op.body)):
            params["minProperties"] = len(params.get("required", [])) + 1
            params = self.annotate(res, Operation(op.method, op.path, op.spec.model_copy(update={"parameters": params}),
                                                  op.query, op.body), key, parent)
            if params is None:
                return
        spec = op.spec.model_copy(update={"parameters": params, "returns": self.returns(res, op.spec.returns)})
        self.tools.append(Tool(spec=spec, run=run, phrases=as_phrases(phrases), answer=answer))


def _check_ref(store: Store, resources: dict[str, Resource], res: Resource, field: str, value: Any) -> None:
    target = resources[res.refs[field]]
    if store.get(target.name, str(value)) is None:
        raise ToolError("not_found", f"{target.snake.replace('_', ' ')} {value} does not exist")


def build_tools(resources: dict[str, Resource], sample: Tables, domain: str, skipped: list[Skipped]) -> list[Tool]:
    b = _Builder(resources, sample, skipped)
    for res in resources.values():
        for family, op, key, parent in res.ops:
            {"get": _get, "list": _list, "create": _create, "update": _update, "delete": _delete}[family](
                b, res, op, key, parent)
    return b.tools


def _words(res: Resource) -> str:
    return res.snake.replace("_", " ")


def _get(b: _Builder, res: Resource, op: Operation, key: str | None, parent: str | None) -> None:
    if op.spec.returns and not _valid(b.first(res), op.spec.returns):
        return b.skip(op, "the response schema does not describe the record")
    k = key or ""

    def run(store: Store, **kw: Any) -> Record:
        return dict(store.require(res.name, str(kw[k]), _words(res)))

    w = _words(res)
    b.add(res, op, key, parent, run, (f"get the {w} {{{k}}}", f"show me the details of {w} {{{k}}}",
                                      f"look up {w} {{{k}}}"), None)


def _list(b: _Builder, res: Resource, op: Operation, key: str | None, parent: str | None) -> None:
    assert res.record is not None
    shape = list_array(op.spec.returns) if op.spec.returns else (None, res.record)
    if shape is None:
        return b.skip(op, "the list response is neither an array nor an object with one array property")
    holder, items = shape
    if items and not _valid(b.first(res), items):
        return b.skip(op, "the list items' schema does not describe the record")
    counts = []
    if holder is not None:
        obj = op.spec.returns
        others = [p for p in obj.get("required", []) if p != holder]
        counts = [p for p in obj["properties"] if p in _COUNTS and json_type(obj["properties"][p]) == "integer"]
        if set(others) - set(counts):
            return b.skip(op, f"the list response requires {sorted(set(others) - set(counts))[0]!r}, which agentfab "
                              "cannot compute")
    filters: dict[str, str] = {}
    for q in op.query:
        if q.lower() in PAGING or q.lower() in SEARCH:
            continue
        found = _field_for(q, res.record)
        if found is None:
            return b.skip(op, f"query parameter {q!r} names no field of the {res.snake} record")
        filters[q] = found
    link = _field_for(parent, res.record) if parent else None
    strings = [f for f, s in res.record["properties"].items() if json_type(s) == "string"]

    def run(store: Store, **kw: Any) -> Any:
        if parent is not None:
            _check_ref(store, b.resources, res, link or "", kw[parent])
        rows = sorted(store.rows(res.name), key=lambda r: (str(type(r[res.key])), r[res.key]))
        if parent is not None:
            rows = [r for r in rows if r.get(link) == kw[parent]]
        for q, fieldname in filters.items():
            if q in kw:
                wanted = kw[q]
                rows = [r for r in rows if _matches(r.get(fieldname), wanted)]
        needle = next((str(kw[q]).casefold() for q in kw if q.lower() in SEARCH), None)
        if needle is not None:
            rows = [r for r in rows if any(needle in str(r.get(f, "")).casefold() for f in strings)]
        paging = {PAGING[q.lower()]: kw[q] for q in kw if q.lower() in PAGING}
        limit = int(paging.get("limit", 20))
        start = int(paging.get("offset", 0)) + max(0, int(paging.get("page", 1)) - 1) * limit \
            if "page" in paging else int(paging.get("offset", 0))
        page = [dict(r) for r in rows[start:start + limit]]
        if holder is None:
            return page
        return {holder: page, **{c: len(rows) for c in counts}}

    w = res.name.replace("_", " ")
    phrases = ((f"list the {w} of {{{parent}}}", f"show all {w} linked to {{{parent}}}") if parent
               else (f"list the {w}", f"show me all {w}", f"which {w} are there"))
    b.add(res, op, key, parent, run, phrases, tuple(counts[:1]))


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(value, list):
        return wanted in value or any(_matches(v, wanted) for v in value if not isinstance(v, list))
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()
    return value == wanted


def _fields(b: _Builder, res: Resource, op: Operation) -> dict[str, str] | None:
    """body property -> record field, or None (with a skip) when the body is not made of record fields."""
    assert res.record is not None
    props = op.spec.parameters.get("properties", {})
    if "body" in props and "body" not in op.body:
        return b.skip(op, "the request body is not a plain object of record fields")  # type: ignore[func-returns-value]
    out = {}
    for name in op.body:
        found = _field_for(name, res.record)
        if found is None:
            return b.skip(op, f"body property {name!r} is not a field of the {res.snake} record")  # type: ignore[func-returns-value]
        out[name] = found
    return out


def _create(b: _Builder, res: Resource, op: Operation, key: str | None, parent: str | None) -> None:
    fields = _fields(b, res, op)
    if fields is None:
        return
    assert res.record is not None
    record_schema = res.record
    link = _field_for(parent, record_schema) if parent else None
    if op.spec.returns and not _valid(b.first(res), op.spec.returns):
        return b.skip(op, "the response schema does not describe the created record")

    def run(store: Store, **kw: Any) -> Record:
        rec: Record = {}
        for name, fieldname in fields.items():
            if name in kw:
                if fieldname in res.refs:
                    _check_ref(store, b.resources, res, fieldname, kw[name])
                rec[fieldname] = kw[name]
        if parent is not None:
            _check_ref(store, b.resources, res, link or "", kw[parent])
            rec[link or ""] = kw[parent]
        if res.key in rec:
            if store.get(res.name, str(rec[res.key])) is not None:
                raise ToolError("invalid_state", f"{_words(res)} {rec[res.key]} already exists")
        else:
            n = store.count(res.name) + 1
            while store.get(res.name, str(key_of(res, n))) is not None:
                n += 1
            rec[res.key] = key_of(res, n)
        for name in record_schema.get("required", []):
            if name not in rec:  # a required field the call did not set: a value derived from the call itself
                fake = Faker("en_US")
                fake.seed_instance(int.from_bytes(repr(sorted(rec.items())).encode()[:8], "big"))
                rec[name] = draw(record_schema["properties"][name], name, fake)
        store.put(res.name, str(rec[res.key]), rec)
        return dict(rec)

    required = op.spec.parameters.get("required", [])
    shown = ", ".join(f"{p.replace('_', ' ')} {{{p}}}" for p in required if p != parent)
    w = _words(res)
    where = f" under {{{parent}}}" if parent else ""
    phrases = ((f"create a new {w}{where} with {shown}", f"add a {w}{where}: {shown}") if shown
               else (f"create a new {w}{where}",))
    b.add(res, op, key, parent, run, phrases, (res.key,))


def _update(b: _Builder, res: Resource, op: Operation, key: str | None, parent: str | None) -> None:
    fields = _fields(b, res, op)
    if fields is None:
        return
    if op.spec.returns and not _valid(b.first(res), op.spec.returns):
        return b.skip(op, "the response schema does not describe the updated record")
    k = key or ""

    def run(store: Store, **kw: Any) -> Record:
        rec = dict(store.require(res.name, str(kw[k]), _words(res)))
        for name, fieldname in fields.items():
            if name in kw and fieldname != res.key:
                if fieldname in res.refs:
                    _check_ref(store, b.resources, res, fieldname, kw[name])
                rec[fieldname] = kw[name]
        store.put(res.name, str(rec[res.key]), rec)
        return rec

    w = _words(res)
    b.add(res, op, key, parent, run, (f"update {w} {{{k}}}", f"change the details of {w} {{{k}}}"), (res.key,),
          min_fields=True)


def _delete(b: _Builder, res: Resource, op: Operation, key: str | None, parent: str | None) -> None:
    k = key or ""
    referrers = [(other, f) for other in b.resources.values() for f, t in other.refs.items() if t == res.name]
    returns = op.spec.returns
    gives_record = bool(returns) and _valid(b.first(res), returns)
    if returns and not gives_record and not _valid({}, returns):
        return b.skip(op, "the delete response is neither empty nor the deleted record")

    def run(store: Store, **kw: Any) -> Any:
        rec = store.require(res.name, str(kw[k]), _words(res))
        for other, f in referrers:
            users = sorted(str(r[other.key]) for r in store.rows(other.name) if r.get(f) == rec[res.key])
            if users:
                raise ToolError("invalid_state", f"{_words(res)} {kw[k]} still has {len(users)} "
                                                 f"{other.name.replace('_', ' ')} ({', '.join(users[:5])}), "
                                                 "which must be deleted or reassigned first")
        store.delete(res.name, str(kw[k]))
        return dict(rec) if gives_record else {}

    w = _words(res)
    b.add(res, op, key, parent, run, (f"delete {w} {{{k}}}", f"remove the {w} {{{k}}}"), ())
