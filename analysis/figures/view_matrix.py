"""Views of an embedding matrix and the orders the heatmap draws them in, computed without Streamlit.

* :class:`ViewMatrix`: the raw, normalized or standardized view of an embedding matrix, computed
  only for the rows or the column asked for (a heatmap of 2,000 sampled rows never normalizes a
  100,000-row corpus);
* orders: dimensions by index / std / mean |x|, texts by corpus order or by label.

>>> import numpy as np
>>> m = ViewMatrix(np.array([[3.0, 4.0], [0.0, 2.0]], dtype=np.float32), "normalized")
>>> m[np.array([0])].astype(float).round(2).tolist()
[[0.6, 0.8]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.measures import stats as stats_module
from analysis.options import DIM_ORDERS, HEATMAP_VIEWS, ROW_ORDERS

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the functions that build frames
    import pandas as pd


@dataclass
class ViewMatrix:
    """A view of a raw embedding matrix, computed lazily for the rows or column requested.

    * ``raw``: the pooled vectors as encoded (before the model's own Normalize);
    * ``normalized``: rows divided by their L2 norm (zero rows stay zero);
    * ``standardized``: the normalized view z-scored per dimension with ``mean``/``std`` (the
      corpus statistics of the normalized view). The std is floored at
      ``DEAD_RELATIVE_THRESHOLD`` x the median std, so a dead dimension stays near zero instead
      of having its float noise blown up to unit scale.
    """

    raw: np.ndarray
    view: str
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.view not in HEATMAP_VIEWS:
            raise ValueError(f"unknown view {self.view!r}; expected one of {HEATMAP_VIEWS}")
        if self.raw.ndim != 2:
            raise ValueError("raw must be a 2-D matrix")
        self._norms: np.ndarray | None = None
        if self.view == "standardized":
            if self.mean is None or self.std is None:
                raise ValueError("the standardized view needs the normalized view's mean and std")
            std = np.asarray(self.std, dtype=np.float64)
            finite = std[np.isfinite(std)]
            median = float(np.median(finite)) if finite.size else 0.0
            floor = stats_module.DEAD_RELATIVE_THRESHOLD * median if median > 0 else 1.0
            self._scale = np.where(np.isfinite(std), np.maximum(std, floor), 1.0).astype(np.float32)
            self._center = np.asarray(self.mean, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.raw.shape[0]), int(self.raw.shape[1]))

    def _row_norms(self, rows: Any = slice(None)) -> np.ndarray:
        block = self.raw[rows]
        norms = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64)).astype(np.float32)
        norms[norms == 0] = 1.0
        return norms

    def __getitem__(self, rows: Any) -> np.ndarray:
        """The view of the selected rows (all columns), float32."""
        block = np.asarray(self.raw[rows], dtype=np.float32)
        if block.ndim == 1:
            block = block[None, :]
        if self.view == "raw":
            return block
        norms = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64)).astype(np.float32)
        norms[norms == 0] = 1.0
        out = block / norms[:, None]
        if self.view == "standardized":
            out = (out - self._center) / self._scale
        return out.astype(np.float32, copy=False)

    def column(self, dim: int) -> np.ndarray:
        """The view of one dimension for every text (float32)."""
        values = np.asarray(self.raw[:, dim], dtype=np.float32)
        if self.view == "raw":
            return values
        if self._norms is None:
            self._norms = self._row_norms()
        out = values / self._norms
        if self.view == "standardized":
            out = (out - self._center[dim]) / self._scale[dim]
        return out.astype(np.float32, copy=False)


# How a chart's title names each of DIM_ORDERS.
DIM_ORDER_NAMES: dict[str, str] = {"index": "index", "std": "std", "abs_mean": "mean |x|"}


def dimension_order(stats: pd.DataFrame, how: str, dims: Sequence[int] | None = None) -> np.ndarray:
    """Dimensions in display order: by index, or by std / mean |x| largest first (stable).

    ``dims`` restricts the result to a subset (kept in the requested order).
    """
    if how not in DIM_ORDERS:
        raise ValueError(f"unknown order {how!r}; expected one of {DIM_ORDERS}")
    all_dims = stats["dim"].to_numpy(dtype=np.int64)
    if dims is None:
        chosen = all_dims
    else:
        chosen = np.asarray(sorted({int(d) for d in dims} & set(all_dims.tolist())), dtype=np.int64)
    if how == "index":
        return np.sort(chosen)
    values = stats.set_index("dim").loc[chosen, how].to_numpy(dtype=np.float64)
    return chosen[np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")]


def row_order(n: int, labels: Sequence[str] | None, how: str) -> np.ndarray:
    """Row indices: corpus order, or grouped by label (labels sorted, corpus order inside a label)."""
    if how not in ROW_ORDERS:
        raise ValueError(f"unknown order {how!r}; expected one of {ROW_ORDERS}")
    if how == "corpus" or labels is None:
        return np.arange(n, dtype=np.int64)
    keys = np.asarray([str(label) for label in labels], dtype=object)
    return np.asarray(sorted(range(n), key=lambda i: (keys[i], i)), dtype=np.int64)
