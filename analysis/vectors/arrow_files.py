"""Arrow-based files: Parquet (a file, its bytes, or a folder of shards) and Arrow IPC (.arrow, .feather v2).

Parquet is read a record batch at a time from each row group (buffered, not pre-buffered), and
an Arrow IPC file is memory-mapped and read a record batch at a time. A vector column is a list,
large list or fixed-size list of floats; :class:`ColumnDecoder` turns each batch into a matrix,
checks every row has the same length, and turns a null vector into a NaN row (counted, never
dropped, by :meth:`analysis.vectors.VectorSource.chunks`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.corpora.decoding import MAX_COLUMNS, human_size, printable, shorten, shown_columns
from analysis.corpora.formats import cut_texts
from analysis.corpora.parquet_footer import column_chunks, column_totals, footer_of
from analysis.errors import CorpusError
from analysis.vectors.layout import (
    BATCH_BYTES,
    DECODED,
    DEFAULT_CHUNK_ROWS,
    EXPANSION,
    MAX_SHARDS,
    Layout,
    VectorReader,
    arrow_float_name,
    check_dimension,
    column_label,
    pick_vector_column,
    reading,
)

if TYPE_CHECKING:  # pyarrow is imported by the readers' methods only
    import pyarrow as pa


# --- Arrow columns (Parquet and IPC) -------------------------------------------------------------------


def _is_vector_type(arrow_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return pa.types.is_floating(arrow_type.value_type)
    return False


def arrow_layout(name: str, fmt: str, schema: pa.Schema, n_rows: int, vector_column: str | None) -> Layout:
    import pyarrow as pa

    columns = [str(f.name) for f in schema]
    if len(columns) > MAX_COLUMNS:
        raise CorpusError(f"{name} has {len(columns):,} columns; DimScope reads at most {MAX_COLUMNS:,}.")
    candidates = [str(f.name) for f in schema if _is_vector_type(f.type)]
    column = pick_vector_column(name, vector_column, columns, candidates, "column")
    field = schema.field(column)
    if not _is_vector_type(field.type):
        raise CorpusError(
            f"{name}: the column {column_label(column)} holds {printable(str(field.type))[:80]}, not vectors; "
            "a vector column holds a list or fixed-size list of floats on every row."
        )
    kind = arrow_float_name(field.type.value_type)
    dimension = check_dimension(name, field.type.list_size) if pa.types.is_fixed_size_list(field.type) else None
    if n_rows < 1:
        raise CorpusError(f"{name} has no rows.")
    scalars = tuple(str(f.name) for f in schema if not pa.types.is_nested(f.type))
    return Layout(fmt, n_rows, dimension, kind, column, tuple(columns), scalars, tuple(candidates))


class ColumnDecoder:
    """Arrow vector-column pieces -> float matrices with one dimension for every row.

    Null vectors become NaN rows (counted by the caller like any non-finite row); a row whose
    length differs from the first row's is a CorpusError naming the row.
    """

    def __init__(self, name: str, column: str, dimension: int | None) -> None:
        self.name, self.column, self.dimension = name, column, dimension
        self.rows_seen = 0

    def decode(self, array: Any) -> np.ndarray:
        import pyarrow as pa

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        n = len(array)
        if pa.types.is_fixed_size_list(array.type):
            d = array.type.list_size
            values = array.values.slice(array.offset * d, n * d)
            matrix = values.to_numpy(zero_copy_only=False).reshape(n, d)
        else:
            offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
            lengths = np.diff(offsets)
            valid = (
                ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool) if array.null_count else None
            )
            checked = lengths if valid is None else lengths[valid]
            if self.dimension is None and checked.size:
                self.dimension = check_dimension(self.name, int(checked[0]))
            d = self.dimension or 0
            if checked.size and (checked != d).any():
                bad = int(np.flatnonzero(lengths != d if valid is None else (lengths != d) & valid)[0])
                raise CorpusError(
                    f"{self.name}: row {self.rows_seen + bad:,} of the column {column_label(self.column)} has "
                    f"{int(lengths[bad]):,} values where the rows before have {d:,}; every row needs the same "
                    "dimension."
                )
            values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
            flat = values.to_numpy(zero_copy_only=False)
            if valid is None:
                matrix = flat.reshape(n, d)
            else:  # null rows have no values in the flat array: put NaN rows in their places
                matrix = np.full((n, d), np.nan, dtype=flat.dtype)
                starts = (offsets[:-1] - offsets[0])[valid]
                matrix[valid] = flat[(starts[:, None] + np.arange(d)[None, :])] if d else matrix[valid]
        if array.null_count and pa.types.is_fixed_size_list(array.type):
            nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            matrix = matrix.astype(matrix.dtype, copy=True)
            matrix[nulls] = np.nan
        self.rows_seen += n
        return matrix


def arrow_errors() -> tuple[type[BaseException], ...]:
    """pyarrow's exceptions (some derive from TypeError, KeyError, IndexError or MemoryError)."""
    import pyarrow as pa

    return (pa.ArrowException,)


