"""Find dead dimensions from a model's weights alone: no corpus, no encoding, no torch.

Why it works
------------
In post-LayerNorm encoders (BERT, RoBERTa, XLM-R, MPNet, ELECTRA, DistilBERT) the last
hidden state of every token is the output of one LayerNorm::

    h_j = gamma_j * (x_j - mean(x)) / std(x) + beta_j

If ``gamma_j`` is ~0, dimension ``j`` equals ``beta_j`` for every token of every input, so
mean/CLS/max pooling gives the same value for every sentence: the dimension is dead by
construction. all-MiniLM-L6-v2 (dims 127, 223, 319) and all-mpnet-base-v2 (34, 555, 688, 756)
have exactly this: weight and bias between 1e-33 and 1e-6 while the median |weight| is 0.65 and
0.14. A corpus scan (``analysis.stats``) finds the same dims; this scan says *why*, and needs
no data.

The rule
--------
Let ``gamma``/``beta`` be the weight/bias of the final LayerNorm and ``t`` the
``relative_threshold`` (default 1e-3).

* dim ``j`` is flagged when ``|gamma_j| < t * median(|gamma|)``. A relative threshold works
  across models whose LayerNorm scales differ by 10x (0.65 vs 0.14 above); trained weights
  are never that small by accident (the next-smallest is ~0.4x the median in both models).
* verdict ``"zero"`` when also ``|beta_j| < t * median(|beta|)``: the dim is ~0 for every input.
  Otherwise ``"constant"``: the dim never varies but sits at ``beta_j``.
  (If ``median(|beta|)`` is 0, ``median(|gamma|)`` is the scale instead; if ``median(|gamma|)`` is
  0, ``max(|gamma|)``.)

Verdicts refer to the pooled output *before* the model's own ``Normalize``: there a "zero" dim
stays exactly 0, while a "constant" dim is divided by a norm that varies, so it varies a little.

Where the final LayerNorm is
----------------------------
Read from ``config.json`` (``model_type``, ``architectures``), only for architectures listed in
``KNOWN_ARCHITECTURES``, by tensor name, with an optional leading prefix (``bert.``,
``roberta.``, ``model.``...):

* ``encoder.layer.{L}.output.LayerNorm`` (bert, roberta, xlm-roberta, camembert, mpnet, electra)
* ``transformer.layer.{L}.output_layer_norm`` (distilbert)

``L`` is the largest layer index present in the tensor names (the config is not trusted for it).
TF-era ``gamma``/``beta`` tensor names are accepted. Anything else gives ``understood=False``
with a plain message: the scan never guesses.

The sentence-transformers pipeline (``modules.json``)
-----------------------------------------------------
Reported dims are dims of the model's *output embedding*:

* ``Pooling``: every mode keeps a constant dim constant (cls, max, mean, weightedmean,
  lasttoken), except ``mean_sqrt_len_tokens``, which multiplies by sqrt(length) and so keeps only
  "zero" dims. Several modes are concatenated, so dim ``j`` of mode ``k`` is output dim
  ``k * hidden + j``.
* ``Normalize`` and ``Dropout``: dims kept (see the note on verdicts above).
* ``Dense`` (``y = act(W x + b)``): output dim ``i`` is flagged when row ``i`` of ``W`` is ~0 on
  every input dim that varies: ``max_{j varying} |W_ij| < t * median_i(max_{j varying} |W_ij|)``.
  Its verdict is "zero" when the constant pre-activation ``c_i = b_i + sum_{j flagged} W_ij v_j``
  (``v_j`` the flagged input's value) is below ``t * median(|b|)`` and the activation maps 0 to 0
  (identity, tanh, relu, gelu, silu), else "constant". A Dense layer mixes the dims, so dead
  transformer dims usually do not survive it; the message then says what the transformer had.
  ``weight_abs``/``bias_abs`` then hold, per output dim, that largest varying-input weight and
  ``|c_i|``, and ``final_layer`` names the Dense layer. Residual Dense layers are not analysed.
* any other module (LayerNorm, CNN, LSTM, Router/Asym, WeightedLayerPooling, ...): not understood.

No ``modules.json`` (a plain Hugging Face folder) is read as Transformer -> mean pooling, the
default of ``SentenceTransformer``.

Example (the packaged all-MiniLM-L6-v2)::

    >>> from analysis.diagnose import diagnose_model_folder          # doctest: +SKIP
    >>> d = diagnose_model_folder(folder)                             # doctest: +SKIP
    >>> d.dead_dims_from_weights, d.final_layer                       # doctest: +SKIP
    ([127, 223, 319], 'encoder.layer.5.output.LayerNorm')
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from analysis.errors import ModelUnavailableError, OptionError

__all__ = [
    "DimensionEvidence",
    "WeightDiagnosis",
    "diagnose_model_folder",
    "compare_with_corpus",
    "KNOWN_ARCHITECTURES",
]

# model_type (lower case, "_" -> "-") -> (pattern of the final norm's tensor prefix, human description)
_POST_LN_ENCODER = (
    re.compile(r"^(?P<prefix>(?:[A-Za-z0-9_]+\.)*?)encoder\.layer\.(?P<idx>\d+)\.output\.LayerNorm\.(?P<param>weight|bias|gamma|beta)$"),
    "encoder.layer.{L}.output.LayerNorm",
)
_DISTILBERT = (
    re.compile(r"^(?P<prefix>(?:[A-Za-z0-9_]+\.)*?)transformer\.layer\.(?P<idx>\d+)\.output_layer_norm\.(?P<param>weight|bias|gamma|beta)$"),
    "transformer.layer.{L}.output_layer_norm",
)
KNOWN_ARCHITECTURES: dict[str, tuple[re.Pattern[str], str]] = {
    "bert": _POST_LN_ENCODER,
    "roberta": _POST_LN_ENCODER,
    "xlm-roberta": _POST_LN_ENCODER,
    "camembert": _POST_LN_ENCODER,
    "mpnet": _POST_LN_ENCODER,
    "electra": _POST_LN_ENCODER,
    "distilbert": _DISTILBERT,
}

_ZERO_PRESERVING_ACTIVATIONS = {"identity", "tanh", "relu", "gelu", "silu", "hardtanh", "leakyrelu", "elu"}
_ACTIVATIONS = {
    "identity": lambda x: x,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
}


@dataclass(frozen=True)
class DimensionEvidence:
    """Why one output dimension is flagged."""

    dim: int  # 0-based output dimension
    layer: str  # tensor name prefix of the layer that forces it, e.g. "encoder.layer.5.output.LayerNorm"
    weight: float  # gamma_j of a final norm; for a Dense layer the largest |weight| on a varying input
    bias: float  # beta_j of a final norm; for a Dense layer the constant pre-activation c_i
    verdict: str  # "zero" (always ~0) or "constant" (never varies, not ~0)


@dataclass(frozen=True)
class WeightDiagnosis:
    """Result of :func:`diagnose_model_folder`. ``to_dict()`` is JSON-ready."""

    model_path: str
    architecture: str  # e.g. "BertModel"
    understood: bool
    message: str  # plain words; when not understood, which architecture and what was looked for
    final_layer: str | None  # tensor name prefix of the layer responsible
    dead_dims_from_weights: list[int]  # sorted, 0-based output dims forced to (near) constant
    evidence: list[DimensionEvidence]  # one per flagged dim, sorted by dim
    weight_abs: list[float]  # per output dim, |gamma| of the final norm (for a chart)
    bias_abs: list[float]  # per output dim, |beta| of the final norm
    threshold: float  # the relative threshold used
    model_type: str = ""
    notes: list[str] = field(default_factory=list)  # pipeline remarks (also folded into message)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        out: dict[str, Any] = {"dead_dims_from_weights": list(self.dead_dims_from_weights)}
        for key, value in data.items():
            if key != "dead_dims_from_weights":
                out[key] = value
        out["weight_abs"] = [_json_float(v) for v in self.weight_abs]
        out["bias_abs"] = [_json_float(v) for v in self.bias_abs]
        out["evidence"] = [
            {**e, "weight": _json_float(e["weight"]), "bias": _json_float(e["bias"])} for e in out["evidence"]
        ]
        return out


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --- reading weights ------------------------------------------------------------------------------

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1"}


def _read_safetensors_raw(path: Path, name: str) -> np.ndarray:
    """Read one tensor by parsing the file format directly: handles BF16, which numpy lacks."""
    with path.open("rb") as handle:
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
    elif dtype in _ST_DTYPES:
        values = np.frombuffer(raw, dtype=_ST_DTYPES[dtype])
    else:
        raise ModelUnavailableError(f"Tensor {name} in {path} has dtype {dtype}, which DimScope cannot read.")
    return values.reshape(meta["shape"]).astype(np.float64)


class _WeightStore:
    """Tensor names and values of one weights folder: safetensors (numpy) first, else a torch .bin."""

    def __init__(self, folder: Path, what: str):
        self.folder = folder
        self.kind = ""
        self._where: dict[str, Path] = {}
        self._bin_cache: dict[Path, dict[str, Any]] = {}
        single = folder / "model.safetensors"
        index = folder / "model.safetensors.index.json"
        bin_single = folder / "pytorch_model.bin"
        bin_index = folder / "pytorch_model.bin.index.json"
        if single.is_file() or index.is_file():
            self.kind = "safetensors"
            if single.is_file():
                from safetensors import safe_open

                try:
                    with safe_open(str(single), framework="numpy") as handle:
                        self._where = {k: single for k in handle.keys()}
                except Exception as exc:  # corrupt or truncated file
                    raise ModelUnavailableError(f"Cannot read {single}: {exc}") from None
            else:
                self._where = self._from_index(index)
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

    def _from_index(self, index: Path) -> dict[str, Path]:
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
        path = self._where[name]
        if not path.is_file():
            raise ModelUnavailableError(f"Weight shard {path} is missing.")
        if self.kind == "safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as handle:
                dtype = handle.get_slice(name).get_dtype()
                if dtype in _ST_DTYPES:
                    return np.asarray(handle.get_tensor(name), dtype=np.float64)
            return _read_safetensors_raw(path, name)
        tensor = self._load_bin(path)[name]
        return tensor.detach().float().cpu().numpy().astype(np.float64)


# --- the pipeline ---------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelUnavailableError(f"Cannot read {what} {path}: {exc}") from None
    except ValueError as exc:
        raise ModelUnavailableError(f"{what} {path} is not valid JSON: {exc}") from None


def _module_kind(type_name: str) -> str:
    return str(type_name).rsplit(".", 1)[-1]


def _pooling_modes(config: dict) -> list[str]:
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return [mode]
    if isinstance(mode, (list, tuple)) and mode:
        return [str(m) for m in mode]
    legacy = [
        ("pooling_mode_cls_token", "cls"),
        ("pooling_mode_max_tokens", "max"),
        ("pooling_mode_mean_tokens", "mean"),
        ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
        ("pooling_mode_weightedmean_tokens", "weightedmean"),
        ("pooling_mode_lasttoken", "lasttoken"),
    ]
    modes = [name for key, name in legacy if config.get(key)]
    return modes or ["mean"]


def _relative_scale(values: np.ndarray) -> float:
    """median(values), or max(values) when the median is 0 (more than half are 0)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    scale = float(np.median(finite))
    return scale if scale > 0 else float(finite.max())


