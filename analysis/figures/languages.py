"""Figure builders for the Languages page: per-language spread and parallel-text agreement.

Pure functions: report fields in, ``go.Figure`` out; nothing is shown, written or cached. Figures sit
below the reports (``docs/architecture.md``), so the rows they read are described here as protocols,
which :mod:`analysis.reports.multilingual`'s dataclasses satisfy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.figures.axes import round_twin_axes
from analysis.figures.style import (
    ALIVE_COLOR,
    SECOND_COLOR,
    THIRD_COLOR,
    escape,
    wide_label_layout,
)


class SpreadRow(Protocol):
    """One language's row of a multilingual report (``reports.multilingual.LanguageSpread``)."""

    @property
    def language(self) -> str: ...
    @property
    def n_texts(self) -> int: ...
    @property
    def median_std_raw(self) -> float: ...
    @property
    def median_std_normalized(self) -> float: ...
    @property
    def dead_dims(self) -> list[int]: ...


class PairsRow(Protocol):
    """One language's parallel pairs (``reports.multilingual.LanguagePairs``)."""

    @property
    def n_pairs(self) -> int: ...
    @property
    def mean_cosine(self) -> float: ...


class ParallelRows(Protocol):
    """Cosines to the pivot language's translations (``reports.multilingual.ParallelSummary``)."""

    @property
    def pivot(self) -> str: ...
    @property
    def by_language(self) -> Mapping[str, PairsRow]: ...


# Margins for these charts: their y axes carry longer labels.


# --- languages -----------------------------------------------------------------------------------


def language_std_chart(languages: Sequence[SpreadRow], *, height: int = 460) -> go.Figure:
    """Median per-dimension std per language, raw and normalized, from ``multilingual_report``."""
    names = [f"{escape(row.language)} ({row.n_texts})" for row in languages]  # a column of the upload
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=names,
            y=[row.median_std_normalized for row in languages],
            name="normalized (left axis)",
            marker={"color": ALIVE_COLOR},
            offsetgroup="n",
            customdata=[", ".join(map(str, row.dead_dims)) or "none" for row in languages],
            hovertemplate="%{x}<br>median std (normalized) %{y:.4g}<br>dead dims: %{customdata}<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Bar(
            x=names,
            y=[row.median_std_raw for row in languages],
            name="raw (right axis)",
            marker={"color": SECOND_COLOR},
            offsetgroup="r",
            hovertemplate="%{x}<br>median std (raw) %{y:.4g}<extra></extra>",
        ),
        secondary_y=True,
    )
    wide_label_layout(
        fig, title="Median per-dimension std per language (texts in brackets)", height=height, barmode="group"
    )
    fig.update_xaxes(title={"text": "language"}, tickangle=-45)
    fig.update_yaxes(title={"text": "median std, normalized"}, secondary_y=False)
    fig.update_yaxes(title={"text": "median std, raw"}, secondary_y=True, showgrid=False)
    round_twin_axes(fig, [row.median_std_normalized for row in languages], [row.median_std_raw for row in languages])
    return fig


def language_parallel_chart(parallel: ParallelRows, *, height: int = 420) -> go.Figure:
    """Mean cosine between each language's sentences and their translation in the pivot language."""
    by = parallel.by_language
    names = sorted(by, key=lambda n: -by[n].mean_cosine)
    fig = go.Figure(
        go.Bar(
            x=[escape(n) for n in names],
            y=[by[n].mean_cosine for n in names],
            marker={"color": THIRD_COLOR},
            customdata=[by[n].n_pairs for n in names],
            hovertemplate="%{x}<br>mean cosine %{y:.3f}<br>%{customdata} pairs<extra></extra>",
        )
    )
    pivot = escape(parallel.pivot)
    wide_label_layout(
        fig,
        title=f"Cosine between a sentence and its {pivot} original (mean over pairs)",
        height=height,
        showlegend=False,
    )
    fig.update_xaxes(title={"text": "language"}, tickangle=-45)
    fig.update_yaxes(title={"text": "mean cosine with the translation"}, range=[0, 1])
    return fig
