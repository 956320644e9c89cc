"""The variance budget of the normalized view, the spread scales, the median-std split and per-label
crowding: every figure against numpy, on synthetic rows with known answers and on real embeddings."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from analysis.errors import OptionError
from analysis.figures import budget as budget_figures
from analysis.figures import comparison, spread
from analysis.measures import budget, crowding, stats


def unit_rows(n: int, d: int, *, pull: float = 0.0, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors in ``d`` dims; ``pull`` > 0 leans them towards one direction."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[:, 0] += pull * math.sqrt(d)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def budget_of(x: np.ndarray) -> budget.VarianceBudget:
    """The budget as ``stats`` computes it: from the normalized view's statistics columns."""
    columns = stats.stats_columns([x.astype(np.float32)], x.shape[1])["normalized"]
    return budget.variance_budget(columns["mean"], columns["variance"], x.shape[0])


def numpy_budget(x: np.ndarray) -> dict[str, float]:
    """The same figures straight from the rows, pairs formed explicitly (the independent reference)."""
    x = x.astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.where(norms > 0, norms, 1.0)[:, None]
    mu = unit.mean(axis=0)
    var = unit.var(axis=0, ddof=0)
    live = unit[norms > 0]
    cosines = live @ live.T
    m = live.shape[0]
    top = np.sort(var)[::-1]
    k = math.ceil(x.shape[1] / 100)
    return {
        "mean_norm_sq": float(mu @ mu),
        "total_variance": float(var.sum()),
        "mean_cosine": float((cosines.sum() - np.trace(cosines)) / (m * (m - 1))),
        "top1_share": float(top[0] / var.sum()),
        "top10_share": float(top[:10].sum() / var.sum()),
        "top1pct_share": float(top[:k].sum() / var.sum()),
        "effective_dims": float(var.sum() ** 2 / (var**2).sum()),
        "median_std": float(np.median(np.sqrt(var))),
    }


def assert_budget_matches(b: budget.VarianceBudget, reference: dict[str, float], atol: float) -> None:
    for name, value in reference.items():
        got = getattr(b, name)
        scale = max(1.0, abs(value)) if name == "effective_dims" else 1.0
        assert abs(got - value) <= atol * scale, (name, got, value)


def test_docstring_examples_run():
    for module in (budget, crowding, budget_figures):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --- the budget ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pull", [0.0, 0.3, 1.5])
def test_every_budget_figure_matches_numpy_on_synthetic_unit_rows(pull):
    x = unit_rows(600, 48, pull=pull, seed=1)
    b = budget_of(x)
    assert_budget_matches(b, numpy_budget(x), atol=1e-6)
    assert abs(b.total_variance + b.mean_norm_sq - 1.0) < 1e-6
    assert b.zero_rows == 0 and b.top1pct_dims == 1 and b.dimension == 48 and b.n_texts == 600


def test_a_longer_mean_vector_takes_variance_and_raises_the_mean_cosine():
    loose, tight = budget_of(unit_rows(800, 64, pull=0.1)), budget_of(unit_rows(800, 64, pull=1.0))
    assert tight.mean_norm_sq > loose.mean_norm_sq + 0.3
    assert tight.total_variance < loose.total_variance - 0.3
    assert tight.mean_cosine > loose.mean_cosine + 0.3


def test_zero_rows_are_counted_and_left_out_of_the_cosine():
    x = unit_rows(300, 20, pull=0.5, seed=2)
    x[[5, 77, 200]] = 0.0
    b = budget_of(x)
    reference = numpy_budget(x)
    assert b.zero_rows == 3
    assert abs(b.mean_cosine - reference["mean_cosine"]) < 1e-6
    assert abs(b.total_variance + b.mean_norm_sq - 297 / 300) < 1e-6
    assert "3 zero row(s)" in b.summary_line()


def test_degenerate_inputs_give_nan_not_errors():
    one = budget.variance_budget([0.6, 0.8], [0.0, 0.0], 1)
    assert math.isnan(one.mean_cosine) and one.mean_norm_sq == pytest.approx(1.0)
    empty = budget.variance_budget([], [], 0)
    assert math.isnan(empty.total_variance) and math.isnan(empty.effective_dims)
    with pytest.raises(ValueError):
        budget.variance_budget([0.1, 0.2], [0.1], 5)


