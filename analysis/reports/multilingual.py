"""The multilingual report: per-language spread and the cosine between parallel sentences.

A corpus qualifies when it has a ``languages`` column (chatterbot-multilingual, or an upload
with a language column). ``to_dict()`` is the JSON of ``python -m analysis multilingual --format json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.corpora import Corpus, require_texts_for_statistics
from analysis.encoding import ProgressCallback
from analysis.errors import OptionError
from analysis.measures.languages import parallel_cosines, per_language_stats
from analysis.models import ResolvedModel
from analysis.pipeline import EncodeOptions, as_source, get_embeddings
from analysis.pipeline.cache import EmbeddingStore
from analysis.vectors import VectorSource


@dataclass(frozen=True)
class LanguageSpread:
    """One language's texts: how many, their median per-dimension std, and their dead dims."""

    language: str
    n_texts: int
    median_std_raw: float
    median_std_normalized: float
    dead_dims: list[int]
    std_normalized: list[float]


@dataclass(frozen=True)
class LanguagePairs:
    n_pairs: int
    mean_cosine: float


@dataclass(frozen=True)
class ParallelSummary:
    """Cosines between each text and its translation in the pivot language."""

    pivot: str
    n_pairs: int
    mean_cosine: float
    by_language: dict[str, LanguagePairs]


@dataclass(frozen=True)
class MultilingualReport:
    model: str
    corpus: str
    languages: list[LanguageSpread]
    parallel: ParallelSummary | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def multilingual_report(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus,
    *,
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> MultilingualReport:
    """Per-language statistics and parallel cosines for a corpus with a language column."""
    if corpus.languages is None:
        raise OptionError(
            f"'{corpus.name}' has no language column. Use chatterbot-multilingual or upload a file with a "
            "language column."
        )
    require_texts_for_statistics(corpus)
    resolved = as_source(model)
    raw = get_embeddings(resolved, corpus, options=options, store=store, progress=progress).raw
    languages = list(corpus.languages)
    per_language = per_language_stats(raw, languages)
    parallel = parallel_cosines(raw, languages, list(corpus.groups)) if corpus.groups is not None else None
    spreads = [
        LanguageSpread(
            language=language,
            n_texts=info["n_texts"],
            median_std_raw=float(np.median(info["std_raw"])),
            median_std_normalized=float(np.median(info["std_normalized"])),
            dead_dims=info["dead_dims"],
            std_normalized=[float(v) for v in info["std_normalized"]],
        )
        for language, info in per_language.items()
    ]
    summary = None
    if parallel and parallel["n_pairs"]:
        summary = ParallelSummary(
            pivot=parallel["pivot"],
            n_pairs=parallel["n_pairs"],
            mean_cosine=parallel["mean_cosine"],
            by_language={k: LanguagePairs(v["n_pairs"], v["mean_cosine"]) for k, v in parallel["by_language"].items()},
        )
    return MultilingualReport(resolved.name, corpus.name, spreads, summary)
