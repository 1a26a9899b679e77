"""Write the small hand-made artifacts the report tests draw from.

Run ``python tests/reports/make_fixture.py`` to regenerate ``tests/reports/fixtures/``:
``measured/`` (three workloads, two measured trials per engine plus a warm-up, traces,
request logs and, for the rate-limited workload, 429s and a throttle history) and
``simulated/`` (the same workloads, ``kind: simulated``, statistics and trial records only).
Schedules come from a tiny list scheduler below with a fixed per-model latency and seeded
jitter; they are plausible, not measured, and exist so the figures have something to draw.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.stats import paired_speedup, summarize

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = 6
TRIALS = 2
BASE_TIME = 1_800_000_000.0
DISPATCH_OVERHEAD = 0.004


@dataclass(frozen=True)
class Column:
    name: str
    upstream: tuple[str, ...]
    alias: str | None = None
    model: str | None = None
    latency: float = 0.0


WORKLOADS: dict[str, tuple[str, list[Column]]] = {
    "deep": (
        "topic -> summary -> analysis -> conclusion, and topic -> trivia",
        [
            Column("topic", ()),
            Column("summary", ("topic",), "generator", "gpt-mock", 0.30),
            Column("trivia", ("topic",), "generator", "gpt-mock", 0.20),
            Column("analysis", ("summary",), "generator", "gpt-mock", 0.30),
            Column("conclusion", ("analysis",), "generator", "gpt-mock", 0.15),
        ],
    ),
    "dual_model": (
        "3 generators + 3 judges, two models",
        [
            Column("topic", ()),
            Column("explanation", ("topic",), "generator", "gpt-mock", 0.30),
            Column("example", ("topic",), "generator", "gpt-mock", 0.25),
            Column("quiz", ("topic",), "generator", "gpt-mock", 0.20),
            Column("explanation_score", ("explanation",), "judge", "judge-mock", 0.15),
            Column("example_score", ("example",), "judge", "judge-mock", 0.15),
            Column("quiz_score", ("quiz",), "judge", "judge-mock", 0.15),
        ],
    ),
    "rate_limited": (
        "one model whose provider caps concurrency at 4",
        [
            Column("topic", ()),
            Column("summary", ("topic",), "generator", "capped-mock", 0.20),
            Column("question", ("topic",), "generator", "capped-mock", 0.20),
            Column("answer", ("question",), "generator", "capped-mock", 0.20),
        ],
    ),
}

#: Concurrency per model in the scheduler (the rate-limited provider's cap is 4).
CAPS = {"gpt-mock": 16, "judge-mock": 16, "capped-mock": 4}


def levels(columns: list[Column]) -> list[list[str]]:
    depth: dict[str, int] = {}
    for column in columns:
        depth[column.name] = 1 + max((depth[u] for u in column.upstream), default=-1)
    out: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for column in columns:
        out[depth[column.name]].append(column.name)
    return out


def critical_path(columns: list[Column]) -> int:
    calls: dict[str, int] = {}
    for column in columns:
        own = 1 if column.model else 0
        calls[column.name] = own + max((calls[u] for u in column.upstream), default=0)
    return max(calls.values())


def durations(columns: list[Column], rng: random.Random) -> dict[tuple[str, int], float]:
    return {
        (c.name, row): (c.latency * (0.8 + 0.4 * rng.random()) if c.model else 0.001)
        for c in columns
        for row in range(RECORDS)
    }


def schedule(
    columns: list[Column], work: dict[tuple[str, int], float], engine: str, overhead: float
) -> dict[tuple[str, int], tuple[float, float]]:
    """(start, end) per cell: sync column by column, async as soon as a row's inputs are done."""
    by_name = {c.name: c for c in columns}
    slots: dict[str, list[float]] = {m: [0.0] * cap for m, cap in CAPS.items()}
    for heap in slots.values():
        heapq.heapify(heap)
    spans: dict[tuple[str, int], tuple[float, float]] = {}

    def place(cell: tuple[str, int], earliest: float) -> None:
        column = by_name[cell[0]]
        start = earliest + overhead
        if column.model:
            start = max(start, heapq.heappop(slots[column.model]))
        end = start + work[cell]
        if column.model:
            heapq.heappush(slots[column.model], end)
        spans[cell] = (start, end)

    if engine == "sync":
        barrier = 0.0
        for column in columns:
            for row in range(RECORDS):
                place((column.name, row), barrier)
            barrier = max(spans[(column.name, row)][1] for row in range(RECORDS))
        return spans

    pending = [(c.name, row) for row in range(RECORDS) for c in columns]
    while pending:
        ready = [
            cell
            for cell in pending
            if all((u, cell[1]) in spans for u in by_name[cell[0]].upstream)
        ]
        ready.sort(
            key=lambda cell: max(
                (spans[(u, cell[1])][1] for u in by_name[cell[0]].upstream), default=0
            )
        )
        for cell in ready:
            earliest = max((spans[(u, cell[1])][1] for u in by_name[cell[0]].upstream), default=0)
            place(cell, earliest)
            pending.remove(cell)
    return spans


