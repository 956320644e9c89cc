"""The geometry report: anisotropy, IsoScore, effective rank, spectrum, rogue and outlier dims.

Cached in the disk cache under the model fingerprint, the corpus hash and the post-processing,
so a page or the CLI asking twice pays once. ``to_dict()`` is the JSON of ``python -m analysis
geometry --format json``. :func:`cosine_sample` (the cosines of random pairs of texts, for a
histogram) is cached the same way, under its view, post-processing, pair count and seed too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from analysis.corpora import Corpus, require_texts_for_statistics
from analysis.encoding import ProgressCallback, view_of
from analysis.models import ResolvedModel
from analysis.options import POSTPROCESSING, check_choice
from analysis.pipeline import EncodeOptions, as_source, concrete_options, get_embeddings
from analysis.pipeline.cache import EmbeddingStore, build_key
from analysis.vectors import VectorSource

REPORT_VERSION = 1
COSINE_SAMPLE_VERSION = 1
COSINE_PAIRS = 20_000  # pairs drawn for a histogram (all pairs when a corpus has fewer)


@dataclass(frozen=True)
class GeometrySummary:
    """One view's geometry (see :func:`analysis.measures.geometry.geometry_summary`)."""

    anisotropy: float
    anisotropy_exact: bool
    anisotropy_centered: float
    isoscore: float
    effective_rank: float
    effective_rank_ratio: float
    n_outlier_dims: int
    top_rogue_dims: list[int]
    top3_rogue_share: float | None
    singular_values: list[float]
    rogue_dimensions: dict[str, list[Any]]  # columns dim, contribution, share, cumulative_share
    outlier_dims: list[int]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeometrySummary:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class GeometryReport:
    """Geometry of both views of one (model, corpus), after an optional post-processing.

    Returned by :func:`geometry_report`; ``to_dict()`` is the JSON of ``python -m analysis geometry``.

    Attributes
    ----------
    model, corpus : str
        What was measured.
    n_texts, dimension : int
        The corpus's texts and the embedding's length.
    postprocessing : str
        What was applied to each view before measuring.
    raw, normalized : GeometrySummary
        Each view's ``anisotropy`` (mean pairwise cosine), ``isoscore``, ``effective_rank``,
        ``singular_values``, ``top_rogue_dims`` (the dims that dominate the cosines) and
        ``outlier_dims``; ``view(name)`` picks one by name.

    Examples
    --------
    >>> from analysis import corpus_from_texts, default_store, geometry_report
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> report = geometry_report("all-MiniLM-L6-v2", corpus_from_texts(texts), store=default_store())
    >>> summary = report.view("normalized")
    >>> round(summary.anisotropy, 2), round(summary.effective_rank, 1), len(summary.singular_values)
    (0.11, 3.0, 4)
    """

    model: str
    corpus: str
    n_texts: int
    dimension: int
    postprocessing: str
    raw: GeometrySummary
    normalized: GeometrySummary

    def view(self, name: str) -> GeometrySummary:
        """The summary of the ``raw`` or ``normalized`` view."""
        return self.raw if check_choice(name, ("raw", "normalized"), "view") == "raw" else self.normalized

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeometryReport:
        values = {f.name: data[f.name] for f in fields(cls)}
        values["raw"] = GeometrySummary.from_dict(data["raw"])
        values["normalized"] = GeometrySummary.from_dict(data["normalized"])
        return cls(**values)


