"""Figure builders (structure via fig.to_dict(), never pixels) and the tables behind them."""

from __future__ import annotations

import base64
import doctest
import io
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from analysis.figures import comparison, downloads, heatmap, spread, stat_tables, style, view_matrix
from analysis.figures import corpus as corpus_figures
from analysis.measures import stats

PAGE_BUDGET = 5_000_000


def decode(value) -> np.ndarray:
    """A plotly data array from to_dict(): a list, or a typed-array spec {dtype, bdata, shape}."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array
    return np.asarray(value)


def stats_frame(std: np.ndarray, mean: np.ndarray | None = None) -> pd.DataFrame:
    d = std.size
    mean = np.zeros(d) if mean is None else mean
    return pd.DataFrame(
        {
            "dim": np.arange(d),
            "mean": mean,
            "std": std,
            "variance": std**2,
            "min": mean - std,
            "max": mean + std,
            "abs_mean": np.abs(mean) + std,
            "near_zero_share": np.zeros(d),
        },
        columns=stats.STAT_COLUMNS,
    )


@pytest.fixture
def planted():
    """40 texts x 12 dims with dims 3 and 7 dead (constant ~0), two labels."""
    rng = np.random.default_rng(0)
    m = rng.normal(size=(40, 12)).astype(np.float32)
    m[:, 3] = 1e-7
    m[:, 7] = -1e-7
    texts = [f"text <b>{i}</b> " + "word " * (i % 30) for i in range(40)]
    labels = ["b" if i % 3 else "a" for i in range(40)]
    frames = stats.dimension_stats_both_views([m], 12)
    return m, texts, labels, frames


def test_docstring_examples_run():
    for module in (heatmap, spread, style, view_matrix):
        result = doctest.testmod(module)
        assert result.failed == 0, module.__name__
        assert result.attempted > 0


# --- heatmap -------------------------------------------------------------------------------------


def test_heatmap_structure(planted):
    m, texts, labels, frames = planted
    fig = heatmap.dimension_heatmap(m, texts=texts, labels=labels, view_name="raw", dead_dims=[3, 7])
    assert isinstance(fig, go.Figure)
    d = fig.to_dict()
    (trace,) = d["data"]
    assert trace["type"] == "heatmap"
    assert trace["zmid"] == 0
    assert trace["zmin"] == -trace["zmax"]  # symmetric, so the scale is centred on zero
    scale = trace["colorscale"]  # RdBu reversed: blue for negative, near-white at zero, red for positive
    assert scale[0][1] == "rgb(5,48,97)" and scale[-1][1] == "rgb(103,0,31)"
    assert scale[len(scale) // 2] == [0.5, "rgb(247,247,247)"]
    z = decode(trace["z"])
    assert z.dtype == np.float32 and z.shape == (40, 12)  # sent as a typed array
    np.testing.assert_array_equal(z, m)
    assert trace["x"] == [str(i) for i in range(12)]
    assert len(trace["y"]) == 40 and len(set(trace["y"])) == 40  # unique row labels
    assert all("<b>" not in y for y in trace["y"])  # text is HTML-escaped in hover labels
    assert all(part in trace["hovertemplate"] for part in ("text", "dimension", "%{z"))
    layout = d["layout"]
    assert layout["xaxis"]["title"]["text"].startswith("dimension")
    assert layout["yaxis"]["title"]["text"].startswith("texts")
    assert layout["xaxis"]["type"] == "category"
    dead_shapes = [s for s in layout["shapes"] if s.get("name", "").startswith("dead")]
    assert [s["name"] for s in dead_shapes] == ["dead 3", "dead 7"]
    assert all(s["line"]["color"] == style.DEAD_COLOR for s in dead_shapes)
    assert {a["text"] for a in layout["annotations"]} == {"dead 3", "dead 7"}
    assert "all 40 texts" in layout["title"]["text"]


def test_heatmap_dims_selection_order_and_label_groups(planted):
    m, texts, labels, frames = planted
    order = view_matrix.row_order(40, labels, "label")
    dims = view_matrix.dimension_order(frames["raw"], "std", [0, 3, 5, 9])
    fig = heatmap.dimension_heatmap(
        m,
        texts=texts,
        labels=labels,
        dims=dims,
        group_by_label=True,
        view_name="normalized",
        dead_dims=[3, 7],
        dim_order_name="std",
    )
    trace = fig.to_dict()["data"][0]
    assert trace["x"][-1] == "3"  # the dead dim has the smallest std: last when sorted by std
    assert set(trace["x"]) == {"0", "3", "5", "9"}
    z = decode(trace["z"])
    np.testing.assert_array_equal(z, m[np.ix_(order, dims)])
    layout = fig.to_dict()["layout"]
    assert "grouped by label" in layout["yaxis"]["title"]["text"]
    assert layout["yaxis"]["ticktext"] == ["a", "b"]  # each label group named once, on the axis
    assert len(layout["yaxis"]["tickvals"]) == 2
    assert {a["text"] for a in layout["annotations"]} == {"dead 3"}  # dim 7 is not in view


def test_heatmap_groups_by_the_setting_not_by_the_corpus_order():
    """A built-in corpus stored label by label and an upload with shuffled rows draw alike: grouped
    when asked, in corpus order (no bands) when not."""
    rng = np.random.default_rng(1)
    m = rng.normal(size=(60, 5)).astype(np.float32)
    texts = [f"t{i}" for i in range(60)]
    stored_by_label = sorted(["x", "y", "z"] * 20)
    shuffled = [stored_by_label[i] for i in rng.permutation(60)]
    for labels in (stored_by_label, shuffled):
        grouped = heatmap.dimension_heatmap(m, texts=texts, labels=labels, view_name="raw", group_by_label=True)
        layout = grouped.to_dict()["layout"]
        assert "grouped by label" in layout["yaxis"]["title"]["text"] and layout["yaxis"]["ticktext"] == ["x", "y", "z"]
        shown = [row.split("[")[1].split("]")[0] for row in grouped.to_dict()["data"][0]["y"]]
        assert shown == sorted(shown)
        plain = heatmap.dimension_heatmap(m, texts=texts, labels=labels, view_name="raw").to_dict()["layout"]
        assert "corpus order" in plain["yaxis"]["title"]["text"] and not plain["yaxis"].get("ticktext")
        assert not plain.get("shapes")


def test_heatmap_names_every_label_band_even_the_thin_ones():
    """18 labels, some holding 2 of 600 rows: every band gets its name, no two names closer than a
    line of text, and a name moved away from its thin band has a leader line to it."""
    sizes = [200, 120, 80, 60, 40, 30, 20, 12, 8, 6, 5, 4, 3, 3, 2, 2, 2, 3]
    labels = [f"label {i:02d}" for i, n in enumerate(sizes) for _ in range(n)]
    assert len(labels) == 600 and len(set(labels)) == 18
    m = np.random.default_rng(2).normal(size=(600, 8)).astype(np.float32)
    fig = heatmap.dimension_heatmap(
        m, texts=[f"t{i}" for i in range(600)], labels=labels, view_name="raw", group_by_label=True
    )
    layout = fig.to_dict()["layout"]
    axis = layout["yaxis"]
    assert sorted(axis["ticktext"]) == sorted(set(labels))
    rows = fig.to_dict()["data"][0]["y"]
    spots = [rows.index(v) for v in axis["tickvals"]]
    plot_px = layout["height"] - 190
    assert min(np.diff(spots)) * plot_px / 600 >= 12  # about a 10-px line of text apart
    leaders = [s for s in layout["shapes"] if s.get("xref") == "x domain"]
    assert leaders and all(s["x1"] == 0 for s in leaders)
    # Each leader points from a name to the centre of its own band.
    centers = {name: (labels.index(name) + len(labels) - 1 - labels[::-1].index(name)) / 2 for name in set(labels)}
    for leader in leaders:
        name = axis["ticktext"][spots.index(leader["y0"])]
        assert leader["y1"] == pytest.approx(centers[name])


def test_heatmap_labels_neighbouring_dead_dims_once(planted):
    m, texts, labels, frames = planted
    dims = view_matrix.dimension_order(frames["raw"], "std")  # the two dead dims end up side by side
    fig = heatmap.dimension_heatmap(m, texts=texts, dims=dims, view_name="raw", dead_dims=[3, 7])
    layout = fig.to_dict()["layout"]
    assert [a["text"] for a in layout["annotations"]] in (["dead 3, 7"], ["dead 7, 3"])
    assert len([s for s in layout["shapes"] if s.get("name", "").startswith("dead")]) == 2


def test_heatmap_caps_rows_deterministically(planted):
    m, texts, labels, _ = planted
    fig = heatmap.dimension_heatmap(m, texts=texts, view_name="raw", cap=heatmap.HeatmapCap(max_rows=10))
    again = heatmap.dimension_heatmap(m, texts=texts, view_name="raw", cap=heatmap.HeatmapCap(max_rows=10))
    trace = fig.to_dict()["data"][0]
    assert decode(trace["z"]).shape == (10, 12)
    assert trace["y"] == again.to_dict()["data"][0]["y"]
    assert trace["y"][0].startswith("#0 ") and trace["y"][-1].startswith("#39 ")  # evenly spread, ends included
    assert "10 of 40 texts" in fig.layout.title.text and "sampled" in fig.layout.title.text


def test_heatmap_cell_cap_and_payload_for_100k_texts():
    rng = np.random.default_rng(1)
    big = rng.normal(size=(100_000, 384)).astype(np.float32)
    texts = [f"a fairly long text number {i} about nothing in particular, padded" for i in range(100_000)]
    labels = [f"label {i % 17}" for i in range(100_000)]
    fig = heatmap.dimension_heatmap(
        big,
        texts=texts,
        labels=labels,
        view_name="raw",
        row_order=view_matrix.row_order(100_000, labels, "label"),
        dead_dims=[5],
    )
    trace = fig.to_dict()["data"][0]
    z = decode(trace["z"])
    assert z.shape[1] == 384
    assert z.size <= heatmap.DEFAULT_MAX_CELLS
    assert z.shape[0] <= heatmap.DEFAULT_MAX_ROWS
    assert "of 100,000 texts" in fig.layout.title.text and "sampled" in fig.layout.title.text
    payload = len(fig.to_json())
    assert payload <= heatmap.DEFAULT_MAX_BYTES + 100_000
    # The explore page's charts together stay within the page budget.
    bars = spread.std_bar_chart(stats_frame(big.std(0).astype(np.float64)), dead_dims=[5], threshold=0.01)
    assert payload + len(bars.to_json()) <= PAGE_BUDGET


def test_heatmap_with_small_cell_budget_and_view_matrix(planted):
    m, texts, labels, frames = planted
    view = view_matrix.ViewMatrix(
        m, "standardized", mean=frames["normalized"]["mean"].to_numpy(), std=frames["normalized"]["std"].to_numpy()
    )
    fig = heatmap.dimension_heatmap(view, texts=texts, view_name="standardized", cap=heatmap.HeatmapCap(max_cells=120))
    z = decode(fig.to_dict()["data"][0]["z"])
    assert z.size <= 120 and z.shape == (10, 12)


def test_heatmap_rejects_inconsistent_input(planted):
    m, texts, labels, _ = planted
    with pytest.raises(ValueError):
        heatmap.dimension_heatmap(m, texts=texts[:-1], view_name="raw")
    with pytest.raises(ValueError):
        heatmap.dimension_heatmap(m, texts=texts, dims=[0, 99], view_name="raw")


def test_heatmap_of_constant_matrix_has_a_valid_scale():
    fig = heatmap.dimension_heatmap(np.zeros((3, 4), dtype=np.float32), texts=["a", "b", "c"], view_name="raw")
    trace = fig.to_dict()["data"][0]
    assert trace["zmax"] > 0 and trace["zmin"] == -trace["zmax"]


# --- bar chart -----------------------------------------------------------------------------------


def test_std_bar_chart_highlights_dead_dims():
    std = np.linspace(1.0, 2.0, 10)
    std[[2, 6]] = 1e-6
    fig = spread.std_bar_chart(stats_frame(std), dead_dims=[2, 6])
    d = fig.to_dict()
    by_name = {}
    for trace in d["data"]:
        by_name.setdefault(trace["name"], []).append(trace)
    bars = {t["name"]: t for t in d["data"] if t["type"] == "bar"}
    assert all(t["width"] == 1.0 for t in bars.values())  # one unit per dimension, however few bars a trace has
    assert decode(bars["dead dimension"]["x"]).tolist() == [2, 6]
    assert bars["dead dimension"]["marker"]["color"] == style.DEAD_COLOR
    assert bars["dimension"]["marker"]["color"] != style.DEAD_COLOR
    assert bars["dead dimension"]["showlegend"] is True
    assert 2 not in decode(bars["dimension"]["x"]).tolist()
    markers = [t for t in d["data"] if t["type"] == "scatter" and t["name"] == "dead dimension"]
    assert markers and markers[0]["marker"]["symbol"] == "x"  # visible even when the bar is ~0 high
    assert d["layout"]["xaxis"]["title"]["text"] == "dimension"
    assert d["layout"]["yaxis"]["title"]["text"] == "std"
    assert d["layout"]["yaxis"]["type"] == "linear"
    assert len([s for s in d["layout"]["shapes"] if s["line"]["color"] == style.DEAD_COLOR]) == 2


def test_std_bar_chart_sorted_log_threshold_variance():
    std = np.array([0.5, 2.0, 1e-6, 1.0, 0.01])
    fig = spread.std_bar_chart(
        stats_frame(std),
        dead_dims=[2],
        sort=True,
        log_y=True,
        threshold=0.05,
        metric="variance",
        threshold_label="0.05 × median variance",
    )
    d = fig.to_dict()
    marks = {t["name"]: t for t in d["data"] if t.get("mode") == "markers"}
    assert not [t for t in d["data"] if t["type"] == "bar"]  # dots on a log axis, not floor-to-value bars
    assert decode(marks["dimension"]["customdata"]).tolist() == [1, 3, 0]  # sorted largest first
    assert decode(marks["dimension"]["x"]).tolist() == [0, 1, 2]  # ranks
    assert decode(marks["below threshold"]["customdata"]).tolist() == [4]  # variance 1e-4 < 0.05
    assert decode(marks["dead dimension"]["x"]).tolist() == [4]  # smallest: last rank
    assert marks["dead dimension"]["marker"]["color"] == style.DEAD_COLOR
    assert marks["below threshold"]["marker"]["color"] == style.BELOW_COLOR
    line = [t for t in d["data"] if t["name"] == "0.05 × median variance"]
    assert line and decode(line[0]["y"]).tolist() == [0.05, 0.05]
    assert d["layout"]["yaxis"]["type"] == "log" and d["layout"]["yaxis"]["exponentformat"] == "power"
    assert d["layout"]["xaxis"]["title"]["text"].startswith("rank")
    assert "variance" in d["layout"]["yaxis"]["title"]["text"]
    assert any("dead: 2" in a["text"] for a in d["layout"]["annotations"])


def test_std_bar_chart_says_when_zero_cannot_be_drawn_on_log():
    fig = spread.std_bar_chart(stats_frame(np.array([1.0, 0.0, 2.0])), dead_dims=[1], log_y=True)
    assert "cannot be drawn on a log axis" in fig.layout.title.text
    with pytest.raises(ValueError):
        spread.std_bar_chart(stats_frame(np.ones(3)), dead_dims=[], metric="mean")


# --- one dimension -------------------------------------------------------------------------------


def test_dimension_distribution_is_prebinned():
    values = np.random.default_rng(2).normal(size=100_000)
    fig = spread.dimension_distribution(values, dim=42, view_name="normalized", bins=50)
    d = fig.to_dict()
    (trace,) = d["data"]
    assert trace["type"] == "bar"
    assert decode(trace["y"]).sum() == 100_000 and decode(trace["x"]).size == 50
    assert len(fig.to_json()) < 50_000
    assert "42" in d["layout"]["xaxis"]["title"]["text"] and d["layout"]["yaxis"]["title"]["text"]
    constant = spread.dimension_distribution(np.full(10, 1e-8), dim=127, view_name="raw", dead=True)
    assert decode(constant.to_dict()["data"][0]["y"]).sum() == 10
    assert "dead" in constant.layout.title.text


def test_per_label_means_sorted_with_diverging_colours():
    values = np.array([1.0, 1.2, -1.0, -0.8, 0.1, 0.3])
    labels = ["pos", "pos", "neg", "neg", "mid", "mid"]
    fig = spread.per_label_means(values, labels, dim=3, view_name="raw")
    (trace,) = fig.to_dict()["data"]
    assert trace["orientation"] == "h"
    assert list(trace["y"]) == ["neg", "mid", "pos"]
    np.testing.assert_allclose(decode(trace["x"]), [-0.9, 0.2, 1.1])
    assert trace["marker"]["color"] == [style.NEGATIVE_COLOR, style.POSITIVE_COLOR, style.POSITIVE_COLOR]
    assert "error_x" in trace
    labels = [f"l{i}" for i in range(100)]
    many = spread.per_label_means(np.arange(100.0), labels, dim=0, view_name="raw", max_labels=10)
    assert len(many.to_dict()["data"][0]["y"]) == 10 and "10 of 100 labels" in many.layout.title.text


def test_dimension_vs_others_marks_choice_and_dead(planted):
    _, _, _, frames = planted
    fig = spread.dimension_vs_others(frames["normalized"], 5, dead_dims=[3, 7])
    d = fig.to_dict()
    names = [t["name"] for t in d["data"]]
    assert names == ["dimension", "dead dimension (off-scale)", "dimension 5"]
    assert decode(d["data"][1]["x"]).tolist() == [3, 7]
    assert decode(d["data"][2]["x"]).tolist() == [5]
    assert "rank" in d["layout"]["title"]["text"]
    assert d["layout"]["yaxis"]["type"] == "log"


# --- several models ------------------------------------------------------------------------------


def test_sorted_std_curves_share_a_relative_rank_axis():
    small = stats_frame(np.linspace(2, 1, 384))
    big = stats_frame(np.linspace(2, 1, 1024))
    fig = comparison.sorted_std_curves({"small": small, "big": big}, dead={"big": [1023]})
    lines = [t for t in fig.to_dict()["data"] if t["mode"] == "lines"]
    assert [t["name"] for t in lines] == ["small", "big"]
    for trace in lines:
        x = decode(trace["x"])
        assert x[0] == 0.0 and x[-1] == 1.0 and np.all(np.diff(x) > 0)
        assert np.all(np.diff(decode(trace["y"])) <= 0)  # largest first
    dead = [t for t in fig.to_dict()["data"] if t["mode"] == "markers"]
    assert decode(dead[0]["x"]).tolist() == [1.0]
    assert "relative rank" in fig.layout.xaxis.title.text


def test_std_distribution_by_model_box_and_violin():
    results = {"m1": stats_frame(np.linspace(1, 2, 10)), "m2": stats_frame(np.linspace(1, 3, 20))}
    box = comparison.std_distribution_by_model(results, dead={"m1": [0]})
    types = [t["type"] for t in box.to_dict()["data"]]
    assert types.count("box") == 2 and "scatter" in types
    violin = comparison.std_distribution_by_model(results, kind="violin")
    assert [t["type"] for t in violin.to_dict()["data"]] == ["violin", "violin"]
    assert box.layout.yaxis.type == "log"
    with pytest.raises(ValueError):
        comparison.std_distribution_by_model(results, kind="pie")


def test_raw_vs_normalized_side_by_side():
    raw = {"a": stats_frame(np.linspace(5, 1, 8)), "b": stats_frame(np.linspace(3, 1, 16))}
    norm = {"a": stats_frame(np.linspace(0.5, 0.1, 8)), "b": stats_frame(np.linspace(0.3, 0.1, 16))}
    fig = comparison.raw_vs_normalized(raw, norm, dead={"a": [7]})
    d = fig.to_dict()
    axes = {(t.get("xaxis", "x"), t["name"]) for t in d["data"] if t["mode"] == "lines"}
    assert axes == {("x", "a"), ("x", "b"), ("x2", "a"), ("x2", "b")}
    assert [a["text"] for a in d["layout"]["annotations"][:2]][0].startswith("raw")
    assert d["layout"]["xaxis2"]["title"]["text"].startswith("relative rank")
    legend = [t["name"] for t in d["data"] if t.get("showlegend") is not False]
    assert legend.count("a") == 1  # one legend entry per model


def test_label_counts_chart():
    fig = corpus_figures.label_counts_chart(["x", "y", "y", ""])
    (trace,) = fig.to_dict()["data"]
    assert list(trace["y"]) == ["x", "(none)", "y"][-3:] or set(trace["y"]) == {"x", "y", "(none)"}
    assert decode(trace["x"]).max() == 2


def test_figures_are_transparent_for_both_themes(planted):
    m, texts, labels, frames = planted
    for fig in (
        heatmap.dimension_heatmap(m, texts=texts, view_name="raw"),
        spread.std_bar_chart(frames["raw"], dead_dims=[3]),
        comparison.sorted_std_curves({"m": frames["raw"]}),
    ):
        layout = fig.to_dict()["layout"]
        assert layout["paper_bgcolor"] == "rgba(0,0,0,0)" and layout["plot_bgcolor"] == "rgba(0,0,0,0)"
        assert "color" not in layout.get("font", {})  # the Streamlit theme chooses text colours


# --- tables --------------------------------------------------------------------------------------


def test_view_matrix_matches_full_views(planted):
    m, _, _, frames = planted
    norm = m / np.linalg.norm(m, axis=1, keepdims=True)
    mean, std = frames["normalized"]["mean"].to_numpy(), frames["normalized"]["std"].to_numpy()
    rows = np.array([0, 5, 39])
    np.testing.assert_allclose(view_matrix.ViewMatrix(m, "raw")[rows], m[rows])
    np.testing.assert_allclose(view_matrix.ViewMatrix(m, "normalized")[rows], norm[rows], rtol=1e-5)
    std_view = view_matrix.ViewMatrix(m, "standardized", mean=mean, std=std)
    floor = stats.DEAD_RELATIVE_THRESHOLD * np.median(std)
    expected = (norm - mean) / np.maximum(std, floor)
    np.testing.assert_allclose(std_view[rows], expected[rows], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(std_view.column(4), expected[:, 4], rtol=1e-4, atol=1e-5)
    assert np.abs(std_view.column(3)).max() < 1e-3  # a dead dim is not blown up to unit scale
    np.testing.assert_allclose(view_matrix.ViewMatrix(m, "normalized").column(2), norm[:, 2], rtol=1e-5)
    with pytest.raises(ValueError):
        view_matrix.ViewMatrix(m, "standardized")
    with pytest.raises(ValueError):
        view_matrix.ViewMatrix(m, "sideways")


def test_orders():
    frame = stats_frame(np.array([0.2, 0.5, 0.1, 0.5]), mean=np.array([0.0, 3.0, -1.0, 0.0]))
    assert view_matrix.dimension_order(frame, "index").tolist() == [0, 1, 2, 3]
    assert view_matrix.dimension_order(frame, "std").tolist() == [1, 3, 0, 2]  # stable on ties
    assert view_matrix.dimension_order(frame, "abs_mean", [0, 2, 99]).tolist() == [2, 0]
    assert view_matrix.row_order(4, ["b", "a", "b", "a"], "label").tolist() == [1, 3, 0, 2]
    assert view_matrix.row_order(3, None, "label").tolist() == [0, 1, 2]


def test_top_bottom_and_label_means():
    values = np.array([0.5, -2.0, 3.0, np.nan, 0.0])
    top, bottom = stat_tables.top_bottom_texts(values, list("abcde"), list("xxyyz"), n=2)
    assert top["text"].tolist() == ["c", "a"] and bottom["text"].tolist() == ["b", "e"]
    assert top["row"].tolist() == [2, 0] and list(top.columns) == ["rank", "value", "text", "label", "row"]
    means = stat_tables.label_means(np.array([1.0, 3.0, -1.0]), ["p", "p", "q"])
    assert means["label"].tolist() == ["q", "p"] and means["mean"].tolist() == [-1.0, 2.0]
    assert means.loc[1, "sem"] == pytest.approx(1.0 / np.sqrt(2))


def test_safe_csv_neutralises_text_formulas_only():
    frame = pd.DataFrame(
        {
            "text": ['=HYPERLINK("x")', "+1", "-cmd", "@sum", "plain", "\tx"],
            "value": [-1.5, 2, -3, 4, 5, 6],
        }
    )
    out = pd.read_csv(io.BytesIO(downloads.safe_csv_bytes(frame)), keep_default_na=False)
    assert out["text"].tolist() == ['\'=HYPERLINK("x")', "'+1", "'-cmd", "'@sum", "plain", "'\tx"]
    assert out["value"].tolist() == [-1.5, 2, -3, 4, 5, 6]  # numbers stay numbers
    back = pd.read_parquet(io.BytesIO(downloads.parquet_bytes(frame)))
    pd.testing.assert_frame_equal(back, frame)


def test_stats_and_compare_tables(planted):
    _, _, _, frames = planted

    class Result:
        raw, normalized, dead_dims, dimension, n_texts = frames["raw"], frames["normalized"], [3, 7], 12, 40

    table = stat_tables.stats_table(frames["normalized"], [3, 7])
    assert table.loc[table["dead"], "dim"].tolist() == [3, 7]
    assert "std_to_median" in table.columns
    summary = stat_tables.compare_summary({"m": Result()})
    assert summary.loc[0, "dead dims"] == 2 and summary.loc[0, "dead dim indices"] == "3, 7"
    assert {"median std (raw)", "mean std (normalized)", "dimension"} <= set(summary.columns)
    dead = stat_tables.dead_dims_table({"m": Result()})
    assert dead["dim"].tolist() == [3, 7] and (dead["std / median (normalized)"] < 0.01).all()


def test_log_axes_keep_live_dims_readable_and_draw_dead_ones_off_scale():
    std = np.linspace(0.05, 0.02, 50)
    std[[10, 20]] = [1e-33, 1e-9]
    results = {"m": stats_frame(std)}
    fig = comparison.sorted_std_curves(results, dead={"m": [10, 20]})
    d = fig.to_dict()
    floor = 0.02 / 4
    low, high = d["layout"]["yaxis"]["range"]
    assert low == pytest.approx(np.log10(floor) - 0.5) and high > np.log10(0.05)
    line, dead = d["data"]
    # Dead dims are drawn in a band under the floor, not at a value that reads like a real one.
    drawn = decode(line["y"])
    assert drawn.min() < floor and np.log10(drawn.min()) > low
    band = [s for s in d["layout"]["shapes"] if s["type"] == "rect"]
    assert len(band) == 1 and band[0]["y1"] == pytest.approx(floor) and band[0]["y0"] < drawn.min()
    notes = [a["text"] for a in d["layout"]["annotations"]]
    assert any(n.startswith("off-scale: std < 0.005") for n in notes)
    assert dead["name"].endswith("(off-scale)") and "off-scale" in dead["hovertemplate"]
    custom = decode(dead["customdata"]).reshape(-1, 2)
    assert sorted(custom[:, 0].tolist()) == [10, 20]
    assert custom[:, 1].min() == pytest.approx(1e-33)  # the true value stays in the hover
    assert dead["marker"]["symbol"] == "triangle-down"
    assert "off-scale" in d["layout"]["title"]["text"]
    # Clean ticks: every label one kind of number, none inside the off-scale band.
    axis = d["layout"]["yaxis"]
    assert axis["ticktext"] == ["0.005", "0.01", "0.02", "0.05"]
    assert min(axis["tickvals"]) >= floor * (1 - 1e-9)
    box = comparison.std_distribution_by_model(results, dead={"m": [10, 20]}).to_dict()
    assert decode(box["data"][0]["y"]).size == 48  # the box describes the live dimensions
    assert box["data"][1]["marker"]["symbol"] == "triangle-down"
    linear = comparison.sorted_std_curves(results, dead={"m": [10, 20]}, log_y=False).to_dict()
    assert decode(linear["data"][0]["y"]).min() == pytest.approx(1e-33)  # no clipping on a linear axis


@pytest.mark.parametrize(
    "low,high,expected",
    [
        (-2.3, -0.9, ["0.01", "0.02", "0.05", "0.1"]),
        (-1.5, -1.2, ["0.04", "0.05", "0.06"]),
        (-33.2, -1.1, ["10⁻³⁰", "10⁻²⁵", "10⁻²⁰", "10⁻¹⁵", "10⁻¹⁰", "10⁻⁵"]),
        (-9.2, -1.1, ["10⁻⁹", "10⁻⁸", "10⁻⁷", "10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²"]),
    ],
)
def test_log_ticks_are_round_and_of_one_kind(low, high, expected):
    from analysis.figures.axes import log_ticks

    values, text = log_ticks(low, high)
    assert text == expected
    assert all(10**low <= v <= 10**high for v in values)
    mantissas = {round(v / 10 ** np.floor(np.log10(v) + 1e-9)) for v in values}
    assert mantissas <= set(range(1, 10))


def test_every_log_chart_gets_clean_ticks(planted):
    """Dimension detail, Compare, Explore's bars, the weight scan, the spectrum: one kind of label."""
    m, _, _, frames = planted
    normalized = frames["normalized"]
    figures = [
        spread.dimension_vs_others(normalized, 5, dead_dims=[3, 7]),
        comparison.sorted_std_curves({"m": normalized}, dead={"m": [3, 7]}),
        comparison.std_distribution_by_model({"m": normalized}, dead={"m": [3, 7]}),
        spread.std_bar_chart(normalized, dead_dims=[3, 7], log_y=True),
    ]
    for fig in figures:
        axis = fig.to_dict()["layout"]["yaxis"]
        assert axis["tickmode"] == "array" and axis["ticktext"], fig.layout.title.text
        kinds = {"power" if "10" in t and ("⁻" in t or "⁰" in t) else "plain" for t in axis["ticktext"]}
        assert len(kinds) == 1, axis["ticktext"]
    both = comparison.raw_vs_normalized({"m": frames["raw"]}, {"m": normalized}, dead={"m": [3, 7]}).to_dict()
    assert both["layout"]["yaxis2"]["tickmode"] == "array"
    assert {s["yref"] for s in both["layout"]["shapes"]} == {"y", "y2"}  # one off-scale band per panel


