"""Chroma as a sink: ``chroma:FOLDER#COLLECTION``, a compress point written into a new collection and searched there.

The documents go into a persistent Chroma folder (created when missing) as a new collection: ids
are the documents' row numbers (as strings, Chroma's ids), the texts are Chroma's ``documents``,
the labels a ``label`` metadata key, and the vectors the point's unit rows in float32. The index is
Chroma's HNSW with every setting given, not left to Chroma's defaults (:data:`HNSW`): space ``ip``
(Chroma's distance is 1 - dot, so its order is DimScope's dot-product order on unit vectors, and
the vectors are stored as they are; ``cosine`` would normalize them again), and Chroma's own
defaults for the graph (construction_ef 100, search_ef 100, M 16). HNSW is approximate, so the
measured figures can fall below the exact prediction; the notes say by how much when they do.

Chroma has no quantization: a collection holds float32 vectors and nothing else, so int8 and
binary points are refused before any work (LanceDB and FAISS sinks hold them).

Never half a collection: the rows are added to a collection under a temporary name
(``dimscope-writing-<hex>``), counted, and only then renamed (``collection.modify(name=...)``).
Under ``--replace`` the old collection is first renamed aside (``dimscope-replaced-<hex>``), and
deleted only once the new one holds the name; if anything fails before that, the temporary
collection is deleted and the old one gets its name back. (A process killed mid-write leaves a
``dimscope-writing-`` collection behind, never a changed target.)
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.export.store_sinks import TOP_K, Searched, SinkSpec, timed_search
from analysis.vectors.stores.spec import import_store_library

FORM = "chroma:FOLDER#COLLECTION"
#: Chroma's HNSW settings, all given: space ``ip`` (1 - dot), and Chroma's default graph.
HNSW: dict[str, Any] = {"space": "ip", "ef_construction": 100, "ef_search": 100, "max_neighbors": 16}
WRITING = "dimscope-writing-"
REPLACED = "dimscope-replaced-"
# Chroma 1.5's collection-name rules (its Rust validator), checked before any work.
NAME_RULE = (
    "a Chroma collection name has 3 to 512 characters from a-z, A-Z, 0-9, '.', '_' and '-', starts and ends "
    "with a letter or digit, has no '..' and is not an IP address"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def _errors() -> tuple[type[BaseException], ...]:
    from chromadb.errors import ChromaError

    return (ChromaError, sqlite3.Error, OSError)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def check_chroma_sink(spec: SinkSpec, precision: str, replace: bool) -> None:
    """Refuse, before any model loads: a precision Chroma cannot hold, a name it refuses, a folder it cannot use,
    and an existing collection without ``replace``."""
    if precision != "float32":
        raise OptionError(
            f"--write {spec.display} --precision {precision}: Chroma stores float32 vectors only (it has no int8 or "
            "binary quantization); write int8 or binary to lancedb:FOLDER#TABLE, faiss:FILE or "
            "qdrant:FOLDER#COLLECTION."
        )
    name = str(spec.name)
    if not _NAME.match(name) or ".." in name or _IPV4.match(name):
        raise OptionError(f"--write {spec.display}: {NAME_RULE}.")
    folder = spec.path
    if folder.is_dir() and not (folder / "chroma.sqlite3").is_file() and any(folder.iterdir()):
        raise OptionError(
            f"--write {spec.display}: {folder.name} is a folder with files but no chroma.sqlite3, so not a Chroma "
            "folder; name a Chroma folder or a new one."
        )
    writable = folder if folder.is_dir() else folder.parent
    if not os.access(writable, os.W_OK | os.X_OK):
        raise OptionError(f"--write {spec.display}: the folder {writable.name or writable} is not writable.")
    import_store_library("chromadb", "chroma")
    if chroma_exists(spec) and not replace:
        raise OptionError(
            f"--write {spec.display}: the collection exists; add --replace to overwrite it, or name a new one."
        )


def _client(spec: SinkSpec) -> Any:
    """The folder's persistent client (the same settings every time: Chroma keeps one per folder per process)."""
    chromadb = import_store_library("chromadb", "chroma")
    from chromadb.config import Settings

    try:
        return chromadb.PersistentClient(
            path=str(spec.path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
        )
    except _errors() as exc:
        raise OptionError(f"--write {spec.display}: Chroma cannot open the folder: {_first_line(exc)}") from None


def _names(client: Any) -> list[str]:
    return [str(c.name) for c in client.list_collections()]


def chroma_exists(spec: SinkSpec) -> bool:
    """True when the folder is a Chroma folder holding the collection."""
    if not (spec.path / "chroma.sqlite3").is_file():
        return False
    try:
        return spec.name in _names(_client(spec))
    except _errors() as exc:
        raise OptionError(f"--write {spec.display}: Chroma cannot read the folder: {_first_line(exc)}") from None


def write_chroma(
    spec: SinkSpec,
    documents: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str] | None,
    precision: str,
    replace: bool,
    *,
    batch_rows: int | None = None,
) -> dict[str, Any]:
    """Write a new collection (or replace one, with ``replace``); returns the settings used. The target collection
    is whole or as it was: rows go into a temporary collection, renamed to the target only once complete."""
    check_chroma_sink(spec, precision, replace)
    client = _client(spec)
    x = np.ascontiguousarray(documents, dtype=np.float32)
    n = int(x.shape[0])
    step = max(1, min(batch_rows or n, int(client.get_max_batch_size())))
    temp = f"{WRITING}{uuid.uuid4().hex}"
    try:
        collection = client.create_collection(temp, configuration={"hnsw": dict(HNSW)}, embedding_function=None)
        for a in range(0, n, step):
            b = min(a + step, n)
            collection.add(
                ids=[str(i) for i in range(a, b)],
                embeddings=x[a:b],
                documents=[str(t) for t in texts[a:b]],
                metadatas=None if labels is None else [{"label": str(v)} for v in labels[a:b]],
            )
        if int(collection.count()) != n:
            raise OptionError(f"--write {spec.display}: Chroma holds {collection.count():,} of {n:,} rows; not kept.")
        aside = _rename_into_place(client, collection, spec, replace)
    except BaseException as exc:
        if temp in _names(client):
            client.delete_collection(temp)
        if isinstance(exc, _errors()):
            raise OptionError(
                f"--write {spec.display}: Chroma refused the write ({_first_line(exc)}); the folder's collections "
                "are as they were."
            ) from None
        raise
    if aside is not None:
        client.delete_collection(aside)  # only now: the new collection holds the name
    hnsw = dict(client.get_collection(spec.name, embedding_function=None).configuration.get("hnsw") or {})
    return {
        "collection": spec.name,
        "index": "HNSW",
        "space": hnsw.get("space"),
        "construction_ef": hnsw.get("ef_construction"),
        "search_ef": hnsw.get("ef_search"),
        "M": hnsw.get("max_neighbors"),
        "configuration": {"hnsw": hnsw},
        "add_batch_rows": step,
        "search": f'collection.query(query_embeddings=[q], n_results={TOP_K}, include=["distances"])',
        "exact": False,
    }


