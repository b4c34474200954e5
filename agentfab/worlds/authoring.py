"""Writing a world in Python: `@tool` functions with `Arg`-annotated parameters and `ask` phrases, and the module
that holds them turned into a `Domain` (the built-in hand-written worlds, and a recipe's `{python: my_pkg.tools}`).
The JSON Schema of each tool comes from its signature and return annotation, never written by hand."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable

from pydantic import Field, TypeAdapter

from agentfab.schemas.keywords import rewrite
from agentfab.schemas.tools import ToolSpec
from agentfab.worlds.core import Domain, Phrase, Tables, Tool, as_phrases, raised_text


def Arg(description: str, *, entity: str | None = None, examples: list[Any] | None = None, **constraints: Any) -> Any:
    """Describe a tool parameter or result field: `Annotated[str, Arg("The account id", entity="account_id")]`."""
    extra: dict[str, Any] = {}
    if entity:
        extra["x-entity"] = entity
    if examples:
        extra["examples"] = list(examples)
    return Field(description=description, json_schema_extra=extra or None, **constraints)


# a result's currency, beside its prices, totals and balances: a reply says the amounts with it ("259.20 USD")
Currency = Annotated[str, Arg("Currency of the amounts")]


def ask(text: str, *fields: str) -> Phrase:
    """`ask("tell me where and when {flight_id} goes", "origin", "destination", "date", "departure")`."""
    return Phrase(text, tuple(fields))


@dataclass(frozen=True)
class ToolMeta:
    mutates: bool
    phrases: tuple[Phrase, ...]
    answer: tuple[str, ...] | None
    says: str | None = None


def tool(*, mutates: bool = False, phrases: tuple[str | Phrase, ...] = (), answer: tuple[str, ...] | None = None,
         says: str | None = None):
    """Mark a function as a tool. Only sets an attribute: the schema is derived when the domain is loaded.

    `phrases` are request templates over the parameter names ("check the balance of {account_id}"), plain or as
    `ask(text, *fields)` when the phrase asks for other result fields than `answer`; `answer` names the result
    fields a plain request asks to see (default: every top-level scalar field). `says` is how a reply states a
    result, over parameter and result field names ("{person_id} is free from {start_time} to {end_time} on
    {date}"), where the generic "for person P-124, the start time is 09:00 and ..." reads badly; asked fields it
    leaves out are still stated after it.
    """

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        meta = ToolMeta(mutates=mutates, phrases=as_phrases(phrases), answer=answer, says=says)
        fn.__agentfab_tool__ = meta  # type: ignore[attr-defined]
        return fn

    return mark


def json_schema_of(annotation: Any) -> dict[str, Any]:
    """The JSON Schema of a type, with pydantic's local `$ref`s inlined and its `title`s dropped: tool schemas are
    read by models, keep them plain."""
    raw = TypeAdapter(annotation).json_schema()
    defs = raw.get("$defs", {})

    def inline(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" not in node:
            return node
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {**defs[node["$ref"].rsplit("/", 1)[-1]], **siblings}

    return rewrite(raw, drop=lambda key: key in ("title", "$defs"), resolve=inline)


def spec_from_function(fn: Callable[..., Any], domain: str, source: str = "builtin") -> ToolSpec:
    meta: ToolMeta = fn.__agentfab_tool__  # type: ignore[attr-defined]
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())[1:]  # the first is the Store
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in params:
        if p.name not in hints:
            raise TypeError(f"tool {fn.__name__}: parameter {p.name!r} needs a type annotation")
        properties[p.name] = json_schema_of(hints[p.name])
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
        else:
            properties[p.name]["default"] = p.default
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        parameters["required"] = required
    returns = json_schema_of(hints["return"]) if "return" in hints else {}
    doc = inspect.getdoc(fn) or ""
    description = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    if not description:
        raise TypeError(f"tool {fn.__name__}: a docstring is required, it becomes the tool's description")
    return ToolSpec(
        name=fn.__name__,
        description=description,
        parameters=parameters,
        returns=returns,
        domain=domain,
        source=source,  # type: ignore[arg-type]
        mutates=meta.mutates,
    )


def tool_from_function(fn: Callable[..., Any], domain: str, source: str = "builtin") -> Tool:
    meta: ToolMeta = fn.__agentfab_tool__  # type: ignore[attr-defined]
    return Tool(spec=spec_from_function(fn, domain, source), run=fn, phrases=meta.phrases, answer=meta.answer,
                says=meta.says)


def _reported(module_name: str, seed_state: Callable[[int], Tables]) -> Callable[[int], Tables]:
    """A python world's seed_state: what it raises stops the build with one line naming the module (a bug in the
    user's module, not agentfab's), wherever the shard runs."""

    def seeded(seed: int) -> Tables:
        try:
            return seed_state(seed)
        except Exception as exc:  # noqa: BLE001 - anything the user's function raises
            raise ValueError(f"world module {module_name!r}: seed_state({seed}) raised {raised_text(exc)}; fix the "
                             "module") from None

    return seeded


def domain_from_module(module: Any, source: str = "builtin") -> Domain:
    """Build a Domain from a module of `@tool` functions plus `NAME`, `DESCRIPTION`, `ENTITIES` and `seed_state`.

    This is how the built-in hand-written worlds are loaded, and how a recipe's `{python: my_pkg.tools}` is.
    """
    where = getattr(module, "__name__", repr(module))
    missing = [a for a in ("NAME", "DESCRIPTION", "ENTITIES", "seed_state") if not hasattr(module, a)]
    if missing:
        raise ValueError(
            f"module {where} is not an agentfab domain: define {', '.join(missing)} "
            "(see README 'Bring your own tools')"
        )
    fns = [v for v in vars(module).values() if callable(v) and hasattr(v, "__agentfab_tool__")]
    if not fns:
        raise ValueError(f"module {where} defines no @tool functions")
    tools = tuple(tool_from_function(fn, module.NAME, source) for fn in fns)
    return Domain(
        name=module.NAME,
        description=module.DESCRIPTION,
        tools=tools,
        seed_state=_reported(where, module.seed_state) if source == "python" else module.seed_state,
        entities=dict(module.ENTITIES),
        near_misses=tuple(getattr(module, "NEAR_MISSES", ())),
    )
