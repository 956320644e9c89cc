"""A trimmed model: the compress report's variant as a sentence-transformers folder.

:func:`export_model` scores the task with the cached ``compress`` report, fits the variant's map
on the same document embeddings (:mod:`analysis.export.variants`), writes the folder
(:mod:`analysis.export.folder`) with its model card (:mod:`analysis.export.card`) and, for
``precision`` int8 or binary, ``quantization.json``. The variant's own vectors are scored again
at that precision (the report's int8 and binary rows are of the full-width model), so the card's
figures are the exported thing's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.corpora import Corpus, RetrievalTask
from analysis.encoding import ProgressCallback
from analysis.errors import OptionError
from analysis.export.card import model_card
from analysis.export.folder import (
    SOURCE_README,
    append_dense_and_normalize,
    check_output_folder,
    copy_source_model,
    ends_with_normalize,
    staged_folder,
    update_st_config,
    write_json,
)
from analysis.export.variants import ExportVariant, Projection, parse_variant, projection
from analysis.models import ResolvedModel
from analysis.pipeline.cache import EmbeddingStore
from analysis.pipeline.encode_options import EncodeOptions
from analysis.vectors import VectorSource

PRECISIONS = ("float32", "int8", "binary")
PROVENANCE_KEY = "dimscope"
QUANTIZATION_FILE = "quantization.json"
MEASURED_KEYS = ("name", "dims", "bytes_per_vector", "recall_at_10", "ndcg_at_10", "retention")


@dataclass(frozen=True)
class ExportResult:
    """What was written: the folder, how (``dense`` or ``truncate_dim``) and the provenance it records."""

    path: Path
    method: str
    provenance: dict[str, Any]

    @property
    def dimension(self) -> int:
        return int(self.provenance["output_dimension"])


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise OptionError(f"Unknown precision {str(precision)[:30]!r}: use {', '.join(PRECISIONS)}.")
    return precision


def check_exportable(model: object) -> ResolvedModel:
    """A model DimScope can rebuild as a folder; vectors given as a file have no model to export."""
    if not isinstance(model, ResolvedModel):
        raise OptionError("Vectors given as a file have no model to export; export from the model that made them.")
    return model


def export_model(
    model: ResolvedModel | VectorSource,
    task: RetrievalTask | Corpus,
    variant: str,
    output: str | Path,
    *,
    precision: str = "float32",
    revision: str | None = None,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Write ``model`` with ``variant`` (fitted on ``task``'s documents) to the new or empty folder
    ``output``; see the module docstring. ``task`` may be plain texts (a :class:`Corpus`): the variant
    is then fitted on them as on documents, and the card says nothing was measured. Bad input raises
    before any encoding; nothing is left behind on failure."""
    model = check_exportable(model)
    precision = check_precision(precision)
    out = check_output_folder(output)
    chosen = parse_variant(variant, model.info.dimension if model.info else None)
    options = options or EncodeOptions()
    fit = _fit(model, task, chosen, precision, options=options, store=store, progress=progress)
    with staged_folder(out) as stage:
        modules = copy_source_model(model.path, stage)
        method = "truncate_dim" if chosen.family == "prefix" and ends_with_normalize(modules) else "dense"
        provenance = _provenance(model, task, fit, chosen, method, revision, stage)
        quantization = _quantization(fit.fitted.apply(fit.documents), precision, task)
        if quantization:
            provenance["quantization"] = quantization
            write_json(stage / QUANTIZATION_FILE, quantization)
        if method == "dense":
            append_dense_and_normalize(stage, modules, fit.fitted.weight)
            update_st_config(stage, {PROVENANCE_KEY: provenance})
        else:
            update_st_config(stage, {"truncate_dim": fit.fitted.n_out, PROVENANCE_KEY: provenance})
        (stage / "README.md").write_text(model_card(provenance), encoding="utf-8")
    return ExportResult(out, method, provenance)


@dataclass(frozen=True)
class _Fit:
    """The variant fitted on the documents, and what was measured (nothing for plain texts)."""

    fitted: Projection
    documents: np.ndarray
    dead_dims: list[int]
    measured: list[dict[str, Any]]
    n_queries: int
    backend: str


def _fit(
    model: ResolvedModel,
    task: RetrievalTask | Corpus,
    chosen: ExportVariant,
    precision: str,
    *,
    options: EncodeOptions,
    store: EmbeddingStore,
    progress: ProgressCallback | None,
) -> _Fit:
    from analysis.encoding import view_of
    from analysis.measures.stats import dead_dimensions
    from analysis.pipeline import get_embeddings
    from analysis.pipeline.encode_options import concrete_options
    from analysis.reports.compress import compress_report, task_embeddings, task_relevance

    if isinstance(task, Corpus):  # plain texts: fitted as the report fits documents, nothing to score
        concrete = concrete_options(model, task, options, store=store, progress=progress)
        result = get_embeddings(model, task, options=concrete, store=store, progress=progress)
        documents = view_of(result.raw, "normalized")
        chosen = parse_variant(chosen.name, int(documents.shape[1]))
        dead = dead_dimensions(documents.astype(np.float64).std(axis=0))
        return _Fit(projection(chosen, documents, dead), documents, dead, [], 0, concrete.backend)
    width = model.info.dimension if model.info else None
    if width is None:  # a folder the catalog does not know: its width is the embeddings' (then cached)
        width = int(task_embeddings(model, task, options=options, store=store, progress=progress)[1].shape[1])
        chosen = parse_variant(chosen.name, width)
    report = compress_report(model, task, ks=chosen.compress_ks(width), options=options, store=store, progress=progress)
    queries, documents = task_embeddings(model, task, options=options, store=store)
    fitted = projection(chosen, documents, report.dead_dims)
    measured = _measure(report, fitted, queries, documents, task_relevance(task), precision)
    return _Fit(fitted, documents, report.dead_dims, measured, report.n_queries, report.backend)


