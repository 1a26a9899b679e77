"""What-if sweeps: a grid or a random sample of simulated points, run on a process pool.

A sweep file (YAML) names a workload, or none for a generated random DAG, and the axes to
vary. ``benchmarks/sweeps/example.yaml`` shows every key::

    name: example            # default: the file's stem
    mode: grid               # grid (every combination) or random (``samples`` draws)
    samples: 20              # random mode only
    seed: 0                  # random draws, the random DAG, and the first trial's seed
    trials: 2                # seeds per point
    engines: [sync, async]
    workload: wide           # a pipeline file (``ddbench sim`` also takes a bundled name);
                             # omit for a random DAG
    profile: path.yaml       # default: none here; ``ddbench sim`` takes the workload's own
    axes:
      records: [100, 1000]
      max_parallel_requests: [4, 16]
      latency: [0.5, 1.0]    # median time to first token, seconds (every model)
      sigma: [0.0, 0.3]      # log-space spread of it; 0 is a fixed latency
      rpm: [null, 600]       # per-model request bucket (null: none)
      tpm: [null]            # per-model token bucket
      max_concurrency: [null, 8]   # provider's per-model concurrency cap
      width: [2, 4]          # random DAG only: columns per level,
      depth: [1, 3]          # levels (model calls on the longest chain),
      fan_in: [1, 2]         # inputs per column,
      models: [1, 2]         # models, and
      endpoints: [1, 2]      # providers serving them

In random mode an axis may also be a range ``{low: a, high: b}``, drawn uniformly
(integers for integer axes). Every problem is a ``SweepError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import random
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dd_core.config import Pipeline
from dd_core.errors import ConfigError
from dd_core.loader import load_pipeline
from dd_sim.random_dag import random_pipeline
from dd_sim.simulate import ENGINES, simulate
from dd_sim.workload import SimOptions, SimWorkload
from mock_provider.profile import Distribution, LatencyProfile, Profile, load_profile

log = logging.getLogger(__name__)

TOP_KEYS = ("name", "mode", "samples", "seed", "trials", "engines", "workload", "profile", "axes")
DAG_AXES = ("width", "depth", "fan_in", "models", "endpoints")
#: Axis -> (integer?, minimum, may be null).
AXES: dict[str, tuple[bool, float, bool]] = {
    "records": (True, 1, False),
    "max_parallel_requests": (True, 1, False),
    "latency": (False, 0.0, False),
    "sigma": (False, 0.0, False),
    "rpm": (False, 1e-9, True),
    "tpm": (False, 1e-9, True),
    "max_concurrency": (True, 1, True),
    **{name: (True, 1, False) for name in DAG_AXES},
}
DEFAULTS = {"records": 100, "width": 3, "depth": 2, "fan_in": 1, "models": 1, "endpoints": 1}


class SweepError(ValueError):
    """A sweep file is invalid; the message names the key, the value and what is valid."""


@dataclass(frozen=True)
class Sweep:
    """A validated sweep."""

    name: str
    mode: str
    axes: Mapping[str, Any]
    samples: int = 0
    seed: int = 0
    trials: int = 1
    engines: tuple[str, ...] = ENGINES
    workload: str | None = None
    profile: str | None = None

    def points(self) -> list[dict[str, Any]]:
        """Every point's axis values, in a fixed order."""
        names = sorted(self.axes)
        if self.mode == "grid":
            grids = [self.axes[name] for name in names]
            return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)]
        rng = random.Random(self.seed)
        return [
            {name: _draw(name, self.axes[name], rng) for name in names} for _ in range(self.samples)
        ]


