"""A collection of a qdrant-client local-mode folder as an embeddings source: ``qdrant:PATH#COLLECTION``.

The same form names a Qdrant Edge shard ``PATH/COLLECTION`` when there is one (what ``compress
--write qdrant:`` writes); :func:`~analysis.vectors.stores.qdrant_edge_store.open_qdrant` tells the
two apart and :mod:`~analysis.vectors.stores.qdrant_edge_store` reads the shard.

``QdrantClient(path=PATH)`` keeps ``PATH/meta.json`` (every collection's configuration) and, per
collection, ``PATH/collection/NAME/storage.sqlite`` with a table ``points(id TEXT PRIMARY KEY,
point BLOB)`` where each blob is ``pickle.dumps(PointStruct)``. Opening the folder with the client
unpickles every point into memory. DimScope does neither: it never uses qdrant-client to read.

* The SQLite file is opened read-only (``mode=ro`` URI) and paged through with one cursor, 8,192
  rows at a time in ``rowid`` order, never fetched whole; a blob larger than
  :data:`~analysis.vectors.stores.pickle_data.MAX_BLOB_BYTES` is not even fetched.
* Each blob is decoded by :func:`~analysis.vectors.stores.pickle_data.loads_data`, a parser of
  the pickle format that builds plain data only: a global it names stays two strings, nothing is
  imported or called, so this is reading a data format, not unpickling. A point whose blob holds
  anything else is one error naming its row.
* The vector is the point's ``vector`` (unnamed) or one of its named vectors (``--vector-column``);
  the scalar columns are ``id`` and the payload keys of the first rows.
* A row stored under a key an older qdrant-client spelled differently may be a stale copy of a
  point (the client drops those when it next opens the folder), so such a row is refused, not
  counted twice.

Vectors are float64, as pickled (the client pickles Python floats).
"""

from __future__ import annotations

import base64
import json
import pickle  # for pickle.dumps of an int or str only (a point's key); nothing here is ever unpickled
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from analysis.corpora.decoding import MAX_COLUMNS, printable, shorten
from analysis.errors import CorpusError
from analysis.vectors.layout import (
    DEFAULT_CHUNK_ROWS,
    Layout,
    VectorReader,
    check_dimension,
    column_label,
    pick_vector_column,
    row_blocks,
)
from analysis.vectors.stores.pickle_data import MAX_BLOB_BYTES, PickleDataError, Record, loads_data
from analysis.vectors.stores.spec import StoreSpec, names_line

META_FILE = "meta.json"
MAX_META_BYTES = 64 << 20
STORAGE_FILE = "storage.sqlite"
UNNAMED = "vector"  # the column name of a collection's one unnamed vector
HEAD_ROWS = 200  # rows whose payload keys become columns
KEY_PROTOCOL = 4  # qdrant-client pickles point ids with protocol 4 for their keys
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SCALARS = (str, int, float, bool, type(None))


def canonical_key(point_id: int | str) -> str:
    """The key qdrant-client 1.20 stores a point under (``CollectionPersistence.encode_key``)."""
    return base64.b64encode(pickle.dumps(point_id, protocol=KEY_PROTOCOL)).decode("ascii")


def read_meta(spec: StoreSpec) -> dict[str, Any]:
    """``meta.json`` of a local-mode folder, parsed as JSON (bounded), or a CorpusError."""
    shown = shorten(printable(str(spec.path)), 200)
    meta_path = spec.path / META_FILE
    if not meta_path.is_file():
        raise CorpusError(f"qdrant: {shown} is not a qdrant-client local folder (it has no {META_FILE}).")
    try:
        if meta_path.stat().st_size > MAX_META_BYTES:
            raise CorpusError(f"qdrant: {shown}/{META_FILE} is larger than {MAX_META_BYTES:,} bytes.")
        meta = json.loads(meta_path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise CorpusError(f"qdrant: {shown}/{META_FILE} is not readable JSON ({printable(str(exc))[:120]}).") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("collections"), dict):
        raise CorpusError(f"qdrant: {shown}/{META_FILE} lists no collections.")
    return meta


