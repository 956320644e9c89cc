"""Geometry metrics of an embedding matrix, one number (or one row per dimension) at a time.

Every function takes ``X``: an ``N x d`` array (rows are texts, float32 or float64) and
computes in float64. Work that is linear in N is done in row chunks, so the extra memory
is O(chunk * d + d^2), not O(N * d); N up to ~1e6 is fine.

Notation: ``u_i = x_i / |x_i|`` (unit rows), ``mu`` the column mean, ``s_1 >= ... >= s_r``
the singular values of the centered matrix ``X - mu``.

References
----------
* Anisotropy: Ethayarajh 2019, "How Contextual are Contextualized Word Representations?",
  arXiv:1909.00512.
* Rogue dimensions: Timkey & van Schijndel, EMNLP 2021, "All Bark and No Bite".
* Outlier dimensions: Kovaleva et al. 2021 (arXiv:2105.06990); Hammerl et al. 2023
  (arXiv:2306.00458).
* IsoScore: Rudman et al., Findings of ACL 2022 (arXiv:2108.07344).
* Effective rank: Roy & Vetterli, EUSIPCO 2007.
* Dimensional collapse / spectra: Jing et al., ICLR 2022 (arXiv:2110.09348).

This module never imports streamlit or torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from analysis.errors import OptionError

__all__ = [
    "AnisotropyResult",
    "anisotropy",
    "pairwise_cosine_sample",
    "isoscore",
    "isoscore_bootstrap",
    "singular_values",
    "effective_rank",
    "rogue_dimensions",
    "outlier_dimensions",
    "neighbour_rank_change",
    "geometry_summary",
]

# About 4M float64 values (32 MB) per chunk.
_CHUNK_ELEMS = 1 << 22
# Rogue-dimension shares are reported only if sum CC > 0 and sum CC >= this fraction of
# sum |CC| (i.e. the negative contributions are at most a third of the positive ones).
# Real models are far above it (all-MiniLM-L6-v2 on chatterbot-english: 0.9993).
_SHARE_MIN_NET = 0.5


# --------------------------------------------------------------------------- helpers


def _chunk_rows(d: int) -> int:
    return max(1, _CHUNK_ELEMS // max(int(d), 1))


def _chunks(n: int, d: int) -> Iterator[tuple[int, int]]:
    step = _chunk_rows(d)
    for a in range(0, n, step):
        yield a, min(n, a + step)


def _as_matrix(X: np.ndarray, *, min_rows: int = 1, name: str = "X") -> np.ndarray:
    """Validate a 2-D, non-empty, finite numeric matrix; return it as an ndarray (no copy)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise OptionError(f"{name} must be a 2-D array (N texts x d dimensions); got shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise OptionError(f"{name} must hold real numbers; got dtype {X.dtype}.")
    n, d = X.shape
    if d < 1:
        raise OptionError(f"{name} has no dimensions (shape {X.shape}).")
    if n < min_rows:
        raise OptionError(f"{name} needs at least {min_rows} rows (texts); got {n}.")
    for a, b in _chunks(n, d):
        if not np.isfinite(X[a:b]).all():
            raise OptionError(f"{name} contains NaN or infinite values (first bad chunk: rows {a}..{b - 1}).")
    return X


def _f64(block: np.ndarray) -> np.ndarray:
    return np.array(block, dtype=np.float64, copy=True)


def _column_mean(X: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Column mean in float64 (weighted by non-negative ``w`` if given), chunked."""
    n, d = X.shape
    acc = np.zeros(d)
    for a, b in _chunks(n, d):
        block = X[a:b].astype(np.float64, copy=False)
        acc += block.sum(axis=0) if w is None else w[a:b] @ block
    total = float(n) if w is None else float(w.sum())
    return acc / total


def _column_variance(X: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
    """Population variance per column, chunked with float64 accumulation."""
    n, d = X.shape
    mu = _column_mean(X) if mu is None else mu
    ss = np.zeros(d)
    for a, b in _chunks(n, d):
        A = _f64(X[a:b]) - mu
        ss += np.einsum("ij,ij->j", A, A)
    return ss / n


def _scatter(X: np.ndarray, mu: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Scatter matrix sum_i w_i (x_i - mu)(x_i - mu)^T (d x d, float64), chunked.

    Uses BLAS ``dsyrk`` (one triangle: half the flops of ``A.T @ A``).
    """
    from scipy.linalg.blas import dsyrk

    n, d = X.shape
    S = np.zeros((d, d))
    for a, b in _chunks(n, d):
        A = _f64(X[a:b])
        A -= mu
        if w is not None:
            A *= np.sqrt(w[a:b])[:, None]
        # A.T is Fortran-ordered without a copy; syrk(A.T) = A.T @ A, upper triangle.
        S += dsyrk(1.0, A.T, trans=0, lower=0)
    return np.triu(S) + np.triu(S, 1).T


def _zero_rounding_noise(vals: np.ndarray) -> np.ndarray:
    """Descending eigenvalues: zero those below the rounding level of the largest one."""
    vals = vals.copy()
    # cf. numpy.linalg.matrix_rank's tolerance; zero them instead of keeping +-noise.
    if vals.size and vals[0] > 0:
        vals[vals < vals.size * np.finfo(np.float64).eps * vals[0]] = 0.0
    return np.clip(vals, 0.0, None)


def _lapack_single_thread():
    """Context: BLAS/LAPACK on one thread.

    For d x d eigenproblems and small SVDs (d <= a few thousand) multi-threaded OpenBLAS
    is slower, not faster: measured on 2 busy cores, eigvalsh of a 384 x 384 matrix took
    0.07-0.4 s with 2 threads and 0.01-0.015 s with one (CPU time too, not only wall).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _sym_eig_desc(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric PSD matrix, eigenvalues descending and clipped at 0."""
    with _lapack_single_thread():
        vals, vecs = np.linalg.eigh(S)
    return _zero_rounding_noise(vals[::-1]), vecs[:, ::-1]


def _sym_eigvals_desc(S: np.ndarray) -> np.ndarray:
    """Eigenvalues only (several times faster than with vectors), descending, clipped at 0."""
    with _lapack_single_thread():
        vals = np.linalg.eigvalsh(S)
    return _zero_rounding_noise(vals[::-1])


def _flip_signs(V: np.ndarray) -> np.ndarray:
    """Make each column's largest-|.| entry positive (deterministic sign convention)."""
    if V.size == 0:
        return V
    idx = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[idx, np.arange(V.shape[1])])
    signs[signs == 0] = 1.0
    return V * signs


def _pca_basis(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes of X.

    Returns ``(mu, lam, V)``: column mean, covariance eigenvalues with ddof=0
    (``lam_k = s_k^2 / N``, descending) and the matching unit eigenvectors as the columns of
    ``V`` (d x r, r = d if N >= d else N), signs fixed by :func:`_flip_signs`.
    Uses the d x d scatter matrix (chunked, O(N d^2)) when N >= d, else an SVD of the
    centered matrix.
    """
    n, d = X.shape
    mu = _column_mean(X)
    if n >= d:
        lam, V = _sym_eig_desc(_scatter(X, mu))
        lam = lam / n
    else:
        Xc = _f64(X) - mu
        with _lapack_single_thread():
            _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        lam, V = s**2 / n, Vt.T
    return mu, lam, _flip_signs(V)


@dataclass(frozen=True)
class _UnitSums:
    s: np.ndarray  # sum_i u_i            (d,)
    q: np.ndarray  # sum_i u_i ** 2       (d,)
    n_valid: int  # rows with non-zero norm
    n_zero: int  # rows with zero norm (excluded)


def _unit_sums(X: np.ndarray, mu: np.ndarray | None = None) -> _UnitSums:
    """Per-dimension sums of unit rows (optionally of X - mu), excluding zero-norm rows."""
    n, d = X.shape
    s = np.zeros(d)
    q = np.zeros(d)
    n_valid = 0
    for a, b in _chunks(n, d):
        A = _f64(X[a:b])
        if mu is not None:
            A -= mu
        norms = np.sqrt(np.einsum("ij,ij->i", A, A))
        ok = norms > 0
        U = A[ok] / norms[ok, None]
        s += U.sum(axis=0)
        q += np.einsum("ij,ij->j", U, U)
        n_valid += int(ok.sum())
    return _UnitSums(s=s, q=q, n_valid=n_valid, n_zero=n - n_valid)


def _valid_rows(X: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
    """Indices of rows whose norm (after subtracting mu, if given) is non-zero."""
    n, d = X.shape
    keep = np.empty(n, dtype=bool)
    for a, b in _chunks(n, d):
        A = _f64(X[a:b])
        if mu is not None:
            A -= mu
        keep[a:b] = np.einsum("ij,ij->i", A, A) > 0
    return np.flatnonzero(keep)


def _sample_pairs(n: int, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` ordered pairs (i, j), i != j, uniform with replacement over 0..n-1."""
    i = rng.integers(0, n, size=n_pairs)
    j = rng.integers(0, n - 1, size=n_pairs)
    j = j + (j >= i)
    return i, j


def _pair_cosines(X: np.ndarray, i: np.ndarray, j: np.ndarray, mu: np.ndarray | None) -> np.ndarray:
    """cos(x_i, x_j) for index arrays i, j (rows assumed non-zero), chunked over pairs."""
    d = X.shape[1]
    out = np.empty(len(i))
    step = max(1, _chunk_rows(d) // 2)
    for a in range(0, len(i), step):
        b = min(len(i), a + step)
        A = _f64(X[i[a:b]])
        B = _f64(X[j[a:b]])
        if mu is not None:
            A -= mu
            B -= mu
        num = np.einsum("ij,ij->i", A, B)
        den = np.sqrt(np.einsum("ij,ij->i", A, A) * np.einsum("ij,ij->i", B, B))
        out[a:b] = num / den
    return np.clip(out, -1.0, 1.0)


# --------------------------------------------------------------------------- anisotropy


@dataclass(frozen=True)
class AnisotropyResult:
    """Mean pairwise cosine similarity and how it was obtained.

    Attributes
    ----------
    value: mean over ordered pairs i != j of cos(x_i, x_j) among non-zero rows.
    exact: True if computed over all pairs (closed form), False if estimated from a sample.
    n_pairs: number of unordered pairs covered (exact: n(n-1)/2) or ordered pairs sampled.
    method: human-readable description, including how many zero-norm rows were excluded.
    n_excluded: number of zero-norm rows left out.
    """

    value: float
    exact: bool
    n_pairs: int
    method: str
    n_excluded: int = 0


def _anisotropy_from_sums(us: _UnitSums) -> float:
    n = us.n_valid
    # sum_{i != k} u_i . u_k = |sum u|^2 - sum_i |u_i|^2 ; use q (not n) so that the
    # per-dimension contributions of rogue_dimensions sum to this value exactly.
    return float((us.s @ us.s - us.q.sum()) / (n * (n - 1)))


def anisotropy(
    X: np.ndarray,
    *,
    max_exact: int = 10**7,
    n_pairs: int = 200_000,
    seed: int = 0,
    center: bool = False,
) -> AnisotropyResult:
    """Anisotropy: the mean cosine similarity over all ordered pairs of distinct rows.

    Contract::

        A = 1 / (n (n-1)) * sum_{i != j} cos(x_i, x_j)
          = (|sum_i u_i|^2 - n) / (n (n-1)),      u_i = x_i / |x_i|

    (Ethayarajh 2019). The identity makes the exact value O(N d) time and O(chunk d)
    memory, so it is used whenever ``n <= max_exact`` (default 1e7, i.e. practically
    always). Above that, ``n_pairs`` random ordered pairs (i != j, with replacement,
    ``seed``) are averaged instead; ``method`` says which.

    Rows with zero norm have no direction: they are excluded (``n`` counts the rest) and
    ``method``/``n_excluded`` report how many. ``center=True`` first subtracts the column
    mean (anisotropy "after centering").

    Raises OptionError if fewer than 2 non-zero rows remain.
    """
    X = _as_matrix(X)
    if max_exact < 0:
        raise OptionError(f"max_exact must be >= 0; got {max_exact}.")
    if n_pairs < 1:
        raise OptionError(f"n_pairs must be >= 1; got {n_pairs}.")
    mu = _column_mean(X) if center else None
    label = "centered " if center else ""
    n_total = X.shape[0]
    if n_total <= max_exact:
        us = _unit_sums(X, mu)
        n = us.n_valid
        if n < 2:
            raise OptionError(
                f"Anisotropy needs at least 2 {label}rows with non-zero norm; got {n} of {n_total}."
            )
        value = _anisotropy_from_sums(us)
        excl = f"; {us.n_zero} zero-norm rows excluded" if us.n_zero else ""
        method = f"exact closed form (|sum u_i|^2 - n) / (n(n-1)) over all {n} {label}rows{excl}"
        return AnisotropyResult(value, True, n * (n - 1) // 2, method, us.n_zero)
    valid = _valid_rows(X, mu)
    n = len(valid)
    if n < 2:
        raise OptionError(
            f"Anisotropy needs at least 2 {label}rows with non-zero norm; got {n} of {n_total}."
        )
    rng = np.random.default_rng(seed)
    i, j = _sample_pairs(n, n_pairs, rng)
    value = float(_pair_cosines(X, valid[i], valid[j], mu).mean())
    n_zero = n_total - n
    excl = f"; {n_zero} zero-norm rows excluded" if n_zero else ""
    method = (
        f"sampled: mean cosine of {n_pairs} random ordered pairs (seed {seed}) "
        f"among {n} {label}rows (N > max_exact={max_exact}){excl}"
    )
    return AnisotropyResult(value, False, n_pairs, method, n_zero)


def pairwise_cosine_sample(
    X: np.ndarray, n_pairs: int = 20_000, seed: int = 0, center: bool = False
) -> np.ndarray:
    """Cosine similarities of random pairs of distinct rows, for a histogram.

    If the number of unordered pairs n(n-1)/2 is at most ``n_pairs``, every pair i < j is
    returned once (the exact distribution, in row-major order). Otherwise ``n_pairs``
    ordered pairs (i != j) are drawn uniformly with replacement using ``seed``.
    ``center=True`` subtracts the column mean first (the "after centering" histogram).
    Zero-norm rows (after centering, if requested) are excluded. Values are float64 in
    [-1, 1]. Raises OptionError if fewer than 2 non-zero rows.
    """
    X = _as_matrix(X)
    if n_pairs < 1:
        raise OptionError(f"n_pairs must be >= 1; got {n_pairs}.")
    mu = _column_mean(X) if center else None
    valid = _valid_rows(X, mu)
    n = len(valid)
    if n < 2:
        raise OptionError(f"Need at least 2 rows with non-zero norm for pairwise cosines; got {n}.")
    if n * (n - 1) // 2 <= n_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        i, j = _sample_pairs(n, n_pairs, np.random.default_rng(seed))
    return _pair_cosines(X, valid[i], valid[j], mu)


# --------------------------------------------------------------------------- spectrum


def _singular_values(X: np.ndarray) -> np.ndarray:
    n, d = X.shape
    mu = _column_mean(X)
    if n >= 2 * d:
        # Gram/covariance route: eigenvalues of (X-mu)^T (X-mu) are s_k^2.
        return np.sqrt(_sym_eigvals_desc(_scatter(X, mu)))
    with _lapack_single_thread():
        return np.linalg.svd(_f64(X) - mu, compute_uv=False)


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
    X = _as_matrix(X)
    return _singular_values(X)


def _isoscore_from_variances(var: np.ndarray, n: int) -> float:
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
    X = _as_matrix(X, min_rows=2)
    n, d = X.shape
    if d < 2:
        raise OptionError("IsoScore needs at least 2 dimensions.")
    s = _singular_values(X)
    return _isoscore_from_variances(s**2 / (n - 1), d)


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
    X = _as_matrix(X, min_rows=2)
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
                mu = _column_mean(X, w)
                var = _sym_eigvals_desc(_scatter(X, mu, w)) / (n - 1)
            else:
                idx = np.sort(rng.integers(0, n, size=m))
                var = _singular_values(X[idx]) ** 2 / (m - 1)
            reps.append(_isoscore_from_variances(var, d))
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


# --------------------------------------------------------------------------- dimensions


def _rogue_contributions(us: _UnitSums) -> np.ndarray:
    n = us.n_valid
    return (us.s**2 - us.q) / (n * (n - 1))


def rogue_dimensions(X: np.ndarray, *, top_k: int | None = 10) -> pd.DataFrame:
    """Per-dimension contributions to the anisotropy (Timkey & van Schijndel, EMNLP 2021).

    Contract::

        CC_j = 1/(n(n-1)) * sum_{i != k} u_ij u_kj  = ((sum_i u_ij)^2 - sum_i u_ij^2) / (n(n-1))

    computed exactly in O(N d) (zero-norm rows excluded, as in :func:`anisotropy`), so
    ``sum_j CC_j == anisotropy(X).value`` up to rounding.

    Returns the ``top_k`` dimensions (all if None) sorted by ``contribution`` descending
    (ties by dim), columns:

    * ``dim`` (int), ``contribution`` (CC_j, may be negative),
    * ``share`` = CC_j / sum_j CC_j. Shares are NaN unless the anisotropy is positive and
      the contributions do not largely cancel (sum_j CC_j >= 0.5 * sum_j |CC_j|): for
      centered or isotropic data a "share of ~0" is meaningless (it could read -200%).
    * ``cumulative_share`` = running sum of ``share`` in that order (over all dims, so the
      first rows match the full ranking).
    """
    X = _as_matrix(X)
    us = _unit_sums(X)
    if us.n_valid < 2:
        raise OptionError(f"Rogue dimensions need at least 2 rows with non-zero norm; got {us.n_valid}.")
    cc = _rogue_contributions(us)
    return _rogue_frame(cc, top_k)


def _rogue_frame(cc: np.ndarray, top_k: int | None) -> pd.DataFrame:
    d = len(cc)
    if top_k is not None and top_k < 1:
        raise OptionError(f"top_k must be >= 1 or None; got {top_k}.")
    order = np.lexsort((np.arange(d), -cc))
    total = cc.sum()
    meaningful = total > 1e-12 and total >= _SHARE_MIN_NET * np.abs(cc).sum()
    share = cc / total if meaningful else np.full(d, np.nan)
    df = pd.DataFrame(
        {
            "dim": order.astype(np.int64),
            "contribution": cc[order],
            "share": share[order],
            "cumulative_share": np.cumsum(share[order]),
        }
    )
    if top_k is not None:
        df = df.iloc[:top_k]
    return df.reset_index(drop=True)


def _mean_abs(X: np.ndarray) -> np.ndarray:
    n, d = X.shape
    acc = np.zeros(d)
    for a, b in _chunks(n, d):
        acc += np.abs(X[a:b].astype(np.float64, copy=False)).sum(axis=0)
    return acc / n


def outlier_dimensions(X: np.ndarray, *, k_sigma: float = 3.0) -> list[int]:
    """Outlier dimensions (Kovaleva et al. 2021; Hammerl et al. 2023).

    Contract: with m_j = mean_i |x_ij|, a dimension is an outlier if
    ``m_j > mean_j(m) + k_sigma * std_j(m)`` (population std over dimensions).
    Returns the dims sorted by m_j descending (ties by index). Empty if all m_j are equal.
    """
    X = _as_matrix(X)
    if not np.isfinite(k_sigma) or k_sigma < 0:
        raise OptionError(f"k_sigma must be a finite number >= 0; got {k_sigma}.")
    m = _mean_abs(X)
    thr = m.mean() + k_sigma * m.std()
    hits = np.flatnonzero(m > thr)
    order = np.lexsort((hits, -m[hits]))
    return [int(j) for j in hits[order]]


def _unit(A: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return np.divide(A, norms, out=np.zeros_like(A), where=norms > 0)


def neighbour_rank_change(
    X: np.ndarray,
    remove_dims: Sequence[int],
    k: int = 10,
    n_queries: int = 500,
    seed: int = 0,
    *,
    measure: str = "spearman",
    n_candidates: int = 5000,
) -> float:
    """How much neighbour rankings survive removing some dimensions (e.g. the rogue ones).

    A candidate pool is all rows if N <= ``n_candidates``, else a random subset of that size;
    ``min(n_queries, pool)`` queries are drawn from the pool (``seed``). For each query the
    cosine similarities to every other pool row are computed with all dimensions and with
    ``remove_dims`` dropped (a row that becomes all-zero has similarity 0 to everything).

    * ``measure="spearman"`` (default; Timkey & van Schijndel 2021): the mean over queries
      of the Spearman correlation between the two similarity vectors (average ranks for ties;
      queries whose similarities are constant are skipped). 1 = rankings unchanged.
    * ``measure="overlap"``: the mean fraction of each query's ``k`` nearest neighbours that
      are still among its ``k`` nearest after removal.

    Returns NaN if no query gives a defined correlation.
    """
    from scipy.stats import rankdata

    X = _as_matrix(X, min_rows=3)
    n, d = X.shape
    rem = np.unique(np.asarray(list(remove_dims), dtype=np.int64))
    if rem.size and (rem.min() < 0 or rem.max() >= d):
        raise OptionError(f"remove_dims must be dimension indices in 0..{d - 1}; got {sorted(set(remove_dims))}.")
    if rem.size >= d:
        raise OptionError("remove_dims would remove every dimension; keep at least one.")
    if measure not in ("spearman", "overlap"):
        raise OptionError(f"measure must be 'spearman' or 'overlap'; got {measure!r}.")
    if n_queries < 1 or n_candidates < 3:
        raise OptionError("n_queries must be >= 1 and n_candidates >= 3.")
    rng = np.random.default_rng(seed)
    pool = np.arange(n) if n <= n_candidates else np.sort(rng.choice(n, n_candidates, replace=False))
    c = len(pool)
    if measure == "overlap" and not 1 <= k <= c - 1:
        raise OptionError(f"k must be in 1..{c - 1}; got {k}.")
    qpos = np.sort(rng.choice(c, min(n_queries, c), replace=False))
    keep = np.setdiff1d(np.arange(d), rem)
    P = _f64(X[pool])
    U_full = _unit(P)
    U_red = _unit(P[:, keep])
    not_self = np.ones((len(qpos), c), dtype=bool)
    not_self[np.arange(len(qpos)), qpos] = False
    S_full = (U_full[qpos] @ U_full.T)[not_self].reshape(len(qpos), c - 1)
    S_red = (U_red[qpos] @ U_red.T)[not_self].reshape(len(qpos), c - 1)
    if measure == "overlap":
        top_a = np.argpartition(-S_full, k - 1, axis=1)[:, :k]
        top_b = np.argpartition(-S_red, k - 1, axis=1)[:, :k]
        return float((top_a[:, :, None] == top_b[:, None, :]).any(axis=2).sum(axis=1).mean() / k)
    Ra = rankdata(S_full, axis=1)
    Rb = rankdata(S_red, axis=1)
    Ra -= Ra.mean(axis=1, keepdims=True)
    Rb -= Rb.mean(axis=1, keepdims=True)
    den = np.sqrt((Ra**2).sum(axis=1) * (Rb**2).sum(axis=1))
    ok = den > 0
    if not ok.any():
        return float("nan")
    return float(((Ra * Rb).sum(axis=1)[ok] / den[ok]).mean())


# --------------------------------------------------------------------------- summary


def geometry_summary(X: np.ndarray, *, seed: int = 0) -> dict:
    """JSON-ready geometry summary of X (plain Python floats/ints/lists/bools).

    Keys:

    * ``anisotropy`` (float), ``anisotropy_exact`` (bool): :func:`anisotropy`;
    * ``anisotropy_centered``: anisotropy of X - mu (exact);
    * ``isoscore``: :func:`isoscore`;
    * ``effective_rank`` and ``effective_rank_ratio`` (= erank / d): :func:`effective_rank`;
    * ``n_outlier_dims``: ``len(outlier_dimensions(X, k_sigma=3))``;
    * ``top_rogue_dims``: the 3 dims with the largest CC_j (:func:`rogue_dimensions`);
    * ``top3_rogue_share``: their summed share of the anisotropy (None if the anisotropy
      is ~0 so shares are undefined).

    All values are exact (closed forms, O(N d) or O(N d^2)); ``seed`` is accepted for API
    stability and currently unused. Raises OptionError for d < 2 or fewer than 2 distinct rows.
    """
    X = _as_matrix(X, min_rows=2)
    n, d = X.shape
    if d < 2:
        raise OptionError("A geometry summary needs at least 2 dimensions (IsoScore is undefined for d = 1).")
    # One pass of unit-row sums serves both the anisotropy and the rogue dimensions.
    us = _unit_sums(X)
    if us.n_valid < 2:
        raise OptionError(f"Need at least 2 rows with non-zero norm; got {us.n_valid} of {n}.")
    value = _anisotropy_from_sums(us)
    mu = _column_mean(X)
    cen = _unit_sums(X, mu)
    if cen.n_valid < 2:
        raise OptionError("All rows are identical, so the centered anisotropy is undefined.")
    s = _singular_values(X)
    iso = _isoscore_from_variances(s**2 / (n - 1), d)
    erank = effective_rank(s)
    rogue = _rogue_frame(_rogue_contributions(us), 3)
    share = float(rogue["share"].sum()) if rogue["share"].notna().all() else None
    m = _mean_abs(X)
    n_out = int((m > m.mean() + 3.0 * m.std()).sum())
    return {
        "anisotropy": float(value),
        "anisotropy_exact": True,
        "anisotropy_centered": float(_anisotropy_from_sums(cen)),
        "isoscore": float(iso),
        "effective_rank": float(erank),
        "effective_rank_ratio": float(erank / d),
        "n_outlier_dims": n_out,
        "top_rogue_dims": [int(j) for j in rogue["dim"]],
        "top3_rogue_share": share,
    }
