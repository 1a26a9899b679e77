"""The request log: tags, ordered times, and CSV/Parquet round trips."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from mp_helpers import body, post

from mock_provider import MockProvider, read_request_log


async def _serve_some(mock: MockProvider, n: int = 6) -> None:
    async with aiohttp.ClientSession() as s:
        await asyncio.gather(
            *(
                post(s, mock.base_url, body(f"row {i}"), headers={"X-DD-Tag": f"summary:{i}"})
                for i in range(n)
            )
        )
        await post(s, mock.base_url, body("untagged"))
        await post(s, mock.base_url, {"model": "m"})  # a 400 is logged too


async def test_records_and_slices() -> None:
    profile = {"default": {"latency": {"ttft": 0.01, "per_token": 0.001}, "output": {"tokens": 8}}}
    async with MockProvider(profile) as mock:
        await _serve_some(mock)
        mark = mock.request_log.mark()
        await _serve_some(mock, 2)
        later = mock.request_log.since(mark)
        records = mock.request_log.records()

    assert len(records) == 8 + 4 and len(later) == 4
    served = [r for r in records if r.status == 200]
    assert {r.tag for r in served} >= {f"summary:{i}" for i in range(6)} | {None}
    for r in records:
        assert r.arrival <= r.start <= r.end
    for r in served:
        assert r.completion_tokens == 8 and r.prompt_tokens == (1 if r.tag is None else 2)
        assert r.end - r.start >= 0.018 - 0.002  # ttft + 8 tokens x 1 ms
    (bad,) = [r for r in records[:8] if r.status == 400]
    assert bad.model == "m" and bad.fault is None
    assert len({r.request_id for r in records}) == len(records)

    mock.request_log.clear()
    assert mock.request_log.records() == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
async def test_round_trip(tmp_path, suffix: str) -> None:
    async with MockProvider({"default": {"faults": {"error_503": 0.5}}}) as mock:
        await _serve_some(mock)
        records = mock.request_log.records()
    path = mock.request_log.write(tmp_path / f"log{suffix}")
    assert read_request_log(path) == records
    frame = mock.request_log.to_frame()
    assert list(frame.columns)[:3] == ["request_id", "model", "tag"] and len(frame) == 8
