"""File formats to tables: JSON, JSON lines, CSV/TSV and Parquet, each bounded against hostile input.

A small file must not become a huge table: key bombs in JSON, wide CSV headers and Parquet
dictionary or compression bombs are refused with a message before they are expanded.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analysis.corpora.corpus import to_text
from analysis.corpora.decoding import (
    BINARY_PROBE_BYTES,
    check_columns,
    checked_bytes,
    decode_text,
    display_name,
    first_line,
    format_of,
    human_size,
    split_lines,
)
from analysis.corpora.parquet_footer import column_chunks, footer_of
from analysis.errors import CorpusError, upload_memory

if TYPE_CHECKING:  # pandas costs ~0.5 s to import
    import pandas as pd

_PARQUET_EXPANSION = 8  # how much a Parquet file's table may expand over the upload limit
# How much its pages may take decompressed: pyarrow holds a column's decompressed pages about twice
# over while it reads them, whatever the batch size, so the public 10 MB cap allows 40 MB of pages.
_PARQUET_PAGES = 4


def _records_frame(items: list[Any], name: str, what: str, max_cells: int) -> pd.DataFrame:
    """JSON values -> DataFrame; strings (and other scalars) become a ``text`` column.

    The table is built column by column. Objects with many different keys would make a table
    far larger than the file (rows x distinct keys), so more than ``MAX_COLUMNS`` keys or more
    than ``max_cells`` cells is a CorpusError rather than an out-of-memory kill.
    """
    import pandas as pd

    keys: dict[str, None] = {}
    for n, item in enumerate(items, 1):
        if isinstance(item, dict):
            for k in item:
                if k not in keys:
                    keys[str(k)] = None
                    check_columns(name, len(keys), "different keys")
        elif isinstance(item, list):
            raise CorpusError(
                f"{name}: {what} {n} is a list; expected a string or an object "
                'such as {"text": "...", "label": "..."}.'
            )
    if not items:
        return pd.DataFrame({"text": []})

    def scalar_text(item: Any) -> Any:  # a bare string (or number, or null) is one text
        return item if item is None or isinstance(item, str) else str(item)

    n_dicts = sum(isinstance(item, dict) for item in items)
    if not n_dicts:  # only bare values: one text column
        return pd.DataFrame({"text": [scalar_text(item) for item in items]}, dtype=object)
    if n_dicts < len(items) or not keys:
        keys = {"text": None, **keys}
    cells = len(items) * len(keys)
    if cells > max_cells:
        raise CorpusError(
            f"{name}: {len(items):,} {what}s with {len(keys):,} different keys make a "
            f"table of {cells:,} cells, far more than the file holds; give every "
            f"{what} the same few keys (such as text and label)."
        )
    columns = {
        key: [
            item.get(key) if isinstance(item, dict) else (scalar_text(item) if key == "text" else None)
            for item in items
        ]
        for key in keys
    }
    return pd.DataFrame(columns, dtype=object)


_PREFERRED_LIST_KEYS = (
    "texts",
    "text",
    "data",
    "sentences",
    "documents",
    "items",
    "records",
    "rows",
    "examples",
    "corpus",
)


def _parse_int(digits: str) -> int | str:
    """JSON integers; one longer than Python converts (4,300 digits) stays its digits, the same
    text a shorter number would become."""
    return int(digits) if len(digits) <= 4000 else digits


_loads = json.JSONDecoder(parse_int=_parse_int).decode


_TOO_DEEP = "nested too deeply: over about 1,000 levels of [ or {"


def _json_frame(text: str, name: str) -> pd.DataFrame:
    import pandas as pd

    max_cells = max(len(text), 100_000)
    try:
        doc = _loads(text)
    except json.JSONDecodeError as exc:
        hint = "; if it holds one JSON value per line, name it .jsonl" if exc.msg == "Extra data" else ""
        raise CorpusError(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}{hint}."
        ) from None
    except RecursionError:
        raise CorpusError(f"{name} is not valid JSON ({_TOO_DEEP}).") from None
    except ValueError as exc:
        raise CorpusError(f"{name} is not valid JSON ({first_line(exc)}).") from None
    if isinstance(doc, list):
        return _records_frame(doc, name, "item", max_cells)
    if isinstance(doc, dict):
        lists = {k: v for k, v in doc.items() if isinstance(v, list)}
        scalar = (str, int, float, bool, type(None))
        if (
            lists
            and len(lists) == len(doc)
            and len({len(v) for v in lists.values()}) == 1
            and all(isinstance(x, scalar) for v in lists.values() for x in v)
        ):
            # Columns: {"text": [...], "label": [...]}
            check_columns(name, len(lists))
            return pd.DataFrame({str(k): v for k, v in lists.items()}, dtype=object)
        for key in _PREFERRED_LIST_KEYS:
            for k, v in lists.items():
                if k.lower() == key:
                    return _records_frame(v, name, "item", max_cells)
        if len(lists) == 1:
            return _records_frame(next(iter(lists.values())), name, "item", max_cells)
    raise CorpusError(
        f"{name}: expected a list of strings, a list of objects, or an object "
        'with a list under a key such as "texts" or "data".'
    )


def _jsonl_frame(text: str, name: str) -> pd.DataFrame:
    items: list[Any] = []
    for n, line in enumerate(split_lines(text), 1):
        if not line.strip():
            items.append(None)  # counted as a blank row
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as exc:
            hint = (
                "; if the file is one JSON document, name it .json"
                if n == 1 or line.lstrip()[:1] in ("}", "]", '"')
                else ""
            )
            raise CorpusError(f"{name}: line {n} is not valid JSON ({exc.msg}){hint}.") from None
        except RecursionError:
            raise CorpusError(f"{name}: line {n} is not valid JSON ({_TOO_DEEP}).") from None
        except ValueError as exc:
            raise CorpusError(f"{name}: line {n} is not valid JSON ({first_line(exc)}).") from None
        if isinstance(value, list):
            raise CorpusError(
                f'{name}: line {n} is a list; expected a string or an object such as {{"text": "...", "label": "..."}}.'
            )
        items.append(value)
    return _records_frame(items, name, "line", max(len(text), 100_000))


def _header_width(text: str, sep: str) -> int:
    """The number of fields in the header row (read from the first 1 MB only; 0 if unsure)."""
    try:
        return len(next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=sep), []))
    except csv.Error:  # a header field over the csv module's size limit: let pandas judge
        return 0


def _csv_frame(text: str, name: str, fmt: str) -> pd.DataFrame:
    import pandas as pd

    if fmt == "tsv":
        sep = "\t"
    else:
        header = text.split("\n", 1)[0]
        sep = ";" if "," not in header and ";" in header else ","
    check_columns(name, _header_width(text, sep))
    try:
        with warnings.catch_warnings():
            # A row longer than the header would otherwise be cut silently.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.StringIO(text),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                index_col=False,
                skip_blank_lines=False,
            )
    except pd.errors.EmptyDataError:
        raise CorpusError(f"{name} has no columns; the first line must be a header such as: text,label") from None
    except Exception as exc:  # noqa: BLE001 - the parser raises several types on bad input
        raise CorpusError(f"{name} is not a valid {fmt.upper()} file: {first_line(exc)}.") from None


def _parquet_frame(data: bytes, name: str, max_bytes: int, max_chars: int | None) -> pd.DataFrame:
    if not data.startswith(b"PAR1"):
        probe = data[:BINARY_PROBE_BYTES]
        textual = b"\x00" not in probe
        hint = "; is it a CSV or text file renamed?" if textual else "."
        raise CorpusError(f"{name} is not a valid Parquet file{hint}")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a requirement
        raise CorpusError("Reading Parquet needs pyarrow (pip install pyarrow).") from None
    # Compression (and dictionary encoding) can hide a huge table in a small file, so the
    # table is bounded from the metadata before reading, and text columns are read as
    # dictionaries and measured before they are expanded.
    limit = _PARQUET_EXPANSION * max_bytes
    too_big = (
        f"{name} unpacks to more than {human_size(limit)}, over {_PARQUET_EXPANSION} times "
        f"the {human_size(max_bytes)} upload limit; upload fewer or shorter rows."
    )
    try:
        meta = pq.ParquetFile(pa.BufferReader(data)).metadata
        n_rows, n_leaves = meta.num_rows, meta.num_columns
        check_columns(name, n_leaves)
        if n_rows * max(n_leaves, 1) > max_bytes:
            raise CorpusError(
                f"{name} holds {n_rows:,} rows x {n_leaves:,} columns, more cells "
                f"than a {human_size(max_bytes)} text file could; upload fewer rows."
            )
        # The footer's own sizes, read by parquet_footer: pyarrow's column-chunk metadata objects
        # abort the whole process on a damaged footer. A run-length-encoded list of 25M zeros has
        # a few hundred bytes of pages but 25M values: both are bounded (a value takes 8 bytes or
        # more once in a table).
        # Only flat columns are read: a list or struct column never holds texts, labels or
        # languages, and it is where a run-length-encoded bomb hides.
        handle = pq.ParquetFile(pa.BufferReader(data))
        flat = [str(f.name) for f in handle.schema_arrow if not pa.types.is_nested(f.type)]
        if not flat:
            raise CorpusError(
                f"{name} has no column of text: every column holds lists or structs; texts must be a column of strings."
            )
        chunks = [c for c in column_chunks(footer_of(data)) if c.path[:1] and c.path[0] in flat]
        pages = sum(c.uncompressed_bytes for c in chunks)
        values = sum(c.num_values for c in chunks)
        if pages > _PARQUET_PAGES * max_bytes:
            raise CorpusError(
                f"{name}'s pages decompress to {human_size(pages)}, over {_PARQUET_PAGES} times the "
                f"{human_size(max_bytes)} upload limit; upload fewer or shorter rows."
            )
        if 8 * values > limit:
            raise CorpusError(too_big)
        byte_arrays = [j for j in range(n_leaves) if meta.schema.column(j).physical_type == "BYTE_ARRAY"]
        # Read whole (iter_batches would repeat the growing dictionary in every batch).
        table = pq.ParquetFile(pa.BufferReader(data), read_dictionary=byte_arrays).read(columns=flat)
        unpacked = sum(_plain_nbytes(chunk) for column in table.columns for chunk in column.chunks)
        if unpacked > limit:
            raise CorpusError(too_big)

        # Measured and within the limit: only now expand the dictionaries, their texts cut first
        # (one character over max_chars, so that the cut is still seen and counted).
        def plain(column: Any) -> Any:
            chunks = [c if max_chars is None else cut_texts(c, max_chars + 1) for c in column.chunks]
            if pa.types.is_dictionary(column.type):
                return pa.chunked_array([c.dictionary_decode() for c in chunks], type=column.type.value_type)
            return pa.chunked_array(chunks, type=column.type)

        table = pa.Table.from_arrays([plain(column) for column in table.columns], names=table.column_names)
        table = table.rename_columns(unique_names([str(c) for c in table.column_names]))
        return table.to_pandas()
    except CorpusError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types on corrupt files
        raise CorpusError(f"{name} is not a valid Parquet file ({first_line(exc)}).") from None


def cut_texts(array: Any, max_chars: int) -> Any:
    """An Arrow array with every string cut to ``max_chars`` characters (and every binary value to
    ``4 * max_chars`` bytes, the most UTF-8 needs for them), done by Arrow, before any Python string
    exists; a dictionary array's dictionary is cut, not expanded. Other types are returned as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        return pa.DictionaryArray.from_arrays(array.indices, cut_texts(array.dictionary, max_chars))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.utf8_slice_codeunits(array, 0, max_chars)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pc.binary_slice(array, 0, 4 * max_chars)
    return array


