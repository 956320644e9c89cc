"""Mergeable per-dimension statistics: the one accumulator every statistics path uses.

:class:`DimensionMoments` holds, for each dimension of one view, the count, mean and M2 (the
sum of squared deviations from the mean) in float64, plus min, max, sum of |x| and the number
of near-zero values. Two accumulators over disjoint rows merge exactly (Chan, Golub & LeVeque
1979, the parallel form of Welford's update)::

    n = n_a + n_b,  delta = mean_b - mean_a
    mean = mean_a + delta * n_b / n
    M2   = M2_a + M2_b + delta^2 * n_a * n_b / n

so any split of the rows (chunks streamed from disk, threads, Ray workers) gives the same
statistics as one pass, to rounding. Within a chunk the mean and M2 are computed by two passes
(mean first, then squared deviations), never as E[x^2] - E[x]^2: that difference cancels
catastrophically on an offset, near-constant dimension (mean 1e3, std 1e-6), exactly the kind of
dimension DimScope exists to find.

>>> x = np.array([[1.0, 1000.0], [2.0, 1000.000001], [3.0, 999.999999]])
>>> whole = DimensionMoments.empty(2).update(x)
>>> parts = DimensionMoments.empty(2).update(x[:1]).merge(DimensionMoments.empty(2).update(x[1:]))
>>> bool(np.allclose(whole.columns()["std"], parts.columns()["std"], rtol=1e-9))
True

Wire form
---------
:meth:`DimensionMoments.to_wire` turns an accumulator into plain Python (an int and lists of
floats and ints) and :meth:`DimensionMoments.from_wire` reads it back bit for bit: a float64
survives a trip through a Python float, JSON (``repr`` round-trips) or an Arrow ``double``. This
is what crosses process boundaries in a distributed run (``analysis.engines.ray_data`` passes it
between Ray tasks inside Arrow rows), so every worker and the driver merge with this same class.

>>> wire = whole.to_wire()
>>> sorted(wire)
['abs_sum', 'count', 'm2', 'maximum', 'mean', 'minimum', 'near_zero']
>>> back = DimensionMoments.from_wire(wire)
>>> bool(all(np.array_equal(a, b) for a, b in zip(back.columns().values(), whole.columns().values())))
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The per-dimension statistics, in output order (population statistics: ddof = 0).
STAT_COLUMNS = ["dim", "mean", "std", "variance", "min", "max", "abs_mean", "near_zero_share"]
#: A component is near zero when ``|x_j| < NEAR_ZERO_EPS * ||x||`` (0.1% of its row's length).
NEAR_ZERO_EPS = 1e-3
_WIRE_FLOATS = ("mean", "m2", "minimum", "maximum", "abs_sum")


@dataclass
class DimensionMoments:
    """Running statistics of one view, per dimension; see the module docstring for the merge."""

    count: int
    mean: np.ndarray  # float64
    m2: np.ndarray  # float64: sum of squared deviations from the mean
    minimum: np.ndarray  # float64
    maximum: np.ndarray  # float64
    abs_sum: np.ndarray  # float64: sum of |x|
    near_zero: np.ndarray  # int64: rows with |x_j| < NEAR_ZERO_EPS * ||x||

    @classmethod
    def empty(cls, dimension: int) -> DimensionMoments:
        d = int(dimension)
        return cls(
            0,
            np.zeros(d),
            np.zeros(d),
            np.full(d, np.inf),
            np.full(d, -np.inf),
            np.zeros(d),
            np.zeros(d, dtype=np.int64),
        )

    @property
    def dimension(self) -> int:
        return int(self.mean.shape[0])

    def add_block(
        self,
        n: int,
        mean: np.ndarray,
        m2: np.ndarray,
        minimum: np.ndarray,
        maximum: np.ndarray,
        abs_sum: np.ndarray,
        near_zero: np.ndarray,
    ) -> DimensionMoments:
        """Merge the summary of ``n`` other rows (Chan's formula); returns ``self``."""
        if n == 0:
            return self
        if self.count == 0:
            self.mean, self.m2 = np.asarray(mean, dtype=np.float64).copy(), np.asarray(m2, dtype=np.float64).copy()
        else:
            total = self.count + n
            delta = mean - self.mean
            self.mean = self.mean + delta * (n / total)
            self.m2 = self.m2 + m2 + delta * delta * (self.count * n / total)
        self.count += int(n)
        np.minimum(self.minimum, minimum, out=self.minimum)
        np.maximum(self.maximum, maximum, out=self.maximum)
        self.abs_sum += abs_sum
        self.near_zero += near_zero
        return self

    def merge(self, other: DimensionMoments) -> DimensionMoments:
        """Absorb ``other`` (statistics of other rows); returns ``self``."""
        if other.dimension != self.dimension:
            raise ValueError(f"cannot merge statistics of {other.dimension} dimensions into {self.dimension}")
        return self.add_block(
            other.count, other.mean, other.m2, other.minimum, other.maximum, other.abs_sum, other.near_zero
        )

    def update(self, chunk: np.ndarray, near_zero_mask: np.ndarray | None = None) -> DimensionMoments:
        """Absorb the rows of ``chunk`` (2-D, any float dtype), computed in float64; returns ``self``.

        ``near_zero_mask`` (same shape) says which values count as near zero; by default
        ``|x_j| < NEAR_ZERO_EPS * ||x||`` with the chunk's own row norms.
        """
        x = np.asarray(chunk, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dimension:
            raise ValueError(f"expected rows of {self.dimension} values, got shape {np.shape(chunk)}")
        if x.shape[0] == 0:
            return self
        if near_zero_mask is None:
            norms = np.sqrt(np.einsum("ij,ij->i", x, x))
            near_zero_mask = np.abs(x) < (NEAR_ZERO_EPS * norms)[:, None]
        mean = x.mean(axis=0)
        centered = x - mean
        return self.add_block(
            x.shape[0],
            mean,
            np.einsum("ij,ij->j", centered, centered),
            x.min(axis=0),
            x.max(axis=0),
            np.abs(x).sum(axis=0),
            near_zero_mask.sum(axis=0, dtype=np.int64),
        )

    def to_wire(self) -> dict[str, Any]:
        """Plain Python (``count`` an int, the rest lists), exact on a round trip; see the module docstring."""
        return {
            "count": int(self.count),
            "mean": self.mean.tolist(),
            "m2": self.m2.tolist(),
            "minimum": self.minimum.tolist(),
            "maximum": self.maximum.tolist(),
            "abs_sum": self.abs_sum.tolist(),
            "near_zero": self.near_zero.astype(np.int64).tolist(),
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> DimensionMoments:
        """The accumulator :meth:`to_wire` described. Raises ValueError for a malformed record."""
        try:
            fields = {name: np.asarray(wire[name], dtype=np.float64) for name in _WIRE_FLOATS}
            near_zero = np.asarray(wire["near_zero"], dtype=np.int64)
            count = int(wire["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a DimensionMoments wire record: {exc}") from None
        shapes = {a.shape for a in fields.values()} | {near_zero.shape}
        if len(shapes) != 1 or near_zero.ndim != 1 or count < 0:
            raise ValueError(f"not a DimensionMoments wire record: shapes {sorted(shapes)}, count {count}")
        return cls(
            count,
            fields["mean"],
            fields["m2"],
            fields["minimum"],
            fields["maximum"],
            fields["abs_sum"],
            near_zero,
        )

    def columns(self) -> dict[str, np.ndarray]:
        """The statistics as numpy columns keyed by :data:`STAT_COLUMNS` (NaN when empty)."""
        d = self.dimension
        dims = np.arange(d, dtype=np.int64)
        if self.count == 0:
            nan = np.full(d, np.nan)
            return {"dim": dims, **{c: nan for c in STAT_COLUMNS[1:]}}
        n = self.count
        variance = np.maximum(self.m2 / n, 0.0)
        return {
            "dim": dims,
            "mean": self.mean.astype(np.float64),
            "std": np.sqrt(variance),
            "variance": variance,
            "min": self.minimum.astype(np.float64),
            "max": self.maximum.astype(np.float64),
            "abs_mean": self.abs_sum / n,
            "near_zero_share": self.near_zero / n,
        }


def update_views(raw: DimensionMoments, normalized: DimensionMoments | None, chunk: np.ndarray) -> None:
    """Absorb a chunk of raw rows into the raw view and (when given) the L2-normalized view.

    One near-zero mask serves both views: ``|x_j| < eps * ||x||`` is the same test on ``x / ||x||``.
    Zero rows stay zero in the normalized view.
    """
    x = np.asarray(chunk, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    mask = np.abs(x) < (NEAR_ZERO_EPS * norms)[:, None]
    raw.update(x, mask)
    if normalized is not None:
        safe = np.where(norms > 0, norms, 1.0)
        normalized.update(x / safe[:, None], mask)
