"""Charts of a corpus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from analysis.figures.style import (
    ALIVE_COLOR,
    apply_layout,
    snippet,
)
from analysis.settings import timed

if TYPE_CHECKING:  # pandas is imported where a figure needs it, not by every page that draws
    pass


@timed("figures")
def label_counts_chart(labels: Sequence[str], *, title: str = "Texts per label", max_labels: int = 60) -> go.Figure:
    """Horizontal bars of how many texts carry each label (largest first)."""
    import pandas as pd

    counts = pd.Series([label or "(none)" for label in labels], dtype=object).value_counts()
    total = len(counts)
    if total > max_labels:
        counts = counts.head(max_labels)
        title += f"<br><sup>The {max_labels} largest of {total} labels.</sup>"
    counts = counts.iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=counts.to_numpy(dtype=np.int64),
            y=[snippet(str(v), 40) for v in counts.index],
            orientation="h",
            marker={"color": ALIVE_COLOR},
            hovertemplate="%{y}: %{x} texts<extra></extra>",
            name="texts",
        )
    )
    apply_layout(fig, title=title, height=max(260, 80 + 20 * len(counts)), showlegend=False)
    fig.update_xaxes(title={"text": "number of texts"})
    fig.update_yaxes(title={"text": "label"}, type="category", automargin=True)
    return fig
