"""Encoding with sentence-transformers on torch: the reference backend.

The model is loaded with its trailing Normalize module removed, so that it returns the pooled
vector (the *raw* view); most catalog models end in Normalize, and using their final output as
"raw" would make the raw and normalized views identical.

torch and sentence_transformers are imported inside the functions that need them, so that a
request served from the cache never pays for them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.encoding.runtime import ProgressCallback, prefer_passive_openmp
from analysis.errors import ModelUnavailableError
from analysis.models.resolve import ResolvedModel
from analysis.settings import timed


@dataclass
class LoadedModel:
    """A sentence-transformers model with its Normalize module removed, plus what was removed."""

    model: Any  # sentence_transformers.SentenceTransformer
    ends_with_normalize: bool
    dimension: int
    max_seq_length: int | None
    tokenizer: Any


_LOADED: dict[str, LoadedModel] = {}
_LOAD_LOCK = threading.Lock()
# One encode at a time per loaded model: a fast tokenizer used from two threads at once fails
# ("Already borrowed"). How many encodes run at once overall is the encode line's job
# (analysis.encoding.queue), which the pipeline goes through.
_ENCODE_LOCKS: dict[str, threading.Lock] = {}
_MAX_LOADED_MODELS = 2


def load_model(resolved: ResolvedModel) -> LoadedModel:
    """Load (once per process) and strip the trailing Normalize module.

    At most two models stay in memory; the least recently loaded goes first.
    """
    with _LOAD_LOCK:
        cached = _LOADED.get(resolved.fingerprint)
        if cached is not None:
            return cached
        loaded = _load_uncached(resolved)
        while len(_LOADED) >= _MAX_LOADED_MODELS:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[resolved.fingerprint] = loaded
        return loaded


@timed("model load")
def _load_uncached(resolved: ResolvedModel) -> LoadedModel:
    prefer_passive_openmp()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelUnavailableError(
            f"sentence-transformers cannot be imported ({exc}). "
            "Install the requirements: pip install -r requirements.txt"
        ) from None
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # our own progress callback reports instead
    except ImportError:  # pragma: no cover
        pass
    try:
        model = SentenceTransformer(
            str(resolved.path), device="cpu", trust_remote_code=resolved.trust_remote_code, local_files_only=True
        )
    except Exception as exc:  # a folder can fail in many ways (bad config, missing tokenizer, bad weights)
        first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(
            f"Could not load the model in {resolved.path} ({type(exc).__name__}: {first_line}). "
            "Check that the folder was written by SentenceTransformer.save() and is complete."
        ) from None
    model.eval()
    ends_with_normalize = len(model) > 0 and type(model[len(model) - 1]).__name__ == "Normalize"
    if ends_with_normalize:
        del model[len(model) - 1]
    dimension = model.get_embedding_dimension()
    return LoadedModel(
        model=model,
        ends_with_normalize=ends_with_normalize,
        dimension=int(dimension) if dimension else 0,
        max_seq_length=getattr(model, "max_seq_length", None),
        tokenizer=getattr(model, "tokenizer", None),
    )


def unload_model(resolved: ResolvedModel) -> None:
    """Drop the model from this process (a calibration that loaded it only to compare)."""
    with _LOAD_LOCK:
        _LOADED.pop(resolved.fingerprint, None)


def loaded_model(resolved: ResolvedModel) -> LoadedModel | None:
    """The model if this process has loaded it already, else None (never loads)."""
    return _LOADED.get(resolved.fingerprint)


def encode_raw_torch(
    resolved: ResolvedModel,
    texts: Sequence[str],
    *,
    prompt: str = "",
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    chunk_size: int = 256,
    bf16: bool = False,
) -> np.ndarray:
    """Pooled (pre-Normalize) embeddings as float32, one row per text, in the order given.

    Texts are encoded longest-first in chunks so that padding is small; ``progress(done, total)``
    is called after each chunk (and once with (0, total) at the start). ``bf16`` runs the model
    under ``torch.autocast`` in bfloat16 (fast only on CPUs with native bf16); pooling and the
    returned vectors stay float32.
    """
    total = len(texts)
    if progress:
        progress(0, total)
    loaded = load_model(resolved)
    if total == 0:
        return np.zeros((0, loaded.dimension), dtype=np.float32)
    import torch

    order = np.argsort([-len(t) for t in texts], kind="stable")
    out: np.ndarray | None = None
    done = 0
    with _LOAD_LOCK:
        encode_lock = _ENCODE_LOCKS.setdefault(resolved.fingerprint, threading.Lock())
    with encode_lock, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, total, chunk_size):
            idx = order[start : start + chunk_size]
            batch = [prompt + texts[i] for i in idx]
            vectors = loaded.model.encode(
                batch,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
            vectors = np.asarray(vectors, dtype=np.float32)
            if out is None:
                out = np.empty((total, vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
            done += len(idx)
            if progress:
                progress(done, total)
    assert out is not None
    return out
