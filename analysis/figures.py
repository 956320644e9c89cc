"""Plotly figure builders: data in, ``plotly.graph_objects.Figure`` out.

Every function is pure: it never shows, writes or caches anything, so tests call it without a
server and check the structure with ``fig.to_dict()``. Conventions shared by all figures:

* numeric data goes in as numpy arrays, which plotly serializes as compact typed arrays;
* signed values use a diverging, colour-blind-safe scale centred on zero (``RdBu`` reversed:
  blue below zero, red above);
* categorical colours come from the Okabe-Ito palette, dead dimensions are always vermillion;
* backgrounds are transparent and fonts are not forced, so the Streamlit theme (light or dark)
  applies when the page uses ``st.plotly_chart(fig, theme="streamlit")``;
* the heatmap caps the cells it sends (rows are sampled evenly, never at random) and says so.

>>> import numpy as np, pandas as pd
>>> stats = pd.DataFrame({"dim": [0, 1, 2], "std": [0.1, 1e-6, 0.2], "variance": [0.01, 1e-12, 0.04]})
>>> fig = std_bar_chart(stats, dead_dims=[1])
>>> [trace.name for trace in fig.data][:2]
['dimension', 'dead dimension']
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis import tables

if TYPE_CHECKING:  # pandas is imported where a figure needs it, not by every page that draws
    import pandas as pd

__all__ = [
    "ALIVE_COLOR",
    "BELOW_COLOR",
    "DEAD_COLOR",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CELLS",
    "DEFAULT_MAX_ROWS",
    "DIVERGING_SCALE",
    "MODEL_COLORS",
    "dimension_distribution",
    "dimension_heatmap",
    "dimension_vs_others",
    "label_counts_chart",
    "per_label_means",
    "raw_vs_normalized",
    "sorted_std_curves",
    "std_bar_chart",
    "std_distribution_by_model",
]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, on light and dark.
ALIVE_COLOR = "#0072B2"  # blue
DEAD_COLOR = "#D55E00"  # vermillion
BELOW_COLOR = "#E69F00"  # orange
SELECTED_COLOR = "#CC79A7"  # reddish purple
MODEL_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
NEGATIVE_COLOR = "#2166AC"  # the blue end of RdBu
POSITIVE_COLOR = "#B2182B"  # the red end of RdBu
# ColorBrewer RdBu is colour-blind safe; reversed so that negative is blue and positive red.
DIVERGING_SCALE = "RdBu_r"

# About one row per pixel of the default 640-px heatmap: more rows draw no more detail, and
# Streamlit's front end re-serializes a chart's whole spec ~40 times to theme it, so every MB of
# heatmap costs ~0.4 s in the browser on 2 cores. FULL_MAX_ROWS is the "every text" option.
DEFAULT_MAX_ROWS = 600
FULL_MAX_ROWS = 2_000
# 650k float32 cells are ~3.5 MB of JSON: the default corpus (1,629 texts x 384 dims) fits whole.
DEFAULT_MAX_CELLS = 650_000
# What the heatmap may weigh serialized; leaves room for the other charts of a page within 5 MB.
DEFAULT_MAX_BYTES = 4_200_000
SNIPPET_CHARS = 70
_TRANSPARENT = "rgba(0,0,0,0)"


# --- helpers -------------------------------------------------------------------------------------


def _layout(fig: go.Figure, *, title: str, height: int | None = None, **extra: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        paper_bgcolor=_TRANSPARENT,
        plot_bgcolor=_TRANSPARENT,
        margin={"l": 60, "r": 20, "t": 70, "b": 100},
        # Under the plot: a legend never collides with the title or labels along the top edge.
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.0, "xanchor": "left", "x": 0},
        hoverlabel={"align": "left"},
        **extra,
    )
    if extra.get("showlegend") is False:
        fig.update_layout(margin={"b": 50})
    if height:
        fig.update_layout(height=height)
    return fig


def _escape(text: str) -> str:
    """Text safe for plotly labels: plotly renders a subset of HTML (<b>, <a href>, <br>)."""
    return html.escape(text, quote=False)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One line, at most ``limit`` characters, HTML-escaped (for hover labels)."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _escape(flat)


def _as_1d(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _metric_label(metric: str) -> str:
    return {"std": "standard deviation", "variance": "variance"}.get(metric, metric)


def _model_color(i: int) -> str:
    return MODEL_COLORS[i % len(MODEL_COLORS)]


# --- heatmap -------------------------------------------------------------------------------------


def _payload_estimate(z: np.ndarray, row_labels: Sequence[str]) -> int:
    """Bytes of the heatmap's JSON: base64 of z (with '/' escaped as 6 characters) plus labels."""
    encoded = base64.b64encode(z.tobytes())
    return len(encoded) + 5 * encoded.count(b"/") + sum(len(label) + 3 for label in row_labels) + 20_000


