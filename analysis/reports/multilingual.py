"""The multilingual report: per-language spread and the cosine between parallel sentences.

A corpus qualifies when it has a ``languages`` column (chatterbot-multilingual, or an upload
with a language column). Each language is cut to at most ``max_per_language`` texts first
(:func:`sample_per_language`, the same rows for the Languages page and the CLI), so one large
language does not set the cost. ``to_dict()`` is the JSON of ``python -m analysis multilingual
--format json``.
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

#: Texts per language by default: stable per-dimension spreads, and the 28 languages of
#: chatterbot-multilingual stay near 5,000 texts in all.
MAX_PER_LANGUAGE = 300


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
    ``python -m analysis multilingual``. It measures ``n_texts`` texts: at most ``max_per_language``
    of each language (None: all) out of the corpus's ``n_texts_in_corpus``.

    Attributes
    ----------
    model, corpus : str
        What was measured.
    n_texts, n_texts_in_corpus : int
        The texts measured, of the corpus's texts.
    max_per_language : int or None
        The per-language cap applied before measuring (None: every text).
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
    n_texts: int
    n_texts_in_corpus: int
    max_per_language: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_per_language(corpus: Corpus, max_per_language: int | None) -> Corpus:
    """At most ``max_per_language`` texts of each language (None: the corpus as it is).

    Translated rows come first, groups spanning the most languages first, so every language keeps
    the same groups and the parallel pairs survive; then the rest in corpus order. No randomness:
    the same corpus and cap give the same rows, wherever they are asked for. The corpus itself is
    returned when nothing is cut.
    """
    if max_per_language is None or corpus.languages is None:
        return corpus
    if isinstance(max_per_language, bool) or not isinstance(max_per_language, int) or max_per_language < 1:
        raise OptionError(f"max_per_language must be a whole number of at least 1 (or None), not {max_per_language!r}.")
    groups = corpus.groups or ("",) * len(corpus)
    by_language: dict[str, list[int]] = {}
    span: dict[str, set[str]] = {}
    for row, language in enumerate(corpus.languages):
        by_language.setdefault(language, []).append(row)
        if groups[row]:
            span.setdefault(groups[row], set()).add(language)
    keep: list[int] = []
    for rows in by_language.values():
        rows = sorted(rows, key=lambda r: (groups[r] == "", -len(span.get(groups[r], ())), groups[r], r))
        keep.extend(rows[:max_per_language])
    if len(keep) == len(corpus):
        return corpus
    keep.sort()

    def pick(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(values[r] for r in keep)

    return Corpus(
        f"{corpus.name} (≤{max_per_language} per language)",
        tuple(corpus.texts[r] for r in keep),
        labels=pick(corpus.labels),
        languages=pick(corpus.languages),
        groups=pick(corpus.groups),
        source=corpus.source,
    )


def multilingual_report(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus,
    *,
    max_per_language: int | None = MAX_PER_LANGUAGE,
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
    max_per_language : int or None, default MAX_PER_LANGUAGE (300)
        At most this many texts of each language are measured (:func:`sample_per_language`; the
        Languages page and the CLI use the same rule). None: every text.
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
    sample = sample_per_language(corpus, max_per_language)
    assert sample.languages is not None  # kept by the sampling
    resolved = as_source(model)
    raw = get_embeddings(resolved, sample, options=options, store=store, progress=progress).raw
    languages = list(sample.languages)
    per_language = per_language_stats(raw, languages)
    parallel = parallel_cosines(raw, languages, list(sample.groups)) if sample.groups is not None else None
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
    return MultilingualReport(resolved.name, corpus.name, spreads, summary, len(sample), len(corpus), max_per_language)
