"""Per-dimension statistics and dead-dimension detection.

Statistics are accumulated over row chunks in float64, so memory stays bounded by the chunk
size whatever the corpus size, and both views (raw and L2-normalized) come out of one pass.

Dead-dimension rule
-------------------
A dimension is *dead* when its standard deviation in the **normalized** view is below
``DEAD_RELATIVE_THRESHOLD`` (1%) of the median standard deviation over all dimensions.

* The normalized view puts every model on the same scale (unit vectors), and the ratio to the
  median removes what is left of model size (a 384-dim model has larger components than a
  1024-dim one).
* On the known cases the gap is enormous: all-MiniLM-L6-v2's dims 127/223/319 sit near 1e-3 of
  the median or lower, while its next-lowest dimension is at 0.49 of the median;
  all-mpnet-base-v2's next-lowest is at 0.35. A 1% cut sits far from both sides.
* With fewer than two texts, or a median of zero, nothing can be called dead.

``near_zero_share`` is the share of texts in which ``|x_j| < NEAR_ZERO_EPS * ||x||``: a component
below 0.1% of its own vector's length. Being relative to the row norm, it is scale-free and the
same in both views.

Both paths below fill the same mergeable accumulator, :class:`~analysis.measures.moments.DimensionMoments`
(count, mean and M2 merged with Chan's formula in float64), so a streamed run, threads and a
distributed run agree:

* a fast path for float32 input (what the cache stores), cut into L2-sized blocks with reused
  buffers, float32 arithmetic on block-centered values, float64 accumulation, and up to two
  threads (``$DIMSCOPE_STATS_THREADS``);
* the straightforward float64 update, used for any other dtype and kept as the reference the
  fast path is tested against (``tests/test_perf_paths.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.measures.moments import NEAR_ZERO_EPS, STAT_COLUMNS, DimensionMoments, update_views

if TYPE_CHECKING:  # pandas costs about a second to import; only the frame builders need it
    import pandas as pd

DEAD_RELATIVE_THRESHOLD = 0.01
DEFAULT_CHUNK_ROWS = 4096

# Speed notes (profiled on a 2-core EPYC, see benchmarks/README.md):
# * Every numpy call over a large fresh array pays page faults and a trip to main memory. The
#   fast path therefore cuts each incoming chunk into blocks of about 1 MB (float32) and reuses
#   preallocated buffers, so the dozen passes a block needs run out of the L2 cache.
# * float32 -> float64 casts inside reductions (``sum(dtype=float64)``, ``einsum(dtype=...)``) are
#   3-5x slower than the float32 operation itself. Blocks are centered on their own float32 mean,
#   squared in float32 (exact enough: the values are already small) and summed 16 rows at a time
#   before the float64 accumulation, then merged across blocks with Chan's parallel formula in
#   float64. This keeps the variance of a dimension whose mean is 1e4 x its spread accurate to
#   ~1e-7 relative, like the straightforward float64 computation (see tests/test_perf_paths.py).
_BLOCK_BYTES = 1 << 20
_SUM_GROUP = 16  # rows summed in float32 before the float64 accumulation
_MIN_ROWS_PER_WORKER = 4096  # below this a second thread costs more than it saves
# A mean squared deviation below this (float32's smallest normal number, 1.2e-38, times 2^24 for
# the precision of the sums) is recomputed in float64: see _Float32Worker._centered.
_TINY_MEAN_SQUARE = float(np.finfo(np.float32).tiny) * 2.0**24


def _block_rows(dimension: int) -> int:
    return int(max(_SUM_GROUP, min(8192, (_BLOCK_BYTES // (4 * max(dimension, 1))) // _SUM_GROUP * _SUM_GROUP)))


def stats_workers() -> int:
    """Threads used for large float32 inputs (``$DIMSCOPE_STATS_THREADS``, default: up to 2 cores)."""
    raw = os.environ.get("DIMSCOPE_STATS_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, min(2, os.cpu_count() or 1))


class _Float32Worker:
    """Per-thread buffers and moments for the fast float32 path (one or both views)."""

    def __init__(self, d: int, rows: int, both_views: bool) -> None:
        self.rows, self.both, self.d = rows, both_views, d
        self.raw = DimensionMoments.empty(d)
        self.norm = DimensionMoments.empty(d)  # untouched unless both_views
        self._sq = np.empty((rows, d), dtype=np.float32)
        self._xn = np.empty((rows, d), dtype=np.float32)
        self._work = np.empty((rows, d), dtype=np.float32)
        self._mask = np.empty((rows, d), dtype=bool)
        self._ones_cols = np.ones(d, dtype=np.float32)
        self._ones_rows = np.ones(rows, dtype=np.float32)

    def reset(self) -> None:
        self.raw = DimensionMoments.empty(self.d)
        self.norm = DimensionMoments.empty(self.d)

    def absorb(self, other: _Float32Worker) -> None:
        self.raw.merge(other.raw)
        self.norm.merge(other.norm)

    def run(self, matrix: np.ndarray) -> _Float32Worker:
        for start in range(0, matrix.shape[0], self.rows):
            self._block(matrix[start : start + self.rows])
        return self

    def _sum_sq64(self, centered: np.ndarray) -> np.ndarray:
        """Column sums of squares in float64: float32 over groups of 16 rows, then float64."""
        r = centered.shape[0]
        full = r - r % _SUM_GROUP
        total = np.zeros(centered.shape[1])
        if full:
            groups = centered[:full].reshape(full // _SUM_GROUP, _SUM_GROUP, -1)
            total += np.einsum("gij,gij->gj", groups, groups).sum(axis=0, dtype=np.float64)
        if full < r:
            rest = centered[full:]
            total += np.einsum("ij,ij->j", rest, rest, dtype=np.float64)
        return total

    def _count_true(self, mask: np.ndarray) -> np.ndarray:
        """Per-column count of True, summing uint8 over at most 255 rows at a time (fast)."""
        as_bytes = mask.view(np.uint8)
        total = np.zeros(mask.shape[1], dtype=np.int64)
        for start in range(0, mask.shape[0], 255):
            total += np.add.reduce(as_bytes[start : start + 255], axis=0, dtype=np.uint8)
        return total

    def _centered(self, x: np.ndarray, acc: DimensionMoments, abs_sum: np.ndarray, near_zero: np.ndarray) -> None:
        """Merge one block's summary into ``acc``: mean and centered sum of squares, min, max."""
        r = x.shape[0]
        work, ones = self._work[:r], self._ones_rows[:r]
        block_mean = (ones @ x) / np.float32(r)  # float32; its rounding error is recovered below
        np.subtract(x, block_mean, out=work)
        residual = (ones @ work).astype(np.float64)  # small values: float32 sums are plenty
        m2 = self._sum_sq64(work) - residual * residual / r
        mean = block_mean.astype(np.float64) + residual / r
        # Squares of deviations below ~1e-19 leave float32's normal range (they become subnormal or
        # zero): a dead dimension's spread would be lost. Redo those few columns in float64.
        tiny = np.flatnonzero(m2 < r * _TINY_MEAN_SQUARE)
        if tiny.size:
            columns = x[:, tiny].astype(np.float64)
            mean[tiny] = columns.mean(axis=0)
            centered = columns - mean[tiny]
            m2[tiny] = np.einsum("ij,ij->j", centered, centered)
        acc.add_block(
            r,
            mean,
            np.maximum(m2, 0.0),
            x.min(axis=0),
            x.max(axis=0),
            abs_sum,
            near_zero,
        )

    def _block(self, x: np.ndarray) -> None:
        r = x.shape[0]
        if r == 0:
            return
        sq, xn, work, mask = self._sq[:r], self._xn[:r], self._work[:r], self._mask[:r]
        # Row norms: square in float32, sum each row with BLAS, root in float64.
        np.square(x, out=sq)
        norms = np.sqrt((sq @ self._ones_cols).astype(np.float64))
        zero_rows = norms == 0
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=~zero_rows).astype(np.float32)
        # Normalized rows (zero rows stay zero, as with a norm of 1).
        np.multiply(x, inv[:, None], out=xn)
        # |x_j| < eps * ||x||  <=>  |x_j / ||x||| < eps: one mask serves both views.
        np.abs(xn, out=work)
        np.less(work, np.float32(NEAR_ZERO_EPS), out=mask)
        if zero_rows.any():
            mask[zero_rows] = False
        near_zero = self._count_true(mask)
        # Sums of positive terms lose nothing to cancellation: float32 BLAS sums are accurate to
        # ~1e-7 relative (at worst rows x 6e-8). |x| = ||x|| * |x / ||x|||.
        raw_abs = (norms.astype(np.float32) @ work).astype(np.float64)
        norm_abs = (self._ones_rows[:r] @ work).astype(np.float64) if self.both else None
        self._centered(x, self.raw, raw_abs, near_zero)
        if norm_abs is not None:
            self._centered(xn, self.norm, norm_abs, near_zero)


