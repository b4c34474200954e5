"""The client layer against a real OpenAI-compatible server on 127.0.0.1 (agentfab.llm.loopback), never a mock:
retries honour Retry-After, faults are survived or end in one clear error, the cache makes a re-run free,
structured answers are repaired or rejected with a code, and the agent executes (parallel) tool calls."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from agentfab.llm.agent import openai_tools, run_agent
from agentfab.llm.cache import RequestCache
from agentfab.llm.client import LLMError, RoleClient
from agentfab.llm.loopback import Fault, LoopbackServer, ScriptedModel
from agentfab.llm.roles import ParaphraseAnswer, paraphrase
from agentfab.llm.settings import RoleSettings
from agentfab.llm.structured import AnswerRejected, ask
from agentfab.schemas.codes import Reason, Refusal

SECRET = "sk-test-secret-0123456789"


@pytest.fixture
def server():
    with LoopbackServer(ScriptedModel()) as s:
        yield s


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("AGENTFAB_TEST_KEY", SECRET)


def settings(server: LoopbackServer, **over) -> RoleSettings:
    base = {"base_url": server.base_url, "model": "scripted", "api_key_env": "AGENTFAB_TEST_KEY", "max_retries": 3,
            "timeout": 5, "prices": {"input": 2.0, "output": 8.0}}
    return RoleSettings.model_validate(base | over)


def run(coro_fn, *args):
    """Run `coro_fn(client, *args)` with a fresh client (clients live inside one event loop)."""
    async def go():
        client = args[0]
        try:
            return await coro_fn(*args)
        finally:
            await client.close()
    return asyncio.run(go())


def client(server, cache: RequestCache | None = None, role: str = "agent", **over) -> RoleClient:
    return RoleClient(role, settings(server, **over), cache or RequestCache(None))


def hello(c: RoleClient, text: str = "hi"):
    return c.complete([{"role": "user", "content": text}])


def test_a_fixed_answer_is_returned_and_its_tokens_priced(server):
    server.faults.append(Fault("text", text="fixed answer"))
    c = client(server)
    answer = run(hello, c)
    assert answer.message["content"] == "fixed answer" and not answer.cached
    u = c.usage
    assert u.requests == u.answers == 1 and u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.cost_usd == pytest.approx((u.prompt_tokens * 2.0 + u.completion_tokens * 8.0) / 1e6)


def test_429_is_retried_after_the_servers_retry_after(server):
    server.faults.append(Fault("429", retry_after=0.4))
    c = client(server)
    started = time.perf_counter()
    run(hello, c)
    assert time.perf_counter() - started >= 0.4
    assert len(server.log) == 2 and c.usage.retries == 1 and c.usage.failures == {"llm.rate_limited": 1}


@pytest.mark.parametrize("fault,code", [(Fault("500"), "llm.server_error"), (Fault("drop"), "llm.connection"),
                                        (Fault("slow", seconds=1.5), "llm.timeout")])
def test_server_errors_lost_connections_and_timeouts_are_retried(server, fault, code):
    server.faults.append(fault)
    c = client(server, timeout=0.5)
    answer = run(hello, c)
    assert answer.message["content"] and c.usage.failures == {code: 1} and c.usage.answers == 1


def test_a_sustained_429_storm_slows_the_role_down_but_every_request_completes(server):
    server.storm_every = 2  # every second request is refused, for the whole run
    c = client(server, max_concurrency=8, max_retries=2)

    async def many(c):
        return await asyncio.gather(*(hello(c, f"q{i}") for i in range(40)))

    answers = run(many, c)
    assert len(answers) == 40 and all(a.message["content"] for a in answers)
    assert c.usage.answers == 40 and c.usage.failures["llm.rate_limited"] >= 15


def test_an_endpoint_that_never_answers_ends_with_one_clear_fatal_error():
    dead = RoleSettings(base_url="http://127.0.0.1:9/v1", model="m", max_retries=1, timeout=1)
    c = RoleClient("agent", dead, RequestCache(None))
    with pytest.raises(LLMError) as err:
        run(hello, c)
    assert err.value.fatal and err.value.code == "llm.connection"
    assert "agent endpoint http://127.0.0.1:9/v1" in str(err.value) and "never answered" in str(err.value)


def test_a_refused_key_is_fatal_at_once_and_the_key_is_not_in_the_message(server):
    server.faults.append(Fault("401"))
    c = client(server)
    with pytest.raises(LLMError) as err:
        run(hello, c)
    assert err.value.fatal and err.value.code == "llm.auth" and len(server.log) == 1
    assert SECRET not in str(err.value)


def test_a_missing_key_variable_names_the_field_and_the_variable(server, monkeypatch):
    monkeypatch.delenv("AGENTFAB_TEST_KEY")
    with pytest.raises(LLMError, match="models.judge.api_key_env: environment variable AGENTFAB_TEST_KEY is not set"):
        client(server, role="judge")


def test_the_cache_answers_a_repeated_request_without_the_server_even_in_a_new_process(server, tmp_path: Path):
    c = client(server, RequestCache(tmp_path, "w1"))
    first = run(hello, c)
    again = client(server, RequestCache(tmp_path, "w1"))  # a later run of the same writer reads its journal
    second = run(hello, again)
    assert len(server.log) == 1 and second.cached and second.message == first.message
    assert again.usage.requests == 0 and again.usage.cache_hits == 1
    assert SECRET not in "".join(p.read_text() for p in tmp_path.iterdir())


def test_a_journal_line_cut_by_a_kill_is_skipped(tmp_path: Path):
    (tmp_path / "w.jsonl").write_text('{"key": "a", "response": {"message": {"content": "x"}}}\n{"key": "b", "resp')
    assert set(RequestCache(tmp_path, "w").entries) == {"a"}


def test_structured_answers_send_the_json_schema_and_repair_invalid_json(server):
    server.faults.extend([Fault("text", text="{not json"), Fault("text", text='{"text": "fixed"}')])
    c = client(server)
    answer, attempts = run(ask, c, [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                           ParaphraseAnswer)
    assert answer.text == "fixed" and attempts == 2
    first, repair = server.log
    assert first["response_format"]["json_schema"]["schema"] == ParaphraseAnswer.model_json_schema()
    assert "not valid JSON" in repair["messages"][-1]["content"]


def test_schema_violations_are_re_asked_a_bounded_number_of_times_then_rejected_with_a_code(server):
    server.faults.extend([Fault("text", text='{"txt": 1}')] * 3)
    c = client(server, max_repairs=2)
    with pytest.raises(AnswerRejected) as err:
        run(ask, c, [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], ParaphraseAnswer)
    assert err.value.code == "llm.schema_violation" and err.value.attempts == 3 and len(server.log) == 3
    assert "text: Field required" in server.log[-1]["messages"][-1]["content"]


def test_the_prompt_contract_puts_the_schema_in_the_prompt_instead_of_response_format(server):
    c = client(server, structured="prompt", role="generator")
    made = run(paraphrase, c, "Show the balance of account 'ACC-1'.", ["ACC-1"])
    body = server.log[0]
    assert "response_format" not in body and '"text"' in body["messages"][0]["content"]
    assert made.code is None and "ACC-1" in made.text


def test_a_paraphrase_that_drops_a_value_is_refused_and_the_template_kept(server):
    server.responder = ScriptedModel(drop_values=True)
    c = client(server, role="generator")
    text = "Transfer 120.50 from 'ACC-1' to 'ACC-2'."
    made = run(paraphrase, c, text, ["120.50", "ACC-1", "ACC-2"])
    assert made.code == Refusal.DROPPED_VALUE and made.text == text and "120.50" in made.detail


def test_the_agent_executes_parallel_calls_and_sees_errors_as_observations(server):
    calls = [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}},
             {"id": "c2", "type": "function", "function": {"name": "add", "arguments": '{"a": 5'}}]
    server.responder = ScriptedModel({"add things": [
        {"role": "assistant", "content": "Adding both.", "tool_calls": calls},
        {"role": "assistant", "content": "1+2 is 3."}]})
    executed = []

    def execute(name, kwargs):
        executed.append((name, kwargs))
        return json.dumps({"sum": kwargs["a"] + kwargs["b"]})

    async def no_more(messages):
        return None

    c = client(server)
    spec_tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    result = run(run_agent, c, "add things", spec_tools, execute, no_more)
    assert executed == [("add", {"a": 1, "b": 2})]  # the call with broken JSON is never executed
    kinds = [(e["class_"], e.get("source"), e.get("tool_call_id")) for e in result.content]
    assert kinds == [("text_observation", "user", None), ("api_action", None, "c1"), ("api_action", None, "c2"),
                     ("text_observation", "environment", "c1"), ("text_observation", "environment", "c2"),
                     ("message_action", None, None)]
    assert '"error"' in result.content[4]["content"] and result.code is None
    assert server.log[0]["tools"] == spec_tools and server.log[1]["messages"][-1]["role"] == "tool"
    from agentfab.llm.cache import request_key

    # the tool list serialized once per list is the same canonical request: the cache keys are the sent bodies'
    assert [request_key(b) for b in server.log] == list(c.cache.entries)


def test_an_agent_that_never_finishes_stops_at_max_steps_with_a_code(server):
    loop = {"id": "c", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    server.responder = lambda body: {"role": "assistant", "content": None, "tool_calls": [loop]}

    async def no_more(messages):
        return None

    c = client(server)
    result = run(run_agent, c, "x", [], lambda n, k: "{}", no_more, 3)
    assert result.code == Reason.MAX_STEPS and len(server.log) == 3


def test_openai_tools_are_function_tools():
    from agentfab.worlds.registry import builtin_domain

    spec = builtin_domain("bank").tools[0].spec
    (tool,) = openai_tools([spec])
    assert tool == {"type": "function", "function": {"name": spec.name, "description": spec.description,
                                                     "parameters": spec.parameters}}


def test_requests_per_minute_paces_a_role(server):
    c = client(server, requests_per_minute=600, max_concurrency=16)  # one request every 100 ms

    async def many(c):
        return await asyncio.gather(*(hello(c, f"p{i}") for i in range(8)))

    started = time.perf_counter()
    run(many, c)
    assert time.perf_counter() - started >= 0.65 and len(server.log) == 8


def _changed_build_request(self, options, extra):  # a release whose private method takes other arguments
    raise AssertionError("never called: the call itself is refused")


@pytest.mark.parametrize("change", ["build_missing", "build_changed", "send_changed"])
def test_without_the_openai_clients_private_request_api_the_public_api_sends_the_same_requests(
        server, monkeypatch, change):
    from openai import _base_client

    from agentfab.llm import client as client_module

    with monkeypatch.context() as patch:
        if change == "build_missing":  # a release that renamed it
            patch.setitem(client_module.PRIVATE, "build", "_build_request_renamed")
        elif change == "build_changed":
            patch.setattr(_base_client.BaseClient, "_build_request_v9", _changed_build_request, raising=False)
            patch.setitem(client_module.PRIVATE, "build", "_build_request_v9")
        else:  # the HTTP client's method by that name takes (method, url): refused when called, before sending
            patch.setitem(client_module.PRIVATE, "send", "build_request")
        server.faults.extend([Fault("429", retry_after=0.05), Fault("500"),
                              Fault("text", text="through the public API")])
        c = client(server)
        assert c.private_api
        answer = run(hello, c)
        assert not c.private_api and answer.message["content"] == "through the public API"
        assert len(server.log) == 3 and c.usage.failures == {"llm.rate_limited": 1, "llm.server_error": 1}
        assert c.usage.answers == 1 and c.usage.prompt_tokens > 0
    # the private path sends the same body (the key only in a header)
    private = client(server)
    server.faults.append(Fault("text", text="x"))
    run(hello, private)
    assert private.private_api and server.log[-1] == server.log[0]


def test_a_refused_key_through_the_public_api_is_still_fatal(server, monkeypatch):
    from agentfab.llm import client as client_module

    monkeypatch.setitem(client_module.PRIVATE, "status_error", "_make_status_error_renamed")
    server.faults.append(Fault("401"))
    c = client(server)
    with pytest.raises(LLMError) as err:
        run(hello, c)
    assert err.value.code == "llm.auth" and err.value.fatal and not c.private_api


def test_the_gate_hands_a_freed_slot_to_the_conversation_furthest_along_first_in_order_among_equals():
    from agentfab.llm.client import Gate

    async def go():
        gate = Gate(1)
        await gate.acquire()
        order = []

        async def wait(name, priority):
            await gate.acquire(priority)
            order.append(name)
            gate.release()

        waiters = [asyncio.create_task(wait(n, p)) for n, p in
                   [("first-turn-a", -2), ("first-turn-b", -2), ("fourth-turn", -8), ("cancelled", -9)]]
        await asyncio.sleep(0)
        waiters[3].cancel()  # a waiter cancelled before its turn never holds the slot
        await asyncio.sleep(0)
        gate.release()
        await asyncio.gather(*waiters[:3])
        return order, gate.free

    order, free = asyncio.run(go())
    assert order == ["fourth-turn", "first-turn-a", "first-turn-b"] and free == 1
