"""The checks read each record once and scan less; every verdict, score and bank stays what it was.

A record's `Reading` is shared by verify, the judge and dedup: a verdict reached with it equals one reached without
it, for accepted rows and for every kind of deliberate negative. The rewritten patterns match what the originals
matched, and the value bank learns the tokens a scan of every text finds.
"""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from test_validators import tasks_for

from agentfab.generators.negatives import NEGATIVES, make_negative
from agentfab.generators.value_bank import ValueBank, tokens
from agentfab.schemas.codes import Reason
from agentfab.validators.judge import _CHECKABLE, _CHECKABLE_ASCII, _HEDGE, RuleJudge, _may_hedge
from agentfab.validators.reading import Reading
from agentfab.validators.verify import apply_judge, check
from agentfab.worlds.registry import BUILTIN

# the pattern as it was written before it opened with its character class
_CHECKABLE_AS_WRITTEN = re.compile(r"\b[A-Z]{1,5}-\d{2,}\b|(?<![\w.,])\d+(?:,\d{3})*\.\d{2}\b")
_TEXT = st.lists(st.sampled_from(list("ACZaz019٣.-_@ \n,:éΣ") + ["ACC-", "12.50", "FL-0207", "1,234", ",567.89"]),
                max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(_TEXT, max_size=4))
def test_the_checkable_pattern_finds_what_the_pattern_as_written_found(texts):
    for text in texts + ["\n".join(texts)]:
        assert _CHECKABLE.findall(text) == _CHECKABLE_AS_WRITTEN.findall(text)
        if text.isascii():  # the form the judge scans an ASCII text with
            assert _CHECKABLE_ASCII.findall(text) == _CHECKABLE_AS_WRITTEN.findall(text)
    # one scan over the replies joined by line breaks finds what a scan of each reply found, in order
    assert _CHECKABLE.findall("\n".join(texts)) == [v for t in texts for v in _CHECKABLE_AS_WRITTEN.findall(t)]


_HEDGES = ["i think", "i believe", "i guess", "i assume", "probably", "perhaps", "possibly", "presumably", "not sure",
           "not entirely sure", "not completely sure", "not quite sure", "it seems", "seems to be", "might be",
           "may be", "if i'm not mistaken", "as far as i can tell", "as far as i know"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_HEDGES + ["the", "sure", "x", " ", ".", "\n", "seem", "mayb"]), max_size=8))
def test_a_text_without_a_hedge_word_has_no_hedge(pieces):
    text = " ".join(pieces)
    if _HEDGE.findall(text):
        assert _may_hedge(text)
    for hedge in _HEDGES:  # each alternative of the pattern is one the words announce
        assert _HEDGE.findall(hedge) == [hedge] and _may_hedge(hedge)
    assert not _may_hedge("sure, account acc-1001 is open; make sure to keep it.")  # no hedge: no scan
    assert not _may_hedge("the thin ink; seem; mayb; assure")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text(alphabet=st.sampled_from(list("aZ0_.@:+'-\" {},\n\t\xa0\u2028é")), max_size=25),
                         max_size=4), max_size=6))
def test_the_bank_learns_every_token_a_scan_of_each_text_finds(rows):
    """Texts are cut at whitespace and quotes before the token scan: no token is lost or made up. The texts of
    several rows are cut at once when the vocabulary is next asked for; whether there is any token at all is known
    without a cut."""
    bank, batched = ValueBank(), ValueBank()
    expected: set[str] = set()
    for k, texts in enumerate(rows):
        content = [{"class_": "message_action", "content": t} for t in texts]
        bank.observe(content)
        batched.observe(content)
        expected |= tokens(content)
        assert bank.has_data == batched.has_data == bool(expected)
        assert bank.vocab == expected
        if k % 3 == 2:
            assert batched.vocab == expected
    assert batched.vocab == expected


def _records(world: str, n: int, seed: int = 5):
    """Oracle trajectories of every kind, each followed by every broken twin the negatives stage makes of it."""
    rng = random.Random(seed)
    bank = ValueBank()
    for domain, store, agent, task, rollout in tasks_for(world, n, seed):
        bank.observe(rollout.content)
        yield domain, store, task, rollout.content
        for name in NEGATIVES:
            made = make_negative(task, rollout.content, agent, rng, only=name, bank=bank)
            if made is not None:
                yield domain, store, task, made[1]


