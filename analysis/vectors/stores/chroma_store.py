"""A persistent Chroma collection as an embeddings source: ``chroma:PATH#COLLECTION``.

Chroma's client writes to the folder's ``chroma.sqlite3`` whenever it opens it (even to read), so
the store would not be the same bytes after a read. DimScope therefore copies the folder to a
private temporary folder, opens the copy, and removes it when the reader is dropped: the user's
store is never opened by Chroma at all. The collection is paged through with ``get(limit,
offset)`` in Chroma's own order; its ids, documents and metadata keys are the scalar columns
(``document`` holds the texts; a metadata key such as ``label`` the labels).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from analysis.corpora.decoding import MAX_COLUMNS, printable, shorten
from analysis.errors import CorpusError
from analysis.vectors.layout import (
    DEFAULT_CHUNK_ROWS,
    Layout,
    VectorReader,
    check_dimension,
    column_label,
    reading,
)
from analysis.vectors.stores.spec import StoreSpec, import_store_library, names_line

VECTOR_COLUMN = "embedding"
BUILT_IN = ("id", "document")  # the scalar columns every collection has; metadata keys follow
HEAD_ROWS = 200  # rows whose metadata keys become columns


def _chroma_errors() -> tuple[type[BaseException], ...]:
    from chromadb.errors import ChromaError

    return (ChromaError, sqlite3.Error)


class ChromaReader(VectorReader):
    """One collection of a persistent Chroma folder, read from a private copy of the folder."""

    def __init__(self, spec: StoreSpec, vector_column: str | None) -> None:
        chromadb = import_store_library("chromadb", "chroma")
        from chromadb.config import Settings

        self.name = f"chroma:{spec.display}"
        if not (spec.path / "chroma.sqlite3").is_file():
            raise CorpusError(
                f"chroma: {shorten(printable(str(spec.path)), 200)} is not a persistent Chroma folder "
                "(it has no chroma.sqlite3)."
            )
        if vector_column not in (None, VECTOR_COLUMN):
            raise CorpusError(f"{self.name} keeps its vectors in {VECTOR_COLUMN!r}, not {column_label(vector_column)}.")
        self._copy = Path(tempfile.mkdtemp(prefix="dimscope-chroma-"))
        weakref.finalize(self, shutil.rmtree, self._copy, True)
        errors = _chroma_errors()
        with reading(self.name, "is not a readable Chroma folder", (*errors, shutil.Error)):
            shutil.copytree(spec.path, self._copy, dirs_exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(self._copy), settings=Settings(anonymized_telemetry=False, allow_reset=False)
            )
            names = [str(c.name) for c in client.list_collections()]
            if spec.name not in names:
                raise CorpusError(
                    f"chroma: {spec.path.name or spec.path} has no collection {spec.name!r}; "
                    f"{names_line(names, 'collection')}."
                )
            self.collection = client.get_collection(spec.name)
            n_rows = int(self.collection.count())
            head = self._get(0, HEAD_ROWS, ["embeddings", "metadatas"]) if n_rows else {}
        if n_rows < 1:
            raise CorpusError(f"{self.name} has no rows.")
        first = np.asarray(head["embeddings"])
        if first.ndim != 2:
            raise CorpusError(f"{self.name}: its first rows have no vectors.")
        keys: list[str] = []
        for metadata in head.get("metadatas") or []:
            for key in metadata or {}:
                if key not in keys and key not in BUILT_IN and key != VECTOR_COLUMN:
                    keys.append(str(key))
        columns = (VECTOR_COLUMN, *BUILT_IN, *keys[: MAX_COLUMNS - 3])
        # Chroma keeps float32 vectors and hands them out as float64: float32 again is exact.
        self.layout = Layout(
            "chroma",
            n_rows,
            check_dimension(self.name, first.shape[1]),
            "float32",
            VECTOR_COLUMN,
            columns,
            columns[1:],
            (VECTOR_COLUMN,),
        )

    def _get(self, offset: int, limit: int, include: list[str]) -> Any:
        with reading(self.name, "could not be read to the end", _chroma_errors()):
            return self.collection.get(offset=offset, limit=limit, include=include)

    def _pages(self, include: list[str], max_rows: int | None = None) -> Iterator[Any]:
        total = self.layout.n_rows if max_rows is None else min(max_rows, self.layout.n_rows)
        for offset in range(0, total, DEFAULT_CHUNK_ROWS):
            yield self._get(offset, min(DEFAULT_CHUNK_ROWS, total - offset), include)

    def pieces(self) -> Iterator[np.ndarray]:
        d = self.layout.dimension
        for page in self._pages(["embeddings"]):
            matrix = np.asarray(page["embeddings"], dtype=np.float64)
            if matrix.ndim != 2 or matrix.shape[1] != d:
                raise CorpusError(
                    f"{self.name}: a page of vectors is not {d:,} wide; every row needs the same dimension."
                )
            yield matrix.astype(np.float32)

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        if column not in self.layout.scalar_columns:
            raise CorpusError(
                f"{self.name} has no column {column_label(column)} for texts or labels; "
                f"its columns: {', '.join(self.layout.scalar_columns)}."
            )
        include = [] if column == "id" else ["documents"] if column == "document" else ["metadatas"]
        out: list[Any] = []
        for page in self._pages(include, max_rows):
            if column == "id":
                values: list[Any] = list(page["ids"])
            elif column == "document":
                values = list(page["documents"] or [])
            else:
                values = [(m or {}).get(column) for m in page["metadatas"] or []]
            if max_chars is not None:
                values = [v[: max_chars + 1] if isinstance(v, str) else v for v in values]
            out.extend(values)
        return out
