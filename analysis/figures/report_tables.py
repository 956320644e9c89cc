"""Tables of the insight reports: the weight scan's evidence, geometry metrics, post-processing.

Pure functions: a typed report in, a ``pd.DataFrame`` out (one type per column, so Arrow and
``st.dataframe`` take it as is). Figures sit below the reports (``docs/architecture.md``), so the
geometry report is described here by what the tables read of it (:class:`GeometryViews`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; imported by the functions that build frames
    import pandas as pd

    from analysis.measures.diagnosis import WeightDiagnosis

__all__ = ["evidence_table", "geometry_metrics_table", "postprocessing_comparison"]


def evidence_table(report: WeightDiagnosis, corpus_dead: Sequence[int] | None = None) -> pd.DataFrame:
    """One row per flagged or corpus-dead dim: weight, bias, layer, verdict and agreement.

    ``agreement`` is "both", "weights only" or "corpus only" when ``corpus_dead`` is given.
    """
    import pandas as pd

    rows: dict[int, dict[str, Any]] = {
        int(e.dim): {"dim": int(e.dim), "weight": e.weight, "bias": e.bias, "layer": e.layer, "verdict": e.verdict}
        for e in report.evidence
    }
    w, b = report.weight_abs or [], report.bias_abs or []
    if corpus_dead is not None:
        corpus = {int(d) for d in corpus_dead}
        for d in corpus - set(rows):
            rows[d] = {
                "dim": d,
                "weight": w[d] if d < len(w) else None,
                "bias": b[d] if d < len(b) else None,
                "layer": report.final_layer or "",
                "verdict": "not forced",
            }
        for d, row in rows.items():
            row["agreement"] = (
                "both"
                if d in corpus and row["verdict"] != "not forced"
                else ("corpus only" if d in corpus else "weights only")
            )
    columns = ["dim", "weight", "bias", "layer", "verdict"] + (["agreement"] if corpus_dead is not None else [])
    frame = pd.DataFrame([rows[d] for d in sorted(rows)], columns=columns)
    return frame.astype({"dim": "int64", "weight": "float64", "bias": "float64"})


class GeometryViews(Protocol):
    """What the tables read of ``reports.geometry.GeometryReport``: each view's summary, whose metric
    fields (``_METRIC_ROWS``) are read by name, and the post-processing applied."""

    @property
    def postprocessing(self) -> str: ...
    @property
    def raw(self) -> object: ...
    @property
    def normalized(self) -> object: ...
    def view(self, name: str) -> object: ...


_METRIC_ROWS = (
    ("anisotropy", "anisotropy (mean pairwise cosine)"),
    ("anisotropy_centered", "centered anisotropy"),
    ("isoscore", "IsoScore (1 = isotropic)"),
    ("effective_rank", "effective rank"),
    ("effective_rank_ratio", "effective rank / d"),
    ("n_outlier_dims", "outlier dims (mean |x| > 3σ)"),
    ("top3_rogue_share", "share of anisotropy from the top 3 rogue dims"),
)


def _metric(summary: object, key: str) -> float:
    value = getattr(summary, key)
    return np.nan if value is None else float(value)


def geometry_metrics_table(report: GeometryViews) -> pd.DataFrame:
    """Metric x view (raw, normalized) table of a :class:`~analysis.reports.geometry.GeometryReport`."""
    import pandas as pd

    rows = [
        {"metric": label, "raw": _metric(report.raw, key), "normalized": _metric(report.normalized, key)}
        for key, label in _METRIC_ROWS
    ]
    return pd.DataFrame(rows, columns=["metric", "raw", "normalized"])


def undefined_note(table: pd.DataFrame) -> str | None:
    """What a blank (None) cell of a geometry table means, when the table has one; else None."""
    if not table.isna().to_numpy().any():
        return None
    return "None: the share of anisotropy is undefined where the anisotropy itself is about 0 (as after whitening)."


def postprocessing_comparison(before: GeometryViews, after: GeometryViews, view: str) -> pd.DataFrame:
    """Each metric of ``view`` before (no post-processing) and after, with the change."""
    import pandas as pd

    name = after.postprocessing
    rows = []
    for key, label in _METRIC_ROWS:
        a, b = _metric(before.view(view), key), _metric(after.view(view), key)
        rows.append({"metric": label, "none": a, name: b, "change": b - a})
    return pd.DataFrame(rows, columns=["metric", "none", name, "change"])
