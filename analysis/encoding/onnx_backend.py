"""Encoding with onnxruntime: the model's Transformer exported locally, pooling in numpy.

sentence-transformers' own ``backend="onnx"`` needs optimum-onnx, which cannot be installed next to
sentence-transformers 6 (see benchmarks/README.md). This module builds the closest real thing:

* **export** (once per model, needs torch): the model's Transformer module is exported with the
  classic ``torch.onnx.export`` into ``<models_dir>/onnx/<model>-<fingerprint>/model.onnx``, never
  into site-packages; ``model.int8.onnx`` is its dynamically quantized variant (int8 weights, per
  channel). An export is written to a temporary name and renamed, under a file lock.
* **encode** (no torch, no transformers): texts are tokenized with the model's ``tokenizer.json``
  through ``tokenizers`` exactly as sentence-transformers does (padding to the longest text of a
  batch, truncation at ``max_seq_length``), run through onnxruntime, and pooled in numpy following
  the model's Pooling config (mean, cls, max, mean_sqrt_len_tokens). The result is the pooled
  vector *before* any Normalize module, like :func:`analysis.encoding.torch_backend.encode_raw_torch`.

onnxruntime writes a device id under ``$HOME/.cache/Microsoft`` and a file in ``$TMPDIR`` when it
is imported; the import here points both at ``<models_dir>/onnx/.runtime`` for its duration.

Usage (the first call exports the model, which takes seconds)::

    vectors = encode_raw_onnx(resolve_model("all-MiniLM-L6-v2"), ["hello"], quantized=True)
    vectors.shape  # (1, 384)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis import settings
from analysis.encoding.loaded import LoadedEncoders
from analysis.encoding.runtime import ProgressCallback, prefer_passive_openmp
from analysis.errors import ModelUnavailableError
from analysis.models.folder import ModelLayout, model_layout, read_json
from analysis.models.resolve import ResolvedModel

EXPORT_FORMAT = 1  # bump when the exported graph or meta.json changes
OPSET = 17
SUPPORTED_POOLING = ("cls", "mean", "max", "mean_sqrt_len_tokens")
_ORT_LOCK = threading.Lock()
_SESSIONS: LoadedEncoders[OnnxEncoder] = LoadedEncoders(capacity=2)


# --- side-effect containment ---------------------------------------------------------------------


def runtime_dir() -> Path:
    return settings.models_dir() / "onnx" / ".runtime"


def import_onnxruntime() -> Any:
    """Import onnxruntime with ``HOME`` and ``TMPDIR`` pointing into the models folder.

    onnxruntime's import writes ``$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/*`` and
    ``$TMPDIR/.ses``; nothing afterwards. The environment is restored right after the import.
    """
    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"]
    if importlib.util.find_spec("onnxruntime") is None:
        raise ModelUnavailableError(
            "The ONNX backend needs onnxruntime: pip install -r requirements.txt (it pins onnxruntime)."
        )
    import tempfile

    with _ORT_LOCK:
        if "onnxruntime" in sys.modules:
            return sys.modules["onnxruntime"]
        tempfile.gettempdir()  # fix Python's own temp folder before TMPDIR is swapped
        home: Path | None = runtime_dir() / "home"
        tmp: Path | None = runtime_dir() / "tmp"
        try:
            assert home is not None and tmp is not None
            home.mkdir(parents=True, exist_ok=True)
            tmp.mkdir(parents=True, exist_ok=True)
        except OSError:
            home = tmp = None  # an unwritable models folder: import as is rather than fail
        saved = {name: os.environ.get(name) for name in ("HOME", "TMPDIR")}
        try:
            if home is not None:
                os.environ["HOME"], os.environ["TMPDIR"] = str(home), str(tmp)
            import onnxruntime
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        with contextlib.suppress(Exception):
            onnxruntime.set_default_logger_severity(3)  # errors only
        with contextlib.suppress(Exception):
            onnxruntime.disable_telemetry_events()
        return onnxruntime


def supported_layout(folder: Path) -> ModelLayout:
    """The folder's layout, or ModelUnavailableError when its pooling is not implemented here."""
    layout = model_layout(folder)
    unsupported = [m for m in layout.pooling_modes if m not in SUPPORTED_POOLING]
    if unsupported:
        raise ModelUnavailableError(
            f"The ONNX backend does not implement pooling mode(s) {unsupported}; use the torch backend."
        )
    return layout


def check_prompt(layout: ModelLayout, prompt: str) -> None:
    """Refuse a prompt for a model whose pooling leaves prompt tokens out (not implemented here)."""
    if prompt and not layout.include_prompt:
        raise ModelUnavailableError(
            "This model excludes prompt tokens from pooling; the ONNX and OpenVINO backends do not; use torch."
        )


# --- export -------------------------------------------------------------------------------------


