"""Tools from other sources as ToolSpec: OpenAPI documents, MCP `tools/list` results, JSON tool lists, xLAM rows.

`mutates` when the source does not say: True. An MCP tool is read-only only when its annotations say
`readOnlyHint: true` (MCP's own default for readOnlyHint is false, and `destructiveHint` only separates destructive
from additive writes, both of which mutate). A tool from a JSON list or a trajectory file mutates unless its dict
says `"mutates": false`. Assuming a write is the safe mistake: replay and state-diff checks then watch the tool,
where assuming a read would let an unexpected change pass unseen.

Names are made valid function names (`get-weather` -> `get_weather`); a rename is logged, since a client calling
the original server must map it back. Schemas go through the limits and the remote-`$ref` refusal of
`documents`, and must pass `jsonschema.Draft202012Validator.check_schema`.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from agentfab.formats.toolspecs.openapi import tools_from_openapi
from agentfab.formats.toolspecs.documents import (SchemaCopier, ToolImportError, check_schema, load, slug, tool_name,
                                              unique_name)
from agentfab.schemas.tools import ToolSource, ToolSpec

log = logging.getLogger(__name__)

EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def _domain(source: Any, fallback: str) -> str:
    return (slug(Path(source).stem) if isinstance(source, (str, Path)) else "") or fallback


def _json_value(value: Any, what: str, default: Any) -> Any:
    """A schema given as an object or as JSON text (the way dataset rows store it)."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ToolImportError(f"{what} is text but not JSON: {value[:80]!r}") from None
    return value


