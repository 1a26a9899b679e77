"""Helpers for the mock provider's tests: raw HTTP calls against a real server on loopback."""

from __future__ import annotations

from typing import Any

import aiohttp


def body(text: str, model: str = "m", **extra: Any) -> dict[str, Any]:
    """A chat-completions request body with one user message."""
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


async def post(
    session: aiohttp.ClientSession,
    base_url: str,
    payload: Any,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """POST to /chat/completions; return (status, headers, parsed JSON or raw text)."""
    async with session.post(f"{base_url}/chat/completions", json=payload, headers=headers) as r:
        raw = await r.text()
        try:
            parsed: Any = await r.json(content_type=None)
        except ValueError:
            parsed = raw
        return r.status, dict(r.headers), parsed
