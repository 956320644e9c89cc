"""The statistics result of one (model, corpus, options): both views, the dead rule, and its charts.

A :class:`StatsResult` is what ``get_stats`` returns and every page draws from; it fetches the
embeddings behind it (for the heatmap and label crowding) from the store it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.corpora import Corpus
from analysis.encoding.views import MODEL_VIEWS
from analysis.errors import OptionError
from analysis.measures import budget as budget_module
from analysis.measures import stats as stats_module
from analysis.options import HEATMAP_VIEWS, VIEWS, check_choice
from analysis.pipeline.cache import EmbeddingStore
from analysis.pipeline.encode_options import (
    EncodeOptions,
    ModelSource,
    describe_backend,
)
from analysis.pipeline.stats_records import (
    StatColumns,
)
from analysis.vectors import VectorSource

if TYPE_CHECKING:  # pandas and plotly cost ~0.5 s each to import; a cached page may not need them
    import pandas as pd
    import plotly.graph_objects as go

    from analysis.figures.heatmap import HeatmapCap
    from analysis.measures.crowding import LabelCrowding
from analysis.pipeline.embeddings import get_embeddings


@dataclass(frozen=True)
class EmbeddingSource:
    """The (model, corpus, options, store) a result was computed from (a vectors file's corpus: its rows)."""

    model: ModelSource
    corpus: Corpus | None
    options: EncodeOptions
    store: EmbeddingStore


@dataclass
class StatsResult:
    """Per-dimension statistics of both views of one (model, corpus, options).

    Returned by :func:`get_stats` and :func:`stats`. The statistics are kept as numpy columns
    (:meth:`columns`); :meth:`view`, ``raw`` and ``normalized`` build pandas DataFrames on first
    use, so that callers which only need the numbers never import pandas. :meth:`plot_std` and
    :meth:`plot_heatmap` draw plotly figures; :meth:`label_crowding` splits the variance by label.

    Attributes
    ----------
    model_name, corpus_name : str
        What was measured.
    n_texts, dimension : int
        The corpus's texts and the embedding's length.
    raw, normalized : pandas.DataFrame
        One row per dimension: ``dim``, ``mean``, ``std``, ``variance``, ``min``, ``max``,
        ``abs_mean``, ``near_zero_share``. Raw is the pooled output before the model's Normalize.
    dead_dims : list of int
        Dimensions whose normalized std is below 1% of the median std.
    constant_dims : list of int
        Dimensions that never vary, at a non-zero raw value.
    budget : VarianceBudget
        The normalized view's variance budget: ``mean_cosine``, ``effective_dims``, ``median_std``...
    from_cache : bool
        True when the statistics were read, not computed.
    backend, backend_summary : str
        The backend that encoded, and a sentence on its speed and drift from torch fp32.
    n_truncated_tokens : int or None
        Texts longer than the model's maximum sequence length (cut by the tokenizer).
    warnings : list of str
        What went wrong with the cache during the request (the work went on uncached).

    Examples
    --------
    >>> from analysis import corpus_from_texts, default_store, get_stats
    >>> texts = ["the cat sat on the mat", "stocks fell sharply", "a recipe for bread", "rain all week"]
    >>> result = get_stats("all-MiniLM-L6-v2", corpus_from_texts(texts), store=default_store())
    >>> result.normalized.loc[[127, 223, 319], "std"].round(6).tolist()
    [0.0, 0.0, 0.0]
    >>> round(result.budget.median_std, 2), round(result.budget.mean_cosine, 2)
    (0.04, 0.11)
    >>> [type(figure).__name__ for figure in (result.plot_std(), result.plot_heatmap())]
    ['Figure', 'Figure']
    """

    model_name: str
    fingerprint: str
    corpus_name: str
    corpus_hash: str
    n_texts: int
    dimension: int
    raw_columns: StatColumns
    normalized_columns: StatColumns
    dead_dims: list[int]
    from_cache: bool
    # Raw-view std near zero but not dead: the dimension never varies, at a non-zero value.
    constant_dims: list[int] = field(default_factory=list)
    n_truncated_tokens: int | None = None
    warnings: list[str] = field(default_factory=list)
    # What raw and normalized mean here (a model's pooled vector, or a file's vectors as given).
    views: dict[str, str] = field(default_factory=lambda: dict(MODEL_VIEWS))
    engine: str = "local"  # where the statistics were computed: "local" or "ray"
    # The backend that encoded ("auto" resolved), its normalized-std drift from torch fp32 and its
    # speedup over torch on this machine's calibration (None when it was not measured here).
    backend: str = "torch"
    backend_drift: float | None = None
    backend_speedup: float | None = None
    backend_note: str | None = None  # "auto" encoded with torch: its preparation's line (preparation.status_line)
    # Where the statistics came from, so that the embeddings can be read back for a heatmap.
    source: EmbeddingSource | None = field(default=None, repr=False, compare=False)
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False, compare=False)

    def columns(self, name: str) -> StatColumns:
        """One view's statistics as numpy arrays (``dim``, ``mean``, ``std``, ...)."""
        return self.raw_columns if check_choice(name, VIEWS, "view") == "raw" else self.normalized_columns

    def view(self, name: str) -> pd.DataFrame:
        """One view's statistics as a DataFrame with columns ``stats.STAT_COLUMNS``."""
        columns = self.columns(name)
        if name not in self._frames:
            self._frames[name] = stats_module.frame_from_columns(columns)
        return self._frames[name]

    @property
    def raw(self) -> pd.DataFrame:
        return self.view("raw")

    @property
    def backend_summary(self) -> str:
        """One line for a page: "encoded with openvino bf16, 2.3x faster than torch, std within 6e-5 ..."."""
        return describe_backend(self.backend, self.backend_drift, self.backend_speedup)

    @property
    def normalized(self) -> pd.DataFrame:
        return self.view("normalized")

    @property
    def budget(self) -> budget_module.VarianceBudget:
        """The normalized view's variance budget (``‖μ‖²``, total variance, mean cosine, ...), from
        the statistics alone; see :mod:`analysis.measures.budget`."""
        columns = self.normalized_columns
        return budget_module.variance_budget(columns["mean"], columns["variance"], self.n_texts)

    def label_crowding(self) -> LabelCrowding:
        """Per-label ``‖μ_c‖²`` and the exact between/within split of the total variance; reads the
        cached embeddings and needs a labelled corpus (see :mod:`analysis.measures.crowding`)."""
        from analysis.measures.crowding import label_crowding

        if self.source is None:
            raise OptionError("These statistics were built by hand: no embeddings to split by label.")
        source = self.source
        rows = source.corpus
        if rows is None and isinstance(source.model, VectorSource):
            rows = source.model.corpus  # a vectors file's own rows, built only now that labels are wanted
        if rows is None:
            raise OptionError("These statistics have no corpus to split by label.")
        if rows.labels is None:
            raise OptionError(f"The corpus '{self.corpus_name}' has no labels; give one with --label-column.")
        embeddings = get_embeddings(source.model, rows, options=source.options, store=source.store)
        return label_crowding(embeddings.raw, rows.labels)

    def plot_std(self, view: str = "normalized", *, sort: bool = False, log_y: bool = True) -> go.Figure:
        """Each dimension's std in ``view`` (a plotly figure), dead dimensions marked.

        The dashboard's Overview chart: log scale, with the dead rule's threshold drawn.
        """
        from analysis.figures.spread import std_bar_chart

        median = float(np.median(self.columns(view)["std"])) if self.dimension else 0.0
        threshold = stats_module.DEAD_RELATIVE_THRESHOLD
        return std_bar_chart(
            self.columns(view),
            dead_dims=self.dead_dims,
            sort=sort,
            log_y=log_y,
            view_name=view,
            threshold=threshold * median,
            threshold_label=f"{threshold:.0%} of the median std",
        )

    def plot_heatmap(
        self,
        view: str = "normalized",
        *,
        every_text: bool = False,
        group_by_label: bool = True,
        cap: HeatmapCap | None = None,
    ) -> go.Figure:
        """Texts x dimensions heatmap of ``view`` (a plotly figure); reads the cached embeddings.
        Texts are grouped by label when the corpus has labels (``group_by_label=False``: corpus order).
        ``cap`` bounds the rows sent (default: the page's, or every text up to its limit with ``every_text``)."""
        from analysis.figures.heatmap import HeatmapCap, dimension_heatmap
        from analysis.figures.view_matrix import ViewMatrix

        if self.source is None:
            raise OptionError("These statistics were built by hand: no embeddings to draw a heatmap from.")
        embeddings = get_embeddings(
            self.source.model, self.source.corpus, options=self.source.options, store=self.source.store
        )
        corpus, raw = embeddings.corpus, embeddings.raw
        normalized = self.normalized_columns
        matrix = ViewMatrix(
            raw, check_choice(view, HEATMAP_VIEWS, "view"), mean=normalized["mean"], std=normalized["std"]
        )
        return dimension_heatmap(
            matrix,
            texts=corpus.texts,
            labels=corpus.labels,
            view_name=view,
            dead_dims=self.dead_dims,
            cap=cap or (HeatmapCap.every_text() if every_text else HeatmapCap()),
            group_by_label=group_by_label,
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "fingerprint": self.fingerprint,
            "corpus": self.corpus_name,
            "corpus_hash": self.corpus_hash,
            "dimension": self.dimension,
            "n_texts": self.n_texts,
            "dead_dims": self.dead_dims,
            "constant_dims": self.constant_dims,
            "n_truncated_tokens": self.n_truncated_tokens,
            "backend": self.backend,
            "backend_drift": self.backend_drift,
            "backend_speedup": self.backend_speedup,
            "dead_rule": f"normalized std < {stats_module.DEAD_RELATIVE_THRESHOLD} x median std",
            "views": dict(self.views),
            "engine": self.engine,
            **self.budget.to_dict(),
            "raw": stats_module.stats_records(self.raw_columns),
            "normalized": stats_module.stats_records(self.normalized_columns),
        }