def _rename_into_place(client: Any, collection: Any, spec: SinkSpec, replace: bool) -> str | None:
    """Give the complete temporary collection the target's name; the old one, if any, is renamed aside first and
    its name given back if the rename fails. Returns the aside name (to delete), or None."""
    aside = None
    if spec.name in _names(client):
        if not replace:
            raise OptionError(f"--write {spec.display}: the collection exists; add --replace to overwrite it.")
        aside = f"{REPLACED}{uuid.uuid4().hex}"
        old = client.get_collection(spec.name, embedding_function=None)
        old.modify(name=aside)
    try:
        collection.modify(name=spec.name)
    except BaseException:
        if aside is not None:
            old.modify(name=spec.name)
        elif spec.name in _names(client):  # another writer took the name meanwhile: never overwritten
            raise OptionError(
                f"--write {spec.display}: the collection exists; add --replace to overwrite it."
            ) from None
        raise
    return aside


def search_chroma(spec: SinkSpec, queries: np.ndarray, exclude: Sequence[int]) -> Searched:
    """The top ``TOP_K`` row numbers per query, through Chroma's own ``collection.query``."""
    collection = _client(spec).get_collection(spec.name, embedding_function=None)
    prepared = np.ascontiguousarray(queries, dtype=np.float32)

    def search(q: np.ndarray, extra: int) -> list[int]:
        found = collection.query(query_embeddings=q[None, :], n_results=TOP_K + extra, include=["distances"])
        return [int(i) for i in found["ids"][0]]

    return timed_search(search, prepared, exclude)


def chroma_notes(predicted: dict[str, float], measured: dict[str, float], settings: dict[str, Any]) -> list[str]:
    """What a reader of Chroma's figures needs: its search is HNSW, and by how much it missed, when it did."""
    graph = ", ".join(f"{key} {settings.get(key)}" for key in ("M", "construction_ef", "search_ef"))
    notes = [
        f"Chroma searches an HNSW graph (space {settings.get('space')!r}, {graph}): approximate, where DimScope's "
        "prediction ranks every document exactly. Chroma stores float32 only.",
    ]
    gaps = [
        f"{label} {measured[key] - predicted[key]:+.4f}"
        for key, label in (("recall_at_10", "recall@10"), ("mrr_at_10", "MRR@10"))
        if abs(measured[key] - predicted[key]) > 1e-12
    ]
    if gaps:
        notes.append(
            f"Measured differs from predicted ({', '.join(gaps)}): the HNSW graph missed or reordered some of the "
            "exact top 10 for a few queries."
        )
    notes.append("Ids are the documents' row numbers (as strings); texts are Chroma documents, labels a 'label' key.")
    return notes
