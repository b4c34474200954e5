"""How answer values are written and found in text: one rule for the renderer, the checker and the negatives.

A task's expected answers are normalized values (`normalize`); a reply states a value when the value occurs in
it as a whole token (`mentions`): "2" is not stated by "2026-12-02", "12.50" is not stated by "112.50". A zero is
said the way a person says it too: "Contact CON-46 has no activities" states the count 0, as "zero" does; "No, ..."
(a yes/no answer) and "no tool ..." do not. An enum value written as code is said in words: "in_transit" is
stated by "in transit".
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentfab.schemas.wording import plain_number


_CODE_WORDS = re.compile(r"[a-z]+(?:_[a-z]+)+")  # an enum value written as code: "closed_lost", "in_transit"


def render_value(value: Any, grouped: bool = False) -> str:
    """How a value is written in a query or an answer: the same text the answer check looks for. An enum value
    written as code reads as words ("closed lost"): the tool call keeps "closed_lost". Large numbers have thousands
    separators the way a person writes them: floats from 1,000.00, integers from 10,000 (a year stays 1976), and
    from 1,000 where the caller knows the number is a quantity (`grouped`: "3,836 minutes", never "1,976" for a
    year; `plain_number` says which); the answer check finds "3836" written either way."""
    if grouped and type(value) is int and 1000 <= abs(value) < 10_000:
        return f"{value:,}"
    if type(value) is str:  # the common case first
        return value.replace("_", " ") if "_" in value and _CODE_WORDS.fullmatch(value) else value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):  # money and measures: "1,204.50", "2,552,464.00"
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.2f}"
    if value is None:
        return "none"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, int) and abs(value) >= 10_000:  # "6,212,911 listeners"; a year or "1883 units" stays
        return f"{value:,}"
    return str(value)


def render_of_field(value: Any, field: str, described: str = "") -> str:
    """`render_value` of a value of `field` (`described`: its schema description): a whole number from 1,000 is
    grouped unless the field is a year or a label (`schemas.wording.plain_number`): "3,836 minutes", "built in
    1998"."""
    if type(value) is int and 1000 <= abs(value) < 10_000:
        return render_value(value, not plain_number(field, described))
    return render_value(value)


def normalize(value: Any) -> str:
    return " ".join(render_value(value).lower().split())


_CONTINUES = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_@-")
_NOT_BEFORE = _CONTINUES | {"."}  # a token does not start right after these


def _whole_token(text: str, i: int, j: int) -> bool:
    """Is text[i:j] a whole token: nothing that continues a token right before it or right after it? A thousands
    separator between digits continues a number: "836" and "3" are not said by "3,836"."""
    if i and (text[i - 1] in _NOT_BEFORE or _in_number(text, i - 1)):
        return False
    if j >= len(text):
        return True
    after = text[j]
    if after in _CONTINUES or after.isalnum() or _in_number(text, j):
        return False
    return not (after == "." and j + 1 < len(text) and (text[j + 1].isalnum() or text[j + 1] == "_"))


def _in_number(text: str, k: int) -> bool:
    """Is text[k] a comma between two digits ("3,836")?"""
    return text[k] == "," and 0 < k < len(text) - 1 and text[k - 1].isdigit() and text[k + 1].isdigit()


# "no activities", "zero": a zero count said in words. Not "no," or "no." (a yes/no answer), nor "no tool" (a
# reply declining a request), nor "no longer"/"no more" (not a quantity of anything).
_ZERO = re.compile(r"(?<![\w@.-])(?:zero(?![\w@-])|no (?!tool|longer|more|one\b)(?=[a-z]))")


def _spans(text: str, value: str) -> list[tuple[int, int]]:
    """Where `value` occurs in `text` as a whole token (both already lower-case and space-normalized)."""
    out: list[tuple[int, int]] = []
    if not value:
        return out
    if value == "0":
        out = [(m.start(), m.start() + (4 if m.group(0) == "zero" else 2)) for m in _ZERO.finditer(text)]
    grouped = _grouped(value)
    for said in (value, grouped) if grouped else (value,):
        n = len(said)
        i = text.find(said)
        while i >= 0:
            if _whole_token(text, i, i + n):
                out.append((i, i + n))
            i = text.find(said, i + 1)
    return sorted(out) if value == "0" or grouped else out


def flatten(text: str) -> str:
    """Lower case, single spaces: the form `mentioned` searches."""
    low = text.lower()
    # every white space character but " " is unprintable: a printable text with no double, leading or trailing
    # space is its own split-and-join (most replies), which need not be made again word by word
    if low.isprintable() and "  " not in low and low[:1] != " " and low[-1:] != " ":
        return low
    return " ".join(low.split())


def mentioned(flat_text: str, value: str) -> bool:
    """`mentions` for a text already passed through `flatten` (check many values against one reply)."""
    if not value:
        return False
    i = flat_text.find(value)
    if i >= 0:
        n = len(value)
        end = len(flat_text)
        while i >= 0:  # the first whole-token occurrence answers: `_whole_token` written out (called ~10 times
            j = i + n  # a record, most often on a value that is there)
            if not i or flat_text[i - 1] not in _NOT_BEFORE and not _in_number(flat_text, i - 1):
                if j >= end:
                    return True
                after = flat_text[j]
                if not (after in _CONTINUES or after.isalnum() or _in_number(flat_text, j)) and not (
                        after == "." and j + 1 < end and (flat_text[j + 1].isalnum() or flat_text[j + 1] == "_")):
                    return True
            i = flat_text.find(value, i + 1)
    if value == "0":
        return _ZERO.search(flat_text) is not None
    grouped = _grouped(value)
    return grouped is not None and mentioned(flat_text, grouped)


def _grouped(value: str) -> str | None:
    """"3,836" for "3836": a whole number from 1,000 to 9,999 as `render_value(..., grouped=True)` writes it (None for
    any other value)."""
    digits = value[1:] if value[:1] == "-" else value
    if len(digits) == 4 and digits.isdigit() and digits[0] != "0":
        return render_value(int(value), True)
    return None


def mention_count(flat_text: str, value: str) -> int:
    """How many times a text already passed through `flatten` states `value` as a whole token."""
    return len(_spans(flat_text, value))


def mentions(text: str, value: str) -> bool:
    """Does `text` (any case, any spacing) state the normalized `value` as a whole token?

    A token continues through letters, digits, '_', '@', '-', and a '.' followed by a letter or digit.
    """
    return mentioned(flatten(text), value)


def replace_mentions(text: str, value: str, replacement: str) -> str:
    """`text` (spaces normalized) with every whole-token mention of `value` replaced, in any case."""
    flat = " ".join(text.split())
    spans = _spans(flat.lower(), value)
    for i, j in reversed(spans):
        flat = flat[:i] + replacement + flat[j:]
    return flat
