"""Fixtures of the report tests: the committed hand-made artifacts, and edited copies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports import FigureContext, ModelPalette, get_theme, load_artifacts

FIXTURES = Path(__file__).parent / "fixtures"
MEASURED = FIXTURES / "measured"
SIMULATED = FIXTURES / "simulated"


@pytest.fixture
def measured_dir() -> Path:
    return MEASURED


@pytest.fixture
def simulated_dir() -> Path:
    return SIMULATED


@pytest.fixture
def artifact_copy(tmp_path: Path) -> Callable[..., Path]:
    """Copy the measured artifact, optionally edit its results and drop trial frames.

    ``artifact_copy(edit=fn, drop=("traces",))``: ``fn(results)`` edits the document in
    place; every ``trials/*.<part>.parquet`` of the parts in ``drop`` is deleted.
    """
    count = 0

    def make(
        edit: Callable[[dict[str, Any]], None] | None = None,
        drop: tuple[str, ...] = (),
        source: Path = MEASURED,
    ) -> Path:
        nonlocal count
        count += 1
        target = tmp_path / f"artifact{count}"
        shutil.copytree(source, target)
        if edit is not None:
            path = target / "results.json"
            results = json.loads(path.read_text())
            edit(results)
            path.write_text(json.dumps(results))
        for part in drop:
            for frame in (target / "trials").glob(f"*.{part}.parquet"):
                frame.unlink()
        return target

    return make


def make_context(*dirs: Path, theme: str = "light", timeline: str | None = None) -> FigureContext:
    artifacts = load_artifacts(list(dirs))
    style = get_theme(theme)
    return FigureContext(
        artifacts, style, ModelPalette.for_models(style, artifacts.model_names()), timeline
    )


@pytest.fixture
def context_for() -> Callable[..., FigureContext]:
    """``context_for(*dirs, theme=..., timeline=...)``: a FigureContext of those artifacts."""
    return make_context


@pytest.fixture
def ctx() -> FigureContext:
    """Measured and simulated fixtures together, the light theme."""
    return make_context(MEASURED, SIMULATED)