@dataclass
class _Stage:
    """Flagged dims after some module: dim -> (value, verdict, evidence)."""

    size: int
    flagged: dict[int, tuple[float, DimensionEvidence]]
    layer: str
    weight_abs: np.ndarray
    bias_abs: np.ndarray


def _not_understood(path: Path, architecture: str, model_type: str, message: str, threshold: float) -> WeightDiagnosis:
    return WeightDiagnosis(
        model_path=str(path), architecture=architecture, understood=False, message=message, final_layer=None,
        dead_dims_from_weights=[], evidence=[], weight_abs=[], bias_abs=[], threshold=threshold, model_type=model_type,
    )


def _format_dims(dims: Iterable[int], limit: int = 20) -> str:
    dims = list(dims)
    text = ", ".join(str(d) for d in dims[:limit])
    return text + (f" and {len(dims) - limit} more" if len(dims) > limit else "")


def diagnose_model_folder(path: str | os.PathLike, *, relative_threshold: float = 1e-3) -> WeightDiagnosis:
    """Scan a model folder's weights for output dims forced to a constant (see the module docstring).

    ``path`` is a sentence-transformers folder (``modules.json``) or a plain Hugging Face model
    folder (``config.json`` + weights). Raises ``ModelUnavailableError`` when it is not a model
    folder, ``OptionError`` for a threshold outside (0, 1). An architecture it does not know
    gives ``understood=False`` and an empty list, never a guess.
    """
    try:
        threshold = float(relative_threshold)
    except (TypeError, ValueError):
        raise OptionError(f"relative_threshold must be a number in (0, 1), not {relative_threshold!r}.") from None
    if not (0.0 < threshold < 1.0):
        raise OptionError(f"relative_threshold must be in (0, 1) (default 1e-3), not {relative_threshold!r}.")

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelUnavailableError(
            f"'{path}' is not a folder. Give the folder of a sentence-transformers or Hugging Face model "
            "(the one holding config.json and model.safetensors)."
        )
    notes: list[str] = []
    modules: list[dict] | None = None
    if (folder / "modules.json").is_file():
        modules = _read_json(folder / "modules.json", "modules.json")
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules) or not modules:
            raise ModelUnavailableError(f"{folder / 'modules.json'} is not a list of modules.")
        modules = sorted(modules, key=lambda m: int(m.get("idx", 0)))
        first_kind = _module_kind(modules[0].get("type", ""))
        if first_kind != "Transformer":
            architecture = first_kind or "unknown"
            return _not_understood(
                folder, architecture, "",
                f"DimScope does not understand a sentence-transformers pipeline that starts with {architecture}: "
                "the weight scan needs a Transformer module first (its final LayerNorm is what it reads).",
                threshold,
            )
        transformer_dir = folder / str(modules[0].get("path", "") or "")
    else:
        transformer_dir = folder
    config_path = transformer_dir / "config.json"
    if not config_path.is_file():
        raise ModelUnavailableError(
            f"{folder} has no config.json{' in ' + str(transformer_dir) if transformer_dir != folder else ''}: "
            "it is not a Hugging Face or sentence-transformers model folder."
        )
    config = _read_json(config_path, "model config")
    if not isinstance(config, dict):
        raise ModelUnavailableError(f"{config_path} is not a JSON object.")
    store = _WeightStore(transformer_dir, "The transformer")
    model_type = str(config.get("model_type") or "").strip()
    architectures = config.get("architectures") or []
    architecture = str(architectures[0]) if isinstance(architectures, list) and architectures else (model_type or "unknown")
    if modules is None:
        notes.append("No modules.json: read as Transformer -> mean pooling, the sentence-transformers default.")

    # --- the transformer's final LayerNorm --------------------------------------------------------
    key = model_type.lower().replace("_", "-")
    if key not in KNOWN_ARCHITECTURES:
        known = ", ".join(sorted(KNOWN_ARCHITECTURES))
        return _not_understood(
            folder, architecture, model_type,
            f"DimScope does not understand the architecture {architecture} (model_type '{model_type or '?'}'): "
            f"its weight scan knows only post-LayerNorm encoders ({known}), where the last layer's output "
            "LayerNorm produces the embedding. No dimensions are reported from the weights; use the corpus scan.",
            threshold,
        )
    pattern, description = KNOWN_ARCHITECTURES[key]
    layers: dict[str, dict[int, dict[str, str]]] = {}
    for name in store.keys():
        match = pattern.match(name)
        if match:
            param = {"gamma": "weight", "beta": "bias"}.get(match["param"], match["param"])
            layers.setdefault(match["prefix"], {}).setdefault(int(match["idx"]), {})[param] = name
    prefixes = [p for p, found in layers.items() if any("weight" in v for v in found.values())]
    if not prefixes:
        return _not_understood(
            folder, architecture, model_type,
            f"DimScope does not understand the architecture {architecture}: no final LayerNorm tensor matching "
            f"'[prefix.]{description}.weight' was found among its {len(store.keys())} weight tensors.",
            threshold,
        )
    if len(prefixes) > 1:
        return _not_understood(
            folder, architecture, model_type,
            f"DimScope does not understand the architecture {architecture}: several stacks of "
            f"'{description}' tensors were found (prefixes {', '.join(repr(p) for p in sorted(prefixes))}), "
            "so which one makes the embedding is ambiguous.",
            threshold,
        )
    prefix = prefixes[0]
    last = max(i for i, v in layers[prefix].items() if "weight" in v)
    names = layers[prefix][last]
    final_layer = names["weight"].rsplit(".", 1)[0]
    gamma = store.get(names["weight"]).reshape(-1)
    if "bias" in names:
        beta = store.get(names["bias"]).reshape(-1)
    else:
        beta = np.zeros_like(gamma)
        notes.append(f"{final_layer} has no bias tensor: bias taken as 0.")
    if beta.shape != gamma.shape:
        return _not_understood(
            folder, architecture, model_type,
            f"DimScope does not understand {final_layer} of {architecture}: its weight has {gamma.size} values "
            f"but its bias {beta.size}.",
            threshold,
        )
    n_layers = config.get("num_hidden_layers", config.get("n_layers"))
    if isinstance(n_layers, int) and n_layers != last + 1:
        notes.append(f"config.json says {n_layers} layers but the weights end at layer index {last}; the weights were used.")

    hidden = gamma.size
    g_abs, b_abs = np.abs(gamma), np.abs(beta)
    g_scale = _relative_scale(g_abs)
    b_scale = _relative_scale(b_abs)
    if b_scale == 0.0:
        b_scale = g_scale
    flagged_idx = np.flatnonzero(g_abs < threshold * g_scale) if g_scale > 0 else np.arange(hidden)
    flagged: dict[int, tuple[float, DimensionEvidence]] = {}
    for j in flagged_idx:
        verdict = "zero" if b_abs[j] < threshold * b_scale else "constant"
        value = 0.0 if verdict == "zero" else float(beta[j])
        flagged[int(j)] = (value, DimensionEvidence(int(j), final_layer, float(gamma[j]), float(beta[j]), verdict))
    stage = _Stage(hidden, flagged, final_layer, g_abs, b_abs)
    transformer_summary = _norm_summary(final_layer, hidden, flagged, g_abs, g_scale, threshold)

    # --- the rest of the pipeline ----------------------------------------------------------------
    rest = modules[1:] if modules is not None else [{"type": "Pooling", "path": None}]
    had_dense = False
    for module in rest:
        kind = _module_kind(module.get("type", ""))
        sub = folder / str(module.get("path") or "")
        if kind == "Pooling":
            pooling_config = _read_json(sub / "config.json", "pooling config") if module.get("path") and (sub / "config.json").is_file() else {}
            stage = _through_pooling(stage, _pooling_modes(pooling_config), notes)
        elif kind in ("Normalize", "Dropout"):
            continue
        elif kind == "Dense":
            had_dense = True
            result = _through_dense(stage, sub, threshold)
            if isinstance(result, str):
                return _not_understood(folder, architecture, model_type, result, threshold)
            stage = result
        else:
            return _not_understood(
                folder, architecture, model_type,
                f"DimScope does not understand the module {kind or module.get('type')!r} in this model's "
                "sentence-transformers pipeline (modules.json): it can follow a final LayerNorm only through "
                "Pooling, Dense, Normalize and Dropout, so it reports nothing rather than guess.",
                threshold,
            )

    dims = sorted(stage.flagged)
    evidence = [stage.flagged[d][1] for d in dims]
    if had_dense:
        message = (
            f"Scanned {architecture}. In the transformer, {transformer_summary} A Dense layer follows the pooling; "
            f"after it, {_dense_summary(stage, dims)}"
        )
    else:
        message = f"Scanned {architecture}: {transformer_summary}"
        if dims and len(dims) != len(flagged):
            message += f" In the output embedding ({stage.size} dims) these are dims {_format_dims(dims)}."
    if notes:
        message += " " + " ".join(notes)
    return WeightDiagnosis(
        model_path=str(folder),
        architecture=architecture,
        understood=True,
        message=message,
        final_layer=stage.layer,
        dead_dims_from_weights=dims,
        evidence=evidence,
        weight_abs=[float(v) for v in stage.weight_abs],
        bias_abs=[float(v) for v in stage.bias_abs],
        threshold=threshold,
        model_type=model_type,
        notes=notes,
    )


