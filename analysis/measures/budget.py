"""The variance budget of L2-normalized embeddings: why normalized spreads differ between models.

For unit rows ``x`` (``‖x‖ = 1``) with mean vector ``μ = E[x]`` and population variances
(``ddof = 0``, the variances of :data:`~analysis.measures.moments.STAT_COLUMNS`)::

    Σ_j Var(x_j) = Σ_j (E[x_j²] − μ_j²) = E[‖x‖²] − ‖μ‖² = 1 − ‖μ‖²

The total variance is fixed by how far the mean vector is from the origin, and the average
per-dimension variance is ``(1 − ‖μ‖²) / d``. So "small models vary more" is mostly ``1/d``,
and at a fixed ``d`` a lower variance means a longer mean vector: the texts crowd into one
direction. Everything here is computed from the normalized view's ``mean`` and ``variance``
columns, so a cached request needs no embeddings.

Mean pairwise cosine without forming pairs
------------------------------------------
For ``n`` unit rows, the dot products over all ordered pairs ``i ≠ k`` add up to
``‖Σ_i x_i‖² − Σ_i ‖x_i‖² = n²‖μ‖² − n``; there are ``n(n − 1)`` such pairs, so::

    mean cosine = (n‖μ‖² − 1) / (n − 1)

which tends to ``‖μ‖²`` for large ``n``: crowding is also why similarities are "always high".

Zero rows
---------
The normalized view keeps a zero row at zero (it has no direction). Such a row adds 0, not 1,
to ``E[‖x‖²]``, so ``Σ Var + ‖μ‖² = m / n`` with ``m`` the non-zero rows; the budget recovers
``m`` from that sum and reports ``zero_rows = n − m``. The cosine with a zero row is undefined,
so the mean cosine is taken over pairs of non-zero rows: with ``Σ_i x_i = nμ`` it is
``(n²‖μ‖² − m) / (m(m − 1))``, and NaN with fewer than two non-zero rows.

>>> b = variance_budget(mean=[0.6, 0.0], variance=[0.0, 0.64], n_texts=2)  # rows (0.6, ±0.8)
>>> round(b.mean_norm_sq, 6), round(b.total_variance, 6), round(b.mean_cosine, 6), b.zero_rows
(0.36, 0.64, -0.28, 0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.options import SPREAD_SCALES, check_choice

#: Stated in every output that carries the budget.
BUDGET_RULE = (
    "normalized view; population variances (ddof=0); total_variance + mean_norm_sq = 1 for unit rows; "
    "mean_cosine = (n*mean_norm_sq - 1)/(n - 1) over non-zero rows; effective_dims = (sum var)^2 / sum var^2"
)
#: Factors within this distance of 1 are reported as "about the same".
ABOUT_SAME = 0.02


def mean_pairwise_cosine(mean_norm_sq: float, n_texts: int, zero_rows: int = 0) -> float:
    """Mean cosine over all pairs of distinct non-zero unit rows, from ``‖μ‖²`` alone.

    ``μ`` is the mean over all ``n_texts`` rows (zero rows included, as the statistics compute it).

    >>> round(mean_pairwise_cosine(1.0, 10), 12)  # ten copies of one vector
    1.0
    >>> round(mean_pairwise_cosine(0.0, 2), 12)  # two opposite vectors
    -1.0
    """
    m = int(n_texts) - int(zero_rows)
    if m < 2:
        return math.nan
    return (n_texts * n_texts * float(mean_norm_sq) - m) / (m * (m - 1))


def top_share(variance: np.ndarray, k: int) -> float:
    """Share of the total variance held by the ``k`` highest-variance dimensions."""
    v = np.sort(np.nan_to_num(np.asarray(variance, dtype=np.float64), nan=0.0))[::-1]
    total = float(v.sum())
    return float(v[: max(0, int(k))].sum()) / total if total > 0 else math.nan


def participation_ratio(variance: np.ndarray) -> float:
    """``(Σ var)² / Σ var²``: ``d`` when every dimension varies equally, 1 when one holds it all."""
    v = np.nan_to_num(np.asarray(variance, dtype=np.float64), nan=0.0)
    squares = float(np.dot(v, v))
    return float(v.sum()) ** 2 / squares if squares > 0 else math.nan


def one_percent(dimension: int) -> int:
    """How many dimensions make up the top 1%: ``ceil(d / 100)``, at least one."""
    return max(1, math.ceil(int(dimension) / 100))


@dataclass(frozen=True)
class VarianceBudget:
    """How a model's normalized embeddings spend their unit length on one corpus."""

    n_texts: int
    dimension: int
    mean_norm_sq: float  # ‖μ‖²
    total_variance: float  # Σ_j Var(x_j), ddof = 0
    mean_cosine: float  # mean cosine over pairs of distinct non-zero rows
    top1_share: float
    top10_share: float
    top1pct_share: float
    top1pct_dims: int  # ceil(d / 100)
    effective_dims: float  # participation ratio
    median_std: float
    zero_rows: int = 0

    @property
    def rms_std(self) -> float:
        """``√(total variance / d)``: the std every dimension would have if they shared equally."""
        return math.sqrt(self.total_variance / self.dimension) if self.dimension and self.total_variance > 0 else 0.0

    @property
    def evenness(self) -> float:
        """Median std over RMS std: 1 when every dimension varies equally, lower when a few dominate."""
        return self.median_std / self.rms_std if self.rms_std > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """The JSON keys ``stats`` writes beside ``dead_dims`` (NaN stays NaN; the CLI writes null)."""
        return {
            "mean_norm_sq": self.mean_norm_sq,
            "total_variance": self.total_variance,
            "mean_cosine": self.mean_cosine,
            "variance_share_top1": self.top1_share,
            "variance_share_top10": self.top10_share,
            "variance_share_top1pct": self.top1pct_share,
            "top1pct_dims": self.top1pct_dims,
            "effective_dims": self.effective_dims,
            "zero_rows": self.zero_rows,
            "budget_rule": BUDGET_RULE,
        }

    def summary_line(self) -> str:
        """One plain-ASCII line for a terminal."""
        return (
            f"variance budget (normalized, ddof=0): |mu|^2 {self.mean_norm_sq:.4f} + total variance "
            f"{self.total_variance:.4f} = {self.mean_norm_sq + self.total_variance:.4f}; mean cosine "
            f"{self.mean_cosine:.4f}; effective dims {self.effective_dims:.1f} of {self.dimension}; the top 1 / 10 / "
            f"1% ({self.top1pct_dims}) dims hold {self.top1_share:.1%} / {self.top10_share:.1%} / "
            f"{self.top1pct_share:.1%} of the variance"
            + (f"; {self.zero_rows} zero row(s) left out of the cosine" if self.zero_rows else "")
        )


