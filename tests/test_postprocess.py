"""analysis.postprocess against numpy / scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from analysis.errors import OptionError
from analysis.measures import matrix as MX
from analysis.measures import postprocess as P
from analysis.options import POSTPROCESSING


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 20))
    return (rng.normal(size=(800, 20)) @ A * np.linspace(0.2, 3, 20) + 5.0).astype(np.float32)


def _match_up_to_sign(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    signs = np.sign((a * b).sum(axis=0))
    return np.allclose(a, b * signs, atol=atol)


def test_standardize_matches_numpy(data):
    out = P.standardize(data)
    X = data.astype(np.float64)
    assert out.dtype == np.float32 and out.shape == data.shape
    assert np.allclose(out, (X - X.mean(0)) / X.std(0), atol=1e-5)


def test_standardize_zero_variance_columns_are_zero_not_nan():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    X[:, 1] = 0.0
    X[:, 2] = 0.1  # constant, and 0.1 is not exact in binary: mean has rounding noise
    out = P.standardize(X)
    assert np.isfinite(out).all()
    assert np.all(out[:, 1] == 0) and np.all(out[:, 2] == 0)
    assert np.allclose(out[:, 0].std(), 1.0, atol=1e-5)


def test_all_but_the_top_matches_sklearn_pca(data):
    X = data.astype(np.float64)
    for D in (1, 3):
        out = P.all_but_the_top(data, n_components=D)
        comps = PCA(n_components=D, svd_solver="full").fit(X).components_
        Xc = X - X.mean(0)
        want = Xc - (Xc @ comps.T) @ comps
        assert out.dtype == np.float32 and out.shape == data.shape
        assert np.allclose(out, want, atol=1e-3 * np.abs(want).max())
        # nothing left along the removed directions, and the data stay centered
        assert np.abs(out.astype(np.float64) @ comps.T).max() < 1e-3 * np.abs(Xc).max()
        assert np.abs(out.mean(0)).max() < 1e-4 * np.abs(Xc).max()


def test_all_but_the_top_default_and_limits():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 200)) * np.linspace(1, 5, 200)
    default = P.all_but_the_top(X)  # D = max(1, round(200/100)) = 2
    assert np.allclose(default, P.all_but_the_top(X, n_components=2))
    assert np.allclose(P.all_but_the_top(X[:, :40]), P.all_but_the_top(X[:, :40], n_components=1))
    assert np.allclose(P.all_but_the_top(X, n_components=0), X - X.mean(0), atol=1e-4)
    for bad in (200, -1, 2.5):
        with pytest.raises(OptionError):
            P.all_but_the_top(X, n_components=bad)


def test_whiten_gives_identity_covariance_and_matches_sklearn(data):
    X = data.astype(np.float64)
    n = len(X)
    out = P.whiten(data)
    assert out.dtype == np.float32 and out.shape == (n, 20)
    cov = np.cov(out.astype(np.float64), rowvar=False, ddof=0)
    assert np.allclose(cov, np.eye(20), atol=1e-4)
    # sklearn divides by sqrt(explained_variance_) (ddof=1); we use ddof=0, so ours = sklearn * sqrt(n/(n-1))
    ref = PCA(n_components=5, whiten=True, svd_solver="full").fit_transform(X) * np.sqrt(n / (n - 1))
    got = P.whiten(data, n_components=5)
    assert got.shape == (n, 5)
    assert _match_up_to_sign(got.astype(np.float64), ref, atol=1e-3)


def test_whiten_rank_deficient():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(10, 30))  # N < d: rank of the centered data is 9
    out = P.whiten(X)
    assert out.shape == (10, 9)
    assert np.allclose(np.cov(out.astype(np.float64), rowvar=False, ddof=0), np.eye(9), atol=1e-4)
    with pytest.raises(OptionError, match="between 1 and 9"):
        P.whiten(X, n_components=10)
    with pytest.raises(OptionError):
        P.whiten(np.ones((5, 3)))


def test_chunked_paths_equal(data, monkeypatch):
    full = [P.standardize(data), P.all_but_the_top(data, 2), P.whiten(data, 4)]
    monkeypatch.setattr(MX, "CHUNK_ELEMS", 64)
    chunked = [P.standardize(data), P.all_but_the_top(data, 2), P.whiten(data, 4)]
    for a, b in zip(full, chunked, strict=True):
        assert np.allclose(a, b, atol=1e-5)


def test_apply_postprocessing_dispatch(data):
    none = P.apply_postprocessing(data, "none")
    assert none.dtype == np.float32 and np.array_equal(none, data) and none is not data
    assert np.array_equal(P.apply_postprocessing(data, "standardize"), P.standardize(data))
    assert np.array_equal(P.apply_postprocessing(data, "all_but_the_top", n_components=2), P.all_but_the_top(data, 2))
    assert np.array_equal(P.apply_postprocessing(data, "whiten", n_components=3), P.whiten(data, 3))
    assert P.apply_postprocessing(data.astype(np.float64), "none").dtype == np.float32


def test_apply_postprocessing_errors(data):
    with pytest.raises(OptionError) as err:
        P.apply_postprocessing(data, "pca")
    for name in POSTPROCESSING:
        assert name in str(err.value)
    with pytest.raises(OptionError, match="n_components"):
        P.apply_postprocessing(data, "standardize", n_components=3)
    with pytest.raises(OptionError, match="unknown parameter"):
        P.apply_postprocessing(data, "whiten", k=3)
