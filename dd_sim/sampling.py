"""Seeded draws of what a modelled provider serves: service time, output length, faults.

The mock provider derives a request's latency and length from a fingerprint of (seed,
model, messages). The simulator has no prompt text, so it draws from numpy generators
seeded by (seed, column, row) instead: the same inputs give the same service time, a
retry is served exactly as long as the first try (as with the mock, whose fingerprint a
retry shares), and the fault draw is fresh per (seed, column, row, attempt), as the
mock's sighting counter makes it. The numbers follow the same distributions as the mock
(``mock_provider.profile.Distribution``), not the same values; a simulated trial is one
sample of the provider, a seed another. In replay, ``served`` gives the seconds a measured
run was actually served per (column, row, call), and those take the draws' place.

Attempt-0 draws are made a block of ``BLOCK_ROWS`` rows at a time per column, so the
cost per cell is a few array reads; blocks are dropped once the run is past them, which
keeps memory independent of the record count.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mock_provider.faults import choose_fault
from mock_provider.profile import Distribution, ModelProfile

#: Rows drawn at once per column; a block is four float arrays of this length.
BLOCK_ROWS = 4096
#: Blocks kept per column (the async engine has a few row groups in flight at once).
BLOCKS_KEPT = 16


def draw(dist: Distribution, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of ``dist``, never negative, as the mock's ``latency.sample`` does."""
    kind = dist.dist
    if kind == "fixed":
        return np.full(size, max(0.0, dist.value))
    if kind == "uniform":
        values = rng.uniform(dist.low, dist.high, size)
    elif kind == "lognormal":
        values = rng.lognormal(math.log(dist.median), dist.sigma, size)
    else:
        values = rng.beta(dist.a, dist.b, size) * dist.scale
    return np.maximum(0.0, values + dist.offset)


def stable_id(name: str) -> int:
    """A process-independent integer for a column name (Python's ``hash`` is salted)."""
    return zlib.crc32(name.encode())


@dataclass(frozen=True)
class CallShape:
    """What one column's model call looks like to the provider."""

    model: ModelProfile
    #: The ``max_tokens`` the column's model sends (its ``inference``), or None.
    max_tokens: int | None = None


@dataclass
class _Block:
    service: np.ndarray
    tokens: np.ndarray
    fault_u: np.ndarray


class ServiceSampler:
    """Per-cell service draws for every model-calling column of one simulated run."""

    def __init__(
        self,
        seed: int,
        shapes: dict[str, CallShape],
        served: Mapping[tuple[str, int, int], float] | None = None,
    ) -> None:
        self.seed = seed
        self.shapes = shapes
        #: Replayed service seconds by (column, row, call); draws fill in the rest.
        self.served = served or {}
        self._ids = {column: stable_id(column) for column in shapes}
        self._blocks: dict[str, OrderedDict[int, _Block]] = {c: OrderedDict() for c in shapes}

    def service(self, column: str, row: int, call: int = 0) -> tuple[float, int]:
        """(seconds of service before any self-hosted slowdown, completion tokens)."""
        if call:
            rng = self._rng(column, row, 1_000_000 + call)
            service, tokens = _service(self.shapes[column], rng, 1)
            seconds, count = float(service[0]), int(tokens[0])
        else:
            block = self._block(column, row)
            offset = row % BLOCK_ROWS
            seconds, count = float(block.service[offset]), int(block.tokens[offset])
        return self.served.get((column, row, call), seconds), count

    def services(self, column: str, start: int, stop: int) -> tuple[list[float], list[int]]:
        """Attempt-0 (service seconds, completion tokens) of rows ``start`` to ``stop``."""
        seconds: list[float] = []
        tokens: list[int] = []
        row = start
        while row < stop:
            block = self._block(column, row)
            offset = row % BLOCK_ROWS
            end = min(stop - row, BLOCK_ROWS - offset) + offset
            seconds.extend(block.service[offset:end].tolist())
            tokens.extend(block.tokens[offset:end].tolist())
            row += end - offset
        if self.served:
            for row in range(start, stop):
                replayed = self.served.get((column, row, 0))
                if replayed is not None:
                    seconds[row - start] = replayed
        return seconds, tokens

    def fault(self, column: str, row: int, attempt: int) -> str | None:
        """The fault the ``attempt``-th admitted sighting of this cell's request gets."""
        faults = self.shapes[column].model.faults
        if not faults.any:
            return None
        if attempt == 0:
            u = float(self._block(column, row).fault_u[row % BLOCK_ROWS])
        else:
            u = float(self._rng(column, row, attempt).random())
        return choose_fault(faults, u)

    def mean_service(self, column: str) -> float:
        """The expected service time of one call, for planning estimates."""
        shape = self.shapes[column]
        tokens = _mean_tokens(shape)
        latency = shape.model.latency
        return latency.ttft.mean() + tokens * latency.per_token.mean()

    def _rng(self, column: str, row: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, self._ids[column], stream, row])

    def _block(self, column: str, row: int) -> _Block:
        index = row // BLOCK_ROWS
        blocks = self._blocks[column]
        block = blocks.get(index)
        if block is not None:
            return block
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self._ids[column], 0, index])
        service, tokens = _service(self.shapes[column], rng, BLOCK_ROWS)
        block = _Block(service, tokens, rng.random(BLOCK_ROWS))
        blocks[index] = block
        if len(blocks) > BLOCKS_KEPT:
            blocks.popitem(last=False)
        return block


def _service(shape: CallShape, rng: np.random.Generator, size: int) -> tuple[np.ndarray, ...]:
    """Completion tokens and service seconds, with the mock's ``max_tokens`` rules."""
    model = shape.model
    sampled = np.maximum(1, np.rint(draw(model.output.tokens, rng, size))).astype(np.int64)
    ttft = draw(model.latency.ttft, rng, size)
    per_token = draw(model.latency.per_token, rng, size)
    if shape.max_tokens is not None:
        if model.output.mode == "max_tokens":
            sampled = np.full(size, shape.max_tokens, dtype=np.int64)
        else:
            sampled = np.minimum(sampled, shape.max_tokens)
    return ttft + sampled * per_token, sampled


def _mean_tokens(shape: CallShape) -> float:
    output = shape.model.output
    if shape.max_tokens is not None and output.mode == "max_tokens":
        return float(shape.max_tokens)
    mean = max(1.0, output.tokens.mean())
    return min(mean, shape.max_tokens) if shape.max_tokens is not None else mean
