"""What a reply says when a call failed: what could not be done and why, in the world's own words (the error's
message as the cause), and the route taken instead when the user offered one.

- `failure_reply(tool, arguments, error, rng)`: "I couldn't block card CRD-5003: the card is already blocked."
- `alternative_reply(failed, error, done, rng)`: the plan changed after a failure; states the new route's facts.
"""

from __future__ import annotations

import random
import re
from typing import Any

from agentfab.generators.facts import Said
from agentfab.generators.language import action_text
from agentfab.generators.replies import reply
from agentfab.worlds.core import Tool, is_error


def failure_reply(tool: Tool, arguments: dict[str, Any], error: Any, rng: random.Random) -> str:
    """Telling the user plainly what could not be done and why (the error's own words as the cause)."""
    action = action_text(tool, arguments)
    cause = _cause_after(action, error_cause(error))
    return rng.choice((f"I couldn't {action}: {cause}.", f"I wasn't able to {action}, because {cause}.",
                       f"Sorry, I can't {action}: {cause}."))


def alternative_reply(failed: tuple[Tool, dict[str, Any]], error: Any, done: list[Said], rng: random.Random) -> str:
    """A failure that the agent routed around: what failed and why, then what it did instead and its facts."""
    tool, arguments = failed
    action = action_text(tool, arguments)
    cause = _cause_after(action, error_cause(error))
    first = rng.choice((f"I couldn't {action}: {cause}.", f"I wasn't able to {action}, because {cause}."))
    then = rng.choice(("So I went with the alternative you gave.", "As you suggested, I took the other option.",
                       "So I used your fallback instead."))
    return f"{first} {then} {reply(done, rng)}"


_SUBJECT = re.compile(r"([a-z]+(?: [a-z]+){0,2}) ([A-Z][A-Z0-9]*-\d+)(?= )")  # "policyholder PH-0002 still has"


def _cause_after(action: str, cause: str) -> str:
    """The cause without naming again the record the action names: "I couldn't delete the policyholder record for
    PH-0002: the policyholder still has 3 policies", not "... PH-0002: policyholder PH-0002 still has ..."."""
    m = _SUBJECT.match(cause)
    if m and _names(action, m.group(2)):
        return f"the {m.group(1)}{cause[m.end():]}"
    return cause


def _names(text: str, ident: str) -> bool:
    """`ident` stands in `text` with no word character (what a regex calls \\w: alphanumeric or '_') or '-' right
    before or after it, as a pattern compiled per id found it (~30 us a compile: every id is new)."""
    n, i = len(ident), text.find(ident)
    while i >= 0:
        before, after = text[i - 1:i], text[i + n:i + n + 1]
        if not (before and (before.isalnum() or before in "_-")) and not (after and (after.isalnum() or after in "_-")):
            return True
        i = text.find(ident, i + 1)
    return False


def cause_reason(cause: str) -> str:
    """What a reply must say of a cause whatever names its subject: "still has 3 policies (...)" of "policyholder
    PH-0002 still has 3 policies (...)" (the failed action names PH-0002 itself)."""
    m = _SUBJECT.match(cause)
    return cause[m.end() + 1:] if m else cause


def error_cause(error: Any) -> str:
    """The reason a call failed, as a clause: the message of an `{"error": ...}` result."""
    if is_error(error):
        message = str(error["error"].get("message", "")).strip().rstrip(".")
        first = message.split(" ", 1)[0]
        if first[1:] != first[1:].lower() or any(ch.isdigit() or ch == "-" for ch in first):
            return message  # it starts with an id ("P-113 is busy ..."): never lower-case an id
        return message[:1].lower() + message[1:] if message else "the service reported an error"
    return str(error).strip().rstrip(".")
