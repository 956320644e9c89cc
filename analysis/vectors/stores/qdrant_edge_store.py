"""A Qdrant Edge shard as an embeddings source: ``qdrant:PATH#NAME`` where ``PATH/NAME`` is a shard.

``qdrant:PATH#NAME`` names one of two things, told apart by their files (:func:`open_qdrant`):

* a **Qdrant Edge shard** at ``PATH/NAME`` (it holds ``edge_config.json`` or ``segments/``): what
  ``compress --write qdrant:PATH#NAME`` writes with qdrant-edge-py, read here;
* a **qdrant-client local folder** at ``PATH`` (it holds ``meta.json``) with a collection ``NAME``:
  read without unpickling by :mod:`.qdrant_store`.

A folder that is neither is one line saying what was looked for and which shards it holds.

The shard is read through qdrant-edge-py's own API, never by parsing its segment files. But
``EdgeShard.load`` writes to the folder it opens, even to read (it rewrites ``edge_config.json``
and touches segment files), so DimScope copies the shard to a private temporary folder and opens
the copy; the user's shard is never opened by Qdrant and stays the same bytes. The copy keeps the
holes of sparse files (the write-ahead log preallocates 32 MiB files that are mostly holes), so it
costs disk and time in proportion to the data, not to the files' apparent size. A symlink in the
shard is refused rather than followed. The copy is removed when the reader is dropped.

Points come in ``scroll`` pages of :data:`SCROLL_ROWS` (Qdrant's order: by point id), the vector
asked for only or one payload key only, so memory stays bounded in the number of points. The
vector is the unnamed one, or a named one (``--vector-column``); a point without it is a missing
row. The scalar columns are ``id`` and the payload keys of the first points (``text`` and
``label`` for a shard the sink wrote). Vectors are what the shard stores, as float32: a quantized
shard (int8, binary) keeps the float vectors beside its codes, and those are read. Under Cosine
distance Qdrant stores each vector normalized, so the raw view is then the normalized one.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from analysis.corpora.decoding import printable, shorten
from analysis.errors import CorpusError
from analysis.vectors.layout import (
    Layout,
    VectorReader,
    check_dimension,
    column_label,
    reading,
    row_blocks,
)
from analysis.vectors.stores.qdrant_store import (
    HEAD_ROWS,
    META_FILE,
    UNNAMED,
    QdrantReader,
    choose_vector,
    point_column,
    scalar_columns,
    vector_sizes,
)
from analysis.vectors.stores.spec import (
    EDGE_CONFIG,
    EDGE_SEGMENTS,
    StoreSpec,
    edge_shard,
    import_store_library,
    is_edge_shard,
    names_line,
)

MODULE = "qdrant_edge"  # qdrant-edge-py
SCROLL_ROWS = 1024  # points per scroll page: their vectors arrive as Python floats (~32 bytes a value)
MAX_CONFIG_BYTES = 16 << 20
COPY_BLOCK = 1 << 20  # bytes per read when copying; a block of zeros becomes a hole
# qdrant-edge-py raises plain Exception for a damaged shard ("Service runtime error: ...").
EDGE_ERRORS: tuple[type[BaseException], ...] = (Exception,)


def open_qdrant(spec: StoreSpec, vector_column: str | None) -> VectorReader:
    """The reader for ``qdrant:PATH#NAME``: an Edge shard ``PATH/NAME``, else a local folder's collection."""
    shard = edge_shard(spec)
    if shard is not None:
        return EdgeReader(spec, shard, vector_column)
    if (spec.path / META_FILE).is_file():
        return QdrantReader(spec, vector_column)
    shown = shorten(printable(str(spec.path)), 200)
    if is_edge_shard(spec.path):
        parent = shorten(printable(str(spec.path.resolve().parent)), 200)
        raise CorpusError(
            f"qdrant: {shown} is itself a Qdrant Edge shard; name it as qdrant:{parent}#{printable(spec.path.name)}."
        )
    name = shorten(printable(str(spec.name)), 60)
    shards = names_line(shard_names(spec.path), "Edge shard")
    raise CorpusError(
        f"qdrant: {shown} is not a qdrant-client local folder (it has no {META_FILE}) and holds no Qdrant Edge "
        f"shard {name!r} (no {name}/{EDGE_CONFIG} or {name}/{EDGE_SEGMENTS}/); {shards}."
    )


def shard_names(folder: Path) -> list[str]:
    """The Edge shards directly inside ``folder`` (hidden folders, such as a sink's temporary ones, left out)."""
    try:
        with os.scandir(folder) as entries:
            return [
                e.name
                for e in entries
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False) and is_edge_shard(Path(e.path))
            ]
    except OSError:
        return []


