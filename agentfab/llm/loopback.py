"""A small OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It answers like a scripted model (`ScriptedModel`: replays known-good agent turns, paraphrases, judges, plays the
user, simulates tools) and can be told to misbehave: 429 with Retry-After, 500, answers slower than the client's
timeout, dropped connections, invalid or schema-violating JSON, paraphrases that drop a value. Every request is
logged, so a test can prove what was (not) sent. Runs in a thread (`LoopbackServer`) or as a process
(`python -m agentfab.llm.loopback --script FILE --latency 0.1`), which keeps its CPU off the client's core.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson
from aiohttp import web

from agentfab.schemas.answers import render_value

Body = dict[str, Any]
Responder = Callable[[Body], Body]


@dataclass
class Fault:
    """Applied to the next matching request: kind is 429, 500, slow, drop, or text (a fixed content answer)."""

    kind: str
    role: str | None = None
    retry_after: float | None = None
    seconds: float = 0.0
    text: str = ""


def role_of(body: Body) -> str:
    system = next((m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "system"), "")
    for role, marker in (("generator", "You rewrite"), ("judge", "You grade"), ("user", "You play the user"),
                         ("simulator", "You simulate the tool"), ("domains", "You design"),
                         ("intents", "You propose tasks")):
        if system.startswith(marker):
            return role
    return "agent"


def _reply(content: str | None = None, tool_calls: list[Body] | None = None) -> Body:
    message: Body = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _between(text: str, start: str, end: str) -> str:
    i = text.find(start)
    j = text.find(end, i + len(start))
    return text[i + len(start):j] if i >= 0 and j >= 0 else ""


def _instance(schema: Any, seed: str) -> Any:
    """A value valid against a simple JSON Schema, derived from `seed` (the scripted tool simulator)."""
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    digest = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _instance(v, seed + k) for k, v in props.items()}
    if kind == "array":
        return [_instance(schema.get("items", {}), seed + "0")]
    if kind == "integer":
        return digest % 100
    if kind == "number":
        return (digest % 10000) / 100
    if kind == "boolean":
        return digest % 2 == 0
    return f"v{digest % 100000}"


PARAPHRASE_PREFIX = "Hello! "


@dataclass
class ScriptedModel:
    """Answers each role the way a competent model would, from a script of agent turns keyed by the first request.

    `agent_turns`: first user text -> the assistant messages of a good trajectory, in order.
    """

    agent_turns: dict[str, list[Body]] = field(default_factory=dict)
    judge_score: int = 5
    drop_values: bool = False  # the generator drops the first quoted or numeric value of the text
    drop_every: int = 0  # >0: only for about one text in n (chosen by the text's hash, so any order gives the same)
    bad_intents: bool = False  # proposed intents include one of each kind the checks must reject

    def __call__(self, body: Body) -> Body:
        role = role_of(body)
        return getattr(self, role)(body)

    def agent(self, body: Body) -> Body:
        msgs = body["messages"]
        first = next(m["content"] for m in msgs if m["role"] == "user")
        first = first.removeprefix(PARAPHRASE_PREFIX)
        turns = self.agent_turns.get(first)
        done = sum(1 for m in msgs if m["role"] == "assistant")
        if turns is None or done >= len(turns):
            return _reply("I am sorry, I cannot help with that.")
        return dict(turns[done])

    def generator(self, body: Body) -> Body:
        text = _between(body["messages"][-1]["content"], "<<<", ">>>")
        chosen = self.drop_every and int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % self.drop_every == 0
        if self.drop_values or chosen:
            text = re.sub(r"'[^']+'|\b\d[\d.,:-]*\b", "something", text, count=1)
        return _reply(json.dumps({"text": PARAPHRASE_PREFIX + text}))

    def judge(self, body: Body) -> Body:
        s = self.judge_score
        return _reply(json.dumps({"helpfulness": s, "grounding": s, "efficiency": s, "tone": s,
                                  "rationale": f"scripted judge: {s} on every criterion"}))

    def user(self, body: Body) -> Body:
        system = body["messages"][0]["content"]
        return _reply(_between(system, "NEXT MESSAGE <<<", ">>>"))

    def simulator(self, body: Body) -> Body:
        """A result valid against the returns schema, seeded by the whole request (call and state); a top-level
        field named like an argument or result field of a write in the state takes that write's value (the last
        one), as a consistent model's would."""
        text = body["messages"][-1]["content"]
        schema = json.loads(_between(text, "RETURNS <<<", ">>>") or "{}")
        result = _instance(schema, text)
        state = json.loads(_between(text, "STATE <<<", ">>>") or "{}")
        known: Body = {}
        for write in state.get("writes", []) if isinstance(state, dict) else []:
            if not isinstance(write, dict):
                continue
            known.update(write.get("arguments") or {})
            known.update(write["result"] if isinstance(write.get("result"), dict) else {})
        if isinstance(result, dict):
            for name, value in known.items():
                if name in result and type(value) is type(result[name]):
                    result[name] = value
        return _reply(json.dumps({"result": result}))

    def intents(self, body: Body) -> Body:
        """One intent per tool from its first example (its request states every value), then, with `bad_intents`,
        one naming an unknown tool, one whose arguments the schema refuses and one that leaves a value unsaid."""
        text = body["messages"][-1]["content"]
        tools = json.loads(_between(text, "TOOLS <<<", ">>>") or "[]")
        count = int(_between(text, "COUNT <<<", ">>>") or 4)
        good = [{"request": "Could you help me with " + " and ".join(render_value(v) for v in t["examples"][0].values())
                 + "?" if t["examples"][0] else "Could you help me, please?",
                 "calls": [{"tool": t["name"], "arguments": t["examples"][0]}]} for t in tools if t.get("examples")]
        intents = good[:max(1, count - 3) if self.bad_intents else count]
        if self.bad_intents and good:
            needy = next((t for t in tools if t["parameters"].get("required")), None)
            intents += [{"request": "Teleport me home.", "calls": [{"tool": "teleport_user", "arguments": {}}]},
                        {"request": "Do that thing.", "calls": [{"tool": needy["name"], "arguments": {}}]} if needy
                        else good[0],
                        {"request": "Please do it.", "calls": good[-1]["calls"]} if good[-1]["calls"][0]["arguments"]
                        else good[0]]
        return _reply(json.dumps({"intents": intents}))

    def domains(self, body: Body) -> Body:
        return _reply(_between(body["messages"][-1]["content"], "EXAMPLE <<<", ">>>"))


