"""The declared-domain format: pydantic models of the YAML, then the checks pydantic cannot express.

Parsing (`declared_parse`) ends in plain frozen dataclasses (`DomainDef`, `EntityDef`, `FieldDef`) that the tool generator reads;
nothing here runs per tool call. Every user mistake becomes one `DeclaredDomainError` line per problem:
`library.yaml: entities.Book.fields.author_id.ref: unknown entity 'Writer' (known: Author, Loan, Member)`.
The format itself is documented at the top of `agentfab.worlds.declared`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from agentfab.schemas.wording import UNSAID_UNITS, label, unit

FAKER_PROVIDERS = frozenset({
    "book_title", "tail_number",  # agentfab's own: catalogue-like titles, aircraft registrations; `city` draws
    # real city names, not Faker's inventions
    "name", "first_name", "last_name", "job", "email", "user_name", "phone_number",
    "company", "catch_phrase", "bs",
    "city", "country", "state", "street_address", "street_name", "postcode",
    "word", "sentence", "color_name", "language_name", "currency_code", "isbn13", "license_plate",
    "url", "domain_name",
})
FIELD_TYPES = ("string", "integer", "number", "boolean", "date")
AGGREGATES = ("min", "max", "sum", "avg")
MAX_ROWS = 100_000



class DeclaredDomainError(ValueError):
    """A declared domain that cannot be built; the message says where, what and how to fix it."""


# -- the YAML, as pydantic models (structure, types, unknown keys) ----------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    type: Optional[Literal["string", "integer", "number", "boolean", "date"]] = None
    ref: Optional[str] = None
    description: Optional[str] = None
    faker: Optional[str] = None
    choices: Optional[list[str]] = None
    combine: Optional[list[list[str]]] = None
    searchable: bool = False
    unique: bool = False
    min: Any = None
    max: Any = None
    decimals: Optional[int] = Field(None, ge=0, le=6)
    p_true: Optional[float] = Field(None, ge=0, le=1)
    default: Optional[bool] = None
    aggregate: Optional[list[Literal["min", "max", "sum", "avg"]]] = None
    by: Optional[str] = None  # a choices field declared before this one: `ranges` gives this field's range per choice
    ranges: Optional[dict[str, list[Any]]] = None


class RuleSpec(_Strict):
    """A precondition a write must meet, checked on the stored record or on the record a ref field points at."""

    when: Literal["create", "update", "delete"]
    field: str
    ref: Optional[str] = None
    equals: Any = None
    covers: Optional[str] = None
    error: Optional[str] = None


class EntitySpec(_Strict):
    key: str = "id"
    id_format: Optional[str] = None
    count: int = Field(20, ge=1, le=MAX_ROWS)
    plural: Optional[str] = None
    description: Optional[str] = None
    fields: dict[str, FieldSpec]
    rules: list[RuleSpec] = Field(default_factory=list)


class DomainSpec(_Strict):
    name: str
    description: Optional[str] = None
    entities: dict[str, EntitySpec]


# -- what the generator reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDef:
    name: str
    kind: str  # one of FIELD_TYPES, or "ref"
    description: str
    faker: str | None = None
    choices: tuple[str, ...] = ()
    combine: tuple[tuple[str, ...], ...] = ()  # word lists: a value is one word of each, joined by spaces
    searchable: bool = False
    unique: bool = False
    low: Any = None  # int, float or date
    high: Any = None
    decimals: int = 2
    p_true: float = 0.5
    default: bool = False
    aggregates: tuple[str, ...] = ()
    target: str | None = None  # the referenced entity's name
    by: str | None = None  # a choices field of the same entity (declared before) that narrows this one's range
    ranges: tuple[tuple[str, Any, Any], ...] = ()  # (choice of `by`, low, high), within low..high

    @property
    def words(self) -> str:
        """The field as text says it; a unit its name carries is said after it: `weight_kg` -> "weight in kg"."""
        measured = unit(self.name)
        if measured in UNSAID_UNITS:  # "rate_pct" -> "rate", "salary_usd" -> "salary": the value says
            return label(self.name)  # "12.5%", "85,000.00 USD" (one asks for "the highest salary", not "in USD")
        if measured:
            return f"{label(self.name)} in {measured}"
        said = label(self.name)  # "years_experience" is "years of experience", "built_year" is "year built";
        return said if " of " in said or said.startswith("year ") else self.name.replace("_", " ")  # others as spelled


@dataclass(frozen=True)
class RuleDef:
    """`when` a write, the record (or the one `ref` points at) must have `field == equals`, or `field >= covers`
    (the value the write gives for that field of this entity); otherwise the tool fails with `error`."""

    when: str
    field: str
    ref: str | None
    equals: Any
    covers: str | None
    error: str


@dataclass(frozen=True)
class EntityDef:
    name: str
    snake: str  # "loan_record"
    plural: str  # "loan_records", also the table name
    key: str  # the key field of stored records
    key_name: str  # the key as parameters, results and entity pools name it: "book_id"
    id_format: str
    key_pattern: str
    count: int
    description: str
    fields: tuple[FieldDef, ...]
    rules: tuple[RuleDef, ...] = ()

    @property
    def table(self) -> str:
        return self.plural

    @property
    def words(self) -> str:
        return self.snake.replace("_", " ")

    @property
    def plural_words(self) -> str:
        return self.plural.replace("_", " ")

    def key_of(self, n: int) -> str:
        return self.id_format.format(n=n)


@dataclass(frozen=True)
class DomainDef:
    name: str
    description: str
    entities: tuple[EntityDef, ...]  # in seeding order: every entity after the ones it references

    def entity(self, name: str) -> EntityDef:
        return next(e for e in self.entities if e.name == name)


# -- naming ------------------------------------------------------------------------------------------------------


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def pluralize(word: str) -> str:
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def relation_label(f: FieldDef, target: EntityDef) -> str:
    """How tools name a relation: `author_id -> Author` is "author", `borrower_id -> Member` is "borrower"."""
    if f.name == target.key_name:
        return target.snake
    return f.name[:-3] if f.name.endswith("_id") else f.name




