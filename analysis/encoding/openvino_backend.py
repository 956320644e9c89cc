"""Encoding with the plain OpenVINO runtime (not optimum-intel, which breaks the pinned stack).

* **convert** (once per model and openvino version): the project's own ONNX export
  (:func:`analysis.encoding.onnx_backend.ensure_exported`) is converted with ``ov.convert_model``
  and saved with full-precision weights into ``<export dir>/openvino/model.xml``: 0.4 s instead of
  4.6 s from torch, with the same speed and accuracy, and without torch's compile folders in
  ``$TMPDIR``. Written to a temporary name and renamed, under a file lock.
* **encode** (no torch, no transformers): the ONNX backend's tokenizer (:class:`TextTokenizer`) and
  pooling (:func:`pool`), the model compiled for the CPU in ``f32`` or ``bf16``. On 2 vCPUs two
  streams with pinning off were the fastest setting at every load measured; openvino's default
  (one stream on pinned threads) collapsed once other processes shared the cores.

Telemetry: a plain ``import openvino`` writes ``~/intel/openvino_ga_cid`` and ``~/intel/stats``
and looks up Google Analytics, and no variable turns it off outside CI. :func:`import_openvino`
hides ``openvino_telemetry`` from the import, so openvino uses its built-in no-op stub: no files,
no network (tests/test_openvino_backend.py watches ``HOME``, ``TMPDIR`` and the sockets).

Usage::

    vectors = encode_raw_openvino(resolve_model("all-MiniLM-L6-v2"), ["hello"], precision="bf16")
    vectors.shape  # (1, 384)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from analysis.encoding.loaded import LoadedEncoders
from analysis.encoding.machine import usable_cores
from analysis.encoding.onnx_backend import (
    TextTokenizer,
    check_prompt,
    ensure_exported,
    export_dir,
    file_lock,
    is_exported,
    model_file,
    output_width,
    pool,
    supported_layout,
)
from analysis.encoding.runtime import ProgressCallback
from analysis.errors import ModelUnavailableError
from analysis.models.folder import read_json
from analysis.models.resolve import ResolvedModel

IR_FORMAT = 1  # bump when the conversion or its meta.json changes
PRECISIONS = ("f32", "bf16")
INSTALL_HINT = "pip install -r requirements.txt (it pins openvino), or pip install 'dimscope[openvino]'"
_IMPORT_LOCK = threading.Lock()
_ENCODERS: LoadedEncoders[OpenVinoEncoder] = LoadedEncoders(capacity=2)


def import_openvino() -> Any:
    """Import openvino with its telemetry replaced by openvino's own no-op stub.

    ``sys.modules["openvino_telemetry"] = None`` makes ``import openvino_telemetry`` fail, which
    openvino answers with the stub. It stays in place: the converter modules imported later also
    ask for it. A process that imported openvino_telemetry before us keeps it (nothing to undo).
    """
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    if importlib.util.find_spec("openvino") is None:
        raise ModelUnavailableError(f"The OpenVINO backends need openvino: {INSTALL_HINT}.")
    with _IMPORT_LOCK:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
        import openvino

        return openvino


# --- conversion ----------------------------------------------------------------------------------


def ir_dir(resolved: ResolvedModel) -> Path:
    """``<models_dir>/onnx/<name>-<fingerprint>/openvino``: beside the ONNX file it is made from."""
    return export_dir(resolved) / "openvino"


def _stamp(onnx_file: Path) -> dict[str, Any]:
    """What the IR was made from: the ONNX file (size, mtime) and the openvino version."""
    stat = onnx_file.stat()
    return {
        "format": IR_FORMAT,
        "openvino": metadata.version("openvino"),
        "onnx_size": stat.st_size,
        "onnx_mtime_ns": stat.st_mtime_ns,
    }


def _current(folder: Path, stamp: dict[str, Any]) -> dict[str, Any] | None:
    meta = read_json(folder / "meta.json")
    if {k: meta.get(k) for k in stamp} != stamp or not (folder / "model.bin").is_file():
        return None
    return meta


def is_converted(resolved: ResolvedModel) -> bool:
    """True when this model's OpenVINO IR is on disk and current (nothing to export or convert)."""
    if not is_exported(resolved):
        return False
    return _current(ir_dir(resolved), _stamp(model_file(resolved, quantized=False))) is not None


def ensure_converted(resolved: ResolvedModel) -> Path:
    """The OpenVINO IR (``model.xml``) of this model, exporting and converting on first use."""
    onnx_file = ensure_exported(resolved, quantized=False)
    folder = ir_dir(resolved)
    stamp = _stamp(onnx_file)
    if _current(folder, stamp) is not None:
        return folder / "model.xml"
    with file_lock(folder.parent / ".openvino.lock"):
        if _current(folder, stamp) is None:
            _convert(onnx_file, folder, stamp)
    return folder / "model.xml"


