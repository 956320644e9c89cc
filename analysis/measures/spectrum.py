"""The spectrum of an embedding matrix: singular values, IsoScore and effective rank.

References
----------
* IsoScore: Rudman et al., Findings of ACL 2022 (arXiv:2108.07344).
* Effective rank: Roy & Vetterli, EUSIPCO 2007.
* Dimensional collapse / spectra: Jing et al., ICLR 2022 (arXiv:2110.09348).
"""

from __future__ import annotations

import numpy as np

from analysis.errors import OptionError
from analysis.measures.matrix import (
    as_float64,
    as_matrix,
    column_mean,
    lapack_single_thread,
    scatter_matrix,
    sym_eigvals_desc,
)

__all__ = ["effective_rank", "isoscore", "isoscore_bootstrap", "isoscore_from_variances", "singular_values"]


def singular_values_unchecked(X: np.ndarray) -> np.ndarray:
    n, d = X.shape
    mu = column_mean(X)
    if n >= 2 * d:
        # Gram/covariance route: eigenvalues of (X-mu)^T (X-mu) are s_k^2.
        return np.sqrt(sym_eigvals_desc(scatter_matrix(X, mu)))
    with lapack_single_thread():
        return np.linalg.svd(as_float64(X) - mu, compute_uv=False)


def singular_values(X: np.ndarray) -> np.ndarray:
    """Singular values of the centered matrix ``X - mu``, descending, length ``min(N, d)``.

    For N >= 2d the values are the square roots of the eigenvalues of the d x d scatter
    matrix (X-mu)^T (X-mu), accumulated in row chunks: O(N d^2) time, O(d^2 + chunk d)
    memory. That route squares the condition number: values below ~1e-8 * s_1 are not
    resolved, and eigenvalues below d * eps * s_1^2 (rounding level) are returned as exactly
    0, so a rank-r matrix gives exact zeros rather than ~1e-8 * s_1 noise. That is ample for
    spectra, IsoScore and effective rank. For N < 2d a direct SVD of the centered matrix is
    used.
    (Jing et al., ICLR 2022, plot log s_k against k/d.)
    """
    X = as_matrix(X)
    return singular_values_unchecked(X)


def isoscore_from_variances(var: np.ndarray, n: int) -> float:
    """IsoScore from the principal-axis variances (eigenvalues of the covariance), Rudman et al."""
    var = np.concatenate([np.asarray(var, dtype=np.float64), np.zeros(max(0, n - len(var)))])
    norm = np.linalg.norm(var)
    if norm == 0:
        raise OptionError("IsoScore is undefined when all points are identical (zero variance).")
    sqrt_n = np.sqrt(n)
    var_hat = var * sqrt_n / norm
    delta = np.linalg.norm(var_hat - 1.0) / np.sqrt(2.0 * (n - sqrt_n))
    phi = (n - delta**2 * (n - sqrt_n)) ** 2 / n**2
    score = (n * phi - 1.0) / (n - 1.0)
    return float(np.clip(score, 0.0, 1.0))


def isoscore(X: np.ndarray) -> float:
    """IsoScore (Rudman et al., Findings of ACL 2022, arXiv:2108.07344), in [0, 1].

    Contract, with n = d::

        var   = eigenvalues of cov(X)  (the variances after PCA rotation; zero-padded to n)
        var^  = sqrt(n) * var / |var|
        delta = |var^ - 1| / sqrt(2 (n - sqrt(n)))
        phi   = (n - delta^2 (n - sqrt(n)))^2 / n^2
        score = (n phi - 1) / (n - 1)

    1 means isotropic (all principal variances equal); ~0 means a single direction. Agrees
    with PyPI ``isoscore`` 2.0.1 ``IsoScore.IsoScore.IsoScore(points)`` (points as rows)
    to ~1e-7. Floating-point excursions outside [0, 1] are clipped.
    Raises OptionError for d < 2, N < 2, or zero variance.
    """
    X = as_matrix(X, min_rows=2)
    n, d = X.shape
    if d < 2:
        raise OptionError("IsoScore needs at least 2 dimensions.")
    s = singular_values_unchecked(X)
    return isoscore_from_variances(s**2 / (n - 1), d)


