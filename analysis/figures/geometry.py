"""Figure builders for the insight pages: weight scan, geometry, dimension selection, languages.

Pure functions: report fields (from :mod:`analysis.reports`) or arrays in, ``go.Figure`` out;
nothing is shown, written or cached. Same conventions: Okabe-Ito colours, vermillion for dead (flagged)
dimensions, transparent backgrounds so the Streamlit theme applies, labelled axes.

>>> fig = weight_scan_chart([0.6, 1e-33, 0.7], [0.1, 1e-32, 0.2], flagged=[1])
>>> [trace.name for trace in fig.data]
['|weight| (gamma)', '|bias| (beta)', 'forced constant']
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
    apply_layout,
    escape,
    floats,
)

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the charts that build frames
    import pandas as pd

    from analysis.reports.multilingual import LanguageSpread, ParallelSummary

__all__ = [
    "METHOD_LABELS",
    "SCORE_LABELS",
    "cosine_histogram",
    "language_parallel_chart",
    "language_std_chart",
    "rogue_chart",
    "selection_curves",
    "spectrum_chart",
    "weight_scan_chart",
]

# Margins for these charts: their y axes carry longer labels.
_MARGIN = {"l": 70, "r": 20, "t": 70, "b": 90}

METHOD_LABELS = {"top_variance": "top-k by variance", "pca": "PCA-k", "random": "random-k", "all": "all dimensions"}
METHOD_COLORS = {"top_variance": ALIVE_COLOR, "pca": THIRD_COLOR, "random": SECOND_COLOR, "all": GREY}
SCORE_LABELS = {
    "knn_accuracy": "kNN label accuracy",
    "ari": "k-means ARI",
    "nmi": "k-means NMI",
    "silhouette": "silhouette (cosine, true labels)",
    "neighbour_overlap": "overlap of 10 nearest neighbours with the full space",
}
VIEW_COLORS = {"raw": SECOND_COLOR, "normalized": ALIVE_COLOR}


def _layout(fig: go.Figure, *, title: str, height: int = 420, **extra: Any) -> go.Figure:
    return apply_layout(fig, title=title, height=height, margin=_MARGIN, **extra)


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
    _layout(fig, title=title, height=height)
    fig.update_xaxes(title={"text": "output dimension"})
    fig.update_yaxes(type="log", title={"text": "absolute value (log scale)"}, exponentformat="power")
    clean_log_axis(fig, np.concatenate([shown(w), shown(b)]))
    return fig


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
    _layout(fig, title=text, height=height)
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
    _layout(fig, title=title, height=height)
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
    _layout(fig, title=title, height=height, barmode="overlay", bargap=0)
    # The x range covers the occupied bins (cosines of one model rarely span [-1, 1]), with a margin.
    occupied = [i for trace in fig.data for i, y in enumerate(trace.y) if y > 0]
    lo, hi = (edges[min(occupied)], edges[max(occupied) + 1]) if occupied else (-1.0, 1.0)
    pad = 0.05 * (hi - lo)
    fig.update_xaxes(
        title={"text": "cosine similarity of a pair of texts"}, range=[max(-1.0, lo - pad), min(1.0, hi + pad)]
    )
    fig.update_yaxes(title={"text": "share of pairs"}, tickformat=".1%")
    return fig


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
        raise ValueError(f"Unknown score {score!r}; choose one of {', '.join(SCORE_LABELS)}.")
    g = df.groupby(["method", "k"])[score].agg(["mean", "std", "count"]).reset_index()
    g["std"] = g["std"].fillna(0.0)
    fig = go.Figure()
    label = SCORE_LABELS.get(score, score)
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
                name=METHOD_LABELS[method],
                line={"color": METHOD_COLORS[method], "width": 2.5, "dash": "dash" if method == "random" else "solid"},
                marker={"symbol": {"top_variance": "circle", "pca": "square", "random": "diamond"}[method], "size": 8},
                hovertemplate=f"{METHOD_LABELS[method]}<br>k = %{{x}}<br>{escape(label)} %{{y:.3f}}"
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
    _layout(fig, title=f"{escape(label)} against the number of dimensions kept", height=height)
    fig.update_xaxes(
        type="log",
        title={"text": "k, dimensions kept (log scale)"},
        tickvals=sorted({int(v) for v in g["k"]}),
        ticktext=[str(int(v)) for v in sorted(set(g["k"]))],
    )
    fig.update_yaxes(title={"text": label})
    return fig


# --- languages -----------------------------------------------------------------------------------


def language_std_chart(languages: Sequence[LanguageSpread], *, height: int = 460) -> go.Figure:
    """Median per-dimension std per language, raw and normalized, from ``multilingual_report``."""
    names = [f"{escape(row.language)} ({row.n_texts})" for row in languages]  # a column of the upload
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=names,
            y=[row.median_std_normalized for row in languages],
            name="normalized (left axis)",
            marker={"color": ALIVE_COLOR},
            offsetgroup="n",
            customdata=[", ".join(map(str, row.dead_dims)) or "none" for row in languages],
            hovertemplate="%{x}<br>median std (normalized) %{y:.4g}<br>dead dims: %{customdata}<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=[row.median_std_raw for row in languages],
            name="raw (right axis)",
            marker={"color": SECOND_COLOR},
            offsetgroup="r",
            hovertemplate="%{x}<br>median std (raw) %{y:.4g}<extra></extra>",
        ),
        secondary_y=True,
    )
    _layout(fig, title="Median per-dimension std per language (texts in brackets)", height=height, barmode="group")
    fig.update_xaxes(title={"text": "language"}, tickangle=-45)
    fig.update_yaxes(title={"text": "median std, normalized"}, secondary_y=False)
    fig.update_yaxes(title={"text": "median std, raw"}, secondary_y=True, showgrid=False)
    round_twin_axes(fig, [row.median_std_normalized for row in languages], [row.median_std_raw for row in languages])
    return fig


def language_parallel_chart(parallel: ParallelSummary, *, height: int = 420) -> go.Figure:
    """Mean cosine between each language's sentences and their translation in the pivot language."""
    by = parallel.by_language
    names = sorted(by, key=lambda n: -by[n].mean_cosine)
    fig = go.Figure(
        go.Bar(
            x=[escape(n) for n in names],
            y=[by[n].mean_cosine for n in names],
            marker={"color": THIRD_COLOR},
            customdata=[by[n].n_pairs for n in names],
            hovertemplate="%{x}<br>mean cosine %{y:.3f}<br>%{customdata} pairs<extra></extra>",
        )
    )
    pivot = escape(parallel.pivot)
    _layout(
        fig,
        title=f"Cosine between a sentence and its {pivot} original (mean over pairs)",
        height=height,
        showlegend=False,
    )
    fig.update_xaxes(title={"text": "language"}, tickangle=-45)
    fig.update_yaxes(title={"text": "mean cosine with the translation"}, range=[0, 1])
    return fig