def sample_positions(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced positions in ``range(n)`` (all of them when ``k >= n``); deterministic.

    >>> sample_positions(10, 4).tolist()
    [0, 3, 6, 9]
    """
    if n <= 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def dimension_heatmap(
    matrix: Any,
    *,
    texts: Sequence[str],
    labels: Sequence[str] | None = None,
    dims: Sequence[int] | np.ndarray | None = None,
    view_name: str,
    dead_dims: Sequence[int] = (),
    row_order: Sequence[int] | np.ndarray | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_cells: int = DEFAULT_MAX_CELLS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    clip_quantile: float = 0.995,
    dim_order_name: str = "index",
    height: int = 640,
) -> go.Figure:
    """Texts x dimensions heatmap of ``matrix`` (n_texts x n_dims; a numpy array or anything that
    returns rows for an index array, such as :class:`analysis.tables.ViewMatrix`).

    * ``dims``: the columns to show, in display order (default: all, by index).
    * ``row_order``: the order of the texts (default: corpus order); shown top to bottom.
    * At most ``max_rows`` rows, ``max_cells`` cells and about ``max_bytes`` of JSON are sent; when
      the corpus is larger, rows are taken at evenly spaced positions of ``row_order`` and the
      title says so.
    * The colour scale is diverging and centred on zero; its range is clipped symmetrically at the
      ``clip_quantile`` of |value| so that a few outliers do not wash out the rest (stated on the
      colour bar).
    * Dead dimensions in view are outlined and labelled.
    """
    n_texts = len(texts)
    shape = getattr(matrix, "shape", None)
    n_dims = int(shape[1]) if shape is not None and len(shape) == 2 else 0
    if shape is not None and int(shape[0]) != n_texts:
        raise ValueError(f"matrix has {shape[0]} rows for {n_texts} texts")
    if labels is not None and len(labels) != n_texts:
        raise ValueError(f"{len(labels)} labels for {n_texts} texts")
    columns = np.arange(n_dims, dtype=np.int64) if dims is None else np.asarray(dims, dtype=np.int64).reshape(-1)
    if columns.size and (columns.min() < 0 or columns.max() >= n_dims):
        raise ValueError(f"dims must lie in 0..{n_dims - 1}")
    max_cells = max(1, int(max_cells))
    if columns.size > max_cells:
        columns = columns[:max_cells]
    order = np.arange(n_texts, dtype=np.int64) if row_order is None else np.asarray(row_order, dtype=np.int64)
    k = min(order.size, max(1, int(max_rows)), max(1, max_cells // max(1, columns.size)))

    def build(k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        rows = order[sample_positions(order.size, k)]
        if rows.size and columns.size:
            z = np.asarray(matrix[rows], dtype=np.float32)[:, columns]
        else:
            z = np.zeros((rows.size, columns.size), dtype=np.float32)
        row_labels = []
        for r in rows:
            tag = f" [{_escape(labels[r])}]" if labels is not None and labels[r] else ""
            row_labels.append(f"#{int(r)}{tag} {snippet(texts[r])}")
        return rows, np.ascontiguousarray(z, dtype=np.float32), row_labels

    rows, z, row_labels = build(k)
    # The byte budget: plotly sends z as base64 and escapes each '/' as 6 characters, so the size
    # depends on the values; estimate it exactly and take fewer rows until it fits.
    for _ in range(6):
        size = _payload_estimate(z, row_labels)
        if size <= max_bytes or rows.size <= 1:
            break
        rows, z, row_labels = build(max(1, int(rows.size * max_bytes / size * 0.97)))
    sampled = rows.size < order.size

    finite = np.abs(z[np.isfinite(z)])
    bound = float(np.quantile(finite, clip_quantile)) if finite.size else 1.0
    if not np.isfinite(bound) or bound <= 0:
        bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0

    x_labels = [str(int(d)) for d in columns]

    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x_labels,
            y=row_labels,
            colorscale=DIVERGING_SCALE,
            zmid=0.0,
            zmin=-bound,
            zmax=bound,
            colorbar={"title": {"text": f"value<br>(±{bound:.3g}, clipped)"}, "thickness": 14},
            hovertemplate="text %{y}<br>dimension %{x}<br>value %{z:.4g}<extra></extra>",
            name=f"{view_name} values",
        )
    )
    shown = f"{rows.size:,} of {n_texts:,} texts" if sampled else f"all {n_texts:,} texts"
    title = f"{view_name.capitalize()} values: {shown} × {columns.size:,} dimensions"
    if sampled:
        step = order.size / max(1, rows.size)
        title += (
            f"<br><sup>Rows sampled evenly (about 1 in {step:.1f}) to keep the chart light "
            f"(at most {max_rows:,} rows, {max_cells:,} cells, ~{max_bytes / 1e6:.0f} MB); "
            f"statistics use every text.</sup>"
        )
    _layout(fig, title=title, height=height)
    fig.update_layout(margin={"l": 60, "t": 90})
    fig.update_xaxes(
        title={"text": f"dimension (ordered by {dim_order_name})"}, type="category", showgrid=False,
        nticks=min(20, max(2, columns.size)),
    )
    by_label = labels is not None and row_order is not None and _is_grouped([labels[r] for r in rows])
    fig.update_yaxes(
        title={"text": "texts" + (" (grouped by label)" if by_label else " (corpus order)")},
        type="category", autorange="reversed", showticklabels=False, showgrid=False,
    )

    # Dead dimensions: outline their columns and label them. Shapes and annotations are collected
    # and set once: plotly's add_shape/add_annotation re-validate the whole list on every call.
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    position = {int(d): i for i, d in enumerate(columns)}
    dead_in_view = [int(d) for d in dead_dims if int(d) in position]
    for d in dead_in_view:
        i = position[d]
        shapes.append({
            "type": "rect", "x0": i - 0.5, "x1": i + 0.5, "y0": 0, "y1": 1, "xref": "x", "yref": "paper",
            "line": {"color": DEAD_COLOR, "width": 2}, "fillcolor": _TRANSPARENT, "name": f"dead {d}",
        })
    # One label per cluster of nearby dead columns (sorted by std they sit side by side).
    gap = max(3, columns.size // 25)
    clusters: list[list[int]] = []
    for d in sorted(dead_in_view, key=position.__getitem__):
        if clusters and position[d] - position[clusters[-1][-1]] <= gap:
            clusters[-1].append(d)
        else:
            clusters.append([d])
    if len(clusters) <= 10:
        for cluster in clusters:
            names = ", ".join(str(d) for d in cluster[:6]) + ("…" if len(cluster) > 6 else "")
            notes.append({
                "x": (position[cluster[0]] + position[cluster[-1]]) / 2, "xref": "x", "y": 1.0, "yref": "paper",
                "yanchor": "bottom", "text": f"dead {names}", "showarrow": False,
                "font": {"color": DEAD_COLOR, "size": 11},
                "xanchor": "right" if position[cluster[-1]] > 0.9 * columns.size else "center",
            })
    elif dead_in_view:
        notes.append({
            "x": 1, "xref": "paper", "y": 1.0, "yref": "paper", "yanchor": "bottom", "xanchor": "right",
            "text": f"{len(dead_in_view)} dead dimensions outlined", "showarrow": False, "font": {"color": DEAD_COLOR},
        })

    # Label groups: a line between groups, and the label as a tick at the middle of its group
    # (ticks, unlike annotations, make room for themselves). Groups too thin to hold a line of
    # text are left unnamed; the hover label still names them.
    if by_label and rows.size:
        shown_labels = [labels[r] for r in rows]  # type: ignore[index]
        starts = [0] + [i for i in range(1, len(shown_labels)) if shown_labels[i] != shown_labels[i - 1]]
        for s in starts[1:]:
            shapes.append({
                "type": "line", "x0": 0, "x1": 1, "xref": "paper", "y0": s - 0.5, "y1": s - 0.5, "yref": "y",
                "line": {"color": "rgba(128,128,128,0.9)", "width": 1},
            })
        min_rows = max(1, int(np.ceil(rows.size * 13 / max(100, height - 170))))
        bounds = starts + [len(shown_labels)]
        tickvals, ticktext = [], []
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b - a >= min_rows:
                tickvals.append(row_labels[(a + b - 1) // 2])
                ticktext.append(snippet(shown_labels[a] or "(none)", 24))
        fig.update_yaxes(
            showticklabels=True, tickmode="array", tickvals=tickvals, ticktext=ticktext, ticks="",
            tickfont={"size": 10}, automargin=True,
        )
    fig.update_layout(shapes=shapes, annotations=notes)
    return fig


def _is_grouped(values: Sequence[str]) -> bool:
    """True when equal values are contiguous (rows ordered by label)."""
    seen: set[str] = set()
    previous = None
    for v in values:
        if v != previous:
            if v in seen:
                return False
            seen.add(v)
            previous = v
    return True


# --- per-dimension spread ------------------------------------------------------------------------


def std_bar_chart(
    stats: pd.DataFrame | Mapping[str, np.ndarray],
    *,
    dead_dims: Sequence[int],
    sort: bool = False,
    log_y: bool = False,
    threshold: float | None = None,
    threshold_label: str | None = None,
    metric: str = "std",
    view_name: str = "normalized",
    height: int = 440,
) -> go.Figure:
    """One mark per dimension: its std (or variance), by index or sorted largest first.

    On a linear axis the marks are bars; on a log axis they are dots, because log-scale bars all
    start from the axis floor and a dead dimension at 1e-30 would turn every other bar into a wall.
    Dead dimensions get their own trace (vermillion, with an ``x`` marker so that a near-zero bar
    stays visible and a dotted line at their position); dimensions below ``threshold`` (same units
    as the metric) that are not dead are orange, and the threshold is a dashed line with a legend
    entry. Every trace carries the dimension in ``customdata``.
    """
    if metric not in ("std", "variance"):
        raise ValueError("metric must be 'std' or 'variance'")
    dims = np.asarray(stats["dim"], dtype=np.int64)
    values = np.asarray(stats[metric], dtype=np.float64)
    if sort:
        order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
        dims, values = dims[order], values[order]
        x = np.arange(dims.size, dtype=np.int64)
    else:
        x = dims
    dead = np.isin(dims, np.asarray(list(dead_dims), dtype=np.int64))
    below = (~dead) & (values < threshold) if threshold is not None else np.zeros(dims.size, dtype=bool)
    alive = ~(dead | below)
    hover = "dimension %{customdata}<br>" + metric + " %{y:.4g}<extra>%{fullData.name}</extra>"
    fig = go.Figure()
    groups = [("dimension", alive, ALIVE_COLOR), ("dead dimension", dead, DEAD_COLOR)]
    if threshold is not None:
        groups.append(("below threshold", below, BELOW_COLOR))
    for name, mask, color in groups:
        common = {
            "x": x[mask], "y": values[mask], "customdata": dims[mask], "name": name, "legendgroup": name,
            "hovertemplate": hover, "showlegend": bool(mask.any()) or name == "dead dimension",
        }
        if log_y:
            size = 11 if name == "dead dimension" else 5
            symbol = "x" if name == "dead dimension" else "circle"
            fig.add_trace(go.Scatter(mode="markers", marker={"color": color, "size": size, "symbol": symbol}, **common))
        else:
            fig.add_trace(go.Bar(width=1.0, marker={"color": color, "line": {"width": 0}}, **common))
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if dead.any():
        if not log_y:  # a bar of height ~0 is invisible: mark it
            fig.add_trace(
                go.Scatter(
                    x=x[dead], y=values[dead], customdata=dims[dead], mode="markers", name="dead dimension",
                    marker={"color": DEAD_COLOR, "symbol": "x", "size": 11}, legendgroup="dead dimension",
                    showlegend=False, hovertemplate=hover,
                )
            )
        for xi in x[dead]:
            shapes.append({
                "type": "line", "x0": float(xi), "x1": float(xi), "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
                "line": {"color": DEAD_COLOR, "width": 1, "dash": "dot"}, "opacity": 0.8, "layer": "below",
            })
        dead_names = [str(int(d)) for d in dims[dead]]
        if sort or len(dead_names) > 8:
            notes.append({
                "x": float(x[dead].min()) if sort else float(x[dead].mean()), "xref": "x", "y": 1, "yref": "paper",
                "yanchor": "bottom", "xanchor": "right" if sort else "center", "showarrow": False,
                "text": "dead: " + ", ".join(dead_names[:12]) + ("…" if len(dead_names) > 12 else ""),
                "font": {"color": DEAD_COLOR},
            })
        else:
            for xi, name in zip(x[dead], dead_names):
                notes.append({
                    "x": float(xi), "xref": "x", "y": 1, "yref": "paper", "yanchor": "bottom", "text": name,
                    "showarrow": False, "font": {"color": DEAD_COLOR},
                })
    if threshold is not None and np.isfinite(threshold):
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        fig.add_trace(
            go.Scatter(
                x=[lo - 0.5, hi + 0.5], y=[threshold, threshold], mode="lines", name=threshold_label or "threshold",
                line={"color": BELOW_COLOR, "dash": "dash", "width": 2}, hoverinfo="skip",
            )
        )
    fig.update_layout(shapes=shapes, annotations=notes)
    order_text = "sorted, largest first" if sort else "by index"
    title = f"{_metric_label(metric).capitalize()} of each dimension ({view_name} view, {order_text})"
    nonpositive = int(np.sum(values <= 0)) if log_y else 0
    if nonpositive:
        title += f"<br><sup>{nonpositive} dimension(s) with {metric} 0 cannot be drawn on a log axis.</sup>"
    _layout(fig, title=title, height=height, bargap=0, barmode="overlay")
    fig.update_xaxes(title={"text": "rank (largest first)" if sort else "dimension"}, showgrid=False)
    _value_axis(fig, metric, log_y)
    return fig


def _value_axis(fig: go.Figure, name: str, log_y: bool, **where: Any) -> None:
    fig.update_yaxes(
        title={"text": name + (" (log scale)" if log_y else "")}, type="log" if log_y else "linear",
        exponentformat="power", **where,
    )


# --- one dimension -------------------------------------------------------------------------------


def dimension_distribution(
    values: Any,
    *,
    dim: int,
    view_name: str,
    dead: bool = False,
    bins: int = 60,
    height: int = 360,
) -> go.Figure:
    """Histogram of one dimension's values over the corpus (binned here: only the bins are sent)."""
    v = _as_1d(values)
    v = v[np.isfinite(v)]
    if v.size:
        lo, hi = float(v.min()), float(v.max())
        if hi - lo <= 0:
            span = max(abs(lo) * 1e-3, 1e-12)
            lo, hi = lo - span, hi + span
        counts, edges = np.histogram(v, bins=max(1, int(bins)), range=(lo, hi))
    else:
        counts, edges = np.zeros(1, dtype=np.int64), np.array([0.0, 1.0])
    centers = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Bar(
            x=centers, y=counts, width=np.diff(edges), name="texts",
            marker={"color": DEAD_COLOR if dead else ALIVE_COLOR, "line": {"width": 0}},
            customdata=np.stack([edges[:-1], edges[1:]], axis=1),
            hovertemplate="value %{customdata[0]:.4g} to %{customdata[1]:.4g}<br>%{y} texts<extra></extra>",
        )
    )
    if v.size:
        mean = float(v.mean())
        fig.add_vline(x=mean, line={"color": SELECTED_COLOR, "width": 2, "dash": "dash"})
        fig.add_annotation(x=mean, y=1, yref="paper", yanchor="bottom", text=f"mean {mean:.3g}", showarrow=False)
        if edges[0] <= 0 <= edges[-1]:
            fig.add_vline(x=0.0, line={"color": "rgba(128,128,128,0.8)", "width": 1})
    title = f"Distribution of dimension {dim} ({view_name} view)<br><sup>{v.size:,} texts"
    title += "; a dead dimension: every value is near zero</sup>" if dead else "</sup>"
    _layout(fig, title=title, height=height, bargap=0, showlegend=False)
    fig.update_xaxes(title={"text": f"value of dimension {dim}"})
    fig.update_yaxes(title={"text": "number of texts"})
    return fig


