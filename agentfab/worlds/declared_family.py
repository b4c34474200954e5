"""What the tools of one declared entity share: `Family` (its definition, how a record looks in results, who
references it, the checks its closures make) and `Builder` (the generated tools, each checked as it is added), and
the words their phrases share (`declared_tools` makes the reads, `declared_writes` the writes)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Callable

from agentfab.schemas.answers import render_value
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.wording import said_before_noun
from agentfab.worlds.core import Phrase, Record, Store, Tool, ToolError, as_phrases
from agentfab.worlds.declared_schemas import Examples
from agentfab.worlds.declared_spec import DeclaredDomainError, DomainDef, EntityDef, FieldDef

_TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Family:
    """What the closures of one entity share: its definition, how a record looks in results, who references it."""

    def __init__(self, d: DomainDef, e: EntityDef):
        self.e = e
        self.targets = {f.name: d.entity(f.target) for f in e.fields if f.target}
        self.referrers = [(o, f) for o in d.entities for f in o.fields if f.target == e.name]
        key, key_name = e.key, e.key_name
        if key == key_name:
            self.out: Callable[[Record], Record] = dict
        else:
            def out(rec: Record) -> Record:
                o = {key_name: rec[key], **rec}
                del o[key]
                return o

            self.out = out

    def require(self, store: Store, key: str) -> Record:
        rec = store.get(self.e.table, key)
        if rec is None:
            raise ToolError("not_found", f"{self.e.words} {key} does not exist")
        return rec

    def check_rules(self, store: Store, op: str, rec: Record) -> None:
        """The entity's preconditions for `op` (create, update, delete) on `rec`, as the error a real API gives."""
        for rule in self.e.rules:
            if rule.when != op:
                continue
            if rule.ref is not None:
                target = self.targets[rule.ref]
                subject = store.get(target.table, rec[rule.ref])
                what = f"{target.words} {rec[rule.ref]}"
            else:
                subject, what = rec, f"{self.e.words} {rec[self.e.key]}" if self.e.key in rec else f"the {self.e.words}"
            if subject is None:
                continue  # a missing reference is reported as not_found by check_value
            value = subject[rule.field]
            words = rule.field.replace("_", " ")
            if rule.covers is not None and value < rec[rule.covers]:
                need = rule.covers.replace("_", " ")
                raise ToolError(rule.error, f"{what} has {words} {render_value(value)}, less than the {need} "  # type: ignore[arg-type]
                                            f"{render_value(rec[rule.covers])}")
            if rule.covers is None and value != rule.equals:
                if isinstance(rule.equals, bool):  # "book BK-0002 is not available"
                    state = f"is {'not ' if rule.equals else ''}{words}"
                else:
                    state = f"has {words} {render_value(value)}, not {render_value(rule.equals)}"
                raise ToolError(rule.error, f"{what} {state}")  # type: ignore[arg-type]

    def check_value(self, store: Store, f: FieldDef, value: Any, own_key: str | None) -> Any:
        """The value to store for `f`, or a ToolError for what the JSON Schema cannot see."""
        if f.kind == "ref":
            target = self.targets[f.name]
            if store.get(target.table, value) is None:
                raise ToolError("not_found", f"{target.words} {value} does not exist")
        elif f.kind == "date":
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ToolError("bad_value", f"{f.name} must be a date like 2024-01-31, got {value!r}") from None
            if not f.low <= day <= f.high:
                raise ToolError("bad_value", f"{f.name} must be between {f.low} and {f.high}, got {value}")
        elif f.kind == "number":
            return float(value)
        elif f.unique:
            for rec in store.where(self.e.table, f.name, value.casefold(), "casefold"):
                if rec[self.e.key] != own_key:
                    raise ToolError("invalid_state", f"the {f.words} {rec[f.name]!r} is already used by {self.e.words} "
                                                     f"{rec[self.e.key]}, and no two {self.e.plural_words} may share one")
        return value


class Builder:
    def __init__(self, d: DomainDef, domain: str, source: str, where: str, examples: Examples):
        self.d, self.domain, self.source, self.where, self.examples = d, domain, source, where, examples
        self.tools: list[Tool] = []

    def add(self, name: str, description: str, params: dict[str, Any], required: list[str], returns: dict[str, Any],
            run: Callable[..., Any], phrases: tuple[str | Phrase, ...], answer: tuple[str, ...] | None, *,
            mutates: bool = False, min_params: int = 0) -> None:
        if not _TOOL_NAME.match(name):
            raise DeclaredDomainError(f"{self.where}: generated tool name {name!r} is over 64 characters; "
                                      "shorten the entity or field names")
        if any(t.name == name for t in self.tools):
            raise DeclaredDomainError(f"{self.where}: two generated tools are named {name!r}; rename a field "
                                      "(e.g. a ref field that repeats another relation's name)")
        parameters: dict[str, Any] = {"type": "object", "properties": params, "required": required,
                                      "additionalProperties": False}
        if min_params:
            parameters["minProperties"] = min_params
        spec = ToolSpec(name=name, description=description, parameters=parameters, returns=returns,
                        domain=self.domain, source=self.source, mutates=mutates)  # type: ignore[arg-type]
        self.tools.append(Tool(spec=spec, run=run, phrases=as_phrases(phrases), answer=answer))


def own_words(e: Any, f: FieldDef, words: str | None = None) -> str:
    """A field's words without its entity's: a part's `part_name` is its "name" ("the part whose name is Titanium
    Valve", "a new part with name ...", not "whose part name is")."""
    words, lead = words or f.words, e.words + " "
    return words[len(lead):] if words.startswith(lead) and len(words) > len(lead) else words


NAMES = {"name": "named", "title": "titled"}


def before_noun(f: FieldDef) -> bool:
    """Is every choice of this field said before its record's noun ("a new suite room", "find all compact cars")?"""
    return bool(f.choices) and all(said_before_noun(f.name, str(c)) for c in f.choices)
