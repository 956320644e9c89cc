"""File contents for the download buttons: CSV with spreadsheet formulas neutralised, Parquet, and the
selected-dimensions export. Bytes in memory; nothing is written to disk.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the functions that build frames
    import pandas as pd


# What a spreadsheet reads as the start of a formula (CSV injection).
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
