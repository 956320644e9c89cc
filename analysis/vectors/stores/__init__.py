"""Vector stores as embedding sources: ``lancedb:``, ``chroma:``, ``faiss:`` and ``qdrant:`` forms.

A store is read like a vectors file (:mod:`analysis.vectors.layout`'s reader interface): its
vectors in chunks into the one streamed statistics path, its documents or other columns as texts
and labels. Each store is opened so that reading never changes it:

* LanceDB (:mod:`.lancedb_store`): a scan of the table's latest version, a record batch at a time;
* Chroma (:mod:`.chroma_store`): Chroma's client writes to its SQLite file whenever it opens a
  folder, so DimScope opens a private copy of the folder and pages through the collection;
* FAISS (:mod:`.faiss_store`): the index file memory-mapped read-only, its vectors reconstructed
  in chunks; only indexes that keep the vectors themselves (flat codes) are accepted, since the
  others reconstruct approximations.

* Qdrant, two kinds behind one form ``qdrant:PATH#NAME``, told apart by their files
  (:func:`.qdrant_edge_store.open_qdrant`):

  - a Qdrant Edge shard ``PATH/NAME`` (what ``compress --write qdrant:`` writes;
    :mod:`.qdrant_edge_store`): qdrant-edge-py writes to a shard whenever it opens it, so, as for
    Chroma, DimScope opens a private copy (holes of sparse files kept) and scrolls through it;
  - a qdrant-client local folder ``PATH`` with a collection ``NAME`` (:mod:`.qdrant_store`): it
    keeps every point pickled in SQLite; DimScope opens that file read-only and decodes each point
    with a parser of the pickle format that builds plain data only (:mod:`.pickle_data`): nothing
    is imported, called or unpickled, and the points are paged through, never all loaded.

The libraries are the optional extra ``stores``; each is imported only when its form is used.
"""

from __future__ import annotations

from analysis.vectors.layout import VectorReader
from analysis.vectors.stores.spec import (
    REFUSED,
    STORE_FORMS,
    STORES_EXTRA,
    StoreSpec,
    is_store,
    parse_store,
    store_files,
    store_scheme,
)


def open_store_reader(spec: StoreSpec, vector_column: str | None) -> VectorReader:
    """A reader over the store's vectors and scalar columns, opened read-only."""
    if spec.scheme == "lancedb":
        from analysis.vectors.stores.lancedb_store import LanceReader

        return LanceReader(spec, vector_column)
    if spec.scheme == "chroma":
        from analysis.vectors.stores.chroma_store import ChromaReader

        return ChromaReader(spec, vector_column)
    if spec.scheme == "qdrant":
        from analysis.vectors.stores.qdrant_edge_store import open_qdrant

        return open_qdrant(spec, vector_column)
    from analysis.vectors.stores.faiss_store import FaissReader

    return FaissReader(spec, vector_column)


__all__ = [
    "REFUSED",
    "STORES_EXTRA",
    "STORE_FORMS",
    "StoreSpec",
    "is_store",
    "open_store_reader",
    "parse_store",
    "store_files",
    "store_scheme",
]
