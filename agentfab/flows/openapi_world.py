"""`{openapi: FILE}` worlds: read an OpenAPI 3 document with the bounded tool importer, then infer its executable
domain (`agentfab.worlds.openapi`). Wiring only: the importer lives in formats, the inference in worlds.

A document that cannot be read or from which no operation can be inferred raises `OpenAPIWorldError` with one line
naming the file; the operations left out of an otherwise usable document are kept with their reasons
(`skipped_operations`, and `agentfab domains openapi FILE` prints them).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from agentfab.formats.toolspecs.documents import ToolImportError, deref, read_document
from agentfab.formats.toolspecs.openapi import HTTP_METHODS, tools_from_openapi
from agentfab.worlds.core import Domain
from agentfab.worlds.openapi import Operation, OpenAPIWorldError, Skipped, build_domain

_PLACES = ("path", "query", "header")


def _operations(doc: dict[str, Any], where: str) -> list[tuple[str, str, tuple[str, ...], set[str]]]:
    """(method, path, query names, parameter names) per operation, in the importer's order."""
    out = []
    for path, item in (doc.get("paths") or {}).items():
        item = deref(doc, item, f"{where}: paths.{path}")
        for method in HTTP_METHODS:
            if method not in item:
                continue
            query, names = [], set()
            for raw in [*(item.get("parameters") or []), *(item[method].get("parameters") or [])]:
                param = deref(doc, raw, f"{where}: {method.upper()} {path}")
                if param.get("in") in _PLACES:
                    names.add(param["name"])
                    if param["in"] == "query" and param["name"] not in query:
                        query.append(param["name"])
            out.append((method, path, tuple(query), names))
    return out


@lru_cache(maxsize=32)
def inferred(path: str) -> tuple[Domain, tuple[Skipped, ...]]:
    """The executable domain of the document at `path` and the operations left out of it."""
    try:
        specs = tools_from_openapi(path)
        doc = read_document(path)
        ops = _operations(doc, path)
    except ToolImportError as exc:
        raise OpenAPIWorldError(str(exc)) from None
    except RecursionError:
        raise OpenAPIWorldError(f"{path}: nested too deeply to read") from None
    if len(ops) != len(specs):
        raise OpenAPIWorldError(f"{path}: found {len(ops)} operations but imported {len(specs)}")
    operations = [Operation(method, p, spec, query, tuple(k for k in spec.parameters.get("properties", {})
                                                          if k not in names))
                  for (method, p, query, names), spec in zip(ops, specs)]
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    name = specs[0].domain if specs else "openapi"
    description = " ".join(str(info.get("description") or info.get("title") or name).split())
    try:
        domain, skipped = build_domain(name, description, operations)
    except OpenAPIWorldError as exc:
        raise OpenAPIWorldError(f"{path}: {exc}") from None
    return domain, tuple(skipped)


def openapi_domain(path: str | Path) -> Domain:
    return inferred(str(path))[0]


def skipped_operations(path: str | Path) -> tuple[Skipped, ...]:
    return inferred(str(path))[1]