def trial_frames(
    columns: list[Column],
    spans: dict[tuple[str, int], tuple[float, float]],
    origin: float,
    rate_limited: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    by_name = {c.name: c for c in columns}
    traces, requests = [], []
    for (name, row), (start, end) in sorted(spans.items(), key=lambda item: item[1]):
        column = by_name[name]
        ready = origin + max(start - DISPATCH_OVERHEAD, 0)
        llm = column.model is not None
        traces.append(
            {
                "column": name,
                "row": row,
                "row_group": 0,
                "status": "ok",
                "attempts": 1,
                "model_calls": int(llm),
                "ready": ready,
                "dispatched": ready + 0.001,
                "submission_acquired": ready + 0.001,
                "llm_wait_acquired": ready + 0.002 if llm else None,
                "throttle_acquired": origin + start if llm else None,
                "request_start": origin + start if llm else None,
                "request_end": origin + end if llm else None,
                "completed": origin + end + 0.0005,
                "error": None,
            }
        )
        if llm:
            requests.append(
                _request(len(requests), column.model, f"{name}:{row}", origin, start, end)
            )

    throttle = pd.DataFrame(columns=["time", "key", "limit", "in_flight", "event"])
    if rate_limited:
        requests, throttle = _add_rate_limiting(requests, origin)
    return pd.DataFrame(traces), pd.DataFrame(requests), throttle


def _request(
    index: int, model: str, tag: str, origin: float, start: float, end: float, status: int = 200
) -> dict:
    return {
        "request_id": f"req-{index:04d}",
        "model": model,
        "tag": tag,
        "arrival": origin + start,
        "start": origin + start,
        "end": origin + end,
        "status": status,
        "prompt_tokens": 24,
        "completion_tokens": 48 if status == 200 else 0,
        "fault": None,
    }


def _add_rate_limiting(requests: list[dict], origin: float) -> tuple[list[dict], pd.DataFrame]:
    """Three 429s at the start, a cut 16 -> 12 -> 9, then additive increases."""
    key = "local/capped-mock/chat"
    extra = [
        _request(
            900 + i,
            "capped-mock",
            f"summary:{i}",
            origin,
            0.005 + 0.002 * i,
            0.008 + 0.002 * i,
            429,
        )
        for i in range(3)
    ]
    events = [{"time": origin, "key": key, "limit": 16, "in_flight": 0, "event": "grant"}]
    limit, in_flight = 16, 0
    for request in sorted(requests + extra, key=lambda r: r["start"]):
        in_flight = min(in_flight + 1, limit)
        events.append(
            {
                "time": request["start"],
                "key": key,
                "limit": limit,
                "in_flight": in_flight,
                "event": "grant",
            }
        )
        if request["status"] == 429:
            limit = max(1, math.floor(limit * 0.75))
            in_flight -= 1
            events.append(
                {
                    "time": request["end"],
                    "key": key,
                    "limit": limit,
                    "in_flight": in_flight,
                    "event": "cut",
                }
            )
        else:
            in_flight = max(in_flight - 1, 0)
            events.append(
                {
                    "time": request["end"],
                    "key": key,
                    "limit": limit,
                    "in_flight": in_flight,
                    "event": "success",
                }
            )
    last = events[-1]["time"]
    for step in range(3):
        limit += 1
        events.append(
            {
                "time": last + 0.01 * (step + 1),
                "key": key,
                "limit": limit,
                "in_flight": 0,
                "event": "increase",
            }
        )
    return requests + extra, pd.DataFrame(events)


def trial_record(
    workload: str, engine: str, trial: int, warmup: bool, wall: float, ideal: dict, started: float
) -> dict[str, Any]:
    own = ideal[engine]
    return {
        "workload": workload,
        "engine": engine,
        "trial": trial,
        "warmup": warmup,
        "status": "ok",
        "error": None,
        "wall_seconds": wall,
        "cpu_seconds": wall * 0.1,
        "requests": 0,
        "rate_limited": 3 if workload == "rate_limited" else 0,
        "retries": 0,
        "rows_kept": RECORDS,
        "rows_dropped": 0,
        "dataset_hash": f"hash-{workload}",
        "leak_free": True,
        "stop_reason": None,
        "ideal_async": ideal["async"],
        "ideal_sync": ideal["sync"],
        "simple_bound": ideal["async"] * 0.9,
        "started": started,
        "finished": started + wall,
        "ideal": own,
        "efficiency": own / wall,
    }


def engine_statistics(records: list[dict]) -> dict[str, Any]:
    walls = [r["wall_seconds"] for r in records]
    return {
        "trials": len(records),
        "wall": summarize(walls).to_dict(),
        "cpu_mean": sum(r["cpu_seconds"] for r in records) / len(records),
        "ideal_mean": sum(r["ideal"] for r in records) / len(records),
        "efficiency_mean": sum(r["efficiency"] for r in records) / len(records),
        "simple_bound_mean": sum(r["simple_bound"] for r in records) / len(records),
        "rate_limited": sum(r["rate_limited"] for r in records),
        "retries": 0,
        "rows_dropped": 0,
        "hashes": sorted({r["dataset_hash"] for r in records}),
        "leak_free": True,
    }


def workload_document(
    name: str, description: str, columns: list[Column], trials: list[dict]
) -> dict:
    measured = {
        e: [t for t in trials if t["engine"] == e and not t["warmup"]] for e in ("sync", "async")
    }
    engines = {e: engine_statistics(records) for e, records in measured.items()}
    speedup = paired_speedup(
        [t["wall_seconds"] for t in measured["sync"]],
        [t["wall_seconds"] for t in measured["async"]],
    )
    return {
        "description": description,
        "profile": None,
        "dag": {
            "order": [c.name for c in columns],
            "upstream": {c.name: sorted(c.upstream) for c in columns},
            "llm": {c.name: c.model is not None for c in columns},
            "models": {c.name: [c.alias] if c.alias else [] for c in columns},
            "levels": levels(columns),
            "critical_path": critical_path(columns),
        },
        "statistics": {
            "engines": engines,
            "hash_equal": True,
            "failed_trials": 0,
            "speedup": {**speedup.to_dict(), "mean": speedup.mean},
            "ideal_speedup": engines["sync"]["ideal_mean"] / engines["async"]["ideal_mean"],
        },
    }


def build(kind: str, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    (out / "trials").mkdir(parents=True)
    rng = random.Random(7 if kind == "measured" else 8)
    workloads, all_trials = {}, []
    clock = BASE_TIME
    for name, (description, columns) in WORKLOADS.items():
        trials = []
        order = [("sync", 0, True), ("async", 0, True)]
        for index in range(TRIALS):
            pair = ["sync", "async"] if index % 2 == 0 else ["async", "sync"]
            order += [(engine, index, False) for engine in pair]
        for engine, index, warmup in order:
            work = durations(columns, rng)
            ideal = {
                e: max(end for _, end in schedule(columns, work, e, 0.0).values())
                for e in ("sync", "async")
            }
            overhead = DISPATCH_OVERHEAD if kind == "measured" else DISPATCH_OVERHEAD / 4
            spans = schedule(columns, work, engine, overhead)
            wall = max(end for _, end in spans.values()) + 0.01
            record = trial_record(name, engine, index, warmup, wall, ideal, clock)
            trials.append(record)
            if kind == "measured" and not warmup:
                _write_frames(out, record, columns, spans, clock, name == "rate_limited")
            clock += wall + 1.0
        workloads[name] = workload_document(name, description, columns, trials)
        all_trials += trials

    document = {
        "schema": "ddbench.results",
        "schema_version": 1,
        "kind": kind,
        "created": "2027-01-15T12:00:00+00:00",
        "command": ["ddbench", "run" if kind == "measured" else "sim", *WORKLOADS],
        "inputs": {
            "workloads": list(WORKLOADS),
            "engines": ["sync", "async"],
            "records": RECORDS,
            "trials": TRIALS,
            "warmup": 1,
            "max_parallel_requests": 16,
            "profile": None,
            "latency": None,
            "endpoint": None,
            "seed": None,
        },
        "environment": {"git": {"sha": "0" * 40, "dirty": False}, "packages": {}, "machine": {}},
        "workloads": workloads,
        "trials": all_trials,
    }
    (out / "results.json").write_text(json.dumps(document, indent=2))


def _write_frames(
    out: Path, record: dict, columns: list[Column], spans: dict, origin: float, limited: bool
) -> None:
    traces, requests, throttle = trial_frames(columns, spans, origin, limited)
    stem = f"{record['workload']}_{record['engine']}_trial{record['trial']}"
    traces.to_parquet(out / "trials" / f"{stem}.traces.parquet", index=False)
    requests.to_parquet(out / "trials" / f"{stem}.requests.parquet", index=False)
    if not throttle.empty:
        throttle.to_parquet(out / "trials" / f"{stem}.throttle.parquet", index=False)


if __name__ == "__main__":
    build("measured", FIXTURES / "measured")
    build("simulated", FIXTURES / "simulated")