class ArrowTableReader(VectorReader):
    """What the Parquet and Arrow IPC readers share: a column's arrays a batch at a time
    (:meth:`_arrays`, per format), decoded into vector chunks or gathered as a scalar column."""

    def _arrays(self, column: str) -> Iterator[Any]:
        raise NotImplementedError

    def _scalar_arrays(self, column: str) -> Iterator[Any]:
        return self._arrays(column)

    def pieces(self) -> Iterator[np.ndarray]:
        decoder = ColumnDecoder(self.name, self.layout.vector_column, self.layout.dimension)
        for array in self._arrays(self.layout.vector_column):
            with reading(self.name, "holds vectors that cannot be read", arrow_errors()):
                matrix = decoder.decode(array)
            yield matrix

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        if column not in self.layout.scalar_columns:
            raise CorpusError(
                f"{self.name} has no column {column_label(column)} for texts or labels; "
                f"its columns: {shown_columns(self.layout.columns)}."
            )
        out: list[Any] = []
        for array in self._scalar_arrays(column):
            with reading(self.name, f"has a column {column_label(column)} that cannot be read", arrow_errors()):
                if max_rows is not None and len(array) > max_rows - len(out):
                    array = array.slice(0, max_rows - len(out))
                out.extend((array if max_chars is None else cut_texts(array, max_chars + 1)).to_pylist())
            if max_rows is not None and len(out) >= max_rows:
                return out[:max_rows]
        return out


# --- Parquet -------------------------------------------------------------------------------------------


