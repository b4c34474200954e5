"""One role's connection to an OpenAI-compatible endpoint: the only place a request is sent.

Concurrency (a semaphore), pacing (requests and tokens per minute), retries with backoff on 429, 5xx, timeouts and
lost connections (honouring Retry-After), the disk cache and usage accounting all live here. The per-request work
in the event loop is kept small: the raw JSON answer is read once, never parsed into pydantic objects.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import heapq
import itertools
import os
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any, Coroutine, TypeVar

import anyio
import openai
import orjson

try:  # the transport of the installed openai client (httpx2 since openai 3)
    import httpx2 as transport
except ImportError:  # pragma: no cover - older openai clients
    import httpx as transport

try:  # private: the fast path of `_post`; the public API is the fallback when it is missing or changed
    from openai._models import FinalRequestOptions
except ImportError:  # pragma: no cover - depends on the installed openai
    FinalRequestOptions = None

from agentfab.llm.cache import RequestCache, canonical_request, request_key
from agentfab.llm.errors import LLMError
from agentfab.llm.settings import RoleSettings
from agentfab.llm.usage import RoleUsage

T = TypeVar("T")
MAX_WAIT = 60.0  # never sleep longer than this on one Retry-After


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh event loop: uvloop's where installed (less CPU per request in the loop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or a trimmed install
        return asyncio.run(work)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)


# the openai client's private attributes `_post_private` uses (names kept here, so a test can play a release that
# renamed or changed one): AsyncOpenAI's request builder and error maker, its HTTP client's send
PUBLIC_API_ENV = "AGENTFAB_LLM_PUBLIC_API"  # "1": every request through the public API, whatever is installed
PRIVATE = {"build": "_build_request", "send": "send", "status_error": "_make_status_error_from_response"}


class _PrivateAPIChanged(Exception):
    """The installed openai client lacks a private attribute `_post_private` uses, or it takes other arguments."""


class Gate:
    """A semaphore that hands a freed slot straight to the waiter of lowest priority value (FIFO among equals).

    `complete` waits with minus the conversation's length, so a record further along goes first: records in flight
    finish before new ones start, and a shard does not end with a tail of long conversations each a turn behind
    (with FIFO every record's k-th turn queued behind every record's first, and the last turns ran at a fraction
    of the concurrency)."""

    def __init__(self, slots: int):
        self.free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int = 0) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # handed a slot, then cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot goes to this waiter; `free` stays as it is
                return
        self.free += 1


@dataclass(frozen=True)
class Answer:
    message: dict[str, Any]  # the assistant message: content, tool_calls
    finish_reason: str | None
    cached: bool


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context (system trust store, SSL_CERT_* honoured), made once: building one reads the
    trust store and cost ~45 ms per client, and a shard makes a client per role for each of its LLM stages."""
    return transport.create_ssl_context()


def _http_client() -> Any:
    try:
        return openai.DefaultAioHttpClient(verify=tls_context())
    except (RuntimeError, ImportError):  # the aiohttp extra is missing: httpx's own transport
        return openai.DefaultAsyncHttpxClient(verify=tls_context())


