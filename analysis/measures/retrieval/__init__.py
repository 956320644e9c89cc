"""Retrieval quality per storage choice: what do kept dimensions and bits keep, at what bytes?

The product question is "what can I drop?". Given a model's embeddings of the user's own
queries and documents and which documents are relevant to each query, every *variant*
(fewer dimensions, int8, binary, ...) is scored on the same retrieval task as the full
float32 vectors, and reported with its storage cost in bytes per document vector.

Inputs
------
* ``queries`` (Q x d) and ``documents`` (N x d): real matrices whose rows are already
  L2-normalized (unit length, checked to 1e-3). They are used as float32.
* ``relevance``: a :class:`Relevance`, either ``Relevance.pairs(relevant)`` (query i has the
  single relevant document ``relevant[i]``) or ``Relevance.labels(query_labels, doc_labels)``
  (every document with the query's label is relevant). Both take ``query_doc_index``: that
  document is removed from its own query's ranking (and so from its relevant set). Queries
  left with no relevant document are excluded from every mean and counted.

Ranking and metrics
-------------------
A ranking sorts documents by descending score; **equal scores rank the lower document
index first**, so every figure is exactly reproducible, also for integer scores (int8,
Hamming) where ties are common. recall@k, MRR (over the full ranking) and nDCG@10 (binary
gains; the ideal DCG counts every relevant document) are defined in
:mod:`~analysis.measures.retrieval.metrics`. Scores are produced and evaluated in chunks of
queries (about 1M scores at a time), so the Q x N matrix is never held whole.

Modules
-------
* :mod:`~analysis.measures.retrieval.relevance`: :class:`Relevance` and the query chunks;
* :mod:`~analysis.measures.retrieval.metrics`: rankings, reference and fast metrics;
* :mod:`~analysis.measures.retrieval.codes`: int8 codes (as sentence-transformers), sign bits,
  Hamming similarity, binary rescoring;
* :mod:`~analysis.measures.retrieval.variants`: every variant scored, with its bytes;
* :mod:`~analysis.measures.retrieval.readiness`: per-dimension bit balance, int8 range,
  cosine share and harmful dimensions;
* :mod:`~analysis.measures.retrieval.verdicts`: the Matryoshka check and the storage verdict.

Only numpy (and scipy's BLAS through :mod:`analysis.measures.matrix`); no torch, no
sentence-transformers.
"""

from analysis.measures.retrieval.codes import (
    RESCORE_CANDIDATES,
    binary_codes,
    binary_rescore_scores,
    hamming_similarity,
    int8_codes,
    int8_ranges,
    int8_scores,
)
from analysis.measures.retrieval.metrics import (
    RetrievalMetrics,
    mrr,
    ndcg_at_10,
    rank_documents,
    recall_at_k,
    score_metrics,
)
from analysis.measures.retrieval.readiness import (
    CosineShare,
    CosineShareResult,
    HarmfulDimensions,
    bit_balance,
    cosine_share,
    harmful_dimensions,
    int8_range_over_std,
)
from analysis.measures.retrieval.relevance import Relevance
from analysis.measures.retrieval.variants import DEFAULT_KS, VariantScore, evaluate_variants, ladder
from analysis.measures.retrieval.verdicts import MATRYOSHKA_RULE, matryoshka_verdict, storage_verdict

__all__ = [
    "DEFAULT_KS",
    "MATRYOSHKA_RULE",
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
    "int8_ranges",
    "int8_scores",
    "ladder",
    "matryoshka_verdict",
    "mrr",
    "ndcg_at_10",
    "rank_documents",
    "recall_at_k",
    "score_metrics",
    "storage_verdict",
]
