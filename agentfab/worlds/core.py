"""Worlds: seeded state plus tools that really execute against it.

A tool is a typed Python function whose first parameter is the `Store` (written with `worlds.authoring`: its JSON
Schema, with `x-entity` semantic types, comes from the signature, never by hand). A `Store` is a set of
tables (key -> record) copied on write, so a fresh world per rollout costs microseconds and the state change of a
rollout is an exact diff against the seeded state.
"""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import fastjsonschema
import re2
import orjson

from agentfab.worlds import memo_budget
from agentfab.schemas.keywords import rewrite
from agentfab.schemas.tools import ToolSpec
from agentfab.worlds import index

Record = dict[str, Any]
Tables = dict[str, dict[str, Record]]
ErrorKind = Literal[
    "not_found", "invalid_state", "bad_value", "forbidden",
    # business rules: what a real API reports when a request is well-formed but the world says no
    "insufficient_funds", "limit_exceeded", "account_frozen", "out_of_stock", "sold_out", "schedule_conflict",
    "window_closed", "already_done", "unavailable",
]
ERROR_KINDS: tuple[str, ...] = typing.get_args(ErrorKind)
# errors a well-formed request meets because of the world's state (not a typo or a malformed value)
RULE_ERRORS: frozenset[str] = frozenset(ERROR_KINDS) - {"not_found", "bad_value"}


class ToolError(Exception):
    """A failure the way a real API reports it; the agent sees it as the tool's result."""

    def __init__(self, kind: ErrorKind, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def as_result(self) -> dict[str, Any]:
        return {"error": {"type": self.kind, "message": self.message}}


def raised_text(exc: BaseException) -> str:
    """An exception from a user's module on one line: `Type: message at FILE:LINE` (the innermost frame, the
    user's line that raised)."""
    tb, where = exc.__traceback__, ""
    while tb is not None:
        where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    message = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}{': ' + message if message else ''}{where}"


class ToolRaised(Exception):
    """A tool of a `{python: module}` world raised something other than a ToolError: a bug in the user's code,
    not an answer of the world. The record being built is rejected with `exec.tool_raised` (its row keeps this
    text: the tool, the exception's type and message, and where it was raised); the build goes on. A built-in or
    declared tool that raises is agentfab's own bug and is never turned into a rejection."""

    def __init__(self, tool: str, exc: BaseException):
        super().__init__(f"tool {tool} raised {raised_text(exc)}")
        self.tool = tool
        self.error_type = type(exc).__name__


def is_error(result: Any) -> bool:
    return isinstance(result, dict) and len(result) == 1 and isinstance(result.get("error"), dict)


@dataclass(frozen=True)
class Phrase:
    """A request template over parameter names, and the result fields the request asks to see.

    "tell me when {event_id} is and who organizes it" asks for (date, start_time, organizer_id): a reply to it
    must state those. `asks=None` means the tool's `answer` fields (what a plain "look up ..." asks for).
    """

    text: str
    asks: tuple[str, ...] | None = None


def as_phrases(phrases: tuple[str | Phrase, ...] | list[str | Phrase]) -> tuple[Phrase, ...]:
    return tuple(p if isinstance(p, Phrase) else Phrase(p) for p in phrases)


