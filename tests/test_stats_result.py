"""What a StatsResult answers for a page: headline, std rank and ratio, the spread's cut line,
its heatmap and label crowding, each checked against numpy on the same embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from analysis.corpora import Corpus
from analysis.errors import OptionError
from analysis.figures.heatmap import HeatmapCap, dimension_heatmap
from analysis.figures.view_matrix import ViewMatrix
from analysis.measures.stats import std_rank
from analysis.pipeline import get_embeddings, get_stats
from analysis.pipeline.cache import EmbeddingStore
from tests.tiny_models import tiny_corpus


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tmp_path_factory):
    """The tiny model (dims 3 and 17 dead) on 120 labelled texts: statistics and embeddings."""
    texts = tuple(dict.fromkeys(tiny_corpus(130, seed=11)))[:120]
    corpus = Corpus(name="tiny-labelled", texts=texts, labels=tuple("abc"[i % 3] for i in range(len(texts))))
    store = EmbeddingStore(tmp_path_factory.mktemp("stats-result"))
    result = get_stats(str(tiny_model_dir), corpus, store=store)
    embeddings = get_embeddings(str(tiny_model_dir), corpus, store=store)
    yield result, embeddings
    store.close()


def numpy_std(raw: np.ndarray, view: str) -> np.ndarray:
    x = raw.astype(np.float64)
    if view == "normalized":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x.std(axis=0)


@pytest.mark.parametrize("view", ["raw", "normalized"])
def test_std_rank_and_ratio_match_numpy(tiny, view):
    result, embeddings = tiny
    std = numpy_std(embeddings.raw, view)
    ours = result.columns(view)["std"]
    np.testing.assert_allclose(ours, std, rtol=1e-5, atol=1e-7)
    # One plus how many dimensions have a strictly larger std (scipy: "min" rank of -std).
    expected_rank = rankdata(-ours, method="min").astype(int)
    assert result.std_rank(view).tolist() == expected_rank.tolist()
    assert [int(np.sum(ours > s)) + 1 for s in ours] == expected_rank.tolist()
    np.testing.assert_allclose(result.std_ratio(view), std / np.median(std), rtol=1e-4)
    head = result.headline(view)
    assert head["dimension"] == 32 and head["dead_count"] == 2
    if view == "raw":  # dead 3 and 17 and constant 9 have std 0 in the raw view: they tie for the last rank
        assert result.std_rank(view)[[3, 9, 17]].tolist() == [30, 30, 30]
    assert head["median_std"] == pytest.approx(float(np.median(std)), rel=1e-5)
    assert head["min_std"] == pytest.approx(float(std.min()), rel=1e-4, abs=1e-9)


def test_std_rank_ties_share_the_best_rank_and_nan_ranks_first():
    assert std_rank([0.2, 0.5, 0.2, 0.1]).tolist() == [2, 1, 2, 4]
    assert std_rank([1.0, np.nan, 3.0]).tolist() == [2, 1, 1]
    assert std_rank([]).tolist() == []


@pytest.mark.parametrize(
    ("metric", "scale", "multiple"),
    [("std", "as_is", 0.5), ("variance", "sqrt_d", 1.0), ("std", "share", 0.01), ("variance", "share", 2.0)],
)
def test_spread_cut_matches_numpy(tiny, metric, scale, multiple):
    result, embeddings = tiny
    std = numpy_std(embeddings.raw, "normalized")
    values = std if metric == "std" else std**2
    d = values.size
    if scale == "sqrt_d":
        values = values * (np.sqrt(d) if metric == "std" else d)
    elif scale == "share":
        values = std**2 / np.sum(std**2)
    line = multiple * float(np.median(values))
    cut = result.spread_cut("normalized", metric=metric, scale=scale, multiple=multiple)
    assert cut.line == pytest.approx(line, rel=1e-4)
    assert cut.n_below == int(np.sum(values < line)) and cut.multiple == multiple
    if multiple == 0.01:
        assert cut.n_below == 2  # the two planted dead dimensions, by the dead rule's own multiple
    with pytest.raises(OptionError, match="spread measure"):
        result.spread_cut("normalized", metric="mean")


@pytest.mark.parametrize(
    ("view", "order", "dims", "grouped"),
    [
        ("normalized", "index", None, True),
        ("raw", "std", [17, 0, 5, 3, 99], False),
        ("standardized", "abs_mean", None, True),
    ],
)
def test_plot_heatmap_draws_what_the_figure_draws_by_hand(tiny, view, order, dims, grouped):
    """One heatmap path: the result's method gives the figure a page built by hand before."""
    result, embeddings = tiny
    stats_for_order = result.raw if view == "raw" else result.normalized
    chosen = stats_for_order["dim"].to_numpy() if dims is None else np.array(sorted(set(dims) & set(range(32))))
    if order != "index":
        values = stats_for_order.set_index("dim").loc[chosen, order].to_numpy()
        chosen = chosen[np.argsort(-values, kind="stable")]
    normalized = result.normalized
    by_hand = dimension_heatmap(
        ViewMatrix(embeddings.raw, view, mean=normalized["mean"].to_numpy(), std=normalized["std"].to_numpy()),
        texts=embeddings.corpus.texts,
        labels=embeddings.corpus.labels,
        view_name=view,
        dead_dims=result.dead_dims,
        dims=chosen,
        group_by_label=grouped,
        dim_order_name={"index": "index", "std": "std", "abs_mean": "mean |x|"}[order],
        cap=HeatmapCap(),
    )
    read = result.plot_heatmap(view, order=order, dims=dims, group_by_label=grouped)
    given = result.plot_heatmap(view, order=order, dims=dims, group_by_label=grouped, embeddings=embeddings)
    assert read.to_plotly_json() == by_hand.to_plotly_json() == given.to_plotly_json()
    assert list(read.data[0].x) == [str(d) for d in chosen]  # the dimensions asked for, in the order asked


def test_methods_refuse_embeddings_that_are_not_theirs(tiny, tiny_clean_dir, tmp_path):
    result, embeddings = tiny
    other = get_embeddings(str(tiny_clean_dir), embeddings.corpus, store=EmbeddingStore(tmp_path / "c"))
    with pytest.raises(OptionError, match="not the ones behind these statistics"):
        result.plot_heatmap(embeddings=other)
    with pytest.raises(OptionError, match="not the ones behind these statistics"):
        result.label_crowding(embeddings=other)
    with pytest.raises(OptionError, match="dimension order"):
        result.plot_heatmap(order="random")


def test_label_crowding_reads_or_takes_the_same_embeddings(tiny):
    result, embeddings = tiny
    read, given = result.label_crowding(), result.label_crowding(embeddings=embeddings)
    assert read.to_dict() == given.to_dict()
    unit = embeddings.raw.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    assert read.corpus_mean_norm_sq == pytest.approx(float(np.sum(unit.mean(axis=0) ** 2)), abs=1e-9)
