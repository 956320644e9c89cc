"""Figure builders for *Why dimensions die*: the weight scan.

Pure functions: report fields (from :mod:`analysis.reports`) or arrays in, ``go.Figure`` out;
nothing is shown, written or cached. Okabe-Ito colours, vermillion for dead (flagged) dimensions,
transparent backgrounds so the Streamlit theme applies, labelled axes.

>>> fig = weight_scan_chart([0.6, 1e-33, 0.7], [0.1, 1e-32, 0.2], flagged=[1])
>>> [trace.name for trace in fig.data]
['|weight| (gamma)', '|bias| (beta)', 'forced constant']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from analysis.figures.axes import clean_log_axis
from analysis.figures.style import (
    ALIVE_COLOR,
    DEAD_COLOR,
    SECOND_COLOR,
    escape,
    floats,
    wide_label_layout,
)

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the charts that build frames
    pass


# Margins for these charts: their y axes carry longer labels.


# --- why dimensions die ----------------------------------------------------------------------------


def weight_scan_chart(
    weight_abs: Sequence[float | None],
    bias_abs: Sequence[float | None],
    *,
    flagged: Sequence[int] = (),
    layer: str | None = None,
    relative_threshold: float | None = None,
    height: int = 460,
) -> go.Figure:
    """|gamma| and |beta| of the final layer per output dimension on a log axis.

    Flagged dims (forced constant by the weights) get a vermillion marker on the |gamma| row.
    Exact zeros cannot sit on a log axis: they are drawn at a floor (a decade under the smallest
    non-zero value) and the hover shows the true value. ``relative_threshold`` draws the
    scan's cut: ``relative_threshold`` x the median |gamma|.
    """
    w, b = np.abs(floats(weight_abs)), np.abs(floats(bias_abs))
    dims = np.arange(w.size)
    positive = np.concatenate([w[np.isfinite(w) & (w > 0)], b[np.isfinite(b) & (b > 0)]])
    floor = float(positive.min()) / 10 if positive.size else 1e-40
    flagged_arr = np.asarray(sorted({int(d) for d in flagged if 0 <= int(d) < w.size}), dtype=np.int64)

    def shown(v: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(v) & (v > 0), v, floor)

    fig = go.Figure()
    for name, values, color, symbol in (
        ("|weight| (gamma)", w, ALIVE_COLOR, "circle"),
        ("|bias| (beta)", b, SECOND_COLOR, "diamond"),
    ):
        fig.add_trace(
            go.Scatter(
                x=dims,
                y=shown(values),
                customdata=values,
                mode="markers",
                name=name,
                marker={"color": color, "size": 5, "symbol": symbol, "opacity": 0.75},
                hovertemplate=f"dimension %{{x}}<br>{escape(name)} %{{customdata:.3g}}<extra></extra>",
            )
        )
    if flagged_arr.size:
        fig.add_trace(
            go.Scatter(
                x=flagged_arr,
                y=shown(w[flagged_arr]),
                customdata=np.column_stack([w[flagged_arr], b[flagged_arr]]),
                mode="markers+text",
                name="forced constant",
                text=[str(d) for d in flagged_arr],
                textposition="top center",
                textfont={"color": DEAD_COLOR},
                marker={"color": DEAD_COLOR, "size": 12, "symbol": "x", "line": {"width": 1, "color": DEAD_COLOR}},
                hovertemplate="dimension %{x} (forced constant)<br>|weight| %{customdata[0]:.3g}"
                "<br>|bias| %{customdata[1]:.3g}<extra></extra>",
            )
        )
    finite = w[np.isfinite(w)]
    threshold = float(relative_threshold) * float(np.median(finite)) if relative_threshold and finite.size else None
    if threshold is not None and np.isfinite(threshold) and threshold > 0:
        # A trace, not a shape: its label goes to the legend instead of over the points.
        fig.add_trace(
            go.Scatter(
                x=[-0.5, w.size - 0.5],
                y=[threshold, threshold],
                mode="lines",
                hoverinfo="skip",
                name=f"cut: {relative_threshold:g} × median |weight| = {threshold:.2g}",
                line={"color": DEAD_COLOR, "dash": "dot", "width": 1.5},
            )
        )
    title = "Final-layer weights per dimension" + (f": <b>{escape(layer)}</b>" if layer else "")
    if not np.all(np.isfinite(w) & (w > 0)) or not np.all(np.isfinite(b) & (b > 0)):
        title += "<br><sup>exact zeros are drawn at the axis floor</sup>"
    wide_label_layout(fig, title=title, height=height)
    fig.update_xaxes(title={"text": "output dimension"})
    fig.update_yaxes(type="log", title={"text": "absolute value (log scale)"}, exponentformat="power")
    clean_log_axis(fig, np.concatenate([shown(w), shown(b)]))
    return fig