def _fast_float32(
    first: np.ndarray, rest: Iterator[np.ndarray], both_views: bool, workers: int | None
) -> dict[str, DimensionMoments]:
    """The fast path. ``first`` is float32; later chunks of another dtype are cast to float32."""
    width = first.shape[1]
    main = _Float32Worker(width, _block_rows(width), both_views)
    helpers: list[_Float32Worker] = []
    n_workers = workers if workers is not None else stats_workers()
    pool: ThreadPoolExecutor | None = None
    chunk: np.ndarray | None = first
    try:
        while chunk is not None:
            if chunk.ndim != 2:
                raise ValueError("expected 2-D chunks")
            if chunk.shape[1] != width:
                raise ValueError(f"chunks differ in width ({chunk.shape[1]} after {width})")
            if chunk.dtype != np.float32:
                chunk = chunk.astype(np.float32)
            parts = max(1, min(n_workers, chunk.shape[0] // _MIN_ROWS_PER_WORKER))
            if parts == 1:
                main.run(chunk)
            else:
                # Contiguous row ranges, one per thread (numpy and BLAS release the GIL in their
                # loops). Helpers start empty and are merged in order: the result is deterministic.
                while len(helpers) < parts - 1:
                    helpers.append(_Float32Worker(width, main.rows, both_views))
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="dimscope-stats")
                bounds = np.linspace(0, chunk.shape[0], parts + 1).astype(int)
                futures = []
                for i, helper in enumerate(helpers[: parts - 1], start=1):
                    helper.reset()
                    futures.append(pool.submit(helper.run, chunk[bounds[i] : bounds[i + 1]]))
                main.run(chunk[bounds[0] : bounds[1]])
                for future in futures:
                    main.absorb(future.result())
            nxt = next(rest, None)
            chunk = None if nxt is None else np.asarray(nxt)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return {"raw": main.raw, "normalized": main.norm} if both_views else {"raw": main.raw}


# --- the straightforward float64 accumulation (reference; any dtype) ---------------------------


def _reference_moments(
    chunks: Iterable[np.ndarray], dimension: int | None, both_views: bool
) -> dict[str, DimensionMoments]:
    """Every chunk through :meth:`DimensionMoments.update` in float64 (the reference for any dtype)."""
    raw: DimensionMoments | None = DimensionMoments.empty(dimension) if dimension is not None else None
    norm: DimensionMoments | None = DimensionMoments.empty(dimension) if dimension is not None else None
    for chunk in chunks:
        chunk = np.asarray(chunk)
        if chunk.ndim != 2:
            raise ValueError("expected 2-D chunks")
        if raw is None or norm is None or raw.count == 0 and raw.dimension != chunk.shape[1]:
            raw, norm = DimensionMoments.empty(chunk.shape[1]), DimensionMoments.empty(chunk.shape[1])
        if chunk.shape[1] != raw.dimension:
            raise ValueError(f"chunks differ in width ({chunk.shape[1]} after {raw.dimension})")
        update_views(raw, norm if both_views else None, chunk)
    raw = raw if raw is not None else DimensionMoments.empty(0)
    norm = norm if norm is not None else DimensionMoments.empty(0)
    return {"raw": raw, "normalized": norm} if both_views else {"raw": raw}


# --- public API ---------------------------------------------------------------------------------


def iter_row_chunks(matrix: np.ndarray, rows_per_chunk: int = DEFAULT_CHUNK_ROWS) -> Iterator[np.ndarray]:
    """Row slices of an in-memory matrix (views, no copies)."""
    for start in range(0, matrix.shape[0], rows_per_chunk):
        yield matrix[start : start + rows_per_chunk]


def stats_moments(
    chunks: Iterable[np.ndarray],
    dimension: int | None = None,
    *,
    both_views: bool = True,
    method: str = "auto",
    workers: int | None = None,
) -> dict[str, DimensionMoments]:
    """Mergeable statistics of the raw rows and (``both_views``) of their L2-normalized versions.

    ``{"raw": DimensionMoments, "normalized": DimensionMoments}``; merge several with
    :meth:`DimensionMoments.merge` (a distributed run does exactly that).
    ``method``: ``"auto"`` (fast path for float32 chunks), ``"fast"`` (cast to float32) or
    ``"reference"`` (every chunk through :meth:`DimensionMoments.update` in float64).
    """
    if method not in ("auto", "fast", "reference"):
        raise ValueError(f"unknown method {method!r}")
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        return _reference_moments([], dimension, both_views)
    first = np.asarray(first)
    if first.ndim != 2:
        raise ValueError("expected 2-D chunks")
    if method == "fast" or (method == "auto" and first.dtype == np.float32):
        return _fast_float32(first, iterator, both_views, workers)
    return _reference_moments(_chain(first, iterator), dimension, both_views)


def stats_columns(
    chunks: Iterable[np.ndarray],
    dimension: int | None = None,
    *,
    both_views: bool = True,
    method: str = "auto",
    workers: int | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Like :func:`dimension_stats_both_views` but returns plain numpy columns (no pandas import).

    ``{"raw": {column: array}, "normalized": {...}}`` with the keys of ``STAT_COLUMNS``.
    ``method`` as in :func:`stats_moments`.
    """
    moments = stats_moments(chunks, dimension, both_views=both_views, method=method, workers=workers)
    return {view: m.columns() for view, m in moments.items()}


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def frame_from_columns(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A ``STAT_COLUMNS`` DataFrame from :func:`stats_columns` output (imports pandas here)."""
    import pandas as pd

    return pd.DataFrame({c: columns[c] for c in STAT_COLUMNS}, columns=STAT_COLUMNS)


def dimension_stats_both_views(chunks: Iterable[np.ndarray], dimension: int | None = None) -> dict[str, pd.DataFrame]:
    """Per-dimension statistics of the raw rows and of their L2-normalized versions, in one pass.

    Population statistics (ddof=0). ``chunks`` yields 2-D float arrays of raw embeddings.
    Returns ``{"raw": DataFrame, "normalized": DataFrame}`` with columns ``STAT_COLUMNS``.
    """
    columns = stats_columns(chunks, dimension)
    return {view: frame_from_columns(cols) for view, cols in columns.items()}


def dimension_stats(matrix: np.ndarray, rows_per_chunk: int = DEFAULT_CHUNK_ROWS) -> pd.DataFrame:
    """Per-dimension statistics of one matrix as it is (no normalization)."""
    matrix = np.asarray(matrix)
    columns = stats_columns(iter_row_chunks(matrix, rows_per_chunk), matrix.shape[1], both_views=False)
    return frame_from_columns(columns["raw"])


def stats_records(columns: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """One view's statistics as JSON-ready rows in ``STAT_COLUMNS`` order (NaN becomes None).

    >>> stats_records({"dim": np.array([0]), **{c: np.array([np.nan]) for c in STAT_COLUMNS[1:]}})[0]["std"] is None
    True
    """
    lists = {name: np.asarray(columns[name]).tolist() for name in STAT_COLUMNS}
    return [
        {
            name: int(lists[name][i])
            if name == "dim"
            else (None if lists[name][i] != lists[name][i] else float(lists[name][i]))
            for name in STAT_COLUMNS
        }
        for i in range(len(lists["dim"]))
    ]


def dead_dimensions(std: np.ndarray | pd.Series, relative_threshold: float = DEAD_RELATIVE_THRESHOLD) -> list[int]:
    """Indices (sorted, 0-based) whose std is below ``relative_threshold`` x the median std."""
    std = np.asarray(std, dtype=np.float64)
    finite = std[np.isfinite(std)]
    if finite.size == 0:
        return []
    median = float(np.median(finite))
    if median <= 0:
        return []
    return [int(i) for i in np.flatnonzero(np.isfinite(std) & (std < relative_threshold * median))]


def std_ratio(std: np.ndarray | pd.Series) -> np.ndarray:
    """Each dimension's std divided by the median std (the quantity the dead rule thresholds)."""
    std = np.asarray(std, dtype=np.float64)
    median = float(np.nanmedian(std)) if std.size else 0.0
    return std / median if median > 0 else np.full_like(std, np.nan)


def std_rank(std: np.ndarray | pd.Series) -> np.ndarray:
    """Each dimension's rank by std: 1 for the largest; equal stds share the best rank
    (one plus how many dimensions have a strictly larger std; a NaN std ranks 1).

    >>> std_rank([0.2, 0.5, 0.2, 0.1]).tolist()
    [2, 1, 2, 4]
    """
    std = np.asarray(std, dtype=np.float64)
    known = np.sort(std[~np.isnan(std)])
    return (known.size - np.searchsorted(known, std, side="right") + 1).astype(np.int64)


def headline(stats: pd.DataFrame | Mapping[str, np.ndarray], dead: list[int]) -> dict[str, float | int]:
    """The few numbers a page shows at the top: dimension, dead count, median/mean/min std.

    ``stats``: a ``STAT_COLUMNS`` DataFrame or the same columns as numpy arrays.
    """
    std = np.asarray(stats["std"], dtype=np.float64)
    return {
        "dimension": int(len(std)),
        "dead_count": len(dead),
        "median_std": float(np.median(std)) if len(std) else float("nan"),
        "mean_std": float(np.mean(std)) if len(std) else float("nan"),
        "min_std": float(np.min(std)) if len(std) else float("nan"),
        "max_std": float(np.max(std)) if len(std) else float("nan"),
    }
