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

The spectrum (singular values, IsoScore, effective rank) is in :mod:`analysis.measures.spectrum`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from analysis.errors import OptionError
from analysis.measures.matrix import as_float64, as_matrix, chunk_rows, column_mean, row_chunks
from analysis.measures.spectrum import effective_rank, isoscore_from_variances, singular_values_unchecked

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; only the rogue-dimension table needs it
    import pandas as pd

__all__ = [
    "AnisotropyResult",
    "anisotropy",
    "pairwise_cosine_sample",
    "rogue_dimensions",
    "cosine_contributions",
    "shares_are_meaningful",
    "outlier_dimensions",
    "neighbour_rank_change",
    "geometry_summary",
]

# Rogue-dimension shares are reported only if sum CC > 0 and sum CC >= this fraction of
# sum |CC| (i.e. the negative contributions are at most a third of the positive ones).
# Real models are far above it (all-MiniLM-L6-v2 on chatterbot-english: 0.9993).
_SHARE_MIN_NET = 0.5


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
    for a, b in row_chunks(n, d):
        A = as_float64(X[a:b])
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
    for a, b in row_chunks(n, d):
        A = as_float64(X[a:b])
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
    step = max(1, chunk_rows(d) // 2)
    for a in range(0, len(i), step):
        b = min(len(i), a + step)
        A = as_float64(X[i[a:b]])
        B = as_float64(X[j[a:b]])
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
    X = as_matrix(X)
    if max_exact < 0:
        raise OptionError(f"max_exact must be >= 0; got {max_exact}.")
    if n_pairs < 1:
        raise OptionError(f"n_pairs must be >= 1; got {n_pairs}.")
    mu = column_mean(X) if center else None
    label = "centered " if center else ""
    n_total = X.shape[0]
    if n_total <= max_exact:
        us = _unit_sums(X, mu)
        n = us.n_valid
        if n < 2:
            raise OptionError(f"Anisotropy needs at least 2 {label}rows with non-zero norm; got {n} of {n_total}.")
        value = _anisotropy_from_sums(us)
        excl = f"; {us.n_zero} zero-norm rows excluded" if us.n_zero else ""
        method = f"exact closed form (|sum u_i|^2 - n) / (n(n-1)) over all {n} {label}rows{excl}"
        return AnisotropyResult(value, True, n * (n - 1) // 2, method, us.n_zero)
    valid = _valid_rows(X, mu)
    n = len(valid)
    if n < 2:
        raise OptionError(f"Anisotropy needs at least 2 {label}rows with non-zero norm; got {n} of {n_total}.")
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


def pairwise_cosine_sample(X: np.ndarray, n_pairs: int = 20_000, seed: int = 0, center: bool = False) -> np.ndarray:
    """Cosine similarities of random pairs of distinct rows, for a histogram.

    If the number of unordered pairs n(n-1)/2 is at most ``n_pairs``, every pair i < j is
    returned once (the exact distribution, in row-major order). Otherwise ``n_pairs``
    ordered pairs (i != j) are drawn uniformly with replacement using ``seed``.
    ``center=True`` subtracts the column mean first (the "after centering" histogram).
    Zero-norm rows (after centering, if requested) are excluded. Values are float64 in
    [-1, 1]. Raises OptionError if fewer than 2 non-zero rows.
    """
    X = as_matrix(X)
    if n_pairs < 1:
        raise OptionError(f"n_pairs must be >= 1; got {n_pairs}.")
    mu = column_mean(X) if center else None
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


# --------------------------------------------------------------------------- dimensions


def _rogue_contributions(us: _UnitSums) -> np.ndarray:
    n = us.n_valid
    return (us.s**2 - us.q) / (n * (n - 1))


def cosine_contributions(X: np.ndarray) -> np.ndarray:
    """Each dimension's contribution ``CC_j`` to the mean pairwise cosine (see :func:`rogue_dimensions`).

    ``sum_j CC_j == anisotropy(X).value``; zero-norm rows are excluded. Needs 2 non-zero rows.
    """
    X = as_matrix(X)
    us = _unit_sums(X)
    if us.n_valid < 2:
        raise OptionError(f"Cosine contributions need at least 2 rows with non-zero norm; got {us.n_valid}.")
    return _rogue_contributions(us)


def shares_are_meaningful(cc: np.ndarray) -> bool:
    """Whether shares ``CC_j / sum CC`` mean anything: a positive total the contributions do not largely cancel."""
    total = float(np.sum(cc))
    return total > 1e-12 and total >= _SHARE_MIN_NET * float(np.abs(cc).sum())


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
    return _rogue_frame(cosine_contributions(X), top_k)


def _rogue_frame(cc: np.ndarray, top_k: int | None) -> pd.DataFrame:
    import pandas as pd

    d = len(cc)
    if top_k is not None and top_k < 1:
        raise OptionError(f"top_k must be >= 1 or None; got {top_k}.")
    order = np.lexsort((np.arange(d), -cc))
    share = cc / cc.sum() if shares_are_meaningful(cc) else np.full(d, np.nan)
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
    for a, b in row_chunks(n, d):
        acc += np.abs(X[a:b].astype(np.float64, copy=False)).sum(axis=0)
    return acc / n


def outlier_dimensions(X: np.ndarray, *, k_sigma: float = 3.0) -> list[int]:
    """Outlier dimensions (Kovaleva et al. 2021; Hammerl et al. 2023).

    Contract: with m_j = mean_i |x_ij|, a dimension is an outlier if
    ``m_j > mean_j(m) + k_sigma * std_j(m)`` (population std over dimensions).
    Returns the dims sorted by m_j descending (ties by index). Empty if all m_j are equal.
    """
    X = as_matrix(X)
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

    X = as_matrix(X, min_rows=3)
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
    P = as_float64(X[pool])
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
    X = as_matrix(X, min_rows=2)
    n, d = X.shape
    if d < 2:
        raise OptionError("A geometry summary needs at least 2 dimensions (IsoScore is undefined for d = 1).")
    # One pass of unit-row sums serves both the anisotropy and the rogue dimensions.
    us = _unit_sums(X)
    if us.n_valid < 2:
        raise OptionError(f"Need at least 2 rows with non-zero norm; got {us.n_valid} of {n}.")
    value = _anisotropy_from_sums(us)
    mu = column_mean(X)
    cen = _unit_sums(X, mu)
    if cen.n_valid < 2:
        raise OptionError("All rows are identical, so the centered anisotropy is undefined.")
    s = singular_values_unchecked(X)
    iso = isoscore_from_variances(s**2 / (n - 1), d)
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
