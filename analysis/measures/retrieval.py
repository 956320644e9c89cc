"""Retrieval quality per storage choice: what do kept dimensions and bits keep, at what bytes?

The product question is "what can I drop?". Given a model's embeddings of the user's own
queries and documents and which documents are relevant to each query, every *variant*
(fewer dimensions, int8, binary, ...) is scored on the same retrieval task as the full
float32 vectors, and reported with its storage cost in bytes per document vector.

Inputs
------
* ``queries`` (Q x d) and ``documents`` (N x d): real matrices whose rows are already
  L2-normalized (unit length, checked to 1e-3). They are used as float32.
* ``relevance``: a :class:`Relevance`, either

  - ``Relevance.pairs(relevant)``: query i has the single relevant document ``relevant[i]``;
  - ``Relevance.labels(query_labels, doc_labels)``: every document with the query's label
    is relevant.

  Both take ``query_doc_index`` (int per query, -1 when the query is not a document): that
  document is removed from its own query's ranking (and so from its relevant set).
  Queries left with no relevant document are excluded from every mean and counted.

Ranking and metrics
-------------------
A ranking sorts documents by descending score; **equal scores rank the lower document
index first**, so every figure is exactly reproducible, also for integer scores (int8,
Hamming) where ties are common. With ``rel_p`` = 1 when the document at position p is
relevant and ``R`` the query's relevant set:

* ``recall@k = |R ∩ top-k| / |R|`` (standard IR recall; with one relevant document per
  query, as in pairs mode, it is hit@k);
* ``MRR`` = mean over queries of 1 / (position of the first relevant document in the
  *full* ranking);
* ``nDCG@10 = sum_{p<=10} rel_p / log2(p+1)`` divided by the ideal DCG of ``min(|R|, 10)``
  relevant documents on top (binary gains), as ``sklearn.metrics.ndcg_score(k=10)`` when
  no scores tie (sklearn averages over tied groups instead of breaking ties).

Scores are produced and evaluated in chunks of queries (about 1M scores, a few MB, at a
time), so the Q x N matrix is never held whole; the top 10 and the first relevant
position are found without sorting whole rows.

This module imports only numpy; no torch, no sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from analysis.errors import OptionError

__all__ = [
    "DEFAULT_KS",
    "RESCORE_CANDIDATES",
    "CosineShare",
    "CosineShareResult",
    "HarmfulDimensions",
    "Relevance",
    "RetrievalMetrics",
    "VariantScore",
    "binary_codes",
    "binary_rescore_scores",
    "bit_balance",
    "cosine_share",
    "evaluate_variants",
    "hamming_similarity",
    "harmful_dimensions",
    "int8_codes",
    "int8_range_over_std",
    "int8_scores",
    "ladder",
    "matryoshka_verdict",
    "mrr",
    "ndcg_at_10",
    "rank_documents",
    "recall_at_k",
    "score_metrics",
]

DEFAULT_KS: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
# binary-rescore: documents re-ranked by the float query after the Hamming search.
RESCORE_CANDIDATES = 40
# Scores per chunk of queries: 1M values (4-8 MB); with masks and temporaries a chunk stays
# far below 64 MB whatever Q and N are.
_CHUNK_ELEMS = 1 << 20
# Row norms may deviate this much from 1 (float32 round trips, fp16 models).
_UNIT_TOL = 1e-3
# Cosine shares are reported only when the contributions do not largely cancel
# (same rule as analysis.metrics.rogue_dimensions).
_SHARE_MIN_NET = 0.5
# harmful_dimensions, mode="auto": leave-one-out while n_dims * Q * N stays below this.
_DEFAULT_MAX_UPDATES = 400_000_000
_TOP = 10
_DISCOUNT = 1.0 / np.log2(np.arange(2, _TOP + 2, dtype=np.float64))
_IDEAL = np.cumsum(_DISCOUNT)


# --------------------------------------------------------------------------- relevance


@dataclass(frozen=True, eq=False)
class Relevance:
    """Which documents are relevant to which query. Build it with :meth:`pairs` or :meth:`labels`."""

    mode: str
    relevant: np.ndarray | None = None
    query_labels: np.ndarray | None = None
    doc_labels: np.ndarray | None = None
    query_doc_index: np.ndarray | None = None

    @classmethod
    def pairs(
        cls, relevant: Sequence[int] | np.ndarray, *, query_doc_index: Sequence[int] | np.ndarray | None = None
    ) -> Relevance:
        """Query i's single relevant document is ``relevant[i]`` (an index into documents)."""
        rel = _int_vector(relevant, "relevant")
        qdi = None if query_doc_index is None else _int_vector(query_doc_index, "query_doc_index")
        return cls("pairs", relevant=rel, query_doc_index=qdi)

    @classmethod
    def labels(
        cls,
        query_labels: Sequence | np.ndarray,
        doc_labels: Sequence | np.ndarray,
        *,
        query_doc_index: Sequence[int] | np.ndarray | None = None,
    ) -> Relevance:
        """A document is relevant to a query when their labels are equal (any comparable labels)."""
        ql = np.asarray(query_labels)
        dl = np.asarray(doc_labels)
        if ql.ndim != 1 or dl.ndim != 1:
            raise OptionError("query_labels and doc_labels must be 1-D: one label per query and per document.")
        qdi = None if query_doc_index is None else _int_vector(query_doc_index, "query_doc_index")
        return cls("labels", query_labels=ql, doc_labels=dl, query_doc_index=qdi)

    @property
    def n_queries(self) -> int:
        return len(self.relevant if self.mode == "pairs" else self.query_labels)


