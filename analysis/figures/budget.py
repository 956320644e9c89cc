"""The variance budget on screen: axis titles for each spread scale, the per-model budget table, the
median-std explanations, and the per-label crowding chart (see :mod:`analysis.measures.budget`).

>>> spread_axis_title("sqrt_d")
'std × √d (1 = an isotropic share)'
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from analysis.figures.style import ALIVE_COLOR, GREY, apply_layout, snippet
from analysis.measures.budget import VarianceBudget, split_median_std_ratio
from analysis.options import SPREAD_SCALES, check_choice
from analysis.settings import timed

if TYPE_CHECKING:  # pandas is imported by the functions that build frames
    import pandas as pd

    from analysis.measures.crowding import LabelCrowding

__all__ = [
    "budget_table",
    "crowding_table",
    "label_crowding_chart",
    "median_std_explanations",
    "spread_axis_title",
    "spread_name",
]


def spread_name(scale: str, metric: str = "std") -> str:
    """The short name of a spread on ``scale`` (for titles and hovers)."""
    check_choice(scale, SPREAD_SCALES, "spread scale")
    if scale == "as_is":
        return metric
    if scale == "share":
        return "variance share"
    return "std × √d" if metric == "std" else "variance × d"


def spread_axis_title(scale: str, metric: str = "std", view: str = "normalized") -> str:
    """What the numbers on a spread axis mean, for each of :data:`~analysis.options.SPREAD_SCALES`.

    "1 = an isotropic share" holds for unit vectors only, so the raw view does not claim it.
    """
    name = spread_name(scale, metric)
    if scale == "share":
        return "share of the total variance (sums to 1)"
    if scale == "sqrt_d" and view == "normalized":
        return f"{name} (1 = an isotropic share)"
    return name


def budget_table(budgets: Mapping[str, VarianceBudget]) -> pd.DataFrame:
    """One row per model: d, ‖μ‖², total variance, mean cosine, effective dims, median std."""
    import pandas as pd

    rows = [
        {
            "model": name,
            "d": int(b.dimension),
            "‖μ‖²": b.mean_norm_sq,
            "total variance": b.total_variance,
            "‖μ‖² + total": b.mean_norm_sq + b.total_variance,
            "mean cosine": b.mean_cosine,
            "effective dims": b.effective_dims,
            "median std": b.median_std,
            "median std × √d": b.median_std * np.sqrt(b.dimension),
        }
        for name, b in budgets.items()
    ]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["model"])


BUDGET_INTRO = (
    "For unit vectors the per-dimension variances add up to exactly **1 − ‖μ‖²** (μ: the corpus's mean "
    "vector; population variances), so the average per dimension is (1 − ‖μ‖²) / d. This explains two "
    "observations about normalized embeddings. *Small models vary more* per dimension mostly because the "
    "same budget is split over fewer dimensions. *Lower variance at the same d* (what to look for when a "
    "multilingual model varies less on English) can only mean a longer mean vector: the texts crowd into "
    "one direction, which also makes every cosine high (the mean pairwise cosine is about ‖μ‖²)."
)


def budget_intro(budgets: Mapping[str, VarianceBudget]) -> str:
    """The variance budget explained (Markdown), with an example from the models compared when two of
    them share d and one varies at least 5% less in total: that difference is crowding alone."""
    pairs = [
        (budgets[a].total_variance / budgets[b].total_variance, a, b)
        for a, b in itertools.permutations(budgets, 2)
        if budgets[a].dimension == budgets[b].dimension and budgets[a].total_variance > 0
    ]
    text = BUDGET_INTRO
    ratio, more, less = max(pairs, default=(1.0, "", ""))
    if ratio >= 1.05:
        d = budgets[less].dimension
        text += (
            f" Here, *{less} varies less than {more}*: both have d = {d}, so that is crowding "
            f"(‖μ‖² {budgets[less].mean_norm_sq:.3f} against {budgets[more].mean_norm_sq:.3f})."
        )
    return text + " The table measures each term for the models compared here, on this corpus."


def median_std_explanations(budgets: Mapping[str, VarianceBudget]) -> list[str]:
    """One sentence per model after the first, splitting its median std over the first model's."""
    names = list(budgets)
    if len(names) < 2:
        return []
    reference = names[0]
    return [split_median_std_ratio(budgets[name], budgets[reference]).sentence(name, reference) for name in names[1:]]


def crowding_table(crowding: LabelCrowding) -> pd.DataFrame:
    """One row per label: texts, ‖μ_c‖², within-label variance and distance² to the corpus mean."""
    import pandas as pd

    return pd.DataFrame(
        {
            "label": crowding.labels,
            "texts": crowding.counts.astype(np.int64),
            "‖μ_c‖²": crowding.mean_norm_sq,
            "within variance": crowding.within,
            "‖μ_c − μ‖²": crowding.between,
        }
    ).sort_values("‖μ_c‖²", ascending=False, kind="stable", ignore_index=True)


@timed("figures")
def label_crowding_chart(crowding: LabelCrowding, *, max_labels: int = 40, height: int | None = None) -> go.Figure:
    """‖μ_c‖² per label (horizontal bars, tightest first) against the corpus's ‖μ‖² (dashed line)."""
    order = np.argsort(-crowding.mean_norm_sq, kind="stable")
    shown = order[: max(1, int(max_labels))]
    fig = go.Figure(
        go.Bar(
            x=crowding.mean_norm_sq[shown],
            y=[snippet(crowding.labels[i] or "(none)", 40) for i in shown],
            orientation="h",
            marker={"color": ALIVE_COLOR},
            customdata=np.column_stack([crowding.counts[shown], crowding.within[shown], crowding.between[shown]]),
            hovertemplate="%{y}<br>‖μ_c‖² %{x:.4f}<br>within variance %{customdata[1]:.4f}"
            "<br>‖μ_c − μ‖² %{customdata[2]:.4f}<br>%{customdata[0]:.0f} texts<extra></extra>",
            name="‖μ_c‖²",
        )
    )
    fig.add_vline(x=crowding.corpus_mean_norm_sq, line={"color": GREY, "dash": "dash", "width": 2})
    fig.add_annotation(
        x=crowding.corpus_mean_norm_sq,
        y=1,
        yref="paper",
        yanchor="bottom",
        text=f"whole corpus ‖μ‖² {crowding.corpus_mean_norm_sq:.3f}",
        showarrow=False,
    )
    title = "How tightly each label's texts crowd: ‖μ_c‖² of the label's normalized vectors"
    if len(crowding.labels) > len(shown):
        title += f"<br><sup>the {len(shown)} tightest of {len(crowding.labels)} labels</sup>"
    apply_layout(fig, title=title, height=height or max(320, 110 + 22 * len(shown)), showlegend=False)
    fig.update_xaxes(title={"text": "‖μ_c‖² (1 = every text of the label points the same way)"}, rangemode="tozero")
    fig.update_yaxes(type="category", autorange="reversed", automargin=True)
    return fig
