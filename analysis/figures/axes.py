"""Value axes shared by the charts: linear or log, clean log ticks, the off-scale band for dead
dimensions, and round ticks on a secondary axis.

>>> log_ticks(-2.3, -0.9)[1]
['0.01', '0.02', '0.05', '0.1']
>>> log_ticks(-33.2, -1.1)[1]
['10⁻³⁰', '10⁻²⁵', '10⁻²⁰', '10⁻¹⁵', '10⁻¹⁰', '10⁻⁵']
>>> nice_step(0.11, 5)
0.025
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:  # pandas is imported where a figure needs it
    import pandas as pd

#: Height of the off-scale band under a log axis's floor, in decades.
OFF_SCALE_DECADES = 0.5
OFF_SCALE_FILL = "rgba(128,128,128,0.16)"
#: Under a chart's title when the band is drawn. Plotly never wraps a title, so the note comes in
#: lines short enough for a chart in half the page's width (Compare's pair of box plots).
FLOOR_NOTE = (
    "<sup>▼ Dead dimensions are off-scale, far below this axis:</sup><br>"
    "<sup>drawn in the grey band (true values in the hover, tables).</sup>"
)
#: The top margin of a chart whose title carries :data:`FLOOR_NOTE` (a title line and two note lines).
FLOOR_NOTE_TOP_PX = 95
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def value_axis(fig: go.Figure, name: str, log_y: bool, **where: Any) -> None:
    fig.update_yaxes(
        title={"text": name + (" (log scale)" if log_y else "")},
        type="log" if log_y else "linear",
        exponentformat="power",
        **where,
    )


def _power_text(value: float) -> str:
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = round(value / 10**exponent)
    power = f"10{str(exponent).translate(_SUPERSCRIPT)}"
    return power if mantissa == 1 else f"{mantissa}×{power}"


def _mantissa_ticks(low: float, high: float, mantissas: Sequence[int]) -> list[float]:
    return [
        m * 10.0**e
        for e in range(math.floor(low), math.ceil(high) + 1)
        for m in mantissas
        if low - 1e-9 <= math.log10(m * 10.0**e) <= high + 1e-9
    ]


def log_ticks(low: float, high: float, max_ticks: int = 8) -> tuple[list[float], list[str]]:
    """Ticks for a log axis from ``10**low`` to ``10**high`` (exponents), one kind of label only.

    Under 3.5 decades: 1, 2 and 5 times each power of ten (every digit when that leaves fewer
    than three, 1 and 5 when more than ``max_ticks``); wider: powers of ten, every 1st, 2nd, 5th
    or 10th decade so that at most ``max_ticks`` remain. Labels are plain numbers when every tick
    lies from 0.001 to 10,000, and powers of ten (10⁻³⁰) otherwise: never plotly's mix of bare
    digits and powers ("5, 2, 10⁻², 5").
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [], []
    if high - low < 3.5:  # too few powers of ten to read the axis by
        values = _mantissa_ticks(low, high, (1, 2, 5))
        if len(values) < 3:
            values = _mantissa_ticks(low, high, range(1, 10))
        elif len(values) > max_ticks:
            values = _mantissa_ticks(low, high, (1, 5)) if len(_mantissa_ticks(low, high, (1, 5))) >= 4 else values
    else:
        first, last = math.ceil(low - 1e-9), math.floor(high + 1e-9)
        step = next(k for k in (1, 2, 5, 10, 20, 50, 100) if (last - first) // k + 1 <= max_ticks)
        values = [10.0**e for e in range(first, last + 1) if e % step == 0]
    plain = all(1e-3 <= v < 1e4 for v in values)
    return values, [f"{v:g}" if plain else _power_text(v) for v in values]


def log_floor(
    frames: Sequence[pd.DataFrame], dead: Mapping[str, Sequence[int]] | None, names: Sequence[str]
) -> float | None:
    """The bottom of a log axis: a quarter of the smallest std of any live dimension.

    Dead dimensions sit 20-30 orders of magnitude lower; drawing them at their true value would
    squash every live dimension into a flat line at the top, so they are drawn off-scale, in a
    grey band under this floor (see :func:`fix_log_range`), and their true value stays in the
    hover and the tables.
    """
    lows = []
    for name, frame in zip(names, frames, strict=True):
        std = frame["std"].to_numpy(dtype=np.float64)
        dead_dims = np.asarray(list((dead or {}).get(name, ())), dtype=np.int64)
        live = ~np.isin(frame["dim"].to_numpy(dtype=np.int64), dead_dims)
        values = std[live & np.isfinite(std) & (std > 0)]
        if values.size:
            lows.append(float(values.min()))
    return min(lows) / 4 if lows else None


def off_scale_value(floor: float, depth: float = 0.5) -> float:
    """Where an off-scale value is drawn: ``depth`` of the way down the band under ``floor`` (the middle)."""
    return floor * 10 ** (-OFF_SCALE_DECADES * depth)


def band_depth(i: int, n: int) -> float:
    """The depth in the off-scale band of series ``i`` of ``n``: evenly apart, so that the markers of
    several models at the same x (their tails on a relative-rank axis) do not hide one another."""
    return (i + 1) / (n + 1)


def drawn_values(values: np.ndarray, floor: float | None, depth: float = 0.5) -> np.ndarray:
    """``values`` as drawn on a log axis with this floor: those below it go to the off-scale band,
    at ``depth`` (see :func:`off_scale_value`)."""
    if floor is None:
        return values
    return np.where(values < floor, off_scale_value(floor, depth), values)


def fix_log_range(fig: go.Figure, frames: Sequence[pd.DataFrame], floor: float | None, **where: Any) -> bool:
    """Fix a log axis to [floor, max] with clean ticks; when some value lies below the floor, add
    the off-scale band under it, labelled. Returns whether the band was needed."""
    if floor is None:
        return False
    highs = [float(np.nanmax(f["std"].to_numpy(dtype=np.float64))) for f in frames if len(f)]
    top = max(highs) if highs else 1.0
    clipped = any(bool((f["std"].to_numpy(dtype=np.float64) < floor).any()) for f in frames)
    high = np.log10(max(top, floor)) + 0.15
    low = np.log10(floor) - (OFF_SCALE_DECADES if clipped else 0.15)
    values, text = log_ticks(float(np.log10(floor)), float(high))
    fig.update_yaxes(range=[low, high], tickmode="array", tickvals=values, ticktext=text, **where)
    if clipped:
        fig.add_hrect(y0=10**low, y1=floor, fillcolor=OFF_SCALE_FILL, line_width=0, layer="below", **where)
        fig.add_annotation(  # at the band's bottom: the markers sit higher, at the same x
            x=0.0,
            xref="x domain",
            xanchor="left",
            y=float(low),
            yanchor="bottom",
            text=f"off-scale: std < {floor:.2g}",
            showarrow=False,
            font={"size": 10},
            opacity=0.8,
            **where,
        )
    return clipped


#: Room at each end of a log axis spanning its data, as a share of the span: a padding in decades
#: alone shrinks to a pixel on an axis of 30 decades, and half of a marker at the extreme is cut off.
END_ROOM = 0.04


def clean_log_axis(fig: go.Figure, values: Any, *, axis: str = "y", pad: float = 0.15, **where: Any) -> None:
    """Clean ticks (:func:`log_ticks`) for a log ``axis`` ("x" or "y") spanning its data's own range,
    with ``pad`` decades, or :data:`END_ROOM` of the span when that is more, beyond each extreme."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size:
        low, high = float(np.log10(v.min())), float(np.log10(v.max()))
        pad = max(pad, END_ROOM * (high - low))
        low, high = low - pad, high + pad
        ticks, text = log_ticks(low, high)
        update = fig.update_xaxes if axis == "x" else fig.update_yaxes
        update(range=[low, high], tickmode="array", tickvals=ticks, ticktext=text, **where)


def nice_step(span: float, intervals: int) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that covers ``span`` in ``intervals`` steps."""
    if not span > 0:
        return 1.0
    raw = span / intervals
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))


def round_twin_axes(fig: go.Figure, primary: Any, secondary: Any, intervals: int = 5) -> None:
    """Round ticks on both y axes of a ``secondary_y`` figure, with gridlines shared.

    plotly lines a secondary axis's ticks up with the primary's gridlines ("sync"), which gives
    ticks such as 0.056 or 9%. Here each axis gets a round step and both the same number of
    steps from zero, so the shared gridlines fall on round values of both. Data below zero keep
    plotly's own ticks.
    """
    tops = []
    for values in (primary, secondary):
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        v = v[np.isfinite(v)]
        if not v.size or v.min() < 0:
            fig.update_yaxes(tickmode="auto", secondary_y=True)
            return
        tops.append(max(float(v.max()), 1e-12))
    steps = [nice_step(top, intervals) for top in tops]
    n = max(math.ceil(top / step - 1e-9) for top, step in zip(tops, steps, strict=True))
    for is_secondary, step in ((False, steps[0]), (True, steps[1])):
        fig.update_yaxes(range=[0, n * step], tickmode="linear", tick0=0, dtick=step, secondary_y=is_secondary)
