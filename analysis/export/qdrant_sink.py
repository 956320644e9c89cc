"""Qdrant as a sink: ``--write qdrant:FOLDER#COLLECTION`` writes a Qdrant Edge shard and searches it there.

The store is Qdrant's own engine, embedded: qdrant-edge-py (the Rust segments, quantization and
search of a Qdrant server, in process), not qdrant-client's local mode, which keeps float vectors
in Python and ignores ``quantization_config`` (qdrant-client #909), so it could not measure int8 or
binary at all. The shard is ``FOLDER/COLLECTION`` (``EdgeShard.load`` opens it); points have the
document's row number as id and ``text`` (and ``label``) as payload; vectors are the point's unit
vectors, float32, distance Cosine.

* float32: no quantization, searched with ``SearchParams(exact=True)``: exact.
* int8: ``ScalarQuantizationConfig(type=Int8, always_ram=True)``, Qdrant's scalar quantizer (one
  range for all dimensions, from the quantile of all values), searched without rescoring.
* binary: ``BinaryQuantizationConfig(always_ram=True)`` (a bit per dimension, ``x > 0``),
  searched without rescoring.
* binary-rescore: the same shard, searched with ``rescore=True`` and ``oversampling =
  RESCORE_CANDIDATES / 10``: Qdrant takes the top ``RESCORE_CANDIDATES`` by the bits and re-ranks
  them with the float vectors it keeps beside them.

The quantized searches run over the quantized vectors because the shard is optimized after the
write (``indexing_threshold=1``: the segment is indexed and its quantized vectors are built) with
``HnswIndexConfig(m=0)``: no graph, so the index is a full scan of the quantized vectors and the
only approximation is the quantization (an HNSW graph would add its own). ``exact=True`` would skip
the quantized vectors, so the quantized searches do not set it.

``--embeddings qdrant:FOLDER#COLLECTION`` reads the shard back (the float vectors it keeps beside
the quantized ones, ``text`` and ``label``): :mod:`analysis.vectors.stores.qdrant_edge_store`.

The shard is built in a temporary folder beside the target and renamed into place: a new target
is whole or absent; with ``--replace`` the old shard is renamed aside first and renamed back if
the new one cannot be put in its place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.export.store_sinks import TOP_K, Searched, SinkSpec, timed_search
from analysis.measures.retrieval import RESCORE_CANDIDATES
from analysis.vectors.stores.spec import import_store_library

MODULE = "qdrant_edge"  # qdrant-edge-py
BATCH = 1024  # points per upsert


def shard_path(spec: SinkSpec) -> Path:
    return spec.path / str(spec.name)


def qdrant_exists(spec: SinkSpec) -> bool:
    return shard_path(spec).exists()


def _config(edge: Any, width: int, precision: str) -> tuple[Any, str]:
    quantization, shown = None, "None"
    if precision == "int8":
        quantization = edge.ScalarQuantizationConfig(type=edge.ScalarType.Int8, always_ram=True)
        shown = "ScalarQuantizationConfig(type=ScalarType.Int8, always_ram=True)"
    elif precision.startswith("binary"):
        quantization = edge.BinaryQuantizationConfig(always_ram=True)
        shown = "BinaryQuantizationConfig(always_ram=True)"
    config = edge.EdgeConfig(
        vectors=edge.EdgeVectorParams(size=width, distance=edge.Distance.Cosine),
        quantization_config=quantization,
        hnsw_config=edge.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10),
        optimizers=edge.EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1),
    )
    text = (
        f"EdgeConfig(vectors=EdgeVectorParams(size={width}, distance=Distance.Cosine), quantization_config={shown}, "
        "hnsw_config=HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10), "
        "optimizers=EdgeOptimizersConfig(indexing_threshold=1, default_segment_number=1)), then optimize()"
    )
    return config, text


def _search_params(edge: Any, precision: str) -> tuple[Any, str]:
    if precision == "float32":
        return edge.SearchParams(exact=True), "SearchParams(exact=True)"
    rescore = precision == "binary-rescore"
    oversampling = RESCORE_CANDIDATES / TOP_K if rescore else None
    params = edge.SearchParams(quantization=edge.QuantizationSearchParams(rescore=rescore, oversampling=oversampling))
    shown = f"rescore={rescore}" + (f", oversampling={oversampling:g}" if rescore else "")
    return params, f"SearchParams(quantization=QuantizationSearchParams({shown}))"


def _batches(n: int) -> Iterator[range]:
    for start in range(0, n, BATCH):
        yield range(start, min(start + BATCH, n))


def write_qdrant(
    spec: SinkSpec,
    documents: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str] | None,
    precision: str,
    replace: bool,
) -> dict[str, Any]:
    """Build the shard beside the target and rename it into place; returns the settings used."""
    edge = import_store_library(MODULE, "qdrant")
    target = shard_path(spec)
    config, config_text = _config(edge, int(documents.shape[1]), precision)
    temp = spec.path / f".{spec.name}.{uuid.uuid4().hex}.tmp"
    vectors = np.ascontiguousarray(documents, dtype=np.float32)
    try:
        shard = edge.EdgeShard.create(str(temp), config)
        try:
            for rows in _batches(vectors.shape[0]):
                points = [
                    edge.Point(
                        id=i,
                        vector=vectors[i].tolist(),
                        payload={"text": texts[i]} if labels is None else {"text": texts[i], "label": str(labels[i])},
                    )
                    for i in rows
                ]
                shard.update(edge.UpdateOperation.upsert_points(points))
            shard.flush()
            shard.optimize()  # builds the indexed segment and its quantized vectors
        finally:
            shard.close()
        _put_in_place(spec, temp, target, replace)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    _, search_text = _search_params(edge, precision)
    return {
        "engine": f"qdrant-edge-py {_version()} (Qdrant's engine, embedded)",
        "shard": f"{spec.name}/ in {spec.path.name}",
        "config": config_text,
        "search": f"query(QueryRequest(query=Query.Nearest(q), limit={TOP_K}, params={search_text}))",
        "exact": precision == "float32",
    }


def _put_in_place(spec: SinkSpec, temp: Path, target: Path, replace: bool) -> None:
    if not target.exists():
        try:
            os.rename(temp, target)
        except OSError:  # it appeared meanwhile (a folder that is not empty): never overwritten
            raise OptionError(
                f"--write {spec.display}: the collection exists; add --replace to overwrite it."
            ) from None
        return
    if not replace:
        raise OptionError(f"--write {spec.display}: the collection exists; add --replace to overwrite it.")
    aside = spec.path / f".{spec.name}.{uuid.uuid4().hex}.old"
    os.rename(target, aside)
    try:
        os.rename(temp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    with contextlib.suppress(PackageNotFoundError):
        return version("qdrant-edge-py")
    return "?"


def search_qdrant(spec: SinkSpec, queries: np.ndarray, precision: str, exclude: Sequence[int]) -> Searched:
    """The top ``TOP_K`` ids per query, through the shard's own search."""
    edge = import_store_library(MODULE, "qdrant")
    params, _ = _search_params(edge, precision)
    shard = edge.EdgeShard.load(str(shard_path(spec)))
    try:

        def search(q: np.ndarray, extra: int) -> list[int]:
            request = edge.QueryRequest(
                limit=TOP_K + extra, query=edge.Query.Nearest(q.tolist()), params=params, with_payload=False
            )
            return [int(p.id) for p in shard.query(request)]

        return timed_search(search, np.ascontiguousarray(queries, dtype=np.float32), exclude)
    finally:
        shard.close()


def qdrant_notes(precision: str) -> list[str]:
    """What Qdrant does differently from DimScope's prediction at ``precision``."""
    notes = []
    if precision == "int8":
        notes.append(
            "The store quantizes the documents with its own 8-bit scalar quantizer and compares them with the float "
            "query; DimScope's prediction quantizes both sides with ranges calibrated on the documents. Qdrant's "
            "scalar quantization keeps ONE range for all dimensions (from the quantile of all values), so dimensions "
            "of small spread get few levels. Full scan (HnswIndexConfig(m=0)), no rescoring."
        )
    if precision.startswith("binary"):
        notes.append(
            "Qdrant's binary quantization encodes the query's signs too and scores by matching bits: the same "
            "Hamming ranking DimScope predicts. Full scan (HnswIndexConfig(m=0))."
        )
    return notes