def _convert(onnx_file: Path, folder: Path, stamp: dict[str, Any]) -> None:
    import json

    ov = import_openvino()
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        model = ov.convert_model(str(onnx_file))
        input_names = [port.get_any_name() for port in model.inputs]
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)  # fp16 weights would add drift
        (tmp / "meta.json").write_text(json.dumps({**stamp, "input_names": input_names}, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- encoding ----------------------------------------------------------------------------------


def compile_config(precision: str, cores: int) -> dict[str, Any]:
    """CPU plugin settings. The precision is always explicit: openvino's own default on a bf16 CPU
    is bf16. Up to 4 cores: two unpinned streams (measured); above, the THROUGHPUT hint decides.

    >>> compile_config("f32", 2)["NUM_STREAMS"]
    '2'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "THROUGHPUT"}
    if cores <= 4:
        config.update({"NUM_STREAMS": str(min(2, cores)), "ENABLE_CPU_PINNING": False})
    return config


class OpenVinoEncoder:
    """A tokenizer, a compiled OpenVINO model (one precision) and the pooling of one model."""

    def __init__(self, resolved: ResolvedModel, precision: str) -> None:
        self.layout = supported_layout(resolved.path)
        xml = ensure_converted(resolved)
        meta = read_json(xml.parent / "meta.json")
        self.input_names: list[str] = list(meta.get("input_names") or ["input_ids", "attention_mask"])
        self.text_tokenizer = TextTokenizer(self.layout, self.input_names)
        ov = import_openvino()
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(xml)), "CPU", compile_config(precision, usable_cores()))
        self.precision = precision
        self.streams = max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self.queue = ov.AsyncInferQueue(self.compiled, self.streams)
        self.lock = threading.Lock()  # one encode at a time: the queue and its callback are shared

    def tokenize(self, texts: Sequence[str]) -> list[Any]:
        return self.text_tokenizer.encode(texts)

    def encode_batches(self, encodings: Sequence[Any], batches: Sequence[np.ndarray], out: np.ndarray) -> None:
        """Run every batch (row indices into ``encodings`` and ``out``) and write pooled rows into ``out``."""
        failures: list[BaseException] = []

        def done(request: Any, userdata: tuple[np.ndarray, np.ndarray]) -> None:
            idx, mask = userdata
            try:  # an exception here would be lost in openvino's thread
                out[idx] = pool(self.layout.pooling_modes, request.get_output_tensor(0).data, mask)
            except BaseException as exc:  # noqa: BLE001 - re-raised below in the caller's thread
                failures.append(exc)

        with self.lock:
            self.queue.set_callback(done)
            for idx in batches:
                feeds = self.text_tokenizer.batch_arrays([encodings[i] for i in idx])
                self.queue.start_async(feeds, (idx, feeds["attention_mask"]))
            self.queue.wait_all()
        if failures:
            raise failures[0]


def get_encoder(resolved: ResolvedModel, precision: str) -> OpenVinoEncoder:
    """One encoder per (model, precision) per process; at most two stay compiled."""
    backend = "openvino" if precision == "f32" else f"openvino-{precision}"
    return _ENCODERS.get(
        (resolved.fingerprint, precision), lambda: OpenVinoEncoder(resolved, precision), backend=backend
    )


def is_loaded(resolved: ResolvedModel, precision: str) -> bool:
    """True when this process holds the model compiled in that precision."""
    return (resolved.fingerprint, precision) in _ENCODERS


def unload(resolved: ResolvedModel, precision: str) -> None:
    """Drop the model compiled in that precision from this process."""
    _ENCODERS.drop((resolved.fingerprint, precision))


def encode_raw_openvino(
    resolved: ResolvedModel,
    texts: Sequence[str],
    *,
    prompt: str = "",
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    precision: str = "f32",
    chunk_size: int = 256,
) -> np.ndarray:
    """Pooled (pre-Normalize) float32 embeddings via OpenVINO; same contract as ``encode_raw``.

    Texts are tokenized once, sorted by token count (longest first) so that batches carry little
    padding, and encoded in chunks with ``progress(done, total)`` after each chunk.
    """
    total = len(texts)
    if progress:
        progress(0, total)
    layout = supported_layout(resolved.path)
    check_prompt(layout, prompt)
    encoder = get_encoder(resolved, precision)
    width = output_width(resolved, layout)
    out = np.empty((total, width), dtype=np.float32)
    if total == 0:
        return out
    encodings = encoder.tokenize([prompt + t for t in texts])
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
    done = 0
    for chunk_start in range(0, total, chunk_size):
        chunk = order[chunk_start : chunk_start + chunk_size]
        batches = [chunk[start : start + batch_size] for start in range(0, len(chunk), batch_size)]
        encoder.encode_batches(encodings, batches, out)
        done += len(chunk)
        if progress:
            progress(done, total)
    return out