def test_a_shared_reading_gives_the_verdict_and_score_each_check_gives_alone():
    judge = RuleJudge()
    seen = {"passed": 0, "rejected": 0, "marked_down": 0}
    for world in BUILTIN:
        for domain, store, task, content in _records(world, 28):
            offered = {n: domain.tool(n) for n in task.tools}
            alone = check(task, content, offered, store)
            apply_judge(alone, task, content, judge, 3)
            reading = Reading(content)
            shared = check(task, content, offered, store, reading)
            apply_judge(shared, task, content, judge, 3, reading)
            assert (shared.reasons, shared.details, shared.facts, shared.judgement) == (
                alone.reasons, alone.details, alone.facts, alone.judgement)
            seen["passed" if alone.passed else "rejected"] += 1
            seen["marked_down"] += alone.judgement.score < 5
    assert min(seen.values()) >= 10, seen  # both sides, and scores below the top, were compared


def test_the_bank_learns_from_a_row_s_stored_events_what_it_learns_from_its_events():
    """`observe` given the events as the row stores them (the checks' reading) reads the same texts, tokens and calls
    as from the events' dicts, for accepted rows and every kind of broken twin; an event with a field that is neither
    text nor None falls back to the dicts (negative control: a list as a result's content)."""
    from agentfab.generators import value_bank
    from agentfab.validators.reading import STORED_FIELDS

    assert [STORED_FIELDS[i] for i in (1, 2, 3, 4)] == ["content", "function", "kwargs", "description"]
    assert (STORED_FIELDS[value_bank._CONTENT], STORED_FIELDS[value_bank._CALL_ID],
            STORED_FIELDS[value_bank._SOURCE]) == ("content", "tool_call_id", "source")
    rows = 0
    for world in BUILTIN:
        stored, walked, given = ValueBank(), ValueBank(), ValueBank()
        for _, _, _, content in _records(world, 14):
            reading = Reading(content)
            stored.observe(content, reading.call_keys, reading.stored)
            walked.observe(content, reading.call_keys)
            # the reading's results by call id, where every event from the environment is a tool result
            given.observe(content, reading.call_keys, reading.stored,
                          reading.observed if reading.results == reading.from_environment else None)
            assert stored.has_data == walked.has_data and stored._unparsed == walked._unparsed == given._unparsed
            assert stored._read ^ walked._read <= {"{}"}  # an empty object's arguments: no token either way
            rows += 1
        assert stored.vocab == walked.vocab
    odd = [{"class_": "text_observation", "source": "user", "content": "find ACC-1"},
           {"class_": "text_observation", "source": "environment", "content": ["ACC-1", "ok"], "tool_call_id": "c1"}]
    assert value_bank._stored_texts(Reading(odd).stored, set()) is None
    bank = ValueBank()
    bank.observe(odd, {}, Reading(odd).stored)
    assert bank.vocab == {"find", "ACC-1"}
    assert rows >= 100


def test_the_judge_still_marks_down_a_left_out_fact_when_the_checks_read_it_first():
    """Negative control of the judge's shortcut: the truth check saw a fact left out, so the judge counts."""
    judge = RuleJudge()
    for domain, store, task, content in _records("bank", 14):
        facts = [v for turn in task.user_turns for f in turn.facts for v in f.values]
        last = content[-1]
        if not facts or last.get("class_") != "message_action" or len(task.user_turns) != 1:
            continue
        value = facts[0]
        text = last["content"]
        cut = re.sub(re.escape(value), "", text, flags=re.IGNORECASE)
        if cut == text:
            continue
        broken = [*content[:-1], {**last, "content": cut}]
        reading = Reading(broken)
        offered = {n: domain.tool(n) for n in task.tools}
        v = check(task, broken, offered, store, reading)
        assert reading.all_facts_stated(task) is False and reading.all_facts_stated(task.model_copy()) is None
        apply_judge(v, task, broken, judge, 0, reading)
        assert "asked facts stated" in v.judgement.rationale and v.judgement.score < 5
        return
    raise AssertionError("no reply to cut a fact from")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["ACC-1077", "acc-1077", "12.50", "x", ".", "-", "_", "@", " ", "  ", "\n", "\t",
                                 "\xa0", "é", "1"]), max_size=12).map("".join),
       st.sampled_from(["acc-1077", "12.50", "1077", "x.1"]))
