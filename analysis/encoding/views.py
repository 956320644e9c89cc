"""The two views of an embedding matrix: raw (pooled, before the model's Normalize) and normalized."""

from __future__ import annotations

import numpy as np

from analysis.measures.matrix import l2_normalize
from analysis.options import VIEWS

#: What the two views are for a model (embeddings from a file: ``analysis.vectors.VECTOR_VIEWS``).
MODEL_VIEWS = {
    "raw": "the pooled vector before the model's own Normalize module",
    "normalized": "its L2 normalization (what the model returns)",
}


def view_of(raw: np.ndarray, view: str) -> np.ndarray:
    """The requested view of a raw embedding matrix."""
    if view == "raw":
        return raw
    if view == "normalized":
        return l2_normalize(raw)
    raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