def test_mean_cosine_formula_on_hand_made_rows():
    # Three unit rows: e1, e1, e2. Pairs: (e1,e1)=1, (e1,e2)=0 twice -> mean 1/3.
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mu = x.mean(axis=0)
    assert budget.mean_pairwise_cosine(float(mu @ mu), 3) == pytest.approx(1 / 3)
    assert budget_of(x).mean_cosine == pytest.approx(1 / 3, abs=1e-7)


def test_participation_ratio_and_top_shares_have_their_limits():
    assert budget.participation_ratio(np.full(50, 0.02)) == pytest.approx(50)
    assert budget.participation_ratio(np.array([1.0, 0, 0, 0])) == pytest.approx(1)
    assert budget.top_share(np.array([3.0, 1.0, 0.0, 0.0]), 1) == pytest.approx(0.75)
    assert [budget.one_percent(d) for d in (32, 100, 384, 768, 1024)] == [1, 1, 4, 8, 11]


# --- scales --------------------------------------------------------------------------------------


def test_scale_spread_against_numpy():
    std = np.array([0.3, 0.1, 0.2, 1e-9])
    np.testing.assert_array_equal(budget.scale_spread(std, "as_is"), std)
    np.testing.assert_allclose(budget.scale_spread(std, "sqrt_d"), std * 2.0)
    np.testing.assert_allclose(budget.scale_spread(std**2, "sqrt_d", metric="variance"), std**2 * 4)
    share = budget.scale_spread(std, "share")
    np.testing.assert_allclose(share, std**2 / np.sum(std**2))
    np.testing.assert_allclose(budget.scale_spread(std**2, "share", metric="variance"), share)
    assert share.sum() == pytest.approx(1.0)
    with pytest.raises(OptionError, match="spread scale"):
        budget.scale_spread(std, "log")


def _curve_values(fig) -> dict[str, np.ndarray]:
    return {t.name: np.asarray(t.y, dtype=np.float64) for t in fig.data if t.mode == "lines"}


def frame_of(x: np.ndarray) -> pd.DataFrame:
    return stats.dimension_stats_both_views([x.astype(np.float32)], x.shape[1])["normalized"]


def test_on_std_times_sqrt_d_models_of_any_size_line_up_and_crowding_sits_lower():
    small = unit_rows(4000, 96, seed=3)  # isotropic, d = 96
    large = unit_rows(4000, 384, seed=4)  # isotropic, d = 384
    crowded = unit_rows(4000, 384, pull=0.8, seed=5)  # d = 384 with a long mean vector
    frames = {"small": frame_of(small), "large": frame_of(large), "crowded": frame_of(crowded)}
    as_is = _curve_values(comparison.sorted_std_curves(frames, log_y=False))
    scaled = _curve_values(comparison.sorted_std_curves(frames, log_y=False, scale="sqrt_d"))
    # As is, the small model's median std is about twice the large one's (sqrt(384 / 96) = 2) ...
    assert np.median(as_is["small"]) / np.median(as_is["large"]) == pytest.approx(2.0, rel=0.05)
    # ... and on std x sqrt(d) both sit near 1.0, the isotropic share, and line up.
    assert np.median(scaled["small"]) == pytest.approx(1.0, abs=0.05)
    assert np.median(scaled["large"]) == pytest.approx(1.0, abs=0.05)
    assert np.median(scaled["small"]) / np.median(scaled["large"]) == pytest.approx(1.0, abs=0.05)
    # The crowded model sits lower, by about sqrt(1 - |mu|^2) in its typical dimension.
    b = budget_of(crowded)
    assert b.mean_norm_sq > 0.3
    assert np.median(scaled["crowded"]) < 0.9 * np.median(scaled["large"])
    assert np.median(scaled["crowded"]) == pytest.approx(math.sqrt(1 - b.mean_norm_sq), rel=0.05)


