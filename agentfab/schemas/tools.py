"""ToolSpec: the contract every tool obeys, whatever produced it (built-in, declared, imported, LLM)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ToolSource = Literal["builtin", "declared", "synthesized", "python", "openapi", "mcp", "json", "llm"]


class ToolSpec(BaseModel):
    """One callable tool as an agent sees it, plus what agentfab needs to verify calls to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="Function name offered to the agent.")
    description: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(description="JSON Schema object of the arguments (OpenAI function tools).")
    returns: dict[str, Any] = Field(default_factory=dict, description="JSON Schema of the result.")
    domain: str
    source: ToolSource = "builtin"
    mutates: bool = Field(default=False, description="Does a successful call change the world's state?")

    def openai_tool(self) -> dict[str, Any]:
        """The `{"type": "function", "function": {...}}` form trainers and chat APIs read."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }
