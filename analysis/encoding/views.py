"""The two views of an embedding matrix: raw (pooled, before the model's Normalize) and normalized."""

from __future__ import annotations

import numpy as np

from analysis.options import VIEWS

#: What the two views are for a model (embeddings from a file: ``analysis.vectors.VECTOR_VIEWS``).
MODEL_VIEWS = {
    "raw": "the pooled vector before the model's own Normalize module",
    "normalized": "its L2 normalization (what the model returns)",
}


def l2_normalize(raw: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (float32). Zero rows stay zero instead of becoming NaN.

    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    norms = np.linalg.norm(raw, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    return (raw / norms).astype(np.float32, copy=False)


def view_of(raw: np.ndarray, view: str) -> np.ndarray:
    """The requested view of a raw embedding matrix."""
    if view == "raw":
        return raw
    if view == "normalized":
        return l2_normalize(raw)
    raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
