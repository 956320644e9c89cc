"""Structure of the insight figures and tables (fig.to_dict(), no server)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.figures import diagnosis as diagnosis_figs
from analysis.figures import downloads, report_tables
from analysis.figures import geometry as figs
from analysis.figures import languages as language_figs
from analysis.figures import selection as selection_figs
from analysis.measures.diagnosis import DimensionEvidence, WeightDiagnosis
from analysis.reports.geometry import GeometryReport
from analysis.reports.multilingual import LanguagePairs, LanguageSpread, ParallelSummary

DEAD = "#D55E00"


def _names(fig) -> list[str]:
    return [t.get("name") for t in fig.to_dict()["data"]]


def test_weight_scan_marks_flagged_dims_on_a_log_axis():
    w = [0.6, 6e-33, 0.7, 0.0]
    b = [0.1, 8e-33, 0.2, 0.3]
    fig = diagnosis_figs.weight_scan_chart(
        w, b, flagged=[1, 3], layer="encoder.layer.5.output.LayerNorm", relative_threshold=1e-3
    )
    d = fig.to_dict()
    assert _names(fig) == [
        "|weight| (gamma)",
        "|bias| (beta)",
        "forced constant",
        "cut: 0.001 × median |weight| = 0.0003",
    ]
    assert d["layout"]["yaxis"]["type"] == "log"
    assert d["layout"]["xaxis"]["title"]["text"] == "output dimension"
    flagged = fig.data[2]
    assert list(flagged.x) == [1, 3] and flagged.marker.color == DEAD
    # the exact zero is drawn at a positive floor below every real value, the true value kept in customdata
    gamma = fig.data[0]
    assert gamma.y[3] > 0 and gamma.y[3] < 6e-33 and gamma.customdata[3] == 0
    assert "axis floor" in d["layout"]["title"]["text"] and "encoder.layer.5" in d["layout"]["title"]["text"]
    cut = fig.data[3]
    assert list(cut.y) == pytest.approx([1e-3 * np.median(np.abs(w))] * 2) and list(cut.x) == [-0.5, 3.5]
    json.dumps(d, default=str)


def test_weight_scan_accepts_json_nulls_and_no_flags():
    fig = diagnosis_figs.weight_scan_chart([0.5, None, 0.4], [0.1, 0.2, None])
    assert _names(fig) == ["|weight| (gamma)", "|bias| (beta)"]
    assert all(np.isfinite(fig.data[0].y)) and all(v > 0 for v in fig.data[0].y)


def _diagnosis(evidence: list[DimensionEvidence], weight_abs: list[float], bias_abs: list[float]) -> WeightDiagnosis:
    return WeightDiagnosis(
        model_path="m",
        architecture="BertModel",
        understood=True,
        message="",
        final_layer="L",
        dead_dims_from_weights=[e.dim for e in evidence],
        evidence=evidence,
        weight_abs=weight_abs,
        bias_abs=bias_abs,
        threshold=1e-3,
    )


def test_evidence_table_agreement_columns():
    report = _diagnosis(
        [DimensionEvidence(1, "L", 1e-33, 1e-32, "zero"), DimensionEvidence(2, "L", 1e-9, 0.5, "constant")],
        [0.6, 1e-33, 1e-9, 0.7],
        [0.1, 1e-32, 0.5, 0.2],
    )
    table = report_tables.evidence_table(report, corpus_dead=[1, 3])
    assert table["dim"].tolist() == [1, 2, 3]
    assert table["agreement"].tolist() == ["both", "weights only", "corpus only"]
    assert table.loc[2, "verdict"] == "not forced" and table.loc[2, "weight"] == pytest.approx(0.7)
    plain = report_tables.evidence_table(report)
    assert "agreement" not in plain.columns and plain["dim"].tolist() == [1, 2]
    assert report_tables.evidence_table(_diagnosis([], [], []), corpus_dead=[]).empty


def _report(aniso: float, post: str = "none") -> GeometryReport:
    view = {
        "anisotropy": aniso,
        "anisotropy_exact": True,
        "anisotropy_centered": -0.001,
        "isoscore": 0.2,
        "effective_rank": 100.0,
        "effective_rank_ratio": 0.26,
        "n_outlier_dims": 2,
        "top_rogue_dims": [5, 9, 1],
        "top3_rogue_share": None,
        "outlier_dims": [5, 9],
        "singular_values": [4.0, 2.0, 1.0, 0.0],
        "rogue_dimensions": {
            "dim": [5, 9, 1],
            "contribution": [0.02, 0.01, 0.005],
            "share": [0.4, 0.2, 0.1],
            "cumulative_share": [0.4, 0.6, 0.7],
        },
    }
    return GeometryReport.from_dict(
        {
            "model": "m",
            "corpus": "c",
            "n_texts": 10,
            "dimension": 4,
            "postprocessing": post,
            "raw": dict(view),
            "normalized": dict(view),
        }
    )


def test_geometry_tables():
    table = report_tables.geometry_metrics_table(_report(0.05))
    assert table.columns.tolist() == ["metric", "raw", "normalized"]
    assert table["raw"].dtype == np.float64  # one type per column (Arrow-safe)
    assert table.loc[0, "raw"] == pytest.approx(0.05) and np.isnan(table["raw"].iloc[-1])  # None share -> NaN
    cmp = report_tables.postprocessing_comparison(_report(0.05), _report(0.01, "whiten"), "normalized")
    assert cmp.columns.tolist() == ["metric", "none", "whiten", "change"]
    assert cmp.loc[0, "change"] == pytest.approx(-0.04)


def test_spectrum_is_log_against_relative_rank_and_drops_zeros():
    fig = figs.spectrum_chart({"raw": [4.0, 2.0, 1.0, 0.0], "normalized": [1.0, 0.5, 0.25, 0.1]})
    d = fig.to_dict()
    assert _names(fig) == ["raw", "normalized"]
    assert d["layout"]["yaxis"]["type"] == "log" and "k / d" in d["layout"]["xaxis"]["title"]["text"]
    assert list(fig.data[0].x) == [0.25, 0.5, 0.75] and list(fig.data[1].x) == [0.25, 0.5, 0.75, 1.0]
    assert "zero singular values not drawn (raw: 1)" in d["layout"]["title"]["text"]


def test_rogue_chart_bars_and_cumulative_share():
    fig = figs.rogue_chart(_report(0.05).raw.rogue_dimensions, view="raw")
    d = fig.to_dict()
    assert [t["type"] for t in d["data"]] == ["bar", "scatter"]
    assert list(fig.data[0].x) == ["dim 5", "dim 9", "dim 1"]
    assert list(fig.data[1].y) == [0.4, 0.6, 0.7] and fig.data[1].yaxis == "y2"
    assert d["layout"]["yaxis2"]["tickformat"] == ".0%"
    undefined = figs.rogue_chart(
        {"dim": [1, 2], "contribution": [0.1, -0.1], "share": [None, None], "cumulative_share": [None, None]}
    )
    assert len(undefined.data) == 1 and "undefined" in undefined.layout.title.text


def test_cosine_histogram_is_binned_with_mean_lines():
    rng = np.random.default_rng(0)
    before, after = rng.uniform(0.2, 0.6, 5000), rng.uniform(-0.3, 0.3, 5000)
    fig = figs.cosine_histogram(before, after, bins=40, view="normalized")
    d = fig.to_dict()
    assert [t["type"] for t in d["data"]] == ["bar", "bar"] and d["layout"]["barmode"] == "overlay"
    assert len(fig.data[0].y) == 40 and sum(fig.data[0].y) == pytest.approx(1.0)
    assert fig.data[0].name == f"as is (mean {before.mean():.3f})" and fig.data[1].name.startswith("after centering")
    assert len([s for s in d["layout"]["shapes"] if s["type"] == "line"]) == 2
    lo, hi = d["layout"]["xaxis"]["range"]
    assert -0.4 < lo < -0.3 and 0.6 < hi < 0.7  # the occupied bins plus a margin


def _selection_table() -> pd.DataFrame:
    rows = []
    for k in (8, 16, 32):
        rows.append(("top_variance", k, None, 0.5 + k / 100))
        rows.append(("pca", k, None, 0.6 + k / 100))
        for seed in (0, 1):
            rows.append(("random", k, seed, 0.4 + k / 100 + 0.02 * seed))
    rows.append(("all", 64, None, 0.9))
    df = pd.DataFrame(rows, columns=["method", "k", "seed", "knn_accuracy"])
    for c in ("ari", "nmi", "silhouette", "neighbour_overlap"):
        df[c] = df["knn_accuracy"] / 2
    return df


def test_selection_curves_one_per_method_with_random_band():
    fig = selection_figs.selection_curves(_selection_table().to_dict(orient="list"), "knn_accuracy")
    d = fig.to_dict()
    names = _names(fig)
    assert names == ["random-k ± std over 2 draws", "top-k by variance", "PCA-k", "random-k"]
    band = fig.data[0]
    assert band.fill == "toself" and len(band.x) == 6
    random_line = fig.data[3]
    assert list(random_line.y) == pytest.approx([0.49, 0.57, 0.73])
    assert max(band.y) == pytest.approx(0.73 + np.std([0.72, 0.74], ddof=1))
    assert d["layout"]["xaxis"]["type"] == "log" and "kNN" in d["layout"]["yaxis"]["title"]["text"]
    assert any("all 64 dimensions" in a["text"] for a in d["layout"]["annotations"])
    with pytest.raises(ValueError):
        selection_figs.selection_curves(_selection_table(), "nope")


def test_selected_dims_export():
    frame = downloads.selected_dims_export([7, 3, 1, 0], 2, model="m", corpus="c", view="normalized")
    assert frame.to_dict(orient="list") == {"rank": [1, 2], "dim": [7, 3]}
    assert frame.attrs["k"] == 2 and frame.attrs["method"] == "top_variance"
    assert len(downloads.selected_dims_export([1, 2], 10)) == 2


def test_language_charts():
    languages = [
        LanguageSpread("english", 300, 0.3, 0.05, [127], []),
        LanguageSpread("german", 200, 0.25, 0.04, [], []),
    ]
    fig = language_figs.language_std_chart(languages)
    assert list(fig.data[0].x) == ["english (300)", "german (200)"] and fig.data[1].yaxis == "y2"
    # Round ticks on both axes (plotly's "sync" gave 4%, 9%, 13%-like values on the right).
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.tickmode == "linear" and axis.tick0 == 0
        assert round(axis.dtick / 10 ** np.floor(np.log10(axis.dtick)), 6) in {1, 2, 2.5, 5}
    assert round(fig.layout.yaxis.range[1] / fig.layout.yaxis.dtick) == round(
        fig.layout.yaxis2.range[1] / fig.layout.yaxis2.dtick
    )
    par = language_figs.language_parallel_chart(
        ParallelSummary("english", 15, 0.47, {"german": LanguagePairs(10, 0.4), "french": LanguagePairs(5, 0.6)})
    )
    assert list(par.data[0].x) == ["french", "german"] and "english" in par.layout.title.text


def test_module_docstring_examples_run():
    import doctest

    result = doctest.testmod(diagnosis_figs)
    assert result.attempted >= 1 and result.failed == 0
