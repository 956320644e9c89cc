"""Input checks and row re-normalization shared by the retrieval modules."""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.measures.matrix import as_matrix

# Row norms may deviate this much from 1 (float32 round trips, fp16 models).
UNIT_TOL = 1e-3


def int_vector(values: Any, name: str) -> np.ndarray:
    """A 1-D int64 array of indices; integral floats are accepted, anything else is an OptionError."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise OptionError(f"{name} must be a 1-D array with one integer per query; got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise OptionError(f"{name} must hold integer document indices; got dtype {arr.dtype}.")
    return arr.astype(np.int64)


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise OptionError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def checked_embeddings(X: Any, name: str, *, unit: bool = True) -> np.ndarray:
    """A non-empty, finite 2-D matrix as contiguous float32; with ``unit``, rows of length 1 (to 1e-3)."""
    A = np.ascontiguousarray(as_matrix(np.asarray(X), name=name), dtype=np.float32)
    if not np.all(np.isfinite(A)):
        raise OptionError(f"{name} holds values beyond float32's range; rescale them first.")
    if unit:
        norms = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
        bad = np.flatnonzero(np.abs(norms - 1.0) > UNIT_TOL)
        if bad.size:
            raise OptionError(
                f"{name} rows must be L2-normalized (row {bad[0]} has norm {norms[bad[0]]:.4g}); "
                "divide each row by its norm first."
            )
    return A


def same_width(queries: np.ndarray, documents: np.ndarray) -> None:
    if queries.shape[1] != documents.shape[1]:
        raise OptionError(
            f"queries have {queries.shape[1]} dimensions but documents have {documents.shape[1]}; "
            "embed both with the same model."
        )


def unit_rows64(A: np.ndarray) -> np.ndarray:
    """Rows re-normalized in float64; a row that is all zero stays zero, so all its cosines are 0."""
    A = np.asarray(A, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", A, A))[:, None]
    return np.divide(A, norms, out=np.zeros(A.shape), where=norms > 0)


def unit_rows(A: np.ndarray) -> np.ndarray:
    """Rows re-normalized, as float32 (the dtype every float variant is scored in)."""
    return unit_rows64(A).astype(np.float32)
