"""Stable reason codes: every check a trajectory can fail, by stage. Rejected rows carry these codes.

The codes live here, with the data contracts, because both sides need them: validators report them, generators
of deliberately broken trajectories name the code that must catch each break, and flows count them. A `Reason`
is a `str`, so it is written, compared and JSON-encoded as its stable text (`"truth.wrong_answer"`).
"""

from __future__ import annotations

from enum import StrEnum

# the funnel's stages, in the order a trajectory meets them
STAGES = ("schema", "exec", "truth", "rule", "judge", "dedup")


class _Described(StrEnum):
    """A code that is its stable text and carries its meaning: members are written `NAME = "code", "meaning"`."""

    description: str

    def __new__(cls, value: str, description: str) -> _Described:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


class Reason(_Described):
    INVALID_EVENT = "schema.invalid_event", "an event is not a valid ADP event (unknown class_ or missing field)"
    UNKNOWN_TOOL = "schema.unknown_tool", "a call names a tool that was not offered"
    BAD_ARGUMENTS = "schema.bad_arguments", "a call's arguments do not validate against the tool's JSON Schema"
    OBSERVATION_MISMATCH = ("exec.observation_mismatch",
                            "a tool result differs from what replaying the call on a fresh world returns")
    LLM_AGENT_FAILED = ("exec.llm_failed",
                        "the LLM agent's endpoint failed for good (after retries) before the trajectory ended")
    ERROR_UNRECOVERED = "exec.error_unrecovered", "a call failed and no later call to that tool succeeded"
    TOOL_RAISED = ("exec.tool_raised",
                   "a tool of a {python: module} world raised an exception (not a ToolError) while the record was "
                   "built or checked; the row's details keep its type, message and line")
    MISSING_CALL = "truth.missing_call", "a call the plan needs was never made successfully"
    WRONG_ARGUMENTS = ("truth.wrong_arguments",
                       "a needed tool was called, but never with the arguments the task requires")
    WRONG_ANSWER = "truth.wrong_answer", "a reply does not state a value the user asked for"
    INCOMPLETE_ANSWER = ("truth.incomplete_answer",
                         "a reply leaves out a fact the request asked to see (an intermediate step's included)")
    STATE_MISMATCH = ("truth.state_mismatch",
                      "the final world state differs from the expected one (missing or collateral changes)")
    UNEXPECTED_CALL = "truth.unexpected_call", "a tool was called although no offered tool fits the request"
    NO_REFUSAL = "truth.no_refusal", "the request cannot be served but the agent did not say so"
    NO_CLARIFICATION = ("truth.no_clarification",
                        "a required value was missing but the agent did not ask for it before acting")
    GUESSED_VALUE = ("truth.guessed_value",
                     "a call used a value the user had not given yet (missing or ambiguous): the agent guessed "
                     "instead of waiting for the answer to its question")
    ROLE_CONFUSION = "rule.role_confusion", "user text marked as tool output, or a tool result marked as user text"
    ORPHAN_RESULT = "rule.orphan_result", "a tool result answers no earlier, unanswered call"
    UNANSWERED_CALL = "rule.unanswered_call", "a call never gets its result"
    DUPLICATE_CALL_ID = "rule.duplicate_call_id", "two calls share one tool_call_id"
    TURN_ORDER = ("rule.turn_order",
                  "events are out of order (no opening user turn, a reply while calls are pending, turns lost)")
    NO_FINAL_ANSWER = "rule.no_final_answer", "the trajectory does not end with a message to the user"
    REPEATED_CALL = "rule.repeated_call", "the same successful call was made twice"
    MAX_STEPS = "rule.max_steps", "the LLM agent used its recipe's max_steps model turns without finishing"
    DISTRACTOR_CALL = "rule.distractor_call", "a call to an offered tool the task does not need"
    TEMPLATE_LEAK = ("rule.template_leak",
                     "a request or reply shows template residue: a placeholder, 'e.g', a raw field or tool name")
    LOW_SCORE = "judge.low_score", "the judge's score is below the recipe's minimum"
    LLM_JUDGE_FAILED = "judge.llm_failed", "the LLM judge's endpoint failed for good, so the row has no judgement"
    JUDGE_INVALID_ANSWER = ("judge.invalid_answer",
                            "the LLM judge's answers never validated against the rubric schema (after repairs)")
    EXACT_DUPLICATE = "dedup.exact_duplicate", "an identical trajectory was already accepted"
    NEAR_DUPLICATE = ("dedup.near_duplicate",
                      "a trajectory with nearly the same calls or request was already accepted")
    CONTAMINATED = ("dedup.contaminated",
                    "the request, the calls or an offered tool copies an item of a public evaluation set (e.g. BFCL)")
    NEGATIVE_ESCAPED = ("negative.escaped",
                        "a deliberately broken trajectory passed every check (a validator bug; never written as accepted)")
    # found only by `agentfab validate` (flows/revalidate.py), which re-checks a written dataset from its files
    TOOL_DRIFT = "schema.tool_drift", "an offered tool's parameters differ from the world's tool of that name today"
    DEDUP_UNFOUNDED = ("dedup.unfounded",
                       "a row rejected as a duplicate fails other checks, or its exact twin is not among the accepted")
    REJECTED_ROW_PASSED = ("recheck.rejected_row_passed",
                           "a row stored as rejected passes every check when validated again")

    @property
    def stage(self) -> str:
        return stage_of(self)


class Refusal(_Described):
    """A refused LLM answer that does not reject a row: the template text (or scripted user turn) is kept instead.
    Counted per shard in stats["llm"]["refused"], each listed in rejected/llm-answers-NNNNN.jsonl."""

    DROPPED_VALUE = "phrase.dropped_value", "a paraphrase lost or changed a value of the original text"
    DROPPED_FACT = ("phrase.dropped_fact",
                    "a paraphrased reply fails a truth check its template passed (a required fact lost or changed)")
    PHRASE_INVALID = "phrase.invalid_answer", "the generator's answers never validated (JSON, schema) after repairs"
    PHRASE_FAILED = "phrase.llm_failed", "the generator's endpoint failed for good"
    INTENT_UNKNOWN_TOOL = "intent.unknown_tool", "a proposed intent calls a tool the domain does not have"
    INTENT_BAD_ARGUMENTS = "intent.bad_arguments", "a proposed intent's arguments fail the tool's parameter schema"
    INTENT_UNSTATED_VALUE = ("intent.unstated_value",
                             "a proposed intent's request does not state one of its calls' argument values")
    INTENT_FAILED_CALL = "intent.failed_call", "a proposed intent's call failed on the task's world (composed instead)"
    INTENT_INVALID = "intent.invalid_answer", "the generator's intents never validated (JSON, schema) after repairs"
    INTENT_FAILED = "intent.llm_failed", "the generator's endpoint failed for good while proposing intents"
    USER_DROPPED_VALUE = "user.dropped_value", "the simulated user's message lost a value it had to convey"
    USER_EMPTY = "user.empty", "the simulated user said nothing"
    USER_FAILED = "user.llm_failed", "the user simulator's endpoint failed for good"


def stage_of(code: str) -> str:
    return code.split(".", 1)[0]


def describe(code: str) -> str:
    """The meaning of a code; empty for a code this version does not know (e.g. read from an older build)."""
    try:
        return Reason(code).description
    except ValueError:
        return ""
