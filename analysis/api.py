"""The notebook API: one call from a model and a corpus to statistics you can plot.

>>> import analysis
>>> result = analysis.stats("all-MiniLM-L6-v2", "chatterbot-english")  # doctest: +SKIP
>>> result.dead_dims                                                    # doctest: +SKIP
[127, 223, 319]
>>> fig = result.plot_std(); fig = result.plot_heatmap()                # doctest: +SKIP

The README runs the same lines as a real doctest (``tests/test_docs.py``).
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
    """Per-dimension statistics of ``model`` on ``corpus``, from the disk cache or computed.

    ``model``: a catalog name (``"all-MiniLM-L6-v2"``), a hub id or a model folder.
    ``corpus``: a built-in corpus name, a file path, or a list of strings.
    The result holds ``dead_dims``, both views' statistics (``raw``, ``normalized``: DataFrames)
    and draws itself: ``plot_std()`` and ``plot_heatmap()`` return plotly figures.
    """
    from analysis.corpora import as_corpus
    from analysis.models import as_resolved
    from analysis.pipeline import get_stats

    resolved = as_resolved(model, allow_trust_remote_code=trust_remote_code)
    return get_stats(resolved, as_corpus(corpus), options=options, progress=progress)
