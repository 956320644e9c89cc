"""Figure and table builders for "What can I drop?": bytes against retention, truncation, readiness.

Pure functions: report fields in (variants as :class:`~analysis.measures.retrieval.VariantScore`
or their dicts, per-dimension lists), a ``go.Figure`` or a ``DataFrame`` out; nothing is shown,
written or cached.

>>> from analysis.measures.retrieval import VariantScore
>>> rows = [VariantScore("float32", "float32", None, 4, 4, 16, 0.5, 0.9, 0.6, 0.7, 1.0, 10, 0),
...         VariantScore("binary", "binary", None, 4, 4, 1, 0.4, 0.8, 0.5, 0.6, 6 / 7, 10, 0)]
>>> [trace.name for trace in pareto_chart(rows).data]
['binary (sign bits)', 'float32 (all dimensions)', 'best retention for the bytes']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from analysis.figures.style import (
    ALIVE_COLOR,
    DEAD_COLOR,
    GREY,
    SECOND_COLOR,
    SELECTED_COLOR,
    THIRD_COLOR,
    escape,
    floats,
    wide_label_layout,
)
from analysis.options import VARIANT_FAMILIES, VARIANT_FAMILY_LABELS

if TYPE_CHECKING:  # pandas costs ~0.5 s to import
    import pandas as pd

    from analysis.measures.retrieval import VariantScore

__all__ = [
    "bit_balance_chart",
    "cosine_share_chart",
    "harmful_chart",
    "int8_range_chart",
    "pareto_chart",
    "truncation_chart",
    "variant_table",
]

_FAMILY_STYLE: dict[str, tuple[str, str]] = {  # colour, marker symbol
    "float32": (GREY, "star"),
    "drop-dead": (DEAD_COLOR, "x"),
    "top-variance": (ALIVE_COLOR, "circle"),
    "prefix": (SELECTED_COLOR, "triangle-up"),
    "pca": (THIRD_COLOR, "square"),
    "random": (SECOND_COLOR, "diamond"),
    "int8": ("#56B4E9", "hexagon"),
    "binary": ("#000000", "cross"),
    "binary-rescore": ("#332288", "pentagon"),
    "binary-drop-dead": (DEAD_COLOR, "cross-open"),
}
_TABLE_COLUMNS = (
    "name",
    "family",
    "k",
    "dims",
    "bytes_per_vector",
    "recall_at_1",
    "recall_at_10",
    "mrr",
    "ndcg_at_10",
    "retention",
    "ndcg_at_10_std",
    "retention_std",
    "n_draws",
)


def _rows(variants: Sequence[VariantScore | Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(v) if isinstance(v, Mapping) else v.to_dict() for v in variants]


def variant_table(variants: Sequence[VariantScore | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per variant: name, family, k, dims, bytes, the four metrics, retention (and the
    spread over random draws), in scoring order."""
    import pandas as pd

    rows = _rows(variants)
    return pd.DataFrame([{c: row.get(c) for c in _TABLE_COLUMNS} for row in rows], columns=list(_TABLE_COLUMNS))


