"""DimScope's analysis library: models, corpora, cached embeddings and per-dimension statistics.

Pure Python, no Streamlit. Heavy dependencies (torch, sentence_transformers) load only when
an embedding must actually be computed.

>>> from analysis import get_stats, load_corpus            # doctest: +SKIP
>>> get_stats("all-MiniLM-L6-v2", load_corpus("chatterbot-english")).dead_dims  # doctest: +SKIP
[127, 223, 319]
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names and the module each lives in; imported on first use to keep start-up cheap.
_EXPORTS = {
    "resolve_model": "analysis.models",
    "list_models": "analysis.models",
    "CATALOG": "analysis.models",
    "DEFAULT_MODEL": "analysis.models",
    "load_corpus": "analysis.corpora",
    "parse_corpus_bytes": "analysis.corpora",
    "DEFAULT_CORPUS": "analysis.corpora",
    "get_embeddings": "analysis.pipeline",
    "get_stats": "analysis.pipeline",
    "EncodeOptions": "analysis.pipeline",
    "DimScopeError": "analysis.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
