"""Figure and table builders for the insight pages: weight scan, geometry, dimension selection.

Pure functions, like :mod:`analysis.figures`: report dicts (from :mod:`analysis.reports`,
:mod:`analysis.multilingual`) or arrays in, ``go.Figure`` or ``pd.DataFrame`` out; nothing is
shown, written or cached. Same conventions: Okabe-Ito colours, vermillion for dead (flagged)
dimensions, transparent backgrounds so the Streamlit theme applies, labelled axes.

>>> fig = weight_scan_chart([0.6, 1e-33, 0.7], [0.1, 1e-32, 0.2], flagged=[1])
>>> [trace.name for trace in fig.data]
['|weight| (gamma)', '|bias| (beta)', 'forced constant']
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "METHOD_LABELS",
    "SCORE_LABELS",
    "cosine_histogram",
    "evidence_table",
    "geometry_metrics_table",
    "language_parallel_chart",
    "language_std_chart",
    "postprocessing_comparison",
    "rogue_chart",
    "selected_dims_export",
    "selection_curves",
    "spectrum_chart",
    "weight_scan_chart",
]

from analysis.figures import ALIVE_COLOR, DEAD_COLOR  # noqa: E402  one palette for every chart

SECOND_COLOR = "#E69F00"  # orange (Okabe-Ito)
THIRD_COLOR = "#009E73"  # bluish green (Okabe-Ito)
GREY = "#999999"
_TRANSPARENT = "rgba(0,0,0,0)"

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
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        paper_bgcolor=_TRANSPARENT,
        plot_bgcolor=_TRANSPARENT,
        height=height,
        margin={"l": 70, "r": 20, "t": 70, "b": 90},
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.0, "xanchor": "left", "x": 0},
        hoverlabel={"align": "left"},
        **extra,
    )
    return fig


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=False)


def _floats(values: Any) -> np.ndarray:
    """1-D float64; None (JSON for a non-finite value) becomes NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)


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
    w, b = np.abs(_floats(weight_abs)), np.abs(_floats(bias_abs))
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
        fig.add_trace(go.Scatter(
            x=dims, y=shown(values), customdata=values, mode="markers", name=name,
            marker={"color": color, "size": 5, "symbol": symbol, "opacity": 0.75},
            hovertemplate=f"dimension %{{x}}<br>{_esc(name)} %{{customdata:.3g}}<extra></extra>",
        ))
    if flagged_arr.size:
        fig.add_trace(go.Scatter(
            x=flagged_arr, y=shown(w[flagged_arr]), customdata=np.column_stack([w[flagged_arr], b[flagged_arr]]),
            mode="markers+text", name="forced constant", text=[str(d) for d in flagged_arr], textposition="top center",
            textfont={"color": DEAD_COLOR},
            marker={"color": DEAD_COLOR, "size": 12, "symbol": "x", "line": {"width": 1, "color": DEAD_COLOR}},
            hovertemplate="dimension %{x} (forced constant)<br>|weight| %{customdata[0]:.3g}"
            "<br>|bias| %{customdata[1]:.3g}<extra></extra>",
        ))
    finite = w[np.isfinite(w)]
    threshold = float(relative_threshold) * float(np.median(finite)) if relative_threshold and finite.size else None
    if threshold is not None and np.isfinite(threshold) and threshold > 0:
        # A trace, not a shape: its label goes to the legend instead of over the points.
        fig.add_trace(go.Scatter(
            x=[-0.5, w.size - 0.5], y=[threshold, threshold], mode="lines", hoverinfo="skip",
            name=f"cut: {relative_threshold:g} × median |weight| = {threshold:.2g}",
            line={"color": DEAD_COLOR, "dash": "dot", "width": 1.5},
        ))
    title = "Final-layer weights per dimension" + (f": <b>{_esc(layer)}</b>" if layer else "")
    if not np.all(np.isfinite(w) & (w > 0)) or not np.all(np.isfinite(b) & (b > 0)):
        title += "<br><sup>exact zeros are drawn at the axis floor</sup>"
    _layout(fig, title=title, height=height)
    fig.update_xaxes(title={"text": "output dimension"})
    fig.update_yaxes(type="log", title={"text": "absolute value (log scale)"}, exponentformat="power")
    return fig