class RoleClient:
    """Send chat completions for one role. Create and use it inside one running event loop."""

    def __init__(self, role: str, settings: RoleSettings, cache: RequestCache, usage: RoleUsage | None = None):
        self.role = role
        self.settings = settings
        self.cache = cache
        self.usage = usage or RoleUsage()
        self._gate = Gate(settings.max_concurrency)
        self._resume_at = 0.0  # a server's Retry-After holds every request of this role, not only the one refused
        self._next_slot = 0.0
        self._tokens = float(settings.tokens_per_minute or 0)
        self._tokens_at = time.monotonic()
        self._pending: dict[str, asyncio.Future] = {}
        self._tools: dict[int, tuple[list[dict[str, Any]], orjson.Fragment]] = {}
        try:
            key = settings.api_key()
        except KeyError as exc:
            raise LLMError("llm.no_key", f"models.{role}.api_key_env: environment variable {exc.args[0]} is not set; "
                           "export it before the build", fatal=True) from None
        self._client = openai.AsyncOpenAI(base_url=settings.base_url, api_key=key, max_retries=0,
                                          timeout=settings.timeout, http_client=_http_client())
        self._template: Any = None  # the chat-completions request as the openai client builds it, without a body
        # the openai client's private request API (fast); False once it turned out missing or changed, then the
        # public `chat.completions.with_raw_response.create` sends every request of this role
        self.private_api = FinalRequestOptions is not None and os.environ.get(PUBLIC_API_ENV, "") != "1"

    def _tools_json(self, tools: list[dict[str, Any]]) -> orjson.Fragment:
        """A task's tool list as canonical JSON, made once per list object (a domain hands every task offered the
        same tools the same list): the schemas are most of an agent request's bytes, sorted anew on every turn."""
        hit = self._tools.get(id(tools))
        if hit is None or hit[0] is not tools:  # the list is kept, so its id is not reused while cached
            hit = self._tools[id(tools)] = (tools, orjson.Fragment(orjson.dumps(tools, option=orjson.OPT_SORT_KEYS)))
        return hit[1]

    async def close(self) -> None:
        await self._client.close()

    def body(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None,
             response_format: dict[str, Any] | None = None) -> dict[str, Any]:
        s = self.settings.sampling
        body: dict[str, Any] = {"model": self.settings.model, "messages": messages, "temperature": s.temperature,
                                "top_p": s.top_p, "max_tokens": s.max_tokens}
        if s.seed is not None:
            body["seed"] = s.seed
        if tools:
            body["tools"] = tools
        if response_format is not None:
            body["response_format"] = response_format
        return body

    async def complete(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None,
                       response_format: dict[str, Any] | None = None) -> Answer:
        payload = self.body(messages, tools=tools, response_format=response_format)
        if tools:  # the same bytes canonical_request writes, serialized once per tool list
            payload["tools"] = self._tools_json(tools)
        body = canonical_request(payload)
        key = request_key(body)  # one serialization: the same bytes are hashed and sent
        hit = self.cache.get(key)
        if hit is None and key in self._pending:  # the same request already in flight: wait for its answer
            await asyncio.shield(self._pending[key])
            hit = self.cache.get(key)
        if hit is not None:
            self.usage.cache_hits += 1
            return Answer(hit["message"], hit.get("finish_reason"), True)
        future = self._pending[key] = asyncio.get_running_loop().create_future()
        try:
            data = await self._send(body, key, -len(messages))
        finally:
            del self._pending[key]
            future.set_result(None)
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        kept = {"message": {k: message[k] for k in ("content", "tool_calls") if message.get(k) is not None},
                "finish_reason": choice.get("finish_reason")}
        self.cache.put(key, kept)
        return Answer(kept["message"], kept["finish_reason"], False)

    async def _post(self, body: bytes) -> bytes:
        """POST /chat/completions and return the raw JSON answer, raising the openai client's errors."""
        if self.private_api:
            try:
                return await self._post_private(body)
            except _PrivateAPIChanged:
                self.private_api = False  # this openai release moved its internals: the public API from now on
        self.usage.public_api += 1
        return await self._post_public(body)

    async def _post_public(self, body: bytes) -> bytes:
        """The public API: the same request through `chat.completions.with_raw_response.create` (the body is parsed
        back into keyword arguments, and the client rebuilds its options, headers and URL per request)."""
        raw = await self._client.chat.completions.with_raw_response.create(**orjson.loads(body))
        return raw.content

    def _private_template(self) -> tuple[Any, ...]:
        try:
            built = getattr(self._client, PRIVATE["build"])(FinalRequestOptions.construct(
                method="post", url="/chat/completions", content=b"", headers={"Content-Type": "application/json"}))
            headers = transport.Headers([(k, v) for k, v in built.headers.multi_items()
                                         if k.lower() not in ("content-length", "x-stainless-retry-count")])
            send = getattr(self._client._client, PRIVATE["send"])
            status_error = getattr(self._client, PRIVATE["status_error"])
            if not (callable(send) and callable(status_error)):
                raise TypeError("the HTTP client's send or the status error maker is not callable")
            return built.url, headers, dict(built.extensions), send, status_error
        except (AttributeError, TypeError, ValueError) as exc:
            raise _PrivateAPIChanged(str(exc)) from exc

    async def _post_private(self, body: bytes) -> bytes:
        """POST /chat/completions through the openai client's own HTTP client, URL, headers (key included) and
        timeout, as `AsyncOpenAI.post` would send it, raising the same openai errors. The request is built by the
        client once per role and reused with each body: its per-request option copies, header merges and URL
        parsing cost twice the CPU of everything else a request does in the event loop. Private attributes that
        are missing or take other arguments raise `_PrivateAPIChanged` before anything is sent."""
        if self._template is None:
            self._template = self._private_template()
        url, headers, extensions, send, status_error = self._template
        request = transport.Request("POST", url, headers=headers, content=body, extensions=extensions)
        try:
            sending = send(request)
        except (AttributeError, TypeError) as exc:  # the call itself was refused: nothing went out
            raise _PrivateAPIChanged(str(exc)) from exc
        try:
            response = await sending
        except transport.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except (transport.HTTPError, ssl.SSLError, anyio.EndOfStream) as exc:  # what the client's post catches
            raise openai.APIConnectionError(request=request) from exc
        if response.status_code >= 400:
            raise status_error(response)
        return response.content

    async def _pace(self, body: bytes) -> None:
        s = self.settings
        now = time.monotonic()
        wait = self._resume_at - now
        if s.requests_per_minute:
            slot = max(now, self._next_slot)
            self._next_slot = slot + 60.0 / s.requests_per_minute
            wait = max(wait, slot - now)
        if s.tokens_per_minute:
            need = s.sampling.max_tokens + len(body) / 4
            rate = s.tokens_per_minute / 60.0
            self._tokens = min(float(s.tokens_per_minute), self._tokens + (now - self._tokens_at) * rate) - need
            self._tokens_at = now
            if self._tokens < 0:
                wait = max(wait, -self._tokens / rate)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _send(self, body: bytes, key: str, priority: int = 0) -> dict[str, Any]:
        s = self.settings
        jitter = random.Random(key)  # backoff spread, seeded: nothing here reaches a row
        attempt = limited = 0
        while True:
            await self._gate.acquire(priority)
            try:
                await self._pace(body)
                self.usage.requests += 1
                started = time.perf_counter()
                try:
                    data = orjson.loads(await self._post(body))
                    self.usage.answered(data.get("usage"), time.perf_counter() - started, s.prices)
                    if not isinstance(data.get("choices"), list) or not data["choices"]:
                        raise LLMError("llm.bad_response", f"{self.role}: the server answered without choices")
                    return data
                except (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError,
                        openai.RateLimitError, openai.APIStatusError, orjson.JSONDecodeError) as exc:
                    code, fatal = _classify(exc)
                    wait = _retry_after(exc)
                    brief = _brief(exc)
            finally:
                self._gate.release()
            self.usage.failures[code] += 1
            if code == "llm.bad_request":  # the same request would be refused again
                raise LLMError(code, f"{self.role} endpoint {s.base_url} refused the request: {brief}") from None
            if fatal:
                raise LLMError(code, f"{self.role} endpoint {s.base_url} refused the request: {brief}",
                               fatal=True) from None
            if code == "llm.rate_limited":
                limited += 1  # a 429 storm slows the role down; it gets a larger budget than other errors
                budget_left = limited <= 4 * s.max_retries
            else:
                attempt += 1
                budget_left = attempt <= s.max_retries
            if not budget_left:
                never = self.usage.answers == 0  # an endpoint that never answered is down, not flaky: stop
                raise LLMError(code, f"{self.role} endpoint {s.base_url}: {brief} (gave up after "
                               f"{attempt + limited} attempts{'; it never answered' if never else ''})",
                               fatal=never) from None
            self.usage.retries += 1
            backoff = min(20.0, 0.25 * 2 ** min(attempt + limited, 7)) * (0.5 + jitter.random())
            delay = min(MAX_WAIT, wait) if wait is not None else backoff
            if code == "llm.rate_limited":
                self._resume_at = max(self._resume_at, time.monotonic() + delay)
            await asyncio.sleep(delay)


def _classify(exc: Exception) -> tuple[str, bool]:
    if isinstance(exc, openai.APITimeoutError):
        # the aiohttp transport reports a refused or dropped connection as a connect timeout
        dropped = any(m in str(exc.__cause__).lower() for m in ("disconnect", "cannot connect"))
        return ("llm.connection" if dropped else "llm.timeout"), False
    if isinstance(exc, openai.APIConnectionError):
        return "llm.connection", False
    if isinstance(exc, orjson.JSONDecodeError):
        return "llm.bad_response", False
    status = getattr(exc, "status_code", 0)
    if status == 429:
        return "llm.rate_limited", False
    if status >= 500 or status in (408, 409):
        return "llm.server_error", False
    if status in (401, 403):
        return "llm.auth", True
    if status == 404:
        return "llm.not_found", True
    return "llm.bad_request", False


def _brief(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    cause = exc.__cause__ if exc.__cause__ is not None and str(exc.__cause__) else exc
    text = str(cause).splitlines()[0][:200] if str(cause) else ""
    return f"HTTP {status} {text}".strip() if status else f"{kind} {text}".strip()
