"""One dispatch for every encoding backend: text in, pooled (pre-Normalize) float32 vectors out.

Backends (``EncodeOptions.backend``):

* ``"torch"``: sentence-transformers on torch, the exact reference (:mod:`.torch_backend`);
  ``"torch-bf16"`` is the same model under bf16 autocast (CPUs with native bf16 only);
* ``"onnx"`` and ``"onnx-int8"``: the model's Transformer exported to ONNX and run by
  onnxruntime, pooling in numpy (:mod:`.onnx_backend`). They are offered because they measured at
  least 1.3x faster than torch on 2 shared cores: "onnx-int8" 1.7-2.9x with normalized std within
  7e-4 and the same dead dimensions; plain "onnx" (fp32) 1.38-1.95x in four of five full runs
  (1.04x in the first), with the same statistics to 4e-9. See benchmarks/README.md.
* ``"openvino"`` (f32) and ``"openvino-bf16"``: that ONNX export converted for the plain OpenVINO
  runtime (:mod:`.openvino_backend`). On a Zen 4 with avx512_bf16, openvino-bf16 ran 2.1-2.6x
  torch with normalized std within 5e-5; openvino f32 0.95-1.47x with std within 1e-7.
* ``"auto"``: the fastest of the lossless-enough paths on this machine for this model, chosen by
  a one-off calibration (:mod:`.calibration`). int8 is lossy and never chosen by ``auto``.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from analysis.encoding.machine import has_bf16
from analysis.encoding.runtime import ProgressCallback
from analysis.errors import OptionError
from analysis.models.resolve import ResolvedModel

AUTO = "auto"
#: Encoding backends offered to users: auto first (the default), then the reference.
OFFERED_BACKENDS: tuple[str, ...] = (AUTO, "torch", "onnx", "onnx-int8", "openvino", "openvino-bf16", "torch-bf16")
#: The ONNX backends and whether each quantizes its weights to int8.
ONNX_BACKENDS: dict[str, bool] = {"onnx": False, "onnx-int8": True}
#: The OpenVINO backends and their inference precision.
OPENVINO_BACKENDS: dict[str, str] = {"openvino": "f32", "openvino-bf16": "bf16"}
#: Backends that compute in bf16: offered only where the CPU has native bf16 instructions.
BF16_BACKENDS: frozenset[str] = frozenset({"openvino-bf16", "torch-bf16"})
#: Lossy by design: only when asked for by name, never by ``auto``.
LOSSY_BACKENDS: frozenset[str] = frozenset({"onnx-int8"})


def onnxruntime_installed() -> bool:
    """True when onnxruntime can be imported (checked without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def openvino_installed() -> bool:
    """True when openvino can be imported (checked without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def unavailable_reason(backend: str) -> str | None:
    """Why ``backend`` cannot run here (a sentence), or None when it can."""
    if backend not in OFFERED_BACKENDS:
        return "unknown backend"
    if backend in ONNX_BACKENDS and not onnxruntime_installed():
        return "needs onnxruntime (pip install -r requirements.txt)"
    if backend in OPENVINO_BACKENDS and not openvino_installed():
        return "needs openvino (pip install -r requirements.txt)"
    if backend in BF16_BACKENDS and not has_bf16():
        return "needs a CPU with native bf16 (avx512_bf16 or AMX)"
    return None


def missing_runtimes_note() -> str | None:
    """Why ``auto`` may be slower here than it could be: the runtimes it cannot try because they
    are not installed (a plain ``pip install dimscope`` has neither), or None.

    >>> missing_runtimes_note() is None or missing_runtimes_note().startswith("auto could not try")
    True
    """
    missing = [
        name
        for name, installed in (("onnxruntime", onnxruntime_installed()), ("openvino", openvino_installed()))
        if not installed
    ]
    if not missing:
        return None
    return f"auto could not try {' or '.join(missing)}: not installed (pip install -r requirements.txt)"


def available_backends() -> tuple[str, ...]:
    """Offered backends usable here (installed runtimes, CPU features)."""
    return tuple(b for b in OFFERED_BACKENDS if unavailable_reason(b) is None)


def check_backend(backend: str) -> None:
    """OptionError (one line, with what is available here) unless ``backend`` can run here."""
    reason = unavailable_reason(backend)
    if reason is None:
        return
    what = f"Unknown encoding backend '{backend}'" if backend not in OFFERED_BACKENDS else f"'{backend}' {reason}"
    raise OptionError(f"{what}; available here: {', '.join(available_backends())}.")


def backend_label(backend: str) -> str:
    """How a page names a backend.

    >>> backend_label("openvino-bf16"), backend_label("onnx")
    ('openvino bf16', 'onnx fp32')
    """
    labels = {"torch": "torch fp32", "onnx": "onnx fp32", "openvino": "openvino f32"}
    return labels.get(backend, backend.replace("-", " "))


def _imported(module: str) -> Any:
    """The module if something imported it already, else None (never imports it)."""
    return sys.modules.get(f"analysis.encoding.{module}")


def loaded_backends(resolved: ResolvedModel) -> set[str]:
    """The concrete backends holding this model in memory in this process (nothing is imported)."""
    loaded = set()
    if (torch_module := _imported("torch_backend")) and torch_module.loaded_model(resolved) is not None:
        loaded |= {"torch", "torch-bf16"}
    if onnx_module := _imported("onnx_backend"):
        loaded |= {name for name, q in ONNX_BACKENDS.items() if onnx_module.is_loaded(resolved, q)}
    if ov_module := _imported("openvino_backend"):
        loaded |= {name for name, p in OPENVINO_BACKENDS.items() if ov_module.is_loaded(resolved, p)}
    return loaded


def release(resolved: ResolvedModel, backend: str) -> None:
    """Drop this process's copy of the model for ``backend`` (the next encode loads it again)."""
    if backend in ("torch", "torch-bf16") and (torch_module := _imported("torch_backend")):
        torch_module.unload_model(resolved)
    elif backend in ONNX_BACKENDS and (onnx_module := _imported("onnx_backend")):
        onnx_module.unload(resolved, ONNX_BACKENDS[backend])
    elif backend in OPENVINO_BACKENDS and (ov_module := _imported("openvino_backend")):
        ov_module.unload(resolved, OPENVINO_BACKENDS[backend])


def files_to_make(resolved: ResolvedModel, backend: str) -> list[tuple[str, Callable[[], object]]]:
    """The files ``backend`` needs made for this model before it loads, not made yet, as (what,
    how) in order: the ONNX export, then the OpenVINO conversion. Made on first use anyway; a
    caller that makes them first can say so (the calibration's steps)."""
    if backend not in ONNX_BACKENDS and backend not in OPENVINO_BACKENDS:
        return []
    from analysis.encoding import onnx_backend, openvino_backend

    steps: list[tuple[str, Callable[[], object]]] = []
    if not onnx_backend.is_exported(resolved):
        steps.append(("exporting the model to ONNX", lambda: onnx_backend.ensure_exported(resolved)))
    if backend in OPENVINO_BACKENDS and not openvino_backend.is_converted(resolved):
        steps.append(("converting the ONNX export for OpenVINO", lambda: openvino_backend.ensure_converted(resolved)))
    return steps


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

    ``progress(done, total)`` is called once with ``(0, total)`` and after each chunk. ``backend``
    is a concrete one: resolve "auto" first (``calibration.resolve_backend``, as the pipeline does).
    """
    if backend in ("torch", "torch-bf16"):
        from analysis.encoding.torch_backend import encode_raw_torch

        return encode_raw_torch(
            resolved,
            texts,
            prompt=prompt,
            batch_size=batch_size,
            progress=progress,
            chunk_size=chunk_size,
            bf16=backend == "torch-bf16",
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
    if backend in OPENVINO_BACKENDS:
        from analysis.encoding.openvino_backend import encode_raw_openvino

        return encode_raw_openvino(
            resolved,
            texts,
            prompt=prompt,
            batch_size=batch_size,
            progress=progress,
            precision=OPENVINO_BACKENDS[backend],
            chunk_size=chunk_size,
        )
    if backend == AUTO:
        raise ValueError("backend 'auto' must be resolved first: calibration.resolve_backend(model, 'auto')")
    raise ValueError(f"unknown backend {backend!r}; expected one of {OFFERED_BACKENDS}")


_PRELOADS: dict[tuple[str, str], threading.Thread] = {}
_PRELOADS_LOCK = threading.Lock()


def preload(resolved: ResolvedModel, backend: str = "torch") -> threading.Thread | None:
    """Start loading ``resolved`` for ``backend`` in a background thread, once per process.

    Loading (importing torch and sentence-transformers, reading the weights) takes as long as
    encoding a thousand texts on a small CPU; started when an upload is likely, it runs while the
    file is read and cleaned, and the encode that follows finds the model loaded (or waits for
    the same load: loads are serialized). A failure is silent here: the real encode reports it.
    Returns the thread (None when one was started before, or the backend is not concrete:
    resolve "auto" first, see :func:`analysis.encoding.calibration.resolve_backend`).
    """
    if backend not in OFFERED_BACKENDS or backend == AUTO:
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
        if backend in ("torch", "torch-bf16"):  # one loaded model; bf16 is autocast at encode time
            from analysis.encoding.torch_backend import load_model

            load_model(resolved)
        elif backend in OPENVINO_BACKENDS:
            from analysis.encoding.openvino_backend import get_encoder as get_openvino_encoder

            get_openvino_encoder(resolved, OPENVINO_BACKENDS[backend])
        elif backend in ONNX_BACKENDS:
            from analysis.encoding.onnx_backend import get_encoder

            get_encoder(resolved, ONNX_BACKENDS[backend])
    except Exception:  # noqa: BLE001 - the encode that needs the model reports why it cannot load
        pass  # and it is not tried again in the background: the key stays in _PRELOADS
