"""The texts x dimensions heatmap: what every value of every dimension looks like.

The heatmap caps what it sends to the browser (a :class:`HeatmapCap` of rows, cells and
bytes): rows are sampled evenly, never at random, and the title says so. The colour scale is
diverging and centred on zero, dead dimensions are outlined in vermillion, and texts grouped by
label get a line between groups and the label's name beside each band.

>>> cap = HeatmapCap(max_rows=10)
>>> sample_positions(10, 4).tolist()
[0, 3, 6, 9]
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from analysis.figures.style import DEAD_COLOR, DIVERGING_SCALE, TRANSPARENT, apply_layout, escape, snippet
from analysis.settings import timed
from analysis.wording import plural

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CELLS",
    "DEFAULT_MAX_ROWS",
    "FULL_MAX_ROWS",
    "HeatmapCap",
    "dimension_heatmap",
    "sample_positions",
]

# About one row per pixel of the default 640-px heatmap: more rows draw no more detail, and
# Streamlit's front end re-serializes a chart's whole spec ~40 times to theme it, so every MB of
# heatmap costs ~0.4 s in the browser on 2 cores. FULL_MAX_ROWS is the "every text" option.
DEFAULT_MAX_ROWS = 600
FULL_MAX_ROWS = 2_000
# 650k float32 cells are ~3.5 MB of JSON: the default corpus (1,629 texts x 384 dims) fits whole.
DEFAULT_MAX_CELLS = 650_000
# What the heatmap may weigh serialized; leaves room for the other charts of a page within 5 MB.
DEFAULT_MAX_BYTES = 4_200_000


@dataclass(frozen=True)
class HeatmapCap:
    """How much of the matrix the heatmap may send: rows, cells and bytes of JSON."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_cells: int = DEFAULT_MAX_CELLS
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def every_text(cls) -> HeatmapCap:
        """The "every text" option: up to :data:`FULL_MAX_ROWS` rows."""
        return cls(max_rows=FULL_MAX_ROWS)

    def rows_for(self, n_rows: int, n_columns: int) -> int:
        """How many of ``n_rows`` rows fit the row and cell limits with ``n_columns`` columns."""
        return min(n_rows, max(1, int(self.max_rows)), max(1, int(self.max_cells) // max(1, n_columns)))


def sample_positions(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced positions in ``range(n)`` (all of them when ``k >= n``); deterministic."""
    if n <= 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def _payload_estimate(z: np.ndarray, row_labels: Sequence[str]) -> int:
    """Bytes of the heatmap's JSON: base64 of z (with '/' escaped as 6 characters) plus labels."""
    encoded = base64.b64encode(z.tobytes())
    return len(encoded) + 5 * encoded.count(b"/") + sum(len(label) + 3 for label in row_labels) + 20_000


@dataclass(frozen=True)
class _Rows:
    """The rows sent to the browser: their corpus indices, values and hover labels."""

    index: np.ndarray
    z: np.ndarray
    labels: list[str]


def _take_rows(
    matrix: Any, order: np.ndarray, columns: np.ndarray, k: int, texts: Sequence[str], labels: Sequence[str] | None
) -> _Rows:
    rows = order[sample_positions(order.size, k)]
    if rows.size and columns.size:
        z = np.asarray(matrix[rows], dtype=np.float32)[:, columns]
    else:
        z = np.zeros((rows.size, columns.size), dtype=np.float32)
    row_labels = []
    for r in rows:
        tag = f" [{escape(labels[r])}]" if labels is not None and labels[r] else ""
        row_labels.append(f"#{int(r)}{tag} {snippet(texts[r])}")
    return _Rows(rows, np.ascontiguousarray(z, dtype=np.float32), row_labels)


def _sample_rows(
    matrix: Any,
    order: np.ndarray,
    columns: np.ndarray,
    cap: HeatmapCap,
    texts: Sequence[str],
    labels: Sequence[str] | None,
) -> _Rows:
    """Evenly spaced rows within the cap. The JSON size depends on the values (plotly sends z
    as base64 and escapes each '/' as 6 characters), so it is measured and rows are dropped until
    it fits."""
    taken = _take_rows(matrix, order, columns, cap.rows_for(order.size, columns.size), texts, labels)
    for _ in range(6):
        size = _payload_estimate(taken.z, taken.labels)
        if size <= cap.max_bytes or taken.index.size <= 1:
            break
        k = max(1, int(taken.index.size * cap.max_bytes / size * 0.97))
        taken = _take_rows(matrix, order, columns, k, texts, labels)
    return taken


def _colour_bound(z: np.ndarray, clip_quantile: float) -> float:
    """A symmetric colour range: the ``clip_quantile`` of |value|, so a few outliers do not wash out the rest."""
    finite = np.abs(z[np.isfinite(z)])
    bound = float(np.quantile(finite, clip_quantile)) if finite.size else 1.0
    if not np.isfinite(bound) or bound <= 0:
        bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return bound


#: Dead-column labels: font size, and the estimate of their width on the narrowest plot a page
#: gives the heatmap (a 1,200-px window), so that labels which would touch there share one label.
_LABEL_FONT_PX = 11
_LABEL_CHAR_PX = 7.0  # Source Sans at 11 px: about 6 px; wider, to be safe
_LABEL_PLOT_PX = 560
_LABEL_GAP_PX = 8


def _label_text(cluster: Sequence[int]) -> str:
    return "dead " + ", ".join(str(d) for d in cluster[:6]) + ("…" if len(cluster) > 6 else "")


def _label_span(cluster: Sequence[int], position: Mapping[int, int], n_columns: int) -> tuple[float, float]:
    """Where a cluster's label lies, in column units: centred on the cluster, kept inside the plot."""
    width = len(_label_text(cluster)) * _LABEL_CHAR_PX * n_columns / _LABEL_PLOT_PX
    centre = (position[cluster[0]] + position[cluster[-1]]) / 2
    low_edge, high_edge = -0.5, n_columns - 0.5
    centre = min(max(centre, low_edge + width / 2), high_edge - width / 2) if width < n_columns else (n_columns - 1) / 2
    return centre - width / 2, centre + width / 2


def _dead_marks(columns: np.ndarray, dead_dims: Sequence[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Outlines around dead columns, and one label per cluster of nearby dead columns."""
    position = {int(d): i for i, d in enumerate(columns)}
    dead_in_view = [int(d) for d in dead_dims if int(d) in position]
    shapes = [
        {
            "type": "rect",
            "x0": position[d] - 0.5,
            "x1": position[d] + 0.5,
            "y0": 0,
            "y1": 1,
            "xref": "x",
            "yref": "paper",
            "line": {"color": DEAD_COLOR, "width": 2},
            "fillcolor": TRANSPARENT,
            "name": f"dead {d}",
        }
        for d in dead_in_view
    ]
    # One label per cluster of dead columns whose labels would otherwise touch (sorted by std, dead
    # columns sit side by side; by index, mpnet's 688 and 756 are 68 columns but only ~55 px apart).
    gap = _LABEL_GAP_PX * columns.size / _LABEL_PLOT_PX
    clusters: list[list[int]] = []
    for d in sorted(dead_in_view, key=position.__getitem__):
        clusters.append([d])
        # Merge backwards while the newest label would touch the one before it (a merged label is wider).
        while len(clusters) > 1 and (
            _label_span(clusters[-1], position, columns.size)[0]
            < _label_span(clusters[-2], position, columns.size)[1] + gap
        ):
            clusters[-2].extend(clusters.pop())
    notes: list[dict[str, Any]] = []
    if len(clusters) > 10:
        notes.append(
            {
                "x": 1,
                "xref": "paper",
                "y": 1.0,
                "yref": "paper",
                "yanchor": "bottom",
                "xanchor": "right",
                "text": f"{len(dead_in_view)} dead dimensions outlined",
                "showarrow": False,
                "font": {"color": DEAD_COLOR},
            }
        )
        return shapes, notes
    for cluster in clusters:
        low, high = _label_span(cluster, position, columns.size)
        notes.append(
            {
                "x": (low + high) / 2,
                "xref": "x",
                "y": 1.0,
                "yref": "paper",
                "yanchor": "bottom",
                "text": _label_text(cluster),
                "showarrow": False,
                "font": {"color": DEAD_COLOR, "size": _LABEL_FONT_PX},
                "xanchor": "center",
            }
        )
    return shapes, notes


#: Pixels a band name needs on the y axis (10-px font plus a little air).
_BAND_NAME_PX = 13
#: More bands than this are not all named (the figure would grow past ~1,000 px); hover names every row's label.
MAX_NAMED_BANDS = 60
#: Pixels of the default heatmap's layout outside the plot area: top margin and x axis with its title.
_OUTSIDE_PLOT_PX = 190


def _spread_positions(desired: Sequence[float], gap: float, top: float, bottom: float) -> list[float]:
    """Positions as close as possible to ``desired`` (ascending), each at least ``gap`` after the
    previous one, within [top, bottom] when they fit (a forward pass, then a backward pass).

    >>> _spread_positions([0.0, 0.5, 1.0, 9.0], gap=2.0, top=0.0, bottom=9.0)
    [0.0, 2.0, 4.0, 9.0]
    """
    positions: list[float] = []
    for value in desired:
        positions.append(max(value, positions[-1] + gap) if positions else max(value, top))
    if positions and positions[-1] > bottom:
        positions[-1] = bottom
        for i in range(len(positions) - 2, -1, -1):
            positions[i] = min(positions[i], positions[i + 1] - gap)
    return positions


def band_height(n_bands: int, height: int) -> int:
    """A figure height that leaves every named band its line of text."""
    return max(height, _OUTSIDE_PLOT_PX + _BAND_NAME_PX * (min(n_bands, MAX_NAMED_BANDS) + 1))


def _label_bands(
    shown_labels: Sequence[str], row_labels: Sequence[str], height: int
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """For rows grouped by label: a line between groups, and a y-axis tick naming each band.

    Ticks, unlike annotations, make room for themselves. A band too thin for its name gets the
    name nearby (names are spread so that none overlap) with a short leader line to the band, so
    every band is named (up to :data:`MAX_NAMED_BANDS`; the hover names every row's label).
    Returns the shapes, the y-axis settings and the number of bands left unnamed.
    """
    n = len(shown_labels)
    starts = [0] + [i for i in range(1, n) if shown_labels[i] != shown_labels[i - 1]]
    bounds = [*starts, n]
    bands = list(itertools.pairwise(bounds))
    lines: list[dict[str, Any]] = [
        {
            "type": "line",
            "x0": 0,
            "x1": 1,
            "xref": "paper",
            "y0": s - 0.5,
            "y1": s - 0.5,
            "yref": "y",
            "line": {"color": "rgba(128,128,128,0.9)", "width": 1},
        }
        for s in starts[1:]
    ]
    named = sorted(sorted(bands, key=lambda ab: ab[0] - ab[1])[:MAX_NAMED_BANDS])  # the largest, top to bottom
    rows_per_name = _BAND_NAME_PX * n / max(100, band_height(len(bands), height) - _OUTSIDE_PLOT_PX)
    centers = [(a + b - 1) / 2 for a, b in named]
    spots = _spread_positions(centers, rows_per_name, -0.5, n - 0.5)
    tickvals, ticktext = [], []
    for (a, _), center, spot in zip(named, centers, spots, strict=True):
        row = int(min(n - 1, max(0, round(spot))))
        tickvals.append(row_labels[row])
        ticktext.append(snippet(shown_labels[a] or "(none)", 24))
        if abs(row - center) > max(1.0, rows_per_name / 3):  # the name had to move: point at its band
            lines.append(
                {
                    "type": "line",
                    "xref": "x domain",
                    "x0": -0.012,
                    "x1": 0,
                    "yref": "y",
                    "y0": row,
                    "y1": center,
                    "line": {"color": "rgba(128,128,128,0.9)", "width": 1},
                }
            )
    axis = {
        "showticklabels": True,
        "tickmode": "array",
        "tickvals": tickvals,
        "ticktext": ticktext,
        "ticks": "",
        "ticklabelstandoff": 14,
        "tickfont": {"size": 10},
        "automargin": True,
    }
    return lines, axis, len(bands) - len(named)


def _columns(n_dims: int, dims: Sequence[int] | np.ndarray | None, cap: HeatmapCap) -> np.ndarray:
    columns = np.arange(n_dims, dtype=np.int64) if dims is None else np.asarray(dims, dtype=np.int64).reshape(-1)
    if columns.size and (columns.min() < 0 or columns.max() >= n_dims):
        raise ValueError(f"dims must lie in 0..{n_dims - 1}")
    return columns[: max(1, int(cap.max_cells))]


def _title(view_name: str, shown: _Rows, n_texts: int, n_order: int, n_columns: int, cap: HeatmapCap) -> str:
    sampled = shown.index.size < n_order
    what = f"{shown.index.size:,} of {n_texts:,} texts" if sampled else f"all {plural(n_texts, 'text')}"
    title = f"{view_name.capitalize()} values: {what} × {n_columns:,} dimensions"
    if sampled:
        step = n_order / max(1, shown.index.size)
        title += (
            f"<br><sup>Rows sampled evenly (about 1 in {step:.1f}) to keep the chart light "
            f"(at most {cap.max_rows:,} rows, {cap.max_cells:,} cells, ~{cap.max_bytes / 1e6:.0f} MB); "
            f"statistics use every text.</sup>"
        )
    return title


@timed("figures")
def dimension_heatmap(
    matrix: Any,
    *,
    texts: Sequence[str],
    labels: Sequence[str] | None = None,
    dims: Sequence[int] | np.ndarray | None = None,
    view_name: str,
    dead_dims: Sequence[int] = (),
    row_order: Sequence[int] | np.ndarray | None = None,
    cap: HeatmapCap | None = None,
    clip_quantile: float = 0.995,
    dim_order_name: str = "index",
    group_by_label: bool = False,
    height: int = 640,
) -> go.Figure:
    """Texts x dimensions heatmap of ``matrix`` (n_texts x n_dims; a numpy array or anything that
    returns rows for an index array, such as :class:`analysis.figures.view_matrix.ViewMatrix`).

    * ``dims``: the columns to show, in display order (default: all, by index).
    * ``row_order``: the order of the texts (default: corpus order); shown top to bottom.
    * ``cap``: at most that many rows, cells and bytes of JSON are sent; when the corpus is
      larger, rows are taken at evenly spaced positions of ``row_order`` and the title says so.
    * ``group_by_label``: rows are shown grouped by label (``row_order`` is then ignored: labels
      sorted, corpus order inside a label), with a line between groups and every group named.
      Without it rows keep ``row_order``, even when equal labels happen to be adjacent: the same
      setting draws the same way for every corpus.
    * The colour scale is diverging and centred on zero; its range is clipped symmetrically at the
      ``clip_quantile`` of |value| (stated on the colour bar).
    * Dead dimensions in view are outlined and labelled.
    """
    cap = cap or HeatmapCap()
    n_texts = len(texts)
    shape = getattr(matrix, "shape", None)
    n_dims = int(shape[1]) if shape is not None and len(shape) == 2 else 0
    if shape is not None and int(shape[0]) != n_texts:
        raise ValueError(f"matrix has {shape[0]} rows for {n_texts} texts")
    if labels is not None and len(labels) != n_texts:
        raise ValueError(f"{len(labels)} labels for {n_texts} texts")
    columns = _columns(n_dims, dims, cap)
    by_label = group_by_label and labels is not None
    if by_label:
        row_order = sorted(range(n_texts), key=lambda i: (str(labels[i]), i))  # type: ignore[index]
    order = np.arange(n_texts, dtype=np.int64) if row_order is None else np.asarray(row_order, dtype=np.int64)
    shown = _sample_rows(matrix, order, columns, cap, texts, labels)
    bound = _colour_bound(shown.z, clip_quantile)

    fig = go.Figure(
        go.Heatmap(
            z=shown.z,
            x=[str(int(d)) for d in columns],
            y=shown.labels,
            colorscale=DIVERGING_SCALE,
            zmid=0.0,
            zmin=-bound,
            zmax=bound,
            colorbar={"title": {"text": f"value<br>(±{bound:.3g}, clipped)"}, "thickness": 14},
            hovertemplate="text %{y}<br>dimension %{x}<br>value %{z:.4g}<extra></extra>",
            name=f"{view_name} values",
        )
    )
    apply_layout(fig, title=_title(view_name, shown, n_texts, order.size, columns.size, cap), height=height)
    fig.update_layout(margin={"l": 60, "t": 90})
    fig.update_xaxes(
        title={"text": f"dimension (ordered by {dim_order_name})"},
        type="category",
        showgrid=False,
        nticks=min(20, max(2, columns.size)),
    )
    shown_labels = [labels[r] for r in shown.index] if labels is not None else []
    fig.update_yaxes(
        title={"text": "texts" + (" (grouped by label)" if by_label else " (corpus order)")},
        type="category",
        autorange="reversed",
        showticklabels=False,
        showgrid=False,
    )
    # Shapes and annotations are collected and set once: plotly's add_shape/add_annotation
    # re-validate the whole list on every call.
    shapes, notes = _dead_marks(columns, dead_dims)
    if by_label and shown.index.size:
        lines, axis, unnamed = _label_bands(shown_labels, shown.labels, height)
        shapes.extend(lines)
        fig.update_yaxes(**axis)
        fig.update_layout(height=band_height(len(set(shown_labels)), height))
        if unnamed:
            fig.update_layout(
                title={
                    "text": fig.layout.title.text + f"<br><sup>{unnamed} smaller labels are not named on the "
                    "axis: hover a row to see its label.</sup>"
                }
            )
    fig.update_layout(shapes=shapes, annotations=notes)
    return fig