def read_json(name: str, path: Path) -> Any:
    """A small JSON file of the shard, bounded, or a CorpusError naming it."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise CorpusError(f"{name}: {path.name} is larger than {MAX_CONFIG_BYTES:,} bytes.")
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise CorpusError(f"{name}: {path.name} is not readable JSON ({printable(str(exc))[:120]}).") from None


def shard_vectors(name: str, shard: Path) -> dict[str, Any]:
    """The shard's vector configuration: from ``edge_config.json``, else from its first segment's ``segment.json``."""
    if (shard / EDGE_CONFIG).is_file():
        config = read_json(name, shard / EDGE_CONFIG)
        return config if isinstance(config, dict) else {}
    segments = sorted(p for p in (shard / EDGE_SEGMENTS).glob("*/segment.json") if p.is_file())
    if not segments:
        raise CorpusError(f"{name} has no {EDGE_CONFIG} and no segments: it holds no points.")
    segment = read_json(name, segments[0])
    config = segment.get("config") if isinstance(segment, dict) else None
    return {"vectors": config.get("vector_data") if isinstance(config, dict) else None}


def copy_shard(name: str, source: Path, target: Path, inside: str = "") -> None:
    """Copy the shard's folders and regular files, keeping sparse files' holes; refuse symlinks and the like."""
    target.mkdir()
    with os.scandir(source) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            relative = f"{inside}{entry.name}"
            if stat.S_ISDIR(info.st_mode):
                copy_shard(name, Path(entry.path), target / entry.name, f"{relative}/")
            elif stat.S_ISREG(info.st_mode):
                copy_sparse(Path(entry.path), target / entry.name, info.st_size)
            else:  # a symlink could lead Qdrant outside the shard; a device or pipe is no shard file
                raise CorpusError(
                    f"{name}: {column_label(relative)} in the shard is not a file or folder (a symlink?); "
                    "DimScope reads only a shard's own files."
                )


def copy_sparse(source: Path, target: Path, size: int) -> None:
    zeros = bytes(COPY_BLOCK)
    with open(source, "rb") as src, open(target, "wb") as dst:
        while block := src.read(COPY_BLOCK):
            if block == zeros[: len(block)]:
                dst.seek(len(block), os.SEEK_CUR)  # a hole: nothing written
            else:
                dst.write(block)
        dst.truncate(size)


def release(opened: list[Any], folder: Path) -> None:
    """Close the shard, then remove the private copy (also when the reader is dropped half-built)."""
    for shard in opened:
        try:
            shard.close()
        except Exception:  # noqa: BLE001 - closing a damaged shard must not keep its copy on disk
            pass
    shutil.rmtree(folder, ignore_errors=True)


class EdgeReader(VectorReader):
    """One Qdrant Edge shard, opened by qdrant-edge-py from a private copy and scrolled through in pages."""

    def __init__(self, spec: StoreSpec, shard: Path, vector_column: str | None) -> None:
        self.edge = import_store_library(MODULE, "qdrant")
        self.name = f"qdrant:{spec.display}"
        sizes = dict(
            sorted(vector_sizes(self.name, shard_vectors(self.name, shard)).items())
        )  # the file's order varies
        chosen, self.vector_key = choose_vector(self.name, sizes, vector_column)
        dimension = check_dimension(self.name, sizes[self.vector_key])
        columns = tuple(UNNAMED if k == "" else k for k in sizes)
        self._copy = Path(tempfile.mkdtemp(prefix="dimscope-qdrant-edge-"))
        self._opened: list[Any] = []
        weakref.finalize(self, release, self._opened, self._copy)
        copy = self._copy / uuid.uuid4().hex
        with reading(self.name, "is not a readable Qdrant Edge shard", EDGE_ERRORS):
            copy_shard(self.name, shard, copy)
            self._opened.append(self.edge.EdgeShard.load(str(copy)))
            n_rows = int(self._opened[0].count(self.edge.CountRequest(exact=True)))
        if n_rows < 1:
            raise CorpusError(f"{self.name} has no points.")
        scalars = scalar_columns(r.payload for r in self._records(False, True, HEAD_ROWS))
        self.layout = Layout("qdrant", n_rows, dimension, "float32", chosen, (chosen, *scalars), scalars, columns)

    def _records(self, with_vector: Any, with_payload: Any, max_rows: int | None = None) -> Iterator[Any]:
        """The shard's points in Qdrant's order, a scroll page at a time; all of them unless ``max_rows``."""
        edge, shard = self.edge, self._opened[0]
        offset, seen = None, 0
        while max_rows is None or seen < max_rows:
            limit = SCROLL_ROWS if max_rows is None else min(SCROLL_ROWS, max_rows - seen)
            request = edge.ScrollRequest(offset=offset, limit=limit, with_payload=with_payload, with_vector=with_vector)
            with reading(self.name, "could not be read to the end", EDGE_ERRORS):
                records, offset = shard.scroll(request)
            yield from records
            seen += len(records)
            if offset is None or not records:
                break
        if max_rows is None and seen != self.layout.n_rows:
            raise CorpusError(f"{self.name}: read {seen:,} points where it counted {self.layout.n_rows:,}.")

    def pieces(self) -> Iterator[np.ndarray]:
        return row_blocks(self._vectors(), int(self.layout.dimension or 0), np.float32)

    def _vectors(self) -> Iterator[list[float] | None]:
        """Each point's chosen vector, None when it has none (a missing row); a wrong length is refused."""
        d, key = int(self.layout.dimension or 0), self.vector_key
        for row, record in enumerate(self._records(True if key == "" else [key], False)):
            vector = record.vector
            if isinstance(vector, dict):
                vector = vector.get(key)
            if vector is not None and (not isinstance(vector, list) or len(vector) != d):
                size = f"{len(vector):,} values" if isinstance(vector, list) else "no dense vector"
                raise CorpusError(
                    f"{self.name}: point {row:,} has {size} where the shard's vectors "
                    f"{column_label(self.layout.vector_column)} have {d:,}; every row needs the same dimension."
                )
            yield vector

    def column(self, column: str, max_rows: int | None = None, max_chars: int | None = None) -> list[Any]:
        records = self._records(  # a generator: nothing is read before point_column checks the column
            False, False if column == "id" else [column], max_rows
        )
        points = ((r.id if isinstance(r.id, int) else str(r.id), r.payload) for r in records)  # a UUID as its text
        return point_column(self.name, column, self.layout.scalar_columns, points, max_chars)
