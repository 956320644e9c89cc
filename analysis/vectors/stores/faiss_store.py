"""A FAISS index file as an embeddings source: ``faiss:FILE``.

The file is memory-mapped read-only and its vectors reconstructed a chunk at a time. Only indexes
whose stored codes *are* the vectors qualify: Flat (L2 or inner product), HNSW over Flat, and
IVF-Flat with a direct map (without one, IVF cannot reconstruct a vector by its position), each
possibly behind an ID map. Indexes that store compressed codes (PQ, scalar quantizers, LSH...) can
only reconstruct approximations, and statistics of approximations are not statistics of the
user's vectors, so they are refused with that reason. Types are checked before any
reconstruction: FAISS aborts the process, rather than raising, on some unsupported calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from analysis.errors import CorpusError
from analysis.vectors.layout import DEFAULT_CHUNK_ROWS, Layout, VectorReader, check_dimension, reading
from analysis.vectors.stores.spec import StoreSpec, import_store_library

VECTOR_COLUMN = "vector"
EXACT = ("IndexFlat", "IndexFlatL2", "IndexFlatIP", "IndexHNSWFlat")
ID_MAPS = ("IndexIDMap", "IndexIDMap2")


def exact_index(faiss: Any, index: Any, name: str, keep: list[Any]) -> Any:
    """The index that holds the vectors exactly (the one behind an ID map), or a CorpusError saying why not.

    Every Python wrapper met on the way is appended to ``keep``: the C++ objects belong to the outermost
    one, and a dropped wrapper frees them under the others.
    """
    index = faiss.downcast_index(index)
    keep.append(index)
    kind = type(index).__name__
    if kind in ID_MAPS:
        index = faiss.downcast_index(index.index)
        keep.append(index)
        kind = type(index).__name__
    if kind in EXACT:
        return index
    if kind == "IndexIVFFlat":
        if int(index.direct_map.type) == int(faiss.DirectMap.Array):
            return index
        raise CorpusError(
            f"{name} is an IndexIVFFlat without a direct map, so FAISS cannot reconstruct a vector from its "
            "position; call index.make_direct_map() and write the index again, or give the vectors themselves."
        )
    raise CorpusError(
        f"{name} is an {kind}: it stores compressed codes, so FAISS can only reconstruct approximations of "
        "the vectors, not the vectors; give a Flat, HNSWFlat or IVFFlat index, or the vectors themselves."
    )


class FaissReader(VectorReader):
    """One FAISS index file whose vectors can be reconstructed exactly."""

    def __init__(self, spec: StoreSpec, vector_column: str | None) -> None:
        faiss = import_store_library("faiss", "faiss")
        self.name = f"faiss:{spec.display}"
        if vector_column not in (None, VECTOR_COLUMN):
            raise CorpusError(
                f"{self.name} is a FAISS index: it holds vectors only, so --vector-column does not apply."
            )
        with reading(self.name, "is not a readable FAISS index (a binary index, or another file?)"):
            index = faiss.read_index(str(spec.path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        self._owners: list[Any] = [index]
        self.index = exact_index(faiss, index, self.name, self._owners)
        n_rows = int(self.index.ntotal)
        if n_rows < 1:
            raise CorpusError(f"{self.name} has no rows.")
        dimension = check_dimension(self.name, int(self.index.d))
        self.layout = Layout(
            "faiss", n_rows, dimension, "float32", VECTOR_COLUMN, (VECTOR_COLUMN,), (), (VECTOR_COLUMN,)
        )

    def pieces(self) -> Iterator[np.ndarray]:
        for start in range(0, self.layout.n_rows, DEFAULT_CHUNK_ROWS):
            with reading(self.name, "could not be read to the end"):
                yield self.index.reconstruct_n(start, min(DEFAULT_CHUNK_ROWS, self.layout.n_rows - start))

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        raise CorpusError(f"{self.name} is a FAISS index: it holds vectors only, no column {column!r}.")
