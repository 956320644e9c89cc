"""analysis.selection: top-variance vs PCA vs random dimension selection on labeled data."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis.errors import OptionError
from analysis.measures import selection as S


def _clusters(n: int = 600, d: int = 64, n_classes: int = 4, n_informative: int = 8, seed: int = 0):
    """Labeled clusters whose class signal lives in a few high-variance dims (shuffled positions)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    # each informative dim splits the classes half +3 / half -3, so its variance is ~1 + 9
    signs = np.where(np.arange(n_classes) < n_classes // 2, 3.0, -3.0)
    centers = np.stack([rng.permutation(signs) for _ in range(n_informative)], axis=1)
    X = rng.normal(size=(n, d))
    informative = rng.permutation(d)[:n_informative]
    X[:, informative] += centers[y]
    return X.astype(np.float32), y, np.sort(informative)


@pytest.fixture(scope="module")
def clusters():
    return _clusters()


@pytest.fixture(scope="module")
def result(clusters):
    X, y, _ = clusters
    calls = []
    df = S.compare_dimension_selection(
        X, y, ks=[4, 8, 32, 64], n_random_seeds=5, progress=lambda done, total: calls.append((done, total))
    )
    return df, calls


def test_select_top_variance_order_and_ties():
    X = np.array([[0, 0, 0, 0], [1, 2, 1, 0], [2, 4, 2, 0]], dtype=np.float64)
    # variances: dim0 = dim2 (tie) < dim1; dim3 = 0
    assert S.select_top_variance(X, 4).tolist() == [1, 0, 2, 3]
    assert S.select_top_variance(X, 2).tolist() == [1, 0]
    for bad in (0, 5, 1.5):
        with pytest.raises(OptionError):
            S.select_top_variance(X, bad)


def test_select_top_variance_matches_numpy(clusters):
    X, _, informative = clusters
    want = np.argsort(-X.astype(np.float64).var(axis=0), kind="stable")[:8]
    got = S.select_top_variance(X, 8)
    assert got.tolist() == want.tolist()
    assert sorted(got.tolist()) == informative.tolist()


def test_default_ks():
    assert S.default_ks(384) == [8, 16, 32, 64, 128, 192, 256, 384]
    assert S.default_ks(768) == [8, 16, 32, 64, 128, 256, 384, 512, 768]
    assert S.default_ks(10) == [5, 8, 10]


def test_table_shape_and_contract(result, clusters):
    df, calls = result
    X, y, _ = clusters
    assert list(df.columns) == [
        "method",
        "k",
        "seed",
        "ari",
        "nmi",
        "silhouette",
        "knn_accuracy",
        "neighbour_overlap",
        "n_samples",
    ]
    assert df["method"].unique().tolist() == ["top_variance", "pca", "random", "all"]
    rnd = df[df["method"] == "random"]
    assert sorted(rnd["seed"].unique().tolist()) == [0, 1, 2, 3, 4]
    assert df.loc[df["method"] != "random", "seed"].isna().all()
    assert len(df) == 4 + 4 + 4 * 5 + 1
    full = df[df["method"] == "all"].iloc[0]
    assert full["k"] == 64 and full["neighbour_overlap"] == 1.0
    # k = d rows are the full-space scores
    for m in ("top_variance", "pca", "random"):
        kd = df[(df["method"] == m) & (df["k"] == 64)]
        assert np.allclose(
            kd[["ari", "knn_accuracy", "neighbour_overlap"]].to_numpy(dtype=float),
            full[["ari", "knn_accuracy", "neighbour_overlap"]].to_numpy(dtype=float),
        )
    metrics = df[["ari", "nmi", "knn_accuracy", "neighbour_overlap"]].to_numpy(dtype=float)
    assert np.all((metrics >= -0.5) & (metrics <= 1.0))
    assert df["silhouette"].between(-1, 1).all()
    assert df.attrs["n_samples"] == 600 and not df.attrs["subsampled"] and df.attrs["n_classes"] == 4
    assert (df["n_samples"] == 600).all()
    # progress: monotone, ends at total
    assert calls[-1][0] == calls[-1][1] and [c[0] for c in calls] == list(range(1, len(calls) + 1))


def test_full_space_knn_matches_sklearn_leave_one_out(result, clusters):
    from sklearn.neighbors import NearestNeighbors

    df, _ = result
    X, y, _ = clusters
    nn = NearestNeighbors(n_neighbors=11, metric="cosine").fit(X.astype(np.float64))
    idx = nn.kneighbors(return_distance=False)[:, :10]  # self excluded when X is None
    votes = np.array([np.bincount(y[row], minlength=4) for row in idx])
    top = votes.max(axis=1, keepdims=True)
    # count unambiguous votes only (ties are broken by rank in ours)
    clear = (votes == top).sum(axis=1) == 1
    acc_clear = (votes.argmax(axis=1) == y)[clear]
    full = df[df["method"] == "all"].iloc[0]
    n_tied = int((~clear).sum())
    assert abs(full["knn_accuracy"] * len(y) - acc_clear.sum()) <= n_tied


def test_top_variance_beats_random_at_small_k(result):
    df, _ = result
    s = S.summarize_selection(df).set_index(["method", "k"])
    for k in (4, 8):
        tv = s.loc[("top_variance", k)]
        rnd = s.loc[("random", k)]
        assert tv["ari_mean"] > rnd["ari_mean"] + 0.3
        assert tv["knn_accuracy_mean"] > rnd["knn_accuracy_mean"] + 0.2
        assert tv["neighbour_overlap_mean"] > rnd["neighbour_overlap_mean"]
    # the 8 informative dims recover the classes almost perfectly
    assert s.loc[("top_variance", 8), "knn_accuracy_mean"] > 0.95
    assert s.loc[("pca", 8), "knn_accuracy_mean"] > 0.9


def test_summarize_selection(result):
    df, _ = result
    s = S.summarize_selection(df)
    rnd8 = df[(df["method"] == "random") & (df["k"] == 8)]
    row = s[(s["method"] == "random") & (s["k"] == 8)].iloc[0]
    assert row["n_runs"] == 5
    assert row["ari_mean"] == pytest.approx(rnd8["ari"].mean())
    assert row["ari_std"] == pytest.approx(rnd8["ari"].std(ddof=1))
    det = s[s["method"] != "random"]
    assert (det["n_runs"] == 1).all() and (det["knn_accuracy_std"] == 0).all()


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+\.\d+|\d+%", text))


def test_verdict_is_computed_from_the_numbers(result):
    df, _ = result
    text = S.selection_verdict(df, "toy-model", "toy-corpus")
    s = S.summarize_selection(df).set_index(["method", "k"])
    full_knn = s.loc[("all", 64), "knn_accuracy_mean"]
    # headline k: smallest k < d whose top-variance kNN accuracy keeps >= 95% of the full one
    k = min(kk for kk in (4, 8, 32) if s.loc[("top_variance", kk), "knn_accuracy_mean"] >= 0.95 * full_knn)
    tv = s.loc[("top_variance", k)]
    rnd = s.loc[("random", k)]
    assert "toy-model" in text and "toy-corpus" in text
    assert f"the {k} highest-variance dimensions" in text
    nums = _numbers(text)
    for value in (tv["knn_accuracy_mean"], full_knn, rnd["knn_accuracy_mean"]):
        assert f"{value:.3f}" in nums
    assert f"{tv['ari_mean'] - rnd['ari_mean']:.2f}" in nums
    assert f"{np.floor(100 * tv['knn_accuracy_mean'] / full_knn + 1e-9):.0f}%" in nums
    assert f"beat random-{k}" in text
    assert "Caution" not in text


def test_verdict_says_top_variance_trails_when_variance_is_noise():
    # class signal in 12 low-variance dims, 12 high-variance pure-noise dims: top-variance is blind
    rng = np.random.default_rng(5)
    n, n_classes = 500, 4
    y = rng.integers(0, n_classes, n)
    signs = np.where(np.arange(n_classes) < n_classes // 2, 1.0, -1.0)
    centers = np.stack([rng.permutation(signs) for _ in range(12)], axis=1)
    X = np.hstack([centers[y] + rng.normal(size=(n, 12)) * 0.2, rng.normal(size=(n, 12)) * 1.3])
    df = S.compare_dimension_selection(X, y, ks=[4, 8], n_random_seeds=5)
    s = S.summarize_selection(df).set_index(["method", "k"])
    tv, rnd = s.loc[("top_variance", 8)], s.loc[("random", 8)]
    assert tv["knn_accuracy_mean"] < 0.5 < rnd["knn_accuracy_mean"]
    text = S.selection_verdict(df, "m", "c")
    assert "beat random" not in text
    assert "trail random-8 dimensions" in text
    assert f"{tv['knn_accuracy_mean']:.3f} vs {rnd['knn_accuracy_mean']:.3f}" in text
    assert "more than k=8 with top-variance" in text


def test_verdict_warns_when_labels_are_unpredictable():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(400, 32))
    y = rng.integers(0, 3, 400)
    df = S.compare_dimension_selection(X, y, ks=[4, 16], n_random_seeds=3)
    text = S.selection_verdict(df, "m", "c")
    assert "Caution" in text and f"{df.attrs['majority_rate']:.3f}" in text
    assert "beat random" not in text


def test_verdict_with_zero_full_space_accuracy_says_the_numbers_not_nan():
    # each text's one neighbour is of another label (same-label texts sit at opposite ends)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 2)
    X = np.vstack([np.r_[np.eye(4)[i] * sign, rng.normal(size=4) * 0.01] for i in range(4) for sign in (1, -1)])
    df = S.compare_dimension_selection(X, y, ks=[2, 4], n_neighbors=1, n_random_seeds=2)
    s = S.summarize_selection(df).set_index(["method", "k"])
    assert s.loc[("all", 8), "knn_accuracy_mean"] == 0.0
    text = S.selection_verdict(df, "m", "c")
    assert "nan" not in text.lower()
    assert f"reach {s.loc[('top_variance', 4), 'knn_accuracy_mean']:.3f} kNN accuracy (all dimensions: 0.000)" in text
    assert "Keeping 95%" not in text and "Caution" in text


def test_subsampling_is_deterministic_and_reported(clusters):
    X, y, _ = clusters
    kw = dict(ks=[8], methods=("top_variance", "all"), max_samples=200, seed=3)
    a = S.compare_dimension_selection(X, y, **kw)
    b = S.compare_dimension_selection(X, y, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["subsampled"] and a.attrs["n_samples"] == 200 and a.attrs["n_rows"] == 600
    assert (a["n_samples"] == 200).all()
    assert "200 of 600 texts" in S.selection_verdict(a, "m", "c")


def test_string_labels_and_subset_of_methods(clusters):
    X, y, _ = clusters
    labels = np.array(["alpha", "beta", "gamma", "delta"], dtype=object)[y]
    df = S.compare_dimension_selection(X, labels, ks=[8], methods=("pca", "all"))
    assert df["method"].tolist() == ["pca", "all"]


@pytest.mark.parametrize(
    "labels, kwargs, match",
    [
        (np.zeros(600), {}, "at least 2 distinct classes"),
        (np.arange(10), {}, "one label per row"),
        (np.where(np.arange(600) == 3, np.nan, np.arange(600) % 2), {}, "missing"),
        (np.arange(600) % 2, {"methods": ("lasso",)}, "top_variance, pca, random, all"),
        (np.arange(600) % 2, {"ks": [0, 8]}, "ks"),
        (np.arange(600) % 2, {"ks": [65]}, "ks"),
    ],
)
def test_errors(clusters, labels, kwargs, match):
    X, _, _ = clusters
    with pytest.raises(OptionError, match=match):
        S.compare_dimension_selection(X, labels, **kwargs)


@pytest.mark.slow
def test_the_report_summarizes_its_own_draws(tiny_model_dir, tmp_path):
    """What the Selection page's table shows: each (method, k)'s mean and std over its random draws."""
    from analysis.corpora import Corpus
    from analysis.pipeline.cache import EmbeddingStore
    from analysis.reports.selection import selection_report
    from tests.tiny_models import tiny_corpus

    texts = tuple(dict.fromkeys(tiny_corpus(130, seed=4)))[:120]
    corpus = Corpus(name="tiny-topics", texts=texts, labels=tuple("xyz"[i % 3] for i in range(len(texts))))
    report = selection_report(str(tiny_model_dir), corpus, n_random_seeds=3, store=EmbeddingStore(tmp_path / "c"))
    table = pd.DataFrame(report.table)
    summary = report.summary().set_index(["method", "k"])
    assert len(summary) == len(table.groupby(["method", "k"]))
    for (method, k), rows in table.groupby(["method", "k"]):
        knn = rows["knn_accuracy"].to_numpy(dtype=np.float64)
        assert summary.loc[(method, k), "n_runs"] == len(rows) == (3 if method == "random" else 1)
        assert summary.loc[(method, k), "knn_accuracy_mean"] == pytest.approx(knn.mean())
        assert summary.loc[(method, k), "knn_accuracy_std"] == pytest.approx(knn.std(ddof=1) if len(knn) > 1 else 0.0)


# --- the neighbour count: adapts on small corpora, or as asked ---------------------------------------


def _reference_neighbours(Z: np.ndarray, k: int) -> np.ndarray:
    """Each row's k cosine-nearest other rows, nearest first, by scikit-learn (self excluded)."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k, metric="cosine").fit(Z).kneighbors(return_distance=False)


def _reference_knn_accuracy(idx: np.ndarray, y: np.ndarray) -> float:
    """Majority vote of the neighbours; a tie in votes goes to the class whose neighbours rank nearer."""
    k = idx.shape[1]
    hits = 0
    for i, row in enumerate(idx):
        best = max(set(y[row].tolist()), key=lambda c: (np.sum(y[row] == c), np.sum((k - np.arange(k))[y[row] == c])))
        hits += best == y[i]
    return hits / len(y)


@pytest.fixture(scope="module")
def small_corpus():
    """8 texts, 4 labels (2 each), 16 dims: the corpus size that once failed with 'between 1 and 7; got 10'."""
    rng = np.random.default_rng(21)
    y = np.repeat(np.arange(4), 2)
    X = rng.normal(size=(8, 16)) + 2.0 * rng.normal(size=(4, 16))[y]
    return X, y


def test_auto_neighbors():
    assert [S.auto_neighbors(n) for n in (2, 3, 8, 20, 21, 54, 3000)] == [1, 1, 3, 9, 10, 10, 10]


def test_a_small_corpus_adapts_the_neighbour_count_and_matches_sklearn(small_corpus):
    X, y = small_corpus
    df = S.compare_dimension_selection(X, y, ks=[4, 8], n_random_seeds=2)
    assert df.attrs["n_neighbors"] == 3 and df.attrs["n_neighbors_auto"] is True
    full = df[df["method"] == "all"].iloc[0]
    full_idx = _reference_neighbours(X, 3)
    assert full["knn_accuracy"] == pytest.approx(_reference_knn_accuracy(full_idx, y))
    top4 = S.select_top_variance(X, 4)
    idx = _reference_neighbours(X[:, top4], 3)
    row = df[(df["method"] == "top_variance") & (df["k"] == 4)].iloc[0]
    assert row["knn_accuracy"] == pytest.approx(_reference_knn_accuracy(idx, y))
    overlap = np.mean([len(set(a) & set(b)) / 3 for a, b in zip(idx, full_idx, strict=True)])
    assert row["neighbour_overlap"] == pytest.approx(overlap)
    text = S.selection_verdict(df, "m", "c")
    assert "3 nearest neighbours, not the usual 10: with only 8 texts" in text


def test_a_neighbour_count_asked_for_is_used_or_refused_never_changed(small_corpus):
    X, y = small_corpus
    df = S.compare_dimension_selection(X, y, ks=[4], methods=("top_variance", "all"), n_neighbors=5)
    assert df.attrs["n_neighbors"] == 5 and df.attrs["n_neighbors_auto"] is False
    full = df[df["method"] == "all"].iloc[0]
    assert full["knn_accuracy"] == pytest.approx(_reference_knn_accuracy(_reference_neighbours(X, 5), y))
    assert "5 nearest neighbours (as asked)" in S.selection_verdict(df, "m", "c")
    with pytest.raises(OptionError, match=r"Asked for 10 nearest neighbours, but with 8 texts .* at most 7"):
        S.compare_dimension_selection(X, y, ks=[4], n_neighbors=10)
    with pytest.raises(OptionError, match="at least 1"):
        S.compare_dimension_selection(X, y, ks=[4], n_neighbors=0)


def test_a_large_corpus_keeps_ten_neighbours(result):
    df, _ = result
    assert df.attrs["n_neighbors"] == 10 and df.attrs["n_neighbors_auto"] is True
    assert "use each text's 10 nearest neighbours." in S.selection_verdict(df, "m", "c")