def test_a_value_without_spaces_is_found_in_a_lowered_text_as_in_its_flattened_form(text, value):
    """The judge looks for checkable values (ids, decimals) in the lowered texts without folding their spaces."""
    from agentfab.schemas.answers import flatten, mentioned

    assert mentioned(text.lower(), value) == mentioned(flatten(text), value)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(["a", "B", " ", "  ", "\n", "\t", "\r", "\xa0", "\u2028", "\u3000", "\u1680", "\x1c",
                                 "\x85", "\x0b", "x.", "\u0130", "\u03a3", "1"]), max_size=10).map("".join))
def test_flatten_is_the_lowered_text_split_and_joined(text):
    """A text that is its own split-and-join is returned lowered as it is: the same as splitting it anew."""
    from agentfab.schemas.answers import flatten

    assert flatten(text) == " ".join(text.lower().split())


_PIECE = st.sampled_from(["ACC-1077", "AB-99", "12.50", "2,552,464.00", "x", "\n", "\t", '"', "\\", " ", ".", "-",
                          "_", "é", "Σ", "1", ",", "/"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECE, max_size=8).map("".join),
       st.sampled_from([12.5, 2552464.0, 1077, 10000, True, None, "in_transit"]), st.booleans())
def test_a_result_s_values_beyond_its_text_ground_what_all_its_values_ground(string, other, ascii):
    """The judge's second look (a reply value no text states as it is) reads only what a result's text does not
    show already: the same values count as grounded as when it read every value of every result."""
    import json

    from agentfab.schemas.answers import mentioned
    from agentfab.validators.judge import _said, _said_by_others, _values_beyond_texts

    text = json.dumps({"a": string, "b": [string, other], "c": {"d": other}}, ensure_ascii=ascii)
    content = [{"class_": "text_observation", "source": "user", "content": "hi"},
               {"class_": "api_action", "function": "f", "kwargs": {}, "tool_call_id": "c1", "description": "x"},
               {"class_": "text_observation", "source": "environment", "content": text, "tool_call_id": "c1"},
               {"class_": "message_action", "content": "ok"}]
    read = Reading(content)
    every = " ".join(_said_by_others(content, read)).lower()
    beyond = " ".join(_said(content, read)).lower() + " " + " ".join(_values_beyond_texts(content, read)).lower()
    for value in ("acc-1077", "ab-99", "12.50", "2,552,464.00", "1,077", "10,000.00"):
        assert mentioned(every, value) == mentioned(beyond, value), (text, value)


_EVENT = st.fixed_dictionaries(
    {"class_": st.sampled_from(["api_action", "message_action", "text_observation", "code_action", "other"])},
    optional={"source": st.sampled_from(["user", "environment", "agent", None]),
              "content": st.sampled_from(["hi", "", None, '{"error": {"message": "no"}}']),
              "description": st.sampled_from(["why", "", " \n", None]),
              "tool_call_id": st.sampled_from(["c1", "c2"])})


