"""The aiohttp application: the OpenAI chat-completions routes and the observation routes.

One request goes: auth, body, validation, plan (length and timing from the fingerprint),
content, admission (429 or in), fault draw, self-hosted queue, the emulated service time,
the response. Everything before the sleep is about ten microseconds of pure Python: the
per-model state (scopes, a constant plan when every distribution is fixed, the model's JSON
name) is built once per model name, the text is a slice of a pre-generated text, the body
is rendered from a template and a plain 200 completion is written to the socket as one
pre-rendered HTTP message (``_write_json_200``), and the request log takes a plain tuple.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from json.encoder import encode_basestring_ascii
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from multidict import CIMultiDict, CIMultiDictProxy

from mock_provider import content
from mock_provider.capacity import Refusal, Scope, admit
from mock_provider.determinism import fingerprint, rng
from mock_provider.faults import SightingCounter, fault_for
from mock_provider.latency import ServicePlan, plan_service, self_hosted_factor
from mock_provider.metrics import Metrics
from mock_provider.parsing import BadRequest, ChatRequest, error_body, parse_chat
from mock_provider.profile import ModelProfile, Profile
from mock_provider.request_log import RequestLog

log = logging.getLogger(__name__)

#: Status recorded when the client went away before the response was complete.
CLIENT_CLOSED = 499
#: Status recorded when no response was sent (dropped connection, hang).
NO_RESPONSE = 0
_ERROR_STATUS = {"error_500": 500, "error_502": 502, "error_503": 503, "error_504": 504}
_JSON = "application/json"
#: A completion in the exact bytes ``json.dumps`` gives for the same dict (keys in order).
_COMPLETION = (
    '{"id": "%s", "object": "chat.completion", "created": %d, "model": %s, "choices": '
    '[{"index": 0, "message": {"role": "assistant", "content": %s}, "logprobs": null, '
    '"finish_reason": "%s"}], "usage": {"prompt_tokens": %d, "completion_tokens": %d, '
    '"total_tokens": %d}}'
)


class ModelState:
    """What serving one model name needs, worked out once: its profile, scopes and plan."""

    __slots__ = ("name", "profile", "scopes", "fixed_plan", "name_json")

    def __init__(self, name: str, profile: ModelProfile, scopes: tuple[Scope, ...]) -> None:
        self.name = name
        self.profile = profile
        #: The capacity scopes the model falls under, server first.
        self.scopes = scopes
        latency, tokens = profile.latency, profile.output.tokens
        fixed = latency.ttft.dist == latency.per_token.dist == tokens.dist == "fixed"
        #: The plan of every request without ``max_tokens`` when nothing is random.
        self.fixed_plan = plan_service(profile, b"", None) if fixed else None
        self.name_json = encode_basestring_ascii(name)

    def plan(self, fp: bytes, max_tokens: int | None) -> ServicePlan:
        if max_tokens is None and self.fixed_plan is not None:
            return self.fixed_plan
        return plan_service(self.profile, fp, max_tokens)


class ProviderState:
    """Everything the handlers share: profile, seed, log, metrics and capacity scopes."""

    def __init__(self, profile: Profile, seed: int = 0, request_log: RequestLog | None = None):
        self.profile = profile
        self.seed = seed
        self.request_log = request_log if request_log is not None else RequestLog()
        self.metrics = Metrics()
        self.sightings = SightingCounter()
        now = time.monotonic()
        self.server_scope = Scope("server", profile.server, now) if profile.server.limited else None
        self._model_scopes: dict[str, Scope | None] = {}
        # Known limit: without ``models_only`` every distinct model name asked for keeps an
        # entry (and its own capacity scope) for the life of the server.
        self._models: dict[str, ModelState | None] = {}
        self._ids = itertools.count(1)

    def model_state(self, model: str) -> ModelState | None:
        """The state serving ``model``, or None when the profile does not serve it."""
        try:
            return self._models[model]
        except KeyError:
            pass
        model_profile = self.profile.model(model)
        state = None
        if model_profile is not None:
            state = ModelState(model, model_profile, tuple(self.scopes(model, model_profile)))
        self._models[model] = state
        return state

    def scopes(self, model: str, model_profile: ModelProfile) -> list[Scope]:
        """The capacity scopes a request for ``model`` falls under, server first."""
        if model not in self._model_scopes:
            cap = model_profile.capacity
            self._model_scopes[model] = Scope(model, cap, time.monotonic()) if cap.limited else None
        scope = self._model_scopes[model]
        return [s for s in (self.server_scope, scope) if s is not None]

    def next_id(self) -> str:
        return f"chatcmpl-{next(self._ids):09d}"

    def stats(self) -> dict[str, Any]:
        scopes = {name: s.snapshot() for name, s in self._model_scopes.items() if s is not None}
        return {
            "requests": self.metrics.by_model(),
            "in_flight": self.metrics.in_flight,
            "rate_limited": dict(self.metrics.rate_limited),
            "records": len(self.request_log),
            "capacity": {
                "server": self.server_scope.snapshot() if self.server_scope else None,
                "models": scopes,
            },
        }


STATE_KEY: web.AppKey[ProviderState] = web.AppKey("mock_provider_state", ProviderState)

Handler = Callable[[web.BaseRequest, ProviderState], Awaitable[web.StreamResponse]]


class Dispatcher:
    """The request handler of aiohttp's low-level server: a dict from (method, path) to route.

    Serving from ``web.Server`` rather than a ``web.Application`` skips the router's URL
    matching, the middleware chain and the per-request app bookkeeping, about a fifth of
    aiohttp's cost per request. Unknown paths and methods get the same 404 and 405 answers
    (text bodies, ``Allow`` header) as an application's router; GET routes answer HEAD too.
    """

    __slots__ = ("state", "_routes", "_allowed")

    def __init__(self, state: ProviderState) -> None:
        self.state = state
        routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/chat/completions"): chat_completions
        }
        allowed = {"/v1/chat/completions": "POST"}
        for path, handler in _GET_ROUTES.items():
            routes["GET", path] = routes["HEAD", path] = handler
            allowed[path] = "GET,HEAD"
        self._routes = routes
        self._allowed = allowed

    def __call__(self, request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        # Not a coroutine itself: the route's coroutine is awaited by aiohttp directly.
        route = self._routes.get((request.method, request.raw_path))
        if route is None:
            route = self._routes.get((request.method, request.path))
            if route is None:
                return self._unrouted(request)
        return route(request, self.state)

    async def _unrouted(self, request: web.BaseRequest) -> web.Response:
        allowed = self._allowed.get(request.path)
        if allowed is None:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(status=405, text="405: Method Not Allowed", headers={"Allow": allowed})


def create_server(state: ProviderState, **kwargs: Any) -> web.Server:
    """aiohttp's low-level server answering every route of ``state`` (what the mock runs).

    ``kwargs`` go to the connection handler (e.g. ``access_log=None``); the body size limit
    is the profile's ``max_body_bytes``.
    """
    limit = state.profile.max_body_bytes
    loop = asyncio.get_running_loop()

    def make_request(message, payload, protocol, writer, task) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, loop, client_max_size=limit
        )

    return web.Server(Dispatcher(state), request_factory=make_request, **kwargs)


def create_app(state: ProviderState) -> web.Application:
    """The same routes as a ``web.Application`` (kept for callers that want an app).

    The mock itself serves from ``create_server``, which is cheaper per request.
    """
    app = web.Application(client_max_size=state.profile.max_body_bytes)
    app[STATE_KEY] = state

    def route(handler: Handler) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            return await handler(request, state)

        return serve

    app.router.add_post("/v1/chat/completions", route(chat_completions))
    for path, handler in _GET_ROUTES.items():
        app.router.add_get(path, route(handler))
    return app


class _Sent:
    """What the handler returns after writing its response itself: aiohttp sends nothing more.

    aiohttp's connection loop only calls ``prepare`` and ``write_eof`` on what a handler
    returns and then reads ``keep_alive``; both answers are shared, immutable instances.
    An access logger (``create_app`` under a default ``AppRunner``) reads ``status``,
    ``body_length`` and ``headers``; known limit: it sees length 0 and no headers.
    """

    __slots__ = ("keep_alive",)
    status = 200
    prepared = True
    body_length = 0
    headers = CIMultiDictProxy(CIMultiDict())

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


_SENT_KEEP_ALIVE = _Sent(True)
_SENT_CLOSE = _Sent(False)


class _HttpDate:
    """The ``Date`` header value, formatted once a second."""

    second = -1
    text = ""

    @classmethod
    def at(cls, now: float) -> str:
        second = int(now)
        if second != cls.second:
            cls.text = formatdate(second, usegmt=True)
            cls.second = second
        return cls.text


async def _write_json_200(request: web.BaseRequest, served: _Served, body: bytes) -> _Sent:
    """Send a 200 JSON response as one pre-rendered HTTP/1.x message, straight to the socket.

    aiohttp's response objects (header multidict, status line and header rendering, the
    payload writer) cost about 15 us a request, a third of the mock's time at zero latency;
    this writes the same bytes (status line, Content-Type, Content-Length, Date, the
    Connection header aiohttp would send) in one ``transport.write``. Only the plain
    200 completion uses it; every other answer goes through ``web.Response``.
    """
    transport = request.transport
    if transport is None or transport.is_closing():
        served.done(CLIENT_CLOSED)
        return _SENT_CLOSE
    keep_alive = request.keep_alive
    version = request.version
    if version == HttpVersion11:
        head = "HTTP/1.1 200 OK\r\n" if keep_alive else "HTTP/1.1 200 OK\r\nConnection: close\r\n"
    else:
        connection = "Connection: keep-alive\r\n" if keep_alive else ""
        head = f"HTTP/{version.major}.{version.minor} 200 OK\r\n{connection}"
    head += (
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Date: {_HttpDate.at(time.time())}\r\n\r\n"
    )
    transport.write(head.encode() + body)
    if request.protocol.writing_paused:  # a client not reading: wait, as aiohttp would
        try:
            await request.writer.drain()
        except ConnectionError:
            served.done(CLIENT_CLOSED)
            return _SENT_CLOSE
    served.done(200)
    return _SENT_KEEP_ALIVE if keep_alive else _SENT_CLOSE


def _error(status: int, message: str, type: str, code: str | None = None, **headers: str):
    return web.Response(
        status=status,
        body=error_body(message, type, None, code),
        content_type=_JSON,
        headers=headers or None,
    )


def _authorized(request: web.BaseRequest, state: ProviderState) -> bool:
    key = state.profile.api_key
    return key is None or request.headers.get("Authorization") == f"Bearer {key}"


def _unauthorized() -> web.Response:
    return _error(
        401,
        "Incorrect API key provided: send 'Authorization: Bearer <key>'.",
        "invalid_request_error",
        "invalid_api_key",
    )


async def list_models(request: web.BaseRequest, state: ProviderState) -> web.Response:
    if not _authorized(request, state):
        return _unauthorized()
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "mock_provider"}
        for name in state.profile.models
    ]
    return web.json_response({"object": "list", "data": data})


async def health(request: web.BaseRequest, state: ProviderState) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.BaseRequest, state: ProviderState) -> web.Response:
    text = state.metrics.render()
    return web.Response(
        text=text,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


async def stats(request: web.BaseRequest, state: ProviderState) -> web.Response:
    return web.json_response(state.stats())


_GET_ROUTES: dict[str, Handler] = {
    "/v1/models": list_models,
    "/health": health,
    "/metrics": metrics,
    "/stats": stats,
}


async def chat_completions(request: web.BaseRequest, state: ProviderState) -> web.StreamResponse:
    """``POST /v1/chat/completions``: plain or streamed, with capacity and faults applied."""
    arrival = time.time()
    served = _Served(state, arrival, request.headers.get("X-DD-Tag"))
    try:
        return await _chat(request, state, served)
    except asyncio.CancelledError:
        # The client went away (or the server is stopping) before the response was done.
        if not served.end:
            served.done(NO_RESPONSE if served.fault else CLIENT_CLOSED)
        raise
    finally:
        served.finish()


class _Served:
    """The record of one request, filled in as it is served and logged exactly once."""

    __slots__ = (
        "state",
        "arrival",
        "tag",
        "request_id",
        "model",
        "start",
        "end",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "fault",
    )

    def __init__(self, state: ProviderState, arrival: float, tag: str | None) -> None:
        self.state = state
        self.arrival = arrival
        self.tag = tag
        self.request_id = ""
        self.model = ""
        self.start = arrival
        self.end = 0.0
        self.status = NO_RESPONSE
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.fault: str | None = None

    def done(self, status: int) -> None:
        self.status = status
        self.end = time.time()

    def finish(self) -> None:
        end = self.end or time.time()
        self.state.request_log.append_row(
            (
                self.request_id or self.state.next_id(),
                self.model,
                self.tag,
                self.arrival,
                self.start,
                end,
                self.status,
                self.prompt_tokens,
                self.completion_tokens,
                self.fault,
            )
        )
        self.state.metrics.observe(self.model, self.status, end - self.arrival)


async def _chat(request: web.BaseRequest, state: ProviderState, served: _Served):
    if not _authorized(request, state):
        served.done(401)
        return _unauthorized()

    try:
        chat = parse_chat(await _read_body(request, state.profile.max_body_bytes))
        served.model = chat.model
        model = state.model_state(chat.model)
        if model is None:
            raise BadRequest(
                404,
                f"The model {chat.model!r} does not exist; this server "
                f"serves {', '.join(sorted(state.profile.models))}.",
                param="model",
                code="model_not_found",
            )
        fp = fingerprint(state.seed, chat.model, chat.messages)
        plan = model.plan(fp, chat.max_tokens)
        words = content.prompt_words(chat.messages)
        text = _content_text(chat, fp, words, plan)
    except BadRequest as exc:
        served.model = served.model or exc.model
        served.done(exc.status)
        return web.Response(status=exc.status, body=exc.body(), content_type=_JSON)

    served.request_id = state.next_id()
    served.prompt_tokens = len(words)
    served.completion_tokens = plan.completion_tokens
    scopes = model.scopes
    if scopes:
        refusal = admit(scopes, served.prompt_tokens + plan.completion_tokens, time.monotonic())
        if refusal is not None:
            served.done(429)
            return _rate_limited(refusal, scopes)

    state.metrics.in_flight += 1
    acquired = []
    try:
        busy, slowdown = 1, 0.0
        for scope in scopes:
            if scope.slots is not None:
                busy = await scope.slots.acquire()
                acquired.append(scope.slots)
                slowdown = scope.profile.self_hosted.slowdown
        served.start = time.time()
        faults = model.profile.faults
        if faults.any:  # only then are sightings counted: nothing else reads them
            served.fault = fault_for(faults, fp, state.sightings.next(fp))
        factor = self_hosted_factor(busy, slowdown) if slowdown else 1.0
        headers = scopes[-1].headers() if scopes else None
        if served.fault is not None:
            return await _faulty(request, served, chat, plan, text, factor, faults, headers)
        if chat.stream:
            return await _stream(request, served, chat, plan, text, factor, headers or {})
        return await _plain(request, served, model, plan, text, factor, headers)
    finally:
        for slots in reversed(acquired):
            slots.release()
        for scope in scopes:
            scope.release()
        state.metrics.in_flight -= 1


async def _read_body(request: web.BaseRequest, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise BadRequest(
            413,
            f"request body of {length} bytes exceeds the limit of {limit} bytes",
            code="request_too_large",
        )
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadRequest(
            413, f"request body exceeds the limit of {limit} bytes", code="request_too_large"
        ) from None


def _content_text(chat: ChatRequest, fp: bytes, words: list[str], plan: ServicePlan) -> str:
    schema = None if chat.response_format is None else content.schema_of(chat.response_format)
    if schema is None:
        return content.completion_text(fp, words, plan.completion_tokens)
    try:
        return content.json_text(rng(fp, "content"), schema, words)
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        raise BadRequest(
            400,
            f"response_format.json_schema.schema cannot be satisfied: {exc}",
            param="response_format",
            code="invalid_value",
        ) from None


def _rate_limited(refusal: Refusal, scopes: list[Scope]) -> web.Response:
    scope = next(s for s in scopes if s.name == refusal.scope)
    headers = scope.headers()
    headers["Retry-After"] = str(max(1, math.ceil(refusal.retry_after)))
    headers["retry-after-ms"] = f"{refusal.retry_after * 1000:.3f}"
    message = (
        f"Rate limit reached for {refusal.limit} ({refusal.scope} scope); "
        f"retry after {refusal.retry_after:.3f} s."
    )
    return _error(429, message, "rate_limit_exceeded", "rate_limit_exceeded", **headers)


def completion_body(
    request_id: str,
    created: int,
    model_json: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> bytes:
    """A ``chat.completion`` JSON body; ``model_json`` is the model name already as JSON."""
    return (
        _COMPLETION
        % (
            request_id,
            created,
            model_json,
            encode_basestring_ascii(text),
            finish_reason,
            prompt_tokens,
            completion_tokens,
            prompt_tokens + completion_tokens,
        )
    ).encode()


def _body(served: _Served, model_json: str, text: str, finish: str) -> bytes:
    return completion_body(
        served.request_id,
        int(served.arrival),
        model_json,
        text,
        finish,
        served.prompt_tokens,
        served.completion_tokens,
    )


def _usage(served: _Served) -> dict[str, int]:
    return {
        "prompt_tokens": served.prompt_tokens,
        "completion_tokens": served.completion_tokens,
        "total_tokens": served.prompt_tokens + served.completion_tokens,
    }


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _send(request: web.BaseRequest, served: _Served, resp: web.StreamResponse):
    try:
        await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:
        served.done(CLIENT_CLOSED)
        return resp
    served.done(resp.status)
    return resp


async def _plain(request, served, model, plan, text, factor, headers):
    delay = plan.ttft + plan.completion_tokens * plan.per_token
    if delay > 0:
        await _sleep_until(served.start + delay * factor)
    body = _body(served, model.name_json, text, plan.finish_reason)
    if headers:
        resp = web.Response(body=body, content_type=_JSON, headers=headers)
        return await _send(request, served, resp)
    return await _write_json_200(request, served, body)


def _chunk(served: _Served, chat: ChatRequest, delta: dict[str, Any], finish: str | None) -> bytes:
    event = {
        "id": served.request_id,
        "object": "chat.completion.chunk",
        "created": int(served.arrival),
        "model": chat.model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


async def _stream(request, served, chat, plan, text, factor, headers):
    """Server-sent events: role, then one content chunk per word on the token clock."""
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers}
    )
    pieces = text.split(" ") if text else []
    pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]
    ttft = plan.ttft * factor
    # The pieces (words, or JSON fragments) share the token time of the planned length.
    step = plan.per_token * factor * plan.completion_tokens / max(1, len(pieces))
    try:
        await resp.prepare(request)
        pending = [_chunk(served, chat, {"role": "assistant", "content": ""}, None)]
        for i, piece in enumerate(pieces):
            # Spread the tokens over the service time; chunks already due go out together.
            deadline = served.start + ttft + i * step
            if deadline - time.time() > 0.0005:
                await resp.write(b"".join(pending))
                pending = []
                await _sleep_until(deadline)
            pending.append(_chunk(served, chat, {"content": piece}, None))
        await resp.write(b"".join(pending))
        await _sleep_until(
            served.start + (plan.ttft + plan.completion_tokens * plan.per_token) * factor
        )
        tail = _chunk(served, chat, {}, plan.finish_reason)
        if chat.include_usage:
            usage = {
                "id": served.request_id,
                "object": "chat.completion.chunk",
                "created": int(served.arrival),
                "model": chat.model,
                "choices": [],
                "usage": _usage(served),
            }
            tail += b"data: " + json.dumps(usage).encode() + b"\n\n"
        await resp.write(tail + b"data: [DONE]\n\n")
        await resp.write_eof()
    except ConnectionError:
        served.done(CLIENT_CLOSED)
        return resp
    served.done(200)
    return resp


async def _faulty(request, served, chat, plan, text, factor, faults, headers):
    """Serve the fault drawn for this request (see docs/mock_provider.md for timings)."""
    fault = served.fault
    if fault in _ERROR_STATUS:
        status = _ERROR_STATUS[fault]
        served.completion_tokens = 0
        resp = _error(
            status,
            f"The server had an error while processing your request (injected fault {fault}).",
            "server_error",
            fault,
        )
        return await _send(request, served, resp)

    if fault in ("hang", "drop"):
        if fault == "hang":
            await asyncio.sleep(faults.hang_seconds)
        served.completion_tokens = 0
        served.done(NO_RESPONSE)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)

    model = served.state.model_state(chat.model)
    if fault == "empty":
        served.completion_tokens = 0
        if chat.stream:
            return await _stream(request, served, chat, plan, "", factor, headers or {})
        return await _plain(request, served, model, plan, "", factor, headers)

    # malformed: a 200 whose body is cut off in the middle of the JSON.
    await _sleep_until(served.start + plan.service_time * factor)
    body = _body(served, model.name_json, text, plan.finish_reason)
    broken = body[: max(1, len(body) // 2)]
    if chat.stream:
        resp = web.Response(
            body=b"data: " + broken + b"\n\ndata: [DONE]\n\n", content_type="text/event-stream"
        )
    else:
        resp = web.Response(body=broken, content_type=_JSON)
    return await _send(request, served, resp)
