"""A disk cache of LLM answers keyed by the full request, so a repeated or resumed build asks nothing twice.

Each writer (one shard) appends to its own JSON-lines journal and flushes every answer as it arrives: a process
killed mid-shard loses at most the line being written, and the next run of that shard reads the journal back. The
request body never holds the key (that travels in a header), so neither does the cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

import orjson


def canonical_request(body: dict[str, Any]) -> bytes:
    """The request as sent: canonical JSON (sorted keys), so equal requests are equal bytes."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def request_key(body: dict[str, Any] | bytes) -> str:
    """sha256 of the canonical request: model, messages, tools, sampling, response format, seed."""
    return hashlib.sha256(body if isinstance(body, bytes) else canonical_request(body)).hexdigest()


class RequestCache:
    def __init__(self, folder: Path | None, writer: str = "main"):
        self.folder = folder
        self.writer = writer
        self.entries: dict[str, dict[str, Any]] = {}
        self._out: IO[bytes] | None = None
        if folder is not None and (folder / f"{writer}.jsonl").exists():
            # a shard reads only its own journal: its tasks are the same on every run, and a build of many shards
            # must not load every shard's answers into every worker
            self._load(folder / f"{writer}.jsonl")

    def _load(self, path: Path) -> None:
        for line in path.read_bytes().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:  # a line cut by a kill
                continue
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                self.entries[entry["key"]] = entry["response"]

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, response: dict[str, Any]) -> None:
        self.entries[key] = response
        if self.folder is None:
            return
        if self._out is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._out = open(self.folder / f"{self.writer}.jsonl", "ab")
        self._out.write(orjson.dumps({"key": key, "response": response}) + b"\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