class Store:
    """Tables of records, copied on write. Records are never mutated in place: tools `put` a new dict.

    A fork shares its root's tables until its first write, which copies the table set and then each table it
    writes: a fork that only reads (most calls of composing and replaying) copies nothing."""

    __slots__ = ("_tables", "_owned", "_touched", "_root", "offset")

    def __init__(self, tables: Tables, root: "Store | None" = None, offset: int = 0):
        self._tables = tables
        self._owned: set[str] | None = None  # tables this store copied to write (None: it has written none)
        self._touched: dict[str, set[str]] = {}
        self._root = root
        self.offset = offset  # how many records of each kind this world's history made before it (see `serial`)

    def fork(self) -> "Store":
        """A fresh, independent world over the same seeded state."""
        if self._touched:
            raise RuntimeError("fork() is taken from a seeded store, not from one that was changed")
        root = self._root or self
        # a root that was itself written to may be written again: then the fork takes its own table set at once
        return Store(root._tables if root._owned is None else dict(root._tables), root, self.offset)

    def with_offset(self, offset: int) -> "Store":
        """The same seeded state whose new records are numbered `offset` further on: a per-task world variant
        that costs one small dict copy, so two tasks on one seeded state do not create the same ids."""
        if self._root is not None or self._touched:
            raise RuntimeError("with_offset() is taken from a seeded store")
        return Store(dict(self._tables), None, offset)

    def serial(self, table: str) -> int:
        """The number of the next record of `table`: its row count plus the variant's offset, plus one."""
        return len(self._tables[table]) + self.offset + 1

    def get(self, table: str, key: str) -> Record | None:
        return self._tables[table].get(key)

    def require(self, table: str, key: str, what: str, *, missing: str | None = None) -> Record:
        """The record, or the `not_found` error a real API gives: "<what> <key> does not exist" (or `missing`)."""
        record = self._tables[table].get(key)
        if record is None:
            raise ToolError("not_found", missing or f"{what} {key} does not exist")
        return record

    def rows(self, table: str) -> Iterator[Record]:
        return iter(self._tables[table].values())

    def keys(self, table: str) -> list[str]:
        return list(self._tables[table])

    def where(self, table: str, fields: index.Fields, value: Any, how: index.How = None) -> Sequence[Record]:
        """The records of `table` whose field `fields` is `value`, in table order, as `[r for r in rows(table) if
        r[fields] == value]` finds them: `fields` may be a tuple of names (then `value` is a tuple), `how` folds a
        text field ("casefold", "lower": `value` folded the same way) or looks `value` up among a list field's
        members ("member"). Seeded tables are indexed once (`worlds.index`); a table this store writes is scanned.
        The records themselves are the table's own: never change one in place (`put` a new one)."""
        records = self._tables[table]
        if self._owned is not None and table in self._owned:
            return index.scan(records, fields, value, how)
        return index.lookup(records, fields, value, how)

    def count(self, table: str) -> int:
        return len(self._tables[table])

    def _writable(self, table: str) -> dict[str, Record]:
        if self._owned is None:  # the first write: the table set becomes this store's own
            self._tables = dict(self._tables)
            self._owned = set()
        if table not in self._owned:
            self._tables[table] = dict(self._tables[table])
            self._owned.add(table)
        return self._tables[table]

    def put(self, table: str, key: str, record: Record) -> None:
        records = self._writable(table)
        index.forget(records)  # forks of a root that writes share its tables, and may have indexed them
        records[key] = record
        self._touched.setdefault(table, set()).add(key)

    def delete(self, table: str, key: str) -> None:
        records = self._writable(table)
        index.forget(records)
        del records[key]
        self._touched.setdefault(table, set()).add(key)

    def changed(self) -> bool:
        """Has this store been written to (a record put or deleted, even one put back as it was)?"""
        return bool(self._touched)

    def diff(self) -> dict[str, dict[str, list[Any]]]:
        """table -> key -> [before, after] against the seeded state; records unchanged in the end are left out."""
        base = (self._root or self)._tables
        out: dict[str, dict[str, list[Any]]] = {}
        for table in sorted(self._touched):
            changes = {}
            for key in sorted(self._touched[table]):
                before = base[table].get(key)
                after = self._tables[table].get(key)
                if before != after:
                    changes[key] = [before, after]
            if changes:
                out[table] = changes
        return out

    def digest(self) -> str:
        """Canonical hash of the whole state (seeded state + changes)."""
        root = self._root or self
        h = hashlib.sha256(_seeded_digest(root).encode())
        h.update(str(self.offset).encode())
        h.update(canonical_json(self.diff()).encode())
        return h.hexdigest()


_DIGESTS: dict[int, tuple[Store, str]] = {}


def _seeded_digest(root: Store) -> str:
    cached = _DIGESTS.get(id(root))
    if cached is not None and cached[0] is root:
        return cached[1]
    digest = hashlib.sha256(canonical_json(root._tables).encode()).hexdigest()
    _DIGESTS[id(root)] = (root, digest)
    return digest


