"""``ddbench compare``: hold a candidate run against a baseline; the CI regression gate.

Exit status 1 when any workload shared by both got slower beyond the tolerance and beyond
its interval, when its speedup or an engine's efficiency fell by more than the tolerance,
when an engine's dataset hash changed (same inputs only), or when the candidate leaked a
permit; 0 otherwise; 2 when an input cannot be read.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from benchmarks.artifacts import ArtifactError, read_results
from benchmarks.cli import EXIT_FAILURE, EXIT_OK, CommandError, stdout_console
from benchmarks.stats import Summary, regression_check

#: The inputs that must agree for dataset hashes to be comparable.
HASH_INPUTS: tuple[str, ...] = ("records", "seed", "max_parallel_requests")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare a candidate run against a baseline; exit 1 on a regression",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("baseline", type=Path, help="baseline results.json (or its folder)")
    parser.add_argument("candidate", type=Path, help="candidate results.json (or its folder)")
    parser.add_argument(
        "--tolerance", type=float, default=0.05, help="relative slow-down allowed (0.05)"
    )
    parser.set_defaults(func=run_compare)


@dataclass
class WorkloadVerdict:
    """What changed for one workload, and the reasons it fails the gate (if any)."""

    name: str
    cells: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def compare_results(
    baseline: dict[str, Any], candidate: dict[str, Any], tolerance: float
) -> list[WorkloadVerdict]:
    """One verdict per workload present in both artifacts."""
    same_inputs = all(
        baseline["inputs"].get(key) == candidate["inputs"].get(key) for key in HASH_INPUTS
    )
    verdicts = []
    for name, base in baseline["workloads"].items():
        cand = candidate["workloads"].get(name)
        if cand is None:
            continue
        verdicts.append(compare_workload(name, base, cand, tolerance, same_inputs))
    return verdicts


def compare_workload(
    name: str,
    base: dict[str, Any],
    cand: dict[str, Any],
    tolerance: float,
    same_inputs: bool,
) -> WorkloadVerdict:
    verdict = WorkloadVerdict(name)
    base_stats, cand_stats = base["statistics"], cand["statistics"]

    for engine, cand_engine in cand_stats["engines"].items():
        base_engine = base_stats["engines"].get(engine)
        if not base_engine or not base_engine["trials"] or not cand_engine["trials"]:
            continue
        change = regression_check(
            Summary.from_dict(base_engine["wall"]),
            Summary.from_dict(cand_engine["wall"]),
            tolerance,
        )
        verdict.cells[f"{engine} wall"] = f"{change.relative_change:+.1%}"
        if change.regressed:
            verdict.failures.append(f"{engine} slower by {change.relative_change:.1%}")

        fell = _fell(base_engine.get("efficiency_mean"), cand_engine.get("efficiency_mean"))
        verdict.cells[f"{engine} eff."] = _delta(fell)
        if fell is not None and fell < -tolerance:
            verdict.failures.append(f"{engine} efficiency fell by {-fell:.1%}")

        if not cand_engine["leak_free"]:
            verdict.failures.append(f"{engine} leaked a permit or task")
        if same_inputs and base_engine["hashes"] and cand_engine["hashes"] != base_engine["hashes"]:
            verdict.failures.append(f"{engine} dataset hash changed")

    base_speedup, cand_speedup = base_stats.get("speedup"), cand_stats.get("speedup")
    if base_speedup and cand_speedup:
        fell = _fell(base_speedup["mean"], cand_speedup["mean"])
        verdict.cells["speedup"] = f"{base_speedup['mean']:.2f}x -> {cand_speedup['mean']:.2f}x"
        if fell is not None and fell < -tolerance:
            verdict.failures.append(f"speedup fell by {-fell:.1%}")

    verdict.cells["429s"] = _pair(base_stats, cand_stats, "rate_limited")
    verdict.cells["dropped"] = _pair(base_stats, cand_stats, "rows_dropped")
    if not cand_stats["hash_equal"]:
        verdict.failures.append("sync and async datasets differ")
    verdict.cells["hashes equal"] = "yes" if cand_stats["hash_equal"] else "NO"
    return verdict


def run_compare(args: argparse.Namespace) -> int:
    if args.tolerance < 0:
        raise CommandError(f"--tolerance must be >= 0, got {args.tolerance}")
    try:
        baseline = read_results(args.baseline)
        candidate = read_results(args.candidate)
    except ArtifactError as exc:
        raise CommandError(str(exc)) from exc

    verdicts = compare_results(baseline, candidate, args.tolerance)
    if not verdicts:
        raise CommandError("the two artifacts share no workload")
    print_verdicts(verdicts, args.tolerance)
    return EXIT_FAILURE if any(v.failures for v in verdicts) else EXIT_OK


def print_verdicts(verdicts: list[WorkloadVerdict], tolerance: float) -> None:
    """The table, then one plain line a failure (what a CI log reader greps for)."""
    console = stdout_console()
    headers = ["workload"] + list(dict.fromkeys(k for v in verdicts for k in v.cells)) + ["gate"]
    table = Table(title=f"candidate vs baseline (tolerance {tolerance:.0%})")
    for header in headers:
        table.add_column(header, justify="left" if header in ("workload", "gate") else "right")
    for verdict in verdicts:
        gate = "FAIL: " + "; ".join(verdict.failures) if verdict.failures else "ok"
        table.add_row(verdict.name, *(verdict.cells.get(h, "") for h in headers[1:-1]), gate)
    console.print(table)
    for verdict in verdicts:
        for failure in verdict.failures:
            console.print(f"FAIL {verdict.name}: {failure}", highlight=False)
    if not any(verdict.failures for verdict in verdicts):
        console.print("gate: ok", highlight=False)


def _fell(before: float | None, after: float | None) -> float | None:
    """Relative change from ``before`` to ``after``; None when either is missing."""
    if not before or after is None:
        return None
    return after / before - 1.0


def _delta(change: float | None) -> str:
    return "n/a" if change is None else f"{change:+.1%}"


def _pair(base: dict[str, Any], cand: dict[str, Any], key: str) -> str:
    def total(stats: dict[str, Any]) -> int:
        return sum(engine.get(key, 0) for engine in stats["engines"].values())

    return f"{total(base)} -> {total(cand)}"