def agent_script(rows: list[Body]) -> dict[str, list[Body]]:
    """Agent turns from dataset rows (as `polars`/`pyarrow` read them): consecutive calls become one message with
    parallel tool_calls (the reasoning before them as its content), every agent message one message. Keyed by the
    row's first user text."""
    script: dict[str, list[Body]] = {}
    for row in rows:
        turns: list[Body] = []
        calls: list[Body] = []
        thought: str | None = None
        for ev in row["content"]:
            if ev["class_"] == "api_action":
                if not calls:
                    thought = ev.get("description")
                calls.append({"id": ev["tool_call_id"], "type": "function",
                              "function": {"name": ev["function"], "arguments": ev["kwargs"]}})
                continue
            if calls:
                turns.append(_reply(thought, calls))
                calls = []
            if ev["class_"] == "message_action":
                turns.append(_reply(ev["content"]))
        first = next(ev["content"] for ev in row["content"] if ev.get("source") == "user")
        script.setdefault(first, turns)
    return script


class LoopbackServer:
    """The server in a background thread. `faults` are consumed in order by matching requests; `log` holds every
    request body received, `answered` those that got a normal answer."""

    def __init__(self, responder: Responder | None = None, *, latency: float = 0.0, port: int = 0):
        self.responder = responder or ScriptedModel()
        self.latency = latency
        self.port = port
        self.faults: deque[Fault] = deque()
        self.storm_every = 0  # >0: every n-th request answers 429 (a sustained storm)
        self.storm_retry_after = 0.05
        self.log: list[Body] = []
        self.answered: list[Body] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _fault_for(self, body: Body) -> Fault | None:
        for i, f in enumerate(self.faults):
            if f.role is None or f.role == role_of(body):
                del self.faults[i]
                return f
        if self.storm_every and len(self.log) % self.storm_every == 0:
            return Fault("429", retry_after=self.storm_retry_after)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.log.append(body)
        fault = self._fault_for(body)
        if fault is not None:
            if fault.kind == "429":
                headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
                return web.json_response({"error": {"message": "rate limited", "type": "rate_limit"}}, status=429,
                                         headers=headers)
            if fault.kind == "500":
                return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=500)
            if fault.kind in ("401", "404"):
                return web.json_response({"error": {"message": "no", "type": "auth"}}, status=int(fault.kind))
            if fault.kind == "drop":
                assert request.transport is not None
                request.transport.abort()
                return web.Response()
            if fault.kind == "slow":
                await asyncio.sleep(fault.seconds)
        if self.latency:
            await asyncio.sleep(self.latency)
        message = _reply(fault.text) if fault is not None and fault.kind == "text" else self.responder(body)
        self.answered.append(body)
        prompt_tokens = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4 + 1
        completion_tokens = len(str(message.get("content") or message.get("tool_calls"))) // 4 + 1
        return web.Response(body=orjson.dumps({
            "id": f"cmpl-{len(self.log)}", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }), content_type="application/json")

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": len(self.log), "answered": len(self.answered)})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> "LoopbackServer":
        ready = threading.Event()

        def run() -> None:
            try:  # the server's loop is as cheap as the client's (benchmarks run it in its own process)
                import uvloop

                self._loop = uvloop.new_event_loop()
            except ImportError:  # pragma: no cover
                self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()
            self._loop.close()  # its handles released now, not left in reference cycles for a later collection

        self._thread = threading.Thread(target=run, name="loopback-llm", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)  # type: ignore[union-attr]
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--script", type=Path, help="JSON: first user text -> agent turns (see agent_script)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    script = json.loads(args.script.read_text()) if args.script else {}
    server = LoopbackServer(ScriptedModel(script), latency=args.latency, port=args.port).start()
    print(server.base_url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
