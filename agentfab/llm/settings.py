"""Per-role model settings, as a recipe writes them under `models:`. The key itself never appears here: only the
name of the environment variable that holds it."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ROLES = ("generator", "agent", "user", "judge", "simulator")


class Prices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float = Field(0.0, ge=0, description="USD per million prompt tokens.")
    output: float = Field(0.0, ge=0, description="USD per million completion tokens.")
    cached_input: float | None = Field(None, ge=0, description="USD per million cached prompt tokens (default: input).")


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1, le=200_000)
    seed: int | None = Field(None, description="Sent to servers that honour it; part of the cache key either way.")


class RoleSettings(BaseModel):
    """One role's endpoint, model and limits."""

    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.")
    model: str = Field(min_length=1)
    api_key_env: str | None = Field(None, description="Name of the environment variable holding the key (never the key).")
    sampling: Sampling = Field(default_factory=Sampling)
    timeout: float = Field(60.0, gt=0, le=3600, description="Seconds per request before it is retried.")
    max_concurrency: int = Field(16, ge=1, le=4096, description="Requests in flight at once for this role.")
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    max_retries: int = Field(6, ge=0, le=100, description="Retries of one request on 429, 5xx, timeouts, lost connections.")
    structured: Literal["json_schema", "prompt"] = Field(
        "json_schema", description="json_schema: response_format with the schema; prompt: the schema in the prompt.")
    max_repairs: int = Field(2, ge=0, le=10, description="Re-asks with the validation error before an answer is rejected.")
    prices: Prices = Field(default_factory=Prices)

    @field_validator("base_url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError("must be an http(s) URL such as http://localhost:8000/v1")
        return url.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ValueError("must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not a key")
        return name

    def api_key(self) -> str:
        """The key from the environment; local servers take any placeholder."""
        if self.api_key_env is None:
            return "not-needed"
        value = os.environ.get(self.api_key_env)
        if not value:
            raise KeyError(self.api_key_env)
        return value


class ModelSettings(BaseModel):
    """The recipe's `models:` section: which roles use an LLM, and how."""

    model_config = ConfigDict(extra="forbid")
    generator: RoleSettings | None = None
    agent: RoleSettings | None = None
    user: RoleSettings | None = None
    judge: RoleSettings | None = None
    simulator: RoleSettings | None = None

    def roles(self) -> dict[str, RoleSettings]:
        return {r: s for r in ROLES if (s := getattr(self, r)) is not None}
