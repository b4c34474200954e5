"""The recipe: a YAML file that says what dataset to build. Validated completely before any work starts.

Every error names the file, the field, the bad value and what is allowed, on one line, e.g.
`quickstart.yaml: tasks.depth.max: must be <= 6, got 9`.
"""

from __future__ import annotations

import hashlib
import json
import math
import typing
from pathlib import Path
from typing import Any, Literal, Union

from agentfab.schemas.yaml_input import YamlInputError, load_yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentfab.llm.settings import ModelSettings
from agentfab.schemas.tasks import TASK_KINDS


class RecipeError(ValueError):
    """A recipe the user must fix; the message says where and how."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: Any) -> Any:
        """YAML reads `true` as a boolean, which pydantic would take as 1 where a number is expected."""
        annotation = cls.model_fields[info.field_name].annotation
        if annotation in (int, float, dict[str, float]):
            values = value.values() if isinstance(value, dict) else [value]
            if any(isinstance(v, bool) for v in values):
                raise ValueError("must be a number, not true or false")
        return value


class Limit(_Section):
    max: int = Field(4, ge=1, le=6, description="Largest depth (calls in a chain) or width (parallel members).")


class TaskSettings(_Section):
    mix: dict[str, float] = Field(
        default_factory=lambda: {"single": .15, "parallel": .15, "chain": .2, "compound": .1, "multi_turn": .15,
                                 "irrelevant": .1, "clarify": .15},
        description="Share of each task kind; normalized, so the values need not sum to 1.",
    )
    depth: Limit = Field(default_factory=Limit)
    width: Limit = Field(default_factory=Limit)
    distractors: int = Field(3, ge=0, le=20, description="Similar but unneeded tools offered with each task.")
    intents: float = Field(0.0, ge=0, le=1, description="Share of tasks built from intents models.generator "
                           "proposes for a domain (checked, then executed like composed ones).")

    @field_validator("mix")
    @classmethod
    def _known_kinds(cls, mix: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(mix) - set(TASK_KINDS))
        if unknown:
            raise ValueError(f"unknown task kind {unknown[0]!r} (allowed: {', '.join(TASK_KINDS)})")
        if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError("shares must be >= 0 and at least one > 0")
        return mix


class RolloutSettings(_Section):
    agent: Literal["oracle", "llm"] = Field(
        "oracle", description="Which agent acts: the offline oracle follows the plan; llm: models.agent with tools=.")
    max_steps: int = Field(12, ge=1, le=100, description="Model turns an LLM agent gets per task.")
    oracle_pairs: bool = Field(True, description="llm agent: when its trajectory is rejected and the oracle's is "
                               "accepted, keep the oracle's too (a preference pair for the dpo export).")
    recovery: float = Field(0.1, ge=0, le=1, description="Chance that a call group starts with a real, corrected error.")


class JudgeSettings(_Section):
    engine: Literal["rules", "llm"] = Field("rules", description="llm: models.judge scores a rubric; "
                                            "the rule judge's score is kept beside it.")
    min_score: float = Field(3, ge=1, le=5)


class DedupSettings(_Section):
    near_threshold: float = Field(0.9, gt=0, le=1, description="Jaccard similarity at which rows count as near-duplicates.")


class FilterSettings(_Section):
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    decontaminate: bool = Field(True, description="Reject rows that copy an item of a public function-calling "
                                                  "test set (BFCL, from the bfcl-eval package): dedup.contaminated.")


class DeclaredWorld(_Section):
    declared: Union[str, dict[str, Any]] = Field(description="A domain YAML file, or the domain declared inline.")


class PythonWorld(_Section):
    python: str = Field(description="An importable module of @tool functions (see README: Bring your own tools).")


class SynthesizeSettings(_Section):
    domains: int = Field(ge=1, le=5_000, description="How many domains to synthesize from agentfab's vocabulary.")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Synthesis seed: the same seed gives the same domains.")


class SynthesizeWorld(_Section):
    synthesize: SynthesizeSettings = Field(description="Declared domains synthesized offline (agentfab domains).")


class OpenAPIWorld(_Section):
    openapi: str = Field(min_length=1, description="An OpenAPI 3 document (JSON or YAML) made executable.")


class ToolsWorld(_Section):
    tools: str = Field(min_length=1, description="An imported tool list without implementations (a JSON/YAML list "
                       "of function tools, or an MCP tools/list result), executed by models.simulator.")
    format: Literal["json", "mcp"] = Field("json", description="json: a list of tools (or {tools: [...]}); "
                                           "mcp: a tools/list result.")


WorldRef = Union[str, DeclaredWorld, PythonWorld, SynthesizeWorld, OpenAPIWorld, ToolsWorld]
WORLD_KINDS = {"declared": "DeclaredWorld", "python": "PythonWorld", "synthesize": "SynthesizeWorld",
               "openapi": "OpenAPIWorld", "tools": "ToolsWorld"}


class Recipe(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    records: int = Field(ge=1, le=100_000_000, description="Tasks to generate (accepted + rejected).")
    shard_size: int = Field(500, ge=1, le=1_000_000)
    worlds: list[WorldRef] = Field(min_length=1)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    rollouts: RolloutSettings = Field(default_factory=RolloutSettings)
    negatives: float = Field(0.1, ge=0, le=1, description="Share of tasks that also get a deliberately broken trajectory.")
    filters: FilterSettings = Field(default_factory=FilterSettings)
    models: ModelSettings = Field(default_factory=ModelSettings,
                                  description="LLM roles (generator, agent, user, judge, simulator); none by default.")

    @field_validator("worlds")
    @classmethod
    def _builtin_names(cls, worlds: list[WorldRef]) -> list[WorldRef]:
        from agentfab.worlds.registry import BUILTIN

        for w in worlds:
            if isinstance(w, str) and w not in BUILTIN:
                raise ValueError(f"unknown world {w!r} (built-in: {', '.join(BUILTIN)}; or use {{declared: FILE}}, "
                                 "{python: MODULE}, {synthesize: {domains: N, seed: S}} or {openapi: FILE})")
        return worlds

    @model_validator(mode="after")
    def _distinct_worlds(self) -> "Recipe":
        keys = [json.dumps(w if isinstance(w, str) else w.model_dump(), sort_keys=True) for w in self.worlds]
        if len(set(keys)) != len(keys):
            raise ValueError("a world is listed twice")
        return self

    @model_validator(mode="after")
    def _roles_configured(self) -> "Recipe":
        if self.rollouts.agent == "llm" and self.models.agent is None:
            raise ValueError("rollouts.agent is llm but models.agent is missing (base_url, model, api_key_env)")
        if self.filters.judge.engine == "llm" and self.models.judge is None:
            raise ValueError("filters.judge.engine is llm but models.judge is missing (base_url, model, api_key_env)")
        if self.tasks.intents > 0 and self.models.generator is None:
            raise ValueError("tasks.intents > 0 needs models.generator (base_url, model), which proposes the intents")
        if any(isinstance(w, ToolsWorld) for w in self.worlds) and self.models.simulator is None:
            raise ValueError("worlds: a {tools: FILE} world has no implementation; set models.simulator (base_url, "
                             "model) so its calls are simulated")
        if self.models.user is not None and self.rollouts.agent != "llm":
            raise ValueError("models.user simulates the user for an LLM agent; set rollouts.agent: llm")
        return self

    @property
    def uses_llm(self) -> bool:
        return bool(self.models.roles())

    @property
    def n_shards(self) -> int:
        return math.ceil(self.records / self.shard_size)

    def shard_records(self, shard: int) -> int:
        return min(self.shard_size, self.records - shard * self.shard_size)

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    if len(loc) == 4 and loc[0] == "worlds" and loc[2] == "synthesize":
        return list(SynthesizeSettings.model_fields)
    model: Any = Recipe
    for part in loc[:-1]:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return []
        annotation = fields[part].annotation
        models = [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        annotation = models[0] if models else annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p in ("str", *WORLD_KINDS.values())))
    where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[") or "(top level)"
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc)
        return f"{where}: unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return f"{where}: required, but missing"
    ctx = error.get("ctx") or {}
    bounds = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values())) if ctx else "?"
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return f"{where}: must be {bounds[kind]} {limit}, got {given!r}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}, got {given!r}" if not isinstance(given, (dict, list)) else f"{where}: {message}"


def parse_recipe(data: Any, source: str = "recipe") -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe is a mapping of keys (name, seed, records, worlds, ...), "
                          f"got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A world entry fails every alternative of the union; report the most useful one.
        seen, lines = set(), []
        for e in errors:
            loc = e["loc"]
            if len(loc) > 2 and loc[0] == "worlds" and loc[2] in ("str", *WORLD_KINDS.values()):
                given = data["worlds"][loc[1]]
                kinds = [WORLD_KINDS[k] for k in given if k in WORLD_KINDS] if isinstance(given, dict) else []
                if len(kinds) == 1:  # the entry says which kind it is: report that kind's own errors, by field
                    if loc[2] != kinds[0]:
                        continue
                    line = _describe(e)
                    if e["type"] == "extra_forbidden" and len(loc) == 4:
                        kind = next(k for k, v in WORLD_KINDS.items() if v == kinds[0])
                        line += f" (allowed: {kind})"
                else:
                    line = (f"worlds[{loc[1]}]: must be a built-in world name, {{declared: FILE}}, "
                            f"{{python: MODULE}}, {{synthesize: {{domains: N, seed: S}}}} or {{openapi: FILE}}, "
                            f"got {given!r}")
            else:
                line = _describe(e)
            if line not in seen:
                seen.add(line)
                lines.append(f"{source}: {line}")
        raise RecipeError("\n".join(lines[:8])) from None


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[Recipe, Path]:
    """Read, apply CLI overrides (records, seed), validate. Returns the recipe and the folder it came from."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"{path}: no such recipe file (try data/recipes/quickstart.yaml)")
    try:
        text = path.read_bytes().decode("utf-8")
        data = load_yaml(text, path.name)
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not a text file (byte {exc.start} is not UTF-8); a recipe is YAML text") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except YamlInputError as exc:
        raise RecipeError(str(exc)) from None
    if isinstance(data, dict):
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return parse_recipe(data, path.name), path.parent.resolve()
