"""Quantized codes and their scores: int8 (as sentence-transformers computes it), sign bits, binary rescoring."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.errors import OptionError
from analysis.measures.retrieval.checks import checked_embeddings, int_vector, positive_int, same_width
from analysis.measures.retrieval.relevance import query_chunks

# binary-rescore: documents re-ranked by the float query after the Hamming search.
RESCORE_CANDIDATES = 40


def int8_ranges(calibration: np.ndarray) -> np.ndarray:
    """Per-dimension (min, max) of the calibration rows, float32, shape (2, d): the ``ranges`` of
    ``quantize_embeddings(..., precision="int8", ranges=...)``."""
    cal = np.asarray(calibration)
    if cal.ndim != 2 or cal.shape[0] == 0:
        raise OptionError("int8 calibration needs a non-empty 2-D matrix (rows x dimensions).")
    return np.vstack((np.min(cal, axis=0), np.max(cal, axis=0))).astype(np.float32, copy=False)


def int8_codes(embeddings: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """int8 codes exactly as ``sentence_transformers.util.quantization.quantize_embeddings(
    embeddings, precision="int8", calibration_embeddings=calibration)`` (sentence-transformers 6.2).

    Per dimension, ranges = (min, max) of ``calibration`` cast to float32,
    ``steps = (max - min) / 255`` (1 where that is 0), code = ``clip(floor((x - min) / steps),
    0, 255) - 128`` cast to int8; arithmetic in the dtype numpy promotes ``embeddings`` and
    float32 to, as there. Values outside the calibrated range clip to -128 or 127.

    >>> int8_codes(np.array([[0.0, 0.5], [1.0, -1.0]]), np.array([[0.0, -1.0], [1.0, 1.0]])).tolist()
    [[-128, 63], [126, -128]]

    (The maximum lands on 126, not 127: ``1 / float32(1/255)`` floors to 254, as in sentence-transformers.)
    """
    emb = np.asarray(embeddings)
    cal = np.asarray(calibration)
    if emb.ndim != 2 or cal.ndim != 2 or emb.shape[1] != cal.shape[1]:
        raise OptionError("int8_codes needs 2-D embeddings and a calibration matrix of the same width.")
    return int8_quantize(emb, int8_ranges(cal))


def int8_quantize(embeddings: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """int8 codes of ``embeddings`` for given ``ranges`` (2 x d: per-dimension min and max, as float32), as
    ``quantize_embeddings(embeddings, precision="int8", ranges=ranges)`` computes them."""
    emb = np.asarray(embeddings)
    ranges = np.asarray(ranges).astype(np.float32, copy=False)
    starts = ranges[0, :]
    steps = (ranges[1, :] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    q_vals = np.clip(np.floor((emb - starts) / steps), 0, 255)
    return (q_vals - 128).astype(np.int8)


def int8_operands(codes: np.ndarray) -> np.ndarray:
    """int8 codes as floats whose BLAS products are the exact integer dot products.

    Exact while every partial sum is an integer below the mantissa limit: |code| <= 128, so
    |sum| <= d * 2^14 <= 2^24 (float32) for d <= 1024; float64 beyond.
    """
    return codes.astype(np.float32 if codes.shape[1] <= 1024 else np.float64)


def int8_scores(query_codes: np.ndarray, doc_codes: np.ndarray) -> np.ndarray:
    """Integer dot products of int8 codes (Q x N, int64), exact (no int8/int16 overflow)."""
    qc, dc = np.asarray(query_codes), np.asarray(doc_codes)
    if qc.ndim != 2 or dc.ndim != 2 or qc.shape[1] != dc.shape[1]:
        raise OptionError("int8_scores needs two 2-D code matrices of the same width.")
    return np.rint(int8_operands(qc) @ int8_operands(dc).T).astype(np.int64)


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


class HammingScorer:
    """Hamming similarity (n_bits - Hamming distance) of packed codes, one query block at a time."""

    def __init__(self, query_packed: np.ndarray, doc_packed: np.ndarray, n_bits: int) -> None:
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

    >>> q, d = binary_codes(np.array([[1.0, -1.0, 2.0]])), binary_codes(np.array([[1.0, 1.0, 1.0]]))
    >>> hamming_similarity(q, d, 3).tolist()
    [[2]]
    """
    qp, dp = np.asarray(query_packed, dtype=np.uint8), np.asarray(doc_packed, dtype=np.uint8)
    if qp.ndim != 2 or dp.ndim != 2 or qp.shape[1] != dp.shape[1] or qp.shape[1] != -(-int(n_bits) // 8):
        raise OptionError("hamming_similarity needs packed codes of ceil(n_bits/8) bytes per row for both sides.")
    ham = HammingScorer(qp, dp, n_bits)
    out = np.zeros((qp.shape[0], dp.shape[0]), dtype=np.int64)
    for a, b in query_chunks(qp.shape[0], dp.shape[0]):
        out[a:b] = ham(a, b)
    return out


class RescoreScorer:
    """binary-rescore ranking scores: the top candidates by Hamming, re-ranked by the float query.

    Returns float64 scores whose ranking (descending, ties lower index) is: the candidates in
    order of (query . doc bits as +-1) descending, ties lower index; then every other document
    in Hamming order (ties lower index). Candidates score n_bits + 1 + (n_cand - position),
    above any Hamming similarity, so the order is exact with no float offset tricks.
    """

    def __init__(self, queries: np.ndarray, documents: np.ndarray, excl: np.ndarray, n_candidates: int) -> None:
        self.ham = HammingScorer(binary_codes(queries), binary_codes(documents), documents.shape[1])
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
    Qm = checked_embeddings(queries, "queries", unit=False)
    Dm = checked_embeddings(documents, "documents", unit=False)
    same_width(Qm, Dm)
    n_candidates = positive_int(n_candidates, "n_candidates")
    excl = (
        np.full(Qm.shape[0], -1, np.int64)
        if query_doc_index is None
        else int_vector(query_doc_index, "query_doc_index")
    )
    if len(excl) != Qm.shape[0]:
        raise OptionError(f"query_doc_index needs one entry per query ({Qm.shape[0]}); got {len(excl)}.")
    rs = RescoreScorer(Qm, Dm, excl, n_candidates)
    return np.vstack([rs(a, b) for a, b in query_chunks(Qm.shape[0], Dm.shape[0])])
