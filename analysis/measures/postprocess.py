"""Post-processing of an embedding matrix before the statistics are recomputed.

All functions take ``X`` (N x d, float32 or float64), compute in float64 (row-chunked where
the data is touched, so extra memory is O(chunk * d + d^2)) and return a new float32 array.
The dashboard applies one of them globally via :func:`apply_postprocessing`.

References
----------
* z-scoring: per-dimension (x - mu) / std.
* All-but-the-top: Mu & Viswanath, ICLR 2018, arXiv:1702.01417.
* Whitening: Su et al. 2021, "Whitening Sentence Representations", arXiv:2103.15316.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.measures.matrix import as_float64, as_matrix, column_mean, column_variance, pca_basis, row_chunks
from analysis.options import POSTPROCESSING

__all__ = [
    "standardize",
    "all_but_the_top",
    "whiten",
    "apply_postprocessing",
]


# Relative eigenvalue floor below which a principal direction counts as "no variance".
_RANK_TOL = 1e-10


def standardize(X: np.ndarray) -> np.ndarray:
    """Per-dimension z-score: ``(x_ij - mu_j) / std_j`` (population std, ddof=0).

    Zero-variance dimensions (std_j == 0, or std_j <= 1e-12 * |mu_j|, i.e. only rounding
    noise of a constant column) are set to exactly 0 instead of NaN/inf. Returns float32.
    """
    X = as_matrix(X, min_rows=1)
    n, d = X.shape
    mu = column_mean(X)
    std = np.sqrt(column_variance(X, mu))
    dead = (std == 0) | (std <= 1e-12 * np.abs(mu))
    inv = np.where(dead, 0.0, 1.0 / np.where(dead, 1.0, std))
    out = np.empty((n, d), dtype=np.float32)
    for a, b in row_chunks(n, d):
        out[a:b] = (as_float64(X[a:b]) - mu) * inv
    return out


def _check_components(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise OptionError(f"{name} must be an integer; got {value!r}.")
    value = int(value)
    if not low <= value <= high:
        raise OptionError(f"{name} must be between {low} and {high} for this data; got {value}.")
    return value


def all_but_the_top(X: np.ndarray, n_components: int | None = None) -> np.ndarray:
    """All-but-the-top (Mu & Viswanath, ICLR 2018).

    Contract: ``x' = (x - mu) - sum_{k<=D} (u_k . (x - mu)) u_k`` where u_1..u_D are the
    top-D principal directions of X (eigenvectors of the covariance). Default
    ``D = max(1, round(d / 100))``. ``D = 0`` only centers. D must be < d and at most the
    number of principal directions available (min(N, d)). Returns float32, N x d.
    """
    X = as_matrix(X, min_rows=2)
    n, d = X.shape
    D = max(1, round(d / 100)) if n_components is None else n_components
    mu, _, V = pca_basis(X)
    D = _check_components(D, "n_components", 0, min(d - 1, V.shape[1]))
    U = V[:, :D]
    out = np.empty((n, d), dtype=np.float32)
    for a, b in row_chunks(n, d):
        A = as_float64(X[a:b]) - mu
        out[a:b] = A - (A @ U) @ U.T
    return out


def whiten(X: np.ndarray, n_components: int | None = None) -> np.ndarray:
    """Whitening (Su et al. 2021): ``y = (x - mu) U_k diag(1 / sqrt(lambda_k))``.

    ``lambda, U`` are the eigenvalues/eigenvectors of the covariance with ddof=0
    (``Sigma = (X - mu)^T (X - mu) / N``), sorted descending; the first ``k`` columns are
    kept, so ``cov(y, ddof=0) = I_k``. Each eigenvector's largest-|.| loading is made
    positive (deterministic signs). Default ``k`` = the numerical rank (directions with
    lambda > 1e-10 * lambda_1), which is d for ordinary data and less when N <= d or
    columns are dependent; an explicit ``k`` above that raises OptionError (dividing by a
    zero variance would blow up). Returns float32, N x k.
    """
    X = as_matrix(X, min_rows=2)
    n, d = X.shape
    mu, lam, V = pca_basis(X)
    if lam.size == 0 or lam[0] <= 0:
        raise OptionError("Cannot whiten: all rows are identical (zero variance).")
    rank = int((lam > _RANK_TOL * lam[0]).sum())
    k = rank if n_components is None else _check_components(n_components, "n_components", 1, rank)
    W = V[:, :k] / np.sqrt(lam[:k])
    out = np.empty((n, k), dtype=np.float32)
    for a, b in row_chunks(n, d):
        out[a:b] = (as_float64(X[a:b]) - mu) @ W
    return out


_PARAMS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "standardize": frozenset(),
    "all_but_the_top": frozenset({"n_components"}),
    "whiten": frozenset({"n_components"}),
}


def apply_postprocessing(X: np.ndarray, name: str, **params: Any) -> np.ndarray:
    """Apply the named post-processing and return float32.

    ``name`` is one of ``"none"`` (a float32 copy), ``"standardize"``,
    ``"all_but_the_top"`` (param ``n_components``) or ``"whiten"`` (param
    ``n_components``). An unknown name or parameter raises OptionError listing the valid
    choices.
    """
    if name not in _PARAMS:
        raise OptionError(f"Unknown post-processing {name!r}; choose one of: {', '.join(POSTPROCESSING)}.")
    bad = set(params) - _PARAMS[name]
    if bad:
        allowed = ", ".join(sorted(_PARAMS[name])) or "none"
        raise OptionError(
            f"Post-processing {name!r} got unknown parameter(s) {', '.join(sorted(bad))}; allowed: {allowed}."
        )
    if name == "none":
        return np.array(as_matrix(X), dtype=np.float32, copy=True)
    if name == "standardize":
        return standardize(X)
    if name == "all_but_the_top":
        return all_but_the_top(X, **params)
    return whiten(X, **params)
