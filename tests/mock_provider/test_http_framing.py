"""The pre-rendered 200 completion is framed as aiohttp frames a response (raw sockets)."""

from __future__ import annotations

import asyncio
import json

from mock_provider import MockProvider, Profile


def _request(port: int, version: str = "1.1", connection: str | None = None) -> bytes:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "framing"}]})
    head = [
        f"POST /v1/chat/completions HTTP/{version}",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if connection is not None:
        head.append(f"Connection: {connection}")
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[str, dict[str, str], dict]:
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status, *lines = head.strip().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    payload = await reader.readexactly(int(headers["content-length"]))
    return status, headers, json.loads(payload)


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with MockProvider(Profile.fixed(latency=0.0)) as mock:
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        try:
            answers = [await _exchange(reader, writer, _request(mock.port)) for _ in range(3)]
        finally:
            writer.close()
    for status, headers, payload in answers:
        assert status == "HTTP/1.1 200 OK"
        assert headers["content-type"] == "application/json"
        assert "connection" not in headers
        assert headers["date"].endswith(" GMT")
        assert payload["object"] == "chat.completion"
    assert answers[0][2]["choices"] == answers[2][2]["choices"]


async def test_connection_close_is_announced_and_honoured() -> None:
    async with MockProvider(Profile.fixed(latency=0.0)) as mock:
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        try:
            status, headers, _ = await _exchange(
                reader, writer, _request(mock.port, "1.1", "close")
            )
            rest = await asyncio.wait_for(reader.read(), timeout=5)
        finally:
            writer.close()
    assert status == "HTTP/1.1 200 OK"
    assert headers["connection"] == "close"
    assert rest == b""  # the server closed the connection


async def test_http_1_0_gets_a_1_0_status_line_and_keep_alive_on_request() -> None:
    async with MockProvider(Profile.fixed(latency=0.0)) as mock:
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        try:
            kept = await _exchange(reader, writer, _request(mock.port, "1.0", "keep-alive"))
            closed = await _exchange(reader, writer, _request(mock.port, "1.0"))
            rest = await asyncio.wait_for(reader.read(), timeout=5)
        finally:
            writer.close()
    assert kept[0] == "HTTP/1.0 200 OK" and kept[1]["connection"] == "keep-alive"
    assert closed[0] == "HTTP/1.0 200 OK" and "connection" not in closed[1]
    assert rest == b""
