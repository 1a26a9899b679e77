"""Figures from the statistics alone: wall clock, speedup scaling, spread, efficiency."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from reports.context import FigureContext, Unavailable, new_figure, short
from reports.palette import ENGINES


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _engine_stats(ctx: FigureContext, workload: str) -> dict[str, dict[str, Any]]:
    """Per-engine statistics of ``workload`` with at least one trial."""
    engines = ctx.artifacts.workload(workload)["statistics"]["engines"]
    return {
        engine: stats
        for engine, stats in engines.items()
        if engine in ENGINES and stats.get("trials") and _finite(stats["wall"].get("mean"))
    }


def _interval(wall: dict[str, Any]) -> tuple[float, float]:
    """The 95% interval of the mean, or min..max when there was one trial too few."""
    low, high = wall.get("ci_low"), wall.get("ci_high")
    if not (_finite(low) and _finite(high)):
        low, high = wall.get("min"), wall.get("max")
    mean = wall["mean"]
    low = low if _finite(low) else mean
    high = high if _finite(high) else mean
    return max(mean - low, 0.0), max(high - mean, 0.0)


def _speedup(ctx: FigureContext, workload: str) -> dict[str, Any] | None:
    speedup = ctx.artifacts.workload(workload)["statistics"].get("speedup")
    return speedup if speedup and _finite(speedup.get("mean")) else None


def wall_clock_bars(ctx: FigureContext) -> Figure:
    """Sync beside async, mean wall clock per workload, interval whiskers, speedup above."""
    workloads = [w for w in ctx.artifacts.workload_names() if _engine_stats(ctx, w)]
    if not workloads:
        raise Unavailable("no workload has a measured trial that finished")

    present = [e for e in ENGINES if any(e in _engine_stats(ctx, w) for w in workloads)]
    figure = new_figure(height=4.6)
    axes = figure.subplots()
    width = 0.76 / len(present)
    x = np.arange(len(workloads))
    tops = np.zeros(len(workloads))
    for k, engine in enumerate(present):
        offset = (k - (len(present) - 1) / 2) * width
        means, errors = [], [[], []]
        for i, workload in enumerate(workloads):
            stats = _engine_stats(ctx, workload).get(engine)
            mean = stats["wall"]["mean"] if stats else 0.0
            low, high = _interval(stats["wall"]) if stats else (0.0, 0.0)
            means.append(mean)
            errors[0].append(low)
            errors[1].append(high)
            tops[i] = max(tops[i], mean + high)
        axes.bar(
            x + offset,
            means,
            width,
            yerr=errors,
            label=engine,
            color=ctx.engine_colour(engine),
            error_kw={"ecolor": ctx.theme.foreground, "capsize": 3, "elinewidth": 1},
        )

    faster = 0
    for i, workload in enumerate(workloads):
        speedup = _speedup(ctx, workload)
        if speedup is None:
            continue
        faster += speedup["mean"] > 1.0
        axes.annotate(
            f"{speedup['mean']:.2f}x",
            (x[i], tops[i]),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontweight="bold",
        )

    counted = sum(_speedup(ctx, w) is not None for w in workloads)
    title = "Sync vs async wall clock per workload"
    if counted:
        title = f"Async is faster on {faster} of {counted} workloads (speedup above each pair)"
    axes.set_title(title)
    axes.set_xticks(x, [short(w) for w in workloads])
    axes.set_ylabel("wall clock, mean of trials (s)")
    axes.set_ylim(0, max(tops.max(), 1e-9) * 1.18)
    axes.legend(loc="upper left", ncols=2)
    axes.grid(axis="x", visible=False)
    return figure


def dag_parallelism(dag: dict[str, Any]) -> float:
    """Model-call columns over the critical path: how many calls a row can run at once."""
    llm_columns = sum(bool(flag) for flag in dag["llm"].values())
    return llm_columns / max(int(dag.get("critical_path") or 1), 1)


def speedup_scaling(ctx: FigureContext) -> Figure:
    """Measured speedup (with interval) and the ideal, ordered by the DAG's parallelism."""
    points = []
    for workload in ctx.artifacts.workload_names():
        speedup = _speedup(ctx, workload)
        if speedup is None:
            continue
        document = ctx.artifacts.workload(workload)
        ideal = document["statistics"].get("ideal_speedup")
        points.append((dag_parallelism(document["dag"]), workload, speedup, ideal))
    if not points:
        raise Unavailable("no workload was run by both engines, so there is no speedup")
    points.sort(key=lambda point: (point[0], point[1]))

    figure = new_figure(height=4.6)
    axes = figure.subplots()
    x = np.arange(len(points))
    measured = np.array([p[2]["mean"] for p in points])
    low = np.array([p[2].get("ci_low") if _finite(p[2].get("ci_low")) else np.nan for p in points])
    high = np.array(
        [p[2].get("ci_high") if _finite(p[2].get("ci_high")) else np.nan for p in points]
    )
    yerr = np.vstack([np.nan_to_num(measured - low), np.nan_to_num(high - measured)])
    axes.axhline(1.0, color=ctx.theme.muted, linewidth=1, linestyle="--")
    axes.errorbar(
        x - 0.12,
        measured,
        yerr=yerr,
        fmt="o",
        markersize=8,
        capsize=4,
        color=ctx.engine_colour("async"),
        label="measured (95% interval)",
    )
    ideals = np.array([p[3] if _finite(p[3]) else np.nan for p in points])
    if np.isfinite(ideals).any():
        axes.plot(
            x + 0.12,
            ideals,
            "D",
            markersize=8,
            markerfacecolor="none",
            markeredgewidth=1.8,
            color=ctx.theme.foreground,
            linestyle="none",
            label="ideal (no engine overhead)",
        )

    rising = len(points) > 1 and measured[-1] > measured[0]
    axes.set_title(
        "Wider DAGs gain more from async: speedup by available parallelism"
        if rising
        else "Speedup by the DAG's available parallelism, measured and ideal"
    )
    axes.set_xticks(x, [f"{short(p[1])}\n{p[0]:.1f}" for p in points])
    axes.set_xlabel("workload, and its parallelism (model-call columns / critical path)")
    axes.set_ylabel("speedup (sync / async wall clock)")
    top = np.nanmax(np.concatenate([measured + yerr[1], ideals, [1.0]]))
    axes.set_ylim(0, top * 1.15)
    axes.legend(loc="upper left")
    axes.grid(axis="x", visible=False)
    return figure


