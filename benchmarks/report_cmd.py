"""``ddbench report``: figures, ``report.md`` and ``report.html`` from artifact folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.artifacts import ArtifactError
from benchmarks.cli import EXIT_OK, CommandError
from reports import THEMES, build_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="draw the figures and write report.md / report.html from artifacts",
        description=(
            "Read one or more artifact folders (measured and/or simulated) and write PNG and "
            "SVG figures, report.md and a self-contained report.html into the first folder "
            "(or --out). Figures the artifacts hold no data for are listed, not drawn."
        ),
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="artifact folders (or results.json)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the report")
    parser.add_argument("--theme", choices=sorted(THEMES), default="light", help="(light)")
    parser.add_argument(
        "--timeline-workload",
        default=None,
        help="workload for the Gantt, cell grid and model activity (default: busiest)",
    )
    parser.add_argument("--no-gif", action="store_true", help="skip the animated cell grid")
    parser.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    try:
        report = build_report(
            args.dirs,
            args.out,
            theme=args.theme,
            timeline_workload=args.timeline_workload,
            gif=not args.no_gif,
        )
    except ArtifactError as exc:
        raise CommandError(str(exc)) from exc

    for outcome in report.missing:
        print(f"not drawn: {outcome.title}: {outcome.reason}")
    print(f"{len(report.drawn)} figures, report: {report.markdown} and {report.html}")
    return EXIT_OK
