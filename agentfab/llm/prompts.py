"""Prompts are versioned data files (`llm/prompts/NAME.txt`, first line `version: N`); their hash goes in provenance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

PROMPT_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    text: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]

    @property
    def ref(self) -> str:
        """What a row's provenance records: name, version and content hash."""
        return f"{self.name}@v{self.version}:{self.hash}"

    def render(self, **values: str) -> str:
        return Template(self.text).substitute(values)


@lru_cache(maxsize=None)
def prompt(name: str) -> Prompt:
    raw = (PROMPT_DIR / f"{name}.txt").read_text()
    head, _, body = raw.partition("\n")
    if not head.startswith("version:"):
        raise ValueError(f"{name}.txt: the first line must be 'version: N'")
    return Prompt(name, head.split(":", 1)[1].strip(), body.strip() + "\n")
