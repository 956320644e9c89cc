"""Charts of per-dimension spread for one model: std by dimension, one dimension's distribution,
its mean per label, and where it sits among all dimensions.

>>> import numpy as np, pandas as pd
>>> stats = pd.DataFrame({"dim": [0, 1, 2], "std": [0.1, 1e-6, 0.2], "variance": [0.01, 1e-12, 0.04]})
>>> fig = std_bar_chart(stats, dead_dims=[1])
>>> [trace.name for trace in fig.data][:2]
['dimension', 'dead dimension']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from analysis.figures.style import (
    ALIVE_COLOR,
    BELOW_COLOR,
    DEAD_COLOR,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    SELECTED_COLOR,
    apply_layout,
    floats,
    metric_label,
    snippet,
)

if TYPE_CHECKING:  # pandas is imported where a figure needs it, not by every page that draws
    import pandas as pd

from analysis.figures import stat_tables
from analysis.figures.axes import (
    FLOOR_NOTE_TOP_PX,
    clean_log_axis,
    drawn_values,
    fix_log_range,
    log_floor,
    value_axis,
)
from analysis.figures.budget import spread_axis_title, spread_name
from analysis.measures.budget import scale_spread
from analysis.settings import timed
from analysis.wording import plural


@timed("figures")
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
    scale: str = "as_is",
) -> go.Figure:
    """One mark per dimension: its std (or variance), by index or sorted largest first.

    On a linear axis the marks are bars; on a log axis they are dots, because log-scale bars all
    start from the axis floor and a dead dimension at 1e-30 would turn every other bar into a wall.
    Dead dimensions get their own trace (vermillion, with an ``x`` marker so that a near-zero bar
    stays visible and a dotted line at their position); dimensions below ``threshold`` (same units
    as the metric) that are not dead are orange, and the threshold is a dashed line with a legend
    entry. Every trace carries the dimension in ``customdata``. ``scale`` puts the values on
    ``as_is``, ``sqrt_d`` (std × √d, 1 = an isotropic share) or ``share`` (of the total variance);
    ``threshold`` is in the units drawn.
    """
    if metric not in ("std", "variance"):
        raise ValueError("metric must be 'std' or 'variance'")
    dims = np.asarray(stats["dim"], dtype=np.int64)
    values = scale_spread(np.asarray(stats[metric], dtype=np.float64), scale, metric=metric)
    value_name = spread_name(scale, metric)
    if sort:
        order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
        dims, values = dims[order], values[order]
        x = np.arange(dims.size, dtype=np.int64)
    else:
        x = dims
    dead = np.isin(dims, np.asarray(list(dead_dims), dtype=np.int64))
    below = (~dead) & (values < threshold) if threshold is not None else np.zeros(dims.size, dtype=bool)
    alive = ~(dead | below)
    hover = "dimension %{customdata}<br>" + value_name + " %{y:.4g}<extra>%{fullData.name}</extra>"
    fig = go.Figure()
    groups = [("dimension", alive, ALIVE_COLOR), ("dead dimension", dead, DEAD_COLOR)]
    if threshold is not None:
        groups.append(("below threshold", below, BELOW_COLOR))
    for name, mask, color in groups:
        common = {
            "x": x[mask],
            "y": values[mask],
            "customdata": dims[mask],
            "name": name,
            "legendgroup": name,
            "hovertemplate": hover,
            "showlegend": bool(mask.any()) or name == "dead dimension",
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
                    x=x[dead],
                    y=values[dead],
                    customdata=dims[dead],
                    mode="markers",
                    name="dead dimension",
                    marker={"color": DEAD_COLOR, "symbol": "x", "size": 11},
                    legendgroup="dead dimension",
                    showlegend=False,
                    hovertemplate=hover,
                )
            )
        for xi in x[dead]:
            shapes.append(
                {
                    "type": "line",
                    "x0": float(xi),
                    "x1": float(xi),
                    "xref": "x",
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"color": DEAD_COLOR, "width": 1, "dash": "dot"},
                    "opacity": 0.8,
                    "layer": "below",
                }
            )
        dead_names = [str(int(d)) for d in dims[dead]]
        if sort or len(dead_names) > 8:
            notes.append(
                {
                    "x": float(x[dead].min()) if sort else float(x[dead].mean()),
                    "xref": "x",
                    "y": 1,
                    "yref": "paper",
                    "yanchor": "bottom",
                    "xanchor": "right" if sort else "center",
                    "showarrow": False,
                    "text": "dead: " + ", ".join(dead_names[:12]) + ("…" if len(dead_names) > 12 else ""),
                    "font": {"color": DEAD_COLOR},
                }
            )
        else:
            for xi, name in zip(x[dead], dead_names, strict=True):
                notes.append(
                    {
                        "x": float(xi),
                        "xref": "x",
                        "y": 1,
                        "yref": "paper",
                        "yanchor": "bottom",
                        "text": name,
                        "showarrow": False,
                        "font": {"color": DEAD_COLOR},
                    }
                )
    if threshold is not None and np.isfinite(threshold):
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        fig.add_trace(
            go.Scatter(
                x=[lo - 0.5, hi + 0.5],
                y=[threshold, threshold],
                mode="lines",
                name=threshold_label or "threshold",
                line={"color": BELOW_COLOR, "dash": "dash", "width": 2},
                hoverinfo="skip",
            )
        )
    fig.update_layout(shapes=shapes, annotations=notes)
    order_text = "sorted, largest first" if sort else "by index"
    shown = metric_label(metric) if scale == "as_is" else value_name
    title = f"{shown[0].upper() + shown[1:]} of each dimension ({view_name} view, {order_text})"
    nonpositive = int(np.sum(values <= 0)) if log_y else 0
    if nonpositive:
        title += f"<br><sup>{nonpositive} dimension(s) with {value_name} 0 cannot be drawn on a log axis.</sup>"
    apply_layout(fig, title=title, height=height, bargap=0, barmode="overlay")
    fig.update_xaxes(title={"text": "rank (largest first)" if sort else "dimension"}, showgrid=False)
    value_axis(fig, spread_axis_title(scale, metric, view_name), log_y)
    if log_y:
        clean_log_axis(fig, values if threshold is None else np.append(values, threshold))
    return fig


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
    v = floats(values)
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
            x=centers,
            y=counts,
            width=np.diff(edges),
            name="texts",
            marker={"color": DEAD_COLOR if dead else ALIVE_COLOR, "line": {"width": 0}},
            customdata=np.stack([edges[:-1], edges[1:]], axis=1),
            hovertemplate="value %{customdata[0]:.4g} to %{customdata[1]:.4g}<br>texts: %{y}<extra></extra>",
        )
    )
    if v.size:
        mean = float(v.mean())
        fig.add_vline(x=mean, line={"color": SELECTED_COLOR, "width": 2, "dash": "dash"})
        fig.add_annotation(x=mean, y=1, yref="paper", yanchor="bottom", text=f"mean {mean:.3g}", showarrow=False)
        if edges[0] <= 0 <= edges[-1]:
            fig.add_vline(x=0.0, line={"color": "rgba(128,128,128,0.8)", "width": 1})
    title = f"Distribution of dimension {dim} ({view_name} view)<br><sup>{plural(v.size, 'text')}"
    title += "; a dead dimension: every value is near zero</sup>" if dead else "</sup>"
    apply_layout(fig, title=title, height=height, bargap=0, showlegend=False)
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
    table = stat_tables.label_means(values, labels)
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
            hovertemplate="%{y}<br>mean %{x:.4g}<br>std %{customdata[1]:.3g}<br>texts: %{customdata[0]:.0f}"
            "<extra></extra>",
            name="mean per label",
        )
    )
    title = f"Dimension {dim} ({view_name} view): mean per label, with 95% intervals"
    if n_labels > max_labels:
        title += f"<br><sup>{len(table)} of {n_labels} labels: the lowest and highest means.</sup>"
    apply_layout(fig, title=title, height=height or max(300, 80 + 22 * len(table)), showlegend=False)
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
    floor = log_floor([stats], {"m": dead_dims}, ["m"]) if log_y else None
    shown = drawn_values(std, floor)
    custom = np.column_stack([dims.astype(np.float64), std])
    hover = "dimension %{customdata[0]:.0f}<br>std %{customdata[1]:.4g}<extra>%{fullData.name}</extra>"
    chosen = dims == int(dim)
    clipped = floor is not None and bool((std[dead] < floor).any())
    fig = go.Figure()
    for name, mask, marker in (
        ("dimension", ~dead, {"color": ALIVE_COLOR, "size": 6, "opacity": 0.75}),
        (
            "dead dimension" + (" (off-scale)" if clipped else ""),
            dead,
            {"color": DEAD_COLOR, "size": 11, "symbol": "triangle-down" if clipped else "x"},
        ),
        (
            f"dimension {dim}",
            chosen,
            {"color": SELECTED_COLOR, "size": 18, "symbol": "star", "line": {"width": 1, "color": "#777"}},
        ),
    ):
        fig.add_trace(
            go.Scatter(
                x=dims[mask],
                y=shown[mask],
                customdata=custom[mask],
                mode="markers",
                name=name,
                marker=marker,
                hovertemplate=hover,
            )
        )
    finite = std[np.isfinite(std)]
    if finite.size:
        median = float(np.median(finite))
        fig.add_hline(y=median, line={"color": "rgba(128,128,128,0.8)", "dash": "dash", "width": 1})
        fig.add_annotation(
            x=1,
            xref="paper",
            xanchor="right",
            y=np.log10(median) if log_y and median > 0 else median,
            yanchor="bottom",
            text="median",
            showarrow=False,
        )
    subtitle = f"std in the {view_name} view"
    if chosen.any() and np.isfinite(std[chosen][0]):
        rank = int(np.sum(std > std[chosen][0])) + 1
        subtitle = f"std rank {rank} of {dims.size} (1 = largest), {view_name} view"
    if clipped:  # its own line: the page shows this chart at half width, and plotly never wraps a title
        subtitle += "</sup><br><sup>▼ dead dimensions: off-scale, in the grey band"
    apply_layout(fig, title=f"Dimension {dim} among all {dims.size}<br><sup>{subtitle}</sup>", height=height)
    if clipped:
        fig.update_layout(margin={"t": FLOOR_NOTE_TOP_PX})
    fig.update_xaxes(title={"text": "dimension"})
    value_axis(fig, "std", log_y)
    fix_log_range(fig, [stats], floor)
    return fig