def test_secondary_axes_have_round_ticks_on_shared_gridlines():
    from analysis.figures import geometry as figs

    fig = figs.rogue_chart(
        {
            "dim": [4, 9, 1],
            "contribution": [0.11, 0.056, 0.02],
            "share": [0.6, 0.3, 0.1],
            "cumulative_share": [0.6, 0.9, 1.0],
        }
    )
    layout = fig.to_dict()["layout"]
    left, right = layout["yaxis"], layout["yaxis2"]
    for axis in (left, right):
        assert axis["tickmode"] == "linear" and axis["tick0"] == 0
        mantissa = axis["dtick"] / 10 ** np.floor(np.log10(axis["dtick"]))
        assert round(mantissa, 6) in {1, 2, 2.5, 5}
    # The same number of steps on both sides: the shared gridlines are round on both.
    assert round(left["range"][1] / left["dtick"]) == round(right["range"][1] / right["dtick"])
    assert left["range"][1] >= 0.11 and right["range"][1] >= 1.0


def _plot_px(layout: dict) -> float:
    """The plot area's height in pixels, from the figure's height and margins."""
    return layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]


def test_log_std_chart_leaves_room_for_every_marker_at_both_ends():
    """Overview: dead dimensions at 1e-31 under live ones at 0.05 sat on the bottom edge of the axis,
    their markers half clipped (issue 25)."""
    std = np.full(384, 0.05)
    std[[127, 223]] = [2.2e-33, 1.8e-33]
    std[319] = 4.8e-9
    d = spread.std_bar_chart(stats_frame(std), dead_dims=[127, 223, 319], log_y=True, threshold=5e-4).to_dict()
    low, high = d["layout"]["yaxis"]["range"]
    per_decade = _plot_px(d["layout"]) / (high - low)
    for trace in d["data"]:
        if trace.get("mode") != "markers" or not len(decode(trace["y"])):
            continue
        y = np.log10(decode(trace["y"]))
        radius = trace["marker"]["size"] / 2
        assert (y.min() - low) * per_decade >= radius, trace["name"]
        assert (high - y.max()) * per_decade >= radius, trace["name"]


