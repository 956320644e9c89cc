"""The weight scan's reader: a model folder to the arrays :mod:`analysis.measures.diagnosis` scans.

The scan itself is math on arrays; everything it needs from the files is read here, with the
rest of the folder reading (:mod:`analysis.models.folder`).

Where the final LayerNorm is
----------------------------
Read from ``config.json`` (``model_type``, ``architectures``), only for architectures listed in
``KNOWN_ARCHITECTURES``, by tensor name, with an optional leading prefix (``bert.``,
``roberta.``, ``model.``...):

* ``encoder.layer.{L}.output.LayerNorm`` (bert, roberta, xlm-roberta, camembert, mpnet, electra)
* ``transformer.layer.{L}.output_layer_norm`` (distilbert)

``L`` is the largest layer index present in the tensor names (the config is not trusted for it).
TF-era ``gamma``/``beta`` tensor names are accepted. Anything else raises ``NotUnderstood`` with
a plain message: the reader never guesses.

The modules after the transformer (``modules.json``) become :class:`PoolingStep` and
:class:`DenseStep`; ``Normalize`` and ``Dropout`` keep every dimension and are passed over; any
other module is not understood. No ``modules.json`` (a plain Hugging Face folder) is read as
Transformer -> mean pooling, the default of ``SentenceTransformer``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from analysis.errors import ModelUnavailableError
from analysis.measures.diagnosis import DenseStep, ModelWeights, NotUnderstood, PoolingStep
from analysis.models.folder import WeightStore, load_json, module_kind, pooling_modes, read_modules, transformer_dir

__all__ = ["KNOWN_ARCHITECTURES", "read_model_weights"]

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


def read_model_weights(path: str | os.PathLike[str]) -> ModelWeights:
    """The final LayerNorm's weight and bias and the pipeline after it, as arrays, from a model folder.

    ``path`` is a sentence-transformers folder (``modules.json``) or a plain Hugging Face model folder
    (``config.json`` + weights). Raises ``ModelUnavailableError`` when it is not a model folder, and
    ``NotUnderstood`` (with the architecture found so far) for a model the scan cannot follow.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelUnavailableError(
            f"'{path}' is not a folder. Give the folder of a sentence-transformers or Hugging Face model "
            "(the one holding config.json and model.safetensors)."
        )
    notes: list[str] = []
    modules = _read_modules(folder, notes)
    text_dir = transformer_dir(folder, modules)
    config = _read_config(folder, text_dir)
    model_type = str(config.get("model_type") or "").strip()
    architectures = config.get("architectures") or []
    architecture = (
        str(architectures[0]) if isinstance(architectures, list) and architectures else (model_type or "unknown")
    )
    try:
        store = WeightStore(text_dir, "The transformer")
        final_layer, gamma, beta = _final_layer_norm(store, config, architecture, model_type, notes)
        rest = modules[1:] if modules is not None else [{"type": "Pooling", "path": None}]
        steps = tuple(step for module in rest if (step := _step(folder, module)) is not None)
    except NotUnderstood as exc:
        raise NotUnderstood(str(exc), architecture=architecture, model_type=model_type) from None
    return ModelWeights(str(folder), architecture, model_type, final_layer, gamma, beta, steps, tuple(notes))


def _read_modules(folder: Path, notes: list[str]) -> list[dict[str, Any]] | None:
    """The pipeline, which must start with a Transformer; None (mean pooling) without modules.json."""
    modules = read_modules(folder)
    if modules is None:
        notes.append("No modules.json: read as Transformer -> mean pooling, the sentence-transformers default.")
        return None
    first_kind = module_kind(modules[0].get("type", ""))
    if first_kind != "Transformer":
        architecture = first_kind or "unknown"
        raise NotUnderstood(
            f"DimScope does not understand a sentence-transformers pipeline that starts with {architecture}: "
            "the weight scan needs a Transformer module first (its final LayerNorm is what it reads).",
            architecture=architecture,
            model_type="",
        )
    return modules


def _read_config(folder: Path, text_dir: Path) -> dict[str, Any]:
    config_path = text_dir / "config.json"
    if not config_path.is_file():
        raise ModelUnavailableError(
            f"{folder} has no config.json{' in ' + str(text_dir) if text_dir != folder else ''}: "
            "it is not a Hugging Face or sentence-transformers model folder."
        )
    config = load_json(config_path, "model config")
    if not isinstance(config, dict):
        raise ModelUnavailableError(f"{config_path} is not a JSON object.")
    return config


def _final_layer_norm(
    store: WeightStore, config: dict[str, Any], architecture: str, model_type: str, notes: list[str]
) -> tuple[str, np.ndarray, np.ndarray]:
    """(tensor prefix, gamma, beta) of the last layer's output LayerNorm of a known architecture."""
    key = model_type.lower().replace("_", "-")
    if key not in KNOWN_ARCHITECTURES:
        known = ", ".join(sorted(KNOWN_ARCHITECTURES))
        raise NotUnderstood(
            f"DimScope does not understand the architecture {architecture} (model_type "
            f"'{model_type or '?'}'): its weight scan knows only post-LayerNorm encoders ({known}), where the "
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
            f"DimScope does not understand the architecture {architecture}: no final LayerNorm tensor matching "
            f"'[prefix.]{description}.weight' was found among its {len(store.keys())} weight tensors."
        )
    if len(prefixes) > 1:
        raise NotUnderstood(
            f"DimScope does not understand the architecture {architecture}: several stacks of "
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
            f"DimScope does not understand {final_layer} of {architecture}: its weight has {gamma.size} values "
            f"but its bias {beta.size}."
        )
    n_layers = config.get("num_hidden_layers", config.get("n_layers"))
    if isinstance(n_layers, int) and n_layers != last + 1:
        notes.append(
            f"config.json says {n_layers} layers but the weights end at layer index {last}; the weights were used."
        )
    return final_layer, gamma, beta


def _step(folder: Path, module: dict[str, Any]) -> PoolingStep | DenseStep | None:
    """One module after the transformer as the scan's step; None for modules that keep every dim."""
    kind = module_kind(module.get("type", ""))
    sub = folder / str(module.get("path") or "")
    if kind == "Pooling":
        has_config = bool(module.get("path")) and (sub / "config.json").is_file()
        return PoolingStep(tuple(pooling_modes(load_json(sub / "config.json", "pooling config") if has_config else {})))
    if kind in ("Normalize", "Dropout"):
        return None
    if kind == "Dense":
        return _dense(sub)
    raise NotUnderstood(
        f"DimScope does not understand the module {kind or module.get('type')!r} in this model's "
        "sentence-transformers pipeline (modules.json): it can follow a final LayerNorm only through "
        "Pooling, Dense, Normalize and Dropout, so it reports nothing rather than guess."
    )


def _dense(folder: Path) -> DenseStep:
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
    activation = module_kind(config.get("activation_function", "torch.nn.modules.activation.Tanh")).lower()
    return DenseStep(str(folder), f"{folder.name}/linear" if folder.name else "linear", weight, bias, activation)
