"""Sweep files: validation naming the key, grid and random points, a small real run."""

from __future__ import annotations

import pytest

from benchmarks.cli import main
from dd_sim.random_dag import random_pipeline
from dd_sim.sweep import SweepError, load_sweep, run_sweep, summarise_sweep


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"axes": {"records": [10]}, "colour": "red"}, "sweep.colour"),
        ({"axes": {"speed": [1]}}, "sweep.axes.speed"),
        ({"axes": {"records": []}}, "sweep.axes.records"),
        ({"axes": {"latency": [-1.0]}}, "sweep.axes.latency[0]"),
        ({"axes": {"max_parallel_requests": [0]}}, "sweep.axes.max_parallel_requests[0]"),
        (
            {"mode": "random", "samples": 3, "axes": {"rpm": {"low": 5, "high": 1}}},
            "sweep.axes.rpm",
        ),
        ({"mode": "random", "axes": {"records": [1]}}, "sweep.samples"),
    ],
)
def test_bad_sweep_names_the_key(data, key):
    with pytest.raises(SweepError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_sweep(data)


def test_grid_is_every_combination_and_random_is_seeded():
    grid = load_sweep({"axes": {"records": [10, 20], "width": [1, 2, 3]}})
    assert len(grid.points()) == 6
    sample = {
        "mode": "random",
        "samples": 5,
        "seed": 1,
        "axes": {"latency": {"low": 0.1, "high": 1}},
    }
    assert load_sweep(sample).points() == load_sweep(sample).points()


def test_random_dag_is_seeded_and_validated():
    first = random_pipeline(width=3, depth=4, fan_in=2, models=2, endpoints=2, seed=5)
    again = random_pipeline(width=3, depth=4, fan_in=2, models=2, endpoints=2, seed=5)
    assert first == again
    assert len(first.columns) == 1 + 12
    with pytest.raises(ValueError, match="endpoints"):
        random_pipeline(width=1, depth=1, models=1, endpoints=2)


def test_small_sweep_runs_on_two_processes():
    sweep = load_sweep(
        {
            "trials": 2,
            "axes": {"records": [20], "depth": [1, 3], "latency": [0.2], "rpm": [None, 60]},
        }
    )
    table = run_sweep(sweep, workers=2)
    assert len(table) == 4 * 2 * 2
    summary = summarise_sweep(table)
    assert len(summary) == 4
    deep = summary[(summary["depth"] == 3) & summary["rpm"].isna()]
    assert float(deep["speedup"].iloc[0]) > 1.0


def test_sim_command_rejects_a_bad_sweep_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("axes:\n  max_parallel_requests: [0]\n")
    assert main(["sim", "--sweep", str(path)]) == 2
    assert "max_parallel_requests" in capsys.readouterr().err
