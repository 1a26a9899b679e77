"""``ddbench report`` end to end, on the hand-made and on a real ``ddbench run`` artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.cli import EXIT_BAD_INPUT, EXIT_OK, main
from reports import build_report

#: A real artifact: ``ddbench run deep dual_model rate_limited --records 6 --trials 2
#: --latency 0.02`` (async trials of that run carry no throttle history).
REAL = Path(__file__).parent / "fixtures" / "real"


def test_command_writes_figures_markdown_and_self_contained_html(
    measured_dir, simulated_dir, tmp_path, capsys
):
    out = tmp_path / "report"

    status = main(
        ["report", str(measured_dir), str(simulated_dir), "--out", str(out), "--theme", "dark"]
    )

    assert status == EXIT_OK
    assert "10 figures" in capsys.readouterr().out
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == len(list(out.glob("*.svg"))) == 10
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert (out / "04-cell-grid.gif").stat().st_size > 0

    markdown = (out / "report.md").read_text()
    for target in re.findall(r"\]\(([^)]+)\)", markdown):
        assert (out / target).is_file(), target
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 10
    assert "src='http" not in page and 'src="' not in page
    assert "#16191D" in page  # the dark theme's background


def test_command_refuses_a_newer_schema_with_exit_2(artifact_copy, capsys):
    folder = artifact_copy(edit=lambda results: results.update(schema_version=99))

    status = main(["report", str(folder)])

    assert status == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert "schema version 99 is not supported" in error
    assert "reads version 1" in error
    assert not (folder / "report.md").exists()


def test_command_refuses_a_folder_without_an_artifact(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "no such artifact" in capsys.readouterr().err


def test_report_of_a_real_run_draws_everything_but_the_simulator_comparison(tmp_path):
    results = json.loads((REAL / "results.json").read_text())

    report = build_report([REAL], tmp_path / "out", gif=False)

    assert [o.stem for o in report.missing] == ["09-sim-vs-measured"]
    markdown = report.markdown.read_text()
    for name in results["workloads"]:
        assert f"| {name} |" in markdown
    assert "Timeline figures show the `dual_model` workload." in markdown
