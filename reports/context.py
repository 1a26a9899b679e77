"""What every figure function is given, and how it says it cannot draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from reports.artifact_set import ArtifactSet
from reports.palette import ModelPalette, Theme

#: Width of a full-width figure in inches: at 150 dpi, 1,350 px, what a README shows.
FULL_WIDTH = 9.0


class Unavailable(Exception):
    """A figure the artifacts hold no data for; the message says what is missing."""


@dataclass(frozen=True)
class FigureContext:
    """The artifacts, the theme and the colours; the same for every figure of a report."""

    artifacts: ArtifactSet
    theme: Theme
    models: ModelPalette
    #: The workload the timeline figures (Gantt, cell grid, model activity) show.
    timeline_workload: str | None = None

    def engine_colour(self, engine: str) -> str:
        return self.theme.engine(engine)


def new_figure(width: float = FULL_WIDTH, height: float = 4.8, **subplots: Any) -> Figure:
    """A Figure with the constrained layout, not registered with pyplot (no global state)."""
    figure = Figure(figsize=(width, height), layout="constrained")
    if subplots:
        figure.subplots(**subplots)
    return figure


def pick_timeline_workload(ctx: FigureContext, part: str = "traces") -> str:
    """The workload the timelines show: the one asked for, else the busiest with ``part``.

    Without a choice: among workloads with a ``part`` frame (traces, requests) for both
    engines (else for one), the
    one using the most models, the first in artifact order on a tie; several models make
    the sync/async difference in the activity timeline visible.
    """
    artifacts = ctx.artifacts
    names = artifacts.workload_names()
    if ctx.timeline_workload is not None:
        if ctx.timeline_workload not in names:
            raise Unavailable(
                f"timeline workload {ctx.timeline_workload!r} is not in the artifacts; "
                f"they hold {names}"
            )
        return ctx.timeline_workload

    def engines_with_part(name: str) -> int:
        source = artifacts.source(name)
        return sum(
            source.timeline_trial(name, engine, part) is not None for engine in source.engines(name)
        )

    def model_count(name: str) -> int:
        models = artifacts.workload(name)["dag"]["models"].values()
        return len({alias for aliases in models for alias in aliases})

    candidates = [(engines_with_part(n), model_count(n), -i, n) for i, n in enumerate(names)]
    candidates = [c for c in candidates if c[0] > 0]
    if not candidates:
        raise Unavailable(f"no workload has a {part} frame (no trials/*.{part}.parquet)")
    return max(candidates)[3]


def short(label: str, width: int = 14) -> str:
    """A label cut to ``width`` characters with an ellipsis, for crowded axes."""
    return label if len(label) <= width else label[: width - 1] + "\u2026"