def trial_boxplot(ctx: FigureContext) -> Figure:
    """Every measured trial's wall clock per engine and workload, box and points."""
    workloads = ctx.artifacts.workload_names()
    series = [
        (i, engine, ctx.artifacts.pooled_walls(workload, engine))
        for i, workload in enumerate(workloads)
        for engine in ENGINES
    ]
    series = [s for s in series if s[2]]
    if not series:
        raise Unavailable("no workload has a measured trial that finished")

    figure = new_figure(height=4.6)
    axes = figure.subplots()
    offsets = {"sync": -0.2, "async": 0.2}
    rng = np.random.default_rng(0)
    for index, engine, walls in series:
        position = index + offsets[engine]
        colour = ctx.engine_colour(engine)
        axes.boxplot(
            [walls],
            positions=[position],
            widths=0.32,
            patch_artist=True,
            showfliers=False,
            boxprops={"facecolor": colour, "alpha": 0.35, "edgecolor": colour},
            medianprops={"color": colour, "linewidth": 2},
            whiskerprops={"color": colour},
            capprops={"color": colour},
        )
        jitter = rng.uniform(-0.07, 0.07, size=len(walls))
        axes.scatter(position + jitter, walls, s=16, color=colour, zorder=3)
    for engine in ENGINES:
        if any(s[1] == engine for s in series):
            axes.scatter([], [], color=ctx.engine_colour(engine), label=engine)

    trials = max(len(s[2]) for s in series)
    axes.set_title(f"Spread across repeated trials (up to {trials} per engine)")
    axes.set_xticks(range(len(workloads)), [short(w) for w in workloads])
    axes.set_xlim(-0.6, len(workloads) - 0.4)
    axes.set_ylabel("wall clock per trial (s)")
    axes.set_ylim(0, max(max(s[2]) for s in series) * 1.12)
    axes.legend(loc="upper left", ncols=2)
    axes.grid(axis="x", visible=False)
    return figure


