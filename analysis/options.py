"""Every option list, defined once: the library validates with these and the dashboard offers them.

The first entry of each tuple is its default where a default exists. Beside a list, ``<LIST>_LABELS``
says how each choice is shown in words, to a reader: in the dashboard's pickers and in the charts'
legends and titles (figures and pages read them from here, so a choice has one name everywhere).
"""

from __future__ import annotations

#: Statistics views: the L2-normalized vectors (what most models return) and the pooled
#: vectors before the model's own Normalize module.
VIEWS: tuple[str, ...] = ("normalized", "raw")
#: Heatmap values: the two views, plus the normalized view z-scored per dimension.
HEATMAP_VIEWS: tuple[str, ...] = ("normalized", "raw", "standardized")
#: Dimension orders of the heatmap.
DIM_ORDERS: tuple[str, ...] = ("index", "std", "abs_mean")
DIM_ORDER_LABELS: dict[str, str] = {
    "index": "index",
    "std": "std (largest first)",
    "abs_mean": "mean |x| (largest first)",
}
#: Text orders of the heatmap.
ROW_ORDERS: tuple[str, ...] = ("corpus", "label")
ROW_ORDER_LABELS: dict[str, str] = {"corpus": "corpus order", "label": "label"}
#: Bar orders of the per-dimension spread chart: by dimension index, or largest first.
BAR_ORDERS: tuple[str, ...] = ("index", "sorted")
BAR_ORDER_LABELS: dict[str, str] = {"index": "by index", "sorted": "sorted"}
#: Per-dimension spread measures of the bar chart.
SPREAD_METRICS: tuple[str, ...] = ("std", "variance")
#: Scales of per-dimension spread: as is, std x sqrt(d) (1.0 = an isotropic share of unit
#: vectors), and each dimension's share of the total variance (see analysis.measures.budget).
SPREAD_SCALES: tuple[str, ...] = ("as_is", "sqrt_d", "share")
SPREAD_SCALE_LABELS: dict[str, str] = {"as_is": "as is", "sqrt_d": "std × √d", "share": "share of total variance"}
#: Post-processing applied before geometry metrics.
POSTPROCESSING: tuple[str, ...] = ("none", "standardize", "all_but_the_top", "whiten")
POSTPROCESSING_LABELS: dict[str, str] = {
    "none": "none",
    "standardize": "standardize (z-score)",
    "all_but_the_top": "all-but-the-top",
    "whiten": "whitening",
}
#: Dimension-selection methods, in table order.
SELECTION_METHODS: tuple[str, ...] = ("top_variance", "pca", "random", "all")
SELECTION_METHOD_LABELS: dict[str, str] = {
    "top_variance": "top-k by variance",
    "pca": "PCA-k",
    "random": "random-k",
    "all": "all dimensions",
}
#: Dimension-selection scores, in table order.
SELECTION_SCORES: tuple[str, ...] = ("ari", "nmi", "silhouette", "knn_accuracy", "neighbour_overlap")
#: In the order the dashboard offers them: the default (kNN accuracy) first.
SELECTION_SCORE_LABELS: dict[str, str] = {
    "knn_accuracy": "kNN label accuracy",
    "ari": "k-means ARI",
    "nmi": "k-means NMI",
    "silhouette": "silhouette (cosine, true labels)",
    "neighbour_overlap": "overlap of nearest neighbours with the full space",
}

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
VARIANT_FAMILY_LABELS: dict[str, str] = {
    "float32": "float32 (all dimensions)",
    "drop-dead": "drop the dead dimensions",
    "top-variance": "top-k by variance",
    "prefix": "first k (Matryoshka)",
    "pca": "PCA-k",
    "random": "random k (mean of draws)",
    "int8": "int8",
    "binary": "binary (sign bits)",
    "binary-rescore": "binary + float rescoring of the top 40",
    "binary-drop-dead": "binary without the dead dimensions",
}
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
