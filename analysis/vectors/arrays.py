"""NumPy files: .npy (memory-mapped, pages released chunk by chunk) and .npz (members decompressed as a stream).

A 1-D member of an .npz archive can hold texts or labels (one per row); pickled object arrays are refused.
"""

from __future__ import annotations

import io
import mmap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from analysis.corpora.decoding import MAX_COLUMNS, human_size, shown_columns
from analysis.errors import CorpusError
from analysis.vectors.layout import (
    BATCH_BYTES,
    DECODED,
    DEFAULT_CHUNK_ROWS,
    EXPANSION,
    Layout,
    VectorReader,
    check_dimension,
    check_float,
    column_label,
    pick_vector_column,
    reading,
)

# --- .npy ------------------------------------------------------------------------------------------


def _npy_header(handle: Any, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) of an .npy stream positioned at its start."""
    with reading(name, "is not a readable .npy array"):
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"format version {version}")
        return tuple(int(n) for n in shape), bool(fortran), np.dtype(dtype)


def _check_matrix_header(name: str, shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, int, str]:
    if dtype.hasobject or dtype.names is not None:
        raise CorpusError(f"{name} holds Python objects or records, not a float matrix; save a float array.")
    kind = check_float(name, dtype, "the array")
    if len(shape) != 2:
        raise CorpusError(
            f"{name} holds an array of shape {shape}; expected a 2-D array of rows x dimensions "
            "(np.save(path, embeddings) with one row per text)."
        )
    if shape[0] < 1:
        raise CorpusError(f"{name} has no rows.")
    return shape[0], check_dimension(name, shape[1]), kind


class NpyReader(VectorReader):
    """A 2-D float .npy file (memory-mapped) or its bytes."""

    def __init__(self, source: Path | bytes, name: str, *, max_bytes: int | None = None) -> None:
        self.name, self._source = name, source
        handle = open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)
        with handle:
            shape, self._fortran, self._dtype = _npy_header(handle, name)
            self._offset = handle.tell()
        n, d, kind = _check_matrix_header(name, shape, self._dtype)
        size = source.stat().st_size if isinstance(source, Path) else len(source)
        needed = self._offset + n * d * self._dtype.itemsize
        if size < needed:
            raise CorpusError(
                f"{name} is truncated: its header promises {n:,} x {d:,} values ({human_size(needed)}) "
                f"but the file has {human_size(size)}."
            )
        self.layout = Layout("npy", n, d, kind, "", (), ())

    def pieces(self) -> Iterator[np.ndarray]:
        yield from self.chunks_exact(DEFAULT_CHUNK_ROWS)

    def chunks(self, rows_per_chunk: int = DEFAULT_CHUNK_ROWS, max_rows: int | None = None) -> Iterator[np.ndarray]:
        n = self.layout.n_rows if max_rows is None else min(max_rows, self.layout.n_rows)
        yield from self.chunks_exact(rows_per_chunk, n)

    def chunks_exact(self, rows_per_chunk: int, n_rows: int | None = None) -> Iterator[np.ndarray]:
        """Views of the mapped file, ``rows_per_chunk`` rows each; finished pages are released."""
        n, d = self.layout.n_rows if n_rows is None else n_rows, int(self.layout.dimension or 0)
        order: Literal["C", "F"] = "F" if self._fortran else "C"
        shape = (self.layout.n_rows, d)
        if isinstance(self._source, bytes):
            matrix = np.ndarray(shape, self._dtype, buffer=self._source, offset=self._offset, order=order)
            for start in range(0, n, rows_per_chunk):
                yield np.ascontiguousarray(matrix[start : start + rows_per_chunk])
            return
        with open(self._source, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            matrix = np.ndarray(shape, self._dtype, buffer=mapped, offset=self._offset, order=order)
            row_bytes = d * self._dtype.itemsize
            released = 0
            for start in range(0, n, rows_per_chunk):
                chunk = matrix[start : start + rows_per_chunk]
                # Fortran order: copy to rows, so the statistics match a C-order file bit for bit.
                yield np.ascontiguousarray(chunk) if self._fortran else chunk
                del chunk
                # The consumer is done with this chunk: drop its pages from our resident set (the
                # kernel keeps them in its page cache), so RSS stays at about one chunk.
                end = (self._offset + min(n, start + rows_per_chunk) * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
                if not self._fortran and end > released and hasattr(mmap, "MADV_DONTNEED"):
                    mapped.madvise(mmap.MADV_DONTNEED, released, end - released)
                    released = end
            del matrix
        finally:
            try:
                mapped.close()
            except BufferError:  # a caller still holds a view of a chunk: the mapping goes with it
                pass

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        raise CorpusError(
            f"{self.name} is a bare .npy array: it has no column {column_label(column)} (no texts or labels)."
        )


# --- .npz ------------------------------------------------------------------------------------------


class NpzReader(VectorReader):
    """An .npz archive: one 2-D float member holds the vectors, 1-D members may hold texts and labels."""

    def __init__(
        self, source: Path | bytes, name: str, vector_column: str | None, *, max_bytes: int | None = None
    ) -> None:
        self.name, self._source = name, source
        with reading(name, "is not a readable .npz archive"), self._zip() as archive:
            infos = [i for i in archive.infolist() if i.filename.endswith(".npy")]
            if len(infos) > MAX_COLUMNS:
                raise CorpusError(f"{name} holds {len(infos):,} arrays; DimScope reads at most {MAX_COLUMNS:,}.")
            total = sum(i.file_size for i in infos)
            if max_bytes is not None and total > EXPANSION * max_bytes:
                raise CorpusError(
                    f"{name} expands to {human_size(total)}, more than {EXPANSION}x the "
                    f"{human_size(max_bytes)} limit; upload a smaller archive."
                )
            headers = {}
            for info in infos:
                with archive.open(info) as member:
                    shape, fortran, dtype = _npy_header(member, f"{name}:{info.filename}")
                    declared = member.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
                # What a header declares is what the member must hold: a header promising more
                # (a dtype of <U100000000, say) is refused before anything is allocated for it.
                if declared != info.file_size and not dtype.hasobject:  # pickles are never read
                    raise CorpusError(
                        f"{name}: the array {column_label(info.filename[: -len('.npy')])} declares "
                        f"{declared:,} bytes but holds {info.file_size:,}; the archive is truncated or damaged."
                    )
                headers[info.filename[: -len(".npy")]] = (shape, fortran, dtype, info)
        matrices = [k for k, (shape, _f, dtype, _i) in headers.items() if len(shape) == 2 and dtype.kind == "f"]
        scalars = tuple(k for k, (shape, _f, dtype, _i) in headers.items() if len(shape) == 1 and not dtype.hasobject)
        column = pick_vector_column(name, vector_column, list(headers), matrices, "array")
        shape, fortran, dtype, info = headers[column]
        n, d, kind = _check_matrix_header(f"{name}:{column}", shape, dtype)
        if max_bytes is not None and n * d * 4 > DECODED * max_bytes:
            raise CorpusError(
                f"{name}: the vectors expand to {human_size(n * d * 4)} as float32, more than {DECODED}x the "
                f"{human_size(max_bytes)} limit; upload fewer or shorter vectors."
            )
        if fortran:
            raise CorpusError(
                f"{name}: the array {column_label(column)} is stored in Fortran order and cannot be streamed; "
                "save np.ascontiguousarray(embeddings) instead."
            )
        self._member, self._dtype = info, dtype
        self._scalars = {k: headers[k] for k in scalars}
        self.layout = Layout("npz", n, d, kind, column, tuple(headers), scalars, tuple(matrices))

    def _zip(self) -> zipfile.ZipFile:
        return zipfile.ZipFile(self._source if isinstance(self._source, Path) else io.BytesIO(self._source))

    def pieces(self) -> Iterator[np.ndarray]:
        n, d = self.layout.n_rows, int(self.layout.dimension or 0)
        row_bytes = d * self._dtype.itemsize
        rows = max(1, (4 << 20) // max(row_bytes, 1))
        with reading(self.name, "could not be read to the end"), self._zip() as archive:
            with archive.open(self._member) as member:
                _npy_header(member, self.name)
                for start in range(0, n, rows):
                    count = min(rows, n - start)
                    data = member.read(count * row_bytes)
                    if len(data) != count * row_bytes:
                        raise CorpusError(
                            f"{self.name}: the array {column_label(self.layout.vector_column)} is truncated."
                        )
                    yield np.frombuffer(data, dtype=self._dtype).reshape(count, d)

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        if column not in self._scalars:
            raise CorpusError(
                f"{self.name} has no 1-D array {column_label(column)} for texts or labels; "
                f"its arrays: {shown_columns(self.layout.columns)}."
            )
        shape, _fortran, dtype, info = self._scalars[column]
        if shape[0] != self.layout.n_rows:
            raise CorpusError(
                f"{self.name}: the array {column_label(column)} has {shape[0]:,} entries for "
                f"{self.layout.n_rows:,} vectors."
            )
        n = shape[0] if max_rows is None else min(max_rows, shape[0])
        with reading(self.name, f"has an array {column_label(column)} that cannot be read"), self._zip() as archive:
            with archive.open(info) as member:
                _npy_header(member, self.name)
                return _read_rows(member, n, dtype, max_chars)


def _read_rows(member: Any, n: int, dtype: np.dtype, max_chars: int | None) -> list[Any]:
    """The first ``n`` values of a 1-D array member positioned at its data, read a batch of rows at a
    time; texts (``U`` and ``S`` dtypes) longer than ``max_chars`` are cut as they are read, so a
    wide dtype never makes a wide array."""
    keep = dtype
    if max_chars is not None and dtype.kind in "US":
        # One character more than kept says a text was cut; bytes keep 4 per character (UTF-8's most).
        limit = (max_chars + 1) * (1 if dtype.kind == "U" else 4)
        per_item = 4 if dtype.kind == "U" else 1
        order = dtype.byteorder if dtype.byteorder in "<>" else ""
        keep = np.dtype(f"{order}{dtype.kind}{max(1, min(dtype.itemsize // per_item, limit))}")
    width = dtype.itemsize
    rows_per_read = max(1, BATCH_BYTES // max(width, 1))
    out: list[Any] = []
    for start in range(0, n, rows_per_read):
        count = min(rows_per_read, n - start)
        if keep.itemsize == width:
            data = member.read(count * width)
        else:  # each row's start only; the rest of the row is read in pieces and dropped
            parts = []
            for _ in range(count):
                parts.append(member.read(keep.itemsize))
                left = width - keep.itemsize
                while left > 0:
                    left -= len(member.read(min(left, 1 << 20))) or left
            data = b"".join(parts)
        if len(data) != count * keep.itemsize:
            raise EOFError("the array is truncated")
        out.extend(np.frombuffer(data, dtype=keep).tolist())
    return out
