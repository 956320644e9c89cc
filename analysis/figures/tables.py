"""The matrices and tables the dashboard shows, computed without Streamlit.

* :class:`ViewMatrix`: the raw, normalized or standardized view of an embedding matrix, computed
  only for the rows or the column asked for (a heatmap of 2,000 sampled rows never normalizes a
  100,000-row corpus);
* orders: dimensions by index / std / mean |x|, texts by corpus order or by label;
* one dimension: top and bottom texts, means per label;
* tables: per-dimension statistics, model comparison summary, dead dimensions;
* downloads: CSV with spreadsheet formulas neutralised, Parquet.

>>> import numpy as np
>>> m = ViewMatrix(np.array([[3.0, 4.0], [0.0, 2.0]], dtype=np.float32), "normalized")
>>> m[np.array([0])].astype(float).round(2).tolist()
[[0.6, 0.8]]
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.measures import stats as stats_module
from analysis.options import DIM_ORDERS, HEATMAP_VIEWS, ROW_ORDERS

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the functions that build frames
    import pandas as pd


__all__ = [
    "ViewMatrix",
    "compare_summary",
    "dead_dims_table",
    "selected_dims_export",
    "dimension_order",
    "label_means",
    "parquet_bytes",
    "row_order",
    "safe_csv_bytes",
    "stats_table",
    "top_bottom_texts",
]


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


def top_bottom_texts(
    values: Any, texts: Sequence[str], labels: Sequence[str] | None = None, n: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` texts with the highest and the lowest values (ties broken by corpus order).

    Each table has the columns ``rank``, ``value``, ``text`` (and ``label`` when labels exist),
    plus ``row``, the text's position in the corpus.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size != len(texts):
        raise ValueError(f"{v.size} values for {len(texts)} texts")
    n = max(0, min(int(n), v.size))
    filled_hi = np.where(np.isfinite(v), v, -np.inf)
    filled_lo = np.where(np.isfinite(v), v, np.inf)
    top = np.argsort(-filled_hi, kind="stable")[:n]
    bottom = np.argsort(filled_lo, kind="stable")[:n]

    def frame(idx: np.ndarray) -> pd.DataFrame:
        import pandas as pd

        data: dict[str, Any] = {"rank": np.arange(1, idx.size + 1), "value": v[idx], "text": [texts[i] for i in idx]}
        if labels is not None:
            data["label"] = [labels[i] for i in idx]
        data["row"] = idx
        return pd.DataFrame(data)

    return frame(top), frame(bottom)


def label_means(values: Any, labels: Sequence[str]) -> pd.DataFrame:
    """Per label: ``count``, ``mean``, ``std`` (population) and ``sem``, sorted by mean ascending."""
    import pandas as pd

    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size != len(labels):
        raise ValueError(f"{v.size} values for {len(labels)} labels")
    frame = pd.DataFrame({"label": [str(label) for label in labels], "value": v})
    grouped = frame.groupby("label", sort=True)["value"]
    out = pd.DataFrame({"count": grouped.count(), "mean": grouped.mean(), "std": grouped.std(ddof=0)}).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"].clip(lower=1))
    return out.sort_values(["mean", "label"], kind="stable").reset_index(drop=True)


def stats_table(stats: pd.DataFrame, dead_dims: Sequence[int]) -> pd.DataFrame:
    """Per-dimension statistics for display and download: adds ``dead`` and ``std_to_median``."""
    out = stats.copy()
    out.insert(1, "dead", out["dim"].isin(list(dead_dims)))
    out.insert(4, "std_to_median", stats_module.std_ratio(out["std"].to_numpy()))
    return out


def compare_summary(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model from ``StatsResult``-like objects (``raw``, ``normalized``, ``dead_dims``, ...)."""
    import pandas as pd

    rows = []
    for name, result in results.items():
        raw_std = result.raw["std"].to_numpy(dtype=np.float64)
        norm_std = result.normalized["std"].to_numpy(dtype=np.float64)
        rows.append(
            {
                "model": name,
                "dimension": int(result.dimension),
                "texts": int(result.n_texts),
                "dead dims": len(result.dead_dims),
                "dead dim indices": ", ".join(str(d) for d in result.dead_dims) or "none",
                "median std (raw)": float(np.nanmedian(raw_std)),
                "mean std (raw)": float(np.nanmean(raw_std)),
                "median std (normalized)": float(np.nanmedian(norm_std)),
                "mean std (normalized)": float(np.nanmean(norm_std)),
            }
        )
    return pd.DataFrame(rows)


#: How the dead-dimension table shows its stds: they span 30 orders of magnitude (4.56e-32 to 9.81e-06),
#: and "%g" would print some as 0.00000981 and others as 4.56e-32; one notation lines them up.
DEAD_TABLE_NUMBER_FORMAT = "%.2e"


def dead_dims_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per dead dimension per model, with its std in both views and relative to the median
    (shown with :data:`DEAD_TABLE_NUMBER_FORMAT`)."""
    import pandas as pd

    rows = []
    for name, result in results.items():
        ratio = stats_module.std_ratio(result.normalized["std"].to_numpy())
        raw_std = result.raw.set_index("dim")["std"]
        norm_std = result.normalized.set_index("dim")["std"]
        for d in result.dead_dims:
            rows.append(
                {
                    "model": name,
                    "dim": int(d),
                    "std (raw)": float(raw_std.loc[d]),
                    "std (normalized)": float(norm_std.loc[d]),
                    "std / median (normalized)": float(ratio[d]),
                }
            )
    return pd.DataFrame(rows, columns=["model", "dim", "std (raw)", "std (normalized)", "std / median (normalized)"])


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which text cells that a spreadsheet would run as a formula start with ``'``.

    Only strings are touched: a negative *number* stays a number.
    """
    import pandas as pd

    out = frame.copy()
    for position in range(out.shape[1]):  # by position: column names may repeat
        series = out.iloc[:, position]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            out.isetitem(
                position,
                pd.Series(
                    [
                        "'" + value if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES) else value
                        for value in series
                    ],
                    index=out.index,
                    dtype=object,
                ),
            )
    out.columns = ["'" + c if isinstance(c, str) and c.startswith(_FORMULA_PREFIXES) else c for c in out.columns]
    return out


def safe_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV of ``frame`` with formula-looking text cells neutralised (see :func:`neutralise_formulas`).

    Every text cell is quoted (numbers are not): pandas leaves a cell holding a lone CR, or a
    ``;`` (the separator in many locales), unquoted, and a spreadsheet would start a new cell
    or row there, so that ``"x\\r=cmd"`` would put ``=cmd`` at the start of a cell.
    """
    return neutralise_formulas(frame).to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as a Parquet file in memory (pyarrow)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def selected_dims_export(
    order: Sequence[int], k: int, *, model: str = "", corpus: str = "", view: str = ""
) -> pd.DataFrame:
    """The top-``k`` dimensions by variance as a table (rank, dim), for CSV/JSON download."""
    import pandas as pd

    k = max(0, min(int(k), len(order)))
    frame = pd.DataFrame({"rank": np.arange(1, k + 1, dtype=np.int64), "dim": np.asarray(order[:k], dtype=np.int64)})
    frame.attrs.update({"model": model, "corpus": corpus, "view": view, "method": "top_variance", "k": k})
    return frame