def _pareto_front(bytes_: np.ndarray, retention: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (fewer or equal bytes and higher retention), by bytes."""
    order = np.lexsort((-retention, bytes_))
    front, best = [], -np.inf
    for i in order:
        if np.isfinite(retention[i]) and retention[i] > best:
            front.append(i)
            best = retention[i]
    return np.array(front, dtype=np.int64)


def _spread_ticks(values: np.ndarray, min_ratio: float = 1.15) -> list[int]:
    """The distinct byte counts, largest first kept, dropping any within ``min_ratio`` of a kept one
    (1,524 beside 1,536 would print over it on a log axis)."""
    kept: list[int] = []
    for v in sorted({int(x) for x in values if x > 0}, reverse=True):
        if all(max(v, k) / min(v, k) >= min_ratio for k in kept):
            kept.append(v)
    return sorted(kept)


def pareto_chart(
    variants: Sequence[VariantScore | Mapping[str, Any]], *, title: str | None = None, height: int = 520
) -> go.Figure:
    """Bytes per vector (log scale) against retention (nDCG@10 / float32's): every variant a point,
    one trace per family, hover with the figures; random-k with ± std bars; the Pareto front dotted.

    float32 is drawn last (on top): the k = d variants and drop-dead sit on or next to it.
    """
    rows = _rows(variants)
    full = next((r for r in rows if r["family"] == "float32"), rows[0])
    fig = go.Figure()
    present = [f for f in VARIANT_FAMILIES if any(r["family"] == f for r in rows)]
    for family in sorted(present, key=lambda f: f == "float32"):
        mine = [r for r in rows if r["family"] == family]
        color, symbol = _FAMILY_STYLE.get(family, (GREY, "circle"))
        std = floats([r.get("retention_std") for r in mine])
        custom = [
            [
                r["name"],
                r["bytes_per_vector"] / full["bytes_per_vector"],
                r["recall_at_1"],
                r["recall_at_10"],
                r["mrr"],
                r["ndcg_at_10"],
                r["dims"],
            ]
            for r in mine
        ]
        fig.add_trace(
            go.Scatter(
                x=[r["bytes_per_vector"] for r in mine],
                y=floats([r["retention"] for r in mine]),
                mode="markers",
                name=VARIANT_FAMILY_LABELS.get(family, family),
                legendgroup=family,
                legendrank=100 + present.index(family),
                marker={"color": color, "symbol": symbol, "size": 13 if family == "float32" else 9},
                error_y={"type": "data", "array": np.nan_to_num(std), "visible": True, "thickness": 1}
                if family == "random"
                else None,
                customdata=custom,
                hovertemplate="<b>%{customdata[0]}</b><br>"
                "%{x:,} bytes per vector (%{customdata[1]:.1%} of float32), %{customdata[6]} dims or bits<br>"
                "retention %{y:.2%}<br>"
                "nDCG@10 %{customdata[5]:.3f} · MRR %{customdata[4]:.3f}<br>"
                "recall@1 %{customdata[2]:.3f} · recall@10 %{customdata[3]:.3f}<extra></extra>",
            )
        )
    nbytes = np.array([r["bytes_per_vector"] for r in rows], dtype=np.float64)
    retention = floats([r["retention"] for r in rows])
    front = _pareto_front(nbytes, retention)
    if front.size:
        fig.add_trace(
            go.Scatter(
                x=nbytes[front],
                y=retention[front],
                mode="lines",
                name="best retention for the bytes",
                line={"color": GREY, "dash": "dot", "width": 1.5, "shape": "hv"},
                hoverinfo="skip",
            )
        )
    wide_label_layout(fig, title=title or "What each storage choice keeps, against its bytes", height=height)
    fig.update_xaxes(
        type="log",
        title={"text": "bytes per stored vector (log scale)"},
        tickvals=_spread_ticks(nbytes),
        tickangle=0,
    )
    fig.update_yaxes(title={"text": "retention: nDCG@10 / float32's"}, tickformat=".0%")
    return fig


def truncation_chart(
    variants: Sequence[VariantScore | Mapping[str, Any]], *, title: str | None = None, height: int = 440
) -> go.Figure:
    """The Matryoshka check: nDCG@10 against k for the first k dims, random k (± std band),
    top-variance k and PCA-k, with float32 as a dashed line."""
    rows = _rows(variants)
    fig = go.Figure()
    random = sorted((r for r in rows if r["family"] == "random"), key=lambda r: r["k"])
    if random:
        k = np.array([r["k"] for r in random], dtype=np.float64)
        mean = floats([r["ndcg_at_10"] for r in random])
        std = np.nan_to_num(floats([r.get("ndcg_at_10_std") for r in random]))
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([k, k[::-1]]),
                y=np.concatenate([mean + 2 * std, (mean - 2 * std)[::-1]]),
                fill="toself",
                fillcolor="rgba(230,159,0,0.25)",
                line={"width": 0},
                mode="lines",
                hoverinfo="skip",
                name="random k ± 2 std over draws",
            )
        )
    for family in ("prefix", "random", "top-variance", "pca"):
        mine = sorted((r for r in rows if r["family"] == family), key=lambda r: r["k"])
        if not mine:
            continue
        color, symbol = _FAMILY_STYLE[family]
        fig.add_trace(
            go.Scatter(
                x=[r["k"] for r in mine],
                y=floats([r["ndcg_at_10"] for r in mine]),
                customdata=floats([r["retention"] for r in mine]),
                mode="lines+markers",
                name=VARIANT_FAMILY_LABELS[family],
                line={
                    "color": color,
                    "width": 2.5 if family == "prefix" else 1.5,
                    "dash": "dash" if family == "random" else "solid",
                },
                marker={"symbol": symbol, "size": 8, "color": color},
                hovertemplate=f"{escape(VARIANT_FAMILY_LABELS[family])}<br>k = %{{x}}<br>nDCG@10 %{{y:.3f}}"
                " (retention %{customdata:.1%})<extra></extra>",
            )
        )
    full = next((r for r in rows if r["family"] == "float32"), None)
    if full is not None:
        fig.add_hline(
            y=float(full["ndcg_at_10"]),
            line={"color": GREY, "dash": "dash", "width": 1.5},
            annotation_text=f"float32, all {full['dims']} dims: {full['ndcg_at_10']:.3f}",
            annotation_position="bottom left",
        )
    wide_label_layout(fig, title=title or "Keeping the first k dimensions, against k random ones", height=height)
    ks = sorted({int(r["k"]) for r in rows if r.get("k") is not None})
    fig.update_xaxes(
        type="log", title={"text": "k, dimensions kept (log scale)"}, tickvals=ks, ticktext=[str(k) for k in ks]
    )
    fig.update_yaxes(title={"text": "nDCG@10"})
    return fig


def _dim_colors(d: int, marked: Sequence[int], color: str = ALIVE_COLOR) -> list[str]:
    colors = [color] * d
    for j in marked:
        if 0 <= j < d:
            colors[j] = DEAD_COLOR
    return colors


def bit_balance_chart(balance: Sequence[float], *, dead_dims: Sequence[int] = (), height: int = 380) -> go.Figure:
    """P(x > 0) per dimension: 0.5 is a full bit in binary storage; near 0 or 1 the bit carries almost nothing."""
    p = floats(balance)
    d = p.size
    entropy = np.zeros(d)
    inner = (p > 0) & (p < 1)
    entropy[inner] = -(p[inner] * np.log2(p[inner]) + (1 - p[inner]) * np.log2(1 - p[inner]))
    fig = go.Figure(
        go.Bar(
            x=np.arange(d),
            y=p,
            marker={"color": _dim_colors(d, dead_dims), "line": {"width": 0}},
            customdata=entropy,
            name="P(x > 0)",
            hovertemplate="dim %{x}<br>P(x > 0) = %{y:.3f}<br>information %{customdata:.2f} bit<extra></extra>",
        )
    )
    fig.add_hline(y=0.5, line={"color": GREY, "dash": "dash", "width": 1})
    low = int(np.count_nonzero(entropy < 0.5))
    wide_label_layout(
        fig,
        title=f"Bit balance per dimension<br><sup>{low} of {d} sign bits carry under half a bit of information</sup>",
        height=height,
        showlegend=False,
        bargap=0,
    )
    fig.update_xaxes(title={"text": "dimension (dead ones in vermillion)"})
    fig.update_yaxes(title={"text": "P(x > 0)"}, range=[0, 1])
    return fig


def int8_range_chart(
    range_over_std: Sequence[float], std: Sequence[float], *, dead_dims: Sequence[int] = (), height: int = 380
) -> go.Figure:
    """(max - min) / std per dimension: how far int8's 256 levels are stretched by the extremes."""
    ratio = floats(range_over_std)
    s = floats(std)
    d = ratio.size
    spread = ratio * s  # max - min
    median = float(np.median(spread)) if d else 0.0
    dead = [j for j in dead_dims if 0 <= j < d]
    note = "how far the extremes stretch int8's 256 levels"
    if dead and median > 0:
        narrow = median / max(float(spread[dead].max()), 1e-30)
        times = f"{narrow:,.0f}" if narrow < 1000 else f"1e{int(np.floor(np.log10(narrow)))}"
        note = f"dead dims: ranges over {times} times narrower than the median, yet the same 256 levels"
    fig = go.Figure(
        go.Bar(
            x=np.arange(d),
            y=ratio,
            marker={"color": _dim_colors(d, dead_dims), "line": {"width": 0}},
            customdata=np.stack([s, ratio / 255.0, spread], axis=1) if d else None,
            name="range / std",
            hovertemplate="dim %{x}<br>range / std = %{y:.1f}<br>range %{customdata[2]:.2e}, std %{customdata[0]:.2e}"
            "<br>one int8 step = %{customdata[1]:.3f} std<extra></extra>",
        )
    )
    wide_label_layout(
        fig,
        title=f"int8 range per dimension: (max - min) / std<br><sup>{escape(note)}</sup>",
        height=height,
        showlegend=False,
        bargap=0,
    )
    fig.update_xaxes(title={"text": "dimension (dead ones in vermillion)"})
    fig.update_yaxes(title={"text": "(max - min) / std"})
    return fig


def cosine_share_chart(
    raw: Sequence[float | None], standardized: Sequence[float | None], *, top: int = 20, height: int = 400
) -> go.Figure:
    """The rogue-dimension ledger: each dimension's share of the mean pairwise cosine, the ``top``
    dimensions by raw share, raw and after z-scoring every dimension."""
    r, z = floats(raw), floats(standardized)
    fig = go.Figure()
    if r.size == 0 or not np.isfinite(r).any():
        wide_label_layout(fig, title="Share of the mean cosine: undefined (the contributions cancel)", height=height)
        return fig
    both = np.fmax(np.nan_to_num(r, nan=-np.inf), np.nan_to_num(z, nan=-np.inf))
    order = np.lexsort((np.arange(r.size), -both))[:top]
    labels = [f"dim {j}" for j in order]
    for name, values, color in (("raw", r, ALIVE_COLOR), ("equal spread (each dim ÷ its std)", z, SECOND_COLOR)):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values[order],
                name=name,
                marker={"color": color},
                hovertemplate=f"%{{x}}<br>{name} share %{{y:.2%}}<extra></extra>",
            )
        )
    by_raw = np.lexsort((np.arange(r.size), -np.nan_to_num(r, nan=-np.inf)))
    top1 = float(r[by_raw[0]])
    top3 = float(np.nansum(r[by_raw[:3]]))
    zs = np.nan_to_num(z, nan=-np.inf)
    z_top = int(np.argmax(zs)) if np.isfinite(zs).any() else None
    extra = f"; at equal spread dim {z_top} takes {z[z_top]:.1%}" if z_top is not None else ""
    wide_label_layout(
        fig,
        title=f"Share of the mean pairwise cosine<br><sup>raw: top dim {top1:.1%}, top 3 {top3:.1%}{extra}</sup>",
        height=height,
        barmode="group",
    )
    fig.update_xaxes(
        title={"text": f"the {len(order)} dimensions with the largest share, raw or at equal spread"}, type="category"
    )
    fig.update_yaxes(title={"text": "share of the mean cosine"}, tickformat=".0%")
    return fig


