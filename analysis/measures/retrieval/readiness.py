"""Per-dimension readiness for storage choices: bit balance, int8 range, cosine share, harmful dimensions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.measures.geometry import cosine_contributions, shares_are_meaningful
from analysis.measures.matrix import column_variance
from analysis.measures.retrieval.checks import checked_embeddings, same_width
from analysis.measures.retrieval.metrics import chunk_ndcg
from analysis.measures.retrieval.relevance import Relevance, prepare_relevance, query_chunks, require_queries
from analysis.options import HARMFUL_GROUPINGS, HARMFUL_MODES

# harmful_dimensions, mode="auto": leave-one-out while n_dims * Q * N stays below this, else as many
# groups as fit it. 2e8 score updates take about 4 s of CPU on 2 cores, so a report on a few
# thousand pairs stays within seconds (4e8 took 8 s of the 13 s on 2,146 x 2,144 pairs).
DEFAULT_MAX_UPDATES = 200_000_000


def bit_balance(documents: np.ndarray) -> np.ndarray:
    """P(x > 0) per dimension over the documents (float64, length d); 0.5 = a maximally informative bit.

    >>> bit_balance(np.array([[1.0, -1.0], [2.0, 0.0]])).tolist()
    [1.0, 0.0]
    """
    Dm = checked_embeddings(documents, "documents", unit=False)
    return np.count_nonzero(Dm > 0, axis=0) / Dm.shape[0]


def int8_range_over_std(documents: np.ndarray) -> np.ndarray:
    """(max - min) / std per dimension over the documents (std with ddof=0; float64, length d).

    int8 spreads each dimension's [min, max] over 256 levels: a large ratio means a few
    outliers set the range and the bulk of values shares few levels. The ratio is
    scale-free, so a near-dead dimension with tiny noise is stretched just as far (check its
    std too). A constant dimension (std == 0, hence range 0) is reported as 0.0: int8 maps
    all of it to the single code -128, so it amplifies nothing.
    """
    Dm = checked_embeddings(documents, "documents", unit=False)
    spread = Dm.max(axis=0).astype(np.float64) - Dm.min(axis=0).astype(np.float64)
    std = np.sqrt(column_variance(Dm))
    return np.divide(spread, std, out=np.zeros_like(spread), where=std > 0)


@dataclass(frozen=True, eq=False)
class CosineShare:
    """Per-dimension decomposition of the mean pairwise cosine of one set of rows.

    ``contributions[j] = ((sum_i u_ij)^2 - sum_i u_ij^2) / (n(n-1))`` over the unit rows u
    sums to ``mean_cosine`` (mean over ordered pairs i != k). ``share = contributions /
    mean_cosine``, NaN (as are the headline figures) unless mean_cosine > 0 and the
    contributions do not largely cancel (mean_cosine >= 0.5 * sum |contributions|): a share
    of ~0 is meaningless. ``top_dims``: the 3 dimensions with the largest contribution (ties:
    lower index).
    """

    contributions: np.ndarray
    mean_cosine: float
    share: np.ndarray
    top1_share: float
    top3_share: float
    top_dims: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "contributions": self.contributions.tolist(),
            "mean_cosine": self.mean_cosine,
            "share": [None if np.isnan(x) else float(x) for x in self.share],
            "top1_share": None if np.isnan(self.top1_share) else self.top1_share,
            "top3_share": None if np.isnan(self.top3_share) else self.top3_share,
            "top_dims": self.top_dims.tolist(),
        }


@dataclass(frozen=True, eq=False)
class CosineShareResult:
    """``raw``: the documents as given (rows normalized); ``standardized``: each dimension divided
    by its std (a constant one set to 0), then rows normalized."""

    raw: CosineShare
    standardized: CosineShare

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw.to_dict(), "standardized": self.standardized.to_dict()}


def _cosine_share_of(X: np.ndarray) -> CosineShare:
    cc = cosine_contributions(X)
    total = float(cc.sum())
    order = np.lexsort((np.arange(len(cc)), -cc))
    meaningful = shares_are_meaningful(cc)
    share = cc / total if meaningful else np.full(len(cc), np.nan)
    top1 = float(share[order[0]]) if meaningful else float("nan")
    top3 = float(share[order[:3]].sum()) if meaningful else float("nan")
    return CosineShare(cc, total, share, top1, top3, order[:3].astype(np.int64))


def cosine_share(documents: np.ndarray) -> CosineShareResult:
    """Each dimension's share of the mean pairwise cosine, raw and standardized (needs >= 2 rows).

    For unit rows u_i the mean over pairs i != k of ``u_i . u_k`` splits exactly into
    per-dimension terms ``((sum_i u_ij)^2 - sum_i u_ij^2) / (n(n-1))``
    (:func:`analysis.measures.geometry.cosine_contributions`; rows that are all zero are left
    out). A dimension whose raw share is large (a "rogue" dimension, Timkey & van Schijndel
    2021) dominates every cosine.

    ``standardized`` divides every dimension by its std first, so each has equal spread, as
    int8's per-dimension ranges give each the same 256 levels: a near-constant dimension with
    an offset (a dead one) then becomes a rogue one. The dimensions are not centred: centring
    takes the mean cosine to about 0, where no share means anything.
    """
    Dm = checked_embeddings(documents, "documents", unit=False).astype(np.float64)
    if Dm.shape[0] < 2:
        raise OptionError("cosine_share needs at least 2 documents (it averages over pairs).")
    std = np.sqrt(column_variance(Dm))
    scaled = np.divide(Dm, std, out=np.zeros_like(Dm), where=std > 0)
    return CosineShareResult(_cosine_share_of(Dm), _cosine_share_of(scaled))


@dataclass(frozen=True, eq=False)
class HarmfulDimensions:
    """Result of :func:`harmful_dimensions`.

    ``units[i]`` (sorted dimension indices) is removed together; ``gains[i]`` = nDCG@10
    without it - ``baseline_ndcg``, and ``standard_errors[i]`` the standard error of that mean
    over queries (of the per-query differences). ``harmful``: unit indices whose gain exceeds
    both ``min_gain`` and ``z`` standard errors, largest gain first. ``updates`` = units x
    queries x documents score updates (the cost).
    """

    mode: str  # "leave-one-out" or "groups"
    grouping: str | None  # for groups: "variance" or "contiguous"
    units: tuple[np.ndarray, ...]
    gains: np.ndarray
    standard_errors: np.ndarray
    baseline_ndcg: float
    harmful: np.ndarray
    n_queries: int
    updates: int
    z: float = 2.0

    @property
    def harmful_dims(self) -> np.ndarray:
        """All dimensions in harmful units, ascending."""
        if not self.harmful.size:
            return np.zeros(0, np.int64)
        return np.sort(np.concatenate([self.units[i] for i in self.harmful]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "grouping": self.grouping,
            "units": [u.tolist() for u in self.units],
            "gains": self.gains.tolist(),
            "standard_errors": self.standard_errors.tolist(),
            "z": self.z,
            "baseline_ndcg": self.baseline_ndcg,
            "harmful": self.harmful.tolist(),
            "harmful_dims": self.harmful_dims.tolist(),
            "n_queries": self.n_queries,
            "updates": self.updates,
        }


def _units(
    documents: np.ndarray, mode: str, grouping: str, n_groups: int | None, pairs: int, max_updates: int
) -> tuple[str, str | None, tuple[np.ndarray, ...]]:
    d = documents.shape[1]
    if mode == "auto":
        mode = "leave-one-out" if d * pairs <= max_updates else "groups"
    if mode == "leave-one-out":
        return mode, None, tuple(np.array([j], dtype=np.int64) for j in range(d))
    if n_groups is None:
        n_groups = int(min(d, max(8, max_updates // max(pairs, 1))))
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or not 2 <= n_groups <= d:
        raise OptionError(f"n_groups must be an integer between 2 and d={d}; got {n_groups!r}.")
    if grouping == "variance":
        order = np.lexsort((np.arange(d), -column_variance(documents)))
    else:
        order = np.arange(d)
    return mode, grouping, tuple(np.sort(g).astype(np.int64) for g in np.array_split(order, int(n_groups)))


def harmful_dimensions(
    queries: np.ndarray,
    documents: np.ndarray,
    relevance: Relevance,
    *,
    mode: str = "auto",
    max_updates: int = DEFAULT_MAX_UPDATES,
    n_groups: int | None = None,
    grouping: str = "variance",
    min_gain: float = 0.0,
    z: float = 2.0,
) -> HarmfulDimensions:
    """Dimensions whose removal raises nDCG@10 (cosine, rows re-normalized after removal).

    A unit counts as harmful when its gain is above ``min_gain`` and above ``z`` standard
    errors of the per-query nDCG@10 differences: removing any one of 384 dimensions moves
    nDCG@10 by a few thousandths either way on a thousand queries, and ``z = 2`` keeps that
    noise out (``z = 0``: every positive gain).

    ``mode``: "leave-one-out" (each dimension alone), "groups" (``n_groups`` groups removed
    one group at a time) or "auto": leave-one-out when d x Q x N <= ``max_updates``
    (384 x 720 x 720 fits the default), else as many groups as fit the cap
    (at least 8, at most d). ``grouping``: "variance" = dimensions ordered by document
    variance (descending, ties lower index) and cut into consecutive groups, so low-variance
    dimensions are judged together; "contiguous" = index ranges (natural for Matryoshka).

    No matrix product is recomputed per unit: with the numerator ``q . d`` of every pair
    kept once per query chunk, removing the set G gives ``(q.d - q_G . d_G) /
    sqrt(|d|^2 - |d_G|^2)`` (the query's own norm is the same for all its documents and
    cannot change its ranking). So each unit costs one rank-|G| update of the chunk plus
    the top-10 search. All in float64. A document left with (relatively) no norm scores 0.
    """
    Qm = checked_embeddings(queries, "queries")
    Dm = checked_embeddings(documents, "documents")
    same_width(Qm, Dm)
    n = Dm.shape[0]
    prep = require_queries(prepare_relevance(relevance, Qm.shape[0], n))
    if mode not in HARMFUL_MODES:
        raise OptionError(f"mode must be one of {', '.join(HARMFUL_MODES)}; got {mode!r}.")
    if grouping not in HARMFUL_GROUPINGS:
        raise OptionError(f"grouping must be one of {', '.join(HARMFUL_GROUPINGS)}; got {grouping!r}.")
    if not (isinstance(z, (int, float)) and math.isfinite(z) and z >= 0):
        raise OptionError(f"z must be a finite number >= 0 (standard errors a gain must exceed); got {z!r}.")
    pairs = int(prep.keep.size) * n
    mode, used_grouping, units = _units(Dm, mode, grouping, n_groups, pairs, max_updates)

    Q64 = Qm[prep.keep].astype(np.float64)
    D64 = Dm.astype(np.float64)
    dn2 = np.einsum("ij,ij->i", D64, D64)

    def inverse_norm(removed_sq: np.ndarray) -> np.ndarray:
        rest = dn2 - removed_sq
        # Guard cancellation: a document with (almost) all its mass in the removed dims is a zero row.
        return np.divide(1.0, np.sqrt(np.maximum(rest, 0.0)), out=np.zeros_like(rest), where=rest > 1e-12 * dn2)

    inv_full = inverse_norm(np.zeros(n))
    sums = np.zeros(len(units))
    squares = np.zeros(len(units))
    base_sum = 0.0
    for a, b in query_chunks(prep.keep.size, n):
        num = Q64[a:b] @ D64.T
        buf = num * inv_full
        base = chunk_ndcg(buf, prep, a, b)
        base_sum += float(base.sum())
        for u, G in enumerate(units):
            if G.size == 1:
                j = int(G[0])
                np.multiply.outer(Q64[a:b, j], D64[:, j], out=buf)
                removed_sq = D64[:, j] ** 2
            else:
                np.matmul(Q64[a:b][:, G], D64[:, G].T, out=buf)
                removed_sq = np.einsum("ij,ij->i", D64[:, G], D64[:, G])
            np.subtract(num, buf, out=buf)
            buf *= inverse_norm(removed_sq)
            diff = chunk_ndcg(buf, prep, a, b) - base
            sums[u] += float(diff.sum())
            squares[u] += float((diff**2).sum())
    n_q = int(prep.keep.size)
    gains = sums / n_q
    variance = np.maximum(squares - n_q * gains**2, 0.0) / max(n_q - 1, 1)
    standard_errors = np.sqrt(variance / n_q)
    harmful = np.flatnonzero((gains > min_gain) & (gains > z * standard_errors))
    harmful = harmful[np.lexsort((harmful, -gains[harmful]))]
    return HarmfulDimensions(
        mode,
        used_grouping,
        units,
        gains,
        standard_errors,
        base_sum / n_q,
        harmful.astype(np.int64),
        n_q,
        len(units) * pairs,
        float(z),
    )
