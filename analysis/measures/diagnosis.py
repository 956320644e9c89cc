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

Where the final LayerNorm is, and the modules after it, is read from the model's files by
:func:`analysis.models.weights.read_model_weights`: the scan here receives them as arrays
(:class:`ModelWeights`) and reads no file.

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

Example, on hand-made weights (a 4-dim LayerNorm whose dim 2 has weight and bias ~0, then mean
pooling); :func:`analysis.reports.diagnosis.diagnose_model_folder` reads a model folder and scans it:

>>> weights = ModelWeights("demo", "BertModel", "bert", "encoder.layer.0.output.LayerNorm",
...                        gamma=np.array([0.6, 0.7, 1e-9, 0.5]), beta=np.array([0.1, -0.2, 0.0, 0.3]),
...                        steps=(PoolingStep(("mean",)),))
>>> scan_weights(weights).dead_dims_from_weights
[2]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis.errors import OptionError

__all__ = [
    "DenseStep",
    "DimensionEvidence",
    "ModelWeights",
    "NotUnderstood",
    "PoolingStep",
    "WeightDiagnosis",
    "check_threshold",
    "scan_weights",
]

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
class PoolingStep:
    """A Pooling module: its modes, whose outputs are concatenated in this order."""

    modes: tuple[str, ...]


@dataclass(frozen=True)
class DenseStep:
    """A Dense module, ``y = act(weight @ x + bias)``."""

    path: str  # the module's folder, named in messages
    layer: str  # its name in the evidence, e.g. "2_Dense/linear"
    weight: np.ndarray  # output dims x input dims
    bias: np.ndarray  # one per output dim
    activation: str  # lower case, e.g. "tanh"


@dataclass(frozen=True)
class ModelWeights:
    """What the scan needs of a model, as arrays: the final LayerNorm and the modules after it.

    Read from a folder by :func:`analysis.models.weights.read_model_weights`.
    """

    path: str
    architecture: str  # e.g. "BertModel"
    model_type: str  # e.g. "bert"
    final_layer: str  # tensor name prefix of the final LayerNorm
    gamma: np.ndarray  # its weight, one per hidden dim
    beta: np.ndarray  # its bias
    steps: tuple[PoolingStep | DenseStep, ...]  # after the transformer; Normalize and Dropout left out
    notes: tuple[str, ...] = ()  # what the reading assumed, said in the result's message


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
    """Result of :func:`scan_weights`. ``to_dict()`` is JSON-ready."""

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

    @classmethod
    def not_understood(
        cls, model_path: str, architecture: str, model_type: str, message: str, threshold: float
    ) -> WeightDiagnosis:
        """The result for a model the scan cannot follow: no dims, and ``message`` says why."""
        return cls(
            model_path=model_path,
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


def format_dims(dims: Iterable[int], limit: int = 20) -> str:
    dims = list(dims)
    text = ", ".join(str(d) for d in dims[:limit])
    return text + (f" and {len(dims) - limit} more" if len(dims) > limit else "")


def check_threshold(relative_threshold: Any) -> float:
    """The relative threshold as a float in (0, 1); an OptionError for anything else."""
    try:
        threshold = float(relative_threshold)
    except (TypeError, ValueError):
        raise OptionError(f"relative_threshold must be a number in (0, 1), not {relative_threshold!r}.") from None
    if not (0.0 < threshold < 1.0):
        raise OptionError(f"relative_threshold must be in (0, 1) (default 1e-3), not {relative_threshold!r}.")
    return threshold


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


def _follow_pipeline(
    stage: _Stage, steps: Iterable[PoolingStep | DenseStep], notes: list[str], threshold: float
) -> tuple[_Stage, bool]:
    """Carry the flagged dims through the modules after the transformer; (last stage, a Dense was met)."""
    had_dense = False
    for step in steps:
        if isinstance(step, PoolingStep):
            stage = _through_pooling(stage, list(step.modes), notes)
        else:
            had_dense = True
            stage = _through_dense(stage, step, threshold)
    return stage, had_dense


def scan_weights(weights: ModelWeights, *, relative_threshold: float = 1e-3) -> WeightDiagnosis:
    """The output dims a model's weights force to a constant (see the module docstring).

    An OptionError for a threshold outside (0, 1). A pipeline the scan cannot follow (a Dense layer
    whose shape does not take the previous output) gives ``understood=False`` and no dims, never a guess.
    """
    threshold = check_threshold(relative_threshold)
    architecture = weights.architecture
    notes = list(weights.notes)
    try:
        stage, summary = _scan_layer_norm(weights.final_layer, weights.gamma, weights.beta, threshold)
        n_transformer_dims = len(stage.flagged)
        stage, had_dense = _follow_pipeline(stage, weights.steps, notes, threshold)
    except NotUnderstood as exc:
        return WeightDiagnosis.not_understood(weights.path, architecture, weights.model_type, str(exc), threshold)

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
        model_path=weights.path,
        architecture=architecture,
        understood=True,
        message=message,
        final_layer=stage.layer,
        dead_dims_from_weights=dims,
        evidence=[stage.flagged[d][1] for d in dims],
        weight_abs=[float(v) for v in stage.weight_abs],
        bias_abs=[float(v) for v in stage.bias_abs],
        threshold=threshold,
        model_type=weights.model_type,
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


def _through_dense(stage: _Stage, dense: DenseStep, threshold: float) -> _Stage:
    weight, bias, activation = dense.weight, dense.bias, dense.activation
    if weight.ndim != 2 or weight.shape[1] != stage.size or bias.size != weight.shape[0]:
        raise NotUnderstood(
            f"DimScope does not understand the Dense module in {dense.path}: weight shape {weight.shape} does not "
            f"take the {stage.size}-dim input."
        )
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
    layer = dense.layer
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