@settings(max_examples=300, deadline=None)
@given(st.lists(_EVENT, max_size=12))
def test_a_reading_indexes_the_events_each_check_used_to_walk_for(content):
    """One pass finds what each walk over the events found, malformed events included."""
    from agentfab.validators.reading import turn_replies

    read = Reading(content)
    idx = list(enumerate(content))
    assert read.calls == [i for i, e in idx if e.get("class_") == "api_action"]
    assert read.messages == [i for i, e in idx if e.get("class_") == "message_action"]
    assert read.observations == [i for i, e in idx if e.get("class_") == "text_observation"]
    assert read.results == [i for i, e in idx if e.get("class_") == "text_observation"
                            and e.get("source") == "environment"]
    assert read.spoken == [i for i, e in idx if e.get("class_") == "message_action"
                           or (e.get("class_") == "text_observation" and e.get("source") == "user")]
    assert read.from_environment == [i for i, e in idx if e.get("source") == "environment"]
    assert read.from_user == [i for i, e in idx if e.get("source") == "user"]
    assert read.error_results == [i for i, e in idx if e.get("source") == "environment"
                                  and (e.get("content") or "").startswith('{"error"')]
    assert read.turn_replies == turn_replies(content)
    assert read.replies == [e.get("content") or "" for e in content if e.get("class_") == "message_action"]
    assert read.observed == {e.get("tool_call_id"): e.get("content") for e in content
                             if e.get("class_") == "text_observation" and e.get("source") == "environment"}
    assert read.silent_groups == sum(1 for i in read.calls if (i == 0 or content[i - 1].get("class_") != "api_action")
                                     and not (content[i].get("description") or "").strip())
    # the kinds differ where the events are odd: a call sourced from the environment is no tool result
    odd = Reading([{"class_": "api_action", "source": "environment"}, {"class_": "message_action", "source": "user"}])
    assert (odd.results, odd.from_environment, odd.from_user, odd.spoken) == ([], [0], [1], [1])


def test_check_calls_given_the_reading_s_argument_keys_finds_what_it_finds_alone():
    from agentfab.validators.structure import check_calls

    seen = 0
    for domain, store, task, content in _records("shop", 10):
        offered = {n: domain.tool(n) for n in task.tools}
        alone = check_calls(content, offered)
        assert check_calls(content, offered, Reading(content).call_keys) == alone
        seen += bool(alone)
    assert seen, "no record whose calls fail (unknown tool, bad arguments) was compared"


def test_the_bank_answers_unseen_again_from_what_it_has_read_since():
    """The last answer is kept for the same events only while the bank reads nothing more (negative control: a
    kept answer would still call 'gamma' unseen after a row that says it)."""
    bank = ValueBank()
    broken = [{"class_": "message_action", "content": "beta gamma"}]
    bank.observe([{"class_": "message_action", "content": "alpha beta"}])
    assert bank.unseen(broken) == {"gamma"}
    bank.unseen(broken).clear()  # a caller's copy: the kept answer stays whole
    assert bank.unseen(broken) == {"gamma"} == tokens(broken) - bank.vocab
    bank.observe([{"class_": "message_action", "content": "gamma"}])
    assert bank.unseen(broken) == set()



_PIECES = st.sampled_from(list("aZ0_.@:+'-\" {},\n\xa0é") + ["ACC-1", "acc", "x.y", "1.5"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(st.lists(_PIECES, max_size=12).map("".join), max_size=3),
                          st.integers(0, 3)), max_size=10))
def test_the_bank_calls_unseen_exactly_the_tokens_accepted_data_lacks(steps):
    """`unseen` is `tokens(content) - vocab` however the texts fall into chunks the vocabulary covers (only a
    perturbation's chunks the bank has not cut are scanned), whether the texts read since the last cut are cut then
    or not (negative control: a kept chunk whose token is not in the vocabulary would hide it)."""
    bank = ValueBank()
    expected: set[str] = set()
    for accepted, texts, ask in steps:
        content = [{"class_": "message_action", "content": t} for t in texts]
        if accepted:
            bank.observe(content)
            expected |= tokens(content)
        if ask == 1:
            _ = bank.vocab  # a cut between asks, as the stage's cuts fall
        assert bank.unseen(content) == tokens(content) - expected

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                     lambda inner: (st.lists(inner, max_size=3)
                                    | st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["get_x", "find_y", "a\u00e9\"b"]),
                          st.dictionaries(st.text(max_size=5), _JSON | st.decimals(allow_nan=False, places=2),
                                          max_size=3)), max_size=4))