def vector_sizes(name: str, config: Any) -> dict[str, int]:
    """The collection's dense vectors and their sizes, from its configuration (``""`` for the unnamed one)."""
    vectors = config.get("vectors") if isinstance(config, dict) else None
    if not isinstance(vectors, dict):
        raise CorpusError(f"{name}: its configuration names no vectors.")
    params = {"": vectors} if isinstance(vectors.get("size"), int) else vectors
    sizes: dict[str, int] = {}
    for key, value in params.items():
        if not isinstance(value, dict) or not isinstance(value.get("size"), int):
            raise CorpusError(f"{name}: vector {column_label(key)} has no size in its configuration.")
        if value.get("multivector_config"):
            continue  # several vectors per point: not one row per point
        sizes[str(key)] = int(value["size"])
    return sizes


def choose_vector(name: str, sizes: dict[str, int], vector_column: str | None) -> tuple[str, str]:
    """(the vector's column name, its key in ``sizes``): the unnamed vector, or the named one asked for."""
    columns_of = {(UNNAMED if k == "" else k): k for k in sizes}
    if not columns_of:
        raise CorpusError(f"{name} has no dense vectors (sparse and multivectors are not read).")
    if "" in sizes and vector_column in (None, UNNAMED):
        return UNNAMED, ""
    candidates = list(columns_of)
    if vector_column is None and len(candidates) > 1:
        raise CorpusError(
            f"{name} has several named vectors ({', '.join(map(column_label, candidates))}); "
            "choose one with --vector-column."
        )
    chosen = pick_vector_column(name, vector_column, candidates, candidates, "named vector")
    return chosen, columns_of[chosen]


def scalar_columns(payloads: Iterable[Any]) -> tuple[str, ...]:
    """``id`` and the payload keys (in order of appearance) that hold a text, a number or nothing."""
    keys: list[str] = []
    for payload in payloads:
        for key, value in payload.items() if isinstance(payload, dict) else ():
            if isinstance(key, str) and isinstance(value, SCALARS) and key not in keys and key != "id":
                keys.append(key)
    return ("id", *keys[: MAX_COLUMNS - 2])


def point_column(
    name: str, column: str, columns: Sequence[str], points: Iterable[tuple[Any, Any]], max_chars: int | None
) -> list[Any]:
    """``column`` of each point, given as (id, payload): ``id`` or a payload key holding a text or a
    label (a string cut at ``max_chars`` + 1); one line naming the point otherwise. Both qdrant: kinds."""
    if column not in columns:
        raise CorpusError(
            f"{name} has no column {column_label(column)} for texts or labels; its columns: {', '.join(columns)}."
        )
    out: list[Any] = []
    for row, (point_id, payload) in enumerate(points):
        value = point_id if column == "id" else payload.get(column) if isinstance(payload, dict) else None
        if not isinstance(value, SCALARS):
            raise CorpusError(
                f"{name}: point {row:,}'s payload {column_label(column)} holds a "
                f"{type(value).__name__}, not a text or a label."
            )
        if max_chars is not None and isinstance(value, str):
            value = value[: max_chars + 1]
        out.append(value)
    return out


def collection_path(folder: Path, collection: str) -> Path:
    """Where a local folder keeps a collection's points."""
    return folder / "collection" / collection / STORAGE_FILE