def evidence_table(report: Mapping[str, Any], corpus_dead: Sequence[int] | None = None) -> pd.DataFrame:
    """One row per flagged or corpus-dead dim: weight, bias, layer, verdict and agreement.

    ``agreement`` is "both", "weights only" or "corpus only" when ``corpus_dead`` is given.
    """
    rows = {int(e["dim"]): {"dim": int(e["dim"]), "weight": e["weight"], "bias": e["bias"], "layer": e["layer"],
                            "verdict": e["verdict"]} for e in report.get("evidence", [])}
    w, b = report.get("weight_abs") or [], report.get("bias_abs") or []
    if corpus_dead is not None:
        corpus = {int(d) for d in corpus_dead}
        for d in corpus - set(rows):
            rows[d] = {"dim": d, "weight": w[d] if d < len(w) else None, "bias": b[d] if d < len(b) else None,
                       "layer": report.get("final_layer") or "", "verdict": "not forced"}
        for d, row in rows.items():
            row["agreement"] = "both" if d in corpus and row["verdict"] != "not forced" else (
                "corpus only" if d in corpus else "weights only")
    columns = ["dim", "weight", "bias", "layer", "verdict"] + (["agreement"] if corpus_dead is not None else [])
    frame = pd.DataFrame([rows[d] for d in sorted(rows)], columns=columns)
    return frame.astype({"dim": "int64", "weight": "float64", "bias": "float64"})


# --- geometry ------------------------------------------------------------------------------------

_METRIC_ROWS = (
    ("anisotropy", "anisotropy (mean pairwise cosine)"),
    ("anisotropy_centered", "centered anisotropy"),
    ("isoscore", "IsoScore (1 = isotropic)"),
    ("effective_rank", "effective rank"),
    ("effective_rank_ratio", "effective rank / d"),
    ("n_outlier_dims", "outlier dims (mean |x| > 3σ)"),
    ("top3_rogue_share", "share of anisotropy from the top 3 rogue dims"),
)


def geometry_metrics_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """Metric x view (raw, normalized) table from :func:`analysis.reports.geometry_report`."""
    rows = []
    for key, label in _METRIC_ROWS:
        row: dict[str, Any] = {"metric": label}
        for view in ("raw", "normalized"):
            value = report.get(view, {}).get(key)
            row[view] = np.nan if value is None else float(value)
        rows.append(row)
    return pd.DataFrame(rows, columns=["metric", "raw", "normalized"])


def postprocessing_comparison(before: Mapping[str, Any], after: Mapping[str, Any], view: str) -> pd.DataFrame:
    """Each metric of ``view`` before (no post-processing) and after, with the change."""
    name = after.get("postprocessing", "after")
    rows = []
    for key, label in _METRIC_ROWS:
        a, b = before.get(view, {}).get(key), after.get(view, {}).get(key)
        a = np.nan if a is None else float(a)
        b = np.nan if b is None else float(b)
        rows.append({"metric": label, "none": a, name: b, "change": b - a})
    return pd.DataFrame(rows, columns=["metric", "none", name, "change"])


def spectrum_chart(spectra: Mapping[str, Sequence[float]], *, title: str | None = None, height: int = 420) -> go.Figure:
    """log s_k against k/d for each named spectrum (Jing et al. 2022); zeros are left out and counted."""
    fig = go.Figure()
    dropped = []
    for i, (name, values) in enumerate(spectra.items()):
        s = _floats(values)
        d = max(s.size, 1)
        k = np.arange(1, s.size + 1)
        keep = np.isfinite(s) & (s > 0)
        if (~keep).any():
            dropped.append(f"{_esc(name)}: {int((~keep).sum())}")
        color = VIEW_COLORS.get(name.split(" ")[0], (ALIVE_COLOR, SECOND_COLOR, THIRD_COLOR, GREY)[i % 4])
        fig.add_trace(go.Scatter(
            x=k[keep] / d, y=s[keep], customdata=k[keep], mode="lines", name=name,
            line={"color": color, "width": 2, "dash": "solid" if i % 2 == 0 else "dash"},
            hovertemplate=f"{_esc(name)}<br>k = %{{customdata}} (k/d %{{x:.3f}})<br>s_k %{{y:.4g}}<extra></extra>",
        ))
    text = title or "Singular-value spectrum of the centered embeddings"
    if dropped:
        text += f"<br><sup>zero singular values not drawn ({'; '.join(dropped)})</sup>"
    _layout(fig, title=text, height=height)
    fig.update_xaxes(title={"text": "k / d (rank relative to the dimension)"}, range=[0, 1.0])
    fig.update_yaxes(type="log", title={"text": "singular value s_k (log scale)"}, exponentformat="power")
    return fig


