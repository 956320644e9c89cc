"""Every option list, defined once: the library validates with these and the dashboard offers them.

The first entry of each tuple is its default where a default exists.
"""

from __future__ import annotations

#: Statistics views: the L2-normalized vectors (what most models return) and the pooled
#: vectors before the model's own Normalize module.
VIEWS: tuple[str, ...] = ("normalized", "raw")
#: Heatmap values: the two views, plus the normalized view z-scored per dimension.
HEATMAP_VIEWS: tuple[str, ...] = ("normalized", "raw", "standardized")
#: Dimension orders of the heatmap.
DIM_ORDERS: tuple[str, ...] = ("index", "std", "abs_mean")
#: Text orders of the heatmap.
ROW_ORDERS: tuple[str, ...] = ("corpus", "label")
#: Per-dimension spread measures of the bar chart.
SPREAD_METRICS: tuple[str, ...] = ("std", "variance")
#: Scales of per-dimension spread: as is, std x sqrt(d) (1.0 = an isotropic share of unit
#: vectors), and each dimension's share of the total variance (see analysis.measures.budget).
SPREAD_SCALES: tuple[str, ...] = ("as_is", "sqrt_d", "share")
#: Post-processing applied before geometry metrics.
POSTPROCESSING: tuple[str, ...] = ("none", "standardize", "all_but_the_top", "whiten")
#: Dimension-selection methods, in table order.
SELECTION_METHODS: tuple[str, ...] = ("top_variance", "pca", "random", "all")
#: Dimension-selection scores, in table order.
SELECTION_SCORES: tuple[str, ...] = ("ari", "nmi", "silhouette", "knn_accuracy", "neighbour_overlap")


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` when it is one of ``allowed``, else an OptionError listing the choices.

    >>> check_choice("raw", VIEWS, "view")
    'raw'
    """
    from analysis.errors import OptionError

    if value not in allowed:
        raise OptionError(f"Unknown {what} '{value}'; choose one of {', '.join(allowed)}.")
    return value