CANONICAL_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS  # canonical_json as orjson writes it
# the same text where every key is a str (nearly every value): orjson then writes it without the path that turns
# other keys into text, ~20-40% faster; a key that is not a str raises TypeError, and the value is written again
_STR_KEYS = orjson.OPT_SORT_KEYS


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the one text form used for hashing, comparing and storing values."""
    try:
        return orjson.dumps(value, option=_STR_KEYS).decode()
    except TypeError:
        return _canonical_other(value).decode()


def canonical_bytes(value: Any) -> bytes:
    """`canonical_json(value)` as UTF-8 bytes (to hash: orjson's own bytes, not decoded to be encoded again)."""
    try:
        return orjson.dumps(value, option=_STR_KEYS)
    except TypeError:
        return _canonical_other(value)


def _canonical_other(value: Any) -> bytes:
    """`canonical_bytes` of a value with a key that is not a str, or a value orjson cannot write."""
    try:
        return orjson.dumps(value, option=CANONICAL_OPTIONS)
    except TypeError:  # what orjson cannot write, json writes
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@dataclass(frozen=True)
class EntityPool:
    """Where valid values of a semantic type come from: a field of a table, or a fixed list."""

    table: str | None = None
    field: str | None = None
    values: tuple[Any, ...] = ()

    def draw(self, store: Store) -> list[Any]:
        if self.table is None:
            return list(self.values)
        column = [r[self.field] for r in store.rows(self.table)] if self.field else store.keys(self.table)
        return sorted(set(v for v in column if v is not None), key=canonical_json)


@dataclass
class Tool:
    spec: ToolSpec
    run: Callable[..., Any]
    phrases: tuple[Phrase, ...] = ()
    answer: tuple[str, ...] | None = None
    says: str | None = None  # how a reply states a result, over parameter and result fields (worlds/authoring.py)
    _check: Callable[[Any], Any] | None = field(default=None, repr=False)
    _valid: set[str] = field(default_factory=set, repr=False)
    name: str = field(init=False, repr=False, compare=False)  # the spec's name (read very often)

    def __post_init__(self) -> None:
        self.phrases = as_phrases(self.phrases)  # plain strings are phrases that ask for the `answer` fields
        self.name = self.spec.name
        memo_budget.hold(self)

    def forget(self) -> None:
        """The process keeps too many memo entries (worlds/memo_budget.py): check arguments again."""
        self._valid.clear()

    def asked(self, phrase: Phrase | None, result: Any) -> list[str]:
        """The result fields a request made with `phrase` asks to see (only fields the result really has)."""
        if not isinstance(result, dict):
            return []
        fields = phrase.asks if phrase is not None and phrase.asks is not None else self.answer
        if fields is None:
            return [k for k, v in result.items() if not isinstance(v, (list, dict))]
        return [f for f in fields if f in result]

    def check(self, kwargs: Mapping[str, Any], key: str | None = None) -> str | None:
        """None when kwargs satisfy the parameters' JSON Schema, else the reason. `key`: `canonical_json(kwargs)`,
        when the caller has it already."""
        if self._check is None:
            self._check = compile_parameters(self.spec.parameters)
        if key is None:
            key = canonical_json(kwargs)
        if key in self._valid:  # the same arguments are checked many times (compose, roll out, replay)
            return None
        try:
            self._check(dict(kwargs))
        except fastjsonschema.JsonSchemaException as exc:
            return exc.message
        self._valid.add(key)
        memo_budget.kept_one()
        return None

    def invoke(self, store: Store, kwargs: Mapping[str, Any], key: str | None = None) -> Any:
        """Execute for real. Errors (bad arguments included) come back as an `{"error": ...}` result; anything else
        a `{python: module}` tool raises comes out as ToolRaised. `key`: as for `check`."""
        if key is None:
            key = canonical_json(kwargs)
        if key not in self._valid:  # most calls repeat arguments already checked: no further call
            problem = self.check(kwargs, key)
            if problem is not None:
                return ToolError("bad_value", f"invalid arguments for {self.name}: {problem}").as_result()
        try:
            return self.run(store, **kwargs)
        except ToolError as exc:
            return exc.as_result()
        except Exception as exc:
            if self.spec.source != "python":
                raise
            raise ToolRaised(self.name, exc) from exc


def _refuse(problem: str) -> Callable[[Any], Any]:
    def check(_: Any) -> Any:
        raise fastjsonschema.JsonSchemaValueException(problem)

    return check


_COMPILED: dict[str, Callable[[Any], Any]] = {}  # canonical schema -> its validator


def compile_parameters(schema: Any) -> Callable[[Any], Any]:
    """`_compile_parameters`, once per distinct set of rules: tools of synthesized and declared domains often share
    one, and compiling (generating and executing Python code) costs about a millisecond per schema. What no check
    reads (descriptions, titles, examples, defaults, `x-` extensions) is left out first: more tools share a
    validator, and its code is smaller."""
    rules = rewrite(schema, drop=_annotation)
    key = canonical_json(rules)
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= 20_000:
            _COMPILED.clear()
        found = _COMPILED[key] = _compile_parameters(rules)
    return found


def _annotation(keyword: str) -> bool:
    """A keyword that checks nothing here: formats are not checked and defaults never filled in (`use_formats`,
    `use_default` off)."""
    return keyword in ("description", "title", "examples", "default", "$comment") or keyword.startswith("x-")


class Memo(dict):  # type: ignore[type-arg]
    """A dict of pure answers: a missing key's value is made once by `make(key)`; at `limit` entries it starts over
    (bounded memory), and with every other Memo once the process's value memos keep too much together
    (worlds/memo_budget.py). A hit costs one dict lookup, with no Python call."""

    __slots__ = ("make", "limit", "__weakref__")

    def __init__(self, make: Callable[[Any], Any], limit: int = 65_536):
        super().__init__()
        self.make = make
        self.limit = limit
        memo_budget.hold_values(self)

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.make(key)
        memo_budget.value_kept()
        return value

    forget = dict.clear


class _Remembered:
    """An RE2 pattern that remembers whether it found a match in each text it was given: the validators ask only
    that (`if not pattern.search(value)`), about the same ids again and again, and one RE2 search from Python
    costs ~100 times a dict lookup."""

    __slots__ = ("search",)

    def __init__(self, pattern: Any):
        self.search = Memo(_finder(pattern)).__getitem__


def _finder(pattern: Any) -> Callable[[Any], bool]:
    """`pattern.search(text) is not None` for an RE2 pattern, a str asked of RE2's own match: the wrapper's search
    makes a generator, its byte offsets back into str offsets and a match object around the one answer wanted
    (~10 us a text, ~2 us without; a typo's id and a new value are texts never seen before)."""
    regexp = getattr(pattern, "_regexp", None)
    match = getattr(regexp, "Match", None)
    anchor = getattr(getattr(type(regexp), "Anchor", None), "UNANCHORED", None)
    if match is None or anchor is None:  # another version of the bindings: its own search
        return lambda text: pattern.search(text) is not None

    def finds(text: Any) -> bool:
        if type(text) is not str:
            return pattern.search(text) is not None
        encoded = text.encode()
        return match(anchor, encoded, 0, len(encoded))[0] != (-1, -1)

    return finds


def _compile_parameters(schema: Any) -> Callable[[Any], Any]:
    """A validator of arguments for this parameter schema, safe on schemas from outside.

    `format` is an annotation for models (fastjsonschema would refuse names it does not know) and a `default` is
    documentation, never filled into the caller's arguments. `pattern` and `patternProperties` run on RE2, whose
    time is linear in the text (Python's backtracking `re` takes exponential time on `^(a+)+$`). A pattern RE2
    cannot run (a lookaround, a backreference) and a schema that cannot be compiled make every call invalid, with
    the reason, instead of stopping the build or import.
    """
    try:
        check = fastjsonschema.compile(schema, use_default=False, use_formats=False)
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError, KeyError, RecursionError) as exc:
        return _refuse(f"the tool's parameter schema cannot be used ({type(exc).__name__}: {str(exc)[:200]})")
    patterns = check.__globals__.get("REGEX_PATTERNS") or {}  # this validator's own namespace
    for source in list(patterns):
        try:
            patterns[source] = _Remembered(re2.compile(source))
        except re2.error:
            return _refuse(f"pattern {source[:100]!r} needs backtracking (a lookaround or backreference), which "
                           "agentfab does not run on schemas from outside")
    return check


