"""Answers are a pure function of (seed, model, messages), across servers and processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import aiohttp
from mp_helpers import body, post

from mock_provider import MockProvider, Profile

PROMPTS = ["Write about the Atacama desert", "Explain tidal locking", "Name three rivers"]


def _start(seed: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_provider", "--port", "0", "--seed", str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), url
    return proc, url


async def _answers(url: str, model: str = "m") -> list[tuple[str, dict[str, int]]]:
    async with aiohttp.ClientSession() as session:
        out = []
        for prompt in PROMPTS:
            status, _, reply = await post(session, url, body(prompt, model=model))
            assert status == 200
            out.append((reply["choices"][0]["message"]["content"], reply["usage"]))
        return out


async def test_two_processes_give_the_same_answers() -> None:
    first, url_a = _start(seed=7)
    second, url_b = _start(seed=7)
    try:
        answers_a = await _answers(url_a)
        answers_b = await _answers(url_b)
    finally:
        for proc in (first, second):
            proc.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
        assert second.wait(timeout=10) == 0
    assert answers_a == answers_b


async def test_prompt_seed_and_model_change_the_answer() -> None:
    async with MockProvider(Profile.fixed(0.0), seed=1) as one:
        base = await _answers(one.base_url)
        again = await _answers(one.base_url)
        other_model = await _answers(one.base_url, model="other")
    async with MockProvider(Profile.fixed(0.0), seed=2) as two:
        other_seed = await _answers(two.base_url)

    assert base == again
    texts = [text for text, _ in base]
    assert len(set(texts)) == len(texts)
    assert "Atacama" in texts[0] or "desert" in texts[0]
    assert other_model != base
    assert other_seed != base
