"""The statistics result of one (model, corpus, options): both views, the dead rule, and its charts.

A :class:`StatsResult` is what ``get_stats`` returns and every page draws from; it fetches the
embeddings behind it (for the heatmap and label crowding) from the store it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from analysis.corpora import Corpus
from analysis.encoding.views import MODEL_VIEWS
from analysis.errors import OptionError
from analysis.measures import budget as budget_module
from analysis.measures import stats as stats_module
from analysis.options import DIM_ORDERS, HEATMAP_VIEWS, SPREAD_METRICS, VIEWS, check_choice
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
from analysis.pipeline.embeddings import EmbeddingResult, get_embeddings


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

    # The dead rule: a dimension is dead when its normalized std is below this share of the median std.
    dead_threshold: ClassVar[float] = stats_module.DEAD_RELATIVE_THRESHOLD

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

    def headline(self, view: str = "normalized") -> dict[str, float | int]:
        """The few numbers a page shows at the top of ``view``: dimension, dead count, median,
        mean, smallest and largest std (see :func:`analysis.measures.stats.headline`)."""
        return stats_module.headline(self.columns(view), self.dead_dims)

    def std_ratio(self, view: str = "normalized") -> np.ndarray:
        """Each dimension's std in ``view`` over the median std (what the dead rule thresholds)."""
        return stats_module.std_ratio(self.columns(view)["std"])

    def std_rank(self, view: str = "normalized") -> np.ndarray:
        """Each dimension's rank by std in ``view``: 1 for the largest, ties share the best rank."""
        return stats_module.std_rank(self.columns(view)["std"])

    def spread_cut(
        self, view: str = "normalized", *, metric: str = "std", scale: str = "as_is", multiple: float = 1.0
    ) -> budget_module.SpreadCut:
        """A line at ``multiple`` x the median spread of ``view`` and the dimensions below it.

        The spread is ``metric`` (std or variance) on ``scale`` (see
        :func:`analysis.measures.budget.scale_spread`), as the per-dimension bar chart draws it.
        """
        check_choice(metric, SPREAD_METRICS, "spread measure")
        values = budget_module.scale_spread(self.columns(view)[metric], scale, metric=metric)
        return budget_module.spread_cut(values, multiple)

    def _rows(self, what: str) -> Corpus:
        """The corpus these statistics were computed on (a vectors file's own rows)."""
        if self.source is None:
            raise OptionError(f"These statistics were built by hand: no embeddings to {what}.")
        rows = self.source.corpus
        if rows is None and isinstance(self.source.model, VectorSource):
            rows = self.source.model.corpus  # a vectors file's own rows, built only now that they are wanted
        if rows is None:
            raise OptionError(f"These statistics have no corpus to {what}.")
        return rows

    def _embeddings(self, given: EmbeddingResult | None, rows: Corpus) -> EmbeddingResult:
        """The embeddings behind these statistics: ``given`` (already in the caller's hands) when it
        is theirs, else read from the store they came from."""
        source = self.source
        assert source is not None  # _rows said so
        if given is None:
            return get_embeddings(source.model, rows, options=source.options, store=source.store)
        if given.raw.shape != (self.n_texts, self.dimension) or given.model.fingerprint != self.fingerprint:
            raise OptionError(
                f"Those embeddings ({given.raw.shape[0]} x {given.raw.shape[1]} of {given.model.name}) are not "
                f"the ones behind these statistics ({self.n_texts} x {self.dimension} of {self.model_name})."
            )
        return given

    def label_crowding(self, *, embeddings: EmbeddingResult | None = None) -> LabelCrowding:
        """Per-label ``‖μ_c‖²`` and the exact between/within split of the total variance; reads the
        cached embeddings (or takes ``embeddings`` the caller already holds) and needs a labelled
        corpus (see :mod:`analysis.measures.crowding`)."""
        from analysis.measures.crowding import label_crowding

        rows = self._rows("split by label")
        if rows.labels is None:
            raise OptionError(f"The corpus '{self.corpus_name}' has no labels; give one with --label-column.")
        return label_crowding(self._embeddings(embeddings, rows).raw, rows.labels)

    def plot_std(self, view: str = "normalized", *, sort: bool = False, log_y: bool = True) -> go.Figure:
        """Each dimension's std in ``view`` (a plotly figure), dead dimensions marked.

        The dashboard's Overview chart: log scale, with the dead rule's threshold drawn.
        """
        from analysis.figures.spread import std_bar_chart

        median = float(np.median(self.columns(view)["std"])) if self.dimension else 0.0
        threshold = self.dead_threshold
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
        order: str = "index",
        dims: Sequence[int] | None = None,
        every_text: bool = False,
        group_by_label: bool = True,
        embeddings: EmbeddingResult | None = None,
        cap: HeatmapCap | None = None,
    ) -> go.Figure:
        """Texts x dimensions heatmap of ``view`` (a plotly figure); reads the cached embeddings,
        or takes ``embeddings`` the caller already holds.

        ``order``: dimensions by index, or by std or mean |x| of the view, largest first
        (standardized orders by the normalized view); ``dims``: only these dimensions (those the
        model lacks are left out). Texts are grouped by label when the corpus has labels
        (``group_by_label=False``: corpus order); ``every_text`` draws up to
        ``HeatmapCap.every_text()`` rows instead of about one per pixel row; ``cap`` sets the bound
        on the rows, cells and bytes sent yourself.
        """
        from analysis.figures.heatmap import HeatmapCap, dimension_heatmap
        from analysis.figures.view_matrix import DIM_ORDER_NAMES, ViewMatrix, dimension_order

        check_choice(view, HEATMAP_VIEWS, "view")
        check_choice(order, DIM_ORDERS, "dimension order")
        found = self._embeddings(embeddings, self._rows("draw a heatmap from"))
        corpus, raw = found.corpus, found.raw
        normalized = self.normalized_columns
        matrix = ViewMatrix(raw, view, mean=normalized["mean"], std=normalized["std"])
        return dimension_heatmap(
            matrix,
            texts=corpus.texts,
            labels=corpus.labels,
            view_name=view,
            dead_dims=self.dead_dims,
            dims=dimension_order(self.raw if view == "raw" else self.normalized, order, dims),
            dim_order_name=DIM_ORDER_NAMES[order],
            cap=cap or (HeatmapCap.every_text() if every_text else HeatmapCap()),
            group_by_label=group_by_label and corpus.labels is not None,
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
            "dead_rule": f"normalized std < {self.dead_threshold} x median std",
            "views": dict(self.views),
            "engine": self.engine,
            **self.budget.to_dict(),
            "raw": stats_module.stats_records(self.raw_columns),
            "normalized": stats_module.stats_records(self.normalized_columns),
        }
