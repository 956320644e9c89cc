"""Predicted against measured: a compress point written into a vector store and searched there.

The task's documents are taken as the chosen point stores them (:func:`analysis.export.vectors_file.
fit_on_corpus`, the export's own transformation: the variant fitted on the documents, as the
compress report fits it), written into a new LanceDB table or FAISS index
(:mod:`analysis.export.store_sinks`) or Chroma collection (:mod:`analysis.export.chroma_sink`), and
the task's queries, mapped the same way, are run through the store's own search. Both sides use
the same queries (those with a relevant document), the same k (10) and the same cutoff:

* recall@10: |relevant in the top 10| / |relevant|, the query's own document left out;
* MRR@10: 1 / the rank of the first relevant document when it is in the top 10, else 0. A store
  answers a top 10, not a full ranking, so the report's full-ranking MRR (also given) is not
  what a store can be measured against.

"predicted" is DimScope's exact scoring of the point with the compress report's code (int8 codes
of both sides with ranges calibrated on the documents, Hamming similarity of sign bits, the top
``RESCORE_CANDIDATES`` re-ranked by the float query against the documents' signs); ties rank the
lower document index first. "measured" is what the store returned. Where the store does
something else, the ``notes`` say what, so no figure claims a setting the store did not apply.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.corpora import RetrievalTask
from analysis.encoding import ProgressCallback
from analysis.export.store_sinks import (
    TOP_K,
    Searched,
    SinkSpec,
    check_width,
    search_faiss,
    search_lancedb,
    write_faiss,
    write_lancedb,
)
from analysis.export.variants import parse_variant
from analysis.export.vectors_file import fit_on_corpus
from analysis.measures.retrieval import RESCORE_CANDIDATES
from analysis.measures.retrieval.codes import (
    HammingScorer,
    RescoreScorer,
    binary_codes,
    int8_codes,
    int8_operands,
)
from analysis.measures.retrieval.metrics import chunk_metrics
from analysis.measures.retrieval.relevance import PreparedRelevance, prepare_relevance, query_chunks, require_queries
from analysis.models import ResolvedModel
from analysis.pipeline.cache import EmbeddingStore
from analysis.pipeline.encode_options import EncodeOptions

METRICS_RULE = (
    f"recall@{TOP_K} and MRR@{TOP_K} (reciprocal rank of the first relevant document within the top {TOP_K}, "
    "else 0) over the same queries (those with a relevant document), each query's own document left out"
)


def _scorer(queries: np.ndarray, documents: np.ndarray, prep: PreparedRelevance, precision: str) -> Any:
    if precision == "int8":
        qi, di = int8_operands(int8_codes(queries, documents)), int8_operands(int8_codes(documents, documents))
        return lambda a, b: qi[a:b] @ di.T
    if precision == "binary":
        return HammingScorer(binary_codes(queries), binary_codes(documents), documents.shape[1])
    if precision == "binary-rescore":
        return RescoreScorer(queries, documents, prep.excl, RESCORE_CANDIDATES)
    return lambda a, b: queries[a:b] @ documents.T


def predicted_at_10(
    queries: np.ndarray, documents: np.ndarray, prep: PreparedRelevance, precision: str
) -> dict[str, float]:
    """DimScope's recall@10, MRR@10 and full-ranking MRR of the point, for the kept ``queries``."""
    scorer = _scorer(queries, documents, prep, precision)
    recall, rr = [], []
    for a, b in query_chunks(prep.keep.size, prep.n_docs):
        S = scorer(a, b)
        _, recall_10, reciprocal, _ = chunk_metrics(S.astype(np.float64, copy=False), prep, a, b)
        recall.append(recall_10)
        rr.append(reciprocal)
    reciprocal = np.concatenate(rr)
    return {
        "recall_at_10": float(np.concatenate(recall).mean()),
        "mrr_at_10": float(np.where(reciprocal >= 1.0 / TOP_K - 1e-12, reciprocal, 0.0).mean()),
        "mrr_full_ranking": float(reciprocal.mean()),
    }


def measured_at_10(ids: list[list[int]], prep: PreparedRelevance) -> dict[str, float]:
    """recall@10 and MRR@10 of the store's answers (one list of ids per kept query, best first)."""
    recall, reciprocal = np.zeros(len(ids)), np.zeros(len(ids))
    for i, found in enumerate(ids):
        relevant = prep.mask(i, i + 1)[0]
        hits = [rank for rank, doc in enumerate(found[:TOP_K], start=1) if relevant[doc]]
        recall[i] = len(hits) / prep.n_rel[i]
        reciprocal[i] = 1.0 / hits[0] if hits else 0.0
    return {"recall_at_10": float(recall.mean()), "mrr_at_10": float(reciprocal.mean())}


def _latency(searched: Searched) -> dict[str, float]:
    ms = np.asarray(searched.seconds) * 1000.0
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "queries": int(ms.size)}


