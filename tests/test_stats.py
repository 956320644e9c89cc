"""Per-dimension statistics against plain numpy, and the dead-dimension rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.measures import stats


def _reference(matrix: np.ndarray) -> pd.DataFrame:
    m = matrix.astype(np.float64)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "mean": m.mean(0),
            "std": m.std(0),
            "variance": m.var(0),
            "min": m.min(0),
            "max": m.max(0),
            "abs_mean": np.abs(m).mean(0),
            "near_zero_share": (np.abs(m) < stats.NEAR_ZERO_EPS * norms).mean(0),
        }
    )


@pytest.mark.parametrize("rows_per_chunk", [1, 7, 64, 10_000])
def test_both_views_match_numpy_for_any_chunking(rows_per_chunk):
    rng = np.random.default_rng(0)
    raw = (rng.normal(3.0, 0.5, size=(301, 24)) * rng.uniform(0.01, 5, size=24)).astype(np.float32)
    raw[:, 5] = 0.0
    frames = stats.dimension_stats_both_views(stats.iter_row_chunks(raw, rows_per_chunk), raw.shape[1])
    normalized = raw / np.linalg.norm(raw.astype(np.float64), axis=1, keepdims=True)
    for view, matrix in (("raw", raw), ("normalized", normalized.astype(np.float32))):
        frame = frames[view]
        assert list(frame.columns) == stats.STAT_COLUMNS
        assert frame["dim"].tolist() == list(range(24))
        ref = _reference(matrix)
        for column in ref.columns:
            np.testing.assert_allclose(frame[column], ref[column], rtol=1e-5, atol=1e-7, err_msg=f"{view} {column}")
    # The two views really differ (raw has mean ~3, normalized has unit rows).
    assert not np.allclose(frames["raw"]["std"], frames["normalized"]["std"])


def test_large_offset_keeps_variance_accurate():
    # A mean 1e4 times the spread would lose all digits with naive float32 sum-of-squares.
    rng = np.random.default_rng(1)
    raw = (1e3 + rng.normal(0, 0.1, size=(20_000, 4))).astype(np.float32)
    frame = stats.dimension_stats(raw, rows_per_chunk=333)
    np.testing.assert_allclose(frame["std"], raw.astype(np.float64).std(0), rtol=1e-6)


def test_single_matrix_stats_equals_raw_view():
    rng = np.random.default_rng(2)
    raw = rng.normal(size=(50, 8)).astype(np.float32)
    a = stats.dimension_stats(raw)
    b = stats.dimension_stats_both_views([raw], 8)["raw"]
    pd.testing.assert_frame_equal(a, b)


def test_empty_input_gives_nan_not_crash():
    frames = stats.dimension_stats_both_views([], 6)
    assert len(frames["raw"]) == 6 and frames["raw"]["std"].isna().all()


def test_dead_rule_is_relative_to_the_median():
    std = np.array([0.05, 0.04, 0.0002, 0.06, 0.03, 1e-9, 0.024])
    assert stats.dead_dimensions(std) == [2, 5]
    # The same shape at a thousand times the scale gives the same answer.
    assert stats.dead_dimensions(std * 1000) == [2, 5]
    # Nothing varies at all: nothing can be called dead.
    assert stats.dead_dimensions(np.zeros(5)) == []
    assert stats.dead_dimensions(np.array([np.nan, np.nan])) == []


def test_std_ratio_and_headline():
    frame = pd.DataFrame({"std": [1.0, 2.0, 3.0]})
    np.testing.assert_allclose(stats.std_ratio(frame["std"]), [0.5, 1.0, 1.5])
    head = stats.headline(frame, [0])
    assert head["dimension"] == 3 and head["dead_count"] == 1 and head["median_std"] == 2.0