def rogue_chart(rogue: Mapping[str, Sequence[Any]], *, view: str = "", height: int = 400) -> go.Figure:
    """Top rogue dimensions: contribution CC_j to the anisotropy (bars) and cumulative share (line)."""
    dims = [int(d) for d in rogue.get("dim", [])]
    contribution = _floats(rogue.get("contribution", []))
    cumulative = _floats(rogue.get("cumulative_share", []))
    share = _floats(rogue.get("share", []))
    labels = [f"dim {d}" for d in dims]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(
        x=labels, y=contribution, name="contribution CC_j", marker={"color": ALIVE_COLOR},
        customdata=share, hovertemplate="%{x}<br>CC_j %{y:.4g}<br>share %{customdata:.1%}<extra></extra>",
    ), secondary_y=False)
    title = "Rogue dimensions" + (f" ({_esc(view)} view)" if view else "")
    if cumulative.size and np.isfinite(cumulative).all():
        fig.add_trace(go.Scatter(
            x=labels, y=cumulative, mode="lines+markers", name="cumulative share of the top k",
            line={"color": DEAD_COLOR, "width": 2}, marker={"color": DEAD_COLOR},
            hovertemplate="top through %{x}<br>cumulative share %{y:.1%}<extra></extra>",
        ), secondary_y=True)
        fig.update_yaxes(title={"text": "cumulative share"}, tickformat=".0%", rangemode="tozero",
                         secondary_y=True, showgrid=False)
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
        v = np.clip(_floats(values), -1.0, 1.0)
        v = v[np.isfinite(v)]
        counts, _ = np.histogram(v, bins=edges)
        shares = counts / max(v.size, 1)
        fig.add_trace(go.Bar(
            x=centers, y=shares, width=(edges[1] - edges[0]), name=f"{name} (mean {v.mean():.3f})" if v.size else name,
            marker={"color": color}, opacity=0.6,
            hovertemplate=f"{name}<br>cosine %{{x:.3f}}<br>%{{y:.2%}} of pairs<extra></extra>",
        ))
        if v.size:
            fig.add_vline(x=float(v.mean()), line={"color": color, "dash": "dot", "width": 2})
    title = "Pairwise cosine similarity" + (f" ({_esc(view)} view)" if view else "")
    _layout(fig, title=title, height=height, barmode="overlay", bargap=0)
    # The x range covers the occupied bins (cosines of one model rarely span [-1, 1]), with a margin.
    occupied = [i for trace in fig.data for i, y in enumerate(trace.y) if y > 0]
    lo, hi = (edges[min(occupied)], edges[max(occupied) + 1]) if occupied else (-1.0, 1.0)
    pad = 0.05 * (hi - lo)
    fig.update_xaxes(title={"text": "cosine similarity of a pair of texts"},
                     range=[max(-1.0, lo - pad), min(1.0, hi + pad)])
    fig.update_yaxes(title={"text": "share of pairs"}, tickformat=".1%")
    return fig


# --- which dimensions matter -----------------------------------------------------------------------


