"""The sizes a Parquet file declares, read from its footer without pyarrow's metadata objects.

An upload must be measured before anything is expanded, and Parquet says in its footer how many
values each column chunk holds and how large its pages are once decompressed. pyarrow exposes
that through ``metadata.row_group(i).column(j)``, but on a damaged footer (a size-statistics
histogram of the wrong length, say) pyarrow 26 throws a C++ exception there that nothing catches:
the whole process aborts, every visitor's session with it. So the footer's Thrift (compact
protocol) is read here, in Python, for the few fields the bounds need; anything malformed is a
``ValueError`` the callers turn into a message.

>>> import io, pyarrow as pa, pyarrow.parquet as pq
>>> buffer = io.BytesIO(); pq.write_table(pa.table({"text": ["a", "bb"], "n": [1, 2]}), buffer)
>>> [(c.path, c.num_values) for c in column_chunks(footer_of(buffer.getvalue()))]
[(('text',), 2), (('n',), 2)]
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Thrift compact protocol type ids.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT, _UUID = range(1, 14)
_MAX_DEPTH = 64  # Parquet's own structs nest a handful deep; a deeper footer is hostile
_MAX_FOOTER = 64 << 20


@dataclass(frozen=True)
class ColumnChunk:
    """One column chunk of one row group, as its footer declares it."""

    row_group: int
    path: tuple[str, ...]  # the leaf's path from its top-level column, e.g. ("embedding", "list", "element")
    num_values: int  # leaf values, nulls and empty lists included
    uncompressed_bytes: int  # its pages decompressed (dictionary page included)


class _Compact:
    """A reader of Thrift's compact protocol over bytes: just what a Parquet footer uses."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("the footer ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self._byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("a number in the footer is too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def _skip_bytes(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("the footer ends early")
        self.pos += n

    def binary(self) -> bytes:
        n = self.varint()
        start = self.pos
        self._skip_bytes(n)
        return self.data[start : self.pos]

    def list_header(self) -> tuple[int, int]:
        head = self._byte()
        size = head >> 4
        if size == 15:
            size = self.varint()
        return size, head & 0x0F

    def fields(self) -> Iterator[tuple[int, int]]:
        """The next field of a struct as (field id, type); (0, 0) at its end."""
        last = 0
        while True:
            head = self._byte()
            if head == 0:
                yield 0, 0
                return
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            yield last, kind

    def skip(self, kind: int, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise ValueError("the footer is nested too deeply")
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self._skip_bytes(1)
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self._skip_bytes(8)
        elif kind == _UUID:
            self._skip_bytes(16)
        elif kind == _BINARY:
            self._skip_bytes(self.varint())
        elif kind in (_LIST, _SET):
            size, element = self.list_header()
            for _ in range(size):
                self.skip(_BYTE if element in (_TRUE, _FALSE) else element, depth + 1)
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self._byte()
                for _ in range(size):
                    self.skip(types >> 4, depth + 1)
                    self.skip(types & 0x0F, depth + 1)
        elif kind == _STRUCT:
            for field, inner in self.fields():
                if not field:
                    break
                self.skip(inner, depth + 1)
        else:
            raise ValueError(f"unknown Thrift type {kind}")


def footer_of(source: bytes | Path) -> bytes:
    """The Thrift-encoded FileMetaData at the end of a Parquet file (or its bytes); reads only the footer."""
    if isinstance(source, Path):
        with open(source, "rb") as handle:
            head = handle.read(4)
            size = handle.seek(0, 2)
            handle.seek(max(0, size - 8))
            tail = handle.read(8)
            length = _footer_length(head, tail, size)
            handle.seek(size - 8 - length)
            return handle.read(length)
    length = _footer_length(source[:4], source[-8:], len(source))
    return source[-8 - length : -8]


def _footer_length(head: bytes, tail: bytes, size: int) -> int:
    if size < 12 or head != b"PAR1":
        raise ValueError("not a Parquet file")
    if tail[-4:] != b"PAR1":
        raise ValueError("encrypted or damaged footer" if tail[-4:] == b"PARE" else "no footer")
    (length,) = struct.unpack("<I", tail[:4])
    if not 0 < length <= min(size - 12, _MAX_FOOTER):
        raise ValueError("the footer length is out of range")
    return length


def column_chunks(footer: bytes) -> list[ColumnChunk]:
    """Every column chunk a footer (:func:`footer_of`) declares, in row-group then column order.

    Reads FileMetaData.row_groups (4) -> RowGroup.columns (1) -> ColumnChunk.meta_data (3) ->
    ColumnMetaData path_in_schema (3), num_values (5), total_uncompressed_size (6).
    """
    reader = _Compact(footer)
    chunks: list[ColumnChunk] = []
    for field, kind in reader.fields():
        if not field:
            break
        if field != 4 or kind != _LIST:
            reader.skip(kind)
            continue
        n_groups, element = reader.list_header()
        if element != _STRUCT:
            raise ValueError("row groups are not structs")
        for group in range(n_groups):
            for g_field, g_kind in reader.fields():
                if not g_field:
                    break
                if g_field != 1 or g_kind != _LIST:
                    reader.skip(g_kind)
                    continue
                n_columns, c_element = reader.list_header()
                if c_element != _STRUCT:
                    raise ValueError("column chunks are not structs")
                for _ in range(n_columns):
                    chunks.append(_column_chunk(reader, group))
    return chunks


def _column_chunk(reader: _Compact, group: int) -> ColumnChunk:
    path: tuple[str, ...] = ()
    num_values = uncompressed = -1
    for field, kind in reader.fields():
        if not field:
            break
        if field != 3 or kind != _STRUCT:
            reader.skip(kind)
            continue
        for m_field, m_kind in reader.fields():
            if not m_field:
                break
            if m_field == 3 and m_kind == _LIST:
                size, element = reader.list_header()
                if element != _BINARY:
                    raise ValueError("a column path is not strings")
                path = tuple(reader.binary().decode("utf-8", "replace") for _ in range(size))
            elif m_field == 5 and m_kind == _I64:
                num_values = reader.zigzag()
            elif m_field == 6 and m_kind == _I64:
                uncompressed = reader.zigzag()
            else:
                reader.skip(m_kind)
    if num_values < 0 or uncompressed < 0:
        raise ValueError("a column chunk declares no sizes")
    return ColumnChunk(group, path, num_values, uncompressed)


def column_totals(chunks: list[ColumnChunk], column: str) -> tuple[int, int]:
    """(values, decompressed page bytes) of a top-level column over every row group and leaf."""
    mine = [c for c in chunks if c.path[:1] == (column,)]
    return sum(c.num_values for c in mine), sum(c.uncompressed_bytes for c in mine)
