"""Structure of the "What can I drop?" figures and table (fig.to_dict(), no server), on real scored variants."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.figures import compress as figs
from analysis.measures.retrieval import Relevance, evaluate_variants

DEAD = "#D55E00"


def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def variants():
    rng = np.random.default_rng(31)
    docs = rng.standard_normal((120, 64))
    docs[:, [5, 40]] = 0.01
    queries = docs[:80] + 1.5 * rng.standard_normal((80, 64))
    queries[:, [5, 40]] = 0.01
    return evaluate_variants(_unit(queries), _unit(docs), Relevance.pairs(np.arange(80)), dead_dims=[5, 40], n_draws=3)


def test_pareto_chart_draws_every_variant_with_its_figures_and_the_front(variants):
    figure = figs.pareto_chart(variants)
    points = [trace for trace in figure.data if trace.mode == "markers"]
    names = [c[0] for trace in points for c in trace.customdata]
    assert sorted(names) == sorted(v.name for v in variants)  # every variant is a point
    by_name = {v.name: v for v in variants}
    for trace in points:
        for x, y, custom in zip(trace.x, trace.y, trace.customdata, strict=True):
            v = by_name[custom[0]]
            assert (x, y) == (v.bytes_per_vector, pytest.approx(v.retention))
            assert list(custom[2:6]) == [v.recall_at_1, v.recall_at_10, v.mrr, v.ndcg_at_10]
        assert "recall@10" in trace.hovertemplate and "MRR" in trace.hovertemplate
    assert points[-1].name.startswith("float32")  # drawn on top
    random = next(t for t in points if t.name.startswith("random"))
    assert random.error_y.visible is True
    layout = figure.to_dict()["layout"]
    assert layout["xaxis"]["type"] == "log"
    # the front: no variant has fewer-or-equal bytes and a higher retention than a front point
    front = next(t for t in figure.data if t.name == "best retention for the bytes")
    for x, y in zip(front.x, front.y, strict=True):
        assert not any(v.bytes_per_vector <= x and v.retention > y + 1e-12 for v in variants)
    ticks = layout["xaxis"]["tickvals"]
    assert 256 in ticks and 248 not in ticks  # 248 (drop-dead) would print over 256


def test_truncation_chart_compares_prefix_with_random_draws(variants):
    figure = figs.truncation_chart(variants)
    names = [t.name for t in figure.data]
    assert names[0] == "random k ± 2 std over draws" and "first k (Matryoshka)" in names
    prefix = next(t for t in figure.data if t.name == "first k (Matryoshka)")
    assert list(prefix.x) == [8, 16, 32, 64]
    assert figure.layout.shapes[0].y0 == pytest.approx(variants[0].ndcg_at_10)  # the float32 line


def test_readiness_charts_mark_dead_and_harmful_dimensions():
    balance = np.full(10, 0.5)
    balance[[2, 7]] = [0.0, 0.98]
    fig = figs.bit_balance_chart(balance, dead_dims=[2])
    colors = fig.data[0].marker.color
    assert colors[2] == DEAD and colors[0] != DEAD
    assert "2 of 10 sign bits carry under half a bit" in fig.layout.title.text
    std = np.full(10, 0.05)
    std[2] = 1e-9
    ratio = np.full(10, 6.0)
    int8 = figs.int8_range_chart(ratio, std, dead_dims=[2])
    assert "1e7 times narrower" in int8.layout.title.text
    share = figs.cosine_share_chart([0.5, 0.1, None, 0.05], [0.1, 0.1, 0.7, 0.1], top=3)
    assert list(share.data[0].x) == ["dim 2", "dim 0", "dim 1"]  # largest share, raw or at equal spread
    assert "top dim 50.0%" in share.layout.title.text
    empty = figs.cosine_share_chart([None, None], [None, None])
    assert "undefined" in empty.layout.title.text and not empty.data
    harm = figs.harmful_chart([[0], [1], [2]], [0.01, 0.001, -0.01], [0.002, 0.002, 0.002])
    colors = harm.data[0].marker.color
    assert colors[0] == DEAD and colors[1] != DEAD and colors[2] != DEAD  # 0.001 is inside 2 standard errors
    assert "1 clearly raise it" in harm.layout.title.text
    groups = figs.harmful_chart([[0, 1], [2, 3]], [0.0, 0.0], [0.0, 0.0], mode="groups")
    assert list(groups.data[0].x) == ["group 0", "group 1"]


def test_variant_table_has_one_row_per_variant(variants):
    table = figs.variant_table(variants)
    assert table["name"].tolist() == [v.name for v in variants]
    assert table.columns[:10].tolist() == [
        "name",
        "family",
        "k",
        "dims",
        "bytes_per_vector",
        "recall_at_1",
        "recall_at_10",
        "mrr",
        "ndcg_at_10",
        "retention",
    ]
    assert table.loc[table["name"] == "random-8", "n_draws"].item() == 3