def _norm_summary(layer: str, hidden: int, flagged: dict, g_abs: np.ndarray, g_scale: float, threshold: float) -> str:
    if not flagged:
        order = np.argsort(g_abs)
        j = int(order[0])
        ratio = g_abs[j] / g_scale if g_scale > 0 else float("nan")
        return (
            f"no dimension is forced to a constant by the final LayerNorm {layer} ({hidden} dims). "
            f"Its smallest |weight| is {g_abs[j]:.3g} (dim {j}), {ratio:.2g} x the median {g_scale:.3g}; "
            f"the flag level is {threshold:g} x the median."
        )
    dims = sorted(flagged)
    zero = [d for d in dims if flagged[d][1].verdict == "zero"]
    const = [d for d in dims if flagged[d][1].verdict == "constant"]
    text = (
        f"the final LayerNorm {layer} ({hidden} dims) has |weight| below {threshold:g} x the median "
        f"({g_scale:.3g}) at {len(dims)} dim{'s' if len(dims) != 1 else ''}: {_format_dims(dims)}."
    )
    if zero:
        text += f" Zero for every input (bias ~0 too): {_format_dims(zero)}."
    if const:
        text += f" Constant but not zero (the bias sets the value): {_format_dims(const)}."
    return text


def _dense_summary(stage: _Stage, dims: list[int]) -> str:
    if not dims:
        return (
            f"no output dimension is forced to a constant: every row of {stage.layer} has weight on some varying "
            "input, so the dims reported are none."
        )
    return f"{stage.layer} forces output dim{'s' if len(dims) != 1 else ''} {_format_dims(dims)} to a constant."


