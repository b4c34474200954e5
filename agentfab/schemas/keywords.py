"""JSON Schema read as JSON Schema: which keys of a schema object hold subschemas, and which hold data.

A key is a keyword only at a keyword position. Under `properties` (and the other maps) the keys are names chosen by
whoever wrote the tool, so a parameter called `format`, `default`, `examples`, `pattern`, `title` or `x-entity` is
data; so is everything inside `enum`, `const`, `default` and `examples`. Every walk over a tool's schema goes
through `position` (or `rewrite`, built on it), so that no module keeps a keyword table of its own.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

# keywords whose value maps names to subschemas
SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
# keywords whose value is one subschema (`items` may also be a list: the tuple form of drafts 4 to 2019-09)
SUBSCHEMA_ONE = frozenset({"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
                           "unevaluatedItems", "unevaluatedProperties", "additionalItems"})
# keywords whose value is a list of subschemas
SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})

Position = Literal["map", "list", "one", "data"]


def position(key: str, value: Any) -> Position:
    """What the value of keyword `key` in a schema object is: a map of subschemas, a list of them, one, or data."""
    if key in SUBSCHEMA_MAPS and isinstance(value, dict):
        return "map"
    if key in SUBSCHEMA_LISTS and isinstance(value, list):
        return "list"
    if key in SUBSCHEMA_ONE:
        return "one"
    return "data"


def rewrite(
    schema: Any,
    *,
    drop: Callable[[str], bool] = lambda key: False,
    resolve: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Any:
    """A copy of `schema` without the keywords `drop` names, in every subschema and nowhere else.

    `resolve` sees each schema object first and may stand another in its place (a `$ref`'s target, say), which is
    then walked in turn. Data (names under `properties`, `enum` values, `default`s...) is copied as it is.
    """
    if not isinstance(schema, dict):
        return schema  # true / false, or a value that is no schema: nothing to rewrite
    if resolve is not None:
        replaced = resolve(schema)
        if replaced is not schema:
            return rewrite(replaced, drop=drop, resolve=resolve)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if drop(key):
            continue
        kind = position(key, value)
        if kind == "map":
            out[key] = {name: rewrite(sub, drop=drop, resolve=resolve) for name, sub in value.items()}
        elif kind == "list":
            out[key] = [rewrite(sub, drop=drop, resolve=resolve) for sub in value]
        elif kind == "one":
            out[key] = rewrite(value, drop=drop, resolve=resolve)
        else:
            out[key] = value
    return out
