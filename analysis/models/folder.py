"""Reading a model folder: the one place that knows sentence-transformers' files.

A sentence-transformers folder holds ``modules.json`` (the pipeline: Transformer -> Pooling
[-> Dense] [-> Normalize]), one sub-folder per module with its ``config.json``, the
transformer's tokenizer files, and weights (``model.safetensors`` or ``pytorch_model.bin``,
possibly sharded). A plain Hugging Face folder has only the transformer's files.

Everything that reads those files lives here, so the encoders (torch, ONNX), the weight scan
and the resolver agree on one reading:

* :func:`read_json` (lenient: ``{}`` when missing or malformed) and :func:`load_json` (strict:
  a ``ModelUnavailableError`` that names the file);
* :func:`read_modules`, :func:`module_kind`, :func:`pooling_modes` (the legacy
  ``pooling_mode_*`` keys included);
* :func:`tokenizer_settings` and :class:`ModelLayout` (what an encoder outside torch needs);
* :class:`WeightStore`: tensors by name, from safetensors with numpy (BF16 included) or, only
  for folders without safetensors, from a torch ``.bin``.

No torch import here except inside :meth:`WeightStore.get` for ``.bin`` weights.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import ModelUnavailableError

#: Legacy boolean pooling keys of ``1_Pooling/config.json``, in the order sentence-transformers
#: converts them to ``pooling_mode`` (and so concatenates several modes).
LEGACY_POOLING_KEYS: dict[str, str] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


# --- JSON -----------------------------------------------------------------------------------------


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or ``{}`` when the file is missing, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def load_json(path: Path, what: str) -> Any:
    """Any JSON value from ``path``; a ``ModelUnavailableError`` naming ``what`` when it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelUnavailableError(f"Cannot read {what} {path}: {exc}") from None
    except ValueError as exc:
        raise ModelUnavailableError(f"{what} {path} is not valid JSON: {exc}") from None


# --- the pipeline -----------------------------------------------------------------------------------


def module_kind(type_name: Any) -> str:
    """``"sentence_transformers.models.Pooling"`` -> ``"Pooling"``."""
    return str(type_name).rsplit(".", 1)[-1]


def read_modules(folder: Path) -> list[dict[str, Any]] | None:
    """The modules of ``modules.json`` sorted by ``idx``, or None for a folder without one.

    Raises ``ModelUnavailableError`` when the file exists but is not a non-empty list of objects.
    """
    path = Path(folder) / "modules.json"
    if not path.is_file():
        return None
    modules = load_json(path, "modules.json")
    if not isinstance(modules, list) or not modules or not all(isinstance(m, dict) for m in modules):
        raise ModelUnavailableError(f"{path} is not a list of modules.")
    return sorted(modules, key=lambda m: int(m.get("idx", 0)))


def transformer_dir(folder: Path, modules: list[dict[str, Any]] | None) -> Path:
    """The folder of the first module (the transformer), or ``folder`` itself without modules.json."""
    folder = Path(folder)
    return folder / str((modules[0].get("path") or "") if modules else "")


def pooling_modes(config: dict[str, Any]) -> tuple[str, ...]:
    """The pooling modes of a Pooling ``config.json``, in the order their outputs are concatenated.

    ``pooling_mode`` (a name or a list) is taken as given; the legacy boolean keys in
    :data:`LEGACY_POOLING_KEYS` order; neither means ``("mean",)``, the default.

    >>> pooling_modes({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True})
    ('cls', 'mean')
    >>> pooling_modes({"pooling_mode": ["mean", "cls"]})
    ('mean', 'cls')
    """
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return (mode,)
    if isinstance(mode, (list, tuple)) and mode:
        return tuple(str(m) for m in mode)
    legacy = tuple(name for key, name in LEGACY_POOLING_KEYS.items() if config.get(key))
    return legacy or ("mean",)


def tokenizer_settings(folder: Path) -> tuple[Path, int, bool]:
    """(tokenizer.json, max_seq_length, do_lower_case) of a sentence-transformers folder, read from
    its configs (whatever its module layout); raises ModelUnavailableError without tokenizer.json."""
    folder = Path(folder)
    modules = _modules_or_empty(folder)
    text_dir = transformer_dir(folder, modules)
    st_config = read_json(text_dir / "sentence_bert_config.json") or read_json(folder / "sentence_bert_config.json")
    tok_config = read_json(text_dir / "tokenizer_config.json")
    model_config = read_json(text_dir / "config.json")
    limits = [st_config.get("max_seq_length")]
    if not limits[0]:
        limits = [tok_config.get("model_max_length"), model_config.get("max_position_embeddings")]
    numbers = [int(v) for v in limits if isinstance(v, (int, float)) and 0 < v < 1_000_000]
    tokenizer_file = text_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelUnavailableError(f"{folder} has no tokenizer.json (a fast tokenizer).")
    return tokenizer_file, (min(numbers) if numbers else 512), bool(st_config.get("do_lower_case", False))


def _modules_or_empty(folder: Path) -> list[dict[str, Any]]:
    try:
        return read_modules(folder) or []
    except ModelUnavailableError:
        return []


