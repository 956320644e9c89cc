"""Vector stores as sinks: a task's documents written as a measured point stores them, then searched there.

Three stores, each through its own API, each writing something new and never half of it (Qdrant:
:mod:`analysis.export.qdrant_sink`):

* LanceDB (``lancedb:FOLDER#TABLE``): a new table with ``id``, ``text``, ``label``, ``vector``
  (float32, the point's unit vectors) and, for binary, ``bits`` (the packed sign bits as
  ``numpy.packbits(x > 0)``, searched by LanceDB's ``hamming`` distance). float32 is searched
  flat (exact, no index); int8 gets an ``IVF_SQ`` index with one partition, so the only
  approximation is LanceDB's own 8-bit scalar quantization (one range for all dimensions, where
  DimScope's int8 has one per dimension); binary-rescore takes the top
  ``RESCORE_CANDIDATES`` by Hamming, then a second LanceDB search by cosine on ``vector``
  restricted (prefilter) to those ids. A new table that fails is removed; a table being replaced
  is copied aside first and its bytes put back if the write fails (LanceDB OSS has no rename, and
  restoring a version would still add one). A replaced table starts a new history.
* FAISS (``faiss:FILE``): ``IndexFlatIP`` (float32, exact), ``index_factory(k, "SQ8",
  METRIC_INNER_PRODUCT)`` trained on the documents (int8: per-dimension min and max),
  ``IndexBinaryFlat`` (binary, k a multiple of 8), and ``IndexRefineFlat(IndexLSH(k, k))`` with
  ``k_factor = RESCORE_CANDIDATES / 10`` (binary-rescore: sign bits, since an LSH index without
  rotation or trained thresholds keeps ``x > 0``, then the top candidates re-ranked by the float
  vectors it keeps beside them). The index is written to a temporary file beside the target and
  linked (new) or renamed (``--replace``) into place, so the target is whole or untouched.

FAISS files hold vectors only: ids are the row numbers, texts and labels are not stored.
Chroma (``chroma:FOLDER#COLLECTION``, float32 only) is :mod:`analysis.export.chroma_sink`.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.corpora.decoding import printable, shorten
from analysis.errors import OptionError
from analysis.measures.retrieval import RESCORE_CANDIDATES
from analysis.measures.retrieval.codes import binary_codes
from analysis.vectors.stores.lancedb_store import table_names
from analysis.vectors.stores.spec import import_store_library

#: The ``--write`` forms, with what follows the scheme.
SINK_FORMS = {
    "lancedb": "lancedb:FOLDER#TABLE",
    "faiss": "faiss:FILE",
    "chroma": "chroma:FOLDER#COLLECTION",
    "qdrant": "qdrant:FOLDER#COLLECTION",
}
# The module each sink imports (qdrant: the embedded engine, qdrant-edge-py; see analysis.export.qdrant_sink).
SINK_MODULES = {"lancedb": "lancedb", "faiss": "faiss", "chroma": "chromadb", "qdrant": "qdrant_edge"}
PRECISIONS = ("float32", "int8", "binary", "binary-rescore")
TOP_K = 10  # recall@10, and the k every store is asked for


@dataclass(frozen=True)
class SinkSpec:
    """Where ``--write`` goes: the scheme, the folder (LanceDB) or file (FAISS), the table (LanceDB)."""

    scheme: str
    path: Path
    name: str | None

    @property
    def display(self) -> str:
        return f"{self.scheme}:{self.path.name}" + (f"#{self.name}" if self.name else "")


def parse_sink(text: str) -> SinkSpec:
    """The parts of a ``--write`` value; an OptionError for an unknown form or a folder that cannot hold it."""
    scheme, sep, rest = str(text).partition(":")
    scheme = scheme.lower()
    shown = shorten(printable(str(text)), 200)
    if not sep or scheme not in SINK_FORMS:
        raise OptionError(f"--write {shown}: use {' or '.join(SINK_FORMS.values())}.")
    name: str | None = None
    if scheme != "faiss":  # a folder and a table or collection in it
        rest, sep, name = rest.rpartition("#")
        if not sep or not rest or not name.strip():
            raise OptionError(f"--write {shown}: write it as {SINK_FORMS[scheme]}.")
        if scheme in ("lancedb", "qdrant") and (
            not all(c.isalnum() or c in "_-." for c in name) or name.strip(".") == ""
        ):
            raise OptionError(f"--write {shown}: a table or collection name holds letters, digits, _, - and . only.")
    if not rest:
        raise OptionError(f"--write {shown}: write it as {SINK_FORMS[scheme]}.")
    path = Path(rest).expanduser()
    parent = path.parent
    if not parent.is_dir():
        raise OptionError(f"--write {shown}: the folder {shorten(printable(str(parent)), 120)} does not exist.")
    if scheme == "faiss" and path.is_dir():
        raise OptionError(f"--write {shown}: {SINK_FORMS['faiss']} names an index file, and this is a folder.")
    if scheme != "faiss" and path.exists() and not path.is_dir():
        raise OptionError(f"--write {shown}: {SINK_FORMS[scheme]} names a folder, and this is a file.")
    return SinkSpec(scheme, path, name)


def sink_exists(spec: SinkSpec) -> bool:
    """True when the table or index file is already there."""
    if spec.scheme == "faiss":
        return spec.path.exists()
    if spec.scheme == "qdrant":
        return (spec.path / str(spec.name)).exists()
    if not spec.path.is_dir():
        return False
    lancedb = import_store_library("lancedb", "lancedb")
    return spec.name in table_names(lancedb.connect(str(spec.path)))


def check_sink(spec: SinkSpec, precision: str, replace: bool) -> None:
    """Refuse, before any work, a precision the store cannot hold or an existing target without ``replace``."""
    if precision not in PRECISIONS:
        raise OptionError(f"--precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    import_store_library(SINK_MODULES[spec.scheme], spec.scheme)
    if sink_exists(spec) and not replace:
        what = {"faiss": "index file", "qdrant": "collection"}.get(spec.scheme, "table")
        raise OptionError(
            f"--write {spec.display}: the {what} exists; add --replace to overwrite it, or name a new one."
        )


def check_width(spec: SinkSpec, precision: str, width: int) -> None:
    """FAISS binary indexes hold whole bytes of bits: refuse another width before writing."""
    if spec.scheme == "faiss" and precision == "binary" and width % 8:
        raise OptionError(
            f"--write {spec.display}: FAISS binary indexes need a multiple of 8 dimensions and this point has "
            f"{width}; choose a K that is, or binary-rescore (IndexLSH holds any width)."
        )


@dataclass(frozen=True)
class Searched:
    """The store's answers: for each query its top ids (best first) and the seconds its search took."""

    ids: list[list[int]]
    seconds: list[float]


