"""The diagnosis report: the weight scan of a model, optionally against a corpus scan.

``to_dict()`` is the JSON of ``python -m analysis diagnose --format json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analysis.errors import OptionError
from analysis.measures.diagnosis import NotUnderstood, WeightDiagnosis, check_threshold, format_dims, scan_weights
from analysis.models import ResolvedModel, as_resolved
from analysis.models.weights import read_model_weights

if TYPE_CHECKING:  # the scan alone reads weights only: no corpora, no cache, no pipeline
    from analysis.corpora import Corpus
    from analysis.encoding import ProgressCallback
    from analysis.pipeline.cache import EmbeddingStore
    from analysis.vectors import VectorSource


# --- the weight scan of a model folder ----------------------------------------------------------------


def diagnose_model_folder(path: str | os.PathLike[str], *, relative_threshold: float = 1e-3) -> WeightDiagnosis:
    """Scan a model folder's weights for output dims forced to a constant.

    ``path`` is a sentence-transformers folder (``modules.json``) or a plain Hugging Face model
    folder (``config.json`` + weights): :func:`analysis.models.weights.read_model_weights` reads it,
    :func:`analysis.measures.diagnosis.scan_weights` computes. Raises ``ModelUnavailableError`` when
    it is not a model folder, ``OptionError`` for a threshold outside (0, 1). An architecture the
    scan does not know gives ``understood=False`` and an empty list, never a guess.

    Example (the packaged all-MiniLM-L6-v2; reading the weights takes a fraction of a second):

    >>> from analysis.models import resolve_model
    >>> d = diagnose_model_folder(resolve_model("all-MiniLM-L6-v2").path)
    >>> d.dead_dims_from_weights, d.final_layer
    ([127, 223, 319], 'encoder.layer.5.output.LayerNorm')
    """
    threshold = check_threshold(relative_threshold)
    try:
        weights = read_model_weights(path)
    except NotUnderstood as exc:
        folder = str(os.path.expanduser(path))
        return WeightDiagnosis.not_understood(
            folder, exc.architecture or "unknown", exc.model_type or "", str(exc), threshold
        )
    return scan_weights(weights, relative_threshold=threshold)


# --- the weight scan against a corpus scan -------------------------------------------------------------


@dataclass(frozen=True)
class CorpusComparison:
    """The weight scan against the dead dims a corpus scan found; the lists are sorted output dims."""

    both: list[int]
    weights_only: list[int]
    corpus_only: list[int]
    agree: bool  # the scan understood the model and both sets match
    explanation: str


def compare_with_corpus(diagnosis: WeightDiagnosis, corpus_dead_dims: list[int]) -> CorpusComparison:
    """Set comparison of the weight scan with dead dims found on a corpus (:mod:`analysis.measures.stats`)."""
    try:
        corpus = sorted({int(d) for d in corpus_dead_dims})
    except (TypeError, ValueError):
        raise OptionError("corpus_dead_dims must be a list of integer dimension indices.") from None
    if any(d < 0 for d in corpus) or (diagnosis.weight_abs and any(d >= len(diagnosis.weight_abs) for d in corpus)):
        raise OptionError(
            f"corpus_dead_dims must be in [0, {len(diagnosis.weight_abs) or '?'}) for this model, "
            f"got {format_dims(corpus)}."
        )
    weights = set(diagnosis.dead_dims_from_weights)
    both = sorted(weights & set(corpus))
    weights_only = sorted(weights - set(corpus))
    corpus_only = sorted(set(corpus) - weights)
    if not diagnosis.understood:
        return CorpusComparison(
            both=[],
            weights_only=[],
            corpus_only=corpus,
            agree=False,
            explanation="The weight scan could not read this architecture ("
            + diagnosis.message
            + ") Only the corpus result is available.",
        )
    agree = not weights_only and not corpus_only
    parts: list[str] = []
    if agree and both:
        parts.append(
            f"Weights and corpus agree on dims {format_dims(both)}: {diagnosis.final_layer} forces them to a "
            "constant, so they are dead for every input, not only for this corpus."
        )
    elif agree:
        parts.append("Weights and corpus agree: no dead dimensions.")
    if both and not agree:
        parts.append(f"Both flag dims {format_dims(both)}: forced constant by {diagnosis.final_layer}.")
    if weights_only:
        constant = {e.dim for e in diagnosis.evidence if e.verdict == "constant"}
        parts.append(
            f"The weights force dims {format_dims(weights_only)} to a constant but the corpus did not flag them"
            + (
                " (some are constant but not zero: after the model's Normalize such a dim is divided by a varying "
                "norm, so check that corpus statistics use the raw pooled output)"
                if constant & set(weights_only)
                else " (check the corpus threshold)"
            )
            + "."
        )
    if corpus_only:
        parts.append(
            f"The corpus flags dims {format_dims(corpus_only)} that the final layer does not force constant: they are "
            "quiet on this corpus rather than dead by construction; a larger or more varied corpus may wake them."
        )
    return CorpusComparison(
        both=both, weights_only=weights_only, corpus_only=corpus_only, agree=agree, explanation=" ".join(parts)
    )


@dataclass(frozen=True)
class DiagnosisReport(WeightDiagnosis):
    """A model's weight scan (every field of :class:`WeightDiagnosis`), the model's name, and how
    the scan agrees with a corpus scan when one was given.

    Returned by :func:`diagnosis_report`; ``to_dict()`` is the JSON of ``python -m analysis diagnose``.

    Attributes
    ----------
    model : str
        The model's name.
    architecture : str
        The model class the scan read (``"BertModel"``).
    understood : bool
        Whether the scan knows this architecture's final layer.
    final_layer : str or None
        The layer responsible for the dead dimensions.
    dead_dims_from_weights : list of int
        Output dimensions the weights force to a (near) constant, for every input.
    message : str
        The finding in plain words.
    corpus_comparison : CorpusComparison or None
        ``both``, ``weights_only``, ``corpus_only``, ``agree`` and an ``explanation``, when corpus
        dead dims were given.

    Examples
    --------
    >>> from analysis import diagnosis_report
    >>> report = diagnosis_report("all-MiniLM-L6-v2", [127, 223, 319])
    >>> report.architecture, report.final_layer
    ('BertModel', 'encoder.layer.5.output.LayerNorm')
    >>> report.corpus_comparison.agree, report.corpus_comparison.both
    (True, [127, 223, 319])
    """

    model: str = ""
    corpus_comparison: CorpusComparison | None = None

    def to_dict(self) -> dict[str, Any]:
        """``model``, the diagnosis' fields, then ``corpus_comparison`` when there is one."""
        fields = super().to_dict()
        comparison = fields.pop("corpus_comparison")
        out: dict[str, Any] = {"model": fields.pop("model"), **fields}
        if comparison is not None:
            out["corpus_comparison"] = comparison
        return out


