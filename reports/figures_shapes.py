"""The DAG shapes, drawn from the artifact's levels, and AIMD over time from the throttle.

The DAG layout is layered: a column's level (its longest path from a root) is its x, and
columns of one level are spread evenly on y. No crossing reduction is attempted, which is
fine for the bundled shapes (a dozen columns) and gets busy beyond a few dozen.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from reports.artifact_set import relative_times
from reports.context import FigureContext, Unavailable, new_figure, short
from reports.palette import ENGINES

#: DAG panels per row of the figure.
DAG_COLUMNS = 4
#: At most this many rate-limited workloads get an AIMD panel row.
MAX_AIMD_WORKLOADS = 4


def layered_positions(levels: list[list[str]]) -> dict[str, tuple[float, float]]:
    """(x, y) per column: x its level, y spread evenly and centred within the level."""
    positions = {}
    for x, level in enumerate(levels):
        for i, column in enumerate(level):
            positions[column] = (float(x), (len(level) - 1) / 2 - i)
    return positions


def draw_dag(axes: Any, ctx: FigureContext, name: str, dag: dict[str, Any], ids: dict) -> None:
    """One workload's column graph on ``axes``: arrows upstream to downstream, model hues."""
    positions = layered_positions(dag["levels"])
    for column, upstream in dag["upstream"].items():
        for parent in upstream:
            if column in positions and parent in positions:
                axes.annotate(
                    "",
                    xy=positions[column],
                    xytext=positions[parent],
                    arrowprops={
                        "arrowstyle": "-|>",
                        "color": ctx.theme.muted,
                        "shrinkA": 11,
                        "shrinkB": 11,
                        "linewidth": 1.1,
                    },
                )
    for column, (x, y) in positions.items():
        aliases = dag["models"].get(column, [])
        colour = ctx.models.colour(ids.get(aliases[0])) if aliases else ctx.theme.neutral
        axes.scatter([x], [y], s=260, color=colour, zorder=3, edgecolors=ctx.theme.background)
        axes.annotate(
            short(column, 12), (x, y), xytext=(0, -15), textcoords="offset points",
            ha="center", va="top", fontsize=8.5,
        )  # fmt: skip

    width = max(len(level) for level in dag["levels"])
    axes.set_xlim(-0.6, len(dag["levels"]) - 0.4)
    axes.set_ylim(-width / 2 - 0.4, width / 2 + 0.1)
    axes.set_title(f"{short(name, 16)} (critical path {dag.get('critical_path')})", fontsize=11)
    axes.set_axis_off()


def dag_shapes(ctx: FigureContext) -> Figure:
    """Every workload's column graph as a small layered diagram, coloured by model."""
    names = ctx.artifacts.workload_names()
    if not names:
        raise Unavailable("the artifacts hold no workload")

    columns = min(len(names), DAG_COLUMNS)
    rows = math.ceil(len(names) / columns)
    tallest = max(
        max(len(level) for level in ctx.artifacts.workload(n)["dag"]["levels"]) for n in names
    )
    figure = new_figure(height=rows * (1.0 + 0.55 * tallest) + 0.8)
    axes_grid = np.atleast_1d(figure.subplots(rows, columns)).reshape(-1)
    models: dict[str, str] = {}
    for axes, name in zip(axes_grid, names, strict=False):
        ids = ctx.artifacts.source(name).model_ids(name)
        models.update({model: model for model in ids.values()})
        draw_dag(axes, ctx, name, ctx.artifacts.workload(name)["dag"], ids)
    for axes in axes_grid[len(names) :]:
        axes.set_visible(False)

    handles = [
        Line2D([], [], marker="o", linestyle="none", markersize=9, color=ctx.models.colour(m))
        for m in sorted(models)
    ]
    handles.append(
        Line2D([], [], marker="o", linestyle="none", markersize=9, color=ctx.theme.neutral)
    )
    figure.legend(handles, [*sorted(models), "no model call"], loc="outside lower center", ncols=5)
    figure.suptitle("Workload DAG shapes: columns left to right by dependency level")
    return figure