def export_dir(resolved: ResolvedModel) -> Path:
    """``<models_dir>/onnx/<name>-<fingerprint>``: one folder per exact set of weights."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", resolved.name.rsplit("/", 1)[-1])[:60]
    # A hash of the whole fingerprint: hub fingerprints ("hub:org/name@commit") share long prefixes.
    digest = hashlib.sha256(resolved.fingerprint.encode()).hexdigest()[:16]
    return settings.models_dir() / "onnx" / f"{slug}-{digest}"


def output_width(resolved: ResolvedModel, layout: ModelLayout) -> int:
    """The pooled vector's width (hidden size x pooling modes), from the export's meta.json."""
    return int(read_json(export_dir(resolved) / "meta.json").get("hidden_size", 0)) * len(layout.pooling_modes)


def model_file(resolved: ResolvedModel, quantized: bool) -> Path:
    return export_dir(resolved) / ("model.int8.onnx" if quantized else "model.onnx")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive cross-process lock on ``path`` (created if missing) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _meta_ok(folder: Path) -> dict | None:
    meta = read_json(folder / "meta.json")
    if meta.get("format") != EXPORT_FORMAT or not (folder / "model.onnx").is_file():
        return None
    return meta


def is_exported(resolved: ResolvedModel) -> bool:
    """True when this model's fp32 ONNX export is on disk (nothing to export before loading it)."""
    return _meta_ok(export_dir(resolved)) is not None


def ensure_exported(resolved: ResolvedModel, quantized: bool = False) -> Path:
    """The ONNX file for this model (exporting, then quantizing, on first use). Returns its path."""
    folder = export_dir(resolved)
    target = model_file(resolved, quantized)
    if _meta_ok(folder) and target.is_file():
        return target
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if not _meta_ok(folder):
            _export_fp32(resolved, folder)
        if quantized and not target.is_file():
            _quantize(folder / "model.onnx", target)
    return target


def _export_fp32(resolved: ResolvedModel, folder: Path) -> None:
    layout = supported_layout(resolved.path)  # refuse unsupported layouts before loading anything
    prefer_passive_openmp()
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - broken install
        raise ModelUnavailableError(f"Exporting to ONNX needs torch and transformers ({exc}).") from None
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(layout.transformer_dir), local_files_only=True)
        model = AutoModel.from_pretrained(
            str(layout.transformer_dir),
            local_files_only=True,
            trust_remote_code=resolved.trust_remote_code,
            attn_implementation="eager",
        ).eval()
    except Exception as exc:  # noqa: BLE001 - many ways for a folder to be broken
        raise ModelUnavailableError(
            f"Could not load {resolved.path} for the ONNX export ({type(exc).__name__}: {exc})."
        ) from None
    input_names = [n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")]
    if "input_ids" not in input_names or "attention_mask" not in input_names:
        raise ModelUnavailableError("The ONNX backend needs a tokenizer that returns input_ids and attention_mask.")

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(input_names, tensors, strict=True))).last_hidden_state

    sample = tokenizer(
        ["a short text", "a somewhat longer text to give the export some padding"], padding=True, return_tensors="pt"
    )
    args = tuple(sample[name] for name in input_names)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"model.onnx.{os.getpid()}.tmp"
    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
    import warnings

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Wrapper(model),
            args,
            str(tmp),
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    os.replace(tmp, folder / "model.onnx")
    meta = {
        "format": EXPORT_FORMAT,
        "model": resolved.name,
        "fingerprint": resolved.fingerprint,
        "input_names": input_names,
        "opset": OPSET,
        "torch": torch.__version__,
        "hidden_size": int(getattr(model.config, "hidden_size", 0) or 0),
    }
    tmp_meta = folder / f"meta.json.{os.getpid()}.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=1))
    os.replace(tmp_meta, folder / "meta.json")
    (folder / "model.int8.onnx").unlink(missing_ok=True)  # stale against a new export


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weights (per channel: min cosine ~0.98 vs ~0.92 per tensor)."""
    import_onnxruntime()
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" advice on every call
    try:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    os.replace(tmp, target)


# --- encoding ----------------------------------------------------------------------------------


def pool(modes: Sequence[str], hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' pooling of token embeddings (batch, seq, dim) under ``mask``, one block
    per mode in ``modes`` (see :data:`SUPPORTED_POOLING`), as float32."""
    hidden = hidden.astype(np.float32, copy=False)
    out = []
    weights = mask.astype(np.float32)[:, :, None]
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    for mode in modes:
        if mode == "cls":
            first = mask.argmax(axis=1)
            out.append(hidden[np.arange(hidden.shape[0]), first])
        elif mode == "max":
            out.append(np.where(weights > 0, hidden, -np.inf).max(axis=1).astype(np.float32))
        else:
            summed = np.einsum("bsd,bs->bd", hidden, mask.astype(np.float32))
            out.append((summed / (counts if mode == "mean" else np.sqrt(counts))).astype(np.float32))
    return out[0] if len(out) == 1 else np.concatenate(out, axis=1)


