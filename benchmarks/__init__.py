"""The benchmark harness: workloads, paired trials, statistics, artifacts and the gate.

The ``ddbench`` command (``benchmarks.cli``) is its front door; the pieces are importable
for users who drive benchmarks from Python.
"""

from __future__ import annotations

from benchmarks.stats import (
    Change,
    SpeedupSummary,
    Summary,
    paired_speedup,
    regression_check,
    summarize,
)

__all__ = [
    "Change",
    "SpeedupSummary",
    "Summary",
    "paired_speedup",
    "regression_check",
    "summarize",
]
