"""``ddbench generate``: run one pipeline with one engine and write its dataset."""

from __future__ import annotations

import argparse
import asyncio
import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.cli import CommandError
from benchmarks.progress import ColumnProgress
from benchmarks.workloads import resolve_workload
from dd_core.config import Pipeline
from dd_core.errors import ConfigError
from dd_core.loader import load_pipeline
from dd_core.results import RunResult

log = logging.getLogger(__name__)

ENGINES = ("sync", "async")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="run a pipeline with one engine and write the dataset",
        description="Run a pipeline file (or a bundled workload by name) and write Parquet.",
    )
    parser.add_argument("pipeline", help="pipeline YAML file, or a bundled workload name")
    parser.add_argument("--records", type=int, default=10, help="rows to generate (10)")
    parser.add_argument("--engine", choices=ENGINES, default="async", help="executor (async)")
    parser.add_argument("--out", type=Path, default=None, help="output folder for Parquet")
    parser.add_argument("--seed", type=int, default=None, help="override the pipeline's seed")
    parser.add_argument(
        "--mock",
        action="store_true",
        help="start the mock provider on an ephemeral loopback port and use it for every model",
    )
    parser.add_argument("--profile", type=Path, default=None, help="mock provider profile")
    parser.add_argument(
        "--latency", type=float, default=None, help="mock: fixed latency in seconds"
    )
    parser.add_argument(
        "--max-parallel-requests", type=int, default=None, help="override every model's cap"
    )
    parser.add_argument("--no-progress", action="store_true", help="never draw progress bars")
    parser.set_defaults(func=run_generate)


def load_cli_pipeline(name_or_path: str, seed: int | None, max_parallel: int | None) -> Pipeline:
    """Resolve and load a pipeline for a command, turning every failure into a one-liner."""
    try:
        pipeline = load_pipeline(resolve_workload(name_or_path))
    except (LookupError, ConfigError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    if seed is not None:
        pipeline = pipeline.with_settings(seed=seed)
    if max_parallel is not None:
        if max_parallel < 1:
            raise CommandError(f"--max-parallel-requests must be >= 1, got {max_parallel}")
        pipeline = pipeline.with_max_parallel_requests(max_parallel)
    return pipeline


def make_executor(engine: str, pipeline: Pipeline, **options: Any) -> Any:
    """The executor for ``engine`` ("sync" or "async") over ``pipeline``."""
    if engine == "sync":
        from dd_core.executors.sync import SyncExecutor

        return SyncExecutor(pipeline, **options)
    from dd_core.executors.async_ import AsyncExecutor

    return AsyncExecutor(pipeline, **options)


def run_generate(args: argparse.Namespace) -> int:
    if args.records < 1:
        raise CommandError(f"--records must be a positive integer, got {args.records}")
    if args.latency is not None and args.latency < 0:
        raise CommandError(f"--latency must be >= 0 seconds, got {args.latency}")
    pipeline = load_cli_pipeline(args.pipeline, args.seed, args.max_parallel_requests)
    out_dir = args.out or Path("output") / f"{pipeline.name}-{args.engine}"

    with ExitStack() as stack:
        if args.mock or args.profile or args.latency is not None:
            mock = stack.enter_context(start_mock_thread(args.profile, args.latency))
            pipeline = pipeline.with_endpoint(mock.base_url)
        observer = ColumnProgress() if ColumnProgress.wanted() and not args.no_progress else None
        executor = make_executor(args.engine, pipeline, out_dir=out_dir, observer=observer)
        result: RunResult = asyncio.run(executor.run(args.records))

    print(describe_result(result, out_dir))
    return 0 if result.stop_reason is None else 1


def start_mock_thread(
    profile_path: Path | None, latency: float | None = None, seed: int = 0
) -> Any:
    """The mock provider in its own thread, so its CPU is not billed to the engine."""
    from mock_provider import MockProviderThread, ProfileError, load_profile

    try:
        profile = load_profile(profile_path).with_overrides(latency=latency)
    except (ProfileError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    return MockProviderThread(profile, seed=seed)


def describe_result(result: RunResult, out_dir: Path) -> str:
    """The closing lines of a run, for a person."""
    lines = [
        f"{result.engine}: {result.rows_kept} rows kept, {result.rows_dropped} dropped "
        f"in {result.wall_seconds:.2f} s (engine CPU {result.cpu_seconds:.2f} s)",
        f"requests {result.counters.get('requests', 0)}, "
        f"429s {result.counters.get('rate_limited', 0)}, "
        f"transport retries {result.counters.get('transport_retries', 0)}",
        f"dataset written to {out_dir}",
    ]
    if result.stop_reason:
        lines.append(f"stopped early: {result.stop_reason}")
    if not result.snapshot.is_clean:
        lines.append(f"LEAK: {result.snapshot}")
    return "\n".join(lines)
