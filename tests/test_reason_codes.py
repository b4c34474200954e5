"""Reason codes are one enum in schemas/: every code a module reports is registered there, with its meaning."""

from __future__ import annotations

import json
import re
from pathlib import Path

from agentfab.generators.negatives import EXPECTED_CODE
from agentfab.schemas.codes import STAGES, Reason, describe, stage_of

PACKAGE = Path(__file__).resolve().parents[1] / "agentfab"
CODE_LITERAL = re.compile(r"""["']((?:%s|negative|recheck)\.[a-z_]+)["']""" % "|".join(STAGES))


def test_no_module_spells_a_code_as_a_bare_string():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "codes.py":
            for code in CODE_LITERAL.findall(path.read_text()):
                found.setdefault(code, []).append(path.name)
    assert not found, f"use Reason members, not string literals: {found}"


def test_a_reason_is_its_stable_string_everywhere():
    code = Reason.WRONG_ANSWER
    assert code == "truth.wrong_answer" and f"{code}" == "truth.wrong_answer"
    assert json.dumps({code: [code]}) == '{"truth.wrong_answer": ["truth.wrong_answer"]}'
    assert Reason("truth.wrong_answer") is code and code.stage == stage_of(code) == "truth"
    assert describe(code) == code.description != "" and describe("no.such_code") == ""


def test_every_code_has_a_meaning_a_known_stage_and_a_unique_text():
    assert len({r.value for r in Reason}) == len(Reason)
    for r in Reason:
        assert r.description and r.stage in (*STAGES, "negative", "recheck"), r


def test_each_negative_names_a_registered_code():
    assert all(isinstance(code, Reason) for code in EXPECTED_CODE.values())
