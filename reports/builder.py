"""``build_report``: every figure the artifacts allow, saved as PNG and SVG, plus the pages.

A figure the artifacts hold no data for (no traces, no request log, one engine only, no
simulated artifact) is listed in the report with the reason, and the others are drawn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from reports import figures_shapes, figures_summary, figures_timeline
from reports.artifact_set import load_artifacts
from reports.context import FigureContext, Unavailable, pick_timeline_workload
from reports.document import write_html, write_markdown
from reports.palette import ModelPalette, get_theme, themed

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("png", "svg")
GIF_STEM = "04-cell-grid"


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report: its file stem, heading, drawing function and caption."""

    stem: str
    title: str
    draw: Callable[[FigureContext], Figure]
    caption: str


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "01-wall-clock",
        "Wall clock, sync vs async",
        figures_summary.wall_clock_bars,
        "Mean wall clock of the measured trials; whiskers are the 95% interval of the mean "
        "(min to max with a single trial). The figure above each pair is the paired speedup.",
    ),
    FigureSpec(
        "02-speedup-scaling",
        "Speedup against the DAG's parallelism",
        figures_summary.speedup_scaling,
        "Workloads ordered by model-call columns over the critical path. Dots are the "
        "measured speedup with its interval; hollow diamonds the ideal speedup, what two "
        "engines without overhead would reach on the latencies actually served.",
    ),
    FigureSpec(
        "03-gantt",
        "Timeline: when each column is generating",
        figures_timeline.gantt,
        "One bar per column over the time its cells have a request in flight (dispatch to "
        "completion for columns without a model call), from one trial of each engine.",
    ),
    FigureSpec(
        "04-cell-grid",
        "The cell grid: when each cell completed",
        figures_timeline.cell_grid,
        "Rows by columns; darker cells completed earlier, on one colour scale for both "
        "engines. Sync fills column by column; async fills each row as its inputs arrive.",
    ),
    FigureSpec(
        "05-dag-shapes",
        "DAG shapes",
        figures_shapes.dag_shapes,
        "Each workload's columns, left to right by dependency level, coloured by the model "
        "they call.",
    ),
    FigureSpec(
        "06-model-activity",
        "Per-model activity",
        figures_timeline.model_activity,
        "Requests in flight per model, from the provider's request log, with a dot per "
        "request start beneath. Models taking turns in sync overlap in async.",
    ),
    FigureSpec(
        "07-aimd",
        "AIMD over time",
        figures_shapes.aimd_over_time,
        "For workloads that met 429s: the throttle's limit (thick) and requests in flight "
        "(thin) per model, and each 429 as a cross.",
    ),
    FigureSpec(
        "08-trial-boxplot",
        "Spread across trials",
        figures_summary.trial_boxplot,
        "Every measured trial (of every artifact given, so shards pool), per engine.",
    ),
    FigureSpec(
        "09-sim-vs-measured",
        "Simulated against measured",
        figures_summary.sim_vs_measured,
        "Predicted against measured mean wall clock per workload and engine; the dashed "
        "identity line is a perfect prediction and each label is the prediction's error.",
    ),
    FigureSpec(
        "10-efficiency",
        "Efficiency against the ideal",
        figures_summary.efficiency_bars,
        "Ideal over measured wall clock (100% is an engine with no overhead); the label in "
        "each bar is measured wall clock as a multiple of the ideal.",
    ),
)


@dataclass(frozen=True)
class FigureOutcome:
    """A figure drawn (its files) or not (the reason)."""

    stem: str
    title: str
    caption: str
    files: tuple[Path, ...] = ()
    reason: str | None = None

    @property
    def drawn(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Report:
    """What ``build_report`` wrote."""

    out_dir: Path
    markdown: Path
    html: Path
    figures: tuple[FigureOutcome, ...]
    animation: Path | None = None

    @property
    def drawn(self) -> tuple[FigureOutcome, ...]:
        return tuple(f for f in self.figures if f.drawn)

    @property
    def missing(self) -> tuple[FigureOutcome, ...]:
        return tuple(f for f in self.figures if not f.drawn)


def build_report(
    dirs: Sequence[str | Path],
    out: str | Path | None = None,
    *,
    theme: str = "light",
    timeline_workload: str | None = None,
    gif: bool = True,
) -> Report:
    """Draw every figure the artifacts in ``dirs`` allow into ``out`` (default: the first).

    Raises ``benchmarks.artifacts.ArtifactError`` for a folder that is not a readable
    artifact of a known schema version, ``ValueError`` for an unknown theme.
    """
    style = get_theme(theme)
    artifacts = load_artifacts(dirs)
    out_dir = Path(out) if out is not None else artifacts.artifacts[0].path
    out_dir.mkdir(parents=True, exist_ok=True)
    models = ModelPalette.for_models(style, artifacts.model_names())
    ctx = FigureContext(artifacts, style, models, timeline_workload)

    with themed(style):
        outcomes = tuple(draw_figure(spec, ctx, out_dir) for spec in FIGURES)
        animation = None
        if gif and any(o.stem == GIF_STEM and o.drawn for o in outcomes):
            animation = _animate(ctx, out_dir / f"{GIF_STEM}.gif")

    timeline = _timeline_name(ctx)
    markdown = write_markdown(out_dir, artifacts, outcomes, animation, timeline)
    html = write_html(out_dir, artifacts, outcomes, style, timeline)
    log.info(
        "report written to %s: %d figures, %d not drawn",
        out_dir,
        sum(o.drawn for o in outcomes),
        sum(not o.drawn for o in outcomes),
    )
    return Report(out_dir, markdown, html, outcomes, animation)


def draw_figure(spec: FigureSpec, ctx: FigureContext, out_dir: Path) -> FigureOutcome:
    """Draw and save one figure; what stops it becomes the outcome's reason."""
    try:
        figure = spec.draw(ctx)
    except Unavailable as exc:
        log.info("not drawn: %s: %s", spec.stem, exc)
        return FigureOutcome(spec.stem, spec.title, spec.caption, reason=str(exc))
    except Exception as exc:  # one broken figure must not cost the reader the others
        log.warning("figure %s failed: %s", spec.stem, exc, exc_info=True)
        reason = f"drawing failed ({type(exc).__name__}: {exc})"
        return FigureOutcome(spec.stem, spec.title, spec.caption, reason=reason)

    files = []
    for fmt in FORMATS:
        path = out_dir / f"{spec.stem}.{fmt}"
        figure.savefig(path, format=fmt)
        files.append(path)
    return FigureOutcome(spec.stem, spec.title, spec.caption, tuple(files))


def _animate(ctx: FigureContext, path: Path) -> Path | None:
    try:
        return figures_timeline.cell_grid_animation(ctx, path)
    except Exception as exc:  # the still grid is already drawn; the GIF is a bonus
        log.warning("cell grid animation failed: %s", exc)
        return None


def _timeline_name(ctx: FigureContext) -> str | None:
    for part in ("traces", "requests"):
        try:
            return pick_timeline_workload(ctx, part)
        except Unavailable:
            continue
    return None