def geometry_report(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus,
    *,
    postprocessing: str = "none",
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> GeometryReport:
    """Anisotropy, IsoScore, effective rank, rogue and outlier dims for both views.

    Cached under the model, the corpus and the post-processing: asking twice pays once.

    Parameters
    ----------
    model : str, ResolvedModel or VectorSource
        A model spec or a resolved model, or a vectors file from :func:`open_vectors`.
    corpus : Corpus
        The texts (a vectors file's ``source.corpus``).
    postprocessing : {"none", "standardize", "all_but_the_top", "whiten"}, default "none"
        Applied to each view before measuring, so its effect can be compared with "none".
    options : EncodeOptions, optional
        What changes the embeddings; ``EncodeOptions()`` by default.
    store : EmbeddingStore
        Where embeddings and the report are looked up and kept: ``default_store()`` for the disk cache.
    progress : callable, optional
        ``progress(done, total)`` receives the texts encoded so far.

    Returns
    -------
    GeometryReport
        Both views' geometry.

    Examples
    --------
    >>> from analysis import corpus_from_texts, default_store, geometry_report
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> report = geometry_report("all-MiniLM-L6-v2", corpus_from_texts(texts), store=default_store())
    >>> report.n_texts, report.dimension, round(report.normalized.anisotropy, 2)
    (4, 384, 0.11)
    >>> geometry_report("all-MiniLM-L6-v2", corpus_from_texts(texts), postprocessing="pca", store=default_store())
    Traceback (most recent call last):
    analysis.errors.OptionError: Unknown post-processing 'pca'; choose one of none, standardize,
    all_but_the_top, whiten.
    """
    from analysis.measures import geometry
    from analysis.measures.postprocess import apply_postprocessing
    from analysis.measures.spectrum import singular_values

    check_choice(postprocessing, POSTPROCESSING, "post-processing")
    require_texts_for_statistics(corpus)
    resolved = as_source(model)
    options = concrete_options(resolved, corpus, options, store=store)  # "auto" resolved before the key
    key = build_key(
        "geometry",
        model=resolved.fingerprint,
        corpus=corpus.content_hash,
        post=postprocessing,
        version=REPORT_VERSION,
        **options.key_parts(resolved),
    )
    cached = store.get_json(key)
    if isinstance(cached, dict):
        try:
            return GeometryReport.from_dict(cached)
        except (KeyError, TypeError):
            store.delete(key)  # an older or damaged record: recompute
    raw = get_embeddings(resolved, corpus, options=options, store=store, progress=progress).raw
    summaries: dict[str, GeometrySummary] = {}
    for view in ("raw", "normalized"):
        matrix = view_of(raw, view)
        if postprocessing != "none":
            matrix = apply_postprocessing(matrix, postprocessing)
        summary = geometry.geometry_summary(matrix)
        summary["singular_values"] = [float(v) for v in singular_values(matrix)]
        summary["rogue_dimensions"] = geometry.rogue_dimensions(matrix, top_k=10).to_dict(orient="list")
        summary["outlier_dims"] = geometry.outlier_dimensions(matrix, k_sigma=3.0)
        summaries[view] = GeometrySummary.from_dict(summary)
    report = GeometryReport(
        model=resolved.name,
        corpus=corpus.name,
        n_texts=int(raw.shape[0]),
        dimension=int(raw.shape[1]),
        postprocessing=postprocessing,
        raw=summaries["raw"],
        normalized=summaries["normalized"],
    )
    store.put_json(key, report.to_dict())
    return report


@dataclass(frozen=True)
class CosineSample:
    """Cosines of random pairs of texts in one view, as they are and after centering.

    ``before`` and ``after`` are float64 in [-1, 1]: every pair when ``n(n-1)/2 <= n_pairs``,
    else ``n_pairs`` pairs drawn with ``seed`` (see
    :func:`analysis.measures.geometry.pairwise_cosine_sample`).
    """

    model: str
    corpus: str
    view: str
    postprocessing: str
    n_pairs: int
    seed: int
    before: np.ndarray
    after: np.ndarray


def cosine_sample(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus,
    *,
    view: str = "normalized",
    postprocessing: str = "none",
    n_pairs: int = COSINE_PAIRS,
    seed: int = 0,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> CosineSample:
    """Cosines of ``n_pairs`` random pairs of texts in ``view`` after ``postprocessing``, before
    and after subtracting the mean vector; cached, so a page drawing the histogram again pays
    nothing. Raises ``OptionError`` when fewer than two rows have a non-zero norm.
    """
    from analysis.measures.geometry import pairwise_cosine_sample
    from analysis.measures.postprocess import apply_postprocessing

    check_choice(view, ("raw", "normalized"), "view")
    check_choice(postprocessing, POSTPROCESSING, "post-processing")
    require_texts_for_statistics(corpus)
    resolved = as_source(model)
    options = concrete_options(resolved, corpus, options, store=store)  # "auto" resolved before the key
    keys = {
        part: build_key(
            "geometry-cosines",
            model=resolved.fingerprint,
            corpus=corpus.content_hash,
            view=view,
            post=postprocessing,
            pairs=n_pairs,
            seed=seed,
            part=part,
            version=COSINE_SAMPLE_VERSION,
            **options.key_parts(resolved),
        )
        for part in ("before", "after")
    }
    before, after = store.get_array(keys["before"]), store.get_array(keys["after"])
    if before is None or after is None:
        raw = get_embeddings(resolved, corpus, options=options, store=store, progress=progress).raw
        matrix = view_of(raw, view)
        if postprocessing != "none":
            matrix = apply_postprocessing(matrix, postprocessing)
        before = pairwise_cosine_sample(matrix, n_pairs=n_pairs, seed=seed)
        after = pairwise_cosine_sample(matrix, n_pairs=n_pairs, seed=seed, center=True)
        store.put_array(keys["before"], before)
        store.put_array(keys["after"], after)
    return CosineSample(
        model=resolved.name,
        corpus=corpus.name,
        view=view,
        postprocessing=postprocessing,
        n_pairs=n_pairs,
        seed=seed,
        before=before,
        after=after,
    )