@dataclass(frozen=True)
class ModelLayout:
    """What an encoder outside torch needs to know about a Transformer -> Pooling [-> Normalize] folder."""

    transformer_dir: Path
    tokenizer_file: Path
    pooling_modes: tuple[str, ...]
    include_prompt: bool
    max_seq_length: int
    do_lower_case: bool
    ends_with_normalize: bool
    pad_token: str
    padding_side: str


def model_layout(folder: Path) -> ModelLayout:
    """Read modules.json and the module configs; ModelUnavailableError for other pipelines."""
    folder = Path(folder)
    modules = _modules_or_empty(folder)
    if not modules:
        raise ModelUnavailableError(
            f"{folder} has no modules.json: the ONNX backend needs a sentence-transformers folder."
        )
    kinds = [module_kind(m.get("type", "")) for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise ModelUnavailableError(
            "The ONNX backend supports Transformer -> Pooling [-> Normalize] models; this one has "
            f"{' -> '.join(kinds)}. Use the torch backend."
        )
    text_dir = transformer_dir(folder, modules)
    pooling_config = read_json(folder / (modules[1].get("path") or "1_Pooling") / "config.json")
    tokenizer_file, max_seq_length, do_lower_case = tokenizer_settings(folder)
    tok_config = read_json(text_dir / "tokenizer_config.json")
    special = read_json(text_dir / "special_tokens_map.json")
    pad = tok_config.get("pad_token") or special.get("pad_token") or "[PAD]"
    if isinstance(pad, dict):
        pad = pad.get("content", "[PAD]")
    return ModelLayout(
        transformer_dir=text_dir,
        tokenizer_file=tokenizer_file,
        pooling_modes=pooling_modes(pooling_config),
        include_prompt=bool(pooling_config.get("include_prompt", True)),
        max_seq_length=max_seq_length,
        do_lower_case=do_lower_case,
        ends_with_normalize=bool(kinds[2:]),
        pad_token=str(pad),
        padding_side=str(tok_config.get("padding_side", "right")),
    )


# --- weights --------------------------------------------------------------------------------------

_SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
}


def read_safetensors_tensor(path: Path, name: str) -> np.ndarray:
    """One tensor as float64, by parsing the safetensors format directly (handles BF16, which numpy lacks)."""
    with Path(path).open("rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_len))
        meta = header[name]
        start, end = meta["data_offsets"]
        handle.seek(8 + header_len + start)
        raw = handle.read(end - start)
    dtype = meta["dtype"]
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        values = bits.view(np.float32)
    elif dtype in _SAFETENSORS_DTYPES:
        values = np.frombuffer(raw, dtype=_SAFETENSORS_DTYPES[dtype])
    else:
        raise ModelUnavailableError(f"Tensor {name} in {path} has dtype {dtype}, which DimScope cannot read.")
    return values.reshape(meta["shape"]).astype(np.float64)


class WeightStore:
    """Tensor names and values of one weights folder: safetensors (numpy) first, else a torch .bin."""

    def __init__(self, folder: Path, what: str) -> None:
        self.folder = Path(folder)
        self.kind = ""
        self._where: dict[str, Path] = {}
        self._bin_cache: dict[Path, dict[str, Any]] = {}
        single = self.folder / "model.safetensors"
        index = self.folder / "model.safetensors.index.json"
        bin_single = self.folder / "pytorch_model.bin"
        bin_index = self.folder / "pytorch_model.bin.index.json"
        if single.is_file() or index.is_file():
            self.kind = "safetensors"
            self._where = self._safetensors_names(single) if single.is_file() else self._from_index(index)
        elif bin_single.is_file() or bin_index.is_file():
            self.kind = "pytorch"
            if bin_single.is_file():
                self._where = {k: bin_single for k in self._load_bin(bin_single)}
            else:
                self._where = self._from_index(bin_index)
        else:
            raise ModelUnavailableError(
                f"{what} in {folder} has no weights: expected model.safetensors or pytorch_model.bin "
                "(or a sharded *.index.json). DimScope reads PyTorch/safetensors weights, not ONNX or TF files."
            )

    @staticmethod
    def _safetensors_names(path: Path) -> dict[str, Path]:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                return {k: path for k in handle.keys()}
        except Exception as exc:  # corrupt or truncated file
            raise ModelUnavailableError(f"Cannot read {path}: {exc}") from None

    @staticmethod
    def _from_index(index: Path) -> dict[str, Path]:
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailableError(f"Cannot read the shard index {index}: {exc}") from None
        return {name: index.parent / shard for name, shard in weight_map.items()}

    def _load_bin(self, path: Path) -> dict[str, Any]:
        if path not in self._bin_cache:
            import torch  # only for folders without safetensors

            try:
                self._bin_cache[path] = torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception as exc:
                raise ModelUnavailableError(f"Cannot read {path}: {exc}") from None
        return self._bin_cache[path]

    def keys(self) -> list[str]:
        return list(self._where)

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def get(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a float64 array."""
        path = self._where[name]
        if not path.is_file():
            raise ModelUnavailableError(f"Weight shard {path} is missing.")
        if self.kind == "safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as handle:
                dtype = handle.get_slice(name).get_dtype()
                if dtype in _SAFETENSORS_DTYPES:
                    return np.asarray(handle.get_tensor(name), dtype=np.float64)
            return read_safetensors_tensor(path, name)
        tensor = self._load_bin(path)[name]
        return np.asarray(tensor.detach().float().cpu().numpy(), dtype=np.float64)
