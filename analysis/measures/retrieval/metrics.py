"""Rankings and retrieval metrics: the reference versions from full rankings, and the fast ones from scores.

Equal scores rank the lower document index first. With ``rel_p`` = 1 when the document at
position p is relevant and ``R`` the query's relevant set:

* ``recall@k = |R ∩ top-k| / |R|`` (hit@k when each query has one relevant document);
* ``MRR``: mean of 1 / (position of the first relevant document in the *full* ranking);
* ``nDCG@10 = sum_{p<=10} rel_p / log2(p+1)`` over the ideal DCG of ``min(|R|, 10)``
  relevant documents on top (binary gains), as ``sklearn.metrics.ndcg_score(k=10)`` when no
  scores tie (sklearn averages over tied groups instead of breaking ties).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.measures.retrieval.checks import positive_int
from analysis.measures.retrieval.relevance import (
    PreparedRelevance,
    Relevance,
    prepare_relevance,
    query_chunks,
    require_queries,
)

TOP = 10
DISCOUNT = 1.0 / np.log2(np.arange(2, TOP + 2, dtype=np.float64))
IDEAL = np.cumsum(DISCOUNT)
METRIC_NAMES = ("recall_at_1", "recall_at_10", "mrr", "ndcg_at_10")

# A scorer returns the scores of kept queries a:b against every document.
Scorer = Callable[[int, int], np.ndarray]


# --------------------------------------------------------------------------- rankings


def _descending_key(scores: np.ndarray) -> np.ndarray:
    # Ascending order of this key is descending order of the scores. For integers ~x is an
    # order-reversing bijection that cannot overflow (-x overflows at INT_MIN and for unsigned).
    if scores.dtype == bool or np.issubdtype(scores.dtype, np.integer):
        return ~scores
    return -scores


def _score_matrix(scores: Any, name: str = "scores") -> np.ndarray:
    S = np.asarray(scores)
    if S.ndim != 2:
        raise OptionError(f"{name} must be a 2-D array (queries x documents); got shape {S.shape}.")
    if not (S.dtype == bool or np.issubdtype(S.dtype, np.integer) or np.issubdtype(S.dtype, np.floating)):
        raise OptionError(f"{name} must hold real numbers; got dtype {S.dtype}.")
    if np.issubdtype(S.dtype, np.floating) and not np.all(np.isfinite(S)):
        raise OptionError(f"{name} contains NaN or infinite values; remove them before ranking.")
    return S


def rank_documents(scores: np.ndarray) -> np.ndarray:
    """Full ranking per query: row i lists all document indices by descending ``scores[i]``.

    Equal scores rank the lower document index first (stable sort on a dtype-safe negation),
    so the result is exactly reproducible for float and integer scores. Returns int64 (Q x N).

    >>> rank_documents(np.array([[0.2, 0.9, 0.2], [1, 1, 3]])).tolist()
    [[1, 0, 2], [2, 0, 1]]
    """
    S = _score_matrix(scores)
    return np.argsort(_descending_key(S), axis=1, kind="stable").astype(np.int64, copy=False)


def _ranked_relevance(
    rankings: np.ndarray, relevance: Relevance
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per chunk of kept queries: relevance along the ranking, 1-based positions (the query's own
    document skipped) and the number of relevant documents."""
    R = np.asarray(rankings)
    if R.ndim != 2 or not np.issubdtype(R.dtype, np.integer):
        raise OptionError(f"rankings must be a 2-D integer array (queries x documents); got {R.dtype} {R.shape}.")
    n_q, n = R.shape
    if R.size and (R.min() < 0 or R.max() >= n):
        raise OptionError(f"rankings must hold document indices 0..{n - 1} (a full ranking per row).")
    prep = require_queries(prepare_relevance(relevance, n_q, n))
    R = R[prep.keep]
    for a, b in query_chunks(R.shape[0], n):
        rows = np.arange(b - a)[:, None]
        ranked = R[a:b]
        rel = prep.mask(a, b)[rows, ranked]
        pos = np.cumsum(ranked != prep.excl[a:b, None], axis=1)
        yield rel, pos, prep.n_rel[a:b]


