"""Which documents are relevant to which query, and the query chunks scores are computed in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.measures.retrieval.checks import int_vector

# Scores per chunk of queries: 1M values (4-8 MB); with masks and temporaries a chunk stays
# far below 64 MB whatever Q and N are.
CHUNK_ELEMS = 1 << 20


@dataclass(frozen=True, eq=False)
class Relevance:
    """Which documents are relevant to which query. Build it with :meth:`pairs` or :meth:`labels`.

    ``query_doc_index`` (one int per query, -1 when the query is not a document): that document
    is removed from its own query's ranking, and so from its relevant set.
    """

    mode: str  # "pairs" or "labels"
    relevant: np.ndarray | None = None
    query_labels: np.ndarray | None = None
    doc_labels: np.ndarray | None = None
    query_doc_index: np.ndarray | None = None

    @classmethod
    def pairs(
        cls, relevant: Sequence[int] | np.ndarray, *, query_doc_index: Sequence[int] | np.ndarray | None = None
    ) -> Relevance:
        """Query i's single relevant document is ``relevant[i]`` (an index into documents)."""
        rel = int_vector(relevant, "relevant")
        qdi = None if query_doc_index is None else int_vector(query_doc_index, "query_doc_index")
        return cls("pairs", relevant=rel, query_doc_index=qdi)

    @classmethod
    def labels(
        cls,
        query_labels: Sequence[Any] | np.ndarray,
        doc_labels: Sequence[Any] | np.ndarray,
        *,
        query_doc_index: Sequence[int] | np.ndarray | None = None,
    ) -> Relevance:
        """A document is relevant to a query when their labels are equal (any comparable labels)."""
        ql = np.asarray(query_labels)
        dl = np.asarray(doc_labels)
        if ql.ndim != 1 or dl.ndim != 1:
            raise OptionError("query_labels and doc_labels must be 1-D: one label per query and per document.")
        qdi = None if query_doc_index is None else int_vector(query_doc_index, "query_doc_index")
        return cls("labels", query_labels=ql, doc_labels=dl, query_doc_index=qdi)

    @property
    def n_queries(self) -> int:
        values = self.relevant if self.mode == "pairs" else self.query_labels
        return 0 if values is None else len(values)


@dataclass(frozen=True, eq=False)
class PreparedRelevance:
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
            assert self.q_codes is not None and self.d_codes is not None
            m = self.d_codes[None, :] == self.q_codes[a:b, None]
        ex = self.excl[a:b]
        has = ex >= 0
        m[rows[has], ex[has]] = False
        return m


def prepare_relevance(relevance: Relevance, n_queries: int, n_docs: int) -> PreparedRelevance:
    """Check ``relevance`` against the matrix sizes and drop the queries left without a relevant document."""
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
        assert rel is not None
        if rel.size and (rel.min() < 0 or rel.max() >= n_docs):
            raise OptionError(f"relevant holds document indices, so every value must be in 0..{n_docs - 1}.")
        n_rel = (rel != excl).astype(np.int64)
        keep = np.flatnonzero(n_rel > 0)
        return PreparedRelevance(n_docs, keep, n_queries - keep.size, rel[keep], None, None, excl[keep], n_rel[keep])
    ql, dl = relevance.query_labels, relevance.doc_labels
    assert ql is not None and dl is not None
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
    return PreparedRelevance(n_docs, keep, n_queries - keep.size, None, q_codes[keep], d_codes, excl[keep], n_rel[keep])


def require_queries(prepared: PreparedRelevance) -> PreparedRelevance:
    if prepared.keep.size == 0:
        raise OptionError("No query has a relevant document; check the relevant indices or labels.")
    return prepared


def query_chunks(n_rows: int, n_cols: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of query blocks holding about ``CHUNK_ELEMS`` scores each."""
    step = max(1, CHUNK_ELEMS // max(n_cols, 1))
    for a in range(0, n_rows, step):
        yield a, min(n_rows, a + step)
