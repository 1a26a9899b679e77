"""Figures from one trial per engine: the Gantt timeline, the cell grid, model activity.

Each draws the first measured trial of each engine that holds the needed frame, on a time
axis relative to that trial's start, sync above (or left of) async. A cell is *active*
from its request's start to its end; a cell with no model call (a sampler) from dispatch
to completion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from reports.artifact_set import relative_times
from reports.context import FigureContext, Unavailable, new_figure, pick_timeline_workload, short
from reports.palette import ENGINES

#: The GIF is for a glance, not for print: a lower resolution keeps it small and quick.
GIF_DPI = 80
#: Dots of requests that start together are spread over this many lanes of a strip.
STRIP_LANES = 7
#: Above this many requests per model, the dot strip is rasterised inside vector output.
RASTERIZE_ABOVE = 2000


def _trials(ctx: FigureContext, workload: str, part: str) -> list[tuple[str, dict[str, Any]]]:
    """(engine, trial) for each engine with a non-empty ``part`` frame, sync first."""
    source = ctx.artifacts.source(workload)
    found = []
    for engine in ENGINES:
        trial = source.timeline_trial(workload, engine, part)
        if trial is not None:
            found.append((engine, trial))
    if not found:
        raise Unavailable(f"{workload}: no trial has a {part} frame (trials/*.{part}.parquet)")
    return found


def active_spans(traces: pd.DataFrame, origin: float | None) -> pd.DataFrame:
    """Per cell: column, row, start and end of its active time, seconds from ``origin``."""
    start = traces["request_start"].where(traces["request_start"].notna(), traces["dispatched"])
    end = traces["request_end"].where(traces["request_end"].notna(), traces["completed"])
    spans = pd.DataFrame(
        {
            "column": traces["column"].astype(str),
            "row": traces["row"].astype(int),
            "start": relative_times(start, origin).to_numpy(),
            "end": relative_times(end, origin).to_numpy(),
            "completed": relative_times(traces["completed"], origin).to_numpy(),
        }
    )
    return spans.dropna(subset=["start", "end"])


def merge_intervals(spans: pd.DataFrame) -> list[tuple[float, float]]:
    """The union of ``start..end`` intervals as (start, width) pairs, for ``broken_barh``."""
    merged: list[list[float]] = []
    for start, end in sorted(zip(spans["start"], spans["end"], strict=True)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, max(end - start, 1e-4)) for start, end in merged]


def gantt(ctx: FigureContext) -> Figure:
    """One bar per column over the time it is generating, sync on top, async below."""
    workload = pick_timeline_workload(ctx)
    trials = _trials(ctx, workload, "traces")
    source = ctx.artifacts.source(workload)
    order = source.workloads[workload]["dag"]["order"]

    height = 1.2 + len(trials) * (0.42 * len(order) + 0.6)
    figure = new_figure(height=height)
    axes_list = np.atleast_1d(figure.subplots(len(trials), 1, sharex=True))
    ends = {}
    for axes, (engine, trial) in zip(axes_list, trials, strict=True):
        spans = active_spans(source.frame(trial, "traces"), trial.get("started"))
        colour = ctx.engine_colour(engine)
        for y, column in enumerate(order):
            bars = merge_intervals(spans[spans["column"] == column])
            if bars:
                axes.broken_barh(bars, (y - 0.36, 0.72), facecolors=colour, edgecolor="none")
        wall = trial.get("wall_seconds") or float(spans["end"].max())
        ends[engine] = wall
        axes.axvline(wall, color=ctx.theme.muted, linestyle="--", linewidth=1)
        axes.annotate(f" {wall:.2f} s", (wall, -0.5), va="top", color=ctx.theme.foreground)
        axes.set_yticks(range(len(order)), [short(c) for c in order])
        axes.set_ylim(len(order) - 0.5, -0.5)
        axes.set_ylabel(engine, color=colour, fontweight="bold")
        axes.grid(axis="y", visible=False)
    axes_list[-1].set_xlabel("time since the trial started (s)")
    axes_list[0].set_xlim(left=0)

    title = f"{workload}: when each column is generating"
    if set(ends) == set(ENGINES):
        title = (
            f"{workload}: async overlaps columns and ends at {ends['async']:.2f} s, "
            f"sync at {ends['sync']:.2f} s"
        )
    axes_list[0].set_title(title)
    return figure


def completion_grid(spans: pd.DataFrame, order: list[str], rows: int) -> np.ndarray:
    """A rows-by-columns array of completion times (NaN where a cell never completed)."""
    grid = np.full((rows, len(order)), np.nan)
    index = {column: i for i, column in enumerate(order)}
    for column, row, completed in zip(
        spans["column"], spans["row"], spans["completed"], strict=True
    ):
        if column in index and 0 <= row < rows:
            grid[row, index[column]] = completed
    return grid


def _grids(ctx: FigureContext) -> tuple[str, list[str], list[tuple[str, np.ndarray]]]:
    workload = pick_timeline_workload(ctx)
    source = ctx.artifacts.source(workload)
    order = source.workloads[workload]["dag"]["order"]
    grids = []
    for engine, trial in _trials(ctx, workload, "traces"):
        spans = active_spans(source.frame(trial, "traces"), trial.get("started"))
        cells = spans[spans["row"] >= 0]
        rows = int(cells["row"].max()) + 1 if not cells.empty else 0
        grids.append((engine, completion_grid(cells, order, rows)))
    return workload, order, grids


def _draw_grids(
    ctx: FigureContext, order: list[str], grids: list[tuple[str, np.ndarray]]
) -> tuple[Figure, list[Any], float]:
    rows = max(grid.shape[0] for _, grid in grids)
    height = min(2.2 + 0.28 * rows, 7.5)
    figure = new_figure(width=max(4.2 * len(grids), 6.0), height=height)
    axes_list = np.atleast_1d(figure.subplots(1, len(grids), sharey=True))
    vmax = max(float(np.nanmax(grid)) if np.isfinite(grid).any() else 0 for _, grid in grids)
    cmap = ctx.theme.colormap
    images = []
    for axes, (engine, grid) in zip(axes_list, grids, strict=True):
        image = axes.imshow(
            grid, aspect="auto", cmap=cmap, vmin=0, vmax=max(vmax, 1e-6), interpolation="none"
        )
        images.append(image)
        axes.set_facecolor(ctx.theme.neutral)
        axes.set_title(engine, color=ctx.engine_colour(engine))
        axes.set_xticks(range(len(order)), [short(c, 12) for c in order], rotation=40, ha="right")
        axes.grid(False)
    axes_list[0].set_ylabel("row")
    colourbar = figure.colorbar(images[-1], ax=list(axes_list), shrink=0.9)
    colourbar.set_label("completed at (s)")
    return figure, images, vmax


def cell_grid(ctx: FigureContext) -> Figure:
    """Rows by columns, each cell coloured by when it completed, sync beside async."""
    workload, order, grids = _grids(ctx)
    figure, _, _ = _draw_grids(ctx, order, grids)
    done = {engine: float(np.nanmax(grid)) for engine, grid in grids if np.isfinite(grid).any()}
    title = f"{workload}: when each cell completed"
    if set(done) == set(ENGINES):
        title += f" (last cell: sync {done['sync']:.2f} s, async {done['async']:.2f} s)"
    figure.suptitle(title)
    return figure


def cell_grid_animation(ctx: FigureContext, path: Path, frames: int = 24, fps: int = 6) -> Path:
    """The cell grid filling up over time, as an animated GIF at ``path``."""
    workload, order, grids = _grids(ctx)
    figure, images, vmax = _draw_grids(ctx, order, grids)
    times = np.linspace(0, vmax, frames)
    label = figure.suptitle("")

    def draw(frame: int) -> list[Any]:
        now = times[frame]
        for image, (_, grid) in zip(images, grids, strict=True):
            image.set_data(np.where(grid <= now, grid, np.nan))
        label.set_text(f"{workload}: cells completed by {now:.2f} s")
        return [*images, label]

    animation = FuncAnimation(figure, draw, frames=frames, blit=False)
    animation.save(str(path), writer=PillowWriter(fps=fps), dpi=GIF_DPI)
    return path


def in_flight_curve(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step curve of how many intervals are open: (times, counts) for ``step(where=post)``."""
    if starts.size == 0:
        return np.array([0.0]), np.array([0])
    times = np.concatenate([starts, ends])
    deltas = np.concatenate([np.ones(starts.size), -np.ones(ends.size)])
    # Ends sort before starts at the same instant, so back-to-back requests do not stack.
    order = np.lexsort((deltas, times))
    return times[order], np.cumsum(deltas[order]).astype(int)