def tool_from_function(item: Any, *, domain: str, where: str, taken: set[str] | None = None,
                       copier: SchemaCopier | None = None) -> ToolSpec:
    """One tool from an OpenAI tool (`{"type": "function", "function": {...}}`), a bare `{name, description,
    parameters}`, or a ToolSpec/ToolRow dict (whose own domain, source, mutates and returns are kept)."""
    if not isinstance(item, dict):
        raise ToolImportError(f"{where}: a tool must be an object, got {type(item).__name__}")
    fn = item["function"] if item.get("type") == "function" and isinstance(item.get("function"), dict) else item
    raw = fn.get("name")
    if not isinstance(raw, str) or not raw:
        raise ToolImportError(f"{where}: a tool needs a non-empty string `name`")
    at = f"{where} ({raw})"
    name = tool_name(raw) if taken is None else unique_name(tool_name(raw), taken)
    copier = copier or SchemaCopier(None, where, inline_refs=False)
    parameters = _json_value(fn.get("parameters"), f"{at}: parameters", EMPTY_PARAMETERS)
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise ToolImportError(f"{at}: parameters must be a JSON Schema object (`\"type\": \"object\"`)")
    copier.start(at)
    parameters = copier.finish(copier.schema(parameters, "parameters"))
    returns = _json_value(fn.get("returns"), f"{at}: returns", {})
    copier.start(at)
    returns = copier.finish(copier.schema(returns, "returns"))
    check_schema(parameters, f"{at}: parameters")
    check_schema(returns, f"{at}: returns")
    own_domain, own_source, mutates = fn.get("domain"), fn.get("source"), fn.get("mutates")
    try:
        return ToolSpec(
            name=name, description=str(fn.get("description") or "").strip() or raw, parameters=parameters,
            returns=returns, domain=own_domain if isinstance(own_domain, str) and own_domain else domain,
            source=own_source if own_source in get_args(ToolSource) else "json",
            mutates=mutates if isinstance(mutates, bool) else True)
    except ValidationError as exc:
        raise ToolImportError(f"{at}: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None


def tools_from_json(path: str | Path, *, domain: str | None = None) -> list[ToolSpec]:
    """Tools from a JSON (or YAML) file holding a list of tool dicts, or `{"tools": [...]}`; see tool_from_function.
    `domain` defaults to a slug of the file name."""
    where, data = load(path, "tool list")
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data = data["tools"]
    if not isinstance(data, list):
        raise ToolImportError(f"{where}: expected a list of tools (or an object with a `tools` list)")
    domain = domain or _domain(path, "json")
    copier, taken = SchemaCopier(None, where, inline_refs=False), set()
    return [tool_from_function(item, domain=domain, where=f"{where}: tools[{i}]", taken=taken, copier=copier)
            for i, item in enumerate(data)]


def mcp_mutates(annotations: Any) -> bool:
    """False only for a tool that declares `readOnlyHint: true`; see the module docstring."""
    return not (isinstance(annotations, dict) and annotations.get("readOnlyHint") is True)


def tools_from_mcp(result: dict[str, Any] | str | Path, *, domain: str | None = None) -> list[ToolSpec]:
    """Tools from an MCP `tools/list` result `{"tools": [...]}` or its JSON-RPC response around it (a dict or a
    file). Only the tools of this page are read: follow `nextCursor` with the server and import each page."""
    where, data = load(result, "MCP tools/list result")
    if isinstance(data, dict) and ({"jsonrpc", "result", "error"} & data.keys()):
        if data.get("error") is not None:
            raise ToolImportError(f"{where}: the server answered tools/list with an error: {data['error']}")
        data = data.get("result")
    if not isinstance(data, dict) or not isinstance(data.get("tools"), list):
        raise ToolImportError(f"{where}: expected a tools/list result, an object with a `tools` list")
    domain = domain or _domain(result, "mcp")
    copier, taken, tools = SchemaCopier(None, where, inline_refs=False), set(), []
    for i, tool in enumerate(data["tools"]):
        at = f"{where}: tools[{i}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("inputSchema"), dict):
            raise ToolImportError(f"{at}: an MCP tool needs `name` and an `inputSchema` object")
        annotations = tool.get("annotations") if isinstance(tool.get("annotations"), dict) else {}
        description = tool.get("description") or annotations.get("title") or tool.get("title")
        spec = tool_from_function(
            {"name": tool.get("name"), "description": description, "parameters": tool["inputSchema"],
             "returns": tool.get("outputSchema"), "mutates": mcp_mutates(annotations), "source": "mcp"},
            domain=domain, where=at, taken=taken, copier=copier)
        if spec.name != tool["name"]:
            log.warning("%s: MCP tool %r is imported as %r (a valid function name)", at, tool["name"], spec.name)
        tools.append(spec)
    return tools


# --- xLAM (APIGen) tools: a flat map of Python-style type strings, turned into JSON Schema -----------------------

_XLAM_SCALARS = {"str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "number",
                 "number": "number", "bool": "boolean", "boolean": "boolean", "none": "null", "nonetype": "null",
                 "dict": "object", "object": "object", "list": "array", "array": "array", "tuple": "array",
                 "set": "array"}
_XLAM_ARRAYS = {"list", "sequence", "set", "iterable", "tuple"}


def _split_top(text: str) -> list[str]:
    """`Dict[str, int], optional` -> ["Dict[str, int]", " optional"]: commas outside brackets only."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _xlam_schema(text: str) -> dict[str, Any]:
    text = text.strip()
    if "|" in text and "[" not in text:
        return {"anyOf": [_xlam_schema(t) for t in text.split("|")]}
    generic = re.fullmatch(r"([\w.]+)\s*\[(.*)\]", text)
    if generic:
        head, args = generic.group(1).rsplit(".", 1)[-1].lower(), [a.strip() for a in _split_top(generic.group(2))]
        if head == "optional":
            return _xlam_schema(args[0])
        if head == "union":
            return {"anyOf": [_xlam_schema(a) for a in args]}
        if head in _XLAM_ARRAYS:
            if head == "tuple" and len(args) > 1 and "..." not in args:
                return {"type": "array", "prefixItems": [_xlam_schema(a) for a in args]}
            return {"type": "array", "items": _xlam_schema(args[0])}
        if head in ("dict", "mapping") and len(args) == 2:
            return {"type": "object", "additionalProperties": _xlam_schema(args[1])}
    lowered = text.rsplit(".", 1)[-1].lower()
    if lowered in _XLAM_SCALARS:
        return {"type": _XLAM_SCALARS[lowered]}
    if lowered == "any":
        return {}
    return {"x-python-type": text}  # Callable[...], custom classes: no JSON type says what they accept


def xlam_parameters(params: Any, where: str) -> dict[str, Any]:
    """xLAM's `{param: {"type": "str, optional", "description", "default"?}}` as a JSON Schema object. A parameter
    is optional when its type says `, optional` or `Optional[...]`, or it has a default; an explicit boolean
    `required` wins. Parameters that already are a JSON Schema object are returned unchanged."""
    if isinstance(params, dict) and params.get("type") == "object":
        return params
    if not isinstance(params, dict):
        raise ToolImportError(f"{where}: xLAM parameters must be an object of name -> {{type, description}}")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in params.items():
        spec = spec if isinstance(spec, dict) else {"type": str(spec)}
        type_text = str(spec.get("type") or "Any")
        head, *rest = _split_top(type_text)
        optional = (any(r.strip().lower() == "optional" or r.strip().lower().startswith("default") for r in rest)
                    or head.strip().lower().startswith("optional["))
        prop = _xlam_schema(head)
        if spec.get("description"):
            prop["description"] = str(spec["description"])
        if "default" in spec:
            prop["default"] = spec["default"]
        explicit = spec.get("required")
        if explicit is True or (explicit is not False and not optional and "default" not in spec):
            required.append(name)
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def tool_from_xlam(item: Any, *, domain: str, where: str, taken: set[str] | None = None) -> ToolSpec:
    if not isinstance(item, dict):
        raise ToolImportError(f"{where}: an xLAM tool must be an object, got {type(item).__name__}")
    parameters = xlam_parameters(item.get("parameters") or {}, f"{where} ({item.get('name')})")
    return tool_from_function({**item, "parameters": parameters}, domain=domain, where=where, taken=taken)


__all__ = ["ToolImportError", "mcp_mutates", "tool_from_function", "tool_from_xlam", "tools_from_json",
           "tools_from_mcp", "tools_from_openapi", "xlam_parameters"]
