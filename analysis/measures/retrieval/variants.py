"""Every storage variant scored on one retrieval task: kept dimensions, int8 and sign bits, with their bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.measures.matrix import column_mean, column_variance, scatter_matrix, sym_eig_desc
from analysis.measures.retrieval.checks import checked_embeddings, int_vector, positive_int, same_width, unit_rows
from analysis.measures.retrieval.codes import (
    RESCORE_CANDIDATES,
    HammingScorer,
    RescoreScorer,
    binary_codes,
    int8_codes,
    int8_operands,
)
from analysis.measures.retrieval.metrics import METRIC_NAMES, RetrievalMetrics, evaluate_scorer
from analysis.measures.retrieval.relevance import Relevance, prepare_relevance, require_queries

DEFAULT_KS: tuple[int, ...] = (8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class VariantScore:
    """Retrieval quality and storage cost of one variant; random-k holds means with ``*_std`` over draws.

    ``dims``: dimensions (or bits) each stored vector keeps; ``d``: the model's width;
    ``retention`` = nDCG@10 / float32 nDCG@10 (None when float32 scores 0).
    """

    name: str
    family: str
    k: int | None
    d: int
    dims: int
    bytes_per_vector: int
    recall_at_1: float
    recall_at_10: float
    mrr: float
    ndcg_at_10: float
    retention: float | None
    n_queries: int
    n_queries_without_relevant: int
    n_draws: int | None = None
    recall_at_1_std: float | None = None
    recall_at_10_std: float | None = None
    mrr_std: float | None = None
    ndcg_at_10_std: float | None = None
    retention_std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ladder(d: int, ks: Sequence[int] | None = None) -> list[int]:
    """Kept-dimension counts to try: ``ks`` (default 8, 16, 32, 64, 128, 256) plus d, only k <= d, sorted.

    >>> ladder(384)
    [8, 16, 32, 64, 128, 256, 384]
    """
    if ks is None:
        return sorted({k for k in DEFAULT_KS if k <= d} | {int(d)})
    out = set()
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
            raise OptionError(f"Every k must be an integer between 1 and d={d}; got {k!r}.")
        out.add(int(k))
    if not out:
        raise OptionError("ks is empty; pass at least one number of dimensions to keep, or None for the default.")
    return sorted(out)


def checked_dead_dims(dead_dims: Sequence[int] | np.ndarray, d: int) -> np.ndarray:
    """Sorted unique dimension indices below d, leaving at least one dimension alive."""
    arr = np.asarray(dead_dims).reshape(-1)
    dead = np.unique(int_vector(arr, "dead_dims")) if arr.size else np.zeros(0, np.int64)
    if dead.size and (dead[0] < 0 or dead[-1] >= d):
        raise OptionError(f"dead_dims must be dimension indices in 0..{d - 1}.")
    if dead.size >= d:
        raise OptionError(f"dead_dims lists all {d} dimensions; nothing would be left to score.")
    return dead


def variance_order(documents: np.ndarray) -> np.ndarray:
    """Dimensions by document variance, largest first (ties: lower index)."""
    variance = column_variance(documents)
    return np.lexsort((np.arange(len(variance)), -variance))


def pca_axes(documents: np.ndarray) -> np.ndarray:
    """All d principal axes of the documents (columns, by explained variance descending), fitted on
    mean-centred documents as sklearn's PCA fits them."""
    _, axes = sym_eig_desc(scatter_matrix(documents, column_mean(documents)))
    return axes


