"""Reading tool documents that nobody vetted: size, depth and node limits, local `$ref`s only, valid names.

Every schema an importer keeps is copied through `SchemaCopier`, which walks JSON Schema keyword positions
(`agentfab.schemas.keywords.position`: a property called `nullable` or an enum value holding `$ref` is data, not a
keyword) and stops with `ToolImportError` long before a hostile or broken document can hang the import:

- `MAX_DOCUMENT_BYTES` (10 MB): a file larger than this is refused before it is read.
- `MAX_DEPTH` (32): subschemas nested inside one another, `$ref` expansions included.
- `MAX_TOOL_NODES` (50,000) per tool and `MAX_DOCUMENT_NODES` (1,000,000) per document: JSON values written out
  after `$ref` expansion, which is what stops a "billion laughs" of references that each use the next one twice.

A `$ref` that is not a JSON pointer into the same document (`http:`, `https:`, `file:`, `other.yaml#/X`) is never
fetched: it raises, naming the reference. A local reference that leads back into itself becomes a `$defs` entry of
the tool's schema plus `{"$ref": "#/$defs/<Name>"}`, so recursive types stay exact and the walk ends.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentfab.schemas.keywords import position
from agentfab.schemas.yaml_input import YamlInputError, load_yaml

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 32
MAX_TOOL_NODES = 50_000
MAX_DOCUMENT_NODES = 1_000_000

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ToolImportError(ValueError):
    """A tool document that cannot be imported; the message says where and why."""


def read_document(path: str | Path) -> Any:
    """A JSON or YAML file as Python values, refusing files over MAX_DOCUMENT_BYTES before reading them."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ToolImportError(f"{path}: cannot read it ({exc.strerror})") from None
    if size > MAX_DOCUMENT_BYTES:
        raise ToolImportError(f"{path}: {size:,} bytes is over the {MAX_DOCUMENT_BYTES:,}-byte limit for a tool "
                              "document; split it into smaller documents")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ToolImportError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    yaml_file = path.suffix.lower() in (".yaml", ".yml")
    try:
        if not yaml_file:
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                if path.suffix.lower() == ".json":
                    raise ToolImportError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column "
                                          f"{exc.colno})") from None
        return load_yaml(text, str(path))  # anchors and aliases bounded before anything is built from them
    except RecursionError:
        raise ToolImportError(f"{path}: nested more deeply than the parser can follow; tool schemas deeper than "
                              f"{MAX_DEPTH} levels are refused anyway") from None
    except YamlInputError as exc:
        raise ToolImportError(str(exc).replace("\n", " ")) from None


def load(source: Any, what: str) -> tuple[str, Any]:
    """(where, value): a path is read with `read_document`, anything else is taken as already parsed."""
    if isinstance(source, (str, Path)):
        return str(source), read_document(source)
    return what, source


def slug(text: str) -> str:
    """`Swagger Petstore - v3` -> `swagger_petstore_v3`: a domain name made of lowercase words."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64]


def tool_name(raw: str) -> str:
    """A function name trainers accept (`^[A-Za-z_][A-Za-z0-9_]{0,63}$`), changed only when `raw` is not one."""
    if _NAME.match(raw):
        return raw
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_") or "tool"
    if name[0].isdigit():
        name = f"_{name}"
    return name[:64]


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`... when taken; the result is added to `taken`."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name[:64 - len(str(n)) - 1]}_{n}"
    taken.add(candidate)
    return candidate


def check_schema(schema: Any, what: str) -> None:
    """Raise ToolImportError unless `schema` is valid JSON Schema (2020-12 meta-schema; nothing is fetched)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        raise ToolImportError(f"{what} is not valid JSON Schema at {path}: {exc.message}") from None


def _pointer(doc: Any, ref: str, where: str) -> Any:
    node = doc
    for raw in ref[1:].split("/")[1:] if ref != "#" else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ToolImportError(f"{where}: $ref {ref!r} points at nothing in the document")
    return node


def check_local(ref: Any, where: str) -> str:
    if not isinstance(ref, str):
        raise ToolImportError(f"{where}: $ref must be a string, got {type(ref).__name__}")
    if not ref.startswith("#"):
        raise ToolImportError(f"{where}: $ref {ref!r} points outside this document; remote and file references "
                              "are never fetched: bundle the document first (e.g. `redocly bundle`) so every $ref "
                              "starts with '#/'")
    return ref


def deref(doc: Any, node: Any, where: str) -> Any:
    """A non-schema object (parameter, request body, response, path item) with its `$ref` chain followed."""
    seen: list[str] = []
    while isinstance(node, dict) and "$ref" in node:
        ref = check_local(node["$ref"], where)
        if ref in seen or len(seen) >= MAX_DEPTH:
            raise ToolImportError(f"{where}: $ref chain {' -> '.join(seen + [ref])} never reaches an object")
        seen.append(ref)
        node = _pointer(doc, ref, where)
    return node


