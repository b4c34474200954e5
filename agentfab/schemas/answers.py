"""How answer values are written and found in text: one rule for the renderer, the checker and the negatives.

A task's expected answers are normalized values (`normalize`); a reply states a value when the value occurs in
it as a whole token (`mentions`): "2" is not stated by "2026-12-02", "12.50" is not stated by "112.50".
"""

from __future__ import annotations

import json
import re
from typing import Any


def render_value(value: Any) -> str:
    """How a value is written in a query or an answer: the same text the answer check looks for."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if value is None:
        return "none"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def normalize(value: Any) -> str:
    return " ".join(render_value(value).lower().split())


def _pattern(value: str) -> re.Pattern[str]:
    # a token boundary: not inside a longer word, number or id (letters, digits, '.', '-', '_', '@' continue one)
    return re.compile(r"(?<![\w.@-])" + re.escape(value) + r"(?![\w@-]|\.\w)")


def mentions(text: str, value: str) -> bool:
    """Does `text` (any case, any spacing) state the normalized `value` as a whole token?"""
    return _pattern(value).search(" ".join(text.lower().split())) is not None


def replace_mentions(text: str, value: str, replacement: str) -> str:
    """`text` with every whole-token mention of `value` replaced (case-insensitively)."""
    flat = " ".join(text.split())
    return re.compile(_pattern(value).pattern, re.IGNORECASE).sub(replacement, flat)
