"""Encoding texts with sentence-transformers, in two views.

* **raw**: the pooled vector, i.e. the model's pipeline *without* its trailing Normalize module.
  Most catalog models end in Normalize; using their final output as "raw" would make the two
  views identical.
* **normalized**: the raw vector divided by its L2 norm (what the model itself returns when it
  ends in Normalize).

torch and sentence_transformers are imported inside the functions that need them, so that a
request served from the cache never pays for them.

Backends (``EncodeOptions.backend``): ``"torch"`` (sentence-transformers, exact) and the ONNX
variants of :mod:`analysis.onnx_backend` that measured at least 1.3x faster on this kind of machine
(see ``OFFERED_BACKENDS`` and benchmarks/README.md).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import ModelUnavailableError
from analysis.models import ResolvedModel

ProgressCallback = Callable[[int, int], None]

VIEWS = ("raw", "normalized")

#: Encoding backends offered to users (the bar: at least 1.3x faster than torch here). "onnx-int8"
#: measured 1.7-2.9x faster on 2 shared cores, with normalized std within 7e-4 and the same dead
#: dimensions; plain "onnx" (fp32) 1.38-1.95x in four of five full runs (1.04x in the first), with
#: the same statistics to 4e-9. See benchmarks/README.md.
OFFERED_BACKENDS = ("torch", "onnx", "onnx-int8")


def available_backends() -> tuple[str, ...]:
    """Offered backends usable here (the ONNX ones need onnxruntime; checked without importing it)."""
    from analysis import onnx_backend

    return tuple(b for b in OFFERED_BACKENDS if b == "torch" or onnx_backend.onnxruntime_installed())


def prefer_passive_openmp() -> None:
    """Make OpenMP threads sleep instead of spin while waiting, unless the user chose otherwise.

    torch's OpenMP pool spins at every barrier by default. On 2 shared cores with other work
    running, that made encoding 3-9x slower (300 texts: 25.7 s spinning vs 2.8 s passive at load
    7); on an idle machine the two are within noise. It must be set before torch is imported.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
_ENCODE_LOCK = threading.Lock()
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


def _load_uncached(resolved: ResolvedModel) -> LoadedModel:
    prefer_passive_openmp()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelUnavailableError(
            f"sentence-transformers cannot be imported ({exc}). Install the requirements: pip install -r requirements.txt"
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


def encode_raw(
    resolved: ResolvedModel,
    texts: Sequence[str],
    *,
    prompt: str = "",
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    chunk_size: int = 256,
    backend: str = "torch",
) -> np.ndarray:
    """Pooled (pre-Normalize) embeddings as float32, one row per text, in the order given.

    Texts are encoded longest-first in chunks so that padding is small; ``progress(done, total)``
    is called after each chunk (and once with (0, total) at the start). ``backend`` "onnx" or
    "onnx-int8" runs :func:`analysis.onnx_backend.encode_raw_onnx` instead (no torch import once
    the model has been exported).
    """
    if backend != "torch":
        from analysis import onnx_backend

        if backend not in onnx_backend.ONNX_BACKENDS:
            raise ValueError(f"unknown backend {backend!r}")
        return onnx_backend.encode_raw_onnx(
            resolved, texts, prompt=prompt, batch_size=batch_size, progress=progress,
            quantized=onnx_backend.ONNX_BACKENDS[backend], chunk_size=chunk_size,
        )
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
    # One encode at a time per process: two torch encodes on 2 cores only thrash.
    with _ENCODE_LOCK, torch.inference_mode():
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


def l2_normalize(raw: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (float32). Zero rows stay zero instead of becoming NaN."""
    norms = np.linalg.norm(raw, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    return (raw / norms).astype(np.float32, copy=False)


def view_of(raw: np.ndarray, view: str) -> np.ndarray:
    """The requested view of a raw embedding matrix."""
    if view == "raw":
        return raw
    if view == "normalized":
        return l2_normalize(raw)
    raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")


def count_truncated(resolved: ResolvedModel, texts: Sequence[str], prompt: str = "") -> int:
    """How many texts are longer than the model's maximum sequence length in tokens (and get cut).

    Counts with the model's fast tokenizer (Rust, ``encode_batch``) and never loads the model when
    it is not loaded already: 2,000 texts take ~0.05 s instead of ~1 s through the Python
    tokenizer call, and the ONNX backend stays free of torch. Falls back to the loaded model's
    tokenizer when the folder has no ``tokenizer.json``.
    """
    counter = _token_counter(resolved)
    if counter is None:
        return _count_truncated_slow(resolved, texts, prompt)
    tokenizer, limit, lower = counter
    if not limit or not texts:
        return 0
    count = 0
    for start in range(0, len(texts), 4096):
        batch = [prompt + t for t in texts[start : start + 4096]]
        if lower:
            batch = [t.lower() for t in batch]
        count += sum(len(e.ids) > limit for e in tokenizer.encode_batch(batch, add_special_tokens=True))
    return count


_COUNTERS: dict[str, tuple[Any, int, bool]] = {}


def _token_counter(resolved: ResolvedModel) -> tuple[Any, int, bool] | None:
    """(tokenizers.Tokenizer without truncation or padding, max_seq_length, lower-case?) or None."""
    cached = _COUNTERS.get(resolved.fingerprint)
    if cached is not None:
        return cached
    try:
        from tokenizers import Tokenizer

        from analysis.onnx_backend import tokenizer_settings

        tokenizer_file, limit, lower = tokenizer_settings(resolved.path)
        loaded = _LOADED.get(resolved.fingerprint)
        if loaded is not None:  # the limit sentence-transformers really uses
            limit = loaded.max_seq_length or 0
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception:  # noqa: BLE001 - any odd folder (no tokenizer.json, bad JSON): the slow path
        return None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    _COUNTERS[resolved.fingerprint] = (tokenizer, int(limit or 0), lower)
    return _COUNTERS[resolved.fingerprint]


def _count_truncated_slow(resolved: ResolvedModel, texts: Sequence[str], prompt: str = "") -> int:
    """The straightforward count through the loaded model's tokenizer (the reference)."""
    loaded = load_model(resolved)
    limit = loaded.max_seq_length
    tokenizer = loaded.tokenizer
    if not limit or tokenizer is None:
        return 0
    count = 0
    for start in range(0, len(texts), 512):
        batch = [prompt + t for t in texts[start : start + 512]]
        encoded = tokenizer(batch, add_special_tokens=True, truncation=False)["input_ids"]
        count += sum(len(ids) > limit for ids in encoded)
    return count