@pytest.mark.parametrize(
    ("n_dims", "dead", "shared"),
    [
        (768, [34, 555, 688, 756], {"688", "756"}),  # mpnet by index: "dead 688dead 756" (issue 25)
        (384, [127, 223, 319], set()),  # MiniLM: far enough apart for a label each
        (768, [760, 762, 764, 766], {"760", "762", "764", "766"}),
    ],
)
def test_heatmap_dead_labels_never_overlap(n_dims, dead, shared):
    matrix = np.random.default_rng(0).normal(size=(20, n_dims)).astype(np.float32)
    fig = heatmap.dimension_heatmap(matrix, texts=[f"t{i}" for i in range(20)], view_name="raw", dead_dims=dead)
    notes = [a for a in fig.to_dict()["layout"]["annotations"] if a["text"].startswith("dead")]
    # Every dead dimension is named once; the labels' extents (at 7 px a character, 11-px text, on
    # a 560-px plot) are disjoint and inside the plot.
    named = [n for a in notes for n in a["text"].removeprefix("dead ").split(", ")]
    assert sorted(map(int, named)) == sorted(dead)
    px = 560 / n_dims
    spans = sorted((a["x"] * px - 3.5 * len(a["text"]), a["x"] * px + 3.5 * len(a["text"])) for a in notes)
    assert all(a["xanchor"] == "center" for a in notes)
    assert spans[0][0] >= -0.5 * px - 1e-6 and spans[-1][1] <= (n_dims - 0.5) * px + 1e-6
    assert all(left[1] <= right[0] for left, right in zip(spans, spans[1:], strict=False)), spans
    if shared:
        assert any(set(a["text"].removeprefix("dead ").split(", ")) == shared for a in notes)
    else:
        assert len(notes) == len(dead)


