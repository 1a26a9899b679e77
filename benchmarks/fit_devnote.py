"""Fit the dev note profile: per-workload lognormal latencies that give the dev note's table.

The dev note ("Async All the Way Down") reports, at 10 records and 16 parallel requests,
sync and async wall clocks for four DAG shapes. With a lognormal latency per model, a shape
alone fixes the ratio between the two engines' ideal schedules as a function of the
log-space spread ``sigma``, and the median then scales both to the dev note's sync time. So
the fit is one dimension per model: for each workload, find the ``sigma`` whose mean ideal
speedup (sync makespan over async makespan, replayed by ``dd_sim.ideal`` over many draws)
matches the dev note's speedup, then the median that matches its sync wall clock.

The dual-model workload has two models; its judge is fitted as a fixed fraction of the
generator's median (``JUDGE_FRACTION``), a faster small model, sharing the generator's sigma.

Run: ``python -m benchmarks.fit_devnote`` prints the fitted parameters and the predicted
table; ``benchmarks/profiles/devnote.yaml`` holds the values it printed (rounded).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from benchmarks.workloads import resolve_workload
from dd_core.loader import load_pipeline
from dd_sim.dag import dag_spec
from dd_sim.ideal import CellWork, DagSpec, ideal_async, ideal_sync

RECORDS = 10
MAX_PARALLEL = 16
JUDGE_FRACTION = 0.15

#: workload: (sync seconds, async seconds) from the dev note's table.
DEVNOTE_TABLE: dict[str, tuple[float, float]] = {
    "narrow": (5.2, 4.6),
    "deep": (8.5, 6.6),
    "wide": (6.7, 4.5),
    "dual_model": (10.0, 6.1),
}


@dataclass(frozen=True)
class Fit:
    workload: str
    sigma: float
    median: float
    sync_seconds: float
    async_seconds: float

    @property
    def speedup(self) -> float:
        return self.sync_seconds / self.async_seconds


def mean_makespans(
    spec: DagSpec, medians: dict[str, float], sigma: float, draws: int, seed: int
) -> tuple[float, float]:
    """Mean ideal sync and async makespans over ``draws`` lognormal latency draws."""
    rng = np.random.default_rng(seed)
    llm_columns = [c for c in spec.order if spec.pool[c] is not None]
    sync_total = async_total = 0.0
    for _ in range(draws):
        work = [
            CellWork(row, column, float(medians[spec.pool[column]] * rng.lognormal(0, sigma)))
            for row in range(RECORDS)
            for column in llm_columns
        ]
        sync_total += ideal_sync(spec, work, RECORDS, buffer_size=RECORDS)
        async_total += ideal_async(spec, work, RECORDS)
    return sync_total / draws, async_total / draws


def pool_medians(spec: DagSpec, generator_median: float) -> dict[str, float]:
    """The generator's median for every pool, the judge's a fraction of it."""
    return {
        pool: generator_median * (JUDGE_FRACTION if "judge" in pool else 1.0) for pool in spec.caps
    }


def fit_workload(name: str, draws: int, seed: int) -> Fit:
    """Bisect sigma on the speedup, then scale the median to the dev note's sync time."""
    pipeline = load_pipeline(resolve_workload(name)).with_max_parallel_requests(MAX_PARALLEL)
    spec = dag_spec(pipeline)
    sync_target, async_target = DEVNOTE_TABLE[name]
    target = sync_target / async_target

    def speedup(sigma: float) -> float:
        sync, async_ = mean_makespans(spec, pool_medians(spec, 1.0), sigma, draws, seed)
        return sync / async_

    low, high = 0.0, 2.0
    if speedup(low) >= target:
        high = low
    for _ in range(20):
        if high == low:
            break
        middle = (low + high) / 2
        low, high = (middle, high) if speedup(middle) < target else (low, middle)
    sigma = (low + high) / 2

    sync_unit, async_unit = mean_makespans(spec, pool_medians(spec, 1.0), sigma, draws, seed)
    median = sync_target / sync_unit
    return Fit(name, sigma, median, sync_unit * median, async_unit * median)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=400, help="latency draws per point")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"{'workload':<12} {'sigma':>6} {'median':>7} {'sync':>6} {'async':>6} {'speedup':>7}")
    for name in DEVNOTE_TABLE:
        fit = fit_workload(name, args.draws, args.seed)
        print(
            f"{fit.workload:<12} {fit.sigma:6.3f} {fit.median:7.3f} "
            f"{fit.sync_seconds:6.2f} {fit.async_seconds:6.2f} {fit.speedup:6.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