@pytest.mark.parametrize("scale", ["as_is", "sqrt_d", "share"])
def test_every_spread_chart_says_what_its_numbers_mean(scale):
    frames = {"a": frame_of(unit_rows(200, 16, seed=6)), "b": frame_of(unit_rows(200, 32, seed=7))}
    title = {"as_is": "std", "sqrt_d": "std × √d (1 = an isotropic share)", "share": "share of the total variance"}
    curves = comparison.sorted_std_curves(frames, log_y=False, scale=scale).to_dict()["layout"]
    assert curves["yaxis"]["title"]["text"].startswith(title[scale])
    both = comparison.raw_vs_normalized(frames, frames, log_y=False, scale=scale).to_dict()["layout"]
    assert both["yaxis2"]["title"]["text"].startswith(title[scale])
    if scale == "sqrt_d":  # "1 = an isotropic share" holds for unit vectors only
        assert both["yaxis"]["title"]["text"] == "std × √d"
    box = comparison.std_distribution_by_model(frames, log_y=False, scale=scale).to_dict()["layout"]
    assert (box["yaxis"]["title"]["text"] == "std per dimension") == (scale == "as_is")
    bars = spread.std_bar_chart(frames["a"], dead_dims=[], scale=scale)
    shown = np.concatenate([np.asarray(t.y, dtype=float) for t in bars.data if t.name == "dimension"])
    expected = budget.scale_spread(frames["a"]["std"].to_numpy(), scale)
    np.testing.assert_allclose(np.sort(shown), np.sort(expected))
    assert bars.to_dict()["layout"]["yaxis"]["title"]["text"].startswith(title[scale])


# --- why two median stds differ ------------------------------------------------------------------


def isotropic_budget(d: int, mean_norm_sq: float, n: int = 1000) -> budget.VarianceBudget:
    return budget.variance_budget(
        np.r_[math.sqrt(mean_norm_sq), np.zeros(d - 1)], np.full(d, (1 - mean_norm_sq) / d), n
    )


def test_split_with_known_answers():
    # Twice the dimensions, same mean vector, both even: all of it is d.
    s = budget.split_median_std_ratio(isotropic_budget(768, 0.06), isotropic_budget(384, 0.06))
    assert s.ratio == pytest.approx(1 / math.sqrt(2), rel=1e-12)
    assert s.dimension_factor == pytest.approx(1 / math.sqrt(2), rel=1e-12)
    assert s.crowding_factor == pytest.approx(1.0) and s.spread_factor == pytest.approx(1.0)
    sentence = s.sentence("mpnet", "MiniLM")
    assert sentence.startswith("mpnet's median std is 0.71x MiniLM's: 0.71x (1/√2) from having twice the dimensions")
    assert "about as long (‖μ‖² 0.060 against 0.060)" in sentence and "about as evenly" in sentence
    # A mean vector 20% longer in ‖μ‖² that still moves the total variance by less than 2%.
    s = budget.split_median_std_ratio(isotropic_budget(768, 0.085), isotropic_budget(384, 0.070))
    assert s.crowding_factor == pytest.approx(math.sqrt(0.915 / 0.930), rel=1e-12)
    assert "its longer mean vector changes little, 0.99x (‖μ‖² 0.085 against 0.070)" in s.sentence("a", "b")
    # Same d, longer mean vector: all of it is crowding, sqrt(0.5 / 0.9).
    s = budget.split_median_std_ratio(isotropic_budget(384, 0.5), isotropic_budget(384, 0.1))
    assert s.ratio == pytest.approx(math.sqrt(0.5 / 0.9), rel=1e-12)
    assert s.crowding_factor == pytest.approx(math.sqrt(0.5 / 0.9), rel=1e-12)
    assert s.dimension_factor == 1.0 and s.spread_factor == pytest.approx(1.0)
    assert "0.75x from a longer mean vector" in s.sentence("a", "b") and "d explains none" in s.sentence("a", "b")
    # Same d and total, uneven spread: variances 4,4,1,1,1 against 2.2 x 5 -> sqrt(5 / 11).
    uneven = budget.variance_budget(np.zeros(5), np.array([4.0, 4, 1, 1, 1]) / 11, 10)
    even = budget.variance_budget(np.zeros(5), np.full(5, 2.2) / 11, 10)
    s = budget.split_median_std_ratio(uneven, even)
    assert s.ratio == pytest.approx(math.sqrt(5 / 11), rel=1e-12)
    assert s.spread_factor == pytest.approx(math.sqrt(5 / 11), rel=1e-12)
    assert s.dimension_factor == 1.0 and s.crowding_factor == pytest.approx(1.0)
    assert "0.67x from spreading its variance less evenly" in s.sentence("a", "b")
    # Half the dimensions, ASCII for a terminal.
    s = budget.split_median_std_ratio(isotropic_budget(256, 0.2), isotropic_budget(1024, 0.2))
    assert "2.00x (sqrt4) from having a quarter of the dimensions (256 against 1024)" in s.sentence(
        "a", "b", ascii_only=True
    )


