"""The notebook API: one call from a model and a corpus to statistics you can plot.

>>> import analysis
>>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
>>> result = analysis.stats("all-MiniLM-L6-v2", texts)
>>> result.n_texts, result.dimension, result.dead_dims
(4, 384, [127, 223, 319])
>>> [type(f).__name__ for f in (result.plot_std(), result.plot_heatmap())]
['Figure', 'Figure']

The README runs the same on the default corpus (``tests/test_docs.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analysis.corpora import Corpus
    from analysis.encoding import ProgressCallback
    from analysis.models import ResolvedModel
    from analysis.pipeline import EncodeOptions, StatsResult


def stats(
    model: str | ResolvedModel,
    corpus: str | os.PathLike[str] | Corpus | Sequence[str],
    *,
    options: EncodeOptions | None = None,
    trust_remote_code: bool = False,
    progress: ProgressCallback | None = None,
) -> StatsResult:
    """Per-dimension statistics of ``model`` on ``corpus``: the one call for a notebook.

    Served from the disk cache (``$DIMSCOPE_CACHE_DIR``, else the per-user cache) when it holds
    them, else computed and kept there for the next call and the CLI. :func:`get_stats` is the same
    with the corpus and the store given explicitly.

    Parameters
    ----------
    model : str or ResolvedModel
        A catalog name (``"all-MiniLM-L6-v2"``), a hub id or a model folder.
    corpus : str, path-like, Corpus or sequence of str
        A built-in corpus name, a file path, a corpus, or a list of texts.
    options : EncodeOptions, optional
        ``EncodeOptions(backend="auto")`` by default: the fastest path here that keeps torch fp32's
        statistics (``result.backend_summary`` says which); ``backend="torch"`` for the reference.
    trust_remote_code : bool, default False
        Let a model that ships its own code run it.
    progress : callable, optional
        ``progress(done, total)`` receives the texts encoded so far.

    Returns
    -------
    StatsResult
        ``dead_dims``, both views' statistics (``raw``, ``normalized``: DataFrames), and plotly
        figures from ``plot_std()`` and ``plot_heatmap()``.

    Raises
    ------
    DimScopeError
        An unavailable model, an unreadable corpus or a bad option; the message says how to fix it.

    Examples
    --------
    (Here ``DIMSCOPE_CACHE_DIR`` is a temporary folder; your call caches in your own.)

    >>> import analysis
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> result = analysis.stats("all-MiniLM-L6-v2", texts)
    >>> result.n_texts, result.dimension, result.dead_dims
    (4, 384, [127, 223, 319])
    >>> type(result.plot_std()).__name__
    'Figure'
    """
    from analysis.corpora import as_corpus
    from analysis.models import as_resolved
    from analysis.pipeline import get_stats
    from analysis.pipeline.cache import default_store

    resolved = as_resolved(model, allow_trust_remote_code=trust_remote_code)
    return get_stats(resolved, as_corpus(corpus), options=options, store=default_store(), progress=progress)
