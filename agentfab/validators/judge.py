"""Judges score a trajectory 1..5 with a rationale. The rule-based judge runs offline; an LLM judge implements the
same `Judge` protocol, so a recipe switches engines without touching the pipeline.

The rule judge measures what differs between trajectories that all pass the hard checks: calls wasted against the
plan (a failed attempt costs half a point, each further one a full point: flailing is worse than one slip), calls
repeated, thoughts missing before a call, an error whose cause neither the next thought nor the reply that follows it names, reply values that no
observation or user turn contains (ungrounded), asked facts left out, replies that hedge about what the results
state ("I think", "probably"), and replies that are empty or bloated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from agentfab.schemas.answers import flatten, mentioned, render_value
from agentfab.schemas.tasks import Task
from agentfab.validators.reading import Reading, reading_of
from agentfab.worlds.core import canonical_json

Event = dict[str, Any]

# What an assistant says when it is not sure of what it tells the user: an answer read from a result never needs it.
_HEDGE = re.compile(r"\b(?:i think|i believe|i guess|i assume|probably|perhaps|possibly|presumably|not (?:entirely |"
                    r"completely |quite )?sure|it seems|seems to be|might be|may be|if i'm not mistaken|"
                    r"as far as i (?:can tell|know))\b")

# Values a reply states that must come from somewhere: ids ("ACC-1001", "FL-0207") and numbers with decimals, read
# whole with their thousands separators ("2,552,464.00"):
# r"\b[A-Z]{1,5}-\d{2,}\b|(?<![\w.,])\d+(?:,\d{3})*\.\d{2}\b", written to open with the character class every match
# starts with, so that the scan skips every other character at C speed (a pattern opening with \b tries each
# position); the lookbehinds after the first character say what \b and (?<![\w.,]) said before it. The same matches
# (a test compares the two).
_CHECKABLE = re.compile(r"[A-Z\d](?:(?<=[A-Z])(?<!\w[A-Z])[A-Z]{0,4}-\d{2,}\b"
                        r"|(?<=\d)(?<![\w.,]\d)\d*(?:,\d{3})*\.\d{2}\b)")
# The two patterns compiled ASCII-only: on a text that is all ASCII they find the same matches (\d, \w and \b differ only
# on other characters), testing a table per character instead of a Unicode category
# The ASCII form opens with [0-9A-Z_]: in ASCII \d is [0-9], and no match opens at '_' (each branch then looks
# behind for a letter or a digit), so the matches are the same; a class of three runs is tested as one bitmap
# per character, one of two runs as two ranges (the scan tests every character of the replies)
_CHECKABLE_ASCII = re.compile(_CHECKABLE.pattern.replace(r"[A-Z\d]", "[0-9A-Z_]", 1), re.ASCII)
_HEDGE_ASCII = re.compile(_HEDGE.pattern, re.ASCII)


def _may_hedge(low: str) -> bool:
    """Does `low` hold a word that every hedge _HEDGE matches holds? A text with none has no hedge (no need to run
    the pattern). "sure" is announced by what stands before it in a hedge ("not sure", "not entirely sure", "not
    quite sure"): a reply opening "Sure, ..." (17% of bench records) then runs no pattern. One substring search per
    word: a pattern over the words tried a match at every letter that opens one, 2.2x the instructions."""
    return ("think" in low or "believe" in low or "guess" in low or "assume" in low or "probably" in low
            or "perhaps" in low or "possibly" in low or "presumably" in low or "t sure" in low or "y sure" in low
            or "quite sure" in low or "seems" in low or "might be" in low or "may be" in low or "mistaken" in low
            or "as far as i" in low)


@dataclass(frozen=True)
class Judgement:
    score: float
    rationale: str


_CLEAR = Judgement(5.0, "clear reasoning, no wasted calls, grounded complete replies")  # nothing deducted


class Judge(Protocol):
    name: str

    def judge(self, task: Task, content: list[Event]) -> Judgement: ...


def _errors(content: list[Event], read: Reading) -> list[tuple[int, str]]:
    """(index, message) of every failed call's observation (the reading found them in its pass)."""
    out = []
    for i in read.error_results:
        text = content[i]["content"]
        try:
            try:
                error = orjson.loads(text)["error"]
            except orjson.JSONDecodeError:  # what json reads beyond JSON (NaN, Infinity) it still reads
                error = json.loads(text)["error"]
            out.append((i, str(error.get("message", ""))))
        except (ValueError, KeyError, TypeError, AttributeError):
            out.append((i, ""))
    return out


def _leaves(value: Any, out: list[str], strings: bool = True) -> list[str]:
    """Every scalar of `value` (but strings, unless `strings`) as replies write it, appended to `out` in order."""
    if isinstance(value, dict):
        for v in value.values():
            _leaves(v, out, strings)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out, strings)
    elif strings or type(value) is not str:
        out.append(render_value(value))
    return out


def _said(content: list[Event], read: Reading) -> list[str]:
    """The user turns and tool results as they are: `_said_by_others` without the values rewritten."""
    return [content[i].get("content") or "" for i in read.observations]


def _said_by_others(content: list[Event], read: Reading) -> list[str]:
    """Texts a reply may draw values from: user turns, and tool results with each value written as replies write it."""
    out = []
    for i in read.observations:
        e = content[i]
        text = e.get("content") or ""
        out.append(text)
        if e.get("source") == "environment":
            try:
                _leaves(orjson.loads(text), out)
            except orjson.JSONDecodeError:
                pass
    return out


