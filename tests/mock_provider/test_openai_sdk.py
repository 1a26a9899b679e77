"""The official openai SDK works unchanged against the mock: sync/async, plain/streamed."""

from __future__ import annotations

import time

import openai

from mock_provider import MockProvider, MockProviderThread, Profile

PROFILE = Profile.fixed(latency=0.005)
MESSAGES = [{"role": "user", "content": "Describe the harbour of Valparaiso at dawn"}]


def test_sync_plain_and_stream() -> None:
    with MockProviderThread(PROFILE) as mock:
        client = openai.OpenAI(base_url=mock.base_url, api_key="unused")
        reply = client.chat.completions.create(model="gen", messages=MESSAGES)
        text = reply.choices[0].message.content
        assert reply.object == "chat.completion"
        assert reply.choices[0].finish_reason == "stop"
        assert text and reply.usage.completion_tokens == len(text.split())
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

        stream = client.chat.completions.create(
            model="gen", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == text
        assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        # The record is taken after the last byte is written, so the server's thread may
        # still be appending it when the client has read [DONE]: wait for it, generously.
        deadline = time.monotonic() + 5.0
        while len(mock.request_log) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(mock.request_log) == 2


async def test_async_plain_and_stream() -> None:
    async with MockProvider(PROFILE) as mock:
        client = openai.AsyncOpenAI(base_url=mock.base_url, api_key="unused")
        reply = await client.chat.completions.create(model="gen", messages=MESSAGES, max_tokens=7)
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage.completion_tokens == 7

        stream = await client.chat.completions.create(
            model="gen", messages=MESSAGES, max_tokens=7, stream=True
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(pieces) == reply.choices[0].message.content
        await client.close()

        models = openai.AsyncOpenAI(base_url=mock.base_url, api_key="unused").models
        assert [m async for m in models.list()] == []