def evaluate_variants(
    queries: np.ndarray,
    documents: np.ndarray,
    relevance: Relevance,
    *,
    dead_dims: Sequence[int] | np.ndarray,
    ks: Sequence[int] | None = None,
    n_draws: int = 5,
    seed: int = 0,
) -> list[VariantScore]:
    """Score every storage variant on the same retrieval task; bytes are per document vector.

    Variants, in this order (k from :func:`ladder`; every k-variant re-normalizes its rows,
    and a row left all zero scores 0 with every document):

    * ``float32``: cosine of the given unit vectors; 4d bytes.
    * ``drop-dead``: ``dead_dims`` removed, rows re-normalized; 4(d - n_dead). Dimensions that
      are constant over queries and documents change every score of a query by one affine
      map (same shift, same norm), so the ranking is unchanged: retention 1 up to rounding.
    * ``top-variance-k``: the k dimensions with the largest document variance (ties: lower
      index); 4k.
    * ``prefix-k``: the first k dimensions (Matryoshka truncation); 4k.
    * ``pca-k``: both sides projected on the top-k principal axes of the documents; 4k.
      The axes are fitted as sklearn ``PCA`` does (on mean-centered documents), but vectors
      are projected *without* subtracting the mean, like a PCA ``Dense`` layer without bias
      appended to a sentence-transformers model (and as ``analysis.selection`` does). Why:
      the projection is then a pure rotation followed by truncation, so ``pca-d`` equals
      ``float32`` and every loss at k < d is the cost of dropped axes alone; subtracting the
      document mean would also change the similarity itself (every score moves by
      ``-mean . doc``), mixing a re-centering effect into the figure.
    * ``random-k``: means (and ``*_std``, ddof=1) over ``n_draws`` uniform draws of k
      dimensions from ``np.random.default_rng(seed)``; 4k.
    * ``int8``: :func:`int8_codes` calibrated on the documents for both sides, scored by the
      exact integer dot product of the codes; d bytes.
    * ``binary``: sign bits (x > 0), scored by Hamming similarity = d - Hamming distance
      (packed bits, popcount); ceil(d/8) bytes.
    * ``binary-rescore``: the top 40 by Hamming (ties: lower index) re-ranked by the float32
      query dotted with the document bits as +-1 (ties: lower index); the remaining documents
      keep their Hamming order after them (this matters for MRR); ceil(d/8) bytes (the float
      query is not stored).
    * ``binary-drop-dead``: ``binary`` without the dead dimensions; ceil((d - n_dead)/8).

    Raises OptionError for non-unit rows, mismatched widths, bad relevance or options.
    """
    Qm = checked_embeddings(queries, "queries")
    Dm = checked_embeddings(documents, "documents")
    same_width(Qm, Dm)
    d = Dm.shape[1]
    prep = require_queries(prepare_relevance(relevance, Qm.shape[0], Dm.shape[0]))
    n_draws = positive_int(n_draws, "n_draws")
    k_list = ladder(d, ks)
    dead = checked_dead_dims(dead_dims, d)
    alive = np.setdiff1d(np.arange(d), dead)
    Qk = Qm[prep.keep]

    def floats(qv: np.ndarray, dv: np.ndarray) -> RetrievalMetrics:
        return evaluate_scorer(lambda a, b: qv[a:b] @ dv.T, prep)

    # Column subsets are evaluated once: prefix-d, top-variance-d and random-d are the same set.
    by_subset: dict[bytes, RetrievalMetrics] = {}

    def subset(cols: np.ndarray) -> RetrievalMetrics:
        cols = np.sort(cols)
        key = cols.tobytes()
        if key not in by_subset:
            by_subset[key] = floats(unit_rows(Qk[:, cols]), unit_rows(Dm[:, cols]))
        return by_subset[key]

    results: list[VariantScore] = []
    reference = floats(Qk, Dm)

    def add(name: str, family: str, k: int | None, dims: int, nbytes: int, m: RetrievalMetrics) -> None:
        results.append(
            VariantScore(
                name,
                family,
                k,
                d,
                dims,
                nbytes,
                m.recall_at_1,
                m.recall_at_10,
                m.mrr,
                m.ndcg_at_10,
                _retention(m.ndcg_at_10, reference.ndcg_at_10),
                m.n_queries,
                m.n_queries_without_relevant,
            )
        )

    add("float32", "float32", None, d, 4 * d, reference)
    add("drop-dead", "drop-dead", None, alive.size, 4 * alive.size, subset(alive))
    by_variance = variance_order(Dm)
    for k in k_list:
        add(f"top-variance-{k}", "top-variance", k, k, 4 * k, subset(by_variance[:k]))
    for k in k_list:
        add(f"prefix-{k}", "prefix", k, k, 4 * k, subset(np.arange(k)))
    axes = pca_axes(Dm)
    Qp = (Qk.astype(np.float64) @ axes).astype(np.float32)
    Dp = (Dm.astype(np.float64) @ axes).astype(np.float32)
    for k in k_list:
        add(f"pca-{k}", "pca", k, k, 4 * k, floats(unit_rows(Qp[:, :k]), unit_rows(Dp[:, :k])))
    rng = np.random.default_rng(seed)
    for k in k_list:
        draws = [subset(rng.choice(d, size=k, replace=False)) for _ in range(n_draws)]
        results.append(_random_summary(k, d, draws, reference.ndcg_at_10))

    qi, di = int8_operands(int8_codes(Qk, Dm)), int8_operands(int8_codes(Dm, Dm))
    add("int8", "int8", None, d, d, evaluate_scorer(lambda a, b: qi[a:b] @ di.T, prep))
    nbin = -(-d // 8)
    binary = HammingScorer(binary_codes(Qk), binary_codes(Dm), d)
    add("binary", "binary", None, d, nbin, evaluate_scorer(binary, prep))
    rescore = RescoreScorer(Qk, Dm, prep.excl, RESCORE_CANDIDATES)
    add("binary-rescore", "binary-rescore", None, d, nbin, evaluate_scorer(rescore, prep))
    binary_alive = HammingScorer(binary_codes(Qk[:, alive]), binary_codes(Dm[:, alive]), alive.size)
    add(
        "binary-drop-dead",
        "binary-drop-dead",
        None,
        alive.size,
        -(-alive.size // 8),
        evaluate_scorer(binary_alive, prep),
    )
    return results


def _retention(value: float, reference: float) -> float | None:
    return value / reference if reference > 0 else None


def _random_summary(k: int, d: int, draws: list[RetrievalMetrics], reference: float) -> VariantScore:
    table = np.array([[getattr(m, name) for name in METRIC_NAMES] for m in draws])
    mean = [float(x) for x in table.mean(axis=0)]
    std = [float(x) for x in (table.std(axis=0, ddof=1) if len(draws) > 1 else np.zeros(len(METRIC_NAMES)))]
    first = draws[0]
    return VariantScore(
        name=f"random-{k}",
        family="random",
        k=k,
        d=d,
        dims=k,
        bytes_per_vector=4 * k,
        recall_at_1=mean[0],
        recall_at_10=mean[1],
        mrr=mean[2],
        ndcg_at_10=mean[3],
        retention=_retention(mean[3], reference),
        n_queries=first.n_queries,
        n_queries_without_relevant=first.n_queries_without_relevant,
        n_draws=len(draws),
        recall_at_1_std=std[0],
        recall_at_10_std=std[1],
        mrr_std=std[2],
        ndcg_at_10_std=std[3],
        retention_std=None if reference <= 0 else std[3] / reference,
    )


def kept_dimensions(documents: np.ndarray, keep: str, dead_dims: Sequence[int] | np.ndarray) -> np.ndarray:
    """The dimensions a variant stores, ascending: ``"all"``, ``"drop-dead"``, ``"prefix-K"`` or
    ``"top-variance-K"`` (the K largest document variances, as :func:`evaluate_variants` picks them).

    >>> kept_dimensions(np.eye(4)[[0, 0, 1, 2]], "top-variance-2", []).tolist()
    [0, 1]
    """
    Dm = checked_embeddings(documents, "documents", unit=False)
    d = Dm.shape[1]
    if keep == "all":
        return np.arange(d)
    if keep == "drop-dead":
        return np.setdiff1d(np.arange(d), checked_dead_dims(dead_dims, d))
    family, _, k_text = keep.rpartition("-")
    if family in ("prefix", "top-variance") and k_text.isdigit() and 1 <= int(k_text) <= d:
        k = int(k_text)
        return np.arange(k) if family == "prefix" else np.sort(variance_order(Dm)[:k])
    raise OptionError(
        f"Unknown set of kept dimensions {keep!r}; use all, drop-dead, prefix-K or top-variance-K with K from 1 to {d}."
    )
