"""What every embeddings reader shares: the :class:`Layout`, the reader interface, limits and checks.

Every reader yields float chunks of exactly ``rows_per_chunk`` rows (the last may be shorter)
whatever the file's own layout (row groups, record batches): :func:`rechunk`. So the statistics of
the same vectors are bit-for-bit the same from any format.

Hostile input is bounded before anything is expanded: the number of columns and shards, the
dimension, the rows, and (for uploads, where ``max_bytes`` is set) how much a compressed file may
expand (:data:`EXPANSION`). A vector column holds floats (float16, float32 or float64) with the
same length on every row.
"""

from __future__ import annotations

import contextlib
import tokenize
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.corpora.decoding import printable, shorten, shown_columns
from analysis.errors import CorpusError

MAX_DIMENSION = 65_536
MAX_SHARDS = 10_000
DEFAULT_CHUNK_ROWS = 8192
# A compressed upload (npz, Parquet, Arrow) may expand to this many times its size, no more.
EXPANSION = 8
# An upload's vectors (as float32) and each column of its texts or labels may take at most this many
# times the upload limit once decoded: the public demo's 32 MB cap gives 64 MB, so that with the
# statistics' float64 work on top an upload costs the server well under 300 MB. A file stored
# without compression is always within it (float16 doubles to float32).
DECODED = 2
# Upload readers decode at most about this many bytes of vectors at once.
BATCH_BYTES = 16 << 20
# Conventional names of a vector column, tried in this order when several columns hold vectors.
VECTOR_COLUMN_NAMES = ("embedding", "embeddings", "vector", "vectors", "emb")
FLOAT_KINDS = {"float16", "float32", "float64"}
# Values beyond this are refused like NaN: no embedding holds them, and float32 squares of them
# (the fast statistics path) overflow.
MAX_MAGNITUDE = 1e15
# What a damaged file makes the readers raise (numpy's header parser, zipfile, pyarrow's Python side).
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,  # includes UnicodeDecodeError and pyarrow's ArrowInvalid
    SyntaxError,
    TypeError,  # numpy's header parser on a header that is valid Python but not a header
    KeyError,
    IndexError,
    OverflowError,
    tokenize.TokenError,
    NotImplementedError,  # zipfile: an unknown compression method
    RuntimeError,  # zipfile: an encrypted member
    SystemError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
)