def _int_vector(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise OptionError(f"{name} must be a 1-D array with one integer per query; got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise OptionError(f"{name} must hold integer document indices; got dtype {arr.dtype}.")
    return arr.astype(np.int64)


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Relevance resolved against N documents, restricted to the queries that have one."""

    n_docs: int
    keep: np.ndarray  # original query indices that have >= 1 relevant document
    n_skipped: int
    single: np.ndarray | None  # pairs mode: the relevant document of each kept query
    q_codes: np.ndarray | None  # labels mode: label code of each kept query
    d_codes: np.ndarray | None  # labels mode: label code of each document
    excl: np.ndarray  # document removed from each kept query's ranking, -1 for none
    n_rel: np.ndarray  # relevant documents per kept query

    def mask(self, a: int, b: int) -> np.ndarray:
        """Relevance of every document to kept queries a:b (the query's own document excluded)."""
        rows = np.arange(b - a)
        if self.single is not None:
            m = np.zeros((b - a, self.n_docs), dtype=bool)
            m[rows, self.single[a:b]] = True
        else:
            m = self.d_codes[None, :] == self.q_codes[a:b, None]
        ex = self.excl[a:b]
        has = ex >= 0
        m[rows[has], ex[has]] = False
        return m


def _prepare(relevance: Relevance, n_queries: int, n_docs: int) -> _Prepared:
    if not isinstance(relevance, Relevance):
        raise OptionError("relevance must be built with Relevance.pairs(...) or Relevance.labels(...).")
    if relevance.n_queries != n_queries:
        raise OptionError(f"relevance describes {relevance.n_queries} queries but there are {n_queries} query rows.")
    excl = relevance.query_doc_index
    if excl is None:
        excl = np.full(n_queries, -1, dtype=np.int64)
    elif len(excl) != n_queries:
        raise OptionError(f"query_doc_index needs one entry per query ({n_queries}); got {len(excl)}.")
    elif excl.size and (excl.min() < -1 or excl.max() >= n_docs):
        raise OptionError(f"query_doc_index values must be -1 or a document index below {n_docs}.")
    if relevance.mode == "pairs":
        rel = relevance.relevant
        if rel.size and (rel.min() < 0 or rel.max() >= n_docs):
            raise OptionError(f"relevant holds document indices, so every value must be in 0..{n_docs - 1}.")
        n_rel = (rel != excl).astype(np.int64)
        keep = np.flatnonzero(n_rel > 0)
        return _Prepared(n_docs, keep, n_queries - keep.size, rel[keep], None, None, excl[keep], n_rel[keep])
    ql, dl = relevance.query_labels, relevance.doc_labels
    if len(dl) != n_docs:
        raise OptionError(f"doc_labels needs one label per document ({n_docs}); got {len(dl)}.")
    try:
        _, codes = np.unique(np.concatenate([ql, dl]), return_inverse=True)
    except TypeError as exc:
        raise OptionError(f"Labels must be mutually comparable (all numbers or all strings): {exc}.") from None
    codes = codes.reshape(-1).astype(np.int64)
    q_codes, d_codes = codes[:n_queries], codes[n_queries:]
    per_code = np.bincount(d_codes, minlength=int(codes.max()) + 1 if codes.size else 0)
    n_rel = per_code[q_codes] if n_queries else np.zeros(0, np.int64)
    has = excl >= 0
    self_relevant = np.zeros(n_queries, dtype=bool)
    self_relevant[has] = d_codes[excl[has]] == q_codes[has]
    n_rel = n_rel - self_relevant
    keep = np.flatnonzero(n_rel > 0)
    return _Prepared(n_docs, keep, n_queries - keep.size, None, q_codes[keep], d_codes, excl[keep], n_rel[keep])


def _chunks(n_rows: int, n_cols: int) -> Iterator[tuple[int, int]]:
    step = max(1, _CHUNK_ELEMS // max(n_cols, 1))
    for a in range(0, n_rows, step):
        yield a, min(n_rows, a + step)


# --------------------------------------------------------------------------- rankings


def _descending_key(scores: np.ndarray) -> np.ndarray:
    # Ascending order of this key is descending order of the scores. For integers ~x is an
    # order-reversing bijection that cannot overflow (-x overflows at INT_MIN and for unsigned).
    if scores.dtype == bool or np.issubdtype(scores.dtype, np.integer):
        return ~scores
    return -scores


def _score_matrix(scores, name: str = "scores") -> np.ndarray:
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
    prep = _prepare(relevance, n_q, n)
    if prep.keep.size == 0:
        raise OptionError("No query has a relevant document; check the relevant indices or labels.")
    R = R[prep.keep]
    for a, b in _chunks(R.shape[0], n):
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
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise OptionError(f"k must be a positive integer; got {k!r}.")
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
        top = rel & (pos <= _TOP)
        # pos is 0 only before any counted document (the own one ranked first): never a gain
        gains = np.where(top, 1.0 / np.log2(np.maximum(pos, 1) + 1.0), 0.0).sum(axis=1)
        total += float((gains / _IDEAL[np.minimum(n_rel, _TOP) - 1]).sum())
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


def _chunk_metrics(S: np.ndarray, prep: _Prepared, a: int, b: int, *, ndcg_only: bool = False):
    """Per-query (recall@1, recall@10, reciprocal rank, nDCG@10) for kept queries a:b.

    ``S`` (float, one row per query) is modified: the query's own document gets -inf.
    """
    rows = np.arange(b - a)
    ex = prep.excl[a:b]
    has = ex >= 0
    if has.any():
        S[rows[has], ex[has]] = -np.inf
    if prep.single is not None:
        rank = _rank_of(S, prep.single[a:b])
        ndcg = np.where(rank <= _TOP, 1.0 / np.log2(rank + 1.0), 0.0)
        if ndcg_only:
            return ndcg
        return (rank == 1).astype(np.float64), (rank <= _TOP).astype(np.float64), 1.0 / rank, ndcg
    k = min(_TOP, S.shape[1])
    mask = prep.mask(a, b)
    rel_top = mask[rows[:, None], _top_k(S, k)]
    n_rel = prep.n_rel[a:b]
    ndcg = (rel_top @ _DISCOUNT[:k]) / _IDEAL[np.minimum(n_rel, _TOP) - 1]
    if ndcg_only:
        return ndcg
    best = np.argmax(np.where(mask, S, -np.inf), axis=1)  # first relevant: highest score, lowest index
    rank = _rank_of(S, best)
    return rel_top[:, 0] / n_rel, rel_top.sum(axis=1) / n_rel, 1.0 / rank, ndcg


@dataclass(frozen=True)
class RetrievalMetrics:
    """Means over the queries that have at least one relevant document."""

    recall_at_1: float
    recall_at_10: float
    mrr: float
    ndcg_at_10: float
    n_queries: int
    n_queries_without_relevant: int

    def to_dict(self) -> dict:
        return asdict(self)


def _evaluate(scorer: Callable[[int, int], np.ndarray], prep: _Prepared) -> RetrievalMetrics:
    """Metrics of the scores ``scorer(a, b)`` (kept queries a:b x all documents), chunk by chunk."""
    sums = np.zeros(4)
    for a, b in _chunks(prep.keep.size, prep.n_docs):
        S = scorer(a, b)
        if not np.issubdtype(S.dtype, np.floating):
            S = S.astype(np.float64)
        for i, v in enumerate(_chunk_metrics(S, prep, a, b)):
            sums[i] += float(v.sum())
    m = sums / prep.keep.size
    return RetrievalMetrics(float(m[0]), float(m[1]), float(m[2]), float(m[3]), int(prep.keep.size), prep.n_skipped)


def score_metrics(scores: np.ndarray, relevance: Relevance) -> RetrievalMetrics:
    """recall@1, recall@10, MRR and nDCG@10 of a Q x N score matrix, without sorting whole rows.

    Same definitions and tie rule as :func:`rank_documents` + :func:`recall_at_k`,
    :func:`mrr`, :func:`ndcg_at_10`. Integer scores are compared as float64 (exact below 2^53).
    """
    S = _score_matrix(scores)
    prep = _prepare(relevance, S.shape[0], S.shape[1])
    if prep.keep.size == 0:
        raise OptionError("No query has a relevant document; check the relevant indices or labels.")
    dtype = S.dtype if S.dtype in (np.float32, np.float64) else np.float64
    return _evaluate(lambda a, b: S[prep.keep[a:b]].astype(dtype, copy=True), prep)


# --------------------------------------------------------------------------- codes


def int8_codes(embeddings: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """int8 codes exactly as ``sentence_transformers.util.quantization.quantize_embeddings(
    embeddings, precision="int8", calibration_embeddings=calibration)`` (sentence-transformers 6.2).

    Per dimension, ranges = (min, max) of ``calibration`` cast to float32,
    ``steps = (max - min) / 255`` (1 where that is 0), code = ``clip(floor((x - min) / steps),
    0, 255) - 128`` cast to int8; arithmetic in the dtype numpy promotes ``embeddings`` and
    float32 to, as there. Values outside the calibrated range clip to -128 or 127.
    """
    emb = np.asarray(embeddings)
    cal = np.asarray(calibration)
    if emb.ndim != 2 or cal.ndim != 2 or emb.shape[1] != cal.shape[1] or cal.shape[0] == 0:
        raise OptionError("int8_codes needs 2-D embeddings and a non-empty calibration matrix of the same width.")
    ranges = np.vstack((np.min(cal, axis=0), np.max(cal, axis=0))).astype(np.float32, copy=False)
    starts = ranges[0, :]
    steps = (ranges[1, :] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    q_vals = np.clip(np.floor((emb - starts) / steps), 0, 255)
    return (q_vals - 128).astype(np.int8)


def _int8_operands(codes: np.ndarray) -> np.ndarray:
    # BLAS on integer-valued floats is exact while every partial sum is an integer below the
    # mantissa limit: |code| <= 128, so |sum| <= d * 2^14 <= 2^24 (float32) for d <= 1024.
    return codes.astype(np.float32 if codes.shape[1] <= 1024 else np.float64)


def int8_scores(query_codes: np.ndarray, doc_codes: np.ndarray) -> np.ndarray:
    """Integer dot products of int8 codes (Q x N, int64), exact (no int8/int16 overflow)."""
    qc, dc = np.asarray(query_codes), np.asarray(doc_codes)
    if qc.ndim != 2 or dc.ndim != 2 or qc.shape[1] != dc.shape[1]:
        raise OptionError("int8_scores needs two 2-D code matrices of the same width.")
    return np.rint(_int8_operands(qc) @ _int8_operands(dc).T).astype(np.int64)


def binary_codes(embeddings: np.ndarray) -> np.ndarray:
    """Packed sign bits: bit = x > 0, ``np.packbits(x > 0, axis=-1)`` (uint8, ceil(d/8) bytes per row).

    Same bytes as ``quantize_embeddings(x, precision="ubinary")``.
    """
    return np.packbits(np.asarray(embeddings) > 0, axis=-1)


def _words(packed: np.ndarray) -> np.ndarray:
    """Packed bytes as uint64 words (zero padding adds no differing bits)."""
    n, nbytes = packed.shape
    n_words = max(1, -(-nbytes // 8))
    out = np.zeros((n, n_words * 8), dtype=np.uint8)
    out[:, :nbytes] = packed
    return out.view(np.uint64)


class _Hamming:
    """Hamming similarity (n_bits - Hamming distance) of packed codes, chunk by chunk."""

    def __init__(self, query_packed: np.ndarray, doc_packed: np.ndarray, n_bits: int):
        self.wq = _words(query_packed)
        self.wd = np.ascontiguousarray(_words(doc_packed).T)  # one contiguous row per word
        self.n_bits = int(n_bits)
        self.acc_dtype = np.uint16 if n_bits < 1 << 16 else np.uint32

    def __call__(self, a: int, b: int) -> np.ndarray:
        c, n = b - a, self.wd.shape[1]
        dist = np.zeros((c, n), dtype=self.acc_dtype)
        x = np.empty((c, n), dtype=np.uint64)
        cnt = np.empty((c, n), dtype=np.uint8)
        for w in range(self.wd.shape[0]):
            np.bitwise_xor(self.wq[a:b, w, None], self.wd[w][None, :], out=x)
            np.bitwise_count(x, out=cnt)
            np.add(dist, cnt, out=dist)
        # Exact in float32: similarities are integers below 2^24 for any realistic width.
        return np.subtract(self.n_bits, dist, dtype=np.float32 if self.n_bits < 1 << 24 else np.float64)


def hamming_similarity(query_packed: np.ndarray, doc_packed: np.ndarray, n_bits: int) -> np.ndarray:
    """Number of equal bits, ``n_bits - popcount(q XOR d)``, of packed codes (Q x N, int64).

    ``n_bits`` is the unpacked width d (the zero padding of the last byte never differs).
    """
    qp, dp = np.asarray(query_packed, dtype=np.uint8), np.asarray(doc_packed, dtype=np.uint8)
    if qp.ndim != 2 or dp.ndim != 2 or qp.shape[1] != dp.shape[1] or qp.shape[1] != -(-int(n_bits) // 8):
        raise OptionError("hamming_similarity needs packed codes of ceil(n_bits/8) bytes per row for both sides.")
    ham = _Hamming(qp, dp, n_bits)
    out = np.zeros((qp.shape[0], dp.shape[0]), dtype=np.int64)
    for a, b in _chunks(qp.shape[0], dp.shape[0]):
        out[a:b] = ham(a, b)
    return out


class _Rescore:
    """binary-rescore ranking scores: the top candidates by Hamming, re-ranked by the float query.

    Returns float64 scores whose ranking (descending, ties lower index) is: the candidates in
    order of (query . doc bits as +-1) descending, ties lower index; then every other document
    in Hamming order (ties lower index). Candidates score n_bits + 1 + (n_cand - position),
    above any Hamming similarity, so the order is exact with no float offset tricks.
    """

    def __init__(self, queries: np.ndarray, documents: np.ndarray, excl: np.ndarray, n_candidates: int):
        self.ham = _Hamming(binary_codes(queries), binary_codes(documents), documents.shape[1])
        self.q = queries.astype(np.float64)
        self.pm1 = np.where(documents > 0, 1.0, -1.0)
        self.excl = excl
        self.n_cand = min(int(n_candidates), documents.shape[0])

    def __call__(self, a: int, b: int) -> np.ndarray:
        sim = self.ham(a, b).astype(np.int64)
        c, n = sim.shape
        rows = np.arange(c)
        # Unique keys make the candidate set exact: more equal bits first, then lower index.
        key = sim * n + (n - 1 - np.arange(n))[None, :]
        ex = self.excl[a:b]
        has = ex >= 0
        key[rows[has], ex[has]] = -1  # the query's own document is not in its ranking
        cand = np.argpartition(-key, self.n_cand - 1, axis=1)[:, : self.n_cand]
        value = (self.q[a:b] @ self.pm1.T)[rows[:, None], cand]
        order = np.lexsort((cand, -value), axis=-1)
        cand = np.take_along_axis(cand, order, axis=1)
        S = sim.astype(np.float64)
        S[rows[:, None], cand] = self.ham.n_bits + 1 + (self.n_cand - np.arange(self.n_cand))[None, :]
        return S


def binary_rescore_scores(
    queries: np.ndarray,
    documents: np.ndarray,
    *,
    n_candidates: int = RESCORE_CANDIDATES,
    query_doc_index: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Scores (Q x N, float64) whose ranking (:func:`rank_documents`) is the binary-rescore order.

    The ``n_candidates`` documents with the most equal sign bits (ties: lower index; the
    query's own document is never a candidate) come first, re-ranked by the float query
    dotted with the document's bits mapped to +-1 (ties: lower index); all other documents
    follow in Hamming order. Only the ordering is meaningful, not the values.
    """
    Qm = _embeddings(queries, "queries", unit=False)
    Dm = _embeddings(documents, "documents", unit=False)
    _same_width(Qm, Dm)
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, (int, np.integer)) or n_candidates < 1:
        raise OptionError(f"n_candidates must be a positive integer; got {n_candidates!r}.")
    excl = (
        np.full(Qm.shape[0], -1, np.int64)
        if query_doc_index is None
        else _int_vector(query_doc_index, "query_doc_index")
    )
    if len(excl) != Qm.shape[0]:
        raise OptionError(f"query_doc_index needs one entry per query ({Qm.shape[0]}); got {len(excl)}.")
    rs = _Rescore(Qm, Dm, excl, n_candidates)
    return np.vstack([rs(a, b) for a, b in _chunks(Qm.shape[0], Dm.shape[0])])


# --------------------------------------------------------------------------- variants


def _embeddings(X, name: str, *, unit: bool = True) -> np.ndarray:
    A = np.asarray(X)
    if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1:
        raise OptionError(f"{name} must be a non-empty 2-D array (rows x d dimensions); got shape {A.shape}.")
    if not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)):
        raise OptionError(f"{name} must hold real numbers; got dtype {A.dtype}.")
    A = np.ascontiguousarray(A, dtype=np.float32)
    if not np.all(np.isfinite(A)):
        raise OptionError(f"{name} contains NaN or infinite values (or values beyond float32); clean them first.")
    if unit:
        norms = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
        bad = np.flatnonzero(np.abs(norms - 1.0) > _UNIT_TOL)
        if bad.size:
            raise OptionError(
                f"{name} rows must be L2-normalized (row {bad[0]} has norm {norms[bad[0]]:.4g}); "
                "divide each row by its norm first."
            )
    return A


def _same_width(Qm: np.ndarray, Dm: np.ndarray) -> None:
    if Qm.shape[1] != Dm.shape[1]:
        raise OptionError(
            f"queries have {Qm.shape[1]} dimensions but documents have {Dm.shape[1]}; embed both with the same model."
        )


def _unit64(A: np.ndarray) -> np.ndarray:
    """Rows re-normalized in float64; a row that is all zero stays zero, so all its cosines are 0."""
    A = np.asarray(A, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", A, A))[:, None]
    return np.divide(A, norms, out=np.zeros(A.shape), where=norms > 0)


def _unit(A: np.ndarray) -> np.ndarray:
    """Rows re-normalized, as float32 (the dtype every float variant is scored in)."""
    return _unit64(A).astype(np.float32)


def ladder(d: int, ks: Sequence[int] | None = None) -> list[int]:
    """Kept-dimension counts to try: ``ks`` (default 8, 16, 32, 64, 128, 256) plus d, only k <= d, sorted."""
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


def _dead_dims(dead_dims, d: int) -> np.ndarray:
    arr = np.asarray(dead_dims).reshape(-1)
    dead = np.unique(_int_vector(arr, "dead_dims")) if arr.size else np.zeros(0, np.int64)
    if dead.size and (dead[0] < 0 or dead[-1] >= d):
        raise OptionError(f"dead_dims must be dimension indices in 0..{d - 1}.")
    if dead.size >= d:
        raise OptionError(f"dead_dims lists all {d} dimensions; nothing would be left to score.")
    return dead


def _pca_axes(documents: np.ndarray) -> np.ndarray:
    """Principal axes of the documents (columns, by explained variance descending), as sklearn PCA fits them."""
    D = documents.astype(np.float64)
    C = D - D.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(C.T @ C)
    order = np.lexsort((np.arange(len(eigval)), -eigval))
    return eigvec[:, order]


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

    def to_dict(self) -> dict:
        return asdict(self)


_METRIC_NAMES = ("recall_at_1", "recall_at_10", "mrr", "ndcg_at_10")


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
    Qm = _embeddings(queries, "queries")
    Dm = _embeddings(documents, "documents")
    _same_width(Qm, Dm)
    d = Dm.shape[1]
    prep = _prepare(relevance, Qm.shape[0], Dm.shape[0])
    if prep.keep.size == 0:
        raise OptionError("No query has a relevant document; check the relevant indices or labels.")
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise OptionError(f"n_draws must be a positive integer; got {n_draws!r}.")
    k_list = ladder(d, ks)
    dead = _dead_dims(dead_dims, d)
    alive = np.setdiff1d(np.arange(d), dead)
    Qk = Qm[prep.keep]

    def floats(qv: np.ndarray, dv: np.ndarray) -> RetrievalMetrics:
        return _evaluate(lambda a, b: qv[a:b] @ dv.T, prep)

    # Column subsets are evaluated once: prefix-d, top-variance-d and random-d are the same set.
    by_subset: dict[bytes, RetrievalMetrics] = {}

    def subset(cols: np.ndarray) -> RetrievalMetrics:
        cols = np.sort(cols)
        key = cols.tobytes()
        if key not in by_subset:
            by_subset[key] = floats(_unit(Qk[:, cols]), _unit(Dm[:, cols]))
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
    variance = Dm.astype(np.float64).var(axis=0)
    by_variance = np.lexsort((np.arange(d), -variance))
    for k in k_list:
        add(f"top-variance-{k}", "top-variance", k, k, 4 * k, subset(by_variance[:k]))
    for k in k_list:
        add(f"prefix-{k}", "prefix", k, k, 4 * k, subset(np.arange(k)))
    axes = _pca_axes(Dm)
    Qp = (Qk.astype(np.float64) @ axes).astype(np.float32)
    Dp = (Dm.astype(np.float64) @ axes).astype(np.float32)
    for k in k_list:
        add(f"pca-{k}", "pca", k, k, 4 * k, floats(_unit(Qp[:, :k]), _unit(Dp[:, :k])))
    rng = np.random.default_rng(seed)
    for k in k_list:
        draws = [subset(rng.choice(d, size=k, replace=False)) for _ in range(n_draws)]
        results.append(_random_summary(k, d, draws, reference.ndcg_at_10))

    qc, dc = int8_codes(Qk, Dm), int8_codes(Dm, Dm)
    qi, di = _int8_operands(qc), _int8_operands(dc)
    add("int8", "int8", None, d, d, _evaluate(lambda a, b: qi[a:b] @ di.T, prep))
    nbin = -(-d // 8)
    add("binary", "binary", None, d, nbin, _evaluate(_Hamming(binary_codes(Qk), binary_codes(Dm), d), prep))
    add(
        "binary-rescore",
        "binary-rescore",
        None,
        d,
        nbin,
        _evaluate(_Rescore(Qk, Dm, prep.excl, RESCORE_CANDIDATES), prep),
    )
    nbd = -(-alive.size // 8)
    add(
        "binary-drop-dead",
        "binary-drop-dead",
        None,
        alive.size,
        nbd,
        _evaluate(_Hamming(binary_codes(Qk[:, alive]), binary_codes(Dm[:, alive]), alive.size), prep),
    )
    return results


def _retention(value: float, reference: float) -> float | None:
    return value / reference if reference > 0 else None


def _random_summary(k: int, d: int, draws: list[RetrievalMetrics], reference: float) -> VariantScore:
    table = np.array([[getattr(m, name) for name in _METRIC_NAMES] for m in draws])
    mean = table.mean(axis=0)
    std = table.std(axis=0, ddof=1) if len(draws) > 1 else np.zeros(len(_METRIC_NAMES))
    ret = None if reference <= 0 else float(mean[3] / reference)
    ret_std = None if reference <= 0 else float(std[3] / reference)
    first = draws[0]
    return VariantScore(
        f"random-{k}",
        "random",
        k,
        d,
        k,
        4 * k,
        *(float(x) for x in mean),
        ret,
        first.n_queries,
        first.n_queries_without_relevant,
        len(draws),
        *(float(x) for x in std),
        ret_std,
    )


# --------------------------------------------------------------------------- per-dimension readiness


def bit_balance(documents: np.ndarray) -> np.ndarray:
    """P(x > 0) per dimension over the documents (float64, length d); 0.5 = a maximally informative bit."""
    Dm = _embeddings(documents, "documents", unit=False)
    return np.count_nonzero(Dm > 0, axis=0) / Dm.shape[0]


def int8_range_over_std(documents: np.ndarray) -> np.ndarray:
    """(max - min) / std per dimension over the documents (std with ddof=0; float64, length d).

    int8 spreads each dimension's [min, max] over 256 levels: a large ratio means a few
    outliers set the range and the bulk of values shares few levels. The ratio is
    scale-free, so a near-dead dimension with tiny noise is stretched just as far (check its
    std too). A constant dimension (std == 0, hence range 0) is reported as 0.0: int8 maps
    all of it to the single code -128, so it amplifies nothing.
    """
    Dm = _embeddings(documents, "documents", unit=False).astype(np.float64)
    spread = Dm.max(axis=0) - Dm.min(axis=0)
    std = Dm.std(axis=0)
    return np.divide(spread, std, out=np.zeros_like(spread), where=std > 0)


@dataclass(frozen=True, eq=False)
class CosineShare:
    """Per-dimension decomposition of the mean pairwise cosine of one set of unit rows.

    ``contributions[j] = ((sum_i u_ij)^2 - sum_i u_ij^2) / (n(n-1))`` sums to
    ``mean_cosine`` (mean over ordered pairs i != k). ``share = contributions / mean_cosine``,
    NaN (as are the headline figures) unless mean_cosine > 0 and the contributions do not
    largely cancel (mean_cosine >= 0.5 * sum |contributions|): a share of ~0 is meaningless.
    ``top_dims``: the 3 dimensions with the largest contribution (ties: lower index).
    """

    contributions: np.ndarray
    mean_cosine: float
    share: np.ndarray
    top1_share: float
    top3_share: float
    top_dims: np.ndarray

    def to_dict(self) -> dict:
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
    """``raw``: the documents as given (rows re-normalized); ``standardized``: each dimension
    z-scored (a constant one set to 0), then rows re-normalized."""

    raw: CosineShare
    standardized: CosineShare

    def to_dict(self) -> dict:
        return {"raw": self.raw.to_dict(), "standardized": self.standardized.to_dict()}


def _cosine_share_of(U: np.ndarray) -> CosineShare:
    n = U.shape[0]
    col_sum = U.sum(axis=0)
    col_sq = np.einsum("ij,ij->j", U, U)
    cc = (col_sum**2 - col_sq) / (n * (n - 1))
    total = float(cc.sum())
    order = np.lexsort((np.arange(len(cc)), -cc))
    meaningful = total > 1e-12 and total >= _SHARE_MIN_NET * float(np.abs(cc).sum())
    share = cc / total if meaningful else np.full(len(cc), np.nan)
    top1 = float(share[order[0]]) if meaningful else float("nan")
    top3 = float(share[order[:3]].sum()) if meaningful else float("nan")
    return CosineShare(cc, total, share, top1, top3, order[:3].astype(np.int64))


def cosine_share(documents: np.ndarray) -> CosineShareResult:
    """Each dimension's share of the mean pairwise cosine, raw and standardized (needs >= 2 rows).

    For unit rows u_i the mean over pairs i != k of ``u_i . u_k`` splits exactly into
    per-dimension terms ``((sum_i u_ij)^2 - sum_i u_ij^2) / (n(n-1))``. A dimension whose raw
    share is large (a "rogue" dimension) dominates every cosine; standardizing shows what
    is left when every dimension has equal variance. Rows that are all zero count as cosine 0.
    """
    Dm = _embeddings(documents, "documents", unit=False).astype(np.float64)
    if Dm.shape[0] < 2:
        raise OptionError("cosine_share needs at least 2 documents (it averages over pairs).")
    std = Dm.std(axis=0)
    Z = np.divide(Dm - Dm.mean(axis=0), std, out=np.zeros_like(Dm), where=std > 0)
    return CosineShareResult(_cosine_share_of(_unit64(Dm)), _cosine_share_of(_unit64(Z)))


@dataclass(frozen=True, eq=False)
class HarmfulDimensions:
    """Result of :func:`harmful_dimensions`.

    ``units[i]`` (sorted dimension indices) is removed together; ``gains[i]`` = nDCG@10
    without it - ``baseline_ndcg``. ``harmful``: unit indices with gain > ``min_gain``, largest
    gain first. ``updates`` = units x queries x documents score updates (the cost).
    """

    mode: str  # "leave-one-out" or "groups"
    grouping: str | None  # for groups: "variance" or "contiguous"
    units: tuple[np.ndarray, ...]
    gains: np.ndarray
    baseline_ndcg: float
    harmful: np.ndarray
    n_queries: int
    updates: int

    @property
    def harmful_dims(self) -> np.ndarray:
        """All dimensions in harmful units, ascending."""
        if not self.harmful.size:
            return np.zeros(0, np.int64)
        return np.sort(np.concatenate([self.units[i] for i in self.harmful]))

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "grouping": self.grouping,
            "units": [u.tolist() for u in self.units],
            "gains": self.gains.tolist(),
            "baseline_ndcg": self.baseline_ndcg,
            "harmful": self.harmful.tolist(),
            "harmful_dims": self.harmful_dims.tolist(),
            "n_queries": self.n_queries,
            "updates": self.updates,
        }


def harmful_dimensions(
    queries: np.ndarray,
    documents: np.ndarray,
    relevance: Relevance,
    *,
    mode: str = "auto",
    max_updates: int = _DEFAULT_MAX_UPDATES,
    n_groups: int | None = None,
    grouping: str = "variance",
    min_gain: float = 0.0,
) -> HarmfulDimensions:
    """Dimensions whose removal raises nDCG@10 (cosine, rows re-normalized after removal).

    ``mode``: "leave-one-out" (each dimension alone), "groups" (``n_groups`` groups removed
    one group at a time) or "auto": leave-one-out when d x Q x N <= ``max_updates``
    (384 x 1,000 x 1,000 fits the default), else as many groups as fit the budget
    (at least 8, at most d). ``grouping``: "variance" = dimensions ordered by document
    variance (descending, ties lower index) and cut into consecutive groups, so low-variance
    dimensions are judged together; "contiguous" = index ranges (natural for Matryoshka).

    No matrix product is recomputed per unit: with the numerator ``q . d`` of every pair
    kept once per query chunk, removing the set G gives ``(q.d - q_G . d_G) /
    sqrt(|d|^2 - |d_G|^2)`` (the query's own norm is the same for all its documents and
    cannot change its ranking). So each unit costs one rank-|G| update of the chunk plus
    the top-10 search. All in float64. A document left with (relatively) no norm scores 0.
    """
    Qm = _embeddings(queries, "queries")
    Dm = _embeddings(documents, "documents")
    _same_width(Qm, Dm)
    n, d = Dm.shape
    prep = _prepare(relevance, Qm.shape[0], n)
    if prep.keep.size == 0:
        raise OptionError("No query has a relevant document; check the relevant indices or labels.")
    if mode not in ("auto", "leave-one-out", "groups"):
        raise OptionError(f"mode must be 'auto', 'leave-one-out' or 'groups'; got {mode!r}.")
    if grouping not in ("variance", "contiguous"):
        raise OptionError(f"grouping must be 'variance' or 'contiguous'; got {grouping!r}.")
    pairs = int(prep.keep.size) * n
    if mode == "auto":
        mode = "leave-one-out" if d * pairs <= max_updates else "groups"
    if mode == "leave-one-out":
        units = tuple(np.array([j], dtype=np.int64) for j in range(d))
        used_grouping = None
    else:
        if n_groups is None:
            n_groups = int(min(d, max(8, max_updates // max(pairs, 1))))
        if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or not 2 <= n_groups <= d:
            raise OptionError(f"n_groups must be an integer between 2 and d={d}; got {n_groups!r}.")
        if grouping == "variance":
            order = np.lexsort((np.arange(d), -Dm.astype(np.float64).var(axis=0)))
        else:
            order = np.arange(d)
        units = tuple(np.sort(g).astype(np.int64) for g in np.array_split(order, int(n_groups)))
        used_grouping = grouping

    Q64 = Qm[prep.keep].astype(np.float64)
    D64 = Dm.astype(np.float64)
    dn2 = np.einsum("ij,ij->i", D64, D64)

    def inverse_norm(removed_sq: np.ndarray) -> np.ndarray:
        rest = dn2 - removed_sq
        # Guard cancellation: a document with (almost) all its mass in the removed dims is a zero row.
        return np.divide(1.0, np.sqrt(np.maximum(rest, 0.0)), out=np.zeros_like(rest), where=rest > 1e-12 * dn2)

    inv_full = inverse_norm(np.zeros(n))
    sums = np.zeros(len(units))
    base_sum = 0.0
    for a, b in _chunks(prep.keep.size, n):
        num = Q64[a:b] @ D64.T
        buf = num * inv_full
        base_sum += float(_chunk_metrics(buf, prep, a, b, ndcg_only=True).sum())
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
            sums[u] += float(_chunk_metrics(buf, prep, a, b, ndcg_only=True).sum())
    n_q = int(prep.keep.size)
    baseline = base_sum / n_q
    gains = sums / n_q - baseline
    harmful = np.flatnonzero(gains > min_gain)
    harmful = harmful[np.lexsort((harmful, -gains[harmful]))]
    return HarmfulDimensions(
        mode, used_grouping, units, gains, baseline, harmful.astype(np.int64), n_q, len(units) * pairs
    )


# --------------------------------------------------------------------------- verdicts


def matryoshka_verdict(prefix_scores: Sequence[VariantScore], random_scores: Sequence[VariantScore]) -> str:
    """Plain verdict: does keeping the *first* k dimensions beat keeping k random ones?

    Rule (stated in the text): at each k < d present in both, prefix-k "beats" random-k when
    its nDCG@10 exceeds the random mean by more than max(2 x the std over random draws,
    0.01). "truncation-friendly" when it beats random at more than half of those ks, else
    "not truncation-friendly (prefix no better than random)". Entries of other families are
    ignored, so the full :func:`evaluate_variants` list may be passed twice.
    """
    prefix = {v.k: v for v in prefix_scores if v.family == "prefix"}
    random = {v.k: v for v in random_scores if v.family == "random"}
    ks = sorted(k for k in prefix if k in random and k < prefix[k].d)
    rule = (
        "rule: prefix-k beats random-k when its nDCG@10 exceeds the random mean by more than "
        "max(2 std of the random draws, 0.01), and truncation-friendly means it does so at more than half "
        "of the ks below d"
    )
    if not ks:
        return f"undetermined: no k below d has both prefix-k and random-k scores ({rule})."
    wins = []
    for k in ks:
        r = random[k]
        margin = prefix[k].ndcg_at_10 - r.ndcg_at_10
        if margin > max(2.0 * (r.ndcg_at_10_std or 0.0), 0.01):
            wins.append(k)
    detail = f"prefix beats random at {len(wins)} of {len(ks)} ks below d ({', '.join(map(str, wins)) or 'none'})"
    if 2 * len(wins) > len(ks):
        return f"truncation-friendly: {detail}; {rule}."
    return f"not truncation-friendly (prefix no better than random): {detail}; {rule}."
