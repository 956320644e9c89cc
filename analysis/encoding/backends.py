"""One dispatch for every encoding backend: text in, pooled (pre-Normalize) float32 vectors out.

Backends (``EncodeOptions.backend``):

* ``"torch"``: sentence-transformers on torch, the exact reference (:mod:`.torch_backend`);
* ``"onnx"`` and ``"onnx-int8"``: the model's Transformer exported to ONNX and run by
  onnxruntime, pooling in numpy (:mod:`.onnx_backend`). They are offered because they measured at
  least 1.3x faster than torch on 2 shared cores: "onnx-int8" 1.7-2.9x with normalized std within
  7e-4 and the same dead dimensions; plain "onnx" (fp32) 1.38-1.95x in four of five full runs
  (1.04x in the first), with the same statistics to 4e-9. See benchmarks/README.md.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence

import numpy as np

from analysis.encoding.runtime import ProgressCallback
from analysis.models.resolve import ResolvedModel

#: Encoding backends offered to users, the reference first.
OFFERED_BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
#: The ONNX backends and whether each quantizes its weights to int8.
ONNX_BACKENDS: dict[str, bool] = {"onnx": False, "onnx-int8": True}


def onnxruntime_installed() -> bool:
    """True when onnxruntime can be imported (checked without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def available_backends() -> tuple[str, ...]:
    """Offered backends usable here (the ONNX ones need onnxruntime)."""
    return tuple(b for b in OFFERED_BACKENDS if b == "torch" or onnxruntime_installed())


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

    ``progress(done, total)`` is called once with ``(0, total)`` and after each chunk.
    """
    if backend == "torch":
        from analysis.encoding.torch_backend import encode_raw_torch

        return encode_raw_torch(
            resolved, texts, prompt=prompt, batch_size=batch_size, progress=progress, chunk_size=chunk_size
        )
    if backend in ONNX_BACKENDS:
        from analysis.encoding.onnx_backend import encode_raw_onnx

        return encode_raw_onnx(
            resolved,
            texts,
            prompt=prompt,
            batch_size=batch_size,
            progress=progress,
            quantized=ONNX_BACKENDS[backend],
            chunk_size=chunk_size,
        )
    raise ValueError(f"unknown backend {backend!r}; expected one of {OFFERED_BACKENDS}")


_PRELOADS: dict[tuple[str, str], threading.Thread] = {}
_PRELOADS_LOCK = threading.Lock()


def preload(resolved: ResolvedModel, backend: str = "torch") -> threading.Thread | None:
    """Start loading ``resolved`` for ``backend`` in a background thread, once per process.

    Loading (importing torch and sentence-transformers, reading the weights) takes as long as
    encoding a thousand texts on a small CPU; started when an upload is likely, it runs while the
    file is read and cleaned, and the encode that follows finds the model loaded (or waits for
    the same load: loads are serialized). A failure is silent here: the real encode reports it.
    Returns the thread (None when one was started before, or the backend is unknown).
    """
    if backend not in OFFERED_BACKENDS:
        return None
    key = (resolved.fingerprint, backend)
    with _PRELOADS_LOCK:
        if key in _PRELOADS:
            return None
        thread = threading.Thread(target=_load_quietly, args=(resolved, backend), name="dimscope-preload", daemon=True)
        _PRELOADS[key] = thread
    thread.start()
    return thread


def _load_quietly(resolved: ResolvedModel, backend: str) -> None:
    try:
        if backend == "torch":
            from analysis.encoding.torch_backend import load_model

            load_model(resolved)
        else:
            from analysis.encoding.onnx_backend import get_encoder

            get_encoder(resolved, ONNX_BACKENDS[backend])
    except Exception:  # noqa: BLE001 - the encode that needs the model reports why it cannot load
        pass  # and it is not tried again in the background: the key stays in _PRELOADS
