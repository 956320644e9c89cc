"""The dimension-selection report: top-variance-k vs PCA-k vs random-k vs all, with a verdict.

``to_dict()`` is the JSON of ``python -m analysis select --format json``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.corpora import Corpus, require_texts_for_statistics
from analysis.encoding import ProgressCallback, view_of
from analysis.errors import OptionError
from analysis.models import ResolvedModel
from analysis.options import check_choice
from analysis.pipeline import EncodeOptions, as_source, concrete_options, get_embeddings
from analysis.pipeline.cache import EmbeddingStore, build_key
from analysis.vectors import VectorSource

if TYPE_CHECKING:  # pandas costs ~0.5 s to import
    import pandas as pd

REPORT_VERSION = 2  # 2: the neighbour count adapts to small corpora and the verdict states it


@dataclass(frozen=True)
class SelectionReport:
    """Scores of every (method, k) on a labelled corpus, the verdict and the variance ranking.

    Returned by :func:`selection_report`; ``to_dict()`` is the JSON of ``python -m analysis select``.

    Attributes
    ----------
    model, corpus, view : str
        What was measured, and in which view.
    verdict : str
        The finding in plain words: what the top-variance dimensions keep, against random and PCA.
    top_variance_order : list of int
        Every dimension, largest variance first.
    attrs : dict
        ``n_rows``, ``n_samples``, ``subsampled``, ``d``, ``n_classes``, ``n_neighbors`` (the count
        used), ``n_neighbors_auto`` (True when it adapted rather than being asked for),
        ``majority_rate``.
    table : dict of lists
        The scores (``ari``, ``nmi``, ``silhouette``, ``knn_accuracy``, ``neighbour_overlap``) per
        method, k and random draw; ``frame()`` gives it as a DataFrame.

    Examples
    --------
    >>> from analysis import default_store, load_corpus, selection_report
    >>> corpus = load_corpus("chatterbot-english", per_label=3)  # 3 texts of each of 18 topics
    >>> report = selection_report("all-MiniLM-L6-v2", corpus, ks=[8, 32], n_random_seeds=2, store=default_store())
    >>> report.attrs["n_classes"], report.attrs["n_samples"], len(report.top_variance_order)
    (18, 54, 384)
    >>> report.frame().groupby("method").size().to_dict()
    {'all': 1, 'pca': 2, 'random': 4, 'top_variance': 2}
    """

    model: str
    corpus: str
    view: str
    verdict: str
    top_variance_order: list[int]  # every dimension, largest variance first
    attrs: dict[str, Any]  # n_rows, n_samples, subsampled, d, n_classes, n_neighbors(_auto), majority_rate
    table: dict[str, list[Any]]  # columns method, k, seed, the scores, n_samples

    def frame(self) -> pd.DataFrame:
        """The score table as a DataFrame (one row per method, k and random draw)."""
        import pandas as pd

        return pd.DataFrame(self.table)

    def summary(self) -> pd.DataFrame:
        """One row per (method, k): each score's mean and std over the random draws (see
        :func:`analysis.measures.selection.summarize_selection`)."""
        from analysis.measures.selection import summarize_selection

        return summarize_selection(self.frame())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelectionReport:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def selection_report(
    model: str | ResolvedModel | VectorSource,
    corpus: Corpus,
    *,
    ks: list[int] | None = None,
    n_random_seeds: int = 5,
    n_neighbors: int | None = None,
    view: str = "normalized",
    options: EncodeOptions | None = None,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> SelectionReport:
    """Top-variance-k vs PCA-k vs random-k vs all dims on a labeled corpus, with a verdict.

    Do the highest-variance dimensions keep the corpus's label structure? Each choice of k
    dimensions is scored by clustering (ARI, NMI, silhouette), kNN accuracy and neighbour overlap.

    Parameters
    ----------
    model : str, ResolvedModel or VectorSource
        A model spec or a resolved model, or a vectors file from :func:`open_vectors`.
    corpus : Corpus
        Labelled texts, more of them than labels (built-in corpora have topics).
    ks : list of int, optional
        The numbers of dimensions to try (default: powers of two from 8, half the dimension and
        all of it).
    n_random_seeds : int, default 5
        Random-k draws per k.
    n_neighbors : int, optional
        The neighbours of kNN accuracy and neighbour overlap. By default it adapts: 10, or half of
        the other texts on a corpus of fewer than 21 (``attrs["n_neighbors"]`` and the verdict say
        which). A count asked for is used as given; more than the texts allow raises OptionError.
    view : {"normalized", "raw"}, default "normalized"
        The view the dimensions are chosen and scored in.
    options : EncodeOptions, optional
        What changes the embeddings; ``EncodeOptions()`` by default.
    store : EmbeddingStore
        Where embeddings and the report are looked up and kept: ``default_store()`` for the disk cache.
    progress : callable, optional
        ``progress(done, total)`` receives the scores computed so far.

    Returns
    -------
    SelectionReport
        The score table and the verdict.

    Raises
    ------
    OptionError
        A corpus without labels, an unknown view, or more neighbours asked for than the corpus has
        other texts.

    Examples
    --------
    >>> from analysis import default_store, load_corpus, selection_report
    >>> corpus = load_corpus("chatterbot-english", per_label=3)  # 3 texts of each of 18 topics
    >>> report = selection_report("all-MiniLM-L6-v2", corpus, ks=[8, 32], n_random_seeds=2, store=default_store())
    >>> report.verdict[:99]
    'On chatterbot-english, the 32 highest-variance dimensions of sentence-transformers/all-MiniLM-L6-v2'
    """
    import pandas as pd

    from analysis.measures.selection import compare_dimension_selection, select_top_variance, selection_verdict

    if corpus.labels is None:
        raise OptionError(
            f"Dimension selection needs a labeled corpus; '{corpus.name}' has no labels. "
            "Pick a built-in corpus with topics or give a label column."
        )
    check_choice(view, ("raw", "normalized"), "view")
    require_texts_for_statistics(corpus)
    resolved = as_source(model)
    options = concrete_options(resolved, corpus, options, store=store)  # "auto" resolved before the key
    key = build_key(
        "selection",
        model=resolved.fingerprint,
        corpus=corpus.content_hash,
        view=view,
        ks=list(ks) if ks else "default",
        seeds=n_random_seeds,
        version=REPORT_VERSION,
        labels=_labels_hash(corpus),
        neighbors="auto" if n_neighbors is None else n_neighbors,
        **options.key_parts(resolved),
    )
    cached = store.get_json(key)
    if isinstance(cached, dict):
        try:
            return SelectionReport.from_dict(cached)
        except (KeyError, TypeError):
            store.delete(key)  # an older or damaged record: recompute
    raw = get_embeddings(resolved, corpus, options=options, store=store, progress=None).raw
    matrix = view_of(raw, view)
    table = compare_dimension_selection(
        matrix,
        list(corpus.labels),
        ks=ks,
        n_random_seeds=n_random_seeds,
        n_neighbors=n_neighbors,
        progress=progress,
    )
    report = SelectionReport(
        model=resolved.name,
        corpus=corpus.name,
        view=view,
        verdict=selection_verdict(table, resolved.name, corpus.name),
        top_variance_order=[int(d) for d in select_top_variance(matrix, matrix.shape[1]).tolist()],
        attrs={k: (v.item() if isinstance(v, (np.integer, np.floating)) else v) for k, v in table.attrs.items()},
        table=pd.DataFrame(table).astype({"seed": "float64"}).to_dict(orient="list"),
    )
    store.put_json(key, report.to_dict())
    return report


def _labels_hash(corpus: Corpus) -> str:
    return hashlib.sha256("\x1f".join(corpus.labels or ()).encode()).hexdigest()[:16]