def _two_models_with_off_scale_dead_dims() -> tuple[dict[str, pd.DataFrame], dict[str, list[int]]]:
    rng = np.random.default_rng(1)
    small, big = rng.uniform(0.03, 0.07, 384), rng.uniform(0.02, 0.05, 768)
    small[[127, 223]], big[[555, 756]] = 1e-33, 1e-34
    return {"all-MiniLM-L6-v2": stats_frame(small), "all-mpnet-base-v2": stats_frame(big)}, {
        "all-MiniLM-L6-v2": [127, 223],
        "all-mpnet-base-v2": [555, 756],
    }


def test_compare_chart_titles_fit_half_the_page_and_have_room():
    """Compare's box plots sit two to a row; their one-line note was cut off ("…drawn in the grey b")."""
    results, dead = _two_models_with_off_scale_dead_dims()
    for fig in (
        comparison.std_distribution_by_model(results, dead=dead, view_name="normalized"),
        comparison.sorted_std_curves(results, dead=dead),
    ):
        title = fig.layout.title.text
        lines = [re.sub(r"<[^>]+>", "", line) for line in title.split("<br>")]
        assert len(lines) == 3 and "grey band" in title
        # At most ~60 characters a line: 10-px note text (~5 px a character) in a ~400-px chart.
        assert all(len(line) <= 64 for line in lines), lines
        assert fig.layout.margin.t >= 30 + 20 * len(lines)  # a 16-px title line, two note lines, and air
    # Dimension detail shows "Dimension 127 among all 384" at half width too.
    small = results["all-MiniLM-L6-v2"]
    fig = spread.dimension_vs_others(small, 127, dead_dims=dead["all-MiniLM-L6-v2"])
    lines = [re.sub(r"<[^>]+>", "", line) for line in fig.layout.title.text.split("<br>")]
    assert len(lines) == 3 and "grey band" in lines[2] and all(len(line) <= 64 for line in lines), lines
    assert fig.layout.margin.t >= 30 + 20 * len(lines)


def test_two_models_off_scale_dead_markers_do_not_cover_each_other():
    results, dead = _two_models_with_off_scale_dead_dims()
    for fig in (
        comparison.sorted_std_curves(results, dead=dead),
        comparison.raw_vs_normalized(results, results, dead=dead),
    ):
        d = fig.to_dict()
        for axis in ("y", "y2") if "yaxis2" in d["layout"] else ("y",):
            marks = [t for t in d["data"] if t["mode"] == "markers" and t.get("yaxis", "y") == axis]
            assert len(marks) == 2
            low, high = d["layout"]["yaxis" if axis == "y" else "yaxis2"]["range"]
            px_per_decade = (d["layout"]["height"] - d["layout"]["margin"]["t"] - d["layout"]["margin"]["b"]) / (
                high - low
            )
            first, second = (np.log10(decode(t["y"])) for t in marks)
            # Both tails end at relative rank ~1: apart in height by at least a marker's size (11 px).
            assert abs(first.mean() - second.mean()) * px_per_decade >= 11, (first, second)
            assert low <= min(first.min(), second.min())  # still inside the band, above the axis floor
