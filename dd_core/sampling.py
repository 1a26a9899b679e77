"""Seeded samplers whose value for a cell depends only on (seed, column, row).

Both executors must produce the same dataset cell for cell, whatever order they run cells
in. So no sampler draws from a shared stream: each draw is a counter-based hash of the
cell's coordinates (a blake2b key for (seed, column), mixed with the row index and a draw
number by SplitMix64). The same arithmetic runs on one row or on a numpy array of rows,
which is why the per-cell path and the vectorised batch path give identical values.

``cell_rng`` gives custom generators a full ``numpy.random.Generator`` seeded the same way
(from a ``SeedSequence`` of integers, never Python's salted ``hash()``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dd_core.config import SAMPLER_KINDS
from dd_core.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "SAMPLER_PARAMS",
    "Sampler",
    "cell_rng",
    "cell_uniforms",
    "make_sampler",
]

#: Parameters each sampler takes: (required, optional).
SAMPLER_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "category": (("values",), ("weights",)),
    "uniform": (("low", "high"), ()),
    "gaussian": (("mean", "stddev"), ()),
    "integer": (("low", "high"), ()),
    "uuid": ((), ()),
}

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _key(seed: int, column: str) -> int:
    digest = hashlib.blake2b(f"{seed}\x1f{column}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic is the point)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def cell_words(seed: int, column: str, rows: np.ndarray, draws: int) -> np.ndarray:
    """``(len(rows), draws)`` uint64 words, each a pure function of (seed, column, row, draw)."""
    rows = np.asarray(rows, dtype=np.int64).astype(np.uint64)
    base = _splitmix(rows ^ np.uint64(_key(seed, column)))
    steps = np.arange(1, draws + 1, dtype=np.uint64) * _GOLDEN
    return _splitmix(base[:, None] + steps[None, :])


def cell_uniforms(seed: int, column: str, rows: np.ndarray, draws: int = 1) -> np.ndarray:
    """``(len(rows), draws)`` floats in [0, 1) with 53 random bits each."""
    words = cell_words(seed, column, rows, draws)
    return (words >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def cell_rng(seed: int, column: str, row: int) -> np.random.Generator:
    """A ``numpy`` generator for one cell, independent of the order cells run in."""
    entropy = [seed & _MASK64, _key(0, column), row & _MASK64]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Sampler:
    """A validated sampler; ``sample_cell`` and ``sample_rows`` agree value for value."""

    kind: str
    params: Mapping[str, Any]

    def sample_cell(self, seed: int, column: str, row: int) -> Any:
        """The value of cell (column, row) under ``seed``."""
        return self.sample_rows(seed, column, [row])[0]

    def sample_rows(self, seed: int, column: str, rows: Sequence[int]) -> list[Any]:
        """The values of many cells of one column at once (vectorised over rows)."""
        rows_array = np.asarray(rows, dtype=np.int64)
        if self.kind == "category":
            return self._category(seed, column, rows_array)
        if self.kind == "uniform":
            u = cell_uniforms(seed, column, rows_array)[:, 0]
            low, high = float(self.params["low"]), float(self.params["high"])
            return (low + u * (high - low)).tolist()
        if self.kind == "gaussian":
            u = cell_uniforms(seed, column, rows_array, draws=2)
            # Box-Muller; 1 - u is in (0, 1], so the log is finite.
            z = np.sqrt(-2.0 * np.log(1.0 - u[:, 0])) * np.cos(2.0 * np.pi * u[:, 1])
            mean, stddev = float(self.params["mean"]), float(self.params["stddev"])
            return (mean + stddev * z).tolist()
        if self.kind == "integer":
            low, high = int(self.params["low"]), int(self.params["high"])
            words = cell_words(seed, column, rows_array, 1)[:, 0]
            # Modulo bias is below 2**-40 for any span a pipeline would use.
            offsets = words % np.uint64(high - low + 1)
            return [low + int(offset) for offset in offsets]
        return self._uuid(seed, column, rows_array)

    def _category(self, seed: int, column: str, rows: np.ndarray) -> list[Any]:
        values = list(self.params["values"])
        weights = self.params.get("weights")
        if weights is None:
            weights = [1.0] * len(values)
        cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
        u = cell_uniforms(seed, column, rows)[:, 0] * cdf[-1]
        picks = np.minimum(np.searchsorted(cdf, u, side="right"), len(values) - 1)
        return [values[i] for i in picks]

    def _uuid(self, seed: int, column: str, rows: np.ndarray) -> list[str]:
        words = cell_words(seed, column, rows, 2)
        return [str(uuid.UUID(int=(int(high) << 64) | int(low), version=4)) for high, low in words]


def make_sampler(kind: str, params: Mapping[str, Any]) -> Sampler:
    """Validate ``params`` for sampler ``kind``; raises ``ConfigError`` naming the problem."""
    if kind not in SAMPLER_PARAMS:
        raise ConfigError(f"unknown sampler {kind!r}; valid samplers: {', '.join(SAMPLER_KINDS)}")
    if not isinstance(params, Mapping):
        raise ConfigError(f"params must be a mapping, got {type(params).__name__}")

    required, optional = SAMPLER_PARAMS[kind]
    valid = (*required, *optional)
    for name in params:
        if name not in valid:
            listed = ", ".join(valid) if valid else "none"
            raise ConfigError(f"{kind} sampler: unknown param {name!r}; valid params: {listed}")
    missing = [name for name in required if name not in params]
    if missing:
        raise ConfigError(f"{kind} sampler: missing param(s) {', '.join(missing)}")

    _CHECKS[kind](params)
    return Sampler(kind=kind, params=dict(params))


def _check_category(params: Mapping[str, Any]) -> None:
    values = params["values"]
    if not isinstance(values, list | tuple) or not values:
        raise ConfigError(f"category sampler: values must be a non-empty list, got {values!r}")
    weights = params.get("weights")
    if weights is None:
        return
    if not isinstance(weights, list | tuple) or len(weights) != len(values):
        raise ConfigError(
            f"category sampler: weights must be a list of {len(values)} numbers "
            f"(one per value), got {weights!r}"
        )
    if not all(_is_number(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(
            f"category sampler: weights must be non-negative numbers with a positive sum, "
            f"got {weights!r}"
        )


def _check_range(params: Mapping[str, Any], kind: str, integral: bool) -> None:
    low, high = params["low"], params["high"]
    for name, value in (("low", low), ("high", high)):
        if not _is_number(value) or (integral and not isinstance(value, int)):
            expected = "an integer" if integral else "a number"
            raise ConfigError(f"{kind} sampler: {name} must be {expected}, got {value!r}")
    if (integral and low > high) or (not integral and low >= high):
        relation = "<=" if integral else "<"
        raise ConfigError(f"{kind} sampler: needs low {relation} high, got low={low}, high={high}")


def _check_gaussian(params: Mapping[str, Any]) -> None:
    for name in ("mean", "stddev"):
        if not _is_number(params[name]):
            raise ConfigError(f"gaussian sampler: {name} must be a number, got {params[name]!r}")
    if params["stddev"] < 0:
        raise ConfigError(f"gaussian sampler: stddev must be >= 0, got {params['stddev']!r}")


_CHECKS = {
    "category": _check_category,
    "uniform": lambda params: _check_range(params, "uniform", integral=False),
    "gaussian": _check_gaussian,
    "integer": lambda params: _check_range(params, "integer", integral=True),
    "uuid": lambda params: None,
}