def _notes(scheme: str, precision: str, prep: PreparedRelevance) -> list[str]:
    notes: list[str] = []
    if scheme == "qdrant":
        from analysis.export.qdrant_sink import qdrant_notes

        notes.extend(qdrant_notes(precision))
    elif precision == "int8":
        notes.append(
            "The store quantizes the documents with its own 8-bit scalar quantizer and compares them with the float "
            "query; DimScope's prediction quantizes both sides with ranges calibrated on the documents. "
            + (
                "LanceDB's IVF_SQ keeps ONE range (min, max) for all dimensions (lance's ScalarQuantizer bounds), "
                "trained on a sample (lance.sq.sample_rate 256 per partition), so dimensions of small spread get few "
                "levels: expect it below DimScope's per-dimension int8. One partition, no refine."
                if scheme == "lancedb"
                else "FAISS SQ8 trains each dimension's min and max on the documents (RS_minmax)."
            )
        )
    if precision == "binary-rescore":
        notes.append(
            f"The store re-ranks the top {RESCORE_CANDIDATES} Hamming candidates with the documents' float vectors; "
            "DimScope's prediction re-ranks them with the documents' signs (float query . sign bits as +-1), so the "
            "store can rank better than predicted."
        )
        if scheme == "faiss" and (prep.excl >= 0).any():
            notes.append(
                f"Queries that are documents ask FAISS for {TOP_K + 1} results (their own is dropped), so "
                f"IndexRefineFlat re-ranks {int((TOP_K + 1) * RESCORE_CANDIDATES / TOP_K)} candidates for them, "
                f"not {RESCORE_CANDIDATES}."
            )
    if precision.startswith("binary"):
        notes.append(
            "Equal Hamming distances are common: DimScope ranks tied documents by lower index, the store in its own "
            "order, so figures can differ by ties alone."
        )
    if scheme == "faiss":
        notes.append(
            "A FAISS index holds vectors only: ids are the documents' row numbers; texts and labels are not stored."
        )
    return notes


def check_in_store(
    model: ResolvedModel,
    task: RetrievalTask,
    sink: SinkSpec,
    *,
    variant: str | None,
    precision: str,
    replace: bool,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Write ``task``'s documents at the point (``variant``, ``precision``) into ``sink``, search it with the
    task's queries, and return DimScope's predicted figures beside the store's measured ones."""
    from analysis.reports.compress import compress_report, task_embeddings, task_relevance

    chosen = None if variant is None else parse_variant(variant)
    width = model.info.dimension if model.info else None
    report = compress_report(
        model,
        task,
        ks=None if chosen is None else chosen.compress_ks(width),
        options=options,
        store=store,
        progress=progress,
    )
    queries, documents = task_embeddings(model, task, options=options, store=store)
    fitted = fit_on_corpus(documents, variant)
    stored_documents = documents if fitted is None else fitted.apply(documents)
    stored_queries = queries if fitted is None else fitted.apply(queries)
    check_width(sink, precision, int(stored_documents.shape[1]))
    prep = require_queries(prepare_relevance(task_relevance(task), len(stored_queries), len(stored_documents)))
    kept_queries = np.ascontiguousarray(stored_queries[prep.keep], dtype=np.float32)
    predicted = predicted_at_10(kept_queries, stored_documents, prep, precision)
    notes = _notes(sink.scheme, precision, prep)
    labels = None if task.labels is None else list(task.labels)
    texts = list(task.documents.texts)
    if sink.scheme == "lancedb":
        settings = write_lancedb(sink, stored_documents, texts, labels, precision)
        searched = search_lancedb(sink, kept_queries, precision, prep.excl.tolist())
    elif sink.scheme == "chroma":
        from analysis.export.chroma_sink import chroma_notes, search_chroma, write_chroma

        settings = write_chroma(sink, stored_documents, texts, labels, precision, replace)
        searched = search_chroma(sink, kept_queries, prep.excl.tolist())
        notes += chroma_notes(predicted, measured_at_10(searched.ids, prep), settings)
    elif sink.scheme == "qdrant":
        from analysis.export.qdrant_sink import search_qdrant, write_qdrant

        settings = write_qdrant(sink, stored_documents, texts, labels, precision, replace)
        searched = search_qdrant(sink, kept_queries, precision, prep.excl.tolist())
    else:
        settings = write_faiss(sink, stored_documents, precision, replace)
        searched = search_faiss(sink, kept_queries, precision, prep.excl.tolist())
    measured = measured_at_10(searched.ids, prep)
    # The report's own row for this point, when it scores it (int8 and binary only at full width).
    row_name = precision if variant is None else (variant if precision == "float32" else None)
    report_row = next((v.to_dict() for v in report.variants if v.name == row_name), None)
    return {
        "model": report.model,
        "task": report.task,
        "store": sink.scheme,
        "target": sink.display,
        "variant": variant or "all",
        "precision": precision,
        "dimensions": int(stored_documents.shape[1]),
        "n_documents": int(stored_documents.shape[0]),
        "n_queries": int(prep.keep.size),
        "metrics": METRICS_RULE,
        "recall_at_10": {"predicted": predicted["recall_at_10"], "measured": measured["recall_at_10"]},
        "mrr_at_10": {"predicted": predicted["mrr_at_10"], "measured": measured["mrr_at_10"]},
        "latency": {"predicted": None, "measured": _latency(searched)},
        "predicted_mrr_full_ranking": predicted["mrr_full_ranking"],
        "compress_report_row": report_row,
        "settings": settings,
        "notes": notes,
    }
