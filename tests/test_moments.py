"""The mergeable accumulator: any split of the rows merges to the one-pass statistics, offset
near-constant dimensions keep their spread, and the wire form round-trips bit for bit.

Checked against plain float64 numpy on the whole matrix, and against the naive E[x^2] - E[x]^2
formula, which fails on exactly the dimensions DimScope exists to find.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.measures.moments import STAT_COLUMNS, DimensionMoments, update_views
from analysis.measures.stats import iter_row_chunks, stats_moments


def offset_matrix(n: int, seed: int = 0) -> np.ndarray:
    """float64 rows: dimensions of several scales, an exactly constant one, and an offset one (1e3 +- 0.1).

    Any float64 computation of a std is exact to about 1e-16 x mean / std relative; at mean / std =
    1e4 that leaves 1e-9 well above rounding, so any split must agree to 1e-9. (At 1e3 +- 1e-6 the
    data themselves carry only ~1e-7: see the near-constant test below.)
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(n, 6)) * np.array([1.0, 0.1, 5.0, 1e-3, 1.0, 1.0])
    x[:, 0] += 3.0
    x[:, 4] = 2.5  # exactly constant
    x[:, 5] = 1e3 + rng.normal(0.0, 0.1, size=n)  # offset
    return x


def both_views(x: np.ndarray) -> dict[str, DimensionMoments]:
    raw, norm = DimensionMoments.empty(x.shape[1]), DimensionMoments.empty(x.shape[1])
    update_views(raw, norm, x)
    return {"raw": raw, "normalized": norm}