def selection_curves(table: Mapping[str, Sequence[Any]] | pd.DataFrame, score: str = "knn_accuracy",
                     *, height: int = 460) -> go.Figure:
    """One curve per method of a selection table: mean ``score`` vs k; random with a ±std band.

    ``all`` is a single point at k = d, drawn as a dashed horizontal reference line.
    """
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
        fig.add_trace(go.Scatter(
            x=np.concatenate([k, k[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
            fillcolor="rgba(230,159,0,0.25)", line={"width": 0}, mode="lines", hoverinfo="skip",
            name=f"random-k ± std over {runs} draws",
        ))
    for method in ("top_variance", "pca", "random"):
        rows = g[g["method"] == method].sort_values("k")
        if rows.empty:
            continue
        fig.add_trace(go.Scatter(
            x=rows["k"].to_numpy(dtype=np.float64), y=rows["mean"].to_numpy(), customdata=rows["std"].to_numpy(),
            mode="lines+markers", name=METHOD_LABELS[method],
            line={"color": METHOD_COLORS[method], "width": 2.5, "dash": "dash" if method == "random" else "solid"},
            marker={"symbol": {"top_variance": "circle", "pca": "square", "random": "diamond"}[method], "size": 8},
            hovertemplate=f"{METHOD_LABELS[method]}<br>k = %{{x}}<br>{_esc(label)} %{{y:.3f}}"
            + (" ± %{customdata:.3f}" if method == "random" else "") + "<extra></extra>",
        ))
    full = g[g["method"] == "all"]
    if not full.empty:
        value = float(full["mean"].iloc[0])
        fig.add_hline(y=value, line={"color": GREY, "dash": "dash", "width": 1.5},
                      annotation_text=f"all {int(full['k'].iloc[0])} dimensions: {value:.3f}",
                      annotation_position="bottom left")
    _layout(fig, title=f"{_esc(label)} against the number of dimensions kept", height=height)
    fig.update_xaxes(type="log", title={"text": "k, dimensions kept (log scale)"},
                     tickvals=sorted({int(v) for v in g["k"]}), ticktext=[str(int(v)) for v in sorted(set(g["k"]))])
    fig.update_yaxes(title={"text": label})
    return fig


def selected_dims_export(order: Sequence[int], k: int, *, model: str = "", corpus: str = "",
                         view: str = "") -> pd.DataFrame:
    """The top-``k`` dimensions by variance as a table (rank, dim), for CSV/JSON download."""
    k = max(0, min(int(k), len(order)))
    frame = pd.DataFrame({"rank": np.arange(1, k + 1, dtype=np.int64),
                          "dim": np.asarray(order[:k], dtype=np.int64)})
    frame.attrs.update({"model": model, "corpus": corpus, "view": view, "method": "top_variance", "k": k})
    return frame


# --- languages -----------------------------------------------------------------------------------


def language_std_chart(languages: Sequence[Mapping[str, Any]], *, height: int = 460) -> go.Figure:
    """Median per-dimension std per language, raw and normalized, from ``multilingual_report``."""
    names = [f"{row['language']} ({row['n_texts']})" for row in languages]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(
        x=names, y=[row["median_std_normalized"] for row in languages], name="normalized (left axis)",
        marker={"color": ALIVE_COLOR}, offsetgroup="n",
        customdata=[", ".join(map(str, row["dead_dims"])) or "none" for row in languages],
        hovertemplate="%{x}<br>median std (normalized) %{y:.4g}<br>dead dims: %{customdata}<extra></extra>",
    ), secondary_y=False)
    fig.add_trace(go.Bar(
        x=names, y=[row["median_std_raw"] for row in languages], name="raw (right axis)",
        marker={"color": SECOND_COLOR}, offsetgroup="r",
        hovertemplate="%{x}<br>median std (raw) %{y:.4g}<extra></extra>",
    ), secondary_y=True)
    _layout(fig, title="Median per-dimension std per language (texts in brackets)", height=height, barmode="group")
    fig.update_xaxes(title={"text": "language"}, tickangle=-45)
    fig.update_yaxes(title={"text": "median std, normalized"}, secondary_y=False)
    fig.update_yaxes(title={"text": "median std, raw"}, secondary_y=True, showgrid=False, tickformat=".2g")
    return fig


def language_parallel_chart(parallel: Mapping[str, Any], *, height: int = 420) -> go.Figure:
    """Mean cosine between each language's sentences and their translation in the pivot language."""
    by = parallel.get("by_language", {})
    names = sorted(by, key=lambda n: -by[n]["mean_cosine"])
    fig = go.Figure(go.Bar(
        x=names, y=[by[n]["mean_cosine"] for n in names], marker={"color": THIRD_COLOR},
        customdata=[by[n]["n_pairs"] for n in names],
        hovertemplate="%{x}<br>mean cosine %{y:.3f}<br>%{customdata} pairs<extra></extra>",
    ))
    pivot = _esc(parallel.get("pivot", ""))
    _layout(fig, title=f"Cosine between a sentence and its {pivot} original (mean over pairs)", height=height,
            showlegend=False)
    fig.update_xaxes(title={"text": "language"}, tickangle=-45)
    fig.update_yaxes(title={"text": "mean cosine with the translation"}, range=[0, 1])
    return fig
