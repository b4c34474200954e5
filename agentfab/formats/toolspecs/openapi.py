"""OpenAPI 3.x -> ToolSpec: one tool per operation.

- name: the operationId, or `<method>_<path>`, made a valid function name (`pets.list` -> `pets_list`,
  `GET /pets/{petId}` -> `get_pets_petId`); a clash gets `_2`, `_3`...
- parameters: one object schema. Path, query and header parameters become properties (path ones always required;
  cookies are left out: they are session plumbing, not something an agent chooses). A JSON (or form) request body
  that is a plain object has its properties merged in, required only when the body itself is; any other body (an
  array, a composition, a name clash with a parameter) becomes one `body` property instead.
- returns: the JSON schema of the first 2xx response that has one (200, then 201, ...), else `{}`.
- mutates: every method but GET, HEAD, OPTIONS and TRACE (the methods HTTP defines as safe).
- domain: a slug of `info.title`.

Local `$ref`s are expanded; remote ones raise; see `documents` for the limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentfab.formats.toolspecs.documents import (SchemaCopier, ToolImportError, check_schema, deref, load, slug,
                                              tool_name, unique_name)
from agentfab.schemas.tools import ToolSpec

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SAFE_METHODS = frozenset({"get", "head", "options", "trace"})
_PARAMETER_PLACES = ("path", "query", "header")


def tools_from_openapi(doc: dict[str, Any] | str | Path) -> list[ToolSpec]:
    """The operations of an OpenAPI 3.x document (a parsed dict, or a JSON/YAML file) as tools."""
    where, doc = load(doc, "openapi document")
    if not isinstance(doc, dict):
        raise ToolImportError(f"{where}: an OpenAPI document is a JSON/YAML object, got {type(doc).__name__}")
    version = str(doc.get("openapi") or "")
    if not version.startswith("3."):
        found = f"swagger {doc['swagger']}" if "swagger" in doc else f"openapi {version or '(missing)'}"
        raise ToolImportError(f"{where}: only OpenAPI 3.x is supported, found {found}; convert Swagger 2.0 first "
                              "(e.g. with swagger2openapi)")
    paths = doc.get("paths") or {}
    if not isinstance(paths, dict):
        raise ToolImportError(f"{where}: `paths` must be an object of path -> path item")
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    domain = slug(str(info.get("title") or "")) or "openapi"
    copier = SchemaCopier(doc, where, inline_refs=True, openapi30=version.startswith("3.0"))
    taken: set[str] = set()
    tools = []
    for path, item in paths.items():
        item = deref(doc, item, f"{where}: paths.{path}")
        if not isinstance(item, dict):
            raise ToolImportError(f"{where}: paths.{path} must be an object of method -> operation")
        for method in HTTP_METHODS:
            if method in item:
                tools.append(_operation_tool(doc, copier, path, method, item, domain, taken))
    return tools


def _operation_tool(doc: dict, copier: SchemaCopier, path: str, method: str, item: dict, domain: str,
                    taken: set[str]) -> ToolSpec:
    op = item[method]
    at = f"{copier.where}: {method.upper()} {path}"
    if not isinstance(op, dict):
        raise ToolImportError(f"{at}: an operation must be an object")
    name = unique_name(tool_name(str(op.get("operationId") or f"{method} {path}")), taken)
    copier.start(at)
    properties, required = _parameters(doc, copier, item.get("parameters"), op.get("parameters"), at)
    _merge_body(doc, copier, op.get("requestBody"), properties, required, at)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters = copier.finish(parameters)
    copier.start(f"{at} response")
    returns = copier.finish(_returns(doc, copier, op.get("responses"), at))
    if isinstance(returns, bool):  # `true` allows anything, `false` nothing: the same as {} and {"not": {}}
        returns = {} if returns else {"not": {}}
    texts = [str(t).strip() for t in (op.get("summary"), op.get("description")) if t and str(t).strip()]
    description = "\n\n".join(dict.fromkeys(texts)) or f"{method.upper()} {path}"
    check_schema(parameters, f"{at}: parameters")
    check_schema(returns, f"{at}: response schema")
    try:
        return ToolSpec(name=name, description=description, parameters=parameters, returns=returns, domain=domain,
                        source="openapi", mutates=method not in SAFE_METHODS)
    except ValidationError as exc:
        raise ToolImportError(f"{at}: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None


def _parameters(doc: dict, copier: SchemaCopier, shared: Any, own: Any, at: str) -> tuple[dict, list[str]]:
    """Path-item parameters overridden by the operation's own (same name and place), as properties."""
    merged: dict[tuple[str, str], dict] = {}
    if not isinstance(shared or [], list) or not isinstance(own or [], list):
        raise ToolImportError(f"{at}: `parameters` must be a list")
    for i, raw in enumerate([*(shared or []), *(own or [])]):
        param = deref(doc, raw, f"{at}: parameters[{i}]")
        if not (isinstance(param, dict) and isinstance(param.get("name"), str) and isinstance(param.get("in"), str)):
            raise ToolImportError(f"{at}: parameters[{i}] needs a string `name` and a string `in`")
        merged[(param["name"], param["in"])] = param
    properties: dict[str, Any] = {}
    required: list[str] = []
    for (pname, place), param in merged.items():
        if place not in _PARAMETER_PLACES:
            continue
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), dict) and param["content"]:
            schema = next(iter(param["content"].values()), {}).get("schema")
        copied = copier.schema({} if schema is None else schema, f"parameters.{pname}")
        if param.get("description") and isinstance(copied, dict) and "description" not in copied:
            copied = {**copied, "description": str(param["description"])}
        key = pname if pname not in properties else f"{place}_{pname}"
        properties[key] = copied
        if place == "path" or param.get("required") is True:
            required.append(key)
    return properties, required


