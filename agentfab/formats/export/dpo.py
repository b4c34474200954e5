"""Preference pairs for DPO (the `dpo` format): TRL's conversational preference type, with tools.

An accepted row and a rejected row of the same task_id make a pair: `{"prompt", "chosen", "rejected", "tools"}`,
messages shaped as in the `hf` format (arguments as objects). The prompt is every message before the first
assistant message (system and first user turn); chosen and rejected are the rest of each conversation. Only pairs
with both sides are written, and only when the prompts agree and the completions differ. A rejected row refused
only as a duplicate (`dedup.*`) is not a worse answer, so it is never used as `rejected`.

Load with `datasets.load_dataset("json", data_files=path, features=dpo_features())`, for the reason the `hf`
module gives.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Iterator

from agentfab.formats.export.chat import SkipRow, openai_tools
from agentfab.formats.export.hf import json_features, messages


def _split(row: dict[str, Any], reasoning: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    msgs = messages(row, reasoning=reasoning)
    first_agent = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), None)
    if first_agent is None:
        raise SkipRow("dpo.no_agent_turn", f"row {row.get('id')}: no assistant message to prefer")
    return msgs[:first_agent], msgs[first_agent:]


def export_pair(chosen: dict[str, Any], rejected: dict[str, Any], *, reasoning: bool = True) -> dict[str, Any]:
    prompt, good = _split(chosen, reasoning)
    rejected_prompt, bad = _split(rejected, reasoning)
    if prompt != rejected_prompt:
        raise SkipRow("dpo.prompt_mismatch", f"rows {chosen.get('id')} and {rejected.get('id')} start differently")
    if good == bad:
        raise SkipRow("dpo.identical", f"rows {chosen.get('id')} and {rejected.get('id')} answer the same way")
    return {"prompt": prompt, "chosen": good, "rejected": bad, "tools": openai_tools(chosen)}


def _passed(row: dict[str, Any]) -> bool:
    return bool((row.get("verification") or {}).get("passed"))


def _only_duplicate(row: dict[str, Any]) -> bool:
    reasons = (row.get("verification") or {}).get("reasons") or []
    return bool(reasons) and all(r.startswith("dedup.") for r in reasons)


def export_pairs(rows: Iterable[dict[str, Any]], *, reasoning: bool = True,
                 skipped: Counter | None = None) -> Iterator[dict[str, Any]]:
    """One record per usable rejected row, against the first accepted row of its task, in accepted-row order."""
    skipped = skipped if skipped is not None else Counter()
    accepted: dict[str, dict[str, Any]] = {}
    losers: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if _passed(row):
            accepted.setdefault(row["task_id"], row)
        elif _only_duplicate(row):
            skipped["dpo.duplicate_only"] += 1
        else:
            losers.setdefault(row["task_id"], []).append(row)
    for task_id in losers.keys() - accepted.keys():
        skipped["dpo.no_accepted"] += len(losers[task_id])
    for task_id, winner in accepted.items():
        for loser in sorted(losers.get(task_id, []), key=lambda r: r["id"]):
            try:
                yield export_pair(winner, loser, reasoning=reasoning)
            except SkipRow as exc:
                skipped[exc.code] += 1


def dpo_features() -> Any:
    """The features to pass to `datasets.load_dataset("json", ...)` for a `dpo` export."""
    return json_features("prompt", "chosen", "rejected", "tools")
