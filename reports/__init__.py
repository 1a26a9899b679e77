"""Figures and pages drawn from benchmark artifacts alone.

``build_report(dirs)`` reads one or more artifact folders (through
``benchmarks.artifacts``), draws every figure their data allows as PNG and SVG, and writes
``report.md`` and a self-contained ``report.html`` beside them. ``ddbench report`` is its
command line.
"""

from __future__ import annotations

from reports.artifact_set import Artifact, ArtifactSet, load_artifacts
from reports.builder import FIGURES, FigureOutcome, FigureSpec, Report, build_report
from reports.context import FigureContext, Unavailable
from reports.palette import THEMES, ModelPalette, Theme, get_theme

__all__ = [
    "FIGURES",
    "THEMES",
    "Artifact",
    "ArtifactSet",
    "FigureContext",
    "FigureOutcome",
    "FigureSpec",
    "ModelPalette",
    "Report",
    "Theme",
    "Unavailable",
    "build_report",
    "get_theme",
    "load_artifacts",
]