class SchemaCopier:
    """Copies schemas out of one document within the limits, counting nodes across every copy it makes.

    `inline_refs=True` (OpenAPI) replaces local `$ref`s by their targets; `False` (MCP, JSON tool lists) keeps them
    as written, since there they point into the schema itself. `openapi30=True` also rewrites OpenAPI 3.0's
    `nullable` and boolean `exclusiveMinimum`/`exclusiveMaximum` into their JSON Schema 2020-12 spelling.
    """

    def __init__(self, doc: Any, where: str, *, inline_refs: bool, openapi30: bool = False):
        self.doc, self.where, self.inline_refs, self.openapi30 = doc, where, inline_refs, openapi30
        self.document_nodes = 0
        self.start(where)

    def start(self, where: str) -> None:
        """Begin a new root schema (one tool's parameters or returns): fresh `$defs` and node budget."""
        self.root_where, self.tool_nodes = where, 0
        self._defs: dict[str, Any] = {}
        self._def_names: dict[str, str] = {}
        self._recursive: set[str] = set()

    def finish(self, schema: Any) -> Any:
        """The root schema with the `$defs` its recursive references need."""
        if self._defs and isinstance(schema, dict):
            return {**schema, "$defs": {**schema.get("$defs", {}), **self._defs}}
        return schema

    def definition(self, schema: Any) -> Any:
        """What a bare `{"$ref": "#/$defs/X"}` made by this copier stands for; any other schema as it is."""
        if isinstance(schema, dict) and set(schema) == {"$ref"} and str(schema["$ref"]).startswith("#/$defs/"):
            return self._defs.get(schema["$ref"][len("#/$defs/"):], schema)
        return schema

    def schema(self, node: Any, at: str) -> Any:
        return self._schema(node, at, 0, ())

    def _count(self, at: str, depth: int) -> None:
        self.tool_nodes += 1
        self.document_nodes += 1
        if depth > MAX_DEPTH:
            raise ToolImportError(f"{self.root_where}: {at}: schema nested more than {MAX_DEPTH} levels deep; "
                                  "flatten it or split the tool")
        if self.tool_nodes > MAX_TOOL_NODES:
            raise ToolImportError(f"{self.root_where}: {at}: schema grows past {MAX_TOOL_NODES:,} nodes once its "
                                  "$refs are expanded; a tool's arguments should be far smaller")
        if self.document_nodes > MAX_DOCUMENT_NODES:
            raise ToolImportError(f"{self.where}: schemas grow past {MAX_DOCUMENT_NODES:,} nodes in all once "
                                  "their $refs are expanded; split the document")

    def _schema(self, node: Any, at: str, depth: int, stack: tuple[str, ...]) -> Any:
        self._count(at, depth)
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            raise ToolImportError(f"{self.root_where}: {at}: a schema must be an object or a boolean, "
                                  f"got {type(node).__name__}")
        if "$ref" in node:
            ref = check_local(node["$ref"], f"{self.root_where}: {at}")
            if self.inline_refs:
                return self._inline(node, ref, at, depth, stack)
        out: dict[str, Any] = {}
        for key, value in node.items():
            where = f"{at}.{key}"
            kind = position(key, value)
            if kind == "map":
                self._count(where, depth + 1)
                out[key] = {name: self._schema(sub, f"{where}.{name}", depth + 1, stack) for name, sub in value.items()}
            elif kind == "list":
                self._count(where, depth + 1)
                out[key] = [self._schema(sub, f"{where}[{i}]", depth + 1, stack) for i, sub in enumerate(value)]
            elif kind == "one":
                out[key] = self._schema(value, where, depth + 1, stack)
            else:
                out[key] = self._data(value, where, depth + 1)
        return self._openapi30(out) if self.openapi30 else out

    def _inline(self, node: dict, ref: str, at: str, depth: int, stack: tuple[str, ...]) -> Any:
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if ref in stack or self._def_names.get(ref) in self._defs:
            self._recursive.add(ref)
            target: Any = {"$ref": f"#/$defs/{self._def_name(ref)}"}
        else:
            if len(stack) >= MAX_DEPTH:
                raise ToolImportError(f"{self.root_where}: {at}: more than {MAX_DEPTH} $refs expanded inside one "
                                      "another")
            expanded = self._schema(_pointer(self.doc, ref, f"{self.root_where}: {at}"), ref, depth, stack + (ref,))
            if ref in self._recursive:
                target = {"$ref": f"#/$defs/{self._def_name(ref)}"}
                if expanded == target:
                    raise ToolImportError(f"{self.root_where}: {at}: $ref {ref!r} only refers back to itself "
                                          "through other $refs; it never reaches a schema")
                self._defs[self._def_name(ref)] = expanded
            else:
                target = expanded
        if not siblings:
            return target
        rest = self._schema(siblings, at, depth, stack)
        if isinstance(target, dict) and "$ref" not in target:
            return {**target, **rest}
        return {"allOf": [target], **rest}

    def _def_name(self, ref: str) -> str:
        if ref not in self._def_names:
            base = re.sub(r"[^A-Za-z0-9_.-]+", "_", unquote(ref.rsplit("/", 1)[-1])) or "Schema"
            self._def_names[ref] = unique_name(base, set(self._def_names.values()))
        return self._def_names[ref]

    def _data(self, value: Any, at: str, depth: int) -> Any:
        """A keyword's plain value (enum, default, examples, description...), copied and counted, never resolved."""
        self._count(at, depth)
        if isinstance(value, dict):
            return {k: self._data(v, f"{at}.{k}", depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._data(v, f"{at}[{i}]", depth + 1) for i, v in enumerate(value)]
        return value

    @staticmethod
    def _openapi30(schema: dict[str, Any]) -> dict[str, Any]:
        if "nullable" in schema:
            nullable = schema.pop("nullable")
            kind = schema.get("type")
            if nullable is True and isinstance(kind, str):
                schema["type"] = [kind, "null"]
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            flag = schema.get(bound)
            if isinstance(flag, bool):
                del schema[bound]
                if flag and limit in schema:
                    schema[bound] = schema.pop(limit)
        if "example" in schema and "examples" not in schema:
            schema["examples"] = [schema.pop("example")]
        return schema