def isoscore_bootstrap(
    X: np.ndarray,
    n_boot: int = 50,
    seed: int = 0,
    alpha: float = 0.05,
    *,
    max_rows: int | None = None,
) -> tuple[float, float, float]:
    """IsoScore with a percentile bootstrap interval: ``(score, low, high)``.

    ``score = isoscore(X)``. Each of ``n_boot`` replicates resamples the rows with
    replacement (``seed``) and recomputes IsoScore; ``low``/``high`` are the ``alpha/2`` and
    ``1 - alpha/2`` percentiles of the replicates (degenerate replicates are skipped; NaN
    bounds if none is usable).

    Cost: for N >= 2d a replicate is a multinomially weighted scatter matrix (chunked, no
    resampled copy of X), O(n_boot N d^2): ~3 s for N=2000, d=384, n_boot=50. ``max_rows``
    (optional) draws only that many rows per replicate, an m-out-of-n bootstrap that costs
    O(n_boot m d^2) and a copy of m rows; its interval is that of a sample of ``max_rows``
    texts, so it is wider and lower.

    Caveat: IsoScore is biased downward when N is not much larger than d (sample
    eigenvalues spread out even for isotropic data), so ``score`` can sit near the top of
    the interval, and scores are only comparable at similar N.
    """
    X = as_matrix(X, min_rows=2)
    n, d = X.shape
    if n_boot < 1:
        raise OptionError(f"n_boot must be >= 1; got {n_boot}.")
    if not 0.0 < alpha < 1.0:
        raise OptionError(f"alpha must be in (0, 1); got {alpha}.")
    if max_rows is not None and max_rows < 2:
        raise OptionError(f"max_rows must be >= 2 or None; got {max_rows}.")
    score = isoscore(X)
    m = n if max_rows is None else min(n, int(max_rows))
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        try:
            if m == n and n >= 2 * d:
                w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
                mu = column_mean(X, w)
                var = sym_eigvals_desc(scatter_matrix(X, mu, w)) / (n - 1)
            else:
                idx = np.sort(rng.integers(0, n, size=m))
                var = singular_values_unchecked(X[idx]) ** 2 / (m - 1)
            reps.append(isoscore_from_variances(var, d))
        except OptionError:
            continue
    if not reps:
        return score, float("nan"), float("nan")
    low, high = np.percentile(reps, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return score, float(low), float(high)


def effective_rank(X_or_singular_values: np.ndarray) -> float:
    """Effective rank (Roy & Vetterli, EUSIPCO 2007).

    Contract: with s the singular values (of the centered X if a 2-D matrix is given, see
    :func:`singular_values`; used as given if a 1-D array is passed)::

        p_k = s_k / sum(s);   erank = exp(-sum_k p_k ln p_k),   0 ln 0 = 0

    1 <= erank <= rank. Scaling all s (e.g. duplicating every column, [X, X]) leaves it
    unchanged. Raises OptionError if all singular values are zero or any is negative.
    """
    arr = np.asarray(X_or_singular_values)
    if arr.ndim == 1:
        s = arr.astype(np.float64)
        if s.size == 0 or not np.isfinite(s).all():
            raise OptionError("Singular values must be a non-empty, finite 1-D array.")
        if (s < 0).any():
            raise OptionError("Singular values must be non-negative.")
    elif arr.ndim == 2:
        s = singular_values(arr)
    else:
        raise OptionError(f"effective_rank takes a 2-D matrix or 1-D singular values; got shape {arr.shape}.")
    total = s.sum()
    if total <= 0:
        raise OptionError("Effective rank is undefined when all singular values are zero (identical points).")
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))
