"""The evaluation sets a build is checked against, read from packages on PyPI, indexed once and cached.

BFCL (Berkeley Function Calling Leaderboard) ships its test data inside the `bfcl-eval` wheel. Installing that
package would pull in torch (sentence-transformers), faiss and a pinned numpy 1.26, so agentfab reads the data from
the wheel file itself: from an installed `bfcl_eval` if there is one, otherwise from the wheel fetched once with
`pip download --no-deps bfcl-eval==VERSION` (an ordinary PyPI download, 1.9 MB, nothing installed). The index
built from it is cached under the agentfab cache folder keyed by the benchmark version, so later builds load it in
milliseconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterator

from agentfab.validators.contamination import BenchmarkItem, ContaminationIndex

BFCL_VERSION = "2026.3.23"
INDEX_FORMAT = 1


class BenchmarkUnavailable(RuntimeError):
    """The benchmark data could not be read or fetched; the message says why and what to do."""


def cache_dir() -> Path:
    base = os.environ.get("AGENTFAB_CACHE") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                                   / "agentfab")
    return Path(base) / "benchmarks"


def _bfcl_files() -> tuple[str, Iterator[tuple[str, bytes]]]:
    """(label, iterator of (path under data/, bytes)) for BFCL's test files."""
    try:
        from importlib import metadata, resources

        version = metadata.version("bfcl-eval")
        root = resources.files("bfcl_eval") / "data"

        def installed() -> Iterator[tuple[str, bytes]]:
            for sub in ("", "possible_answer/", "multi_turn_func_doc/"):
                folder = root / sub if sub else root
                for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                    if entry.name.endswith(".json"):
                        yield sub + entry.name, entry.read_bytes()

        return f"bfcl-eval {version}", installed()
    except (ImportError, metadata.PackageNotFoundError, FileNotFoundError):
        pass
    folder = cache_dir()
    wheel = folder / f"bfcl_eval-{BFCL_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                               f"bfcl-eval=={BFCL_VERSION}", "-d", str(folder)], capture_output=True, text=True)
        if done.returncode != 0 or not wheel.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BenchmarkUnavailable(f"could not fetch bfcl-eval=={BFCL_VERSION} from PyPI ({tail[0]}); "
                                       f"`pip install --no-deps bfcl-eval` or put its wheel in {folder}")

    def from_wheel() -> Iterator[tuple[str, bytes]]:
        with zipfile.ZipFile(wheel) as z:
            for name in sorted(z.namelist()):
                if not name.startswith("bfcl_eval/data/") or not name.endswith(".json"):
                    continue
                rel = name[len("bfcl_eval/data/"):]
                if rel.count("/") == 0 or rel.startswith(("possible_answer/", "multi_turn_func_doc/")):
                    if rel.count("/") <= 1:
                        yield rel, z.read(name)

    return f"bfcl-eval {BFCL_VERSION}", from_wheel()


def _records(data: bytes) -> Iterator[dict[str, Any]]:
    """JSON Lines of test items; a file that is one JSON document (an id list, a config) holds none."""
    text = data.decode("utf-8")
    if not text.lstrip().startswith("{") or text.lstrip().startswith("{\n"):
        return
    for line in text.splitlines():
        if line.strip():
            rec = json.loads(line)
            if isinstance(rec, dict) and "id" in rec:
                yield rec


def _texts(question: Any) -> list[str]:
    """BFCL questions: a list of turns, each a list of messages; user messages' text."""
    out: list[str] = []
    for turn in question or []:
        for message in turn if isinstance(turn, list) else [turn]:
            if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
                out.append(message["content"])
    return out


def bfcl_items() -> tuple[str, list[BenchmarkItem]]:
    label, files = _bfcl_files()
    items: dict[str, BenchmarkItem] = {}
    answers: dict[str, list[dict[str, Any]]] = {}
    docs: list[dict[str, Any]] = []
    for rel, data in files:
        if rel.startswith("multi_turn_func_doc/"):
            docs.extend(_records(data))
            continue
        for rec in _records(data):
            if rel.startswith("possible_answer/"):
                truth = rec.get("ground_truth")
                if isinstance(truth, list) and all(isinstance(c, dict) for c in truth):
                    answers[rec["id"]] = truth
                continue
            item = items.setdefault(rec["id"], BenchmarkItem(label, rec["id"]))
            item.texts.extend(_texts(rec.get("question")))
            item.functions.extend(f for f in rec.get("function") or [] if isinstance(f, dict) and "name" in f)
    for item_id, truth in answers.items():
        items.setdefault(item_id, BenchmarkItem(label, item_id)).calls.append(truth)
    if docs:
        items["multi_turn_func_doc"] = BenchmarkItem(label, "multi_turn_func_doc", functions=docs)
    return label, list(items.values())


def contamination_index() -> ContaminationIndex:
    """The cached index (built on first use); raises BenchmarkUnavailable when the data cannot be had."""
    path = cache_dir() / f"contamination-{INDEX_FORMAT}-bfcl-{BFCL_VERSION}.npz"
    if path.exists() and path.with_suffix(".json").exists():
        return ContaminationIndex.load(path)
    _, items = bfcl_items()
    index = ContaminationIndex.from_items(items)
    path.parent.mkdir(parents=True, exist_ok=True)
    index.save(path)
    return index