@dataclass(frozen=True)
class Domain:
    """A world kind: its tools, how to seed its state, and where valid values of each entity type come from."""

    name: str
    description: str
    tools: tuple[Tool, ...]
    seed_state: Callable[[int], Tables]
    entities: Mapping[str, EntityPool]
    # requests in this domain's words that no tool of it can do ("unblock card {card_id}"), placeholders naming
    # entity pools: the near misses of irrelevant and partial tasks
    near_misses: tuple[str, ...] = ()

    def seeded(self, seed: int) -> Store:
        return Store(self.seed_state(seed))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.tools})
        object.__setattr__(self, "_memo", {})
        object.__setattr__(self, "_recent", {})
        memo_budget.hold(self)

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """A value derived from this domain's (immutable) tools, computed once: lives and dies with the domain."""
        memo: dict[Any, Any] = self._memo  # type: ignore[attr-defined]
        try:
            return memo[key]
        except KeyError:
            value = memo[key] = make()
            return value

    def recent(self, key: Any, make: Callable[[], Any]) -> Any:
        """As `memo`, for values of keys that never stop coming (one per set of a plan's tools: ~600 new ones a
        shard of 5,000 tasks grew a worker through a 1M-task build): counted in the process memo budget and
        forgotten with the composer memos (generators/memo_budget.py). Only for pure values: made again the same."""
        recent: dict[Any, Any] = self._recent  # type: ignore[attr-defined]
        try:
            return recent[key]
        except KeyError:
            value = recent[key] = make()
            memo_budget.kept_one()
            return value

    def forget(self) -> None:
        self._recent.clear()  # type: ignore[attr-defined]

    def tool(self, name: str) -> Tool:
        try:
            return self._by_name[name]  # type: ignore[attr-defined]
        except KeyError:
            raise KeyError(f"domain {self.name!r} has no tool {name!r}") from None