def load_sweep(source: str | Path | Mapping[str, Any]) -> Sweep:
    """Read and validate a sweep file (or mapping)."""
    name = "sweep"
    if isinstance(source, str | Path):
        path = Path(source)
        name = path.stem
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SweepError(f"sweep: cannot read {str(path)!r}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise SweepError(f"sweep: {str(path)!r} is not valid YAML: {exc}") from exc
    else:
        data = source
    if not isinstance(data, Mapping):
        raise SweepError(f"sweep: expected a mapping of keys, got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise SweepError(f"sweep.{key}: unknown key; expected one of {', '.join(TOP_KEYS)}")

    mode = data.get("mode", "grid")
    if mode not in ("grid", "random"):
        raise SweepError(f"sweep.mode: {mode!r}; expected grid or random")
    samples = _int(data.get("samples", 0), "sweep.samples", 0)
    if mode == "random" and samples < 1:
        raise SweepError("sweep.samples: random mode needs samples >= 1")
    engines = tuple(data.get("engines", ENGINES))
    for engine in engines:
        if engine not in ENGINES:
            raise SweepError(f"sweep.engines: unknown engine {engine!r}; expected sync, async")
    if not engines:
        raise SweepError("sweep.engines: empty; give sync, async or both")

    axes_raw = data.get("axes", {})
    if not isinstance(axes_raw, Mapping):
        raise SweepError(f"sweep.axes: expected a mapping of axis: values, got {axes_raw!r}")
    axes = {axis: _axis(axis, values, mode) for axis, values in axes_raw.items()}
    workload = data.get("workload")
    if workload is not None and any(axis in axes for axis in DAG_AXES):
        used = [axis for axis in DAG_AXES if axis in axes]
        raise SweepError(f"sweep.axes.{used[0]}: random DAG axes need no workload; drop one")
    return Sweep(
        name=str(data.get("name", name)),
        mode=mode,
        axes=axes,
        samples=samples,
        seed=_int(data.get("seed", 0), "sweep.seed", 0),
        trials=_int(data.get("trials", 1), "sweep.trials", 1),
        engines=engines,
        workload=None if workload is None else str(workload),
        profile=None if data.get("profile") is None else str(data["profile"]),
    )


def _axis(axis: str, values: Any, mode: str) -> Any:
    where = f"sweep.axes.{axis}"
    if axis not in AXES:
        raise SweepError(f"{where}: unknown axis; expected one of {', '.join(AXES)}")
    integer, minimum, nullable = AXES[axis]
    if isinstance(values, Mapping):
        if mode != "random":
            raise SweepError(f"{where}: a {{low, high}} range needs mode: random; give a list")
        if set(values) != {"low", "high"}:
            raise SweepError(f"{where}: a range has exactly the keys low and high")
        low = _value(values["low"], f"{where}.low", integer, minimum, False)
        high = _value(values["high"], f"{where}.high", integer, minimum, False)
        if high < low:
            raise SweepError(f"{where}: empty range, high {high} is below low {low}")
        return {"low": low, "high": high}
    if not isinstance(values, list) or not values:
        raise SweepError(f"{where}: expected a non-empty list of values, got {values!r}")
    return [_value(v, f"{where}[{i}]", integer, minimum, nullable) for i, v in enumerate(values)]


def _value(raw: Any, where: str, integer: bool, minimum: float, nullable: bool) -> Any:
    if raw is None and nullable:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise SweepError(f"{where}: expected a number, got {raw!r}")
    if integer and int(raw) != raw:
        raise SweepError(f"{where}: expected an integer, got {raw!r}")
    if raw < minimum:
        raise SweepError(f"{where}: {raw!r} is impossible; the minimum is {minimum:g}")
    return int(raw) if integer else float(raw)


def _int(raw: Any, where: str, minimum: int) -> int:
    return int(_value(raw, where, True, minimum, False))


def _draw(axis: str, values: Any, rng: random.Random) -> Any:
    if isinstance(values, list):
        return rng.choice(values)
    if AXES[axis][0]:
        return rng.randint(int(values["low"]), int(values["high"]))
    return rng.uniform(values["low"], values["high"])


# -- running --------------------------------------------------------------------------


def point_pipeline(sweep: Sweep, point: Mapping[str, Any]) -> Pipeline:
    """The pipeline of one point: the workload, or a random DAG, with its overrides."""
    if sweep.workload is not None:
        try:
            pipeline = load_pipeline(sweep.workload)
        except (LookupError, ConfigError, OSError) as exc:
            raise SweepError(f"sweep.workload: {exc}") from exc
    else:
        shape = {axis: point.get(axis, DEFAULTS[axis]) for axis in DAG_AXES}
        try:
            pipeline = random_pipeline(**shape, seed=sweep.seed)
        except (ValueError, ConfigError) as exc:
            raise SweepError(f"sweep.axes: {exc}") from exc
    if "max_parallel_requests" in point:
        pipeline = pipeline.with_max_parallel_requests(point["max_parallel_requests"])
    return pipeline


def point_profile(sweep: Sweep, point: Mapping[str, Any]) -> Profile:
    """The profile of one point: the base profile with the point's latency and limits."""
    try:
        profile = load_profile(sweep.profile)
    except (ValueError, OSError) as exc:
        raise SweepError(f"sweep.profile: {exc}") from exc

    def override(model: Any) -> Any:
        if "latency" in point or "sigma" in point:
            median = point.get("latency", model.latency.ttft.mean())
            sigma = point.get("sigma", 0.0)
            ttft = (
                Distribution.fixed(median)
                if sigma == 0 or median == 0
                else Distribution(dist="lognormal", median=median, sigma=sigma)
            )
            model = dataclasses.replace(
                model, latency=LatencyProfile(ttft=ttft, per_token=model.latency.per_token)
            )
        limits = {k: point[k] for k in ("rpm", "tpm", "max_concurrency") if k in point}
        if limits:
            capacity = dataclasses.replace(model.capacity, **limits)
            model = dataclasses.replace(model, capacity=capacity)
        return model

    return dataclasses.replace(
        profile,
        default=override(profile.default),
        models={name: override(m) for name, m in profile.models.items()},
    )


def run_point(sweep: Sweep, index: int, point: dict[str, Any], options: SimOptions) -> list[dict]:
    """Every (seed, engine) run of one point, as table rows."""
    workload = SimWorkload(point_pipeline(sweep, point), point_profile(sweep, point))
    records = int(point.get("records", DEFAULTS["records"]))
    rows = []
    for trial in range(sweep.trials):
        for engine in sweep.engines:
            result = simulate(
                workload, records=records, engine=engine, seed=sweep.seed + trial, options=options
            )
            counters = result.run.counters
            rows.append(
                {
                    "point": index,
                    **{axis: point.get(axis) for axis in sorted(sweep.axes)},
                    "pipeline": workload.pipeline.name,
                    "engine": engine,
                    "seed": sweep.seed + trial,
                    "wall_seconds": result.wall_seconds,
                    "requests": counters.get("requests", 0),
                    "rate_limited": counters.get("rate_limited", 0),
                    "rows_dropped": result.run.rows_dropped,
                    "fidelity": result.fidelity,
                }
            )
    return rows


def run_sweep(
    sweep: Sweep,
    options: SimOptions | None = None,
    *,
    workers: int | None = None,
    on_point: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Every point of ``sweep``; on ``workers`` processes (default: every core; 1 inline)."""
    options = options or SimOptions(tracing=False)
    points = sweep.points()
    workers = workers or os.cpu_count() or 1
    rows: list[dict] = []
    if workers == 1 or len(points) == 1:
        for index, point in enumerate(points):
            rows.extend(run_point(sweep, index, point, options))
            if on_point is not None:
                on_point(index + 1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(run_point, sweep, index, point, options)
                for index, point in enumerate(points)
            ]
            for done, future in enumerate(as_completed(futures), start=1):
                rows.extend(future.result())
                if on_point is not None:
                    on_point(done)
    table = pd.DataFrame(rows)
    return table.sort_values(["point", "seed", "engine"], kind="stable").reset_index(drop=True)


def summarise_sweep(table: pd.DataFrame) -> pd.DataFrame:
    """One row a point: the axes, each engine's mean wall clock and the speedup."""
    keys = [c for c in table.columns if c not in _MEASURES]
    summary = table.groupby("point", sort=True)[keys].first().reset_index(drop=True)
    for engine in ENGINES:
        mine = table[table["engine"] == engine]
        if not mine.empty:
            means = mine.groupby("point", sort=True)["wall_seconds"].mean()
            summary[f"{engine}_s"] = summary["point"].map(means)
    if {"sync_s", "async_s"} <= set(summary.columns):
        summary["speedup"] = summary["sync_s"] / summary["async_s"]
    return summary


_MEASURES = (
    "engine",
    "seed",
    "wall_seconds",
    "requests",
    "rate_limited",
    "rows_dropped",
    "fidelity",
)
