"""What an exported variant keeps: the compress report's own selection or PCA axes, as one matrix.

Every variant the export writes is one linear map ``W`` (k x d) applied to the model's embedding,
followed by re-normalization: a selection's rows are unit vectors on the kept dimensions, PCA's
rows are the top-k principal axes of the task's documents. It is the map
:func:`analysis.measures.retrieval.evaluate_variants` scores, taken from the same functions
(:func:`~analysis.measures.retrieval.variants.kept_dimensions`,
:func:`~analysis.measures.retrieval.variants.pca_axes`) on the same documents, so the exported
model's vectors are the scored ones. No Normalize is needed before ``W``: neither a selection nor a
projection without bias changes direction under a positive scale, and the final re-normalization
removes the scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import OptionError
from analysis.measures.retrieval import DEFAULT_KS
from analysis.measures.retrieval.checks import unit_rows
from analysis.measures.retrieval.variants import kept_dimensions, pca_axes

#: The variants an export writes, as the compress report names them.
FAMILIES = ("drop-dead", "top-variance-K", "prefix-K", "pca-K")
_NAME = re.compile(r"^(drop-dead|(top-variance|prefix|pca)-(\d{1,6}))$")


@dataclass(frozen=True)
class ExportVariant:
    """A parsed variant name: ``family`` is drop-dead, top-variance, prefix or pca; ``k`` None for drop-dead."""

    name: str
    family: str
    k: int | None

    def compress_ks(self, dimension: int | None) -> list[int] | None:
        """The ``ks`` to ask the compress report for: its default ladder when that scores this variant
        (the cached report is shared with ``python -m analysis compress``), else the ladder (below
        ``dimension``, the model's width) plus k."""
        if self.k is None or self.k in DEFAULT_KS or (dimension is not None and self.k == dimension):
            return None
        return sorted({k for k in DEFAULT_KS if dimension is None or k <= dimension} | {self.k})


def parse_variant(text: str, dimension: int | None = None) -> ExportVariant:
    """``"pca-128"`` -> ExportVariant("pca-128", "pca", 128); K is checked against ``dimension`` when known.

    >>> parse_variant("top-variance-64", 384)
    ExportVariant(name='top-variance-64', family='top-variance', k=64)
    """
    match = _NAME.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise OptionError(
            f"Unknown variant {str(text)[:60]!r}: use {', '.join(FAMILIES)} (K dimensions kept), as the compress "
            "report names them."
        )
    if match.group(1) == "drop-dead":
        return ExportVariant("drop-dead", "drop-dead", None)
    family, k = match.group(2), int(match.group(3))
    if k < 1 or (dimension is not None and k > dimension):
        raise OptionError(f"K of {match.group(1)} must be from 1 to the model's {dimension or 'width'} dimensions.")
    return ExportVariant(f"{family}-{k}", family, k)


@dataclass(frozen=True)
class Projection:
    """The variant as a map: ``weight`` (k x d, float32) and, for selections, the kept dimensions (ascending)."""

    weight: np.ndarray
    kept_dims: list[int] | None  # None for PCA (every output mixes all inputs)
    dropped_dims: list[int] | None

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    def apply(self, embeddings: np.ndarray) -> np.ndarray:
        """The variant's stored vectors of normalized ``embeddings``, as the compress report scores them."""
        x = np.asarray(embeddings)
        if self.kept_dims is not None:
            return unit_rows(x[:, self.kept_dims])
        projected = (x.astype(np.float64) @ self.weight.T.astype(np.float64)).astype(np.float32)
        return unit_rows(projected)

    def describe(self) -> dict[str, Any]:
        return {"kept_dims": self.kept_dims, "dropped_dims": self.dropped_dims, "output_dimension": self.n_out}


def projection(variant: ExportVariant, documents: np.ndarray, dead_dims: list[int]) -> Projection:
    """The map of ``variant`` fitted on the task's normalized ``documents`` (N x d), as the report fits it."""
    d = int(documents.shape[1])
    if variant.k is not None and variant.k > d:
        raise OptionError(f"K of {variant.name} must be from 1 to the model's {d} dimensions.")
    if variant.family == "pca":
        axes = pca_axes(documents)[:, : variant.k]
        return Projection(np.ascontiguousarray(axes.T, dtype=np.float32), None, None)
    if variant.family == "drop-dead" and not dead_dims:
        raise OptionError(
            "The model has no dead dimensions on this corpus, so drop-dead would export it unchanged; "
            "choose top-variance-K, prefix-K or pca-K."
        )
    kept = kept_dimensions(documents, variant.name, dead_dims)
    weight = np.zeros((kept.size, d), dtype=np.float32)
    weight[np.arange(kept.size), kept] = 1.0
    dropped = np.setdiff1d(np.arange(d), kept)
    return Projection(weight, kept.tolist(), dropped.tolist())