def timed_search(search: Any, queries: np.ndarray, exclude: Sequence[int]) -> Searched:
    """Each query searched alone and timed; its own document (``exclude``, -1 for none) is asked one more
    result for and dropped, as DimScope leaves a query's own document out of its ranking."""
    ids: list[list[int]] = []
    seconds: list[float] = []
    for q, own in zip(queries, exclude, strict=True):
        started = time.perf_counter()
        found = search(q, 1 if own >= 0 else 0)
        seconds.append(time.perf_counter() - started)
        ids.append([int(i) for i in found if int(i) != own][:TOP_K])
    return Searched(ids, seconds)


# --------------------------------------------------------------------------- LanceDB


def _lance_table(documents: np.ndarray, texts: Sequence[str], labels: Sequence[str] | None, precision: str) -> Any:
    import pyarrow as pa

    n, width = documents.shape
    columns = {"id": pa.array(np.arange(n, dtype=np.int64)), "text": pa.array(list(texts), pa.string())}
    if labels is not None:
        columns["label"] = pa.array([str(x) for x in labels], pa.string())
    flat = pa.array(np.ascontiguousarray(documents, dtype=np.float32).reshape(-1), pa.float32())
    columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, width)
    if precision.startswith("binary"):
        bits = binary_codes(documents)
        columns["bits"] = pa.FixedSizeListArray.from_arrays(pa.array(bits.reshape(-1), pa.uint8()), bits.shape[1])
    return pa.table(columns)


def write_lancedb(
    spec: SinkSpec, documents: np.ndarray, texts: Sequence[str], labels: Sequence[str] | None, precision: str
) -> dict[str, Any]:
    """Write the table (and its index); returns the settings used. Leaves the folder as it was on failure."""
    lancedb = import_store_library("lancedb", "lancedb")
    data = _lance_table(documents, texts, labels, precision)
    db = lancedb.connect(str(spec.path))
    folder = spec.path / f"{spec.name}.lance"
    backup = None
    if spec.name in table_names(db):
        # LanceDB OSS cannot rename a table, and restoring a version still adds one: keep the bytes aside.
        backup = spec.path / f".{spec.name}.lance.{uuid.uuid4().hex}.backup"
        shutil.copytree(folder, backup)
    try:
        if backup is not None:
            db.drop_table(spec.name)  # the replaced table's old versions go too: it holds this write only
        table = db.create_table(spec.name, data)
        if precision == "int8":
            from lancedb.index import IvfSq

            table.create_index("vector", config=IvfSq(distance_type="cosine", num_partitions=1))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if backup is not None:
            os.replace(backup, folder)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return _lance_settings(precision, documents.shape[1])


def _lance_settings(precision: str, width: int) -> dict[str, Any]:
    if precision == "float32":
        return {"index": None, "search": 'search(q).distance_type("cosine").limit(10)', "exact": True}
    if precision == "int8":
        return {
            "index": 'create_index("vector", config=IvfSq(distance_type="cosine", num_partitions=1))',
            "search": 'search(q).distance_type("cosine").limit(10)',
            "exact": False,
        }
    search = f'search(packbits(q > 0), vector_column_name="bits").distance_type("hamming").limit({TOP_K})'
    if precision == "binary-rescore":
        search = (
            f'search(packbits(q > 0), vector_column_name="bits").distance_type("hamming").limit({RESCORE_CANDIDATES})'
            f', then search(q, vector_column_name="vector").distance_type("cosine").where("id IN (<those ids>)", '
            f"prefilter=True).limit({TOP_K})"
        )
    return {"index": None, "bits_column": f"bits: fixed_size_list<uint8>[{-(-width // 8)}]", "search": search}


