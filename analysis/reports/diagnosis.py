"""The diagnosis report: the weight scan of a model, optionally against a corpus scan.

``to_dict()`` is the JSON of ``python -m analysis diagnose --format json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analysis.measures.diagnosis import CorpusComparison, WeightDiagnosis
from analysis.models import ResolvedModel, as_resolved

if TYPE_CHECKING:  # the scan alone reads weights only: no corpora, no cache, no pipeline
    from analysis.cache import EmbeddingStore
    from analysis.corpora import Corpus
    from analysis.encoding import ProgressCallback


@dataclass(frozen=True)
class DiagnosisReport(WeightDiagnosis):
    """A model's weight scan (every field of :class:`WeightDiagnosis`), the model's name, and how
    the scan agrees with a corpus scan when one was given."""

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
    model: str | ResolvedModel, corpus_dead_dims: list[int] | None = None, *, relative_threshold: float = 1e-3
) -> DiagnosisReport:
    """The static weight scan, optionally compared with dead dims found on a corpus."""
    from analysis.measures.diagnosis import compare_with_corpus, diagnose_model_folder

    resolved = as_resolved(model)
    diagnosis = diagnose_model_folder(resolved.path, relative_threshold=relative_threshold)
    comparison = compare_with_corpus(diagnosis, corpus_dead_dims) if corpus_dead_dims is not None else None
    return DiagnosisReport(**vars(diagnosis), model=resolved.name, corpus_comparison=comparison)


def stats_and_diagnosis(
    model: str | ResolvedModel,
    corpus: Corpus,
    *,
    store: EmbeddingStore | None = None,
    progress: ProgressCallback | None = None,
) -> DiagnosisReport:
    """Diagnosis compared with the corpus-based dead dims of the same model."""
    from analysis.pipeline import get_stats

    resolved = as_resolved(model)
    stats = get_stats(resolved, corpus, store=store, progress=progress)
    # Constant (non-zero) dims count too: the weight scan flags both kinds.
    return diagnosis_report(resolved, sorted(set(stats.dead_dims) | set(stats.constant_dims)))
