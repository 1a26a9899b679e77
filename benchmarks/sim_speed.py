"""Simulator speed: simulated tasks per second of wall time, both engines, 10k and 1M tasks.

Run ``python -m benchmarks.sim_speed`` (add ``--full`` for the SimPy model's figures too; it
is skipped at 1M tasks, where it takes minutes). The workload is the six-column ``wide``
pipeline on a fixed 1 s latency, tracing off, so the lean loop is what ``auto`` picks.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.workloads import resolve_workload
from dd_core.loader import load_pipeline
from dd_sim.simulate import simulate
from dd_sim.workload import SimOptions, SimWorkload
from mock_provider.profile import Profile

TASK_COUNTS = (10_000, 1_000_000)


def measure(engine: str, tasks: int, fidelity: str) -> tuple[float, float]:
    """(simulated tasks per wall second, simulated seconds) of one run."""
    workload = SimWorkload(load_pipeline(resolve_workload("wide")), Profile.fixed(1.0))
    records = tasks // len(workload.order)
    options = SimOptions(tracing=False, fidelity=fidelity)
    started = time.perf_counter()
    result = simulate(workload, records=records, engine=engine, options=options)
    elapsed = time.perf_counter() - started
    return records * len(workload.order) / elapsed, result.wall_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time the SimPy model")
    args = parser.parse_args()
    fidelities = ("lean", "full") if args.full else ("lean",)
    print(f"{'engine':<6} {'fidelity':<8} {'tasks':>10} {'tasks/s':>12} {'simulated':>12}")
    for fidelity in fidelities:
        for engine in ("sync", "async"):
            for tasks in TASK_COUNTS:
                if fidelity == "full" and tasks > 100_000:
                    continue
                rate, simulated = measure(engine, tasks, fidelity)
                print(f"{engine:<6} {fidelity:<8} {tasks:>10,} {rate:>12,.0f} {simulated:>11.0f}s")


if __name__ == "__main__":
    main()
