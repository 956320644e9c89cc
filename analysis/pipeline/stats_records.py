"""Both views' per-dimension statistics as records in the cache: read (and checked), written, or
computed from cached embeddings a chunk at a time; and the cache warnings of one request.

The pipeline's statistics for a model and for a vectors file go through these, so a damaged or
malformed record is handled one way: deleted, and recomputed by the caller.
"""

from __future__ import annotations

import numpy as np

from analysis.measures import stats as stats_module
from analysis.pipeline.cache import CorruptEntry, EmbeddingStore

# One view's statistics as plain numpy columns, keyed by ``stats.STAT_COLUMNS``.
StatColumns = dict[str, np.ndarray]

STREAM_CHUNK_ROWS = 8192  # rows per chunk when statistics are streamed (bounded memory)


def write_stat_columns(store: EmbeddingStore, keys: dict[str, str], columns: dict[str, StatColumns]) -> None:
    """Store each view's columns under ``keys[view]`` as a JSON record in ``STAT_COLUMNS`` order."""
    for view, view_columns in columns.items():
        store.put_json(keys[view], {name: view_columns[name].tolist() for name in stats_module.STAT_COLUMNS})


def request_warnings(store: EmbeddingStore, start: int) -> list[str]:
    """Warnings raised during this request (deduplicated), plus a standing one if the cache is unusable."""
    count = store.warnings_total - start
    fresh = list(dict.fromkeys(store.warnings[-count:])) if count > 0 else []
    if not store.enabled and store.warnings and store.warnings[0] not in fresh:
        fresh = [store.warnings[0], *fresh]
    return fresh


def cached_stat_columns(store: EmbeddingStore, keys: dict[str, str]) -> dict[str, StatColumns] | None:
    """Both views' statistics from the cache, or None when either is missing or malformed."""
    out = {}
    for view, key in keys.items():
        record = store.get_json(key)
        if not isinstance(record, dict) or list(record) != stats_module.STAT_COLUMNS:
            return None
        try:
            columns = {
                name: np.asarray(record[name], dtype=np.int64 if name == "dim" else np.float64)
                for name in stats_module.STAT_COLUMNS
            }
        except (TypeError, ValueError):
            columns = None
        if columns is None or len({c.shape for c in columns.values()}) != 1 or columns["dim"].ndim != 1:
            store.delete(key)
            return None
        out[view] = columns
    if len({len(c["dim"]) for c in out.values()}) != 1:
        return None
    return out


def stream_stat_columns(store: EmbeddingStore, key: str, n_rows: int) -> dict[str, StatColumns] | None:
    """Statistics from cached embeddings, read a chunk at a time (bounded memory)."""
    stream = store.stream_array(key)
    if stream is None:
        return None
    if stream.shape[0] != n_rows:
        stream.close()
        return None
    try:
        columns = stats_module.stats_columns(stream.chunks(STREAM_CHUNK_ROWS), stream.shape[1])
    except CorruptEntry as exc:
        store.warn(f"A cached array was damaged ({exc}); it was removed and will be recomputed.")
        store.delete(key)
        return None
    return columns if stream.verified else None
