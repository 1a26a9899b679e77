"""``ddbench run`` and ``ddbench compare`` end to end, against embedded mocks on loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.artifacts import read_results
from benchmarks.cli import main
from benchmarks.runner import trial_order

FAST = ["--records", "4", "--trials", "2", "--warmup", "1", "--latency", "0.01", "--no-report"]


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory) -> tuple[int, dict]:
    """One small real run of the deep workload, shared by the artifact tests."""
    out = tmp_path_factory.mktemp("run") / "deep"
    status = main(["run", "deep", *FAST, "--out", str(out)])
    return status, read_results(out)


def test_trials_alternate_engines_after_the_warmup():
    order = list(trial_order(("sync", "async"), trials=4, warmup=1))

    assert order[:2] == [("sync", 0, True), ("async", 0, True)]
    measured = [engine for engine, _, warmup in order if not warmup]
    assert measured == ["sync", "async", "async", "sync", "sync", "async", "async", "sync"]


def test_a_run_writes_every_artifact(deep_run):
    status, results = deep_run
    folder = results["_path"].rsplit("/", 1)[0]

    assert status == 0
    assert results["schema_version"] == 1 and results["kind"] == "measured"
    assert results["environment"]["machine"]["cpu_count"] >= 1
    trials = pd.read_csv(f"{folder}/trials.csv")
    assert len(trials) == 2 * (1 + 2)
    assert "| deep |" in Path(folder, "summary.md").read_text()

    measured = [t for t in results["trials"] if not t["warmup"]]
    assert {t["engine"] for t in measured} == {"sync", "async"}
    for trial in measured:
        assert trial["status"] == "ok" and trial["leak_free"]
        assert trial["requests"] == 4 * 4
        assert 0 < trial["efficiency"] <= 1.05
        stem = f"{folder}/trials/deep_{trial['engine']}_trial{trial['trial']}"
        assert len(pd.read_parquet(f"{stem}.requests.parquet")) == trial["requests"]
        assert len(pd.read_parquet(f"{stem}.traces.parquet")) >= 4 * 5


def test_statistics_and_ideal_of_the_deep_shape(deep_run):
    _, results = deep_run
    stats = results["workloads"]["deep"]["statistics"]

    assert stats["hash_equal"]
    assert len(stats["engines"]["sync"]["hashes"]) == 1
    assert stats["speedup"]["mean"] > 1.0
    # Fixed latency L, 4 rows within the cap: the ideal is 4L sync, 3L async.
    assert stats["ideal_speedup"] == pytest.approx(4 / 3, rel=0.1)


def test_comparing_a_run_with_itself_passes(deep_run, capsys):
    path = deep_run[1]["_path"]

    assert main(["compare", path, path]) == 0
    assert "ok" in capsys.readouterr().out


def with_async_wall(results: dict, mean: float, half_width: float, path) -> str:
    """A copy of ``results`` whose async wall clock has the given mean and interval."""
    copy = json.loads(json.dumps({k: v for k, v in results.items() if k != "_path"}))
    wall = copy["workloads"]["deep"]["statistics"]["engines"]["async"]["wall"]
    wall.update(mean=mean, median=mean, ci_low=mean - half_width, ci_high=mean + half_width)
    path.write_text(json.dumps(copy))
    return str(path)


def test_a_slower_candidate_fails_the_gate(deep_run, tmp_path, capsys):
    baseline = with_async_wall(deep_run[1], 1.0, 0.05, tmp_path / "base.json")
    slower = with_async_wall(deep_run[1], 1.5, 0.05, tmp_path / "slow.json")
    noisy = with_async_wall(deep_run[1], 1.5, 0.6, tmp_path / "noisy.json")
    within = with_async_wall(deep_run[1], 1.03, 0.01, tmp_path / "within.json")

    assert main(["compare", baseline, slower]) == 1
    assert "FAIL deep: async slower by 50.0%" in capsys.readouterr().out
    assert main(["compare", baseline, noisy]) == 0
    assert main(["compare", baseline, within]) == 0


def test_a_leaking_candidate_fails_the_gate(deep_run, tmp_path):
    candidate = json.loads(Path(deep_run[1]["_path"]).read_text())
    candidate["workloads"]["deep"]["statistics"]["engines"]["sync"]["leak_free"] = False
    leaky = tmp_path / "results.json"
    leaky.write_text(json.dumps(candidate))

    assert main(["compare", deep_run[1]["_path"], str(leaky)]) == 1


def test_compare_refuses_unreadable_input(tmp_path, capsys):
    broken = tmp_path / "results.json"
    broken.write_text("{not json")
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema": "ddbench.results", "schema_version": 99}))

    assert main(["compare", str(broken), str(broken)]) == 2
    assert main(["compare", str(newer), str(newer)]) == 2
    assert "schema version 99" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no_such_workload"], "unknown workload 'no_such_workload'"),
        (["run", "deep", "--records", "0"], "--records must be a positive integer"),
        (["run", "deep", "--engines", "sync,turbo"], "unknown engine"),
        (["run", "deep", "--profile", "/nonexistent.yaml"], "--profile: no such file"),
        (["run", "deep", "--endpoint", "http://127.0.0.1:{port}/v1"], "cannot connect"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    argv = [arg.replace("{port}", str(free_port())) for arg in argv]

    assert main([*argv, "--out", str(tmp_path / "never")]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "never").exists()


def test_a_bad_profile_file_is_refused_before_any_trial(tmp_path, capsys):
    profile = tmp_path / "bad.yaml"
    profile.write_text("default:\n  latency:\n    ttft: {dist: gama}\n")

    assert main(["run", "deep", "--profile", str(profile), "--out", str(tmp_path / "x")]) == 2
    assert "gama" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_list_shows_every_workload(capsys):
    assert main(["run", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("narrow", "deep", "wide", "dual_model", "rate_limited", "cross_provider"):
        assert name in out


def test_the_ideal_is_held_to_the_providers_concurrency_cap(workload):
    from benchmarks.runner import provider_caps
    from benchmarks.workloads import profile_for
    from dd_sim.dag import dag_spec
    from mock_provider import load_profile

    pipeline = workload("rate_limited")
    caps = provider_caps(pipeline, load_profile(profile_for("rate_limited")))

    assert caps == {"local/capped-mock": 4}
    assert dag_spec(pipeline, provider_caps=caps).caps == {"local/capped-mock": 4}
    assert dag_spec(pipeline).caps == {"local/capped-mock": 16}
