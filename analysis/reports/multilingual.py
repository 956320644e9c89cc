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
    """Per-language spread and parallel-sentence cosines of one (model, corpus).

    Returned by :func:`multilingual_report`; ``to_dict()`` is the JSON of
    ``python -m analysis multilingual``.

    Attributes
    ----------
    model, corpus : str
        What was measured.
    languages : list of LanguageSpread
        One per language, in order: ``language``, ``n_texts``, ``median_std_raw``,
        ``median_std_normalized``, ``dead_dims`` and ``std_normalized`` (per dimension).
    parallel : ParallelSummary or None
        When the corpus has groups: the ``pivot`` language ("english", else the most common one),
        ``n_pairs``, the ``mean_cosine`` between each text and its translation in the pivot, and the
        same ``by_language``.

    Examples
    --------
    >>> from analysis import Corpus, default_store, multilingual_report
    >>> corpus = Corpus(
    ...     "greetings",
    ...     ("good morning", "bonjour", "guten Morgen", "thank you", "merci", "danke"),
    ...     languages=("english", "french", "german") * 2,
    ...     groups=("1", "1", "1", "2", "2", "2"),  # which texts translate each other
    ... )
    >>> report = multilingual_report("all-MiniLM-L6-v2", corpus, store=default_store())
    >>> [(spread.language, spread.n_texts) for spread in report.languages]
    [('english', 2), ('french', 2), ('german', 2)]
    >>> report.parallel.pivot, report.parallel.n_pairs, sorted(report.parallel.by_language)
    ('english', 4, ['french', 'german'])
    """

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
    """Per-language statistics and parallel cosines for a corpus with a language column.

    Parameters
    ----------
    model : str, ResolvedModel or VectorSource
        A model spec or a resolved model, or a vectors file from :func:`open_vectors`.
    corpus : Corpus
        Texts with ``languages`` (chatterbot-multilingual, or a file with a language column), and
        ``groups`` of translations of one sentence for the parallel cosines.
    options : EncodeOptions, optional
        What changes the embeddings; ``EncodeOptions()`` by default.
    store : EmbeddingStore
        Where embeddings are looked up and kept: ``default_store()`` for the disk cache.
    progress : callable, optional
        ``progress(done, total)`` receives the texts encoded so far.

    Returns
    -------
    MultilingualReport
        Each language's spread, and how close translations land.

    Raises
    ------
    OptionError
        A corpus without a language column.

    Examples
    --------
    >>> from analysis import Corpus, default_store, multilingual_report
    >>> corpus = Corpus(
    ...     "greetings",
    ...     ("good morning", "bonjour", "guten Morgen", "thank you", "merci", "danke"),
    ...     languages=("english", "french", "german") * 2,
    ...     groups=("1", "1", "1", "2", "2", "2"),  # which texts translate each other
    ... )
    >>> report = multilingual_report("all-MiniLM-L6-v2", corpus, store=default_store())
    >>> all({127, 223, 319} <= set(spread.dead_dims) for spread in report.languages)  # dead in every language
    True
    >>> 0 < report.parallel.mean_cosine < 1
    True
    """
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