def recall_at_k(rankings: np.ndarray, relevance: Relevance, k: int) -> float:
    """Mean over queries of ``|relevant ∩ top-k| / |relevant|`` from full rankings (e.g. :func:`rank_documents`).

    With a single relevant document per query this is hit@k. The query's own document
    (``query_doc_index``) is skipped; queries without a relevant document are excluded.
    """
    k = positive_int(k, "k")
    total, count = 0.0, 0
    for rel, pos, n_rel in _ranked_relevance(rankings, relevance):
        total += float(((rel & (pos <= k)).sum(axis=1) / n_rel).sum())
        count += len(n_rel)
    return total / count


def mrr(rankings: np.ndarray, relevance: Relevance) -> float:
    """Mean reciprocal rank of the first relevant document in the full ranking (own document skipped)."""
    total, count = 0.0, 0
    for rel, pos, n_rel in _ranked_relevance(rankings, relevance):
        first = np.argmax(rel, axis=1)
        total += float((1.0 / pos[np.arange(len(first)), first]).sum())
        count += len(n_rel)
    return total / count


def ndcg_at_10(rankings: np.ndarray, relevance: Relevance) -> float:
    """Mean nDCG@10 with binary gains and log2 discount; the ideal DCG uses every relevant document.

    Equals ``sklearn.metrics.ndcg_score(y_true, y_score, k=10)`` on the same queries when no
    scores tie (the own document removed from its query's row).
    """
    total, count = 0.0, 0
    for rel, pos, n_rel in _ranked_relevance(rankings, relevance):
        top = rel & (pos <= TOP)
        # pos is 0 only before any counted document (the own one ranked first): never a gain
        gains = np.where(top, 1.0 / np.log2(np.maximum(pos, 1) + 1.0), 0.0).sum(axis=1)
        total += float((gains / IDEAL[np.minimum(n_rel, TOP) - 1]).sum())
        count += len(n_rel)
    return total / count


# --------------------------------------------------------------------------- fast metrics from scores