def per_label_means(
    values: Any,
    labels: Sequence[str],
    *,
    dim: int,
    view_name: str,
    max_labels: int = 40,
    height: int | None = None,
) -> go.Figure:
    """Mean of one dimension per label (horizontal bars, sorted) with 95% intervals (1.96 x SEM).

    Blue bars are below zero and red above, matching the heatmap's scale. With more than
    ``max_labels`` labels only the most negative and most positive halves are shown (said in the title).
    """
    table = tables.label_means(values, labels)
    n_labels = len(table)
    if n_labels > max_labels:
        half = max(1, max_labels // 2)
        import pandas as pd

        table = pd.concat([table.head(half), table.tail(half)])
    means = table["mean"].to_numpy(dtype=np.float64)
    fig = go.Figure(
        go.Bar(
            x=means,
            y=[snippet(str(label) or "(none)", 40) for label in table["label"]],
            orientation="h",
            error_x={"type": "data", "array": 1.96 * table["sem"].to_numpy(dtype=np.float64), "visible": True},
            marker={"color": np.where(means < 0, NEGATIVE_COLOR, POSITIVE_COLOR).tolist()},
            customdata=table[["count", "std"]].to_numpy(dtype=np.float64),
            hovertemplate="%{y}<br>mean %{x:.4g}<br>std %{customdata[1]:.3g}<br>%{customdata[0]:.0f} texts"
            "<extra></extra>",
            name="mean per label",
        )
    )
    title = f"Dimension {dim} ({view_name} view): mean per label, with 95% intervals"
    if n_labels > max_labels:
        title += f"<br><sup>{len(table)} of {n_labels} labels: the lowest and highest means.</sup>"
    _layout(fig, title=title, height=height or max(300, 80 + 22 * len(table)), showlegend=False)
    fig.update_xaxes(title={"text": f"mean value of dimension {dim}"}, zeroline=True)
    fig.update_yaxes(title={"text": "label"}, type="category", automargin=True)
    return fig


def dimension_vs_others(
    stats: pd.DataFrame,
    dim: int,
    *,
    dead_dims: Sequence[int] = (),
    view_name: str = "normalized",
    log_y: bool = True,
    height: int = 380,
) -> go.Figure:
    """Every dimension's std by index, with the chosen one starred and the dead ones marked.

    Points carry their dimension in ``x`` and ``customdata``, so a page can let users click one.
    """
    dims = stats["dim"].to_numpy(dtype=np.int64)
    std = stats["std"].to_numpy(dtype=np.float64)
    dead = np.isin(dims, np.asarray(list(dead_dims), dtype=np.int64))
    floor = _log_floor([stats], {"m": dead_dims}, ["m"]) if log_y else None
    shown = np.maximum(std, floor) if floor is not None else std
    custom = np.column_stack([dims.astype(np.float64), std])
    hover = "dimension %{customdata[0]:.0f}<br>std %{customdata[1]:.4g}<extra>%{fullData.name}</extra>"
    chosen = dims == int(dim)
    clipped = floor is not None and bool((std[dead] < floor).any())
    fig = go.Figure()
    for name, mask, marker in (
        ("dimension", ~dead, {"color": ALIVE_COLOR, "size": 6, "opacity": 0.75}),
        ("dead dimension", dead, {"color": DEAD_COLOR, "size": 11, "symbol": "triangle-down" if clipped else "x"}),
        (f"dimension {dim}", chosen,
         {"color": SELECTED_COLOR, "size": 18, "symbol": "star", "line": {"width": 1, "color": "#777"}}),
    ):
        fig.add_trace(go.Scatter(x=dims[mask], y=shown[mask], customdata=custom[mask], mode="markers", name=name,
                                 marker=marker, hovertemplate=hover))
    finite = std[np.isfinite(std)]
    if finite.size:
        median = float(np.median(finite))
        fig.add_hline(y=median, line={"color": "rgba(128,128,128,0.8)", "dash": "dash", "width": 1})
        fig.add_annotation(
            x=1, xref="paper", xanchor="right", y=np.log10(median) if log_y and median > 0 else median,
            yanchor="bottom", text="median", showarrow=False,
        )
    subtitle = f"std in the {view_name} view"
    if chosen.any() and np.isfinite(std[chosen][0]):
        rank = int(np.sum(std > std[chosen][0])) + 1
        subtitle = f"std rank {rank} of {dims.size} (1 = largest), {view_name} view"
    if clipped:
        subtitle += "; ▼ dead, drawn at the axis floor"
    _layout(fig, title=f"Dimension {dim} among all {dims.size}<br><sup>{subtitle}</sup>", height=height)
    fig.update_xaxes(title={"text": "dimension"})
    _value_axis(fig, "std", log_y)
    _log_range(fig, [stats], floor)
    return fig


# --- several models ------------------------------------------------------------------------------


def _log_floor(
    frames: Sequence[pd.DataFrame], dead: Mapping[str, Sequence[int]] | None, names: Sequence[str]
) -> float | None:
    """The bottom of a log axis: a quarter of the smallest std of any live dimension.

    Dead dimensions sit 20-30 orders of magnitude lower; drawing them at their true value would
    squash every live dimension into a flat line at the top, so they are drawn at this floor
    (with a downward triangle) and their true value stays in the hover and the tables.
    """
    lows = []
    for name, frame in zip(names, frames):
        std = frame["std"].to_numpy(dtype=np.float64)
        dead_dims = np.asarray(list((dead or {}).get(name, ())), dtype=np.int64)
        live = ~np.isin(frame["dim"].to_numpy(dtype=np.int64), dead_dims)
        values = std[live & np.isfinite(std) & (std > 0)]
        if values.size:
            lows.append(float(values.min()))
    return min(lows) / 4 if lows else None


def _log_range(fig: go.Figure, frames: Sequence[pd.DataFrame], floor: float | None, **where: Any) -> bool:
    """Fix a log axis to [floor, max]; returns whether some value had to be drawn at the floor."""
    if floor is None:
        return False
    highs = [float(np.nanmax(f["std"].to_numpy(dtype=np.float64))) for f in frames if len(f)]
    top = max(highs) if highs else 1.0
    low, high = np.log10(floor) - 0.15, np.log10(max(top, floor)) + 0.15
    # A few decades get ticks at 1, 2 and 5; plotly's default labels every digit in between.
    fig.update_yaxes(range=[low, high], dtick="D2" if high - low < 4 else 1, **where)
    return any(bool((f["std"].to_numpy(dtype=np.float64) < floor).any()) for f in frames)


def _sorted_curve_traces(
    stats: pd.DataFrame, name: str, color: str, dead: Sequence[int], *, showlegend: bool, floor: float | None = None
) -> list[go.BaseTraceType]:
    dims = stats["dim"].to_numpy(dtype=np.int64)
    std = stats["std"].to_numpy(dtype=np.float64)
    order = np.argsort(-np.nan_to_num(std, nan=-np.inf), kind="stable")
    dims, std = dims[order], std[order]
    shown = np.maximum(std, floor) if floor is not None else std
    rel = np.linspace(0.0, 1.0, dims.size) if dims.size > 1 else np.zeros(dims.size)
    custom = np.column_stack([dims.astype(np.float64), std])
    traces: list[go.BaseTraceType] = [
        go.Scatter(
            x=rel, y=shown, customdata=custom, mode="lines", name=name, legendgroup=name, showlegend=showlegend,
            line={"color": color, "width": 2},
            hovertemplate=f"{_escape(name)}<br>dimension %{{customdata[0]:.0f}}<br>relative rank %{{x:.3f}}"
            "<br>std %{customdata[1]:.4g}<extra></extra>",
        )
    ]
    dead_mask = np.isin(dims, np.asarray(list(dead), dtype=np.int64))
    if dead_mask.any():
        clipped = floor is not None and bool((std[dead_mask] < floor).any())
        traces.append(
            go.Scatter(
                x=rel[dead_mask], y=shown[dead_mask], customdata=custom[dead_mask], mode="markers",
                name=f"{name}: dead", legendgroup=name, showlegend=False,
                marker={"color": DEAD_COLOR, "symbol": "triangle-down" if clipped else "x", "size": 11,
                        "line": {"color": color, "width": 1}},
                hovertemplate=f"{_escape(name)}<br>dead dimension %{{customdata[0]:.0f}}"
                "<br>std %{customdata[1]:.3g}<extra></extra>",
            )
        )
    return traces


_FLOOR_NOTE = "<sup>▼ dead dimensions, drawn at the axis floor: their std is far lower (see the table).</sup>"


def sorted_std_curves(
    results: Mapping[str, pd.DataFrame],
    *,
    view_name: str = "normalized",
    dead: Mapping[str, Sequence[int]] | None = None,
    log_y: bool = True,
    height: int = 420,
) -> go.Figure:
    """Each model's std sorted largest first, on a relative-rank axis from 0 to 1.

    Rank ``i`` of a ``d``-dimensional model sits at ``i / (d - 1)``, so 384-, 768- and 1024-dim
    models line up; dead dimensions are marked in vermillion at the tail. On a log axis, values
    far below every live dimension are drawn at the axis floor (see :func:`_log_floor`).
    """
    names, frames = list(results), list(results.values())
    floor = _log_floor(frames, dead, names) if log_y else None
    fig = go.Figure()
    for i, (name, stats) in enumerate(results.items()):
        dead_dims = (dead or {}).get(name, ())
        for trace in _sorted_curve_traces(stats, name, _model_color(i), dead_dims, showlegend=True, floor=floor):
            fig.add_trace(trace)
    title = f"Sorted std per model ({view_name} view), on relative rank"
    _layout(fig, title=title, height=height)
    fig.update_xaxes(title={"text": "relative rank (0 = largest std, 1 = smallest)"}, range=[-0.02, 1.02])
    _value_axis(fig, "std", log_y)
    if _log_range(fig, frames, floor):
        fig.update_layout(title={"text": f"{title}<br>{_FLOOR_NOTE}"})
    return fig


def std_distribution_by_model(
    results: Mapping[str, pd.DataFrame],
    *,
    view_name: str = "normalized",
    kind: str = "box",
    log_y: bool = True,
    dead: Mapping[str, Sequence[int]] | None = None,
    height: int = 420,
) -> go.Figure:
    """Distribution of per-dimension std, one box (or violin) per model, over its live dimensions;
    dead dimensions are drawn as separate vermillion markers (at the floor of a log axis)."""
    if kind not in ("box", "violin"):
        raise ValueError("kind must be 'box' or 'violin'")
    names, frames = list(results), list(results.values())
    floor = _log_floor(frames, dead, names) if log_y else None
    fig = go.Figure()
    for i, (name, stats) in enumerate(results.items()):
        std = stats["std"].to_numpy(dtype=np.float64)
        dims = stats["dim"].to_numpy(dtype=np.int64)
        mask = np.isin(dims, np.asarray(list((dead or {}).get(name, ())), dtype=np.int64))
        label = _escape(name)
        common = {
            "y": std[~mask], "name": label, "customdata": dims[~mask], "marker": {"color": _model_color(i)},
            "hovertemplate": "dimension %{customdata}<br>std %{y:.4g}<extra>%{fullData.name}</extra>",
        }
        if kind == "box":
            fig.add_trace(go.Box(boxpoints="outliers", **common))
        else:
            fig.add_trace(go.Violin(points="outliers", box={"visible": True}, **common))
        if mask.any():
            shown = np.maximum(std[mask], floor) if floor is not None else std[mask]
            clipped = floor is not None and bool((std[mask] < floor).any())
            fig.add_trace(
                go.Scatter(
                    x=[label] * int(mask.sum()), y=shown, customdata=np.column_stack([dims[mask], std[mask]]),
                    mode="markers", name="dead dimension", legendgroup="dead",
                    marker={"color": DEAD_COLOR, "symbol": "triangle-down" if clipped else "x", "size": 11},
                    hovertemplate="dead dimension %{customdata[0]:.0f}<br>std %{customdata[1]:.3g}<extra></extra>",
                )
            )
    title = f"Distribution of per-dimension std ({view_name} view)"
    _layout(fig, title=title, height=height, showlegend=False)
    fig.update_xaxes(title={"text": "model"}, type="category")
    _value_axis(fig, "std per dimension", log_y)
    if _log_range(fig, frames, floor):
        fig.update_layout(title={"text": f"{title}<br>{_FLOOR_NOTE}"})
    return fig


def raw_vs_normalized(
    raw: Mapping[str, pd.DataFrame],
    normalized: Mapping[str, pd.DataFrame],
    *,
    dead: Mapping[str, Sequence[int]] | None = None,
    log_y: bool = True,
    height: int = 460,
) -> go.Figure:
    """Sorted std curves on relative rank, raw view left and normalized view right, per model."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("raw (before the model's Normalize)", "normalized (unit-length vectors)"),
        horizontal_spacing=0.08,
    )
    clipped = False
    for col, results in ((1, raw), (2, normalized)):
        names, frames = list(results), list(results.values())
        floor = _log_floor(frames, dead, names) if log_y else None
        for i, (name, stats) in enumerate(results.items()):
            traces = _sorted_curve_traces(
                stats, name, _model_color(i), (dead or {}).get(name, ()), showlegend=col == 1, floor=floor
            )
            for trace in traces:
                fig.add_trace(trace, row=1, col=col)
        fig.update_xaxes(title={"text": "relative rank (0 = largest std)"}, range=[-0.02, 1.02], row=1, col=col)
        _value_axis(fig, "std", log_y, row=1, col=col)
        clipped |= _log_range(fig, frames, floor, row=1, col=col)
    title = "Sorted std per model: raw and normalized side by side"
    _layout(fig, title=title + (f"<br>{_FLOOR_NOTE}" if clipped else ""), height=height)
    fig.update_layout(margin={"t": 110})
    return fig


# --- corpus --------------------------------------------------------------------------------------


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
            x=counts.to_numpy(dtype=np.int64), y=[snippet(str(v), 40) for v in counts.index], orientation="h",
            marker={"color": ALIVE_COLOR}, hovertemplate="%{y}: %{x} texts<extra></extra>", name="texts",
        )
    )
    _layout(fig, title=title, height=max(260, 80 + 20 * len(counts)), showlegend=False)
    fig.update_xaxes(title={"text": "number of texts"})
    fig.update_yaxes(title={"text": "label"}, type="category", automargin=True)
    return fig
