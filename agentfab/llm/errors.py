"""The error of an LLM request that failed for good, apart from the client that raises it: an offline build's
driver catches it (flows/build.py, shard_tasks.py, cli.py) without importing the openai client (0.3 s of CPU)."""

from __future__ import annotations

from typing import Any


class LLMError(RuntimeError):
    """A request that failed for good. `code` is a stable reason code; `fatal` stops the build (auth, bad model)."""

    def __init__(self, code: str, message: str, fatal: bool = False):
        super().__init__(message)
        self.code = code
        self.fatal = fatal

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries (shard workers) intact
        return (LLMError, (self.code, str(self), self.fatal))
