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
0.14. A corpus scan (:mod:`analysis.measures.stats`) finds the same dims; this scan says *why*, and needs
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

Example (the packaged all-MiniLM-L6-v2; reading the weights takes a fraction of a second):

>>> from analysis.models import resolve_model
>>> d = diagnose_model_folder(resolve_model("all-MiniLM-L6-v2").path)
>>> d.dead_dims_from_weights, d.final_layer
([127, 223, 319], 'encoder.layer.5.output.LayerNorm')
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import ModelUnavailableError, OptionError
from analysis.models.folder import WeightStore, load_json, module_kind, pooling_modes, read_modules, transformer_dir

__all__ = [
    "DimensionEvidence",
    "WeightDiagnosis",
    "diagnose_model_folder",
    "KNOWN_ARCHITECTURES",
    "NotUnderstood",
]

# model_type (lower case, "_" -> "-") -> (pattern of the final norm's tensor prefix, human description)
_POST_LN_ENCODER = (
    re.compile(
        r"^(?P<prefix>(?:[A-Za-z0-9_]+\.)*?)encoder\.layer\.(?P<idx>\d+)\.output\.LayerNorm\.(?P<param>weight|bias|gamma|beta)$"
    ),
    "encoder.layer.{L}.output.LayerNorm",
)
_DISTILBERT = (
    re.compile(
        r"^(?P<prefix>(?:[A-Za-z0-9_]+\.)*?)transformer\.layer\.(?P<idx>\d+)\.output_layer_norm\.(?P<param>weight|bias|gamma|beta)$"
    ),
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
_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
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


# --- the scan, step by step -----------------------------------------------------------------------


class NotUnderstood(Exception):
    """The scan cannot read this model; the message says what it found and what it looked for."""

    def __init__(self, message: str, *, architecture: str | None = None, model_type: str | None = None) -> None:
        super().__init__(message)
        self.architecture = architecture
        self.model_type = model_type


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


@dataclass(frozen=True)
class _ModelFiles:
    """What the scan reads before touching any weight: the pipeline and the transformer's config."""

    folder: Path
    modules: list[dict[str, Any]] | None
    transformer_dir: Path
    config: dict[str, Any]
    architecture: str
    model_type: str


def format_dims(dims: Iterable[int], limit: int = 20) -> str:
    dims = list(dims)
    text = ", ".join(str(d) for d in dims[:limit])
    return text + (f" and {len(dims) - limit} more" if len(dims) > limit else "")


def _check_threshold(relative_threshold: Any) -> float:
    try:
        threshold = float(relative_threshold)
    except (TypeError, ValueError):
        raise OptionError(f"relative_threshold must be a number in (0, 1), not {relative_threshold!r}.") from None
    if not (0.0 < threshold < 1.0):
        raise OptionError(f"relative_threshold must be in (0, 1) (default 1e-3), not {relative_threshold!r}.")
    return threshold


def _model_folder(path: str | os.PathLike[str]) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelUnavailableError(
            f"'{path}' is not a folder. Give the folder of a sentence-transformers or Hugging Face model "
            "(the one holding config.json and model.safetensors)."
        )
    return folder


def _read_model_files(folder: Path, notes: list[str]) -> _ModelFiles:
    """The pipeline (or Transformer -> mean pooling without modules.json) and the transformer's config."""
    modules = read_modules(folder)
    if modules is not None:
        first_kind = module_kind(modules[0].get("type", ""))
        if first_kind != "Transformer":
            architecture = first_kind or "unknown"
            raise NotUnderstood(
                f"DimScope does not understand a sentence-transformers pipeline that starts with {architecture}: "
                "the weight scan needs a Transformer module first (its final LayerNorm is what it reads).",
                architecture=architecture,
                model_type="",
            )
    else:
        notes.append("No modules.json: read as Transformer -> mean pooling, the sentence-transformers default.")
    text_dir = transformer_dir(folder, modules)
    config_path = text_dir / "config.json"
    if not config_path.is_file():
        raise ModelUnavailableError(
            f"{folder} has no config.json{' in ' + str(text_dir) if text_dir != folder else ''}: "
            "it is not a Hugging Face or sentence-transformers model folder."
        )
    config = load_json(config_path, "model config")
    if not isinstance(config, dict):
        raise ModelUnavailableError(f"{config_path} is not a JSON object.")
    model_type = str(config.get("model_type") or "").strip()
    architectures = config.get("architectures") or []
    architecture = (
        str(architectures[0]) if isinstance(architectures, list) and architectures else (model_type or "unknown")
    )
    return _ModelFiles(folder, modules, text_dir, config, architecture, model_type)


def _final_layer_norm(store: WeightStore, model: _ModelFiles, notes: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """(tensor prefix, gamma, beta) of the last layer's output LayerNorm of a known architecture."""
    key = model.model_type.lower().replace("_", "-")
    if key not in KNOWN_ARCHITECTURES:
        known = ", ".join(sorted(KNOWN_ARCHITECTURES))
        raise NotUnderstood(
            f"DimScope does not understand the architecture {model.architecture} (model_type "
            f"'{model.model_type or '?'}'): its weight scan knows only post-LayerNorm encoders ({known}), where the "
            "last layer's output LayerNorm produces the embedding. No dimensions are reported from the weights; "
            "use the corpus scan."
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
        raise NotUnderstood(
            f"DimScope does not understand the architecture {model.architecture}: no final LayerNorm tensor matching "
            f"'[prefix.]{description}.weight' was found among its {len(store.keys())} weight tensors."
        )
    if len(prefixes) > 1:
        raise NotUnderstood(
            f"DimScope does not understand the architecture {model.architecture}: several stacks of "
            f"'{description}' tensors were found (prefixes {', '.join(repr(p) for p in sorted(prefixes))}), "
            "so which one makes the embedding is ambiguous."
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
        raise NotUnderstood(
            f"DimScope does not understand {final_layer} of {model.architecture}: its weight has {gamma.size} values "
            f"but its bias {beta.size}."
        )
    n_layers = model.config.get("num_hidden_layers", model.config.get("n_layers"))
    if isinstance(n_layers, int) and n_layers != last + 1:
        notes.append(
            f"config.json says {n_layers} layers but the weights end at layer index {last}; the weights were used."
        )
    return final_layer, gamma, beta


def _scan_layer_norm(final_layer: str, gamma: np.ndarray, beta: np.ndarray, threshold: float) -> tuple[_Stage, str]:
    """The dims the final LayerNorm forces to a constant, and a sentence saying so."""
    hidden = gamma.size
    g_abs, b_abs = np.abs(gamma), np.abs(beta)
    g_scale = _relative_scale(g_abs)
    b_scale = _relative_scale(b_abs) or g_scale
    flagged_idx = np.flatnonzero(g_abs < threshold * g_scale) if g_scale > 0 else np.arange(hidden)
    flagged: dict[int, tuple[float, DimensionEvidence]] = {}
    for j in flagged_idx:
        verdict = "zero" if b_abs[j] < threshold * b_scale else "constant"
        value = 0.0 if verdict == "zero" else float(beta[j])
        flagged[int(j)] = (value, DimensionEvidence(int(j), final_layer, float(gamma[j]), float(beta[j]), verdict))
    summary = _norm_summary(final_layer, hidden, flagged, g_abs, g_scale, threshold)
    return _Stage(hidden, flagged, final_layer, g_abs, b_abs), summary


def _follow_pipeline(stage: _Stage, model: _ModelFiles, threshold: float, notes: list[str]) -> tuple[_Stage, bool]:
    """Carry the flagged dims through the modules after the transformer; (last stage, a Dense was met)."""
    rest = model.modules[1:] if model.modules is not None else [{"type": "Pooling", "path": None}]
    had_dense = False
    for module in rest:
        kind = module_kind(module.get("type", ""))
        sub = model.folder / str(module.get("path") or "")
        if kind == "Pooling":
            has_config = bool(module.get("path")) and (sub / "config.json").is_file()
            pooling_config = load_json(sub / "config.json", "pooling config") if has_config else {}
            stage = _through_pooling(stage, list(pooling_modes(pooling_config)), notes)
        elif kind in ("Normalize", "Dropout"):
            continue
        elif kind == "Dense":
            had_dense = True
            stage = _through_dense(stage, sub, threshold)
        else:
            raise NotUnderstood(
                f"DimScope does not understand the module {kind or module.get('type')!r} in this model's "
                "sentence-transformers pipeline (modules.json): it can follow a final LayerNorm only through "
                "Pooling, Dense, Normalize and Dropout, so it reports nothing rather than guess."
            )
    return stage, had_dense


def _not_understood(
    folder: Path, architecture: str, model_type: str, message: str, threshold: float
) -> WeightDiagnosis:
    return WeightDiagnosis(
        model_path=str(folder),
        architecture=architecture,
        understood=False,
        message=message,
        final_layer=None,
        dead_dims_from_weights=[],
        evidence=[],
        weight_abs=[],
        bias_abs=[],
        threshold=threshold,
        model_type=model_type,
    )


def diagnose_model_folder(path: str | os.PathLike[str], *, relative_threshold: float = 1e-3) -> WeightDiagnosis:
    """Scan a model folder's weights for output dims forced to a constant (see the module docstring).

    ``path`` is a sentence-transformers folder (``modules.json``) or a plain Hugging Face model
    folder (``config.json`` + weights). Raises ``ModelUnavailableError`` when it is not a model
    folder, ``OptionError`` for a threshold outside (0, 1). An architecture it does not know
    gives ``understood=False`` and an empty list, never a guess.
    """
    threshold = _check_threshold(relative_threshold)
    folder = _model_folder(path)
    notes: list[str] = []
    architecture, model_type = "unknown", ""
    try:
        model = _read_model_files(folder, notes)
        architecture, model_type = model.architecture, model.model_type
        store = WeightStore(model.transformer_dir, "The transformer")
        stage, summary = _scan_layer_norm(*_final_layer_norm(store, model, notes), threshold)
        n_transformer_dims = len(stage.flagged)
        stage, had_dense = _follow_pipeline(stage, model, threshold, notes)
    except NotUnderstood as exc:
        architecture = exc.architecture if exc.architecture is not None else architecture
        model_type = exc.model_type if exc.model_type is not None else model_type
        return _not_understood(folder, architecture, model_type, str(exc), threshold)

    dims = sorted(stage.flagged)
    if had_dense:
        message = (
            f"Scanned {architecture}. In the transformer, {summary} A Dense layer follows the pooling; "
            f"after it, {_dense_summary(stage, dims)}"
        )
    else:
        message = f"Scanned {architecture}: {summary}"
        if dims and len(dims) != n_transformer_dims:
            message += f" In the output embedding ({stage.size} dims) these are dims {format_dims(dims)}."
    if notes:
        message += " " + " ".join(notes)
    return WeightDiagnosis(
        model_path=str(folder),
        architecture=architecture,
        understood=True,
        message=message,
        final_layer=stage.layer,
        dead_dims_from_weights=dims,
        evidence=[stage.flagged[d][1] for d in dims],
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
        f"({g_scale:.3g}) at {len(dims)} dim{'s' if len(dims) != 1 else ''}: {format_dims(dims)}."
    )
    if zero:
        text += f" Zero for every input (bias ~0 too): {format_dims(zero)}."
    if const:
        text += f" Constant but not zero (the bias sets the value): {format_dims(const)}."
    return text


def _dense_summary(stage: _Stage, dims: list[int]) -> str:
    if not dims:
        return (
            f"no output dimension is forced to a constant: every row of {stage.layer} has weight on some varying "
            "input, so the dims reported are none."
        )
    return f"{stage.layer} forces output dim{'s' if len(dims) != 1 else ''} {format_dims(dims)} to a constant."


def _through_pooling(stage: _Stage, modes: list[str], notes: list[str]) -> _Stage:
    flagged: dict[int, tuple[float, DimensionEvidence]] = {}
    for k, mode in enumerate(modes):
        for j, (value, ev) in stage.flagged.items():
            if mode == "mean_sqrt_len_tokens" and ev.verdict != "zero":
                continue  # constant * sqrt(length) varies with the length
            out = k * stage.size + j
            flagged[out] = (value, DimensionEvidence(out, ev.layer, ev.weight, ev.bias, ev.verdict))
    if len(modes) > 1:
        notes.append(
            f"Pooling concatenates {len(modes)} modes ({', '.join(modes)}), so hidden dim j appears as output "
            f"dims j + k x {stage.size}."
        )
    if "mean_sqrt_len_tokens" in modes and any(ev.verdict == "constant" for _, ev in stage.flagged.values()):
        notes.append(
            "mean_sqrt_len_tokens pooling scales constant dims by sqrt(length), so only zero dims stay dead there."
        )
    return _Stage(
        stage.size * len(modes),
        flagged,
        stage.layer,
        np.tile(stage.weight_abs, len(modes)),
        np.tile(stage.bias_abs, len(modes)),
    )


def _through_dense(stage: _Stage, folder: Path, threshold: float) -> _Stage:
    config = load_json(folder / "config.json", "Dense config") if (folder / "config.json").is_file() else {}
    if config.get("use_residual"):
        raise NotUnderstood(
            "DimScope does not understand a residual Dense layer (use_residual) in this pipeline, "
            "so it reports nothing rather than guess."
        )
    store = WeightStore(folder, "The Dense module")
    if "linear.weight" not in store:
        raise NotUnderstood(
            f"DimScope does not understand the Dense module in {folder}: it has no 'linear.weight' tensor."
        )
    weight = store.get("linear.weight")
    bias = store.get("linear.bias").reshape(-1) if "linear.bias" in store else np.zeros(weight.shape[0])
    if weight.ndim != 2 or weight.shape[1] != stage.size or bias.size != weight.shape[0]:
        raise NotUnderstood(
            f"DimScope does not understand the Dense module in {folder}: weight shape {weight.shape} does not "
            f"take the {stage.size}-dim input."
        )
    activation = module_kind(config.get("activation_function", "torch.nn.modules.activation.Tanh")).lower()
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
        value = 0.0 if zero else (float(fn(np.array([c]))[0]) if fn is not None else c)
        flagged[int(i)] = (
            value,
            DimensionEvidence(int(i), layer, float(live_max[i]), c, "zero" if zero else "constant"),
        )
    return _Stage(weight.shape[0], flagged, layer, live_max, np.abs(pre))