def split_and_merge(x: np.ndarray, cuts: list[int], tree: bool) -> dict[str, DimensionMoments]:
    """Statistics of each slice between ``cuts``, merged left to right or as a balanced tree."""
    bounds = [0, *sorted(set(cuts)), x.shape[0]]
    parts = [both_views(x[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    while len(parts) > 1:
        if tree:
            parts = [
                {v: parts[i][v].merge(parts[i + 1][v]) for v in parts[i]} if i + 1 < len(parts) else parts[i]
                for i in range(0, len(parts), 2)
            ]
        else:
            first = parts.pop(0)
            parts[0] = {v: first[v].merge(parts[0][v]) for v in first}
    return parts[0]


def assert_same_statistics(got: DimensionMoments, want: DimensionMoments, rtol: float) -> None:
    a, b = got.columns(), want.columns()
    assert got.count == want.count
    for column in STAT_COLUMNS[1:]:
        np.testing.assert_allclose(a[column], b[column], rtol=rtol, atol=0, err_msg=column)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 300),
    cuts=st.lists(st.integers(1, 299), max_size=12),
    tree=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_split_of_the_rows_merges_to_the_one_pass_statistics(n, cuts, tree, seed):
    x = offset_matrix(n, seed)
    whole = both_views(x)
    merged = split_and_merge(x, [c for c in cuts if c < n], tree)
    for view in ("raw", "normalized"):
        assert_same_statistics(merged[view], whole[view], rtol=1e-9)


def test_the_statistics_match_float64_numpy_on_the_whole_matrix():
    x = offset_matrix(5000)
    got = split_and_merge(x, [17, 900, 901, 3333], tree=True)["raw"].columns()
    np.testing.assert_allclose(got["mean"], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(got["std"], x.std(axis=0), rtol=1e-9)
    np.testing.assert_allclose(got["min"], x.min(axis=0), rtol=0)
    np.testing.assert_allclose(got["max"], x.max(axis=0), rtol=0)
    np.testing.assert_allclose(got["abs_mean"], np.abs(x).mean(axis=0), rtol=1e-12)
    assert got["std"][4] == 0.0  # exactly constant stays exactly zero


def test_an_offset_near_constant_column_keeps_its_std_where_the_naive_formula_fails():
    rng = np.random.default_rng(7)
    column = 1e3 + rng.normal(0.0, 1e-6, size=(100_000, 1))  # float64: mean 1e3, std 1e-6
    true_std = float(column.std())  # numpy: two passes, centred
    assert 0.9e-6 < true_std < 1.1e-6
    # The accumulator, streamed in chunks (the pipeline's path for float64 input) and merged.
    moments = stats_moments(iter_row_chunks(column, 4096), 1, both_views=False)["raw"]
    assert abs(moments.columns()["std"][0] - true_std) <= 1e-3 * true_std
    # E[x^2] - E[x]^2 in the same float64: catastrophic cancellation (1e6 - 1e6 leaves rounding noise).
    naive_variance = float(np.mean(column**2) - np.mean(column) ** 2)
    assert abs(naive_variance - true_std**2) > 100 * true_std**2  # off by more than 100x the variance itself
    naive_std = np.sqrt(max(naive_variance, 0.0))  # here it comes out negative: a std of 0, "dead"
    assert abs(naive_std - true_std) > 0.5 * true_std


def test_the_float32_fast_path_fills_the_same_accumulator():
    x = offset_matrix(20_000).astype(np.float32)
    x[:, 5] = 0.5  # float32 cannot hold 1e3 +- 1e-6; keep a plain constant there
    fast = stats_moments(iter_row_chunks(x, 8192), 6, method="fast", workers=2)
    reference = stats_moments(iter_row_chunks(x, 8192), 6, method="reference")
    for view in ("raw", "normalized"):
        assert isinstance(fast[view], DimensionMoments)
        np.testing.assert_allclose(fast[view].columns()["std"], reference[view].columns()["std"], rtol=1e-5)
    # Two halves computed apart (as two workers would) merge to the one-pass result.
    halves = [stats_moments(iter_row_chunks(h, 8192), 6, method="fast") for h in (x[:7000], x[7000:])]
    merged = halves[0]["raw"].merge(halves[1]["raw"])
    np.testing.assert_allclose(merged.columns()["std"], fast["raw"].columns()["std"], rtol=1e-6)


def test_the_wire_form_round_trips_bit_for_bit_through_json():
    moments = both_views(offset_matrix(333))["normalized"]
    back = DimensionMoments.from_wire(json.loads(json.dumps(moments.to_wire())))
    assert back.count == moments.count
    for column, values in moments.columns().items():
        assert np.array_equal(back.columns()[column], values), column
    assert back.near_zero.dtype == np.int64


@pytest.mark.parametrize(
    "wire",
    [
        {},
        {"count": 1, "mean": [1.0], "m2": [0.0], "minimum": [1.0], "maximum": [1.0], "abs_sum": [1.0]},
        {
            "count": 1,
            "mean": [1.0, 2.0],
            "m2": [0.0],
            "minimum": [1.0],
            "maximum": [1.0],
            "abs_sum": [1.0],
            "near_zero": [0],
        },
        {
            "count": -1,
            "mean": [1.0],
            "m2": [0.0],
            "minimum": [1.0],
            "maximum": [1.0],
            "abs_sum": [1.0],
            "near_zero": [0],
        },
        {
            "count": 1,
            "mean": ["x"],
            "m2": [0.0],
            "minimum": [1.0],
            "maximum": [1.0],
            "abs_sum": [1.0],
            "near_zero": [0],
        },
    ],
)
def test_a_malformed_wire_record_is_a_value_error(wire):
    with pytest.raises(ValueError, match="wire record"):
        DimensionMoments.from_wire(wire)


def test_merging_different_dimensions_is_refused():
    with pytest.raises(ValueError, match="cannot merge"):
        DimensionMoments.empty(3).merge(DimensionMoments.empty(4))


def test_merging_empty_accumulators_changes_nothing():
    x = offset_matrix(50)
    one = both_views(x)["raw"]
    before = one.columns()
    one.merge(DimensionMoments.empty(6))
    assert all(np.array_equal(one.columns()[c], before[c]) for c in STAT_COLUMNS)
    empty = DimensionMoments.empty(6).merge(both_views(x)["raw"])
    assert all(np.array_equal(empty.columns()[c], before[c]) for c in STAT_COLUMNS)


def test_the_float32_fast_path_keeps_the_spread_of_a_tiny_dead_dimension():
    """all-MiniLM-L6-v2's dead dimensions hold values near 1e-31 varying by 1e-33: squared in float32
    they underflow to zero, so the fast path redoes such columns in float64."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(30_000, 8)).astype(np.float32)
    x[:, 3] = (1e-31 + rng.normal(0.0, 1e-33, size=30_000)).astype(np.float32)
    x[:, 6] = 0.0
    fast = stats_moments(iter_row_chunks(x, 8192), 8, method="fast")["raw"].columns()["std"]
    exact = x.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(fast, exact, rtol=1e-6, atol=0)
    assert 5e-34 < fast[3] < 2e-33 and fast[6] == 0.0
