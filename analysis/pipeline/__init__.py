"""The cached path from (model, corpus, options) to embeddings and statistics.

One package for everything a request passes through between the caller and the models: the result
types (``results``), the keys and the resolving of ``backend="auto"`` (``encode_options``), embeddings
computed or reused row by row (``embeddings``), statistics (``statistics``, ``stats_records``), the
stores (``cache``: the disk; ``cache_disk``: its pickle-free Disk; ``memory_cache``: a session's
memory) and work started ahead of the page that shows it (``ahead``).

The public names load on first use, so that ``import analysis.pipeline.cache`` (the diagnosis CLI)
does not pull in the corpus readers or numpy's users::

    from analysis.pipeline import get_stats, EncodeOptions
    result = get_stats("all-MiniLM-L6-v2", load_corpus("chatterbot-english"), store=default_store())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the type checker sees the real names; at run time __getattr__ loads them
    from analysis.pipeline.embeddings import (
        EmbeddingResult,
        as_source,
        cached_embeddings,
        get_embeddings,
        own_rows,
        text_hashes,
    )
    from analysis.pipeline.encode_options import (
        EncodeOptions,
        ModelSource,
        concrete_options,
        embeddings_key,
        stats_key,
    )
    from analysis.pipeline.results import StatsResult
    from analysis.pipeline.statistics import get_stats, stats_result

# Public names and the module each lives in.
_EXPORTS: dict[str, str] = {
    "EmbeddingResult": "analysis.pipeline.embeddings",
    "StatsResult": "analysis.pipeline.results",
    "as_source": "analysis.pipeline.embeddings",
    "cached_embeddings": "analysis.pipeline.embeddings",
    "get_embeddings": "analysis.pipeline.embeddings",
    "get_stats": "analysis.pipeline.statistics",
    "own_rows": "analysis.pipeline.embeddings",
    "stats_result": "analysis.pipeline.statistics",
    "text_hashes": "analysis.pipeline.embeddings",
    "EncodeOptions": "analysis.pipeline.encode_options",
    "ModelSource": "analysis.pipeline.encode_options",
    "concrete_options": "analysis.pipeline.encode_options",
    "embeddings_key": "analysis.pipeline.encode_options",
    "stats_key": "analysis.pipeline.encode_options",
}

__all__ = [  # a literal list, so that linters see the re-exports; tests/test_architecture.py keeps it equal to _EXPORTS
    "EmbeddingResult",
    "EncodeOptions",
    "ModelSource",
    "StatsResult",
    "as_source",
    "cached_embeddings",
    "concrete_options",
    "embeddings_key",
    "get_embeddings",
    "get_stats",
    "own_rows",
    "stats_key",
    "stats_result",
    "text_hashes",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis.pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
