"""Figure builders for the Geometry page: the spectrum, rogue dimensions and cosine histograms.

Pure functions: report fields (from :mod:`analysis.reports`) or arrays in, ``go.Figure`` out;
nothing is shown, written or cached. Okabe-Ito colours, transparent backgrounds so the Streamlit
theme applies, labelled axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.figures.axes import clean_log_axis, round_twin_axes
from analysis.figures.style import (
    ALIVE_COLOR,
    DEAD_COLOR,
    GREY,
    SECOND_COLOR,
    THIRD_COLOR,
    escape,
    floats,
    wide_label_layout,
)

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the charts that build frames
    pass


# Margins for these charts: their y axes carry longer labels.

VIEW_COLORS = {"raw": SECOND_COLOR, "normalized": ALIVE_COLOR}


# --- geometry ------------------------------------------------------------------------------------


def spectrum_chart(spectra: Mapping[str, Sequence[float]], *, title: str | None = None, height: int = 420) -> go.Figure:
    """log s_k against k/d for each named spectrum (Jing et al. 2022); zeros are left out and counted."""
    fig = go.Figure()
    dropped = []
    for i, (name, values) in enumerate(spectra.items()):
        s = floats(values)
        d = max(s.size, 1)
        k = np.arange(1, s.size + 1)
        keep = np.isfinite(s) & (s > 0)
        if (~keep).any():
            dropped.append(f"{escape(name)}: {int((~keep).sum())}")
        color = VIEW_COLORS.get(name.split(" ")[0], (ALIVE_COLOR, SECOND_COLOR, THIRD_COLOR, GREY)[i % 4])
        fig.add_trace(
            go.Scatter(
                x=k[keep] / d,
                y=s[keep],
                customdata=k[keep],
                mode="lines",
                name=name,
                line={"color": color, "width": 2, "dash": "solid" if i % 2 == 0 else "dash"},
                hovertemplate=f"{escape(name)}<br>k = %{{customdata}} (k/d %{{x:.3f}})"
                "<br>s_k %{y:.4g}<extra></extra>",
            )
        )
    text = title or "Singular-value spectrum of the centered embeddings"
    if dropped:
        text += f"<br><sup>zero singular values not drawn ({'; '.join(dropped)})</sup>"
    wide_label_layout(fig, title=text, height=height)
    fig.update_xaxes(title={"text": "k / d (rank relative to the dimension)"}, range=[0, 1.0])
    fig.update_yaxes(type="log", title={"text": "singular value s_k (log scale)"}, exponentformat="power")
    drawn = [floats(v) for v in spectra.values()]
    clean_log_axis(fig, np.concatenate(drawn) if drawn else [], pad=0.1)
    return fig


def rogue_chart(rogue: Mapping[str, Sequence[Any]], *, view: str = "", height: int = 400) -> go.Figure:
    """Top rogue dimensions: contribution CC_j to the anisotropy (bars) and cumulative share (line)."""
    dims = [int(d) for d in rogue.get("dim", [])]
    contribution = floats(rogue.get("contribution", []))
    cumulative = floats(rogue.get("cumulative_share", []))
    share = floats(rogue.get("share", []))
    labels = [f"dim {d}" for d in dims]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=labels,
            y=contribution,
            name="contribution CC_j",
            marker={"color": ALIVE_COLOR},
            customdata=share,
            hovertemplate="%{x}<br>CC_j %{y:.4g}<br>share %{customdata:.1%}<extra></extra>",
        ),
        secondary_y=False,
    )
    title = "Rogue dimensions" + (f" ({escape(view)} view)" if view else "")
    if cumulative.size and np.isfinite(cumulative).all():
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=cumulative,
                mode="lines+markers",
                name="cumulative share of the top k",
                line={"color": DEAD_COLOR, "width": 2},
                marker={"color": DEAD_COLOR},
                cliponaxis=False,  # a share of exactly 100% sits on the top edge
                hovertemplate="top through %{x}<br>cumulative share %{y:.1%}<extra></extra>",
            ),
            secondary_y=True,
        )
        fig.update_yaxes(title={"text": "cumulative share"}, tickformat=".0%", secondary_y=True, showgrid=False)
        round_twin_axes(fig, contribution, cumulative)
    else:
        title += "<br><sup>shares undefined: the anisotropy is about zero (contributions cancel)</sup>"
    wide_label_layout(fig, title=title, height=height)
    fig.update_xaxes(title={"text": "dimension (largest contribution first)"}, type="category")
    fig.update_yaxes(title={"text": "contribution to mean cosine"}, secondary_y=False)
    return fig


def cosine_histogram(
    before: np.ndarray, after: np.ndarray, *, bins: int = 80, view: str = "", height: int = 400
) -> go.Figure:
    """Pairwise cosines before and after centering, as pre-binned overlaid bars (share of pairs).

    Binned here (``bins`` over [-1, 1]) so the browser gets 2 x ``bins`` numbers, not every pair;
    a dotted line marks each mean (the anisotropy).
    """
    edges = np.linspace(-1.0, 1.0, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for name, values, color in (("as is", before, ALIVE_COLOR), ("after centering", after, SECOND_COLOR)):
        v = np.clip(floats(values), -1.0, 1.0)
        v = v[np.isfinite(v)]
        counts, _ = np.histogram(v, bins=edges)
        shares = counts / max(v.size, 1)
        fig.add_trace(
            go.Bar(
                x=centers,
                y=shares,
                width=(edges[1] - edges[0]),
                name=f"{name} (mean {v.mean():.3f})" if v.size else name,
                marker={"color": color},
                opacity=0.6,
                hovertemplate=f"{name}<br>cosine %{{x:.3f}}<br>%{{y:.2%}} of pairs<extra></extra>",
            )
        )
        if v.size:
            fig.add_vline(x=float(v.mean()), line={"color": color, "dash": "dot", "width": 2})
    title = "Pairwise cosine similarity" + (f" ({escape(view)} view)" if view else "")
    wide_label_layout(fig, title=title, height=height, barmode="overlay", bargap=0)
    # The x range covers the occupied bins (cosines of one model rarely span [-1, 1]), with a margin.
    occupied = [i for trace in fig.data for i, y in enumerate(trace.y) if y > 0]
    lo, hi = (edges[min(occupied)], edges[max(occupied) + 1]) if occupied else (-1.0, 1.0)
    pad = 0.05 * (hi - lo)
    fig.update_xaxes(
        title={"text": "cosine similarity of a pair of texts"}, range=[max(-1.0, lo - pad), min(1.0, hi + pad)]
    )
    fig.update_yaxes(title={"text": "share of pairs"}, tickformat=".1%")
    return fig