class TextTokenizer:
    """The model's ``tokenizer.json`` set up as sentence-transformers uses it: truncation at
    ``max_seq_length``, padding to the longest text of each batch (done in :meth:`batch_arrays`)."""

    def __init__(self, layout: ModelLayout, input_names: Sequence[str]) -> None:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(layout.tokenizer_file))
        tokenizer.no_padding()  # tokenizer.json may carry a fixed padding (e.g. to 128)
        tokenizer.enable_truncation(max_length=layout.max_seq_length)
        self.tokenizer = tokenizer
        self.layout = layout
        self.input_names = list(input_names)
        pad_id = tokenizer.token_to_id(layout.pad_token)
        self.pad_id = int(pad_id) if pad_id is not None else 0

    def encode(self, texts: Sequence[str]) -> list[Any]:
        if self.layout.do_lower_case:
            texts = [t.lower() for t in texts]
        return self.tokenizer.encode_batch(list(texts), add_special_tokens=True)

    def batch_arrays(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        left = self.layout.padding_side == "left"
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            cols = slice(width - n, width) if left else slice(0, n)
            ids[row, cols] = enc.ids
            mask[row, cols] = 1
            types[row, cols] = enc.type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: arrays[name] for name in self.input_names}


class OnnxEncoder:
    """A tokenizer, an onnxruntime session and the pooling of one model (one variant)."""

    def __init__(self, resolved: ResolvedModel, quantized: bool, *, threads: int | None = None) -> None:
        path = ensure_exported(resolved, quantized)
        self.layout = supported_layout(resolved.path)
        meta = read_json(export_dir(resolved) / "meta.json")
        self.input_names: list[str] = list(meta.get("input_names") or ["input_ids", "attention_mask"])
        self.text_tokenizer = TextTokenizer(self.layout, self.input_names)
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or max(1, min(os.cpu_count() or 1, 8)))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Spinning workers steal the CPU from everything else on 2 shared cores: 6.4 s instead of
        # 8.0 s for 600 texts at load 5 (the same lesson as OMP_WAIT_POLICY for torch).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.quantized = quantized

    def tokenize(self, texts: Sequence[str]) -> list[Any]:
        return self.text_tokenizer.encode(texts)

    def _batch_arrays(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        return self.text_tokenizer.batch_arrays(encodings)

    def pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return pool(self.layout.pooling_modes, hidden, mask)

    def encode_encodings(self, encodings: Sequence[Any]) -> np.ndarray:
        feeds = self._batch_arrays(encodings)
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        return self.pool(hidden, feeds["attention_mask"])

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Pooled vectors in the order given (batches of similar token length)."""
        encodings = self.tokenize(texts)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            vectors = self.encode_encodings([encodings[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def get_encoder(resolved: ResolvedModel, quantized: bool) -> OnnxEncoder:
    """One encoder per (model, variant) per process; at most two stay loaded."""
    return _SESSIONS.get(
        (resolved.fingerprint, quantized),
        lambda: OnnxEncoder(resolved, quantized),
        backend="onnx-int8" if quantized else "onnx",
    )


def is_loaded(resolved: ResolvedModel, quantized: bool) -> bool:
    """True when this process holds a session for the model (that variant)."""
    return (resolved.fingerprint, quantized) in _SESSIONS


def unload(resolved: ResolvedModel, quantized: bool) -> None:
    """Drop the model's session (that variant) from this process."""
    _SESSIONS.drop((resolved.fingerprint, quantized))


def encode_raw_onnx(
    resolved: ResolvedModel,
    texts: Sequence[str],
    *,
    prompt: str = "",
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    quantized: bool = False,
    chunk_size: int = 256,
) -> np.ndarray:
    """Pooled (pre-Normalize) float32 embeddings via onnxruntime; same contract as ``encode_raw``.

    Texts are tokenized once, sorted by token count (longest first) so that batches carry little
    padding, and encoded in chunks with ``progress(done, total)`` after each chunk.
    """
    total = len(texts)
    if progress:
        progress(0, total)
    layout = supported_layout(resolved.path)
    check_prompt(layout, prompt)
    encoder = get_encoder(resolved, quantized)
    if total == 0:
        return np.zeros((0, output_width(resolved, layout)), dtype=np.float32)
    encodings = encoder.tokenize([prompt + t for t in texts])
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
    out: np.ndarray | None = None
    done = 0
    for chunk_start in range(0, total, chunk_size):
        chunk = order[chunk_start : chunk_start + chunk_size]
        for start in range(0, len(chunk), batch_size):
            idx = chunk[start : start + batch_size]
            vectors = encoder.encode_encodings([encodings[i] for i in idx])
            if out is None:
                out = np.empty((total, vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        done += len(chunk)
        if progress:
            progress(done, total)
    assert out is not None
    return out