class QdrantReader(VectorReader):
    """One collection of a qdrant-client local folder, read from its SQLite file without unpickling."""

    def __init__(self, spec: StoreSpec, vector_column: str | None) -> None:
        self.name = f"qdrant:{spec.display}"
        meta = read_meta(spec)
        collections = meta["collections"]
        aliases: dict[str, Any] = meta["aliases"] if isinstance(meta.get("aliases"), dict) else {}
        wanted = str(spec.name)
        collection = str(aliases.get(wanted, wanted))
        if collection not in collections:
            raise CorpusError(
                f"qdrant: {spec.path.name or spec.path} has no collection {spec.name!r}; "
                f"{names_line([str(n) for n in collections], 'collection')}."
            )
        if "/" in collection or "\\" in collection or collection in ("", ".", ".."):
            raise CorpusError(f"{self.name}: the collection's name is not a folder name.")
        self.path = collection_path(spec.path, collection)
        sizes = vector_sizes(self.name, collections[collection])
        chosen, self.vector_key = choose_vector(self.name, sizes, vector_column)
        columns_of = {(UNNAMED if k == "" else k): k for k in sizes}
        dimension = check_dimension(self.name, sizes[self.vector_key])
        if not self.path.is_file():
            raise CorpusError(f"{self.name} has no rows (no {STORAGE_FILE}).")
        self._connection = self._connect()
        n_rows = int(self._query("SELECT COUNT(*) FROM points").fetchone()[0])
        if n_rows < 1:
            raise CorpusError(f"{self.name} has no rows.")
        scalars = scalar_columns(fields.get("payload") for _, fields in self._points(HEAD_ROWS))
        self.layout = Layout(
            "qdrant", n_rows, dimension, "float64", chosen, (chosen, *scalars), scalars, tuple(columns_of)
        )

    def _connect(self) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            return sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CorpusError(f"{self.name} is not a readable SQLite file ({printable(str(exc))[:120]}).") from None

    def _query(self, sql: str, *args: Any) -> sqlite3.Cursor:
        try:
            return self._connection.execute(sql, args)
        except sqlite3.Error as exc:
            raise CorpusError(f"{self.name} is not a qdrant-client collection ({printable(str(exc))[:120]}).") from None

    def _points(self, max_rows: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row number, the point's fields) in rowid order, a page of rows at a time; every row checked."""
        cursor = self._query(
            "SELECT id, CASE WHEN length(point) <= ? THEN point END, length(point) FROM points ORDER BY rowid",
            MAX_BLOB_BYTES,
        )
        row = 0
        try:
            while max_rows is None or row < max_rows:
                try:
                    page = cursor.fetchmany(DEFAULT_CHUNK_ROWS)
                except sqlite3.Error as exc:
                    raise CorpusError(
                        f"{self.name} could not be read to the end ({printable(str(exc))[:120]})."
                    ) from None
                if not page:
                    break
                for key, blob, size in page:
                    if max_rows is not None and row >= max_rows:
                        break
                    yield row, self._point(row, key, blob, size)
                    row += 1
        finally:
            cursor.close()
        layout = getattr(self, "layout", None)
        if max_rows is None and layout is not None and row != layout.n_rows:
            raise CorpusError(
                f"{self.name}: read {row:,} rows where it had {layout.n_rows:,}; was it written meanwhile?"
            )

    def _point(self, row: int, key: Any, blob: Any, size: Any) -> dict[str, Any]:
        where = f"{self.name}: row {row:,}"
        if not isinstance(blob, bytes):
            too_big = isinstance(size, int) and size > MAX_BLOB_BYTES
            raise CorpusError(
                f"{where} is {'larger than ' + format(MAX_BLOB_BYTES, ',') + ' bytes' if too_big else 'not a point'}."
            )
        try:
            point = loads_data(blob)
        except PickleDataError as exc:
            raise CorpusError(f"{where} is not a qdrant-client point DimScope can read: {exc}.") from None
        if not isinstance(point, Record) or point.name.qualname != "PointStruct":
            raise CorpusError(f"{where} is not a qdrant-client point (it holds no PointStruct).")
        fields = point.fields
        point_id = fields.get("id")
        if isinstance(point_id, bool) or not isinstance(point_id, (int, str)):
            raise CorpusError(f"{where}: the point has no id.")
        legacy = isinstance(point_id, str) and CANONICAL_UUID.fullmatch(point_id) is None
        if legacy or key != canonical_key(point_id):
            raise CorpusError(
                f"{where} (point {shorten(printable(str(point_id)), 60)}) is stored under a key an older "
                "qdrant-client wrote, so the collection may hold stale copies of points; open the folder once "
                "with qdrant-client 1.20 or later (it removes them), or export the vectors to Parquet."
            )
        return fields

    def _vector(self, row: int, fields: dict[str, Any]) -> np.ndarray | None:
        vector = fields.get("vector")
        if isinstance(vector, dict):
            vector = vector.get(self.vector_key)
        elif self.vector_key != "":
            vector = None
        if vector is None:
            return None
        if isinstance(vector, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector):
            vector = np.asarray(vector, dtype=np.float64)
        if not isinstance(vector, np.ndarray):
            raise CorpusError(
                f"{self.name}: row {row:,} holds no dense vector {column_label(self.layout.vector_column)}."
            )
        if vector.size != self.layout.dimension:
            raise CorpusError(
                f"{self.name}: row {row:,} has {vector.size:,} values where the collection's vectors have "
                f"{self.layout.dimension:,}; every row needs the same dimension."
            )
        return vector

    def pieces(self) -> Iterator[np.ndarray]:
        # a point without this vector is a missing row (None: NaN)
        vectors = (self._vector(row, fields) for row, fields in self._points())
        return row_blocks(vectors, int(self.layout.dimension or 0))

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        points = ((fields.get("id"), fields.get("payload")) for _, fields in self._points(max_rows))
        return point_column(self.name, column, self.layout.scalar_columns, points, max_chars)