def diagnosis_report(
    model: str | ResolvedModel | VectorSource,
    corpus_dead_dims: list[int] | None = None,
    *,
    relative_threshold: float = 1e-3,
) -> DiagnosisReport:
    """The static weight scan, optionally compared with dead dims found on a corpus.

    Reads the weights only (no corpus, no encoding): a dimension whose final-norm weight is about
    zero is dead for every input, whatever the corpus.

    Parameters
    ----------
    model : str or ResolvedModel
        A model spec or a resolved model. A vectors file has no weights to scan: an OptionError
        says so.
    corpus_dead_dims : list of int, optional
        Dead dimensions found on a corpus (``get_stats(...).dead_dims``), to compare with the scan.
    relative_threshold : float, default 1e-3
        A weight below this fraction of the median weight counts as zero.

    Returns
    -------
    DiagnosisReport
        The dimensions the weights kill, the layer responsible, and the comparison.

    Examples
    --------
    >>> from analysis import diagnosis_report
    >>> report = diagnosis_report("all-MiniLM-L6-v2")
    >>> report.dead_dims_from_weights, report.understood
    ([127, 223, 319], True)
    >>> print(report.message)
    Scanned BertModel: the final LayerNorm encoder.layer.5.output.LayerNorm (384 dims) has |weight| below
    0.001 x the median (0.65) at 3 dims: 127, 223, 319. Zero for every input (bias ~0 too): 127, 223, 319.
    """
    if not isinstance(model, (str, ResolvedModel)):  # a VectorSource (not imported: the scan needs no corpora)
        raise OptionError(
            f"The weight scan reads a model's weights, and {model.name} holds vectors only; "
            "choose the model that made them (or any model) to see why its dimensions die."
        )
    resolved = as_resolved(model)
    diagnosis = diagnose_model_folder(resolved.path, relative_threshold=relative_threshold)
    comparison = compare_with_corpus(diagnosis, corpus_dead_dims) if corpus_dead_dims is not None else None
    return DiagnosisReport(**vars(diagnosis), model=resolved.name, corpus_comparison=comparison)


def stats_and_diagnosis(
    model: str | ResolvedModel,
    corpus: Corpus,
    *,
    store: EmbeddingStore,
    progress: ProgressCallback | None = None,
) -> DiagnosisReport:
    """Diagnosis compared with the corpus-based dead dims of the same model."""
    from analysis.pipeline import get_stats

    resolved = as_resolved(model)
    stats = get_stats(resolved, corpus, store=store, progress=progress)
    # Constant (non-zero) dims count too: the weight scan flags both kinds.
    return diagnosis_report(resolved, sorted(set(stats.dead_dims) | set(stats.constant_dims)))