class ParquetReader(ArrowTableReader):
    """One Parquet file, its bytes, or a folder of Parquet shards read in name order."""

    def __init__(
        self,
        source: Path | bytes,
        name: str,
        vector_column: str | None,
        *,
        max_bytes: int | None = None,
    ) -> None:
        self.name, self._source, self._max_bytes = name, source, max_bytes
        self._batch_rows = DEFAULT_CHUNK_ROWS
        self._column_bytes: dict[str, int] = {}
        self.files: list[Path] = []
        if isinstance(source, Path) and source.is_dir():
            self.files = sorted(p for p in source.rglob("*.parquet") if p.is_file())
            if not self.files:
                raise CorpusError(f"{name} is a folder without .parquet shards; give a file or a folder of shards.")
            if len(self.files) > MAX_SHARDS:
                raise CorpusError(f"{name} holds {len(self.files):,} shards; DimScope reads at most {MAX_SHARDS:,}.")
        elif isinstance(source, Path):
            self.files = [source]
        if max_bytes is not None and self.files:
            size = sum(p.stat().st_size for p in self.files)
            if size > max_bytes:
                raise CorpusError(f"{name} is {human_size(size)}, over the {human_size(max_bytes)} limit.")
        with reading(name, "is not a readable Parquet file", arrow_errors()):
            self.layout = self._layout(vector_column, max_bytes)

    def _layout(self, vector_column: str | None, max_bytes: int | None) -> Layout:
        name = self.name
        metas = [self._open(i).metadata for i in range(self._n_sources)]
        first = self._open(0).schema_arrow
        layout = arrow_layout(name, "parquet", first, sum(m.num_rows for m in metas), vector_column)
        column = layout.vector_column
        for index in range(1, self._n_sources):
            other = self._open(index).schema_arrow
            if column not in other.names or other.field(column).type != first.field(column).type:
                raise CorpusError(
                    f"{name}: the shard {self._shard_name(index)} has no column {column_label(column)} of the "
                    f"same type as the first shard ({printable(str(first.field(column).type))[:60]})."
                )
        if max_bytes is not None:
            self._bound_upload(layout, max_bytes)
        return layout

    def _bound_upload(self, layout: Layout, max_bytes: int) -> None:
        """Refuse an upload whose footer declares more than its bounds, before any page is read.

        The sizes come from the footer's own Thrift (:mod:`analysis.corpora.parquet_footer`), not
        pyarrow's column-chunk metadata objects: on a damaged footer those abort the whole process
        (a C++ exception nothing catches, in pyarrow 26).
        """
        name, column = self.name, layout.vector_column
        chunks = []
        for index in range(self._n_sources):
            with reading(self._shard_name(index), "has a damaged Parquet footer"):
                chunks += column_chunks(footer_of(self.files[index] if self.files else self._source))
        itemsize = {"float16": 2, "float32": 4, "float64": 8}[layout.dtype]
        dimension = layout.dimension or self._first_length(column)
        values, _ = column_totals(chunks, column)
        # A null or empty row is one value in the count, so every row of the first row's length
        # (or null) gives at most n_rows x dimension values: more means a longer row somewhere.
        # A null first row says nothing: then only the limit below bounds the rows.
        if dimension and values > layout.n_rows * dimension:
            raise CorpusError(
                f"{name}: the column {column_label(column)} holds {values:,} values for {layout.n_rows:,} rows, "
                f"more than the first row's {dimension:,} values on every row; every row needs the same dimension."
            )
        limit = DECODED * max_bytes
        if values * 4 > limit or values * itemsize > EXPANSION * max_bytes:
            raise CorpusError(
                f"{name}: the vectors expand to {human_size(values * max(itemsize, 4))}, more than {DECODED}x the "
                f"{human_size(max_bytes)} limit; upload fewer or shorter vectors."
            )
        row_bytes = max(dimension, -(-values // max(layout.n_rows, 1))) * itemsize
        self._batch_rows = max(1, min(DEFAULT_CHUNK_ROWS, BATCH_BYTES // max(row_bytes, 1)))
        for scalar in layout.scalar_columns:
            self._column_bytes[scalar] = column_totals(chunks, scalar)[1]

    def _first_length(self, column: str) -> int:
        """The length of the first row's vector (a list column's dimension), reading one row."""
        handle = self._open(0)
        try:
            first = next(handle.iter_batches(batch_size=1, columns=[column]), None)
        finally:
            handle.close()
        if first is None or first.num_rows == 0 or not first.column(0).is_valid()[0].as_py():
            return 0
        return len(first.column(0)[0].values)

    @property
    def _n_sources(self) -> int:
        return len(self.files) if self.files else 1

    def _shard_name(self, index: int) -> str:
        if not self.files or not isinstance(self._source, Path):
            return self.name
        return shorten(
            printable(
                str(self.files[index].relative_to(self._source) if self._source.is_dir() else self.files[index].name)
            ),
            80,
        )

    def _open(self, index: int, dictionaries: tuple[str, ...] = ()) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        target: Any = str(self.files[index]) if self.files else pa.BufferReader(self._source)
        with reading(self._shard_name(index), "is not a readable Parquet file", arrow_errors()):
            # Buffered reads, no pre-buffering: a row group's column chunk is read as the batches
            # need it, not all at once.
            return pq.ParquetFile(target, buffer_size=1 << 20, pre_buffer=False, read_dictionary=dictionaries or None)

    def _batches(self, columns: list[str], rows: int, dictionaries: tuple[str, ...] = ()) -> Iterator[Any]:
        for index in range(self._n_sources):
            handle = self._open(index, dictionaries)
            try:
                with reading(self._shard_name(index), "could not be read to the end", arrow_errors()):
                    for batch in handle.iter_batches(batch_size=rows, columns=columns):
                        batch.validate(full=True)  # cheap next to decoding, and never trust a file
                        yield batch.column(0)
            finally:
                handle.close()

    def _arrays(self, column: str) -> Iterator[Any]:
        return self._batches([column], self._batch_rows)

    def _scalar_arrays(self, column: str) -> Iterator[Any]:
        if self._max_bytes is None:
            return self._batches([column], DEFAULT_CHUNK_ROWS)
        decoded = self._column_bytes.get(column, 0)
        if decoded > DECODED * self._max_bytes:
            raise CorpusError(
                f"{self.name}: the column {column_label(column)} decompresses to {human_size(decoded)}, more than "
                f"{DECODED}x the {human_size(self._max_bytes)} limit; upload fewer or shorter texts."
            )
        # Strings stay dictionary-encoded (a repeated text is held once, and cut once), in batches
        # of about BATCH_BYTES by the column's mean row size.
        rows = max(1, min(DEFAULT_CHUNK_ROWS, BATCH_BYTES * max(self.layout.n_rows, 1) // max(decoded, 1)))
        return self._batches([column], rows, dictionaries=(column,))


# --- Arrow IPC -----------------------------------------------------------------------------------------


class ArrowReader(ArrowTableReader):
    """An Arrow IPC file (.arrow, .feather v2; memory-mapped) or stream, read a record batch at a time."""

    def __init__(
        self, source: Path | bytes, name: str, vector_column: str | None, *, max_bytes: int | None = None
    ) -> None:
        self.name, self._source = name, source
        if max_bytes is not None:
            self._bound_upload(max_bytes)
        schema, n_rows = None, 0
        expanded = 0
        for batch in self._record_batches():
            schema = batch.schema if schema is None else schema
            n_rows += batch.num_rows
            expanded += batch.nbytes
            if max_bytes is not None and expanded > EXPANSION * max_bytes:
                raise CorpusError(
                    f"{name} expands to more than {EXPANSION}x the {human_size(max_bytes)} limit; "
                    "upload a smaller file."
                )
        with reading(name, "is not a readable Arrow file", arrow_errors()):
            schema = schema if schema is not None else self._schema()
            self.layout = arrow_layout(name, "arrow", schema, n_rows, vector_column)

    def _bound_upload(self, max_bytes: int) -> None:
        """Refuse an upload whose batches declare more than their bounds, before one is decompressed:
        each batch at most ``DECODED`` times the limit (one is decoded at a time), all of them at
        most ``EXPANSION`` times."""
        total = 0
        with reading(self.name, "is not a readable Arrow file", (*arrow_errors(), struct.error)):
            for size in _ipc_body_sizes(self._source):
                total += size
                if size > DECODED * max_bytes:
                    raise CorpusError(
                        f"{self.name}: a record batch expands to {human_size(size)}, more than {DECODED}x the "
                        f"{human_size(max_bytes)} limit; upload a smaller file or write it in smaller batches."
                    )
                if total > EXPANSION * max_bytes:
                    raise CorpusError(
                        f"{self.name} expands to more than {human_size(total)}, over {EXPANSION}x the "
                        f"{human_size(max_bytes)} limit; upload a smaller file."
                    )

    def _reader(self) -> Any:
        import pyarrow as pa

        def source() -> Any:
            if isinstance(self._source, Path):
                return pa.memory_map(str(self._source), "r")
            return pa.BufferReader(self._source)

        with reading(self.name, "is not a readable Arrow file", arrow_errors()):
            try:
                return pa.ipc.open_file(source())
            except pa.ArrowInvalid:
                return pa.ipc.open_stream(source())

    def _schema(self) -> Any:
        return self._reader().schema

    def _record_batches(self) -> Iterator[Any]:
        reader = self._reader()
        with reading(self.name, "could not be read to the end", arrow_errors()):
            batches = (
                (reader.get_batch(i) for i in range(reader.num_record_batches))
                if hasattr(reader, "num_record_batches")
                else iter(reader)
            )
            for batch in batches:
                # IPC buffers are used as they are: a damaged offset would crash the process later.
                batch.validate(full=True)
                yield batch

    def _arrays(self, column: str) -> Iterator[Any]:
        return (batch.column(column) for batch in self._record_batches())


def _ipc_body_sizes(source: Path | bytes) -> Iterator[int]:
    """The bytes each record or dictionary batch of an Arrow IPC file or stream takes once
    decompressed, from the messages' metadata alone (nothing is decompressed).

    A message's metadata is a flatbuffer (Arrow's Message.fbs): its header is a RecordBatch (or a
    DictionaryBatch holding one) listing the body's buffers as (offset, length). With body
    compression each buffer starts with its decompressed length as an int64 (-1: stored as is).
    """
    import pyarrow as pa

    raw = pa.memory_map(str(source), "r") if isinstance(source, Path) else pa.BufferReader(source)
    if raw.read(6) != b"ARROW1":
        raw.seek(0)
    else:
        raw.seek(8)  # the file format: magic and padding, then the stream
    for message in pa.ipc.MessageReader.open_stream(raw):
        meta = bytes(message.metadata)
        header = _fb_table(meta, _fb_uoffset(meta, 0))
        kind = _fb_scalar(meta, header, 1, "B", 0)
        if kind not in (2, 3):  # a schema, or a tensor (refused later): no body to bound
            continue
        batch = _fb_field_table(meta, header, 2)
        if batch is None:
            continue
        if kind == 2:  # DictionaryBatch: id, data (a RecordBatch), isDelta
            batch = _fb_field_table(meta, batch, 1)
            if batch is None:
                continue
        body = message.body
        compressed = _fb_field_table(meta, batch, 3) is not None
        size = 0
        for offset, length in _fb_structs(meta, batch, 2):
            if offset < 0 or length < 0 or offset + length > body.size:
                raise ValueError("a buffer lies outside its message")
            if compressed and length >= 8:
                (plain,) = struct.unpack("<q", body.slice(offset, 8).to_pybytes())
                size += length - 8 if plain < 0 else plain
            else:
                size += length
        yield size


# --- a minimal flatbuffer reader: just what the size bound needs --------------------------------------


def _fb_uoffset(buf: bytes, pos: int) -> int:
    (value,) = struct.unpack_from("<I", buf, pos)
    return pos + value


def _fb_table(buf: bytes, pos: int) -> tuple[int, int]:
    """(table position, vtable position) of the table at ``pos``."""
    (back,) = struct.unpack_from("<i", buf, pos)
    vtable = pos - back
    if not 0 <= vtable < len(buf) or not 0 <= pos < len(buf):
        raise ValueError("a flatbuffer table lies outside its buffer")
    return pos, vtable


def _fb_field(buf: bytes, table: tuple[int, int], index: int) -> int:
    """The position of field ``index`` of a table, or 0 when absent."""
    pos, vtable = table
    (vsize,) = struct.unpack_from("<H", buf, vtable)
    entry = 4 + 2 * index
    if entry + 2 > vsize:
        return 0
    (offset,) = struct.unpack_from("<H", buf, vtable + entry)
    return pos + offset if offset else 0


def _fb_scalar(buf: bytes, table: tuple[int, int], index: int, fmt: str, default: int) -> int:
    at = _fb_field(buf, table, index)
    return struct.unpack_from("<" + fmt, buf, at)[0] if at else default


def _fb_field_table(buf: bytes, table: tuple[int, int], index: int) -> tuple[int, int] | None:
    at = _fb_field(buf, table, index)
    return _fb_table(buf, _fb_uoffset(buf, at)) if at else None


def _fb_structs(buf: bytes, table: tuple[int, int], index: int) -> Iterator[tuple[int, int]]:
    """A vector of two-int64 structs (Arrow's Buffer: offset, length)."""
    at = _fb_field(buf, table, index)
    if not at:
        return
    start = _fb_uoffset(buf, at)
    (count,) = struct.unpack_from("<I", buf, start)
    if start + 4 + 16 * count > len(buf):
        raise ValueError("a flatbuffer vector lies outside its buffer")
    for i in range(count):
        yield struct.unpack_from("<qq", buf, start + 4 + 16 * i)
