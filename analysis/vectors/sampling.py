"""A seeded uniform sample of a reader's rows, for sources too big to read whole (``--sample N --seed S``).

The sample is ``N`` distinct row positions drawn uniformly with NumPy's ``default_rng(seed)`` and
kept in row order, so the same source, ``N`` and seed give the same rows on any machine. The
source is still streamed once (a store's scan order is its only cheap order); only the sampled
rows of each chunk are kept, so memory stays bounded, and texts and labels are taken from the
same positions as the vectors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from analysis.vectors.layout import VectorReader


def sample_positions(n_rows: int, size: int, seed: int) -> np.ndarray:
    """``size`` distinct positions of ``range(n_rows)``, uniformly drawn with ``seed``, sorted.

    >>> sample_positions(10, 3, seed=0).tolist() == sample_positions(10, 3, seed=0).tolist()
    True
    >>> len(set(sample_positions(100, 100, seed=1).tolist()))
    100
    """
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=min(size, n_rows), replace=False)).astype(np.int64)


class SampledReader(VectorReader):
    """The rows of ``inner`` at ``sample_positions(inner rows, size, seed)``, in row order."""

    def __init__(self, inner: VectorReader, size: int, seed: int) -> None:
        self.inner, self.size, self.seed = inner, size, seed
        self.name = inner.name
        self.positions = sample_positions(inner.layout.n_rows, size, seed)
        self.layout = dataclasses.replace(inner.layout, n_rows=int(self.positions.size))

    def _kept(self, start: int, stop: int) -> np.ndarray:
        """The sampled positions in ``[start, stop)``, relative to ``start``."""
        lo, hi = np.searchsorted(self.positions, [start, stop])
        return self.positions[lo:hi] - start

    def pieces(self) -> Iterator[np.ndarray]:
        seen = 0
        for piece in self.inner.pieces():
            kept = self._kept(seen, seen + piece.shape[0])
            seen += piece.shape[0]
            if kept.size:
                yield piece[kept]
            if seen > self.positions[-1]:
                return

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        last = int(self.positions[-1]) + 1
        values = self.inner.column(column, max_rows=last, max_chars=max_chars)
        picked = [values[i] for i in self.positions.tolist()]
        return picked if max_rows is None else picked[:max_rows]

    def describe(self) -> str:
        return f"a uniform sample of {self.layout.n_rows:,} of {self.inner.layout.n_rows:,} rows (seed {self.seed})"