@contextlib.contextmanager
def reading(
    name: str, what: str = "is not a readable file", also: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Turn a damaged file's low-level error (``READ_ERRORS`` and ``also``) into one CorpusError naming the file."""
    try:
        yield
    except CorpusError:
        raise
    except (*READ_ERRORS, *also) as exc:
        detail = printable(str(exc))[:120] or type(exc).__name__
        raise CorpusError(f"{name} {what} ({detail}).") from None


def usable_rows(chunk: np.ndarray) -> np.ndarray:
    """One bool per row: True unless it holds NaN, inf or a value beyond ``MAX_MAGNITUDE``."""
    if float(np.finfo(chunk.dtype).max) <= MAX_MAGNITUDE:  # float16: every finite value is in range
        return np.isfinite(chunk).all(axis=1)
    with np.errstate(invalid="ignore"):
        return (np.abs(chunk) <= MAX_MAGNITUDE).all(axis=1)


@dataclass(frozen=True)
class Layout:
    """What a reader learned from a file's header or metadata, before reading any vector."""

    format: str  # npy, npz, parquet, arrow
    n_rows: int
    dimension: int | None  # None until read for a list column (the length is per row)
    dtype: str  # float16, float32 or float64
    vector_column: str  # "" for .npy
    columns: tuple[str, ...]  # every column (npz: every member)
    scalar_columns: tuple[str, ...]  # columns that can hold texts or labels
    vector_columns: tuple[str, ...] = ()  # every column that could hold the vectors


def column_label(column: str) -> str:
    return repr(shorten(printable(str(column)), 60))


def check_dimension(name: str, dimension: int) -> int:
    if not 1 <= dimension <= MAX_DIMENSION:
        raise CorpusError(
            f"{name}: vectors of {dimension:,} values; DimScope reads vectors of 1 to {MAX_DIMENSION:,} dimensions."
        )
    return dimension


def check_float(name: str, dtype: np.dtype, what: str) -> str:
    text = str(dtype.newbyteorder("=")) if dtype.byteorder not in "=|" else str(dtype)
    if text not in FLOAT_KINDS:
        raise CorpusError(f"{name}: {what} holds {printable(text)}, not floats; vectors must be float16, 32 or 64.")
    return text


def arrow_float_name(arrow_type: Any) -> str:
    import pyarrow as pa

    for check, name in (
        (pa.types.is_float16, "float16"),
        (pa.types.is_float32, "float32"),
        (pa.types.is_float64, "float64"),
    ):
        if check(arrow_type):
            return name
    return str(arrow_type)


def rechunk(pieces: Iterator[np.ndarray], rows_per_chunk: int) -> Iterator[np.ndarray]:
    """Chunks of exactly ``rows_per_chunk`` rows (the last may be shorter) from pieces of any size.

    >>> [c.shape[0] for c in rechunk(iter([np.zeros((3, 2)), np.zeros((6, 2)), np.zeros((2, 2))]), 4)]
    [4, 4, 3]
    """
    held: list[np.ndarray] = []
    n_held = 0
    for piece in pieces:
        start = 0
        while start < piece.shape[0]:
            if not held and piece.shape[0] - start >= rows_per_chunk:
                yield piece[start : start + rows_per_chunk]
                start += rows_per_chunk
                continue
            take = min(rows_per_chunk - n_held, piece.shape[0] - start)
            held.append(piece[start : start + take])
            n_held += take
            start += take
            if n_held == rows_per_chunk:
                yield np.concatenate(held)
                held, n_held = [], 0
    if held:
        yield np.concatenate(held) if len(held) > 1 else held[0]


class VectorReader:
    """One embedding file (or folder of shards): its layout, its vectors in chunks, its scalar columns."""

    name: str
    layout: Layout

    def pieces(self) -> Iterator[np.ndarray]:
        """The vectors as stored, in pieces of any size (nulls as NaN rows)."""
        raise NotImplementedError

    def chunks(self, rows_per_chunk: int = DEFAULT_CHUNK_ROWS, max_rows: int | None = None) -> Iterator[np.ndarray]:
        """Float chunks of exactly ``rows_per_chunk`` rows, at most ``max_rows`` rows in all."""
        left = self.layout.n_rows if max_rows is None else min(max_rows, self.layout.n_rows)
        for chunk in rechunk(self.pieces(), rows_per_chunk):
            if left <= 0:
                return
            if chunk.shape[0] > left:
                chunk = chunk[:left]
            left -= chunk.shape[0]
            yield chunk

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        """Every value of a scalar column (texts or labels), as Python objects.

        With ``max_chars``, longer texts are cut to ``max_chars + 1`` characters before they become
        Python strings (so the caller still sees that they were longer, and counts them).
        """
        raise NotImplementedError

    def head(self, n: int) -> dict[str, list[Any]]:
        """The first ``n`` values of every scalar column (to infer the text and label columns)."""
        return {c: self.column(c, max_rows=n, max_chars=2000) for c in self.layout.scalar_columns}


def pick_vector_column(
    name: str, wanted: str | None, columns: Sequence[str], candidates: Sequence[str], what: str
) -> str:
    if wanted is not None:
        if wanted in columns:
            return wanted
        folded = [c for c in columns if c.lower() == wanted.lower()]
        if len(folded) == 1:
            return folded[0]
        raise CorpusError(f"{name} has no {what} {column_label(wanted)}; it has: {shown_columns(columns)}.")
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CorpusError(
            f"{name} has no {what} of float vectors (it has: {shown_columns(columns)}); a vector "
            "column holds a list or fixed-size list of floats on every row."
        )
    for conventional in VECTOR_COLUMN_NAMES:
        named = [c for c in candidates if c.lower() == conventional]
        if len(named) == 1:
            return named[0]
    raise CorpusError(
        f"{name} has several {what}s of vectors ({shown_columns(candidates)}); choose one with --vector-column."
    )


def row_blocks(
    rows: Iterable[Any], width: int, dtype: type = np.float64, rows_per_block: int = DEFAULT_CHUNK_ROWS
) -> Iterator[np.ndarray]:
    """Rows of ``width`` numbers each (None: a missing row, read as NaN) gathered into blocks of
    ``rows_per_block``, each a fresh array: how readers that get one point at a time yield chunks."""
    block: np.ndarray = np.empty((rows_per_block, width), dtype=dtype)
    filled = 0
    for row in rows:
        block[filled] = np.nan if row is None else row
        filled += 1
        if filled == rows_per_block:
            yield block.copy()
            filled = 0
    if filled:
        yield block[:filled].copy()