def _rank_of(S: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """1-based position of document idx[i] in row i's ranking (ties: lower index first)."""
    rows = np.arange(S.shape[0])
    s = S[rows, idx][:, None]
    rank = 1 + np.count_nonzero(S > s, axis=1)
    ties = np.count_nonzero(S == s, axis=1) - 1
    tied = np.flatnonzero(ties > 0)
    if tied.size:  # rare for float scores, common for integer ones
        cols = np.arange(S.shape[1])[None, :]
        rank[tied] += np.count_nonzero((S[tied] == s[tied]) & (cols < idx[tied, None]), axis=1)
    return rank


def _top_k(S: np.ndarray, k: int) -> np.ndarray:
    """Row-wise top k document indices in ranking order (ties: lower index first), without a full sort.

    The k-th largest of B block maxima is a lower bound L of each row's k-th largest score
    (k distinct elements are >= L), so only the few candidates >= L need an exact sort.
    """
    c, n = S.shape
    blocks = min(64, n)
    starts = (np.arange(blocks) * n) // blocks
    bound = np.partition(np.maximum.reduceat(S, starts, axis=1), blocks - k, axis=1)[:, blocks - k]
    flat = np.flatnonzero(S >= bound[:, None])  # ~10x faster than 2-D np.nonzero
    r = flat // n
    col = flat - r * n
    order = np.lexsort((col, -S[r, col], r))
    r, col = r[order], col[order]
    counts = np.bincount(r, minlength=c)
    pos = np.arange(r.size) - (np.cumsum(counts) - counts)[r]
    return col[pos < k].reshape(c, k)


def chunk_metrics(S: np.ndarray, prep: PreparedRelevance, a: int, b: int) -> tuple[np.ndarray, ...]:
    """Per-query (recall@1, recall@10, reciprocal rank, nDCG@10) for kept queries a:b.

    ``S`` (float, one row per query) is modified: the query's own document gets -inf.
    """
    rows = np.arange(b - a)
    _exclude_own(S, prep, a, b)
    if prep.single is not None:
        rank = _rank_of(S, prep.single[a:b])
        ndcg = np.where(rank <= TOP, 1.0 / np.log2(rank + 1.0), 0.0)
        return (rank == 1).astype(np.float64), (rank <= TOP).astype(np.float64), 1.0 / rank, ndcg
    k = min(TOP, S.shape[1])
    mask = prep.mask(a, b)
    rel_top = mask[rows[:, None], _top_k(S, k)]
    n_rel = prep.n_rel[a:b]
    ndcg = (rel_top @ DISCOUNT[:k]) / IDEAL[np.minimum(n_rel, TOP) - 1]
    best = np.argmax(np.where(mask, S, -np.inf), axis=1)  # first relevant: highest score, lowest index
    rank = _rank_of(S, best)
    return rel_top[:, 0] / n_rel, rel_top.sum(axis=1) / n_rel, 1.0 / rank, ndcg


def chunk_ndcg(S: np.ndarray, prep: PreparedRelevance, a: int, b: int) -> np.ndarray:
    """Per-query nDCG@10 of kept queries a:b (``S`` is modified as in :func:`chunk_metrics`)."""
    _exclude_own(S, prep, a, b)
    if prep.single is not None:
        rank = _rank_of(S, prep.single[a:b])
        return np.where(rank <= TOP, 1.0 / np.log2(rank + 1.0), 0.0)
    k = min(TOP, S.shape[1])
    rel_top = prep.mask(a, b)[np.arange(b - a)[:, None], _top_k(S, k)]
    return (rel_top @ DISCOUNT[:k]) / IDEAL[np.minimum(prep.n_rel[a:b], TOP) - 1]


def _exclude_own(S: np.ndarray, prep: PreparedRelevance, a: int, b: int) -> None:
    ex = prep.excl[a:b]
    has = ex >= 0
    if has.any():
        S[np.flatnonzero(has), ex[has]] = -np.inf


@dataclass(frozen=True)
class RetrievalMetrics:
    """Means over the queries that have at least one relevant document."""

    recall_at_1: float
    recall_at_10: float
    mrr: float
    ndcg_at_10: float
    n_queries: int
    n_queries_without_relevant: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_scorer(scorer: Scorer, prep: PreparedRelevance) -> RetrievalMetrics:
    """Metrics of the scores ``scorer(a, b)`` (kept queries a:b x all documents), chunk by chunk."""
    sums = np.zeros(4)
    for a, b in query_chunks(prep.keep.size, prep.n_docs):
        S = scorer(a, b)
        if not np.issubdtype(S.dtype, np.floating):
            S = S.astype(np.float64)
        for i, v in enumerate(chunk_metrics(S, prep, a, b)):
            sums[i] += float(v.sum())
    m = sums / prep.keep.size
    return RetrievalMetrics(float(m[0]), float(m[1]), float(m[2]), float(m[3]), int(prep.keep.size), prep.n_skipped)


def score_metrics(scores: np.ndarray, relevance: Relevance) -> RetrievalMetrics:
    """recall@1, recall@10, MRR and nDCG@10 of a Q x N score matrix, without sorting whole rows.

    Same definitions and tie rule as :func:`rank_documents` + :func:`recall_at_k`,
    :func:`mrr`, :func:`ndcg_at_10`. Integer scores are compared as float64 (exact below 2^53).

    >>> m = score_metrics(np.array([[0.5, 0.1, 0.9], [0.3, 0.2, 0.3]]), Relevance.pairs([2, 2]))  # a tie in row 2
    >>> m.recall_at_1, m.mrr
    (0.5, 0.75)
    """
    S = _score_matrix(scores)
    prep = require_queries(prepare_relevance(relevance, S.shape[0], S.shape[1]))
    dtype = S.dtype if S.dtype in (np.float32, np.float64) else np.float64
    return evaluate_scorer(lambda a, b: S[prep.keep[a:b]].astype(dtype, copy=True), prep)
