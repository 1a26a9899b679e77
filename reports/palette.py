"""The house style: one colour per engine and per model, a light and a dark theme.

Every figure takes its colours from here, so sync is the same orange and a model the same
hue in every chart of a report. Engine colours are fixed; model colours are handed out in
sorted order of the model names a report meets (``ModelPalette``), from a cycle chosen to
stay clear of the two engine hues. A report with more models than the cycle repeats hues.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context  # noqa: E402

ENGINES: tuple[str, ...] = ("sync", "async")

#: Okabe-Ito hues (colour-blind safe); the dark theme uses lighter twins.
_ENGINE_COLOURS = {
    "light": {"sync": "#D55E00", "async": "#0072B2"},
    "dark": {"sync": "#FF8C42", "async": "#4FA3E0"},
}
_MODEL_CYCLE = {
    "light": ("#009E73", "#CC79A7", "#B8860B", "#7570B3", "#66A61E", "#8C564B"),
    "dark": ("#2BD4A4", "#F08CC8", "#F0C43C", "#A59EF0", "#9BD44A", "#D9A27E"),
}


@dataclass(frozen=True)
class Theme:
    """A named set of matplotlib settings plus the few colours figures pick by hand."""

    name: str
    background: str
    foreground: str
    muted: str
    grid: str
    #: Cells, nodes and spans that have no model or no value.
    neutral: str
    colormap: str

    def rc(self) -> dict[str, Any]:
        return {
            "figure.facecolor": self.background,
            "axes.facecolor": self.background,
            "savefig.facecolor": self.background,
            "axes.edgecolor": self.muted,
            "axes.labelcolor": self.foreground,
            "axes.titlecolor": self.foreground,
            "text.color": self.foreground,
            "xtick.color": self.muted,
            "ytick.color": self.muted,
            "xtick.labelcolor": self.foreground,
            "ytick.labelcolor": self.foreground,
            "grid.color": self.grid,
            "grid.linewidth": 0.7,
            "axes.grid": True,
            "axes.axisbelow": True,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 11,
            "axes.titlesize": 12.5,
            "axes.titleweight": "bold",
            "axes.labelsize": 11,
            "legend.frameon": False,
            "legend.fontsize": 10,
            "figure.titlesize": 14,
            "figure.titleweight": "bold",
            "svg.fonttype": "none",
            "savefig.dpi": 150,
        }

    def engine(self, engine: str) -> str:
        return _ENGINE_COLOURS[self.name].get(engine, self.neutral)


THEMES: dict[str, Theme] = {
    "light": Theme(
        name="light",
        background="#FFFFFF",
        foreground="#1F2328",
        muted="#57606A",
        grid="#E4E7EB",
        neutral="#B8BEC6",
        colormap="viridis",
    ),
    "dark": Theme(
        name="dark",
        background="#16191D",
        foreground="#E6EDF3",
        muted="#9DA7B3",
        grid="#2D333B",
        neutral="#555D66",
        colormap="plasma",
    ),
}


def get_theme(name: str) -> Theme:
    """The theme called ``name``; a ValueError lists the valid names."""
    try:
        return THEMES[name]
    except KeyError:
        raise ValueError(f"theme = {name!r}; valid themes: {sorted(THEMES)}") from None


@contextmanager
def themed(theme: Theme) -> Iterator[None]:
    """Matplotlib settings of ``theme`` for figures made and saved inside the block."""
    with rc_context(theme.rc()):
        yield


@dataclass(frozen=True)
class ModelPalette:
    """A colour per model name, fixed for one report."""

    theme: Theme
    names: tuple[str, ...] = ()
    _colours: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_models(cls, theme: Theme, names: Iterable[str]) -> ModelPalette:
        ordered = tuple(sorted(set(names)))
        cycle = _MODEL_CYCLE[theme.name]
        colours = {name: cycle[i % len(cycle)] for i, name in enumerate(ordered)}
        return cls(theme, ordered, colours)

    def colour(self, name: str | None) -> str:
        if name is None:
            return self.theme.neutral
        return self._colours.get(name, self.theme.neutral)
