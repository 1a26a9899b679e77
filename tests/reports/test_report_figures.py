"""Each figure function on the committed artifact: what it draws can be read back."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from reports import figures_shapes, figures_summary, figures_timeline
from reports.figures_timeline import in_flight_curve, merge_intervals, overlap_share

WORKLOADS = ["deep", "dual_model", "rate_limited"]


def bars(axes) -> list[Rectangle]:
    return [p for p in axes.patches if isinstance(p, Rectangle)]


def test_wall_clock_bars_one_pair_per_workload_with_the_means_and_speedups(ctx):
    figure = figures_summary.wall_clock_bars(ctx)
    (axes,) = figure.axes

    drawn = bars(axes)
    assert len(drawn) == 2 * len(WORKLOADS)
    stats = ctx.artifacts.workload("dual_model")["statistics"]
    heights = sorted(round(b.get_height(), 6) for b in drawn)
    assert round(stats["engines"]["sync"]["wall"]["mean"], 6) in heights
    assert round(stats["engines"]["async"]["wall"]["mean"], 6) in heights
    labels = [t.get_text() for t in axes.texts]
    assert f"{stats['speedup']['mean']:.2f}x" in labels
    assert len(labels) == len(WORKLOADS)
    assert "3 of 3" in axes.get_title()


def test_speedup_scaling_orders_workloads_by_parallelism(ctx):
    figure = figures_summary.speedup_scaling(ctx)
    (axes,) = figure.axes

    ticks = [label.get_text().split("\n")[0] for label in axes.get_xticklabels()]
    # deep 4 calls / path 3, rate_limited 3 / 2, dual_model 6 / 2
    assert ticks == ["deep", "rate_limited", "dual_model"]
    ideal_line = [line for line in axes.lines if line.get_marker() == "D"]
    assert len(ideal_line) == 1
    assert len(ideal_line[0].get_xdata()) == len(WORKLOADS)


def test_gantt_has_one_bar_row_per_column_for_each_engine(ctx):
    figure = figures_timeline.gantt(ctx)
    order = ctx.artifacts.workload("dual_model")["dag"]["order"]

    assert len(figure.axes) == 2
    for axes in figure.axes:
        rows = [c for c in axes.collections if isinstance(c, PolyCollection)]
        assert len(rows) == len(order)
    assert [a.get_ylabel() for a in figure.axes] == ["sync", "async"]
    assert "dual_model" in figure.axes[0].get_title()


def test_gantt_draws_the_workload_asked_for(measured_dir, context_for):
    figure = figures_timeline.gantt(context_for(measured_dir, timeline="deep"))
    assert figure.axes[0].get_title().startswith("deep")


def test_cell_grid_is_rows_by_columns_and_async_completes_sooner(ctx):
    figure = figures_timeline.cell_grid(ctx)
    images = [i for axes in figure.axes for i in axes.images if isinstance(i, AxesImage)]

    assert len(images) == 2
    sync, async_ = (np.asarray(image.get_array()) for image in images)
    assert sync.shape == async_.shape == (6, 7)
    assert np.nanmax(async_) < np.nanmax(sync)
    # Sync finishes a column before the next starts: every row of column 2 after column 1.
    assert np.nanmin(sync[:, 2]) > np.nanmax(sync[:, 1])


def test_cell_grid_animation_writes_a_gif(ctx, tmp_path):
    path = figures_timeline.cell_grid_animation(ctx, tmp_path / "grid.gif", frames=4)
    assert path.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_dag_shapes_draws_a_node_per_column_for_every_workload(ctx):
    figure = figures_shapes.dag_shapes(ctx)
    visible = [axes for axes in figure.axes if axes.get_visible()]

    assert len(visible) == len(WORKLOADS)
    for axes, name in zip(visible, WORKLOADS, strict=True):
        dag = ctx.artifacts.workload(name)["dag"]
        assert len(axes.collections) == len(dag["order"])
        edges = sum(len(up) for up in dag["upstream"].values())
        assert len(axes.texts) == len(dag["order"]) + edges


def test_model_activity_shows_models_taking_turns_in_sync(ctx):
    figure = figures_timeline.model_activity(ctx)

    assert len(figure.axes) == 4
    title = figure.axes[0].get_title()
    assert "in async" in title
    shares = [int(word.rstrip("%")) for word in title.split() if word.endswith("%")]
    async_share, sync_share = shares
    assert async_share > sync_share


def test_aimd_draws_the_rate_limited_workload_only(ctx):
    figure = figures_shapes.aimd_over_time(ctx)

    titles = [axes.get_title(loc="left") for axes in figure.axes]
    assert titles == ["rate_limited / sync: 3 429s", "rate_limited / async: 3 429s"]
    assert figures_shapes.rate_limited_workloads(ctx) == ["rate_limited"]


def test_boxplot_has_a_box_per_engine_and_workload(ctx):
    figure = figures_summary.trial_boxplot(ctx)
    (axes,) = figure.axes
    boxes = [p for p in axes.patches if not isinstance(p, Rectangle)]
    assert len(boxes) == 2 * len(WORKLOADS)


def test_sim_vs_measured_matches_workload_and_engine(ctx):
    figure = figures_summary.sim_vs_measured(ctx)
    (axes,) = figure.axes

    points = [c for c in axes.collections if len(c.get_offsets())]
    assert len(points) == 2 * len(WORKLOADS)
    assert "median error" in axes.get_title()
    assert len(axes.texts) == 2 * len(WORKLOADS)


def test_efficiency_bars_are_ideal_over_measured_in_percent(ctx):
    figure = figures_summary.efficiency_bars(ctx)
    (axes,) = figure.axes

    stats = ctx.artifacts.workload("deep")["statistics"]["engines"]["sync"]
    expected = stats["ideal_mean"] / stats["wall"]["mean"] * 100
    heights = [b.get_height() for b in bars(axes)]
    assert len(heights) == 2 * len(WORKLOADS)
    assert any(h == pytest.approx(expected) for h in heights)


def test_merge_intervals_joins_overlaps_only():
    import pandas as pd

    spans = pd.DataFrame({"start": [0.0, 0.5, 2.0], "end": [1.0, 1.5, 3.0]})
    assert merge_intervals(spans) == [(0.0, 1.5), (2.0, 1.0)]


def test_in_flight_curve_counts_open_requests_and_back_to_back_do_not_stack():
    times, counts = in_flight_curve(np.array([0.0, 1.0, 0.5]), np.array([1.0, 2.0, 3.0]))
    assert list(times) == [0.0, 0.5, 1.0, 1.0, 2.0, 3.0]
    assert list(counts) == [1, 2, 1, 2, 1, 0]
    assert counts.max() == 2


def test_overlap_share_is_zero_for_models_taking_turns():
    first = in_flight_curve(np.array([0.0]), np.array([1.0]))
    second = in_flight_curve(np.array([1.0]), np.array([2.0]))
    assert overlap_share({"a": first, "b": second}, 2.0) == pytest.approx(0.0, abs=0.002)
    together = in_flight_curve(np.array([0.0]), np.array([2.0]))
    assert overlap_share({"a": first, "b": together}, 2.0) == pytest.approx(0.5, abs=0.01)