def _plain_nbytes(array: Any) -> int:
    """The bytes an Arrow array takes once its dictionaries are expanded (computed, not done)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        values = array.dictionary
        if not (
            pa.types.is_string(values.type)
            or pa.types.is_large_string(values.type)
            or pa.types.is_binary(values.type)
            or pa.types.is_large_binary(values.type)
        ):
            return len(array) * 16
        lengths = pc.take(pc.binary_length(values), array.indices)
        return int(pc.sum(lengths).as_py() or 0) + 8 * len(array)
    if pa.types.is_struct(kind):
        return sum(_plain_nbytes(field) for field in array.flatten()) + len(array)
    if pa.types.is_map(kind):
        return _plain_nbytes(array.keys) + _plain_nbytes(array.items) + 8 * len(array)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _plain_nbytes(array.flatten()) + 8 * len(array)
    return array.nbytes


@dataclass
class Table:
    frame: pd.DataFrame
    format: str
    lossy: bool


def read_table(data: bytes, filename: str, max_bytes: int, max_chars: int | None = None) -> Table:
    """A file's bytes as a table of its columns; with ``max_chars``, a Parquet file's texts are cut
    to ``max_chars + 1`` characters before they become Python strings (text files are never larger
    than ``max_bytes`` anyway)."""
    import pandas as pd

    name = display_name(filename)
    fmt = format_of(name)
    data = checked_bytes(data, name, max_bytes)
    lossy = False
    with upload_memory(name):  # the bounds above are the rule; an allocation they missed is a message
        if fmt == "parquet":
            frame = _parquet_frame(data, name, max_bytes, max_chars)
        else:
            text, lossy = decode_text(data, name)
            if fmt == "txt":
                frame = pd.DataFrame({"text": pd.Series(split_lines(text), dtype=object)})
            elif fmt == "jsonl":
                frame = _jsonl_frame(text, name)
            elif fmt == "json":
                frame = _json_frame(text, name)
            else:
                frame = _csv_frame(text, name, fmt)
    frame.columns = unique_names([to_text(c)[0] or "" for c in frame.columns])
    return Table(frame, fmt, lossy)


def unique_names(names: list[str]) -> list[str]:
    """Make column names unique (Parquet allows duplicates) by appending .1, .2, ..."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, k = name, 0
        while candidate in seen:
            k += 1
            candidate = f"{name}.{k}"
        seen.add(candidate)
        out.append(candidate)
    return out