def _values_beyond_texts(content: list[Event], read: Reading) -> list[str]:
    """What `_said_by_others` adds to `_said` for a value with no space, which a joined text states exactly when one
    of its texts does: each result's values as replies write them, less the strings of a result whose text has no
    backslash. Such a text holds each string as it is between quotes, and a quote beside a value stands as a space
    or a text's edge does, so the text states what the string alone would; numbers it writes otherwise (2552464.0
    for "2,552,464.00")."""
    out: list[str] = []
    for i in read.results:
        text = content[i].get("content") or ""
        try:
            _leaves(orjson.loads(text), out, "\\" in text)
        except orjson.JSONDecodeError:
            pass
    return out


def _cause_named(thought: str, message: str) -> bool:
    """Does a thought (or reply) name the error: its message, or the value the message blames?"""
    low = flatten(thought)
    cause = flatten(message).rstrip(".")
    if cause and cause in low:
        return True
    blamed = [w for w in re.findall(r"[A-Za-z]{1,5}-\d+|\d+\.\d+", message)]
    return bool(blamed) and all(w.lower() in low for w in blamed)


class RuleJudge:
    """Deducts points for what a reviewer would mark down; the scores spread over what really varies."""

    name = "rules"

    def judge(self, task: Task, content: list[Event], reading: Reading | None = None) -> Judgement:
        """`reading`: the record's reading of `content`, shared with the checks (one is made when None)."""
        read = reading_of(content, reading)
        deduct: list[tuple[float, str]] = []
        calls = read.calls
        silent = read.silent_groups
        if silent:
            deduct.append((1.0, f"{silent} call group(s) without reasoning"))
        errors = _errors(content, read)
        wasted = max(0, len(calls) - len(task.plan))
        if wasted:
            deduct.append((0.5 + (wasted - 1), f"{wasted} call(s) beyond the plan"))
        seen: set[object] = set()  # each call once: the calls beyond these repeat one
        keys = read.call_keys
        for i in calls:
            function, text = content[i].get("function"), keys.get(i)
            seen.add((function, text) if isinstance(function, str) and text is not None else canonical_json(
                [function, content[i].get("kwargs")]))  # the same equality as the canonical JSON of the pair
        repeats = len(calls) - len(seen)
        if repeats:
            deduct.append((0.5 * repeats, f"{repeats} repeated call(s)"))
        unexplained = 0
        for i, message in errors:
            after = next((e for e in content[i + 1:] if e.get("class_") in ("api_action", "message_action")), None)
            thought = (after or {}).get("description") or ""
            told = (after or {}).get("content") or "" if (after or {}).get("class_") == "message_action" else ""
            unexplained += not (_cause_named(thought, message) or _cause_named(told, message))
        if unexplained:
            deduct.append((0.5 * unexplained, f"{unexplained} error(s) whose cause the next thought never names"))
        deduct += self._replies(task, content, read)
        if not deduct:
            return _CLEAR
        score = max(1.0, 5.0 - sum(d for d, _ in deduct))
        notes = "; ".join(n for _, n in deduct)
        return Judgement(round(score * 2) / 2, notes)

    @staticmethod
    def _replies(task: Task, content: list[Event], read: Reading) -> list[tuple[float, str]]:
        out: list[tuple[float, str]] = []
        replies = read.replies
        if not replies or min(map(len, map(str.strip, replies))) < 10:
            out.append((2.0, "a reply is empty or too short to be useful"))
        elif max(map(len, replies)) > 4000:
            out.append((1.0, "a reply is over 4000 characters"))
        text = "\n".join(replies)  # neither pattern matches across a line break: one scan reads every reply
        low = text.lower()
        ascii = text.isascii()
        hedges = (_HEDGE_ASCII if ascii else _HEDGE).findall(low) if _may_hedge(low) else []
        checkable = set((_CHECKABLE_ASCII if ascii else _CHECKABLE).findall(text))  # each value looked for once
        sources = ""
        grounded = False
        if hedges:
            sources = flatten(" ".join(_said_by_others(content, read)))
        elif checkable:
            # the texts as they are usually state every value already; then adding each result's values as replies
            # write them cannot change the verdict (a checkable value has no space, so it never spans two texts).
            # No hedge to look for: lower case is enough, since a value without spaces is a whole token in a text
            # exactly when it is one in the text with its spaces folded (`flatten`)
            sources = " ".join(_said(content, read)).lower()
            grounded = True
            for v in checkable:
                if not mentioned(sources, v.lower()):
                    grounded = False
                    break
            if not grounded:  # the results' values as replies write them too (`_said_by_others`, for these values)
                sources += " " + " ".join(_values_beyond_texts(content, read)).lower()
        hedged = [h for h in hedges if h not in sources]  # a hedge word inside a value ("Maybe Tomorrow") is data
        if hedged:
            out.append((1.0, f"a reply hedges ({', '.join(hedged[:2])}) about what the results state"))
        ungrounded = [] if grounded else sorted({v for v in checkable if not mentioned(sources, v.lower())})
        if ungrounded:
            out.append((min(2.0, float(len(ungrounded))), f"reply states {', '.join(ungrounded[:3])}, which no "
                                                          "observation or user turn contains"))
        # the truth check found each fact stated in its own turn's reply: then all replies together state it too
        facts = [] if read.all_facts_stated(task) else [v for turn in task.user_turns for f in turn.facts
                                                         for v in f.values]
        if facts:
            said = flatten(" ".join(replies))
            share = sum(mentioned(said, v) for v in facts) / len(facts)
            if share < 1.0:
                out.append((round(2 * (1 - share) * 2) / 2 or 0.5, f"{share:.0%} of the asked facts stated"))
        return out
