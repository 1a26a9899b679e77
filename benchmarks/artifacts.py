"""Benchmark artifacts: what a run writes, and the one way to read it back.

A run's folder holds ``results.json`` (a versioned schema: inputs, command line,
environment, per-trial records, statistics, ideals), ``trials.csv``, ``summary.md`` and,
per trial, the traces, the request log and the throttle history as Parquet under
``trials/``. ``reports`` and ``ddbench compare`` read artifacts through ``read_results``
only, so a change of layout is made here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.environment import environment_record
from benchmarks.runner import BenchmarkConfig, TrialOutput, TrialRecord, WorkloadRun
from benchmarks.stats import paired_speedup, summarize
from dd_core.graph import ExecutionGraph

log = logging.getLogger(__name__)

SCHEMA = "ddbench.results"
SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
TRIALS_DIR = "trials"


class ArtifactError(Exception):
    """An artifact that cannot be read: missing, not JSON, or of an unknown schema."""


def default_out_dir(workloads: Sequence[str], root: Path = Path("reports/output")) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    label = "-".join(workloads) if len(workloads) <= 4 else f"{len(workloads)}-workloads"
    return root / f"{stamp}-{label}"


def trial_stem(record: TrialRecord) -> str:
    phase = "warmup" if record.warmup else "trial"
    return f"{record.workload}_{record.engine}_{phase}{record.trial}"


def dag_shape(run: WorkloadRun) -> dict[str, Any]:
    """The column graph, for the report's DAG drawing and its one-line shape label."""
    graph = ExecutionGraph.from_pipeline(run.pipeline)
    return {
        "order": list(graph.order),
        "upstream": {name: sorted(graph.upstream(name)) for name in graph.order},
        "llm": {name: graph.is_llm(name) for name in graph.order},
        "models": {name: list(graph.model_aliases(name)) for name in graph.order},
        "model_ids": {alias: model.model for alias, model in run.pipeline.models.items()},
        "levels": [list(level) for level in graph.levels()],
        "critical_path": graph.critical_path(),
    }


def engine_statistics(records: list[TrialRecord]) -> dict[str, Any]:
    """Wall clock statistics and the totals the gate looks at, for one engine."""
    walls = [r.wall_seconds for r in records if r.wall_seconds is not None]
    efficiencies = [r.efficiency for r in records if r.efficiency is not None]
    ideals = [r.ideal for r in records if r.ideal is not None]
    return {
        "trials": len(records),
        "wall": summarize(walls).to_dict(),
        "cpu_mean": _mean([r.cpu_seconds for r in records if r.cpu_seconds is not None]),
        "ideal_mean": _mean(ideals),
        "efficiency_mean": _mean(efficiencies),
        "simple_bound_mean": _mean([r.simple_bound for r in records if r.simple_bound]),
        "rate_limited": sum(r.rate_limited for r in records),
        "retries": sum(r.retries for r in records),
        "rows_dropped": sum(r.rows_dropped for r in records),
        "hashes": sorted({r.dataset_hash for r in records if r.dataset_hash}),
        "leak_free": all(r.leak_free for r in records),
    }


def workload_statistics(run: WorkloadRun, engines: Sequence[str]) -> dict[str, Any]:
    """Per-engine statistics, the paired speedup and the oracle's verdict."""
    per_engine = {engine: engine_statistics(run.measured(engine)) for engine in engines}
    stats: dict[str, Any] = {"engines": per_engine}

    hashes = {h for engine in engines for h in per_engine[engine]["hashes"]}
    stats["hash_equal"] = len(hashes) <= 1
    stats["failed_trials"] = sum(1 for out in run.outputs if out.record.status != "ok")

    if {"sync", "async"} <= set(engines):
        sync = {r.trial: r.wall_seconds for r in run.measured("sync")}
        async_ = {r.trial: r.wall_seconds for r in run.measured("async")}
        pairs = sorted(set(sync) & set(async_))
        if pairs:
            speedup = paired_speedup([sync[i] for i in pairs], [async_[i] for i in pairs])
            stats["speedup"] = {**speedup.to_dict(), "mean": speedup.mean}
        ideal_sync = per_engine["sync"]["ideal_mean"]
        ideal_async = per_engine["async"]["ideal_mean"]
        if ideal_sync and ideal_async:
            stats["ideal_speedup"] = ideal_sync / ideal_async
    return stats


def build_results(
    runs: Iterable[WorkloadRun],
    config: BenchmarkConfig,
    command: Sequence[str],
    kind: str = "measured",
) -> dict[str, Any]:
    """The ``results.json`` document."""
    runs = list(runs)
    inputs = {key: _jsonable(value) for key, value in asdict(config).items()}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": list(command),
        "inputs": inputs,
        "environment": environment_record(),
        "workloads": {
            run.name: {
                "description": run.pipeline.description,
                "profile": str(run.profile_path) if run.profile_path else None,
                "dag": dag_shape(run),
                "statistics": workload_statistics(run, config.engines),
            }
            for run in runs
        },
        "trials": [out.record.to_dict() for run in runs for out in run.outputs],
    }


