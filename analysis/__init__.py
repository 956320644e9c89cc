"""DimScope's analysis library: look inside sentence-embedding models one dimension at a time.

Pure Python, no Streamlit. Heavy dependencies (torch, sentence_transformers, pandas) load only
when they are needed, so ``import analysis`` is instant and a cached request never encodes.

>>> import analysis
>>> "stats" in dir(analysis) and "stats" in analysis.__all__
True

Three lines in a notebook (run for real in ``tests/test_docs.py`` through the README)::

    result = analysis.stats("all-MiniLM-L6-v2", "chatterbot-english")
    result.dead_dims                  # [127, 223, 319]
    result.plot_std(); result.plot_heatmap()

Subpackages, from the bottom up: :mod:`~analysis.models`, :mod:`~analysis.corpora`,
:mod:`~analysis.encoding`, :mod:`~analysis.measures` (the dimension math), the cache and the
cached :mod:`~analysis.pipeline`, :mod:`~analysis.reports`, :mod:`~analysis.figures` and
:mod:`~analysis.cli`. See docs/architecture.md.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from analysis.settings import VERSION

__version__ = VERSION  # defined once, in the base

# Public names and the module each lives in; imported on first use to keep start-up cheap.
_EXPORTS: dict[str, str] = {
    "stats": "analysis.api",
    "get_stats": "analysis.pipeline",
    "get_embeddings": "analysis.pipeline",
    "EncodeOptions": "analysis.pipeline",
    "StatsResult": "analysis.pipeline",
    "EmbeddingResult": "analysis.pipeline",
    "default_store": "analysis.pipeline.cache",
    "resolve_model": "analysis.models",
    "list_models": "analysis.models",
    "ResolvedModel": "analysis.models",
    "CATALOG": "analysis.models",
    "DEFAULT_MODEL": "analysis.models",
    "Corpus": "analysis.corpora",
    "load_corpus": "analysis.corpora",
    "corpus_from_texts": "analysis.corpora",
    "parse_corpus_bytes": "analysis.corpora",
    "load_retrieval_task": "analysis.corpora",
    "RetrievalTask": "analysis.corpora",
    "DEFAULT_CORPUS": "analysis.corpora",
    "open_vectors": "analysis.vectors",
    "VectorSource": "analysis.vectors",
    "geometry_report": "analysis.reports.geometry",
    "selection_report": "analysis.reports.selection",
    "diagnosis_report": "analysis.reports.diagnosis",
    "multilingual_report": "analysis.reports.multilingual",
    "compress_report": "analysis.reports.compress",
    "GeometryReport": "analysis.reports.geometry",
    "SelectionReport": "analysis.reports.selection",
    "DiagnosisReport": "analysis.reports.diagnosis",
    "MultilingualReport": "analysis.reports.multilingual",
    "CompressReport": "analysis.reports.compress",
    "DimScopeError": "analysis.errors",
}

__all__ = sorted(_EXPORTS)


# Names of 0.2 that now have another, kept for old code with a warning (not in __all__).
_RENAMED: dict[str, str] = {"compression_report": "compress_report", "CompressionReport": "CompressReport"}


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        warnings.warn(
            f"analysis.{name} is now analysis.{_RENAMED[name]}; the old name goes in a later version.",
            DeprecationWarning,
            stacklevel=2,
        )
        return __getattr__(_RENAMED[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