def test_the_three_factors_multiply_back_to_the_ratio():
    rng = np.random.default_rng(8)
    budgets = []
    for d, pull in itertools.product((16, 48, 384), (0.0, 0.6)):
        x = unit_rows(300, d, pull=pull, seed=int(rng.integers(1000)))
        x[:, d // 2] *= 3.0  # some unevenness
        budgets.append(budget_of(x / np.linalg.norm(x, axis=1, keepdims=True)))
    for a, b in itertools.permutations(budgets, 2):
        s = budget.split_median_std_ratio(a, b)
        assert s.valid
        assert s.dimension_factor * s.crowding_factor * s.spread_factor == pytest.approx(s.ratio, rel=1e-12)
        # Each factor from its own formula, checked against the unit-row identity.
        assert s.crowding_factor == pytest.approx(math.sqrt((1 - a.mean_norm_sq) / (1 - b.mean_norm_sq)), rel=1e-5)
        assert s.dimension_factor == pytest.approx(math.sqrt(b.dimension / a.dimension), rel=1e-12)
        assert f"{s.ratio:.2f}x" in s.sentence("A", "B")


def test_a_zero_median_cannot_be_split():
    dead = budget.variance_budget(np.zeros(3), np.zeros(3), 5)
    s = budget.split_median_std_ratio(isotropic_budget(3, 0.1), dead)
    assert not s.valid and "cannot be compared" in s.sentence("a", "b")


def test_budget_table_and_explanations():
    budgets = {"mpnet": isotropic_budget(768, 0.06), "MiniLM": isotropic_budget(384, 0.07)}
    table = budget_figures.budget_table(budgets)
    assert table["model"].tolist() == ["mpnet", "MiniLM"] and table["d"].tolist() == [768, 384]
    np.testing.assert_allclose(table["‖μ‖²"] + table["total variance"], 1.0)
    sentences = budget_figures.median_std_explanations(budgets)
    assert len(sentences) == 1 and sentences[0].startswith("MiniLM's median std is")
    assert budget_figures.median_std_explanations({"one": budgets["mpnet"]}) == []


def test_the_budget_text_names_only_models_compared_here():
    """It always said GIST varies less than all-MiniLM-L6-v2, GIST compared or not (issue 25)."""
    minilm, mpnet = isotropic_budget(384, 0.086), isotropic_budget(768, 0.081)
    text = budget_figures.budget_intro({"all-MiniLM-L6-v2": minilm, "all-mpnet-base-v2": mpnet})
    assert "GIST" not in text and "Here," not in text  # no two models share d
    assert text.startswith("For unit vectors") and text.endswith("on this corpus.")
    gist = isotropic_budget(384, 0.21)
    text = budget_figures.budget_intro({"all-MiniLM-L6-v2": minilm, "GIST-all-MiniLM-L6-v2": gist, "mpnet": mpnet})
    # 1 − 0.21 against 1 − 0.086 of the same budget: GIST varies less, by crowding alone.
    assert (
        "Here, *GIST-all-MiniLM-L6-v2 varies less than all-MiniLM-L6-v2*: both have d = 384, so that is "
        "crowding (‖μ‖² 0.210 against 0.086)." in text
    )
    close = isotropic_budget(384, 0.10)  # 1 − 0.10 against 1 − 0.086: under 5% apart, nothing to point at
    assert "Here," not in budget_figures.budget_intro({"a": minilm, "b": close})


# --- per-label crowding --------------------------------------------------------------------------


def test_label_crowding_adds_up_and_matches_numpy_on_synthetic_rows():
    rng = np.random.default_rng(9)
    centres = rng.normal(size=(4, 24)) * 2
    labels = rng.integers(0, 4, size=700)
    x = centres[labels] + rng.normal(size=(700, 24))
    x[[3, 30]] = 0.0  # zero rows stay zero in the normalized view
    result = crowding.label_crowding(x.astype(np.float32), [f"topic {c}" for c in labels], chunk_rows=97)
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.where(norms > 0, norms, 1.0)[:, None]
    assert result.total_variance == pytest.approx(unit.var(axis=0).sum(), abs=1e-6)
    assert result.within_total + result.between_total == pytest.approx(result.total_variance, abs=1e-12)
    mu = unit.mean(axis=0)
    for i, name in enumerate(result.labels):
        rows = unit[np.array([f"topic {c}" for c in labels]) == name]
        assert result.counts[i] == len(rows)
        assert result.mean_norm_sq[i] == pytest.approx(rows.mean(0) @ rows.mean(0), abs=1e-6)
        assert result.within[i] == pytest.approx(rows.var(axis=0).sum(), abs=1e-6)
        assert result.between[i] == pytest.approx(np.sum((rows.mean(0) - mu) ** 2), abs=1e-6)
    assert result.between_share > 0.3  # the topics are well apart
    assert "between them" in result.sentence() and set(result.to_dict()) >= {"within_total", "between_total"}
    with pytest.raises(ValueError, match="labels for"):
        crowding.label_crowding(x, ["a"])


def test_label_crowding_figures():
    x = unit_rows(90, 8, pull=0.4, seed=10)
    result = crowding.label_crowding(x, ["a", "b", "c"] * 30)
    fig = budget_figures.label_crowding_chart(result)
    assert len(fig.data) == 1 and list(fig.data[0].y) == [result.labels[i] for i in np.argsort(-result.mean_norm_sq)]
    assert "‖μ_c‖²" in fig.layout.xaxis.title.text
    table = budget_figures.crowding_table(result)
    assert table["texts"].sum() == 90 and table["‖μ_c‖²"].is_monotonic_decreasing


# --- real embeddings -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(warm_cache_dir, minilm):
    """all-MiniLM-L6-v2 on the built-in chatterbot-english corpus: statistics and embeddings."""
    from analysis.corpora import load_builtin_corpus
    from analysis.pipeline import get_embeddings, get_stats
    from analysis.pipeline.cache import EmbeddingStore

    corpus = load_builtin_corpus("chatterbot-english")
    store = EmbeddingStore(warm_cache_dir)
    result = get_stats(minilm, corpus, store=store)
    raw = get_embeddings(minilm, corpus, store=store).raw
    yield result, raw, corpus
    store.close()


def test_identity_and_every_figure_on_real_embeddings(real):
    result, raw, _ = real
    b = result.budget
    # Σ Var (ddof=0) + ‖μ‖² = 1 for unit rows, from the cached statistics alone.
    assert abs(b.total_variance + b.mean_norm_sq - 1.0) < 1e-6
    assert b.zero_rows == 0 and b.dimension == 384
    assert_budget_matches(b, numpy_budget(raw), atol=1e-6)
    report = result.to_json_dict()
    assert report["mean_norm_sq"] == b.mean_norm_sq and report["effective_dims"] == b.effective_dims
    assert "ddof=0" in report["budget_rule"]


def test_label_crowding_adds_up_exactly_on_real_embeddings(real):
    result, raw, corpus = real
    split = result.label_crowding()
    unit = raw.astype(np.float64) / np.linalg.norm(raw.astype(np.float64), axis=1, keepdims=True)
    mu = unit.mean(axis=0)
    labels = np.asarray(corpus.labels)
    weights = split.counts / split.counts.sum()
    # total variance = Σ_c w_c (1 − ‖μ_c‖²) + Σ_c w_c ‖μ_c − μ‖², for unit rows, to 1e-9.
    within = sum(
        w * (1 - float(unit[labels == c].mean(0) @ unit[labels == c].mean(0)))
        for c, w in zip(split.labels, weights, strict=True)
    )
    between = sum(
        w * float(np.sum((unit[labels == c].mean(0) - mu) ** 2)) for c, w in zip(split.labels, weights, strict=True)
    )
    total = float(unit.var(axis=0).sum())
    assert abs(total - (within + between)) < 1e-9
    assert abs(split.total_variance - total) < 1e-9
    assert abs(split.within_total - within) < 1e-9 and abs(split.between_total - between) < 1e-9
    assert 0 < split.between_share < 1 and len(split.labels) == len(set(corpus.labels))