def _media_schema(content: Any, *, forms: bool) -> Any:
    """The schema of the JSON media type (or, for request bodies, a form one), or None."""
    if not isinstance(content, dict):
        return None
    kinds = [k for k in content if k.split(";")[0].strip() == "application/json" or k.endswith("+json")]
    if forms:
        kinds += [k for k in content if k.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))]
    for kind in kinds:
        media = content[kind]
        if isinstance(media, dict) and "schema" in media:
            return media["schema"]
    return None


def _merge_body(doc: dict, copier: SchemaCopier, body: Any, properties: dict, required: list[str], at: str) -> None:
    if body is None:
        return
    body = deref(doc, body, f"{at}: requestBody")
    schema = _media_schema(body.get("content") if isinstance(body, dict) else None, forms=True)
    if schema is None:
        return
    body_required = bool(body.get("required"))
    copied = copier.definition(copier.schema(schema, "requestBody"))  # a recursive body merges like any other
    props = copied.get("properties") if isinstance(copied, dict) else None
    plain = (isinstance(props, dict) and copied.get("type", "object") == "object"
             and not {"allOf", "anyOf", "oneOf", "$ref", "not"} & copied.keys())
    if plain and not set(props) & set(properties):
        properties.update(props)
        if body_required:
            wanted = copied.get("required") if isinstance(copied.get("required"), list) else []
            required.extend(p for p in wanted if isinstance(p, str) and p in props)
        return
    key = unique_name("body", set(properties))
    properties[key] = copied
    if body_required:
        required.append(key)


def _returns(doc: dict, copier: SchemaCopier, responses: Any, at: str) -> Any:
    if not isinstance(responses, dict):
        return {}
    for code in sorted(str(c) for c in responses):
        if not code.startswith("2"):
            continue
        raw = responses.get(code, responses.get(int(code)) if code.isdigit() else None)
        response = deref(doc, raw, f"{at}: responses.{code}")
        schema = _media_schema(response.get("content") if isinstance(response, dict) else None, forms=False)
        if schema is not None:
            return copier.schema(schema, f"responses.{code}")
    return {}
