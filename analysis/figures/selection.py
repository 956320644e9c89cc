"""Figure builders for *Which dimensions matter*: scores against the number of dimensions kept.

Pure functions: report fields (from :mod:`analysis.reports`) in, ``go.Figure`` out; nothing is
shown, written or cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from analysis.figures.style import (
    ALIVE_COLOR,
    GREY,
    SECOND_COLOR,
    THIRD_COLOR,
    escape,
    wide_label_layout,
)
from analysis.options import SELECTION_METHOD_LABELS, SELECTION_SCORE_LABELS

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the charts that build frames
    import pandas as pd


# Margins for these charts: their y axes carry longer labels.

METHOD_COLORS = {"top_variance": ALIVE_COLOR, "pca": THIRD_COLOR, "random": SECOND_COLOR, "all": GREY}


# --- which dimensions matter -----------------------------------------------------------------------


def selection_curves(
    table: Mapping[str, Sequence[Any]] | pd.DataFrame, score: str = "knn_accuracy", *, height: int = 460
) -> go.Figure:
    """One curve per method of a selection table: mean ``score`` vs k; random with a ±std band.

    ``all`` is a single point at k = d, drawn as a dashed horizontal reference line.
    """
    import pandas as pd

    df = pd.DataFrame(table)
    if score not in df.columns:
        raise ValueError(f"Unknown score {score!r}; choose one of {', '.join(SELECTION_SCORE_LABELS)}.")
    g = df.groupby(["method", "k"])[score].agg(["mean", "std", "count"]).reset_index()
    g["std"] = g["std"].fillna(0.0)
    fig = go.Figure()
    label = SELECTION_SCORE_LABELS.get(score, score)
    random_rows = g[g["method"] == "random"].sort_values("k")
    if not random_rows.empty:
        k = random_rows["k"].to_numpy(dtype=np.float64)
        lo = (random_rows["mean"] - random_rows["std"]).to_numpy()
        hi = (random_rows["mean"] + random_rows["std"]).to_numpy()
        runs = int(random_rows["count"].max())
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([k, k[::-1]]),
                y=np.concatenate([hi, lo[::-1]]),
                fill="toself",
                fillcolor="rgba(230,159,0,0.25)",
                line={"width": 0},
                mode="lines",
                hoverinfo="skip",
                name=f"random-k ± std over {runs} draws",
            )
        )
    for method in ("top_variance", "pca", "random"):
        rows = g[g["method"] == method].sort_values("k")
        if rows.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=rows["k"].to_numpy(dtype=np.float64),
                y=rows["mean"].to_numpy(),
                customdata=rows["std"].to_numpy(),
                mode="lines+markers",
                name=SELECTION_METHOD_LABELS[method],
                line={"color": METHOD_COLORS[method], "width": 2.5, "dash": "dash" if method == "random" else "solid"},
                marker={"symbol": {"top_variance": "circle", "pca": "square", "random": "diamond"}[method], "size": 8},
                hovertemplate=f"{SELECTION_METHOD_LABELS[method]}<br>k = %{{x}}<br>{escape(label)} %{{y:.3f}}"
                + (" ± %{customdata:.3f}" if method == "random" else "")
                + "<extra></extra>",
            )
        )
    full = g[g["method"] == "all"]
    if not full.empty:
        value = float(full["mean"].iloc[0])
        fig.add_hline(
            y=value,
            line={"color": GREY, "dash": "dash", "width": 1.5},
            annotation_text=f"all {int(full['k'].iloc[0])} dimensions: {value:.3f}",
            annotation_position="bottom left",
        )
    wide_label_layout(fig, title=f"{escape(label)} against the number of dimensions kept", height=height)
    fig.update_xaxes(
        type="log",
        title={"text": "k, dimensions kept (log scale)"},
        tickvals=sorted({int(v) for v in g["k"]}),
        ticktext=[str(int(v)) for v in sorted(set(g["k"]))],
    )
    fig.update_yaxes(title={"text": label})
    return fig