def rate_limited_workloads(ctx: FigureContext) -> list[str]:
    """Workloads in which some engine met a 429 (by the statistics or the request logs)."""
    found = []
    for name in ctx.artifacts.workload_names():
        engines = ctx.artifacts.workload(name)["statistics"]["engines"]
        if any(stats.get("rate_limited") for stats in engines.values()):
            found.append(name)
            continue
        source = ctx.artifacts.source(name)
        for engine in ENGINES:
            trial = source.timeline_trial(name, engine, "requests")
            if trial is None:
                continue
            statuses = source.frame(trial, "requests").get("status")
            if statuses is not None and (statuses == 429).any():
                found.append(name)
                break
    return found


def _model_of_key(key: str) -> str:
    """The model of a throttle key ``provider/model/domain`` (the key itself otherwise)."""
    parts = str(key).split("/")
    return parts[1] if len(parts) == 3 else str(key)


def draw_aimd(axes: Any, ctx: FigureContext, throttle: pd.DataFrame, requests: pd.DataFrame,
              origin: float | None) -> int:  # fmt: skip
    """Limit (solid) and in flight (thin) per pool, 429s as crosses; returns the 429 count."""
    throttle = throttle.sort_values("time", kind="stable").reset_index(drop=True)
    times = relative_times(throttle["time"], origin)
    for key in sorted(throttle["key"].astype(str).unique()):
        mask = (throttle["key"].astype(str) == key).to_numpy()
        colour = ctx.models.colour(_model_of_key(key))
        axes.step(times[mask], throttle["limit"][mask], where="post", color=colour, linewidth=2)
        axes.step(
            times[mask], throttle["in_flight"][mask], where="post", color=colour,
            linewidth=0.9, alpha=0.6,
        )  # fmt: skip

    rejected = 0
    if not requests.empty and "status" in requests:
        limited = requests[requests["status"] == 429]
        rejected = len(limited)
        if rejected:
            at = relative_times(limited["start"], origin)
            colours = [ctx.models.colour(str(m)) for m in limited["model"]]
            axes.scatter(at, np.zeros(rejected), marker="x", s=40, c=colours, zorder=4,
                         clip_on=False)  # fmt: skip
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return rejected


def aimd_over_time(ctx: FigureContext) -> Figure:
    """The throttle limit, requests in flight and 429s per model, for rate-limited runs."""
    names = rate_limited_workloads(ctx)
    if not names:
        raise Unavailable("no workload met a 429, so there is no AIMD history to show")

    panels = []
    for name in names[:MAX_AIMD_WORKLOADS]:
        source = ctx.artifacts.source(name)
        for engine in ENGINES:
            trial = source.timeline_trial(name, engine, "throttle")
            if trial is not None:
                panels.append((name, engine, source, trial))
    if not panels:
        raise Unavailable(
            f"{', '.join(names)} met 429s but no trial has a throttle history "
            "(trials/*.throttle.parquet)"
        )

    figure = new_figure(height=0.9 + 2.6 * len(panels))
    axes_list = np.atleast_1d(figure.subplots(len(panels), 1))
    total = 0
    for axes, (name, engine, source, trial) in zip(axes_list, panels, strict=True):
        throttle = source.frame(trial, "throttle")
        requests = source.frame(trial, "requests")
        count = draw_aimd(axes, ctx, throttle, requests, trial.get("started"))
        total += count
        axes.set_ylabel("requests")
        axes.set_title(f"{name} / {engine}: {count} 429s", fontsize=11, loc="left")
    axes_list[-1].set_xlabel("time since the trial started (s)")

    handles = [
        Line2D([], [], color=ctx.theme.foreground, linewidth=2),
        Line2D([], [], color=ctx.theme.foreground, linewidth=0.9, alpha=0.6),
        Line2D([], [], color=ctx.theme.foreground, marker="x", linestyle="none"),
    ]
    figure.legend(handles, ["limit", "in flight", "429"], loc="outside lower center", ncols=3)
    figure.suptitle(f"AIMD over time: {total} 429s cut the limit, successes raise it again")
    return figure