def overlap_share(curves: dict[str, tuple[np.ndarray, np.ndarray]], horizon: float) -> float:
    """The share of ``0..horizon`` during which two or more models have a request in flight."""
    if len(curves) < 2 or horizon <= 0:
        return 0.0
    grid = np.linspace(0, horizon, 2000)
    busy = np.zeros_like(grid)
    for times, counts in curves.values():
        positions = np.searchsorted(times, grid, side="right") - 1
        level = np.where(positions >= 0, counts[np.clip(positions, 0, None)], 0)
        busy += level > 0
    return float(np.mean(busy >= 2))


def model_activity(ctx: FigureContext) -> Figure:
    """Requests in flight per model over time, a dot per request beneath, sync above async."""
    workload = pick_timeline_workload(ctx, "requests")
    trials = _trials(ctx, workload, "requests")
    source = ctx.artifacts.source(workload)

    figure = new_figure(height=1.4 + 2.9 * len(trials))
    ratios = [3, 1] * len(trials)
    axes_list = figure.subplots(2 * len(trials), 1, sharex=True, height_ratios=ratios)
    shares = {}
    models_seen: list[str] = []
    for i, (engine, trial) in enumerate(trials):
        requests = source.frame(trial, "requests")
        curve_axes, strip_axes = axes_list[2 * i], axes_list[2 * i + 1]
        origin = trial.get("started")
        starts_all = relative_times(requests["start"], origin).to_numpy()
        ends_all = relative_times(requests["end"], origin).to_numpy()
        models = sorted(requests["model"].astype(str).unique())
        models_seen += [m for m in models if m not in models_seen]
        curves = {}
        for y, model in enumerate(models):
            mask = (requests["model"].astype(str) == model).to_numpy()
            starts, ends = starts_all[mask], ends_all[mask]
            times, counts = in_flight_curve(starts, ends)
            curves[model] = (times, counts)
            colour = ctx.models.colour(model)
            curve_axes.step(
                np.concatenate([[0.0], times]),
                np.concatenate([[0], counts]),
                where="post",
                color=colour,
                linewidth=1.6,
                label=model,
            )
            failed = (requests["status"].to_numpy()[mask] != 200) if "status" in requests else None
            lanes = (np.argsort(np.argsort(starts, kind="stable")) % STRIP_LANES) - STRIP_LANES // 2
            strip_axes.scatter(
                starts,
                y + lanes * (0.7 / STRIP_LANES),
                s=7,
                color=colour,
                alpha=0.8,
                linewidths=0,
                # Thousands of dots would make the SVG megabytes; draw them as an image.
                rasterized=len(starts) > RASTERIZE_ABOVE,
            )
            if failed is not None and failed.any():
                strip_axes.scatter(
                    starts[failed], np.full(failed.sum(), y), marker="x", s=22, color="#D62728"
                )
        horizon = trial.get("wall_seconds") or float(np.nanmax(ends_all))
        shares[engine] = overlap_share(curves, horizon)
        curve_axes.set_ylabel(f"{engine}\nin flight", color=ctx.engine_colour(engine))
        curve_axes.set_ylim(bottom=0)
        curve_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        strip_axes.set_yticks(range(len(models)), [short(m, 12) for m in models], fontsize=8)
        strip_axes.set_ylim(len(models) - 0.5, -0.5)
        strip_axes.grid(axis="y", visible=False)
    axes_list[-1].set_xlabel("time since the trial started (s); dots: request starts, x: failed")
    axes_list[0].set_xlim(left=0)
    handles = [Line2D([], [], color=ctx.models.colour(m), linewidth=2) for m in models_seen]
    figure.legend(handles, models_seen, loc="outside lower center", ncols=4)

    title = f"{workload}: requests in flight per model"
    if len(models_seen) >= 2 and set(shares) == set(ENGINES):
        title = (
            f"{workload}: models overlap {shares['async']:.0%} of the run in async, "
            f"{shares['sync']:.0%} in sync"
        )
    axes_list[0].set_title(title)
    return figure