def _through_pooling(stage: _Stage, modes: list[str], notes: list[str]) -> _Stage:
    flagged: dict[int, tuple[float, DimensionEvidence]] = {}
    for k, mode in enumerate(modes):
        for j, (value, ev) in stage.flagged.items():
            if mode == "mean_sqrt_len_tokens" and ev.verdict != "zero":
                continue  # constant * sqrt(length) varies with the length
            out = k * stage.size + j
            flagged[out] = (value, DimensionEvidence(out, ev.layer, ev.weight, ev.bias, ev.verdict))
    if len(modes) > 1:
        notes.append(f"Pooling concatenates {len(modes)} modes ({', '.join(modes)}), so hidden dim j appears as output dims j + k x {stage.size}.")
    if "mean_sqrt_len_tokens" in modes and any(ev.verdict == "constant" for _, ev in stage.flagged.values()):
        notes.append("mean_sqrt_len_tokens pooling scales constant dims by sqrt(length), so only zero dims stay dead there.")
    return _Stage(
        stage.size * len(modes), flagged, stage.layer,
        np.tile(stage.weight_abs, len(modes)), np.tile(stage.bias_abs, len(modes)),
    )


def _through_dense(stage: _Stage, folder: Path, threshold: float) -> _Stage | str:
    config = _read_json(folder / "config.json", "Dense config") if (folder / "config.json").is_file() else {}
    if config.get("use_residual"):
        return "DimScope does not understand a residual Dense layer (use_residual) in this pipeline, so it reports nothing rather than guess."
    store = _WeightStore(folder, "The Dense module")
    if "linear.weight" not in store:
        return f"DimScope does not understand the Dense module in {folder}: it has no 'linear.weight' tensor."
    weight = store.get("linear.weight")
    bias = store.get("linear.bias").reshape(-1) if "linear.bias" in store else np.zeros(weight.shape[0])
    if weight.ndim != 2 or weight.shape[1] != stage.size or bias.size != weight.shape[0]:
        return (
            f"DimScope does not understand the Dense module in {folder}: weight shape {weight.shape} does not "
            f"take the {stage.size}-dim input."
        )
    activation = _module_kind(config.get("activation_function", "torch.nn.modules.activation.Tanh")).lower()
    varying = np.ones(stage.size, dtype=bool)
    varying[list(stage.flagged)] = False
    live_max = np.abs(weight[:, varying]).max(axis=1) if varying.any() else np.zeros(weight.shape[0])
    scale = _relative_scale(live_max)
    values = np.zeros(stage.size)
    for j, (value, _) in stage.flagged.items():
        values[j] = value
    pre = bias + weight[:, ~varying] @ values[~varying]
    b_scale = _relative_scale(np.abs(bias))
    if b_scale == 0.0:
        b_scale = scale
    layer = f"{folder.name}/linear" if folder.name else "linear"
    flagged: dict[int, tuple[float, DimensionEvidence]] = {}
    rows = np.flatnonzero(live_max < threshold * scale) if scale > 0 else np.arange(weight.shape[0])
    for i in rows:
        c = float(pre[i])
        zero = activation in _ZERO_PRESERVING_ACTIVATIONS and abs(c) < threshold * b_scale
        fn = _ACTIVATIONS.get(activation)
        value = 0.0 if zero else (float(fn(np.array([c]))[0]) if fn else c)
        flagged[int(i)] = (value, DimensionEvidence(int(i), layer, float(live_max[i]), c, "zero" if zero else "constant"))
    return _Stage(weight.shape[0], flagged, layer, live_max, np.abs(pre))


