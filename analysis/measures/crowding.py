"""Per-label crowding: how much of the normalized view's spread lies between topics and how much within.

With labels ``c`` holding a share ``w_c`` of the rows, label means ``μ_c`` and the corpus mean
``μ = Σ_c w_c μ_c``, the total variance splits exactly (the law of total variance, summed over
dimensions, population variances)::

    Σ_j Var(x_j) = Σ_c w_c W_c + Σ_c w_c ‖μ_c − μ‖²
                   (within labels)  (between labels)

where ``W_c = Σ_j Var(x_j | c) = E[‖x‖² | c] − ‖μ_c‖²``, which is ``1 − ‖μ_c‖²`` for unit rows.
A label whose ``‖μ_c‖²`` is far above the corpus's ``‖μ‖²`` is a tight topic: its texts crowd
together more than the corpus does.

Rows are normalized here, a chunk at a time in float64 (zero rows stay zero, as in the
normalized view), so a large corpus never needs a float64 copy of the whole matrix.

>>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
>>> c = label_crowding(x, ["a", "a", "b", "b"])
>>> c.labels, c.mean_norm_sq.tolist(), round(c.within_total, 6), round(c.between_total, 6)
(['a', 'b'], [1.0, 1.0], 0.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class LabelCrowding:
    """The between/within split of the normalized view's total variance, per label."""

    labels: list[str]  # sorted
    counts: np.ndarray  # texts per label
    mean_norm_sq: np.ndarray  # ‖μ_c‖² per label
    within: np.ndarray  # W_c = Σ_j Var(x_j | c)
    between: np.ndarray  # ‖μ_c − μ‖²
    corpus_mean_norm_sq: float  # ‖μ‖²
    total_variance: float  # Σ_j Var(x_j) over the whole corpus, computed directly

    @property
    def weights(self) -> np.ndarray:
        n = int(self.counts.sum())
        return self.counts / n if n else np.zeros(len(self.counts))

    @property
    def within_total(self) -> float:
        """``Σ_c w_c W_c``: the variance left inside the labels."""
        return float(np.dot(self.weights, self.within))

    @property
    def between_total(self) -> float:
        """``Σ_c w_c ‖μ_c − μ‖²``: the variance that separates the labels."""
        return float(np.dot(self.weights, self.between))

    @property
    def between_share(self) -> float:
        return self.between_total / self.total_variance if self.total_variance > 0 else math.nan

    def sentence(self, *, ascii_only: bool = False) -> str:
        """One plain sentence with the split (``ascii_only`` for a terminal)."""
        label_sq, corpus_sq = ("|mu_c|^2", "|mu|^2") if ascii_only else ("‖μ_c‖²", "‖μ‖²")
        if not self.total_variance > 0:
            return "The texts do not vary: there is no variance to split between and within labels."
        tight = self.labels[int(np.argmax(self.mean_norm_sq))]
        return (
            f"Of the total variance {self.total_variance:.3f}, {self.within_total:.3f} "
            f"({1 - self.between_share:.0%}) lies within the {len(self.labels)} labels and "
            f"{self.between_total:.3f} ({self.between_share:.0%}) between them. Within a label the mean vector "
            f"is longer than the corpus's ({label_sq} {np.dot(self.weights, self.mean_norm_sq):.3f} on average, "
            f"weighted by texts, against {corpus_sq} {self.corpus_mean_norm_sq:.3f}); the tightest label is "
            f"{tight!r} ({label_sq} {float(np.max(self.mean_norm_sq)):.3f})."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus_mean_norm_sq": self.corpus_mean_norm_sq,
            "total_variance": self.total_variance,
            "within_total": self.within_total,
            "between_total": self.between_total,
            "labels": [
                {
                    "label": label,
                    "count": int(self.counts[i]),
                    "mean_norm_sq": float(self.mean_norm_sq[i]),
                    "within_variance": float(self.within[i]),
                    "between": float(self.between[i]),
                }
                for i, label in enumerate(self.labels)
            ],
        }


def label_crowding(matrix: np.ndarray, labels: Sequence[Any], *, chunk_rows: int = _CHUNK_ROWS) -> LabelCrowding:
    """The split of :class:`LabelCrowding` for the L2-normalized rows of ``matrix`` (raw or normalized).

    ``labels`` holds one label per row (compared as strings).
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError("expected a 2-D matrix")
    if len(labels) != matrix.shape[0]:
        raise ValueError(f"{len(labels)} labels for {matrix.shape[0]} rows")
    names, codes = np.unique(np.asarray([str(label) for label in labels], dtype=object), return_inverse=True)
    k, d = len(names), matrix.shape[1]
    sums = np.zeros((k, d))
    square_sums = np.zeros(k)  # Σ ‖x‖² per label: 1 per non-zero unit row, 0 per zero row
    for start in range(0, matrix.shape[0], max(1, int(chunk_rows))):
        x = np.asarray(matrix[start : start + chunk_rows], dtype=np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", x, x))
        x = x / np.where(norms > 0, norms, 1.0)[:, None]
        chunk_codes = codes[start : start + chunk_rows]
        order = np.argsort(chunk_codes, kind="stable")
        present, first = np.unique(chunk_codes[order], return_index=True)
        sums[present] += np.add.reduceat(x[order], first, axis=0)
        square_sums[present] += np.add.reduceat(np.einsum("ij,ij->i", x, x)[order], first)
    counts = np.bincount(codes, minlength=k).astype(np.int64)
    n = int(counts.sum())
    if n == 0:
        empty = np.zeros(0)
        return LabelCrowding([], counts, empty, empty, empty, math.nan, math.nan)
    label_means = sums / counts[:, None]
    corpus_mean = sums.sum(axis=0) / n
    corpus_norm_sq = float(corpus_mean @ corpus_mean)
    label_norm_sq = np.einsum("ij,ij->i", label_means, label_means)
    gaps = label_means - corpus_mean
    return LabelCrowding(
        labels=[str(name) for name in names],
        counts=counts,
        mean_norm_sq=label_norm_sq,
        within=np.maximum(square_sums / counts - label_norm_sq, 0.0),
        between=np.einsum("ij,ij->i", gaps, gaps),
        corpus_mean_norm_sq=corpus_norm_sq,
        total_variance=max(float(square_sums.sum()) / n - corpus_norm_sq, 0.0),
    )
