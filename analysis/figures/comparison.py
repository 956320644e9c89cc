"""Charts that put several models side by side: sorted std on a relative-rank axis, std
distributions, and the raw and normalized views next to each other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from analysis.figures.style import (
    DEAD_COLOR,
    apply_layout,
    escape,
    model_color,
)

if TYPE_CHECKING:  # pandas is imported where a figure needs it, not by every page that draws
    import pandas as pd

from plotly.subplots import make_subplots

from analysis.figures.axes import (
    FLOOR_NOTE,
    FLOOR_NOTE_TOP_PX,
    band_depth,
    drawn_values,
    fix_log_range,
    log_floor,
    value_axis,
)
from analysis.figures.budget import spread_axis_title, spread_name
from analysis.measures.budget import scale_spread


def _sorted_curve_traces(
    stats: pd.DataFrame,
    name: str,
    color: str,
    dead: Sequence[int],
    *,
    showlegend: bool,
    floor: float | None = None,
    value_name: str = "std",
    depth: float = 0.5,
) -> list[go.BaseTraceType]:
    dims = stats["dim"].to_numpy(dtype=np.int64)
    std = stats["std"].to_numpy(dtype=np.float64)
    order = np.argsort(-np.nan_to_num(std, nan=-np.inf), kind="stable")
    dims, std = dims[order], std[order]
    shown = drawn_values(std, floor, depth)
    rel = np.linspace(0.0, 1.0, dims.size) if dims.size > 1 else np.zeros(dims.size)
    custom = np.column_stack([dims.astype(np.float64), std])
    traces: list[go.BaseTraceType] = [
        go.Scatter(
            x=rel,
            y=shown,
            customdata=custom,
            mode="lines",
            name=escape(name),  # a file name can be a model here: the legend renders HTML
            legendgroup=name,
            showlegend=showlegend,
            line={"color": color, "width": 2},
            hovertemplate=f"{escape(name)}<br>dimension %{{customdata[0]:.0f}}<br>relative rank %{{x:.3f}}"
            f"<br>{value_name} %{{customdata[1]:.4g}}<extra></extra>",
        )
    ]
    dead_mask = np.isin(dims, np.asarray(list(dead), dtype=np.int64))
    if dead_mask.any():
        clipped = floor is not None and bool((std[dead_mask] < floor).any())
        traces.append(
            go.Scatter(
                x=rel[dead_mask],
                y=shown[dead_mask],
                customdata=custom[dead_mask],
                mode="markers",
                name=f"{escape(name)}: dead" + (" (off-scale)" if clipped else ""),
                legendgroup=name,
                showlegend=False,
                marker={
                    "color": DEAD_COLOR,
                    "symbol": "triangle-down" if clipped else "x",
                    "size": 11,
                    "line": {"color": color, "width": 1},
                },
                hovertemplate=f"{escape(name)}<br>dead dimension %{{customdata[0]:.0f}}"
                f"<br>{value_name} %{{customdata[1]:.3g}}"
                + (" (off-scale: below this axis)" if clipped else "")
                + "<extra></extra>",
            )
        )
    return traces


def _on_scale(results: Mapping[str, pd.DataFrame], scale: str) -> Mapping[str, pd.DataFrame]:
    """Each model's statistics with ``std`` replaced by its spread on ``scale`` (see ``scale_spread``),
    so the log floor and ranges below work on what is drawn."""
    if scale == "as_is":
        return results
    return {
        name: frame.assign(std=scale_spread(frame["std"].to_numpy(dtype=np.float64), scale))
        for name, frame in results.items()
    }


def sorted_std_curves(
    results: Mapping[str, pd.DataFrame],
    *,
    view_name: str = "normalized",
    dead: Mapping[str, Sequence[int]] | None = None,
    log_y: bool = True,
    height: int = 420,
    scale: str = "as_is",
) -> go.Figure:
    """Each model's std sorted largest first, on a relative-rank axis from 0 to 1.

    Rank ``i`` of a ``d``-dimensional model sits at ``i / (d - 1)``, so 384-, 768- and 1024-dim
    models line up; dead dimensions are marked in vermillion at the tail. On a log axis, values
    far below every live dimension are drawn at the axis floor (see :func:`log_floor`).
    ``scale`` (``as_is``, ``sqrt_d``, ``share``) puts the values on a scale that ``d`` does not distort.
    """
    results = _on_scale(results, scale)
    value_name = spread_name(scale)
    names, frames = list(results), list(results.values())
    floor = log_floor(frames, dead, names) if log_y else None
    fig = go.Figure()
    for i, (name, stats) in enumerate(results.items()):
        dead_dims = (dead or {}).get(name, ())
        traces = _sorted_curve_traces(
            stats,
            name,
            model_color(i),
            dead_dims,
            showlegend=True,
            floor=floor,
            value_name=value_name,
            depth=band_depth(i, len(results)),
        )
        for trace in traces:
            fig.add_trace(trace)
    title = f"Sorted {value_name} per model ({view_name} view), on relative rank"
    apply_layout(fig, title=title, height=height)
    fig.update_xaxes(title={"text": "relative rank (0 = largest std, 1 = smallest)"}, range=[-0.02, 1.02])
    value_axis(fig, spread_axis_title(scale, view=view_name), log_y)
    if fix_log_range(fig, frames, floor):
        fig.update_layout(title={"text": f"{title}<br>{FLOOR_NOTE}"}, margin={"t": FLOOR_NOTE_TOP_PX})
    return fig


def std_distribution_by_model(
    results: Mapping[str, pd.DataFrame],
    *,
    view_name: str = "normalized",
    kind: str = "box",
    log_y: bool = True,
    dead: Mapping[str, Sequence[int]] | None = None,
    height: int = 420,
    scale: str = "as_is",
) -> go.Figure:
    """Distribution of per-dimension std, one box (or violin) per model, over its live dimensions;
    dead dimensions are drawn as separate vermillion markers (at the floor of a log axis).
    ``scale`` as in :func:`sorted_std_curves`."""
    if kind not in ("box", "violin"):
        raise ValueError("kind must be 'box' or 'violin'")
    results = _on_scale(results, scale)
    value_name = spread_name(scale)
    names, frames = list(results), list(results.values())
    floor = log_floor(frames, dead, names) if log_y else None
    fig = go.Figure()
    for i, (name, stats) in enumerate(results.items()):
        std = stats["std"].to_numpy(dtype=np.float64)
        dims = stats["dim"].to_numpy(dtype=np.int64)
        mask = np.isin(dims, np.asarray(list((dead or {}).get(name, ())), dtype=np.int64))
        label = escape(name)
        common = {
            "y": std[~mask],
            "name": label,
            "customdata": dims[~mask],
            "marker": {"color": model_color(i)},
            "hovertemplate": f"dimension %{{customdata}}<br>{value_name} %{{y:.4g}}<extra>%{{fullData.name}}</extra>",
        }
        if kind == "box":
            fig.add_trace(go.Box(boxpoints="outliers", **common))
        else:
            fig.add_trace(go.Violin(points="outliers", box={"visible": True}, **common))
        if mask.any():
            shown = drawn_values(std[mask], floor)
            clipped = floor is not None and bool((std[mask] < floor).any())
            fig.add_trace(
                go.Scatter(
                    x=[label] * int(mask.sum()),
                    y=shown,
                    customdata=np.column_stack([dims[mask], std[mask]]),
                    mode="markers",
                    name="dead dimension" + (" (off-scale)" if clipped else ""),
                    legendgroup="dead",
                    marker={"color": DEAD_COLOR, "symbol": "triangle-down" if clipped else "x", "size": 11},
                    hovertemplate=f"dead dimension %{{customdata[0]:.0f}}<br>{value_name} %{{customdata[1]:.3g}}"
                    + (" (off-scale: below this axis)" if clipped else "")
                    + "<extra></extra>",
                )
            )
    # Short: the page sets two of these side by side, and plotly never wraps a title.
    title = f"{value_name[0].upper()}{value_name[1:]} per dimension ({view_name} view)"
    apply_layout(fig, title=title, height=height, showlegend=False)
    fig.update_xaxes(title={"text": "model"}, type="category")
    value_axis(fig, "std per dimension" if scale == "as_is" else spread_axis_title(scale, view=view_name), log_y)
    if fix_log_range(fig, frames, floor):
        fig.update_layout(title={"text": f"{title}<br>{FLOOR_NOTE}"}, margin={"t": FLOOR_NOTE_TOP_PX})
    return fig


def raw_vs_normalized(
    raw: Mapping[str, pd.DataFrame],
    normalized: Mapping[str, pd.DataFrame],
    *,
    dead: Mapping[str, Sequence[int]] | None = None,
    log_y: bool = True,
    height: int = 460,
    scale: str = "as_is",
) -> go.Figure:
    """Sorted std curves on relative rank, raw view left and normalized view right, per model.

    ``scale`` as in :func:`sorted_std_curves`, applied to each view."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("raw (before the model's Normalize)", "normalized (unit-length vectors)"),
        horizontal_spacing=0.12,  # room for the right plot's ticks and axis title
    )
    clipped = False
    for col, view, unscaled in ((1, "raw", raw), (2, "normalized", normalized)):
        results = _on_scale(unscaled, scale)
        value_name = spread_name(scale)
        names, frames = list(results), list(results.values())
        floor = log_floor(frames, dead, names) if log_y else None
        for i, (name, stats) in enumerate(results.items()):
            traces = _sorted_curve_traces(
                stats,
                name,
                model_color(i),
                (dead or {}).get(name, ()),
                showlegend=col == 1,
                floor=floor,
                value_name=value_name,
                depth=band_depth(i, len(results)),
            )
            for trace in traces:
                fig.add_trace(trace, row=1, col=col)
        fig.update_xaxes(title={"text": "relative rank (0 = largest std)"}, range=[-0.02, 1.02], row=1, col=col)
        value_axis(fig, spread_axis_title(scale, view=view), log_y, row=1, col=col)
        clipped |= fix_log_range(fig, frames, floor, row=1, col=col)
    title = f"Sorted {spread_name(scale)} per model: raw and normalized side by side"
    apply_layout(fig, title=title + (f"<br>{FLOOR_NOTE}" if clipped else ""), height=height)
    fig.update_layout(margin={"t": FLOOR_NOTE_TOP_PX + 30 if clipped else 110})  # and the subplot titles
    return fig