def variance_budget(
    mean: Sequence[float] | np.ndarray, variance: Sequence[float] | np.ndarray, n_texts: int
) -> VarianceBudget:
    """The budget from one view's ``mean`` and ``variance`` columns (meant for the normalized view)."""
    mu = np.asarray(mean, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    if mu.shape != var.shape or mu.ndim != 1:
        raise ValueError("mean and variance must be 1-D columns of one length")
    d, n = int(var.size), int(n_texts)
    if d == 0 or n == 0:
        nan = math.nan
        return VarianceBudget(n, d, nan, nan, nan, nan, nan, nan, one_percent(d), nan, nan)
    mean_norm_sq = float(np.dot(mu, mu))
    total = float(np.nansum(var))
    # Σ Var + ‖μ‖² = (non-zero rows) / n for a normalized view; anything else is rounding.
    zero_rows = min(n, max(0, round(n * (1.0 - (total + mean_norm_sq)))))
    return VarianceBudget(
        n_texts=n,
        dimension=d,
        mean_norm_sq=mean_norm_sq,
        total_variance=total,
        mean_cosine=mean_pairwise_cosine(mean_norm_sq, n, zero_rows),
        top1_share=top_share(var, 1),
        top10_share=top_share(var, 10),
        top1pct_share=top_share(var, one_percent(d)),
        top1pct_dims=one_percent(d),
        effective_dims=participation_ratio(var),
        median_std=float(np.nanmedian(np.sqrt(np.maximum(var, 0.0)))),
        zero_rows=int(zero_rows),
    )


# --- a scale that model size does not distort --------------------------------------------------------


def scale_spread(values: Sequence[float] | np.ndarray, scale: str, *, metric: str = "std") -> np.ndarray:
    """Per-dimension spread on one of :data:`~analysis.options.SPREAD_SCALES`.

    * ``as_is``: the values unchanged;
    * ``sqrt_d``: std × √d (variance × d). Unit vectors spread evenly over ``d`` dimensions have
      variance ``1/d`` in each, so 1.0 is "an isotropic share"; a long mean vector sits lower;
    * ``share``: each dimension's share of the total variance (sums to 1, whatever ``metric``).

    ``values`` are stds when ``metric`` is ``"std"``, variances when it is ``"variance"``.

    >>> scale_spread([0.5, 0.5, 0.5, 0.5], "sqrt_d").tolist()  # four dims, isotropic unit vectors
    [1.0, 1.0, 1.0, 1.0]
    >>> scale_spread([0.3, 0.1], "share").round(2).tolist()
    [0.9, 0.1]
    """
    check_choice(scale, SPREAD_SCALES, "spread scale")
    if metric not in ("std", "variance"):
        raise ValueError("metric must be 'std' or 'variance'")
    v = np.asarray(values, dtype=np.float64)
    if scale == "as_is":
        return v.copy()
    if scale == "sqrt_d":
        return v * (math.sqrt(v.size) if metric == "std" else v.size)
    variance = v * v if metric == "std" else v
    total = float(np.nansum(variance))
    return variance / total if total > 0 else np.full_like(variance, np.nan)


@dataclass(frozen=True)
class SpreadCut:
    """A line at ``multiple`` x the median of a per-dimension spread, and the dimensions below it."""

    multiple: float
    line: float
    n_below: int


def spread_cut(values: Sequence[float] | np.ndarray, multiple: float) -> SpreadCut:
    """Where ``multiple`` x the median of ``values`` falls, and how many values lie strictly below.

    >>> spread_cut([1.0, 2.0, 3.0, 10.0], 0.5)
    SpreadCut(multiple=0.5, line=1.25, n_below=1)
    """
    v = np.asarray(values, dtype=np.float64)
    line = float(multiple) * float(np.nanmedian(v))
    return SpreadCut(float(multiple), line, int(np.sum(v < line)))


# --- why two models' median std differ ---------------------------------------------------------------


@dataclass(frozen=True)
class RatioSplit:
    """Model A's median std over model B's, as a product of three factors (exactly)::

        median_A / median_B = √(d_B / d_A)                 the dimension count
                            × √(total_A / total_B)         crowding: √((1 − ‖μ_A‖²) / (1 − ‖μ_B‖²))
                            × evenness_A / evenness_B      what remains: median std / RMS std

    with RMS std = √(total / d). Each factor is computed from its own formula, so the product
    matching the ratio is a real check (``tests/test_budget.py``).
    """

    a: VarianceBudget
    b: VarianceBudget

    @property
    def ratio(self) -> float:
        return self.a.median_std / self.b.median_std if self.b.median_std > 0 else math.nan

    @property
    def dimension_factor(self) -> float:
        return math.sqrt(self.b.dimension / self.a.dimension) if self.a.dimension else math.nan

    @property
    def crowding_factor(self) -> float:
        if self.a.total_variance < 0 or not self.b.total_variance > 0:
            return math.nan
        return math.sqrt(self.a.total_variance / self.b.total_variance)

    @property
    def spread_factor(self) -> float:
        return self.a.evenness / self.b.evenness if self.b.evenness > 0 else math.nan

    @property
    def valid(self) -> bool:
        factors = (self.ratio, self.dimension_factor, self.crowding_factor, self.spread_factor)
        return all(math.isfinite(f) and f > 0 for f in factors)

    def sentence(self, name_a: str, name_b: str, *, ascii_only: bool = False) -> str:
        """One sentence that says where the ratio comes from, e.g. "mpnet's median std is 0.68x
        MiniLM's: 0.71x (1/√2) from having twice the dimensions (768 against 384); its mean vector
        is about as long (‖μ‖² 0.061 against 0.066); ..."."""
        if not self.valid:
            return f"{name_a} and {name_b} cannot be compared this way: a median std or total variance is zero."
        a, b = self.a, self.b
        norm_sq = "|mu|^2" if ascii_only else "‖μ‖²"
        parts = [_dimension_part(a.dimension, b.dimension, self.dimension_factor, "sqrt" if ascii_only else "√")]
        lengths = f"{norm_sq} {a.mean_norm_sq:.3f} against {b.mean_norm_sq:.3f}"
        c = self.crowding_factor
        similar = abs(a.mean_norm_sq - b.mean_norm_sq) <= 0.1 * max(a.mean_norm_sq, b.mean_norm_sq)
        if abs(c - 1) < ABOUT_SAME and similar:
            parts.append(f"its mean vector is about as long ({lengths})")
        elif abs(c - 1) < ABOUT_SAME:
            longer = "longer" if a.mean_norm_sq > b.mean_norm_sq else "shorter"
            parts.append(f"its {longer} mean vector changes little, {c:.2f}x ({lengths})")
        elif c < 1:
            parts.append(f"{c:.2f}x from a longer mean vector ({lengths}: its texts crowd closer together)")
        else:
            parts.append(f"{c:.2f}x from a shorter mean vector ({lengths}: its texts spread out more)")
        s = self.spread_factor
        evenness = f"median std / RMS std {a.evenness:.2f} against {b.evenness:.2f}"
        if abs(s - 1) < ABOUT_SAME:
            parts.append(f"and it spreads its variance about as evenly over its dimensions ({evenness})")
        else:
            how = "less" if s < 1 else "more"
            parts.append(f"and {s:.2f}x from spreading its variance {how} evenly over its dimensions ({evenness})")
        return f"{name_a}'s median std is {self.ratio:.2f}x {name_b}'s: " + "; ".join(parts) + "."


_TIMES = {2: "twice", 3: "three times", 4: "four times"}
_FRACTIONS = {2: "half", 3: "a third of", 4: "a quarter of"}


def _dimension_part(d_a: int, d_b: int, factor: float, root: str) -> str:
    if d_a == d_b:
        return f"both have {d_a} dimensions, so d explains none of it"
    counts = f"({d_a} against {d_b})"
    if d_a % d_b == 0:
        k = d_a // d_b
        return f"{factor:.2f}x (1/{root}{k}) from having {_TIMES.get(k, f'{k} times')} the dimensions {counts}"
    if d_b % d_a == 0:
        k = d_b // d_a
        return f"{factor:.2f}x ({root}{k}) from having {_FRACTIONS.get(k, f'1/{k} of')} the dimensions {counts}"
    more = "more" if d_a > d_b else "fewer"
    return f"{factor:.2f}x from having {more} dimensions {counts}"


def split_median_std_ratio(a: VarianceBudget, b: VarianceBudget) -> RatioSplit:
    """Why model A's median std differs from model B's (see :class:`RatioSplit`)."""
    return RatioSplit(a, b)
