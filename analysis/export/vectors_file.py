"""A corpus's vectors as a variant stores them, in one Parquet file with the recipe in its metadata.

Columns: ``id`` (the row number in the corpus), ``text``, ``label`` when the corpus has labels, and
``vector``: float32 or int8 as fixed-size lists, binary as fixed-size binary (packed sign bits,
``numpy.packbits(x > 0)``). The file's key-value metadata ``dimscope.recipe`` holds the recipe as
JSON: the model, corpus hash, variant, kept dimensions, precision and int8 ranges, so a reader
rebuilds the codes of new texts exactly.

The variant is fitted on the corpus itself (its dead dimensions, variances or principal axes), and
int8 is calibrated on it, as the compress report fits and calibrates on a task's documents. Rows are
converted and written one row group at a time: beyond the embedding matrix itself, memory stays at
one batch, whatever the corpus size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np

from analysis.errors import OptionError
from analysis.export.trimmed import check_precision
from analysis.export.variants import Projection, parse_variant, projection

RECIPE_KEY = b"dimscope.recipe"
BATCH_ROWS = 8192


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def fit_on_corpus(normalized: np.ndarray, variant: str | None) -> Projection | None:
    """The variant's map fitted on the corpus's own normalized vectors (None: every dimension, as they are)."""
    from analysis.measures.stats import dead_dimensions

    if variant is None:
        return None
    chosen = parse_variant(variant, int(normalized.shape[1]))
    dead = dead_dimensions(normalized.astype(np.float64).std(axis=0)) if chosen.family == "drop-dead" else []
    return projection(chosen, normalized, dead)


def _stored(normalized: np.ndarray, fitted: Projection | None) -> np.ndarray:
    return normalized.astype(np.float32, copy=False) if fitted is None else fitted.apply(normalized)


def int8_ranges_streamed(normalized: np.ndarray, fitted: Projection | None, batch_rows: int = BATCH_ROWS) -> np.ndarray:
    """Per-dimension (min, max) of the stored vectors, one batch at a time (float32, shape (2, k))."""
    low = high = None
    for a, b in _batches(normalized.shape[0], batch_rows):
        rows = _stored(normalized[a:b], fitted)
        low = rows.min(axis=0) if low is None else np.minimum(low, rows.min(axis=0))
        high = rows.max(axis=0) if high is None else np.maximum(high, rows.max(axis=0))
    if low is None or high is None:
        raise OptionError("The corpus has no rows to calibrate int8 on.")
    return np.vstack([low, high]).astype(np.float32)


def _codes(rows: np.ndarray, precision: str, ranges: np.ndarray | None) -> np.ndarray:
    """The stored codes: as ``quantize_embeddings(rows, "int8", ranges=ranges)`` or ``(..., "ubinary")``."""
    from analysis.measures.retrieval.codes import binary_codes, int8_quantize

    if precision == "float32":
        return rows
    if precision == "binary":
        return binary_codes(rows)
    assert ranges is not None
    return int8_quantize(rows, ranges)


def _vector_column(codes: np.ndarray, precision: str) -> Any:
    import pyarrow as pa

    width = int(codes.shape[1])
    if precision == "binary":
        return pa.array(
            list(codes.tobytes()[i * width : (i + 1) * width] for i in range(codes.shape[0])), pa.binary(width)
        )
    value_type = pa.float32() if precision == "float32" else pa.int8()
    values = pa.array(np.ascontiguousarray(codes).reshape(-1), type=value_type)
    return pa.FixedSizeListArray.from_arrays(values, width)


def write_vectors_parquet(
    handle: BinaryIO,
    normalized: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str] | None,
    *,
    variant: str | None,
    precision: str,
    recipe: dict[str, Any],
    batch_rows: int = BATCH_ROWS,
) -> dict[str, Any]:
    """Write ``normalized`` (N x d, unit rows) as ``variant`` stores it at ``precision``; returns the recipe
    written into the metadata (``recipe`` plus the variant, kept dimensions, precision and ranges)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    precision = check_precision(precision)
    fitted = fit_on_corpus(normalized, variant)
    ranges = int8_ranges_streamed(normalized, fitted, batch_rows) if precision == "int8" else None
    width = normalized.shape[1] if fitted is None else fitted.n_out
    full = {
        **recipe,
        "variant": variant or "all",
        "fitted_on": "this corpus (normalized view)",
        "input_dimension": int(normalized.shape[1]),
        "dimension": int(width),
        "kept_dims": None if fitted is None else fitted.kept_dims,
        # PCA: the k x d map itself (a selection is its kept_dims); new texts' vectors are unit(projection @ x).
        "projection": None if fitted is None or fitted.kept_dims is not None else fitted.weight.tolist(),
        "precision": precision,
        "int8_ranges": None if ranges is None else ranges.astype(np.float64).tolist(),
        "steps": [
            "normalized embedding (unit length)",
            "keep kept_dims (or project), then divide by the new length" if fitted else "as is",
            {
                "float32": "float32 values",
                "int8": "quantize_embeddings(x, precision='int8', ranges=np.array(int8_ranges, dtype=np.float32))",
                "binary": "numpy.packbits(x > 0, axis=-1) (quantize_embeddings(x, precision='ubinary'))",
            }[precision],
        ],
    }
    fields = [pa.field("id", pa.int64()), pa.field("text", pa.string())]
    if labels is not None:
        fields.append(pa.field("label", pa.string()))
    vector_type = (
        pa.binary(-(-width // 8))
        if precision == "binary"
        else pa.list_(pa.float32() if precision == "float32" else pa.int8(), width)
    )
    schema = pa.schema([*fields, pa.field("vector", vector_type)], metadata={RECIPE_KEY: json.dumps(full).encode()})
    with pq.ParquetWriter(handle, schema) as writer:
        for a, b in _batches(normalized.shape[0], batch_rows):
            codes = _codes(_stored(normalized[a:b], fitted), precision, ranges)
            columns = [pa.array(np.arange(a, b, dtype=np.int64)), pa.array(list(texts[a:b]), pa.string())]
            if labels is not None:
                columns.append(pa.array(list(labels[a:b]), pa.string()))
            columns.append(_vector_column(codes, precision))
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return full
