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

#: Built-in retrieval tasks (query -> document pairs built from what ships), default first.
RETRIEVAL_TASKS: tuple[str, ...] = ("chatterbot-pairs", "wordnet-pairs", "translation-pairs")
#: Tasks of the "What can I drop?" page: the built-in pairs, or the sidebar corpus (its uploaded
#: query/document columns, else its labels).
DROP_TASKS: tuple[str, ...] = (*RETRIEVAL_TASKS, "corpus")
#: Storage variant families, in the order the variants are scored and listed.
VARIANT_FAMILIES: tuple[str, ...] = (
    "float32",
    "drop-dead",
    "top-variance",
    "prefix",
    "pca",
    "random",
    "int8",
    "binary",
    "binary-rescore",
    "binary-drop-dead",
)
#: Which dimensions a downloaded storage recipe keeps: all, all but the dead ones, or the first
#: k / the k highest-variance ones (k from the scored ladder).
RECIPE_KEEPS: tuple[str, ...] = ("drop-dead", "all", "top-variance", "prefix")
#: How harmful_dimensions removes dimensions: one at a time, in groups, or chosen by cost.
HARMFUL_MODES: tuple[str, ...] = ("auto", "leave-one-out", "groups")
#: How harmful_dimensions groups dimensions: by document variance, or by index ranges.
HARMFUL_GROUPINGS: tuple[str, ...] = ("variance", "contiguous")


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` when it is one of ``allowed``, else an OptionError listing the choices.

    >>> check_choice("raw", VIEWS, "view")
    'raw'
    """
    from analysis.errors import OptionError

    if value not in allowed:
        raise OptionError(f"Unknown {what} '{value}'; choose one of {', '.join(allowed)}.")
    return value
