"""Stable reason codes: every check a trajectory can fail, by stage. Rejected rows carry these codes."""

from __future__ import annotations

STAGES = ("schema", "exec", "truth", "rule", "judge", "dedup")

CODES: dict[str, str] = {
    "schema.invalid_event": "an event is not a valid ADP event (unknown class_ or missing field)",
    "schema.unknown_tool": "a call names a tool that was not offered",
    "schema.bad_arguments": "a call's arguments do not validate against the tool's JSON Schema",
    "exec.observation_mismatch": "a tool result differs from what replaying the call on a fresh world returns",
    "exec.error_unrecovered": "a call failed and no later call to that tool succeeded",
    "truth.missing_call": "a call the plan needs was never made successfully",
    "truth.wrong_arguments": "a needed tool was called, but never with the arguments the task requires",
    "truth.wrong_answer": "a reply does not state a value the user asked for",
    "truth.state_mismatch": "the final world state differs from the expected one (missing or collateral changes)",
    "truth.unexpected_call": "a tool was called although no offered tool fits the request",
    "truth.no_refusal": "the request cannot be served but the agent did not say so",
    "truth.no_clarification": "a required value was missing but the agent did not ask for it before acting",
    "rule.role_confusion": "user text marked as tool output, or a tool result marked as user text",
    "rule.orphan_result": "a tool result answers no earlier, unanswered call",
    "rule.unanswered_call": "a call never gets its result",
    "rule.duplicate_call_id": "two calls share one tool_call_id",
    "rule.turn_order": "events are out of order (no opening user turn, a reply while calls are pending, turns lost)",
    "rule.no_final_answer": "the trajectory does not end with a message to the user",
    "rule.repeated_call": "the same successful call was made twice",
    "rule.distractor_call": "a call to an offered tool the task does not need",
    "judge.low_score": "the judge's score is below the recipe's minimum",
    "dedup.exact_duplicate": "an identical trajectory was already accepted",
    "dedup.near_duplicate": "a trajectory with nearly the same calls or request was already accepted",
    "negative.escaped": "a deliberately broken trajectory passed every check (a validator bug; never written as accepted)",
}


def stage_of(code: str) -> str:
    return code.split(".", 1)[0]
