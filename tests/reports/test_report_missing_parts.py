"""Artifacts that lack optional parts: the report says what it could not draw, draws the rest."""

from __future__ import annotations

import pytest

from benchmarks.artifacts import ArtifactError
from reports import Unavailable, build_report, figures_shapes, figures_summary, figures_timeline


def only_sync(results: dict) -> None:
    """Leave one engine: drop async trials, statistics and the speedup."""
    results["trials"] = [t for t in results["trials"] if t["engine"] == "sync"]
    results["inputs"]["engines"] = ["sync"]
    for workload in results["workloads"].values():
        stats = workload["statistics"]
        stats["engines"].pop("async")
        stats.pop("speedup")
        stats.pop("ideal_speedup")


def not_drawn(report) -> dict[str, str]:
    return {outcome.stem: outcome.reason for outcome in report.missing}


def test_without_traces_the_timelines_are_listed_and_the_rest_drawn(artifact_copy, tmp_path):
    folder = artifact_copy(drop=("traces",))

    report = build_report([folder], tmp_path / "out", gif=False)

    missing = not_drawn(report)
    assert set(missing) == {"03-gantt", "04-cell-grid", "09-sim-vs-measured"}
    assert "traces" in missing["03-gantt"]
    assert {o.stem for o in report.drawn} >= {"01-wall-clock", "06-model-activity", "07-aimd"}
    text = report.markdown.read_text()
    assert "## Not drawn" in text
    assert "Timeline: when each column is generating: " in text
    for outcome in report.drawn:
        for path in outcome.files:
            assert path.stat().st_size > 0
    assert not (tmp_path / "out" / "03-gantt.png").exists()


def test_without_request_logs_model_activity_is_not_drawn(artifact_copy, context_for):
    ctx = context_for(artifact_copy(drop=("requests",)))

    with pytest.raises(Unavailable, match="requests"):
        figures_timeline.model_activity(ctx)
    figures_timeline.gantt(ctx)
    # The throttle history is still there, and the statistics count the 429s.
    assert len(figures_shapes.aimd_over_time(ctx).axes) == 2


def test_without_throttle_history_aimd_says_so(artifact_copy, context_for):
    ctx = context_for(artifact_copy(drop=("throttle",)))
    with pytest.raises(Unavailable, match="throttle history"):
        figures_shapes.aimd_over_time(ctx)


def test_without_any_429_there_is_no_aimd_figure(artifact_copy, context_for):
    def no_429(results: dict) -> None:
        for workload in results["workloads"].values():
            for stats in workload["statistics"]["engines"].values():
                stats["rate_limited"] = 0

    ctx = context_for(artifact_copy(edit=no_429, drop=("requests",)))
    with pytest.raises(Unavailable, match="429"):
        figures_shapes.aimd_over_time(ctx)


def test_one_engine_only(artifact_copy, tmp_path):
    folder = artifact_copy(edit=only_sync)
    for frame in (folder / "trials").glob("*_async_*"):
        frame.unlink()

    report = build_report([folder], tmp_path / "out", gif=False)

    missing = not_drawn(report)
    assert "both engines" in missing["02-speedup-scaling"]
    drawn = {o.stem for o in report.drawn}
    assert {"01-wall-clock", "03-gantt", "04-cell-grid", "08-trial-boxplot"} <= drawn
    assert "| n/a |" in report.markdown.read_text()


def test_one_engine_bars_are_one_per_workload(artifact_copy, context_for):
    ctx = context_for(artifact_copy(edit=only_sync))
    (axes,) = figures_summary.wall_clock_bars(ctx).axes
    assert len(axes.patches) == 3
    assert len(axes.texts) == 0
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["sync"]
    assert figures_timeline.gantt(ctx).axes[0].get_ylabel() == "sync"


def test_without_a_simulated_artifact_there_is_no_comparison(measured_dir, context_for):
    with pytest.raises(Unavailable, match="simulated"):
        figures_summary.sim_vs_measured(context_for(measured_dir))


def test_a_simulated_artifact_alone_draws_its_statistics(simulated_dir, tmp_path):
    report = build_report([simulated_dir], tmp_path / "out", gif=False)

    drawn = {o.stem for o in report.drawn}
    assert {"01-wall-clock", "02-speedup-scaling", "05-dag-shapes", "10-efficiency"} <= drawn
    assert "report (simulated)" in report.markdown.read_text()


def test_an_unknown_timeline_workload_is_named(measured_dir, context_for):
    ctx = context_for(measured_dir, timeline="nope")
    with pytest.raises(Unavailable, match="'nope' is not in the artifacts"):
        figures_timeline.gantt(ctx)


def test_a_newer_schema_version_is_refused(artifact_copy, tmp_path):
    folder = artifact_copy(edit=lambda results: results.update(schema_version=2))
    with pytest.raises(ArtifactError, match="schema version 2 is not supported"):
        build_report([folder], tmp_path / "out")
    assert not (tmp_path / "out").exists()