def search_lancedb(spec: SinkSpec, queries: np.ndarray, precision: str, exclude: Sequence[int]) -> Searched:
    """The top ``TOP_K`` ids per query, through LanceDB's own search."""
    lancedb = import_store_library("lancedb", "lancedb")
    table = lancedb.connect(str(spec.path)).open_table(spec.name)

    def ids(result: Any) -> list[int]:
        return [int(i) for i in result.column("id").to_pylist()]

    def search(q: np.ndarray, extra: int) -> list[int]:
        if precision in ("float32", "int8"):
            found = table.search(q, vector_column_name="vector").distance_type("cosine").select(["id", "_distance"])
            return ids(found.limit(TOP_K + extra).to_arrow())
        bits = binary_codes(q[None, :])[0]
        depth = (RESCORE_CANDIDATES if precision == "binary-rescore" else TOP_K) + extra
        hamming = table.search(bits, vector_column_name="bits").distance_type("hamming").select(["id", "_distance"])
        candidates = ids(hamming.limit(depth).to_arrow())
        if precision == "binary":
            return candidates
        rescored = (
            table.search(q, vector_column_name="vector")
            .distance_type("cosine")
            .where(f"id IN ({', '.join(map(str, candidates))})", prefilter=True)
            .select(["id", "_distance"])
            .limit(TOP_K + extra)
        )
        return ids(rescored.to_arrow())

    return timed_search(search, queries, exclude)


# --------------------------------------------------------------------------- FAISS


def _faiss_index(faiss: Any, documents: np.ndarray, precision: str) -> tuple[Any, dict[str, Any]]:
    width = int(documents.shape[1])
    x = np.ascontiguousarray(documents, dtype=np.float32)
    if precision == "binary":
        index = faiss.IndexBinaryFlat(width)
        index.add(binary_codes(x))
        return index, {"index": f"faiss.IndexBinaryFlat({width})", "exact": True}
    if precision == "binary-rescore":
        base = faiss.IndexLSH(width, width, False, False)  # no rotation, thresholds 0: the bits are x > 0
        index = faiss.IndexRefineFlat(base)
        index.k_factor = RESCORE_CANDIDATES / TOP_K
        index.add(x)
        index.referenced_objects = [base]  # the C++ refine index points at base: keep its wrapper alive
        return index, {
            "index": f"faiss.IndexRefineFlat(faiss.IndexLSH({width}, {width}, False, False)), "
            f"k_factor={RESCORE_CANDIDATES / TOP_K:g}",
            "bytes_per_vector": 4 * width + -(-width // 8),
            "exact": False,
        }
    key = "SQ8" if precision == "int8" else "Flat"
    index = faiss.index_factory(width, key, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        index.train(x)
    index.add(x)
    return index, {
        "index": f'faiss.index_factory({width}, "{key}", faiss.METRIC_INNER_PRODUCT)',
        "exact": key == "Flat",
    }


def write_faiss(spec: SinkSpec, documents: np.ndarray, precision: str, replace: bool) -> dict[str, Any]:
    """Write the index through a temporary file beside the target; the target is whole or as it was."""
    faiss = import_store_library("faiss", "faiss")
    index, settings = _faiss_index(faiss, documents, precision)
    temp = spec.path.with_name(f".{spec.path.name}.{uuid.uuid4().hex}.tmp")
    try:
        (faiss.write_index_binary if precision == "binary" else faiss.write_index)(index, str(temp))
        if replace:
            os.replace(temp, spec.path)
        else:
            os.link(temp, spec.path)  # fails if the target appeared meanwhile: never overwritten
    except FileExistsError:
        raise OptionError(f"--write {spec.display}: the index file exists; add --replace to overwrite it.") from None
    finally:
        temp.unlink(missing_ok=True)
    return settings


def search_faiss(spec: SinkSpec, queries: np.ndarray, precision: str, exclude: Sequence[int]) -> Searched:
    """The top ``TOP_K`` row numbers per query, through the written index file's own search."""
    faiss = import_store_library("faiss", "faiss")
    if precision == "binary":
        index = faiss.read_index_binary(str(spec.path))
        prepared = binary_codes(queries)
    else:
        index = faiss.read_index(str(spec.path))
        prepared = np.ascontiguousarray(queries, dtype=np.float32)

    def search(q: np.ndarray, extra: int) -> list[int]:
        _, found = index.search(q[None, :], TOP_K + extra)
        return [int(i) for i in found[0] if i >= 0]

    return timed_search(search, prepared, exclude)
