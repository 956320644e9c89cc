"""One palette and one layout for every chart DimScope draws.

* Categorical colours come from the Okabe-Ito palette, distinguishable with the common
  colour-vision deficiencies on light and dark themes; dead dimensions are always vermillion.
* Signed values use ColorBrewer's RdBu reversed (blue below zero, red above), centred on zero.
* Backgrounds are transparent and fonts are not forced, so the Streamlit theme (light or dark)
  applies when a page draws with ``st.plotly_chart(fig, theme="streamlit")``.
* Titles sit top left; legends sit under the plot, where they never collide with the title.

>>> snippet("a  very\\nlong <text>", limit=10)
'a very lo…'
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from analysis.wording import plain

# Okabe-Ito.
ALIVE_COLOR = "#0072B2"  # blue
DEAD_COLOR = "#D55E00"  # vermillion
BELOW_COLOR = "#E69F00"  # orange
SECOND_COLOR = BELOW_COLOR
THIRD_COLOR = "#009E73"  # bluish green
SELECTED_COLOR = "#CC79A7"  # reddish purple
GREY = "#999999"
MODEL_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
NEGATIVE_COLOR = "#2166AC"  # the blue end of RdBu
POSITIVE_COLOR = "#B2182B"  # the red end of RdBu
# ColorBrewer RdBu is colour-blind safe; reversed so that negative is blue and positive red.
DIVERGING_SCALE = "RdBu_r"
TRANSPARENT = "rgba(0,0,0,0)"
GRID_LINE = "rgba(128,128,128,0.8)"
SNIPPET_CHARS = 70

#: The default margins; charts with long tick labels on the y axis pass wider ones.
MARGIN = {"l": 60, "r": 20, "t": 70, "b": 100}
#: The insight pages' margins: their y axes carry longer labels.
WIDE_LABEL_MARGIN = {"l": 70, "r": 20, "t": 70, "b": 90}


def apply_layout(
    fig: go.Figure,
    *,
    title: str,
    height: int | None = None,
    margin: dict[str, int] | None = None,
    **extra: Any,
) -> go.Figure:
    """The shared layout: title top left, transparent background, legend under the plot."""
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        paper_bgcolor=TRANSPARENT,
        plot_bgcolor=TRANSPARENT,
        margin=dict(margin or MARGIN),
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.0, "xanchor": "left", "x": 0},
        hoverlabel={"align": "left"},
        **extra,
    )
    if extra.get("showlegend") is False and margin is None:
        fig.update_layout(margin={"b": 50})  # no legend to make room for
    if height:
        fig.update_layout(height=height)
    return fig


def wide_label_layout(fig: go.Figure, *, title: str, height: int = 420, **extra: Any) -> go.Figure:
    """:func:`apply_layout` with :data:`WIDE_LABEL_MARGIN`, the insight pages' charts."""
    return apply_layout(fig, title=title, height=height, margin=WIDE_LABEL_MARGIN, **extra)


def escape(text: Any) -> str:
    """Text safe for plotly labels: plotly renders a subset of HTML (<b>, <a href>, <br>)."""
    return plain(text, "plotly")


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One line, at most ``limit`` characters, HTML-escaped (for hover labels)."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return escape(flat)


def floats(values: Any) -> np.ndarray:
    """1-D float64; None (JSON for a non-finite value) becomes NaN."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64, copy=False).reshape(-1)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)


def model_color(i: int) -> str:
    """The i-th model's colour (the palette repeats after eight)."""
    return MODEL_COLORS[i % len(MODEL_COLORS)]


def metric_label(metric: str) -> str:
    return {"std": "standard deviation", "variance": "variance"}.get(metric, metric)
