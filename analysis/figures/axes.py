"""Value axes shared by the spread and comparison charts: linear or log, and the log axis floor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:  # pandas is imported where a figure needs it
    import pandas as pd

FLOOR_NOTE = "<sup>▼ dead dimensions, drawn at the axis floor: their std is far lower (see the table).</sup>"


def value_axis(fig: go.Figure, name: str, log_y: bool, **where: Any) -> None:
    fig.update_yaxes(
        title={"text": name + (" (log scale)" if log_y else "")},
        type="log" if log_y else "linear",
        exponentformat="power",
        **where,
    )


def log_floor(
    frames: Sequence[pd.DataFrame], dead: Mapping[str, Sequence[int]] | None, names: Sequence[str]
) -> float | None:
    """The bottom of a log axis: a quarter of the smallest std of any live dimension.

    Dead dimensions sit 20-30 orders of magnitude lower; drawing them at their true value would
    squash every live dimension into a flat line at the top, so they are drawn at this floor
    (with a downward triangle) and their true value stays in the hover and the tables.
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


def fix_log_range(fig: go.Figure, frames: Sequence[pd.DataFrame], floor: float | None, **where: Any) -> bool:
    """Fix a log axis to [floor, max]; returns whether some value had to be drawn at the floor."""
    if floor is None:
        return False
    highs = [float(np.nanmax(f["std"].to_numpy(dtype=np.float64))) for f in frames if len(f)]
    top = max(highs) if highs else 1.0
    low, high = np.log10(floor) - 0.15, np.log10(max(top, floor)) + 0.15
    # A few decades get ticks at 1, 2 and 5; plotly's default labels every digit in between.
    fig.update_yaxes(range=[low, high], dtick="D2" if high - low < 4 else 1, **where)
    return any(bool((f["std"].to_numpy(dtype=np.float64) < floor).any()) for f in frames)
