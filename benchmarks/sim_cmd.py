"""``ddbench sim``: the simulator behind the same table and artifacts as ``ddbench run``.

Plain ``sim`` simulates each workload with each engine, one trial a seed (the pipeline's
seed, then +1, +2, ...), against the workload's own profile, and writes artifacts with
``write_artifacts(..., kind="simulated")``, so reports and ``ddbench compare`` read a
simulated run like a measured one. ``--sweep FILE`` runs a what-if grid (``dd_sim.sweep``);
``--validate`` runs the measured harness and the simulator on the same workloads and
reports predicted over measured wall clock and the mean absolute percentage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.artifacts import default_out_dir, write_artifacts
from benchmarks.cli import EXIT_FAILURE, EXIT_OK, CommandError, stdout_console
from benchmarks.generate_cmd import load_cli_pipeline
from benchmarks.run_cmd import add_run_arguments, config_from_args, draw_report, print_summary
from benchmarks.runner import (
    BenchmarkConfig,
    TrialOutput,
    TrialRecord,
    WorkloadRun,
    attach_ideal,
    fill_record,
    provider_caps,
    resolve_profile,
)
from dd_core.config import Pipeline
from dd_sim.dag import dag_spec
from dd_sim.simulate import simulate
from dd_sim.workload import (
    DEFAULT_DISPATCH_SECONDS,
    DEFAULT_REQUEST_OVERHEAD_SECONDS,
    FIDELITIES,
    SimOptions,
    SimWorkload,
)
from mock_provider import ProfileError, load_profile

log = logging.getLogger(__name__)

#: Above this many tasks a trial keeps aggregates only (no traces, no request log).
TRACE_LIMIT_TASKS = 200_000
#: ``--validate``'s default workloads: the dev note's four, rate-limited, cross-provider.
VALIDATE_WORKLOADS = ("narrow", "deep", "wide", "dual_model", "rate_limited", "cross_provider")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="simulate workloads (what-if, sweeps, validation against measured runs)",
        description=(
            "Simulate each workload with each engine against its provider profile and write "
            "the same artifacts as `ddbench run`, marked simulated (trials are seeds)."
        ),
    )
    add_run_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument("--sweep", type=Path, default=None, help="run a sweep file instead")
    parser.add_argument(
        "--workers", type=int, default=None, help="sweep processes (default: every core)"
    )
    parser.add_argument(
        "--validate", action="store_true", help="measure too, and report predicted/measured"
    )
    parser.set_defaults(func=run_sim)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The engine-model options ``sim`` and ``plan`` share."""
    parser.add_argument(
        "--dispatch-seconds",
        type=float,
        default=DEFAULT_DISPATCH_SECONDS,
        help=f"engine CPU per task ({DEFAULT_DISPATCH_SECONDS})",
    )
    parser.add_argument(
        "--request-overhead",
        type=float,
        default=DEFAULT_REQUEST_OVERHEAD_SECONDS,
        help=f"seconds of HTTP round trip per request ({DEFAULT_REQUEST_OVERHEAD_SECONDS})",
    )
    parser.add_argument(
        "--fidelity", choices=FIDELITIES, default="auto", help="full SimPy model or lean loop"
    )


