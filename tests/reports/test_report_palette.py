"""One colour per engine and per model across figures; the themes; unknown themes refused."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle

from reports import (
    THEMES,
    ModelPalette,
    figures_shapes,
    figures_summary,
    figures_timeline,
    get_theme,
)


def test_each_engine_has_the_same_colour_in_every_figure(ctx):
    expected = {engine: ctx.theme.engine(engine) for engine in ("sync", "async")}
    assert expected["sync"] != expected["async"]

    (bars,) = figures_summary.wall_clock_bars(ctx).axes
    bar_colours = {to_hex(p.get_facecolor()) for p in bars.patches if isinstance(p, Rectangle)}
    assert bar_colours == {c.lower() for c in expected.values()}

    gantt = figures_timeline.gantt(ctx)
    for axes, engine in zip(gantt.axes, ("sync", "async"), strict=True):
        colours = {to_hex(c.get_facecolor()[0]) for c in axes.collections}
        assert colours == {expected[engine].lower()}


def test_a_model_has_the_same_colour_in_the_dag_and_the_activity_timeline(ctx):
    judge = ctx.models.colour("judge-mock").lower()

    activity = figures_timeline.model_activity(ctx)
    lines = {line.get_label(): to_hex(line.get_color()) for line in activity.axes[0].lines}
    assert lines["judge-mock"] == judge

    dag = figures_shapes.dag_shapes(ctx)
    dual = next(a for a in dag.axes if a.get_title().startswith("dual_model"))
    node_colours = {to_hex(c.get_facecolor()[0]) for c in dual.collections}
    assert judge in node_colours
    assert ctx.models.colour("gpt-mock").lower() in node_colours


def test_model_colours_do_not_depend_on_the_order_names_arrive():
    theme = get_theme("light")
    one = ModelPalette.for_models(theme, ["b", "a", "c"])
    two = ModelPalette.for_models(theme, ["c", "a", "b", "a"])
    assert [one.colour(n) for n in "abc"] == [two.colour(n) for n in "abc"]
    assert len({one.colour(n) for n in "abc"}) == 3
    assert one.colour(None) == one.colour("unknown") == theme.neutral


def test_dark_theme_figures_have_a_dark_background(context_for, measured_dir):
    from reports.palette import themed

    ctx = context_for(measured_dir, theme="dark")
    with themed(ctx.theme):
        figure = figures_summary.wall_clock_bars(ctx)
    assert to_hex(figure.get_facecolor()) == THEMES["dark"].background.lower()
    assert to_hex(figure.axes[0].get_facecolor()) == THEMES["dark"].background.lower()


def test_an_unknown_theme_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"theme = 'sepia'; valid themes: \['dark', 'light'\]"):
        get_theme("sepia")
