"""analysis.metrics against independent computations (brute force, numpy SVD, the IsoScore package)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import spearmanr

from analysis.errors import OptionError
from analysis.measures import geometry as M
from analysis.measures import matrix as MX
from analysis.measures import spectrum as SP


def _cos_matrix(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    return U @ U.T


def _brute_anisotropy(X: np.ndarray) -> float:
    C = _cos_matrix(X)
    n = len(C)
    return float((C.sum() - np.trace(C)) / (n * (n - 1)))


def _brute_cc(X: np.ndarray) -> np.ndarray:
    """CC_j = mean over ordered pairs i != k of u_ij u_kj, by explicit outer products."""
    X = np.asarray(X, dtype=np.float64)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    n, d = U.shape
    off = ~np.eye(n, dtype=bool)
    return np.array([np.outer(U[:, j], U[:, j])[off].mean() for j in range(d)])


@pytest.fixture
def offset_data() -> np.ndarray:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 12))
    X[:, 3] += 4.0  # a rogue dimension: a common offset
    X[:, 7] += 1.0
    return X


# ---------------------------------------------------------------- anisotropy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_anisotropy_matches_bruteforce(offset_data, dtype):
    X = offset_data.astype(dtype)
    res = M.anisotropy(X)
    assert res.exact and "exact" in res.method
    assert res.n_pairs == 120 * 119 // 2
    assert res.value == pytest.approx(_brute_anisotropy(X), abs=1e-12)


def test_anisotropy_centered_matches_bruteforce(offset_data):
    Xc = offset_data - offset_data.mean(axis=0)
    res = M.anisotropy(offset_data, center=True)
    assert res.value == pytest.approx(_brute_anisotropy(Xc), abs=1e-12)
    assert abs(res.value) < abs(M.anisotropy(offset_data).value)


def test_anisotropy_excludes_zero_rows(offset_data):
    X = np.vstack([offset_data, np.zeros((3, 12))])
    res = M.anisotropy(X)
    assert res.n_excluded == 3 and "3 zero-norm rows excluded" in res.method
    assert res.value == pytest.approx(_brute_anisotropy(offset_data), abs=1e-12)


def test_anisotropy_sampled_fallback_close_to_exact(offset_data):
    exact = M.anisotropy(offset_data).value
    res = M.anisotropy(offset_data, max_exact=0, n_pairs=200_000, seed=3)
    assert not res.exact and "sampled" in res.method and res.n_pairs == 200_000
    assert res.value == pytest.approx(exact, abs=0.01)
    assert M.anisotropy(offset_data, max_exact=0, n_pairs=1000, seed=3) == M.anisotropy(
        offset_data, max_exact=0, n_pairs=1000, seed=3
    )


def test_anisotropy_chunking_is_exact(offset_data, monkeypatch):
    full = M.anisotropy(offset_data).value
    cc = M.rogue_dimensions(offset_data, top_k=None)
    monkeypatch.setattr(MX, "CHUNK_ELEMS", 50)  # 4 rows per chunk
    assert M.anisotropy(offset_data).value == pytest.approx(full, abs=1e-14)
    assert np.allclose(M.rogue_dimensions(offset_data, top_k=None)["contribution"], cc["contribution"], atol=1e-15)
    assert np.allclose(
        SP.singular_values(offset_data), np.linalg.svd(offset_data - offset_data.mean(0), compute_uv=False)
    )


@pytest.mark.parametrize(
    "X",
    [np.zeros((5, 3)), np.ones((1, 3)), np.array([[1.0, 0.0], [0.0, 0.0]])],
    ids=["all-zero", "one-row", "one-nonzero-row"],
)
def test_anisotropy_needs_two_nonzero_rows(X):
    with pytest.raises(OptionError):
        M.anisotropy(X)


def test_bad_input_raises():
    with pytest.raises(OptionError, match="2-D"):
        M.anisotropy(np.ones(5))
    with pytest.raises(OptionError, match="NaN"):
        M.anisotropy(np.array([[1.0, np.nan], [1.0, 2.0]]))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 12), st.integers(1, 6)), elements=st.floats(-10, 10, width=32)))
def test_rogue_contributions_sum_to_anisotropy_property(X):
    norms = np.linalg.norm(X, axis=1)
    if (norms > 0).sum() < 2:
        with pytest.raises(OptionError):
            M.anisotropy(X)
        return
    a = M.anisotropy(X).value
    cc = M.rogue_dimensions(X, top_k=None)["contribution"].sum()
    assert cc == pytest.approx(a, abs=1e-12)
    assert -1.0 - 1e-12 <= a <= 1.0 + 1e-12
    assert a == pytest.approx(_brute_anisotropy(X[norms > 0]), abs=1e-9)


# ---------------------------------------------------------------- pairwise cosine sample


def test_pairwise_cosine_sample_small_returns_all_pairs(offset_data):
    X = offset_data[:20]
    got = M.pairwise_cosine_sample(X, n_pairs=10_000, seed=0)
    C = _cos_matrix(X)
    want = C[np.triu_indices(20, k=1)]
    assert np.allclose(got, want, atol=1e-12)
    got_c = M.pairwise_cosine_sample(X, n_pairs=10_000, seed=0, center=True)
    want_c = _cos_matrix(X - X.mean(0))[np.triu_indices(20, k=1)]
    assert np.allclose(got_c, want_c, atol=1e-12)


def test_pairwise_cosine_sample_large(offset_data):
    got = M.pairwise_cosine_sample(offset_data, n_pairs=3000, seed=5)
    assert got.shape == (3000,) and np.all(np.abs(got) <= 1.0)
    assert np.array_equal(got, M.pairwise_cosine_sample(offset_data, n_pairs=3000, seed=5))
    assert got.mean() == pytest.approx(_brute_anisotropy(offset_data), abs=0.03)
    centered = M.pairwise_cosine_sample(offset_data, n_pairs=3000, seed=5, center=True)
    assert abs(centered.mean()) < 0.05 < got.mean()


# ---------------------------------------------------------------- spectrum, erank, isoscore


@pytest.mark.parametrize("shape", [(3000, 20), (10, 30), (50, 50)], ids=["gram-route", "wide", "square"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_singular_values_match_numpy_svd(shape, dtype):
    rng = np.random.default_rng(2)
    X = (rng.normal(size=shape) * np.geomspace(0.1, 10, shape[1]) + 3.0).astype(dtype)
    X64 = X.astype(np.float64)
    want = np.linalg.svd(X64 - X64.mean(0), compute_uv=False)
    got = SP.singular_values(X)
    assert got.shape == want.shape
    assert np.all(np.diff(got) <= 0)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-7 * want[0])


def test_effective_rank_known_values():
    assert SP.effective_rank(np.ones(4)) == pytest.approx(4.0)
    assert SP.effective_rank(np.array([5.0, 0.0, 0.0])) == pytest.approx(1.0)
    p = np.array([3.0, 1.0]) / 4
    assert SP.effective_rank(np.array([3.0, 1.0])) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    with pytest.raises(OptionError):
        SP.effective_rank(np.zeros(3))
    with pytest.raises(OptionError):
        SP.effective_rank(np.array([1.0, -1.0]))


def test_effective_rank_duplicated_columns_do_not_raise_it():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 10)) * np.linspace(1, 3, 10)
    e = SP.effective_rank(X)
    assert SP.effective_rank(np.hstack([X, X])) == pytest.approx(e, rel=1e-9)
    B = rng.normal(size=(500, 3))
    dup = B[:, [0, 1, 2, 0, 0, 1, 2, 2, 1, 0]]  # rank 3, ten columns
    assert SP.effective_rank(dup) <= 3.0 + 1e-6


def test_isotropic_gaussian_limit():
    X = np.random.default_rng(4).normal(size=(20_000, 16))
    assert SP.isoscore(X) > 0.95
    assert abs(M.anisotropy(X).value) < 0.01
    assert SP.effective_rank(X) > 15.5


@pytest.mark.parametrize("n", [1000, 12], ids=["gram-route", "svd-route"])
def test_single_axis_limit(n):
    rng = np.random.default_rng(5)
    v = rng.normal(size=16)
    X = rng.normal(size=(n, 1)) * v
    assert SP.isoscore(X) < 0.05
    assert SP.effective_rank(X) == pytest.approx(1.0, abs=1e-3)


def _package_isoscore(X: np.ndarray) -> float:
    import IsoScore.IsoScore as mod  # PyPI isoscore==2.0.1 (imports torch); in requirements-dev.txt

    # Version 2.0.1 expects points as ROWS: torch.cov(points.T) treats columns as variables.
    return float(mod.IsoScore(np.asarray(X, dtype=np.float64)))


@pytest.mark.parametrize(
    "case",
    ["anisotropic", "offset", "wide", "nearly-isotropic", "float32"],
)
def test_isoscore_matches_reference_package(case):
    rng = np.random.default_rng(6)
    if case == "anisotropic":
        X = rng.normal(size=(800, 24)) * np.geomspace(0.01, 5, 24)
    elif case == "offset":
        X = rng.normal(size=(800, 24)) @ rng.normal(size=(24, 24)) + 10
    elif case == "wide":
        X = rng.normal(size=(15, 40))
    elif case == "nearly-isotropic":
        X = rng.normal(size=(5000, 8))
    else:
        X = (rng.normal(size=(600, 32)) * np.linspace(0.5, 2, 32)).astype(np.float32)
    ours = SP.isoscore(X)
    ref = _package_isoscore(X)
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_isoscore_errors():
    with pytest.raises(OptionError):
        SP.isoscore(np.ones((10, 4)))
    with pytest.raises(OptionError):
        SP.isoscore(np.random.default_rng(0).normal(size=(10, 1)))


@pytest.mark.parametrize("shape", [(800, 10), (15, 20)], ids=["weighted-scatter", "resample-svd"])
def test_isoscore_bootstrap(shape):
    rng = np.random.default_rng(7)
    X = rng.normal(size=shape) * np.linspace(0.5, 2, shape[1])
    score, low, high = SP.isoscore_bootstrap(X, n_boot=40, seed=1)
    assert score == pytest.approx(SP.isoscore(X))
    assert 0.0 <= low <= high <= 1.0
    assert (score, low, high) == SP.isoscore_bootstrap(X, n_boot=40, seed=1)
    # the weighted-scatter shortcut is a resample: compare one replicate to an explicit one
    _, low2, high2 = SP.isoscore_bootstrap(X, n_boot=40, seed=1, max_rows=shape[0] // 2)
    assert high2 - low2 >= 0.0
    with pytest.raises(OptionError):
        SP.isoscore_bootstrap(X, alpha=1.5)


def test_bootstrap_weighted_replicate_equals_explicit_resample():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 6)) * np.arange(1, 7)
    w = np.random.default_rng(0).multinomial(300, np.full(300, 1 / 300)).astype(float)
    mu = MX.column_mean(X, w)
    vals = MX.sym_eigvals_desc(MX.scatter_matrix(X, mu, w))
    Xr = np.repeat(X, w.astype(int), axis=0)
    want = np.linalg.svd(Xr - Xr.mean(0), compute_uv=False) ** 2
    assert np.allclose(vals, want, rtol=1e-9)


# ---------------------------------------------------------------- rogue / outlier dimensions


def test_rogue_dimensions_match_bruteforce(offset_data):
    df = M.rogue_dimensions(offset_data, top_k=None)
    assert list(df.columns) == ["dim", "contribution", "share", "cumulative_share"]
    cc = _brute_cc(offset_data)
    assert np.allclose(df.sort_values("dim")["contribution"].to_numpy(), cc, atol=1e-12)
    assert df["contribution"].sum() == pytest.approx(M.anisotropy(offset_data).value, abs=1e-12)
    assert np.all(np.diff(df["contribution"]) <= 0)
    assert df["share"].sum() == pytest.approx(1.0)
    assert df["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert df["dim"].iloc[0] == 3 and df["share"].iloc[0] > 0.5
    top = M.rogue_dimensions(offset_data, top_k=2)
    assert list(top["dim"]) == [3, 7]
    assert top["cumulative_share"].iloc[1] == pytest.approx(df["share"].iloc[:2].sum())


def test_rogue_shares_undefined_when_contributions_cancel(offset_data):
    df = M.rogue_dimensions(offset_data - offset_data.mean(0), top_k=None)
    assert df["contribution"].sum() == pytest.approx(_brute_anisotropy(offset_data - offset_data.mean(0)), abs=1e-12)
    assert df["share"].isna().all()


def test_outlier_dimensions():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(400, 50))
    X[:, 17] *= 30
    X[:, 4] += 20
    assert M.outlier_dimensions(X) == [17, 4]
    assert M.outlier_dimensions(np.ones((5, 8))) == []
    # brute force threshold
    m = np.abs(X).mean(0)
    k = 0.5
    assert sorted(M.outlier_dimensions(X, k_sigma=k)) == sorted(np.flatnonzero(m > m.mean() + k * m.std()).tolist())
    with pytest.raises(OptionError):
        M.outlier_dimensions(X, k_sigma=-1)


# ---------------------------------------------------------------- neighbour rank change


def test_neighbour_rank_change_matches_scipy_spearman():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(40, 8))
    X[:, 0] += 3
    got = M.neighbour_rank_change(X, [0], n_queries=40)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    R = X[:, 1:] / np.linalg.norm(X[:, 1:], axis=1, keepdims=True)
    rhos = []
    for q in range(40):
        others = np.arange(40) != q
        rhos.append(spearmanr(U[others] @ U[q], R[others] @ R[q]).statistic)
    assert got == pytest.approx(np.mean(rhos), abs=1e-12)


def test_neighbour_rank_change_limits():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 16))
    assert M.neighbour_rank_change(X, []) == pytest.approx(1.0)
    assert M.neighbour_rank_change(X, [], measure="overlap") == pytest.approx(1.0)
    X[:, :2] *= 50  # two dominating dims: removing them scrambles the neighbours
    assert M.neighbour_rank_change(X, [0, 1]) < 0.5
    assert M.neighbour_rank_change(X, [15]) > 0.9
    ov = M.neighbour_rank_change(X, [0, 1], k=10, measure="overlap")
    assert 0.0 <= ov < 0.5
    # candidate pool + query subsampling path
    assert 0.0 < M.neighbour_rank_change(X, [0, 1], n_queries=20, n_candidates=100) < 0.6
    with pytest.raises(OptionError):
        M.neighbour_rank_change(X, [16])
    with pytest.raises(OptionError):
        M.neighbour_rank_change(X, list(range(16)))
    with pytest.raises(OptionError):
        M.neighbour_rank_change(X, [0], measure="kendall")


# ---------------------------------------------------------------- summary


def test_geometry_summary_is_json_ready_and_consistent(offset_data):
    s = M.geometry_summary(offset_data)
    assert set(s) == {
        "anisotropy",
        "anisotropy_exact",
        "anisotropy_centered",
        "isoscore",
        "effective_rank",
        "effective_rank_ratio",
        "n_outlier_dims",
        "top_rogue_dims",
        "top3_rogue_share",
    }
    json.dumps(s, allow_nan=False)
    assert s["anisotropy"] == pytest.approx(M.anisotropy(offset_data).value)
    assert s["anisotropy_exact"] is True
    assert s["anisotropy_centered"] == pytest.approx(M.anisotropy(offset_data, center=True).value)
    assert s["isoscore"] == pytest.approx(SP.isoscore(offset_data))
    assert s["effective_rank"] == pytest.approx(SP.effective_rank(offset_data))
    assert s["effective_rank_ratio"] == pytest.approx(s["effective_rank"] / 12)
    assert s["n_outlier_dims"] == len(M.outlier_dimensions(offset_data))
    top = M.rogue_dimensions(offset_data, top_k=3)
    assert s["top_rogue_dims"] == top["dim"].tolist() and s["top_rogue_dims"][0] == 3
    assert s["top3_rogue_share"] == pytest.approx(top["share"].sum())
    assert all(type(v) in (float, int, bool, list) for v in s.values())
    iso = M.geometry_summary(np.random.default_rng(0).normal(size=(2000, 8)))
    assert iso["top3_rogue_share"] is None  # contributions cancel: shares undefined
    json.dumps(iso, allow_nan=False)