def harmful_chart(
    units: Sequence[Sequence[int]],
    gains: Sequence[float],
    standard_errors: Sequence[float],
    *,
    z: float = 2.0,
    mode: str = "leave-one-out",
    height: int = 400,
) -> go.Figure:
    """nDCG@10 change when each dimension (or group) is removed, ± ``z`` standard errors; the units
    whose gain clears the noise in vermillion."""
    g, se = floats(gains), floats(standard_errors)
    clear = (g > 0) & (g > z * se)
    if mode == "leave-one-out":
        x: list[Any] = [int(u[0]) for u in units]
        hover_units = [f"dim {u[0]}" for u in units]
    else:
        x = [f"group {i}" for i in range(len(units))]
        hover_units = [
            f"{len(u)} dims: " + ", ".join(map(str, list(u)[:12])) + (" …" if len(u) > 12 else "") for u in units
        ]
    fig = go.Figure(
        go.Bar(
            x=x,
            y=g,
            marker={"color": [DEAD_COLOR if c else ALIVE_COLOR for c in clear], "line": {"width": 0}},
            error_y={
                "type": "data",
                "array": z * np.nan_to_num(se),
                "visible": True,
                "thickness": 0.6,
                "width": 0,
                "color": "rgba(128,128,128,0.45)",
            },
            customdata=hover_units,
            name="change in nDCG@10",
            hovertemplate="%{customdata}<br>nDCG@10 change when removed: %{y:+.4f}<extra></extra>",
        )
    )
    fig.add_hline(y=0, line={"color": GREY, "width": 1})
    what = "dimension" if mode == "leave-one-out" else "group of dimensions"
    wide_label_layout(
        fig,
        title=f"nDCG@10 change when one {what} is removed<br><sup>{int(clear.sum())} clearly raise it "
        f"(gain above {z:g} standard errors, the grey whiskers)</sup>",
        height=height,
        showlegend=False,
        bargap=0.05,
    )
    fig.update_xaxes(
        title={
            "text": "dimension removed" if mode == "leave-one-out" else "group (by document variance, largest first)"
        },
        type="linear" if mode == "leave-one-out" else "category",
    )
    fig.update_yaxes(title={"text": "nDCG@10 without it - with it"})
    return fig