def _measure(
    report: Any, fitted: Projection, queries: np.ndarray, documents: np.ndarray, relevance: Any, precision: str
) -> list[dict[str, Any]]:
    """Rows of the card's table: the source model's float32, the variant, and the variant at ``precision``
    (scored here with the report's own code, retention against the source's float32)."""
    from analysis.measures.retrieval import evaluate_variants

    reference = report.variant("float32")
    rows = [{**reference.to_dict(), "name": "float32 (source model)"}]
    k = fitted.n_out
    scored = evaluate_variants(
        fitted.apply(queries), fitted.apply(documents), relevance, dead_dims=[], ks=[k], n_draws=1
    )
    by_name = {v.name: v for v in scored}
    names = ["float32"] + {"int8": ["int8"], "binary": ["binary", "binary-rescore"]}.get(precision, [])
    for name in names:
        v = by_name[name].to_dict()
        v["retention"] = v["ndcg_at_10"] / reference.ndcg_at_10 if reference.ndcg_at_10 > 0 else None
        v["name"] = "exported model" + ("" if name == "float32" else f", {name}")
        rows.append(v)
    return [
        {key: row[key] for key in ("name", "dims", "bytes_per_vector", "recall_at_10", "ndcg_at_10", "retention")}
        for row in rows
    ]


def _source_revision(model: ResolvedModel, revision: str | None) -> str | None:
    """The commit of a hub snapshot folder (``.../snapshots/<commit>``), else the revision asked for."""
    path = Path(model.path)
    if model.source == "hub" and path.parent.name == "snapshots":
        return path.name
    return revision


def _source_license(stage: Path) -> str | None:
    """The ``license:`` of the source card's front matter, carried over to the new card."""
    card = stage / SOURCE_README
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    for line in text.split("---", 2)[1].splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "license" and value.strip():
            return value.strip().strip("'\"")[:60]
    return None


def _provenance(
    model: ResolvedModel,
    task: RetrievalTask | Corpus,
    fit: _Fit,
    chosen: ExportVariant,
    method: str,
    revision: str | None,
    stage: Path,
) -> dict[str, Any]:
    from analysis.settings import VERSION

    return {
        "dimscope_version": VERSION,
        "method": method,
        "source_model": {
            "name": model.name,
            "source": model.source,
            "fingerprint": model.fingerprint,
            "revision": _source_revision(model, revision),
            "requested_revision": revision,
        },
        "license": _source_license(stage),
        "source_card": SOURCE_README if (stage / SOURCE_README).is_file() else None,
        "corpus": {
            "task": task.name,
            "mode": "texts" if isinstance(task, Corpus) else task.mode,
            "queries_hash": None if isinstance(task, Corpus) else task.queries.content_hash,
            "documents_hash": task.content_hash if isinstance(task, Corpus) else task.documents.content_hash,
            "relevance_hash": None if isinstance(task, Corpus) else task.relevance_hash,
            "n_queries": fit.n_queries,
            "n_documents": len(task) if isinstance(task, Corpus) else len(task.documents),
        },
        "backend": fit.backend,
        "variant": {"name": chosen.name, "family": chosen.family, "k": chosen.k},
        "input_dimension": int(fit.documents.shape[1]),
        "output_dimension": fit.fitted.n_out,
        "kept_dims": fit.fitted.kept_dims,
        "dropped_dims": fit.fitted.dropped_dims,
        "dead_dims": fit.dead_dims,
        "measured": fit.measured,
    }


def _quantization(stored_documents: np.ndarray, precision: str, task: RetrievalTask | Corpus) -> dict[str, Any] | None:
    """``quantization.json``: int8 ranges calibrated on the variant's document vectors, or the binary rule."""
    from analysis.measures.retrieval import int8_ranges

    if precision == "float32":
        return None
    n = len(task) if isinstance(task, Corpus) else len(task.documents)
    calibrated_on = f"the {n:,} {'texts' if isinstance(task, Corpus) else 'documents'} of {task.name}"
    if precision == "int8":
        return {
            "precision": "int8",
            "ranges": int8_ranges(stored_documents).astype(np.float64).tolist(),
            "calibrated_on": calibrated_on,
            "rule": "code = clip(floor((x - min) / ((max - min) / 255)), 0, 255) - 128 per dimension, in float32: "
            "sentence_transformers quantize_embeddings(x, precision='int8', ranges=np.array(ranges, dtype=np.float32))",
            "bytes_per_vector": int(stored_documents.shape[1]),
        }
    return {
        "precision": "binary",
        "rule": "bit = x > 0, packed with numpy.packbits(x > 0, axis=-1): sentence_transformers "
        "quantize_embeddings(x, precision='ubinary'); compared by Hamming distance",
        "bytes_per_vector": int(-(-stored_documents.shape[1] // 8)),
    }
