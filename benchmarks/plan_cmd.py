"""``ddbench plan``: how long a workload will take, and what concurrency meets a deadline."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.table import Table

from benchmarks.cli import EXIT_FAILURE, EXIT_OK, CommandError, stdout_console
from benchmarks.generate_cmd import load_cli_pipeline
from benchmarks.sim_cmd import add_model_arguments, options_from_args
from benchmarks.workloads import profile_for
from dd_sim.plan import parse_duration, plan_concurrency, predict
from mock_provider import ProfileError, load_profile

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="predict a workload's wall clock per engine; find the concurrency a deadline needs",
        description=(
            "Simulate a workload at a record count over several seeds: each engine's predicted "
            "wall clock with its spread, per-model utilisation and 429 share; with --deadline, "
            "the smallest max_parallel_requests per model that meets it."
        ),
    )
    parser.add_argument("workload", help="a bundled workload name or a pipeline file")
    parser.add_argument("--records", type=int, required=True, help="rows to plan for")
    parser.add_argument("--deadline", default=None, help="e.g. 90s, 15m, 2h")
    parser.add_argument("--profile", type=Path, default=None, help="provider profile")
    parser.add_argument("--engines", default="sync,async", help="comma-separated (sync,async)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per prediction (5)")
    parser.add_argument(
        "--search-seeds", type=int, default=3, help="seeds per deadline search step (3)"
    )
    parser.add_argument("--max-parallel-requests", type=int, default=None, help="every model's cap")
    add_model_arguments(parser)
    parser.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    if args.records < 1:
        raise CommandError(f"--records must be a positive integer, got {args.records}")
    if args.seeds < 1 or args.search_seeds < 1:
        raise CommandError("--seeds and --search-seeds must be positive integers")
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    if not engines or any(e not in ("sync", "async") for e in engines):
        raise CommandError(f"--engines: {args.engines!r}; choose from sync, async")
    deadline = None
    if args.deadline is not None:
        try:
            deadline = parse_duration(args.deadline)
        except ValueError as exc:
            raise CommandError(f"--deadline: {exc}") from exc

    pipeline = load_cli_pipeline(args.workload, None, args.max_parallel_requests)
    profile_path = args.profile or profile_for(Path(args.workload).stem)
    try:
        profile = load_profile(profile_path)
    except (ProfileError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    options = options_from_args(args, tracing=False)

    try:
        predictions = predict(
            pipeline, profile, args.records, engines=engines, seeds=args.seeds, options=options
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc

    console = stdout_console()
    table = Table(title=f"Plan: {pipeline.name}, {args.records} records ({args.seeds} seeds)")
    for header in ("Engine", "Predicted", "Interval (min-max)", "Model", "Util.", "429 share"):
        table.add_column(header, justify="left" if header in ("Engine", "Model") else "right")
    for engine, prediction in predictions.items():
        first = True
        for model, figures in prediction.models.items():
            table.add_row(
                engine if first else "",
                _clock(prediction.mean) if first else "",
                f"{_clock(prediction.low)} - {_clock(prediction.high)}" if first else "",
                model,
                f"{figures['utilisation']:.0%}",
                f"{figures['rate_limited_share']:.1%}",
            )
            first = False
    console.print(table)
    if {"sync", "async"} <= set(predictions):
        ratio = predictions["sync"].mean / predictions["async"].mean
        console.print(f"predicted speedup of async over sync: {ratio:.2f}x", highlight=False)
    if profile_path is not None:
        console.print(f"profile: {profile_path}", highlight=False)

    if deadline is None:
        return EXIT_OK
    status = EXIT_OK
    for engine in engines:
        plan = plan_concurrency(
            pipeline,
            profile,
            args.records,
            deadline,
            engine=engine,
            seeds=args.search_seeds,
            options=options,
        )
        console.print(plan.statement, highlight=False)
        if not plan.feasible:
            status = EXIT_FAILURE
    return status


def _clock(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"
