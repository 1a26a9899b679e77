"""Regenerate the reference report in ``reports/reference/``: one command, two runs.

``measured/`` is the default ``ddbench run`` (the dev note's four workloads on the dev note
profile); ``selfhosted/`` is ``ddbench sim`` of the dev note's scale case (10k records, two
self-hosted endpoints). Both folders get their figures and ``report.md``; the README shows
the measured bar chart, speedup chart and Gantt timeline. The simulated run's per-trial
Parquet files (about 40 MB at 10k records) are removed once its figures are drawn: the
committed reference keeps its results, summary and figures.

Run: ``python -m benchmarks.reference`` (about six minutes on a 2-core machine).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from benchmarks.cli import main as ddbench

REFERENCE = Path(__file__).resolve().parent.parent / "reports" / "reference"


def regenerate(root: Path = REFERENCE) -> int:
    """Both reference runs into ``root``; the exit status of the first that fails, or 0."""
    runs = {
        "measured": ["run"],
        "selfhosted": ["sim", "selfhosted_scale", "--records", "10000", "--trials", "3"],
    }
    for name, argv in runs.items():
        out = root / name
        shutil.rmtree(out, ignore_errors=True)
        status = ddbench([*argv, "--out", str(out)])
        if status:
            return status
    shutil.rmtree(root / "selfhosted" / "trials", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(regenerate())