# --- comparison with a corpus scan -------------------------------------------------------------


def compare_with_corpus(diagnosis: WeightDiagnosis, corpus_dead_dims: list[int]) -> dict[str, Any]:
    """Set comparison of the weight scan with dead dims found on a corpus (``analysis.stats``).

    Returns ``{"both", "weights_only", "corpus_only", "agree", "explanation"}``; the lists are
    sorted output dims. ``agree`` is True when the scan understood the model and both sets match.
    """
    try:
        corpus = sorted({int(d) for d in corpus_dead_dims})
    except (TypeError, ValueError):
        raise OptionError("corpus_dead_dims must be a list of integer dimension indices.") from None
    if any(d < 0 for d in corpus) or (diagnosis.weight_abs and any(d >= len(diagnosis.weight_abs) for d in corpus)):
        raise OptionError(
            f"corpus_dead_dims must be in [0, {len(diagnosis.weight_abs) or '?'}) for this model, got {_format_dims(corpus)}."
        )
    weights = set(diagnosis.dead_dims_from_weights)
    both = sorted(weights & set(corpus))
    weights_only = sorted(weights - set(corpus))
    corpus_only = sorted(set(corpus) - weights)
    if not diagnosis.understood:
        return {
            "both": [], "weights_only": [], "corpus_only": corpus, "agree": False,
            "explanation": "The weight scan could not read this architecture (" + diagnosis.message
            + ") Only the corpus result is available.",
        }
    agree = not weights_only and not corpus_only
    parts: list[str] = []
    if agree and both:
        parts.append(
            f"Weights and corpus agree on dims {_format_dims(both)}: {diagnosis.final_layer} forces them to a constant, "
            "so they are dead for every input, not only for this corpus."
        )
    elif agree:
        parts.append("Weights and corpus agree: no dead dimensions.")
    if both and not agree:
        parts.append(f"Both flag dims {_format_dims(both)}: forced constant by {diagnosis.final_layer}.")
    if weights_only:
        constant = {e.dim for e in diagnosis.evidence if e.verdict == "constant"}
        parts.append(
            f"The weights force dims {_format_dims(weights_only)} to a constant but the corpus did not flag them"
            + (
                " (some are constant but not zero: after the model's Normalize such a dim is divided by a varying norm, "
                "so check that corpus statistics use the raw pooled output)"
                if constant & set(weights_only) else " (check the corpus threshold)"
            )
            + "."
        )
    if corpus_only:
        parts.append(
            f"The corpus flags dims {_format_dims(corpus_only)} that the final layer does not force constant: they are "
            "quiet on this corpus rather than dead by construction; a larger or more varied corpus may wake them."
        )
    return {
        "both": both, "weights_only": weights_only, "corpus_only": corpus_only, "agree": agree,
        "explanation": " ".join(parts),
    }