def options_from_args(args: argparse.Namespace, tracing: bool = True) -> SimOptions:
    try:
        return SimOptions(
            dispatch_seconds=args.dispatch_seconds,
            request_overhead_seconds=args.request_overhead,
            fidelity=args.fidelity,
            tracing=tracing,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def run_sim(args: argparse.Namespace) -> int:
    if args.sweep is not None:
        return run_sweep_command(args)
    config = config_from_args(args)
    config = dataclasses.replace(config, warmup=0)
    if args.validate:
        return run_validation(args, config)

    pipelines = {
        name: load_cli_pipeline(name, config.seed, config.max_parallel_requests)
        for name in config.workloads
    }
    profiles = {name: resolve_profile(name, config) for name in config.workloads}
    runs = [
        simulate_workload(name, pipelines[name], profiles[name], config, args)
        for name in config.workloads
    ]
    out_dir = args.out or default_out_dir(config.workloads)
    results = write_artifacts(out_dir, runs, config, sys.argv, kind="simulated")
    print_summary(results, out_dir)
    if not args.no_report:
        draw_report(out_dir)
    return EXIT_OK


def simulate_workload(
    name: str,
    pipeline: Pipeline,
    profile_path: Path | None,
    config: BenchmarkConfig,
    args: argparse.Namespace,
) -> WorkloadRun:
    """Every (engine, seed) trial of one workload, as the harness's ``WorkloadRun``."""
    try:
        workload = SimWorkload(pipeline, load_profile(profile_path))
    except (ProfileError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    tracing = config.records * len(workload.order) <= TRACE_LIMIT_TASKS
    options = options_from_args(args, tracing=tracing)
    spec = dag_spec(pipeline, workload.graph, provider_caps(pipeline, workload.profile))

    run = WorkloadRun(name=name, pipeline=pipeline, profile_path=profile_path)
    base_seed = pipeline.settings.seed
    for trial in range(config.trials):
        for engine in config.engines:
            result = simulate(
                workload,
                records=config.records,
                engine=engine,
                seed=base_seed + trial,
                options=options,
            )
            record = TrialRecord(workload=name, engine=engine, trial=trial, warmup=False)
            fill_record(record, result.run)
            output = TrialOutput(
                record,
                traces=result.run.traces_frame() if tracing else None,
                requests=result.requests,
                throttle_events=result.run.throttle_events,
            )
            if result.requests is not None and not result.requests.empty:
                attach_ideal(output, spec, config.records, pipeline.settings.buffer_size)
            run.outputs.append(output)
    return run


def replay_measured(
    run: WorkloadRun,
    engine: str,
    pipeline: Pipeline,
    profile_path: Path | None,
    config: BenchmarkConfig,
    args: argparse.Namespace,
) -> float:
    """The simulator's wall clock on the latencies the measured trials were served.

    The mock's latency is a pure function of the request, so every measured trial of a
    workload was served the same latencies; the first trial's request log gives them.
    This isolates the scheduling model's error from the noise of drawing latencies.
    """
    from dd_sim.ideal import served_from_request_log

    trial = next(
        out
        for out in run.outputs
        if out.record.engine == engine and not out.record.warmup and out.requests is not None
    )
    options = dataclasses.replace(
        options_from_args(args, tracing=False), served=served_from_request_log(trial.requests)
    )
    workload = SimWorkload(pipeline, load_profile(profile_path))
    result = simulate(workload, records=config.records, engine=engine, options=options)
    return result.run.wall_seconds


# -- sweeps ---------------------------------------------------------------------------


def run_sweep_command(args: argparse.Namespace) -> int:
    from dd_sim.sweep import SweepError, load_sweep, run_sweep, summarise_sweep

    try:
        sweep = load_sweep(args.sweep)
    except SweepError as exc:
        raise CommandError(str(exc)) from exc
    sweep = resolve_sweep_files(sweep, args.profile)
    if args.workers is not None and args.workers < 1:
        raise CommandError(f"--workers must be a positive integer, got {args.workers}")
    options = options_from_args(args, tracing=False)

    console = Console(file=sys.stderr)
    points = sweep.points()
    progress = None
    if console.is_terminal:
        from rich.progress import Progress

        progress = Progress(console=console, transient=True)
        progress.start()
        bar = progress.add_task(f"sweep {sweep.name}", total=len(points))

    def advance(done: int) -> None:
        if progress is not None:
            progress.update(bar, completed=done)

    try:
        table = run_sweep(sweep, options, workers=args.workers, on_point=advance)
    except SweepError as exc:
        raise CommandError(str(exc)) from exc
    finally:
        if progress is not None:
            progress.stop()

    out_dir = args.out or default_out_dir([f"sweep-{sweep.name}"])
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "sweep.csv", index=False)
    table.to_parquet(out_dir / "sweep.parquet", index=False)
    summary = summarise_sweep(table)
    summary.to_csv(out_dir / "sweep_summary.csv", index=False)
    (out_dir / "summary.md").write_text(
        f"# Sweep {sweep.name} (simulated)\n\n{len(points)} points, {sweep.trials} seeds each.\n\n"
        + _markdown(summary)
    )
    _print_frame(summary, f"Simulated sweep {sweep.name}")
    print(f"artifacts: {out_dir}")
    return EXIT_OK


def resolve_sweep_files(sweep: Any, profile: Path | None) -> Any:
    """A sweep with its workload name made a file path and its profile filled in."""
    from benchmarks.workloads import profile_for, resolve_workload

    changes: dict[str, Any] = {}
    if sweep.workload is not None:
        try:
            changes["workload"] = str(resolve_workload(sweep.workload))
        except LookupError as exc:
            raise CommandError(f"sweep.workload: {exc}") from exc
    if profile is not None:
        changes["profile"] = str(profile)
    elif sweep.profile is None and sweep.workload is not None:
        found = profile_for(Path(sweep.workload).stem)
        changes["profile"] = str(found) if found else None
    return dataclasses.replace(sweep, **changes)


# -- validation -----------------------------------------------------------------------


def run_validation(args: argparse.Namespace, config: BenchmarkConfig) -> int:
    """Measure with the harness, simulate the same, report predicted over measured."""
    from benchmarks.run_cmd import run_all, validate_profiles

    workloads = tuple(args.workloads) or VALIDATE_WORKLOADS
    config = dataclasses.replace(config, workloads=workloads, warmup=1)
    pipelines = {
        name: load_cli_pipeline(name, config.seed, config.max_parallel_requests)
        for name in workloads
    }
    profiles = {name: resolve_profile(name, config) for name in workloads}
    validate_profiles(profiles)
    measured = run_all(config, pipelines, profiles, Console(file=sys.stderr))

    rows = []
    for run in measured:
        name = run.name
        sampled = simulate_workload(name, pipelines[name], profiles[name], config, args)
        for engine in config.engines:
            real = [r.wall_seconds for r in run.measured(engine) if r.wall_seconds]
            sim = [o.record.wall_seconds for o in sampled.outputs if o.record.engine == engine]
            if not real or not sim:
                continue
            m, s = sum(real) / len(real), sum(sim) / len(sim)
            replayed = replay_measured(run, engine, pipelines[name], profiles[name], config, args)
            rows.append(
                {
                    "workload": run.name,
                    "engine": engine,
                    "records": config.records,
                    "measured_s": m,
                    "replayed_s": replayed,
                    "replay_error_pct": 100 * abs(replayed - m) / m,
                    "sampled_s": s,
                    "sampled_error_pct": 100 * abs(s - m) / m,
                }
            )
    if not rows:
        raise CommandError("validation: no measured trial succeeded; nothing to compare")

    import pandas as pd

    table = pd.DataFrame(rows)
    mape = float(table["replay_error_pct"].mean())
    sampled_mape = float(table["sampled_error_pct"].mean())
    out_dir = args.out or default_out_dir(["validate", *workloads])
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "validation.csv", index=False)
    (out_dir / "validation.md").write_text(
        f"# Simulator validation, {config.records} records\n\n"
        + _markdown(table)
        + f"\nMean absolute percentage error: {mape:.1f}% replaying the served latencies, "
        f"{sampled_mape:.1f}% drawing them from the profile.\n"
    )
    _print_frame(table, f"Simulated vs measured, {config.records} records")
    print(f"mean absolute percentage error: {mape:.1f}% replayed, {sampled_mape:.1f}% sampled")
    print(f"artifacts: {out_dir}")
    return EXIT_OK if mape == mape else EXIT_FAILURE


def _print_frame(frame: Any, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    stdout_console().print(table)


def _markdown(frame: Any) -> str:
    headers = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
