"""``ddbench run``: paired sync/async trials of the bundled workloads, with artifacts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.artifacts import default_out_dir, speedup_notes, summary_rows, write_artifacts
from benchmarks.cli import EXIT_FAILURE, EXIT_OK, CommandError, stdout_console
from benchmarks.generate_cmd import load_cli_pipeline, start_mock_thread
from benchmarks.runner import (
    ENGINES,
    BenchmarkConfig,
    TrialRecord,
    WorkloadRun,
    describe_trial,
    resolve_profile,
    run_workload,
)
from benchmarks.workloads import (
    DEVNOTE_WORKLOADS,
    available_workloads,
    resolve_workload,
    workload_description,
)

log = logging.getLogger(__name__)

#: ``--quick``: the CI gate's set-up, a fixed short latency and few trials.
QUICK = {"records": 10, "trials": 3, "warmup": 1, "latency": 0.05}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="paired sync/async trials of workloads, with statistics and artifacts",
        description=(
            "Run each workload with each engine, alternated trial by trial after a warm-up, "
            "against an embedded mock provider (or --endpoint), and write artifacts."
        ),
    )
    add_run_arguments(parser)
    parser.add_argument("--endpoint", default=None, help="an OpenAI-compatible base URL to use")
    parser.add_argument("--list", action="store_true", help="list the bundled workloads")
    parser.add_argument(
        "--quick", action="store_true", help="CI mode: 10 records, 3 trials, 50 ms latency"
    )
    parser.add_argument("--latency", type=float, default=None, help="mock: fixed latency (s)")
    parser.set_defaults(func=run_benchmark)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``sim`` share."""
    parser.add_argument(
        "workloads",
        nargs="*",
        help=f"workload names or files (default: {', '.join(DEVNOTE_WORKLOADS)})",
    )
    parser.add_argument("--engines", default="sync,async", help="comma-separated (sync,async)")
    parser.add_argument("--records", type=int, default=None, help="rows per trial (10)")
    parser.add_argument("--trials", type=int, default=None, help="measured trials (4)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up runs per engine (1)")
    parser.add_argument(
        "--max-parallel-requests",
        type=int,
        default=None,
        help="override every model's cap (default: each workload's own; 16 for the dev note's)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="provider profile for all")
    parser.add_argument("--seed", type=int, default=None, help="override the pipelines' seed")
    parser.add_argument("--out", type=Path, default=None, help="artifact folder")
    parser.add_argument(
        "--no-report", action="store_true", help="write artifacts only, draw no figures"
    )


def config_from_args(args: argparse.Namespace) -> BenchmarkConfig:
    """Validate the options into a config; every problem is a one-line CommandError."""
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise CommandError(f"--engines: unknown engine(s) {unknown}; choose from sync, async")

    quick = QUICK if getattr(args, "quick", False) else {}
    records = _pick(args.records, quick.get("records"), 10)
    trials = _pick(args.trials, quick.get("trials"), 4)
    warmup = _pick(args.warmup, quick.get("warmup"), 1)
    latency = _pick(getattr(args, "latency", None), quick.get("latency"), None)

    if records < 1:
        raise CommandError(f"--records must be a positive integer, got {records}")
    if trials < 1:
        raise CommandError(f"--trials must be a positive integer, got {trials}")
    if warmup < 0:
        raise CommandError(f"--warmup must be >= 0, got {warmup}")
    if args.max_parallel_requests is not None and args.max_parallel_requests < 1:
        raise CommandError(
            f"--max-parallel-requests must be >= 1, got {args.max_parallel_requests}"
        )
    if latency is not None and latency < 0:
        raise CommandError(f"--latency must be >= 0 seconds, got {latency}")
    if args.profile is not None and not args.profile.is_file():
        raise CommandError(f"--profile: no such file {args.profile}")

    workloads = tuple(args.workloads) or DEVNOTE_WORKLOADS
    for name in workloads:
        try:
            resolve_workload(name)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc

    return BenchmarkConfig(
        workloads=workloads,
        engines=engines,
        records=records,
        trials=trials,
        warmup=warmup,
        max_parallel_requests=args.max_parallel_requests,
        profile=args.profile,
        latency=latency,
        endpoint=getattr(args, "endpoint", None),
        seed=args.seed,
    )


def list_workloads() -> int:
    for name, path in available_workloads().items():
        print(f"{name:<18} {workload_description(path)}")
    return EXIT_OK


def run_benchmark(args: argparse.Namespace) -> int:
    if args.list:
        return list_workloads()
    config = config_from_args(args)
    pipelines = {
        name: load_cli_pipeline(name, config.seed, config.max_parallel_requests)
        for name in config.workloads
    }
    if config.endpoint is not None:
        check_endpoint(config.endpoint)
    profiles = {name: resolve_profile(name, config) for name in config.workloads}
    if config.endpoint is None:
        validate_profiles(profiles)

    out_dir = args.out or default_out_dir(config.workloads)
    console = Console(file=sys.stderr)
    runs = run_all(config, pipelines, profiles, console)

    results = write_artifacts(out_dir, runs, config, sys.argv)
    print_summary(results, out_dir)
    if not args.no_report:
        draw_report(out_dir)
    failed = any(out.record.status != "ok" for run in runs for out in run.outputs)
    mismatch = any(not w["statistics"]["hash_equal"] for w in results["workloads"].values())
    return EXIT_FAILURE if failed or mismatch else EXIT_OK


def run_all(
    config: BenchmarkConfig,
    pipelines: dict,
    profiles: dict[str, Path | None],
    console: Console,
) -> list[WorkloadRun]:
    """Every workload in turn, each against its own embedded mock (or the endpoint)."""
    per_workload = (config.warmup + config.trials) * len(config.engines)
    total = per_workload * len(config.workloads)
    progress = TrialProgress(console, total)
    runs = []
    with progress:
        for name, pipeline in pipelines.items():
            with ExitStack() as stack:
                provider = None
                if config.endpoint is None:
                    provider = stack.enter_context(
                        start_mock_thread(
                            profiles[name], config.latency, seed=pipeline.settings.seed
                        )
                    )
                    pipeline = pipeline.with_endpoint(provider.base_url)
                else:
                    pipeline = pipeline.with_endpoint(config.endpoint)
                runs.append(
                    run_workload(name, pipeline, config, provider, profiles[name], progress.advance)
                )
    return runs


class TrialProgress:
    """A bar over trials on a terminal; one line a trial when not."""

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.interactive = console.is_terminal
        self._progress = None
        self._task = None

    def __enter__(self) -> TrialProgress:
        if self.interactive:
            from rich.progress import Progress

            self._progress = Progress(console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("trials", total=self.total)
        return self

    def advance(self, record: TrialRecord) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=f"{record.workload}")
            self._progress.console.print(describe_trial(record), highlight=False)
        else:
            print(describe_trial(record), file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def print_summary(results: dict, out_dir: Path) -> None:
    """The summary table on standard output, the notes beneath, the folder last."""
    rows = summary_rows(results)
    console = stdout_console()
    title = "Simulated" if results.get("kind") == "simulated" else "Measured"
    table = Table(title=f"{title}: sync vs async")
    for header in rows[0] if rows else []:
        justify = "left" if header in ("Workload", "DAG shape") else "right"
        table.add_column(header, justify=justify, overflow="fold")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)
    for note in speedup_notes(results):
        console.print(f"note: {note}", highlight=False)
    console.print(f"artifacts: {out_dir}", highlight=False)


def draw_report(out_dir: Path) -> None:
    """The figures and report.md of a finished run; a drawing failure loses no artifact."""
    from reports import build_report

    try:
        report = build_report([out_dir])
    except Exception as exc:  # the artifacts are written; a figure bug must not hide them
        log.exception("report could not be drawn")
        print(f"report: not drawn ({type(exc).__name__}: {exc})", file=sys.stderr)
        return
    print(f"report: {report.out_dir / 'report.md'}", file=sys.stderr)


def validate_profiles(profiles: dict[str, Path | None]) -> None:
    """Load each profile once before any trial, so a bad one stops the run at once."""
    from mock_provider import ProfileError, load_profile

    for path in {p for p in profiles.values() if p is not None}:
        try:
            load_profile(path)
        except (ProfileError, OSError) as exc:
            raise CommandError(str(exc)) from exc


def check_endpoint(endpoint: str) -> None:
    """Refuse an endpoint that does not accept connections, before any trial."""
    import aiohttp

    async def probe() -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        url = endpoint.rstrip("/") + "/models"
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as reply:
            await reply.read()

    try:
        asyncio.run(probe())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CommandError(f"--endpoint {endpoint}: cannot connect ({exc})") from exc


def _pick(explicit, quick, default):
    if explicit is not None:
        return explicit
    return quick if quick is not None else default