def test_near_duplicate_features_from_the_written_arguments_are_the_features(steps):
    """A list's canonical JSON is its items' joined, also where orjson cannot write a value (the fallback)."""
    from types import SimpleNamespace

    from agentfab.validators.dedup import features
    from agentfab.worlds.core import canonical_json

    task = SimpleNamespace(plan=[SimpleNamespace(tool=t, arguments=a) for t, a in steps], user_turns=[])
    assert features(task, [canonical_json(a) for _, a in steps]) == features(task)


# check_events as it was written before a Reading's pass found the events' failures: the reference
_REQUIRED_AS_WRITTEN = {  # one or two fields each (check_events reads them without a loop)
    "api_action": ("function", "kwargs"),
    "code_action": ("language", "content"),
    "message_action": ("content",),
    "text_observation": ("content", "source"),
}


def _check_events_as_written(content: list[dict]) -> list:
    """ADP validity, role separation and the pairing of every call with exactly one result."""
    failures: list = []
    if not content:
        return [(Reason.INVALID_EVENT, "the trajectory has no events")]
    pending: dict[str, int] = {}
    seen: set[str] = set()
    for i, ev in enumerate(content):
        cls = ev.get("class_")
        required = _REQUIRED_AS_WRITTEN.get(cls)
        if required is None or ev.get(required[0]) is None or (len(required) > 1 and ev.get(required[1]) is None):
            failures.append((Reason.INVALID_EVENT, f"content[{i}] is not a valid ADP event: class_={cls!r}"))
            continue
        if cls == "api_action":
            if not isinstance(ev["kwargs"], dict):
                failures.append((Reason.INVALID_EVENT, f"content[{i}]: kwargs must be an object"))
            cid = ev.get("tool_call_id")
            if not cid:
                failures.append((Reason.ORPHAN_RESULT, f"content[{i}]: call to {ev['function']} has no tool_call_id"))
            elif cid in seen:
                failures.append((Reason.DUPLICATE_CALL_ID, f"content[{i}]: tool_call_id {cid} is used twice"))
            else:
                seen.add(cid)
                pending[cid] = i
        elif cls == "text_observation":
            source, cid = ev["source"], ev.get("tool_call_id")
            if source == "user":
                if cid is not None:
                    failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: a user turn carries tool_call_id {cid}"))
                if pending:
                    failures.append((Reason.TURN_ORDER, f"content[{i}]: user speaks while calls are unanswered"))
            elif source == "environment":
                if cid is None:
                    failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: environment text without tool_call_id"))
                elif cid not in pending:
                    failures.append((Reason.ORPHAN_RESULT,
                                     f"content[{i}]: result for {cid}, which no pending call made"))
                else:
                    del pending[cid]
            else:
                failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: observation from {source!r}"))
        elif cls == "message_action" and pending:
            failures.append((Reason.TURN_ORDER, f"content[{i}]: the agent replies while calls are unanswered"))
    for cid, i in pending.items():
        failures.append((Reason.UNANSWERED_CALL, f"content[{i}]: call {cid} never gets a result"))
    if content[0].get("class_") != "text_observation" or content[0].get("source") != "user":
        failures.append((Reason.TURN_ORDER, "the trajectory does not open with a user turn"))
    if content[-1].get("class_") != "message_action":
        failures.append((Reason.NO_FINAL_ANSWER, "the last event is not a message to the user"))
    return failures


_PAIRED_EVENT = st.fixed_dictionaries(
    {"class_": st.sampled_from(["api_action", "message_action", "text_observation", "code_action", "other"])},
    optional={"source": st.sampled_from(["user", "environment", "agent", None]),
              "content": st.sampled_from(["hi", None]), "function": st.sampled_from(["f", None]),
              "kwargs": st.sampled_from([{}, {"a": 1}, "x", None]), "language": st.sampled_from(["python", None]),
              "tool_call_id": st.sampled_from(["c1", "c2", "", None])})


@settings(max_examples=500, deadline=None)
@given(st.lists(_PAIRED_EVENT, max_size=8))
def test_a_reading_finds_the_failures_check_events_found(content):
    """One pass finds each failure of the events, in the order and words the separate walk found them."""
    from agentfab.validators.structure import check_events

    assert Reading(content).event_failures == _check_events_as_written(content) == check_events(content)
