"""Samplers: same seed same values, cell path equals batch path, order does not matter."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dd_core.errors import ConfigError
from dd_core.sampling import cell_rng, make_sampler

SAMPLERS = {
    "category": {"values": ["a", "b", "c"], "weights": [1, 2, 1]},
    "uniform": {"low": -2.0, "high": 3.0},
    "gaussian": {"mean": 10.0, "stddev": 2.0},
    "integer": {"low": 1, "high": 6},
    "uuid": {},
}


@pytest.mark.parametrize("kind", SAMPLERS)
def test_same_seed_same_values_other_seed_other_values(kind: str) -> None:
    sampler = make_sampler(kind, SAMPLERS[kind])
    rows = list(range(200))

    first = sampler.sample_rows(7, "col", rows)
    assert first == sampler.sample_rows(7, "col", rows)
    assert first != sampler.sample_rows(8, "col", rows)
    assert first != sampler.sample_rows(7, "other", rows)


@pytest.mark.parametrize("kind", SAMPLERS)
def test_cell_path_equals_batch_path_in_any_order(kind: str) -> None:
    sampler = make_sampler(kind, SAMPLERS[kind])
    rows = list(range(300))
    batch = sampler.sample_rows(3, "col", rows)

    shuffled = list(np.random.default_rng(1).permutation(rows))
    cells = {row: sampler.sample_cell(3, "col", int(row)) for row in shuffled}
    assert [cells[row] for row in rows] == batch

    split = sampler.sample_rows(3, "col", rows[:100]) + sampler.sample_rows(3, "col", rows[100:])
    assert split == batch


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(SAMPLERS)),
    st.integers(0, 2**63),
    st.text(min_size=1, max_size=12),
    st.lists(st.integers(0, 10**9), min_size=1, max_size=30),
)
def test_value_depends_only_on_seed_column_row(kind, seed, column, rows) -> None:
    sampler = make_sampler(kind, SAMPLERS[kind])
    batch = sampler.sample_rows(seed, column, rows)
    assert batch == [sampler.sample_cell(seed, column, row) for row in reversed(rows)][::-1]


def test_values_follow_their_distribution() -> None:
    rows = range(20_000)
    category = make_sampler("category", SAMPLERS["category"]).sample_rows(0, "c", rows)
    assert 0.45 < category.count("b") / len(category) < 0.55
    assert set(category) == {"a", "b", "c"}

    uniform = np.array(make_sampler("uniform", SAMPLERS["uniform"]).sample_rows(0, "u", rows))
    assert uniform.min() >= -2.0 and uniform.max() < 3.0
    assert abs(uniform.mean() - 0.5) < 0.1

    gaussian = np.array(make_sampler("gaussian", SAMPLERS["gaussian"]).sample_rows(0, "g", rows))
    assert abs(gaussian.mean() - 10.0) < 0.1 and abs(gaussian.std() - 2.0) < 0.1

    integer = make_sampler("integer", SAMPLERS["integer"]).sample_rows(0, "i", rows)
    assert set(integer) == {1, 2, 3, 4, 5, 6}
    assert all(type(v) is int for v in integer)

    ids = make_sampler("uuid", {}).sample_rows(0, "id", rows)
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(v).version == 4 for v in ids[:50])


def test_zero_weight_is_never_drawn() -> None:
    sampler = make_sampler("category", {"values": ["x", "never"], "weights": [1, 0]})
    assert set(sampler.sample_rows(0, "c", range(2000))) == {"x"}


def test_cell_rng_is_stable_and_distinct() -> None:
    a = cell_rng(5, "col", 3).random(4)
    assert np.array_equal(a, cell_rng(5, "col", 3).random(4))
    assert not np.array_equal(a, cell_rng(5, "col", 4).random(4))
    assert not np.array_equal(a, cell_rng(5, "lol", 3).random(4))
    assert not np.array_equal(a, cell_rng(6, "col", 3).random(4))


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("category", {"values": []}, "values must be a non-empty list"),
        ("category", {"values": [1, 2], "weights": [-1, 2]}, "non-negative numbers"),
        ("category", {}, "missing param(s) values"),
        ("uniform", {"low": 3, "high": 1}, "needs low < high, got low=3, high=1"),
        ("integer", {"low": 1.5, "high": 3}, "low must be an integer, got 1.5"),
        ("gaussian", {"mean": 0, "stddev": -1}, "stddev must be >= 0"),
        ("uuid", {"version": 4}, "unknown param 'version'; valid params: none"),
        ("poisson", {}, "unknown sampler 'poisson'; valid samplers: category,"),
    ],
)
def test_bad_params_are_refused(kind: str, params: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_sampler(kind, params)
    assert expected in str(info.value)
