"""Reading and validating a chat-completions request body, and OpenAI-style error bodies.

Every defect of a request becomes a ``BadRequest`` carrying a 4xx status and a message that
names the field, so no input can make the server answer 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple


class BadRequest(Exception):
    """A request the mock refuses: an HTTP status and an OpenAI-style error."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        #: The request's model when it was readable, for the request log.
        self.model = ""

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> bytes:
    """``{"error": {"message", "type", "param", "code"}}`` as bytes."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


class ChatRequest(NamedTuple):
    """The parts of a chat-completions body that the mock acts on (a tuple: cheap to make)."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    response_format: Mapping[str, Any] | None = None


_RESPONSE_FORMATS = ("text", "json_object", "json_schema")
_scan_once = json.JSONDecoder().scan_once


def _loads(body: bytes) -> Any:
    """``json.loads(body)``, a third of its cost for the common body: compact UTF-8 JSON.

    The scanner is what ``json.loads`` runs after its checks; any body it does not take
    whole (a BOM, UTF-16, surrounding whitespace, an error) goes to ``json.loads`` itself,
    so the result and the error messages are the same.
    """
    try:
        text = body.decode("utf-8")
        data, end = _scan_once(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        return json.loads(body)
    if end != len(text):
        return json.loads(body)
    return data


def parse_chat(body: bytes) -> ChatRequest:
    """Validate a request body; raise ``BadRequest`` naming the first defect found."""
    try:
        data = _loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise BadRequest(400, f"request body must be a JSON object, got {_kind(data)}")

    model = data.get("model")
    if model is None:
        raise BadRequest(
            400,
            "missing required parameter: 'model'",
            param="model",
            code="missing_required_parameter",
        )
    if not isinstance(model, str) or not model:
        raise BadRequest(
            400,
            f"'model' must be a non-empty string, got {_kind(model)}",
            param="model",
            code="invalid_type",
        )

    try:
        return _parse_rest(data, model)
    except BadRequest as exc:
        exc.model = model
        raise


def _parse_rest(data: dict[str, Any], model: str) -> ChatRequest:
    messages = data.get("messages")
    if not _plain_messages(messages):
        messages = _messages(messages)
    stream = data.get("stream", False)
    if type(stream) is not bool:
        stream = _optional_bool(data, "stream")
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest(
            400,
            f"'stream_options' must be an object, got {_kind(options)}",
            param="stream_options",
            code="invalid_type",
        )
    include_usage = bool(options and options.get("include_usage"))

    max_tokens = None
    for name in _MAX_TOKENS if ("max_tokens" in data or "max_completion_tokens" in data) else ():
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest(
                400,
                f"'{name}' must be an integer >= 1, got {value!r}"[:300],
                param=name,
                code="invalid_value",
            )
        max_tokens = value

    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        max_tokens=max_tokens,
        response_format=_response_format(data.get("response_format")),
    )


_MAX_TOKENS = ("max_completion_tokens", "max_tokens")


def _plain_messages(messages: Any) -> bool:
    """True for the common case, a list of ``{"role": str, "content": str}`` (a fast check)."""
    if type(messages) is not list or not messages:
        return False
    for message in messages:
        if type(message) is not dict:
            return False
        role = message.get("role")
        if type(role) is not str or not role or type(message.get("content")) is not str:
            return False
    return True


def _messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise BadRequest(
            400,
            "missing required parameter: 'messages'",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise BadRequest(
            400,
            f"'messages' must be a non-empty list, got {_kind(messages)}",
            param="messages",
            code="invalid_type",
        )
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(
                400,
                f"'{where}' must be an object with 'role' and 'content', got {_kind(message)}",
                param=where,
                code="invalid_type",
            )
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise BadRequest(
                400,
                f"'{where}.role' must be a non-empty string, got {_kind(role)}",
                param=f"{where}.role",
                code="invalid_type",
            )
        content = message.get("content")
        if content is None and role == "assistant":
            continue
        if isinstance(content, str):
            continue
        if isinstance(content, list) and all(
            isinstance(p, dict) and isinstance(p.get("type"), str) for p in content
        ):
            continue
        raise BadRequest(
            400,
            f"'{where}.content' must be a string or a list of content parts, got {_kind(content)}",
            param=f"{where}.content",
            code="invalid_type",
        )
    return messages


def _response_format(raw: Any) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in _RESPONSE_FORMATS:
        got = raw.get("type") if isinstance(raw, dict) else _kind(raw)
        raise BadRequest(
            400,
            f"'response_format.type' must be one of {', '.join(_RESPONSE_FORMATS)}, got {got!r}",
            param="response_format",
            code="invalid_value",
        )
    if raw["type"] != "json_schema":
        return raw
    spec = raw.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
        raise BadRequest(
            400,
            "'response_format.json_schema' must be an object whose 'schema' "
            "is a JSON schema object",
            param="response_format.json_schema",
            code="invalid_value",
        )
    return raw


def _optional_bool(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(
            400, f"'{name}' must be a boolean, got {_kind(value)}", param=name, code="invalid_type"
        )
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"