def write_artifacts(
    out_dir: Path,
    runs: Sequence[WorkloadRun],
    config: BenchmarkConfig,
    command: Sequence[str],
    kind: str = "measured",
) -> dict[str, Any]:
    """Write every artifact of a run into ``out_dir``; return the results document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_dir = out_dir / TRIALS_DIR
    trials_dir.mkdir(exist_ok=True)
    for run in runs:
        for output in run.outputs:
            write_trial_frames(trials_dir, output)

    results = build_results(runs, config, command, kind)
    (out_dir / RESULTS_FILE).write_text(json.dumps(_clean(results), indent=2))
    pd.DataFrame(results["trials"]).to_csv(out_dir / "trials.csv", index=False)
    (out_dir / "summary.md").write_text(summary_markdown(results))
    log.info("artifacts written to %s", out_dir)
    return results


def write_trial_frames(trials_dir: Path, output: TrialOutput) -> None:
    stem = trial_stem(output.record)
    frames = {
        "traces": output.traces,
        "requests": output.requests,
        "throttle": output.throttle_events,
    }
    for suffix, frame in frames.items():
        if frame is not None and not frame.empty:
            frame.to_parquet(trials_dir / f"{stem}.{suffix}.parquet", index=False)


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (or the folder holding one), checking its schema."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: no such artifact") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not a readable results file ({exc})") from exc

    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ArtifactError(f"{path}: not a ddbench results file (schema {SCHEMA!r} expected)")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ArtifactError(
            f"{path}: schema version {version!r} is not supported; this ddbench reads "
            f"version {SCHEMA_VERSION}"
        )
    document["_path"] = str(path)
    return document


def read_trial_frame(results: dict[str, Any], trial: dict[str, Any], part: str) -> pd.DataFrame:
    """One trial's ``traces``, ``requests`` or ``throttle`` frame; empty when absent."""
    record = TrialRecord(
        **{k: v for k, v in trial.items() if k in TrialRecord.__dataclass_fields__}
    )
    path = Path(results["_path"]).parent / TRIALS_DIR / f"{trial_stem(record)}.{part}.parquet"
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_parquet(path)


def summary_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    """The summary table, one row a workload, as display strings."""
    rows = []
    for name, workload in results["workloads"].items():
        stats = workload["statistics"]
        engines = stats["engines"]
        row = {
            "Workload": name,
            "DAG shape": workload["description"],
            "Sync": _seconds(engines.get("sync")),
            "Async": _seconds(engines.get("async")),
            "Speedup (95% CI)": _speedup(stats.get("speedup")),
            "Sync eff.": _percent(engines.get("sync", {}).get("efficiency_mean")),
            "Async eff.": _percent(engines.get("async", {}).get("efficiency_mean")),
        }
        if not stats["hash_equal"]:
            row["Workload"] += " (HASH MISMATCH)"
        rows.append(row)
    return rows


def summary_markdown(results: dict[str, Any]) -> str:
    rows = summary_rows(results)
    kind = "simulated" if results.get("kind") == "simulated" else "measured"
    inputs = results["inputs"]
    lines = [
        f"# Benchmark summary ({kind})",
        "",
        f"{inputs['records']} records, max_parallel_requests "
        f"{inputs['max_parallel_requests'] or 'as each workload sets it'}, "
        f"{inputs['trials']} trials after "
        f"{inputs['warmup']} warm-up, engines alternated.",
        "",
    ]
    if rows:
        headers = list(rows[0])
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---" for _ in headers) + "|")
        for row in rows:
            lines.append("| " + " | ".join(row[h] for h in headers) + " |")
    notes = speedup_notes(results)
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def speedup_notes(results: dict[str, Any]) -> list[str]:
    """Plain warnings a reader must see: wide intervals, hash mismatches, leaks, failures."""
    notes = []
    for name, workload in results["workloads"].items():
        stats = workload["statistics"]
        speedup = stats.get("speedup")
        if speedup and speedup.get("too_wide"):
            notes.append(f"{name}: the speedup interval is too wide to call a difference")
        if not stats["hash_equal"]:
            notes.append(f"{name}: sync and async datasets differ (correctness failure)")
        if stats["failed_trials"]:
            notes.append(f"{name}: {stats['failed_trials']} trial(s) failed or stopped early")
        for engine, engine_stats in stats["engines"].items():
            if not engine_stats["leak_free"]:
                notes.append(f"{name}/{engine}: a permit or task was left at the end (leak)")
    return notes


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _seconds(engine_stats: dict[str, Any] | None) -> str:
    if not engine_stats or not engine_stats["trials"]:
        return "n/a"
    return f"{engine_stats['wall']['mean']:.2f} s"


def _speedup(speedup: dict[str, Any] | None) -> str:
    if not speedup:
        return "n/a"
    low, high = speedup.get("ci_low"), speedup.get("ci_high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{speedup['mean']:.2f}x"
    return f"{speedup['mean']:.2f}x ({low:.2f}-{high:.2f})"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _clean(value: Any) -> Any:
    """Strict JSON: NaN and infinities become null, paths strings, tuples lists."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
