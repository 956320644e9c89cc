"""Cached reports built on the embeddings: geometry, dimension selection, diagnosis vs corpus.

Each report is a JSON-ready dict stored in the disk cache under a key that names the model
fingerprint, the corpus hash and the report's options, so a page or the CLI asking twice
pays once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.cache import EmbeddingStore, build_key, default_store
from analysis.corpora import Corpus
from analysis.embeddings import ProgressCallback, view_of
from analysis.errors import OptionError
from analysis.models import ResolvedModel, resolve_model
from analysis.pipeline import EncodeOptions, get_embeddings, get_stats

REPORT_VERSION = 1
POSTPROCESSING = ("none", "standardize", "all_but_the_top", "whiten")


def _resolved(model: str | ResolvedModel) -> ResolvedModel:
    return model if isinstance(model, ResolvedModel) else resolve_model(model)


def geometry_report(
    model: str | ResolvedModel,
    corpus: Corpus,
    *,
    postprocessing: str = "none",
    options: EncodeOptions | None = None,
    store: EmbeddingStore | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Anisotropy, IsoScore, effective rank, rogue and outlier dims for both views.

    ``postprocessing`` (none, standardize, all_but_the_top, whiten) is applied to each view
    before measuring, so its effect can be compared with "none".
    """
    from analysis import metrics
    from analysis.postprocess import apply_postprocessing

    if postprocessing not in POSTPROCESSING:
        raise OptionError(f"Unknown post-processing '{postprocessing}'; choose one of {', '.join(POSTPROCESSING)}.")
    options = options or EncodeOptions()
    resolved = _resolved(model)
    store = store or default_store()
    key = build_key(
        "geometry", model=resolved.fingerprint, corpus=corpus.content_hash, post=postprocessing,
        version=REPORT_VERSION, **options.key_parts(resolved),
    )
    cached = store.get_json(key)
    if isinstance(cached, dict) and {"raw", "normalized"} <= set(cached):
        return cached
    raw = get_embeddings(resolved, corpus, options=options, store=store, progress=progress).raw
    report: dict[str, Any] = {
        "model": resolved.name,
        "corpus": corpus.name,
        "n_texts": int(raw.shape[0]),
        "dimension": int(raw.shape[1]),
        "postprocessing": postprocessing,
    }
    for view in ("raw", "normalized"):
        matrix = view_of(raw, view)
        if postprocessing != "none":
            matrix = apply_postprocessing(matrix, postprocessing)
        summary = metrics.geometry_summary(matrix)
        spectrum = metrics.singular_values(matrix)
        rogue = metrics.rogue_dimensions(matrix, top_k=10)
        summary["singular_values"] = [float(v) for v in spectrum]
        summary["rogue_dimensions"] = rogue.to_dict(orient="list")
        summary["outlier_dims"] = metrics.outlier_dimensions(matrix, k_sigma=3.0)
        report[view] = summary
    store.put_json(key, report)
    return report


def selection_report(
    model: str | ResolvedModel,
    corpus: Corpus,
    *,
    ks: list[int] | None = None,
    n_random_seeds: int = 5,
    view: str = "normalized",
    options: EncodeOptions | None = None,
    store: EmbeddingStore | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Top-variance-k vs PCA-k vs random-k vs all dims on a labeled corpus, with a verdict."""
    import pandas as pd

    from analysis.selection import compare_dimension_selection, select_top_variance, selection_verdict

    if corpus.labels is None:
        raise OptionError(
            f"Dimension selection needs a labeled corpus; '{corpus.name}' has no labels. "
            "Pick a built-in corpus with topics or give a label column."
        )
    if view not in ("raw", "normalized"):
        raise OptionError(f"Unknown view '{view}'; choose raw or normalized.")
    options = options or EncodeOptions()
    resolved = _resolved(model)
    store = store or default_store()
    key = build_key(
        "selection", model=resolved.fingerprint, corpus=corpus.content_hash, view=view,
        ks=list(ks) if ks else "default", seeds=n_random_seeds, version=REPORT_VERSION,
        labels=_labels_hash(corpus), **options.key_parts(resolved),
    )
    cached = store.get_json(key)
    if isinstance(cached, dict) and "table" in cached:
        return cached
    raw = get_embeddings(resolved, corpus, options=options, store=store, progress=None).raw
    matrix = view_of(raw, view)
    table = compare_dimension_selection(matrix, list(corpus.labels), ks=ks, n_random_seeds=n_random_seeds, progress=progress)
    verdict = selection_verdict(table, resolved.name, corpus.name)
    ranking = select_top_variance(matrix, matrix.shape[1]).tolist()
    report = {
        "model": resolved.name,
        "corpus": corpus.name,
        "view": view,
        "verdict": verdict,
        "top_variance_order": [int(d) for d in ranking],
        "attrs": {k: (v if not isinstance(v, (np.integer, np.floating)) else v.item()) for k, v in table.attrs.items()},
        "table": pd.DataFrame(table).astype({"seed": "float64"}).to_dict(orient="list"),
    }
    store.put_json(key, report)
    return report


def _labels_hash(corpus: Corpus) -> str:
    import hashlib

    return hashlib.sha256("\x1f".join(corpus.labels or ()).encode()).hexdigest()[:16]


def diagnosis_report(model: str | ResolvedModel, corpus_dead_dims: list[int] | None = None) -> dict[str, Any]:
    """The static weight scan, optionally compared with dead dims found on a corpus."""
    from analysis.diagnose import compare_with_corpus, diagnose_model_folder

    resolved = _resolved(model)
    diagnosis = diagnose_model_folder(resolved.path)
    report = {"model": resolved.name, **diagnosis.to_dict()}
    if corpus_dead_dims is not None:
        report["corpus_comparison"] = compare_with_corpus(diagnosis, corpus_dead_dims)
    return report


def stats_and_diagnosis(
    model: str | ResolvedModel, corpus: Corpus, *, store: EmbeddingStore | None = None, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Diagnosis compared with the corpus-based dead dims of the same model."""
    resolved = _resolved(model)
    stats = get_stats(resolved, corpus, store=store, progress=progress)
    # Constant (non-zero) dims count too: the weight scan flags both kinds.
    return diagnosis_report(resolved, sorted(set(stats.dead_dims) | set(stats.constant_dims)))