def efficiency_bars(ctx: FigureContext) -> Figure:
    """Efficiency (ideal over measured) per engine and workload; 100% is no overhead."""
    rows = []
    for workload in ctx.artifacts.workload_names():
        for engine, stats in _engine_stats(ctx, workload).items():
            ideal = stats.get("ideal_mean")
            if _finite(ideal) and ideal > 0:
                rows.append((workload, engine, ideal / stats["wall"]["mean"]))
    if not rows:
        raise Unavailable(
            "no trial has an ideal (it needs the provider's request log; an --endpoint run "
            "has none)"
        )

    workloads = list(dict.fromkeys(row[0] for row in rows))
    figure = new_figure(height=4.6)
    axes = figure.subplots()
    width = 0.38
    for offset, engine in zip((-width / 2, width / 2), ENGINES, strict=True):
        mine = [(workloads.index(w), e) for w, eng, e in rows if eng == engine]
        if not mine:
            continue
        x = np.array([m[0] for m in mine]) + offset
        values = np.array([m[1] for m in mine]) * 100
        bars = axes.bar(x, values, width, color=ctx.engine_colour(engine), label=engine)
        labels = [f"{100 / v:.2f}x" if v > 0 else "" for v in values]
        axes.bar_label(bars, labels, padding=-16, fontsize=9, color=ctx.theme.background)
    axes.axhline(100, color=ctx.theme.muted, linewidth=1, linestyle="--")

    best = {e: max((r[2] for r in rows if r[1] == e), default=None) for e in ENGINES}
    parts = [f"{e} at best {v:.0%}" for e, v in best.items() if v is not None]
    axes.set_title("How close each engine came to its ideal: " + ", ".join(parts))
    axes.set_xticks(range(len(workloads)), [short(w) for w in workloads])
    axes.set_ylabel("efficiency: ideal / measured wall clock (%)")
    top = max(r[2] for r in rows) * 100
    axes.set_ylim(0, max(top, 100) * 1.18)
    axes.set_xlabel("workload (in each bar: measured wall clock as a multiple of the ideal)")
    axes.legend(loc="upper left", ncols=2)
    axes.grid(axis="x", visible=False)
    return figure


def sim_vs_measured(ctx: FigureContext) -> Figure:
    """Predicted against measured mean wall clock, matched by workload and engine."""
    measured = ctx.artifacts.of_kind("measured")
    simulated = ctx.artifacts.of_kind("simulated")
    if not measured or not simulated:
        raise Unavailable("it needs both a measured and a simulated artifact")

    def means(artifacts: tuple) -> dict[tuple[str, str], float]:
        found: dict[tuple[str, str], float] = {}
        for artifact in artifacts:
            for workload, document in artifact.workloads.items():
                for engine, stats in document["statistics"]["engines"].items():
                    mean = stats.get("wall", {}).get("mean")
                    if stats.get("trials") and _finite(mean):
                        found.setdefault((workload, engine), float(mean))
        return found

    real, predicted = means(measured), means(simulated)
    pairs = sorted(set(real) & set(predicted))
    if not pairs:
        raise Unavailable("the measured and simulated artifacts share no workload and engine")

    figure = new_figure(width=6.4, height=5.6)
    axes = figure.subplots()
    xs = np.array([real[p] for p in pairs])
    ys = np.array([predicted[p] for p in pairs])
    limit = max(xs.max(), ys.max()) * 1.12
    axes.plot([0, limit], [0, limit], color=ctx.theme.muted, linestyle="--", linewidth=1)
    for (workload, engine), x, y in zip(pairs, xs, ys, strict=True):
        axes.scatter([x], [y], s=42, color=ctx.engine_colour(engine), zorder=3)
        axes.annotate(
            f"{short(workload, 12)} {(y - x) / x:+.0%}",
            (x, y),
            xytext=(5, -3),
            textcoords="offset points",
            fontsize=8.5,
        )
    for engine in ENGINES:
        if any(p[1] == engine for p in pairs):
            axes.scatter([], [], color=ctx.engine_colour(engine), label=engine)

    error = float(np.median(np.abs(ys - xs) / xs))
    axes.set_title(f"Simulator against measurement: median error {error:.0%}")
    axes.set_xlabel("measured wall clock, mean (s)")
    axes.set_ylabel("simulated wall clock, mean (s)")
    axes.set_xlim(0, limit)
    axes.set_ylim(0, limit)
    axes.set_aspect("equal")
    axes.legend(loc="upper left", title="identity line: a perfect prediction")
    return figure
