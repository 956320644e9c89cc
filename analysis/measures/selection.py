"""Dimension selection: keep the k highest-variance dimensions instead of reducing with PCA?

The practical idea from sentence-transformers issue #2662: many dimensions carry little
variance, so one could keep only the top-k by variance. :func:`compare_dimension_selection`
scores that against PCA-k, random-k and all dimensions on a labeled corpus; the verdict
is produced from the measured numbers by :func:`selection_verdict`.

Every method is a linear map of the *raw* (uncentered) embeddings, compared by cosine:

* ``top_variance``: the k columns with the largest variance;
* ``pca``: projection onto the top-k principal axes, ``X @ components_[:k].T`` (sklearn
  ``PCA`` fitted on X). Like a PCA ``Dense`` layer appended to a sentence-transformers model,
  the mean is *not* subtracted, so all methods see the same kind of vectors;
* ``random``: k columns drawn uniformly without replacement (``n_random_seeds`` draws);
* ``all``: every dimension (one row, k = d), the reference.

No streamlit or torch here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from analysis.errors import OptionError
from analysis.measures.matrix import as_float64, as_matrix, column_variance
from analysis.options import SELECTION_METHODS, SELECTION_SCORES

__all__ = [
    "select_top_variance",
    "default_ks",
    "auto_neighbors",
    "compare_dimension_selection",
    "summarize_selection",
    "selection_verdict",
]

_SILHOUETTE_SAMPLE = 1000
#: The neighbour count of kNN accuracy and neighbour overlap unless the corpus is small or the caller asks.
DEFAULT_NEIGHBORS = 10


def select_top_variance(X: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` dimensions with the largest variance (ddof=0).

    Sorted by variance descending; equal variances are ordered by index ascending.
    Raises OptionError unless 1 <= k <= d.
    """
    X = as_matrix(X)
    d = X.shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise OptionError(f"k must be an integer between 1 and d={d}; got {k!r}.")
    var = column_variance(X)
    order = np.lexsort((np.arange(d), -var))
    return order[: int(k)].astype(np.int64)


def default_ks(d: int) -> list[int]:
    """Powers of two from 8 below d, plus d/2 and d (e.g. d=384: 8..256, 192, 384)."""
    ks = {d, max(1, d // 2)}
    k = 8
    while k < d:
        ks.add(k)
        k *= 2
    return sorted(ks)


def auto_neighbors(n: int) -> int:
    """The neighbour count used when none is asked for: 10, or half of the other texts when fewer.

    With all ``n - 1`` others as neighbours every space has the same neighbours (overlap 1.0) and
    every vote is the majority class, so a small corpus keeps at most half of them: 8 texts -> 3.
    """
    return max(1, min(DEFAULT_NEIGHBORS, (n - 1) // 2))


def _unit_rows(A: np.ndarray) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return np.divide(A, norms, out=np.zeros_like(A), where=norms > 0)


def _top_neighbours(U: np.ndarray, k: int) -> np.ndarray:
    """For unit rows U, the k most cosine-similar other rows of each row, nearest first."""
    n = U.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    step = 512
    for a in range(0, n, step):
        b = min(n, a + step)
        S = U[a:b] @ U.T
        S[np.arange(b - a), np.arange(a, b)] = -np.inf
        part = np.argpartition(S, n - k, axis=1)[:, n - k :]
        vals = np.take_along_axis(S, part, axis=1)
        # nearest first; ties by index for determinism
        order = np.lexsort((part, -vals), axis=1)
        out[a:b] = np.take_along_axis(part, order, axis=1)
    return out


def _knn_accuracy(nbrs: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """Leave-one-out majority vote of the neighbours; ties go to the class ranked nearer."""
    n, k = nbrs.shape
    votes = np.zeros((n, n_classes))
    weights = 1.0 + 1e-3 * (k - np.arange(k)) / k  # bonuses sum to < 1: only break ties
    np.add.at(votes, (np.repeat(np.arange(n), k), y[nbrs].ravel()), np.tile(weights, n))
    return float((votes.argmax(axis=1) == y).mean())


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float((a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1).mean() / a.shape[1])


def _score(
    Z: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    full_nbrs: np.ndarray | None,
    n_neighbors: int,
    sil_idx: np.ndarray,
    seed: int,
) -> tuple[dict[str, float], np.ndarray]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    U = _unit_rows(Z)
    km = KMeans(n_clusters=n_classes, n_init=4, random_state=seed).fit(U)
    nbrs = _top_neighbours(U, n_neighbors)
    ys = y[sil_idx]
    if 2 <= len(np.unique(ys)) <= len(sil_idx) - 1:
        sil = float(silhouette_score(U[sil_idx], ys, metric="cosine"))
    else:
        sil = float("nan")
    scores = {
        "ari": float(adjusted_rand_score(y, km.labels_)),
        "nmi": float(normalized_mutual_info_score(y, km.labels_)),
        "silhouette": sil,
        "knn_accuracy": _knn_accuracy(nbrs, y, n_classes),
        "neighbour_overlap": 1.0 if full_nbrs is None else _overlap(nbrs, full_nbrs),
    }
    return scores, nbrs


def compare_dimension_selection(
    X: np.ndarray,
    labels: Sequence,
    *,
    ks: list[int] | None = None,
    methods: Sequence[str] = SELECTION_METHODS,
    n_random_seeds: int = 5,
    n_neighbors: int | None = None,
    seed: int = 0,
    max_samples: int = 3000,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Score top-variance-k, PCA-k, random-k and all dimensions on a labeled corpus.

    Rows: if N > ``max_samples``, a deterministic random subset of ``max_samples`` rows
    (``seed``) is used for everything (variance ranking, PCA fit, scores). The DataFrame
    says so in column ``n_samples`` and in ``df.attrs`` (``n_rows``, ``n_samples``,
    ``subsampled``, ``d``, ``n_classes``, ``n_neighbors`` (the count used), ``n_neighbors_auto``
    (True when it was not asked for), ``majority_rate`` = share of the largest class, the kNN
    accuracy of always guessing it).

    ``n_neighbors``: None (default) adapts to the corpus with :func:`auto_neighbors` (10, fewer
    for fewer than 21 texts); a number asked for is used as given, and one larger than the other
    texts allow (n - 1) raises OptionError rather than being quietly lowered.

    For each (method, k) the reduced vectors Z are L2-normalised (cosine geometry) and scored:

    * ``ari``, ``nmi``: KMeans(n_clusters = number of distinct labels, n_init=4,
      random_state=seed) on the unit rows, against the labels;
    * ``silhouette``: cosine silhouette of the *true labels* on a fixed random subset of
      up to 1000 rows (same subset for every method);
    * ``knn_accuracy``: leave-one-out majority vote among the ``n_neighbors`` cosine-nearest
      other rows (ties go to the class whose neighbours rank nearer);
    * ``neighbour_overlap``: mean fraction of each row's ``n_neighbors`` nearest neighbours
      that are also among its ``n_neighbors`` nearest in the full space (1.0 for ``all``).

    ``ks`` default: :func:`default_ks` (8, 16, 32, ... < d, d/2, d). For k = d every method
    is a permutation/rotation of all dimensions, so those rows copy the ``all`` scores. The
    ``all`` method contributes one row with k = d. ``seed`` column: the draw index
    0..n_random_seeds-1 for ``random`` (columns from ``default_rng([seed, draw])``), <NA>
    otherwise. ``progress(done, total)`` is called after each scored configuration.

    Raises OptionError for fewer than 2 classes, missing labels, a length mismatch, bad
    ``ks``/``methods``, or too few rows.

    Runs single-threaded (``threadpoolctl``): KMeans nests OpenMP and BLAS threads, and on a
    small shared machine that oversubscription made each fit 10-20x slower (measured on 2
    busy cores: KMeans 2000 x 128 0.1 s -> 2-4 s, PCA SVD 0.05 s -> 0.7-9 s).
    """
    # Import sklearn (and so load its OpenMP runtime) *before* limiting: threadpoolctl only
    # limits libraries that are already loaded.
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.metrics  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _compare(
            X,
            labels,
            ks=ks,
            methods=methods,
            n_random_seeds=n_random_seeds,
            n_neighbors=n_neighbors,
            seed=seed,
            max_samples=max_samples,
            progress=progress,
        )


def _compare(
    X: np.ndarray,
    labels: Sequence,
    *,
    ks: list[int] | None,
    methods: Sequence[str],
    n_random_seeds: int,
    n_neighbors: int | None,
    seed: int,
    max_samples: int,
    progress: Callable[[int, int], None] | None,
) -> pd.DataFrame:
    from sklearn.decomposition import PCA

    X = as_matrix(X, min_rows=3)
    n_rows, d = X.shape
    lab = np.asarray(labels, dtype=object)
    if lab.ndim != 1 or len(lab) != n_rows:
        raise OptionError(f"labels must be 1-D with one label per row of X ({n_rows}); got shape {lab.shape}.")
    if pd.isna(lab).any():
        raise OptionError("labels contain missing values; drop those rows or give them a label.")
    methods = list(dict.fromkeys(methods))
    bad = [m for m in methods if m not in SELECTION_METHODS]
    if bad or not methods:
        raise OptionError(f"Unknown method(s) {bad}; choose from: {', '.join(SELECTION_METHODS)}.")
    if ks is None:
        ks = default_ks(d)
    ks_arr = sorted({int(k) for k in ks})
    if not ks_arr or any(k < 1 or k > d for k in ks_arr):
        raise OptionError(f"ks must be integers between 1 and d={d}; got {list(ks)}.")
    if n_random_seeds < 1 and "random" in methods:
        raise OptionError(f"n_random_seeds must be >= 1; got {n_random_seeds}.")
    if max_samples < 3:
        raise OptionError(f"max_samples must be >= 3; got {max_samples}.")

    rng = np.random.default_rng(seed)
    subsampled = n_rows > max_samples
    rows = np.sort(rng.choice(n_rows, max_samples, replace=False)) if subsampled else np.arange(n_rows)
    n = len(rows)
    y, uniques = pd.factorize(pd.Series(lab[rows]), sort=True)
    n_classes = len(uniques)
    if n_classes < 2:
        raise OptionError(
            f"Dimension selection needs labels with at least 2 distinct classes; got {n_classes}"
            + (" in the subsample" if subsampled else "")
            + "."
        )
    if n_classes >= n:
        raise OptionError(f"Need more texts ({n}) than distinct labels ({n_classes}) for clustering scores.")
    asked = n_neighbors is not None
    if n_neighbors is None:
        n_neighbors = auto_neighbors(n)
    elif isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 1:
        raise OptionError(f"The neighbour count must be a whole number of at least 1; got {n_neighbors!r}.")
    elif n_neighbors > n - 1:
        raise OptionError(
            f"Asked for {n_neighbors} nearest neighbours, but with {n} texts each has only {n - 1} others: "
            f"ask for at most {n - 1}, or leave the neighbour count out to let it adapt "
            f"({auto_neighbors(n)} here)."
        )

    Xs = as_float64(X[rows])
    sil_idx = np.sort(rng.choice(n, min(n, _SILHOUETTE_SAMPLE), replace=False))
    order = np.lexsort((np.arange(d), -Xs.var(axis=0)))
    pca = None
    if "pca" in methods:
        n_comp = min(n, d, max(k for k in ks_arr if k < d) if any(k < d for k in ks_arr) else 1)
        solver = "covariance_eigh" if n >= d else "full"
        pca = PCA(n_components=n_comp, svd_solver=solver).fit(Xs)

    jobs: list[tuple[str, int, int | None]] = []
    for m in methods:
        if m == "all":
            continue
        for k in ks_arr:
            if k == d:
                jobs.append((m, k, None))  # copies the 'all' scores below
            elif m == "random":
                jobs.extend((m, k, s) for s in range(n_random_seeds))
            else:
                jobs.append((m, k, None))
    n_computed = 1 + sum(1 for _, k, _ in jobs if k < d)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, n_computed)

    full_scores, full_nbrs = _score(Xs, y, n_classes, None, n_neighbors, sil_idx, seed)
    tick()
    records: list[dict] = []
    if "all" in methods:
        records.append({"method": "all", "k": d, "seed": pd.NA, **full_scores})
    for m, k, s in jobs:
        if k == d:
            seeds = range(n_random_seeds) if m == "random" else [None]
            for s2 in seeds:
                records.append({"method": m, "k": k, "seed": pd.NA if s2 is None else s2, **full_scores})
            continue
        if m == "top_variance":
            Z = Xs[:, order[:k]]
        elif m == "random":
            cols = np.sort(np.random.default_rng([seed, int(s or 0)]).choice(d, k, replace=False))
            Z = Xs[:, cols]
        else:  # pca
            assert pca is not None  # fitted above whenever "pca" is among the methods
            Z = Xs @ pca.components_[: min(k, pca.n_components_)].T
        scores, _ = _score(Z, y, n_classes, full_nbrs, n_neighbors, sil_idx, seed)
        records.append({"method": m, "k": k, "seed": pd.NA if s is None else s, **scores})
        tick()

    df = pd.DataFrame.from_records(records, columns=["method", "k", "seed", *SELECTION_SCORES])
    df["k"] = df["k"].astype(np.int64)
    df["seed"] = df["seed"].astype("Int64")
    df["n_samples"] = n
    rank = {m: i for i, m in enumerate(SELECTION_METHODS)}
    df = (
        df.assign(_r=df["method"].map(rank))
        .sort_values(["_r", "k", "seed"], kind="stable")
        .drop(columns="_r")
        .reset_index(drop=True)
    )
    df.attrs.update(
        {
            "n_rows": int(n_rows),
            "n_samples": int(n),
            "subsampled": bool(subsampled),
            "d": int(d),
            "n_classes": int(n_classes),
            "n_neighbors": int(n_neighbors),
            "n_neighbors_auto": not asked,
            "majority_rate": float(np.bincount(y).max() / n),
        }
    )
    return df


def summarize_selection(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over random draws per (method, k).

    Columns: method, k, n_runs, then ``<metric>_mean`` and ``<metric>_std`` for each of
    ari, nmi, silhouette, knn_accuracy, neighbour_overlap. ``std`` is the sample std
    (ddof=1) over the draws; it is 0.0 for single-run (deterministic) rows.
    """
    missing = {"method", "k", *SELECTION_SCORES} - set(df.columns)
    if missing:
        raise OptionError(f"Not a dimension-selection table; missing columns: {sorted(missing)}.")
    g = df.groupby(["method", "k"], sort=False)
    out = g.size().rename("n_runs").to_frame()
    for c in SELECTION_SCORES:
        out[f"{c}_mean"] = g[c].mean()
        out[f"{c}_std"] = g[c].std(ddof=1).fillna(0.0)
    out = out.reset_index()
    rank = {m: i for i, m in enumerate(SELECTION_METHODS)}
    out = (
        out.assign(_r=out["method"].map(rank))
        .sort_values(["_r", "k"], kind="stable")
        .drop(columns="_r")
        .reset_index(drop=True)
    )
    out.attrs.update(df.attrs)
    return out


def _pct(x: float) -> str:
    """Percent, rounded down, so that "keeps 95%" is never printed for 94.8%."""
    return f"{np.floor(100 * x + 1e-9):.0f}%"


def _f2(x: float) -> str:
    return f"{round(float(x), 2) + 0.0:.2f}"  # no "-0.00"


def _versus_random(t: pd.Series, r: pd.Series, k: int) -> str:
    """Top-variance vs random-k: a gap counts only if it exceeds 2 std over draws (or a floor)."""
    runs = int(r["n_runs"])
    ari_gap = t["ari_mean"] - r["ari_mean"]
    knn_gap = t["knn_accuracy_mean"] - r["knn_accuracy_mean"]
    ari_sig = abs(ari_gap) >= max(2 * r["ari_std"], 0.01)
    knn_sig = abs(knn_gap) >= max(2 * r["knn_accuracy_std"], 0.005)
    ari_nums = f"{_f2(t['ari_mean'])} vs {_f2(r['ari_mean'])} ± {_f2(r['ari_std'])}"
    knn_nums = f"{t['knn_accuracy_mean']:.3f} vs {r['knn_accuracy_mean']:.3f} ± {r['knn_accuracy_std']:.3f}"
    if not (ari_sig or knn_sig):
        return (
            f"That is no clear gain over random-{k} dimensions: ARI {ari_nums}, kNN accuracy "
            f"{knn_nums} (mean ± std over {runs} draws)."
        )
    signs = {np.sign(g) for g, sig in ((ari_gap, ari_sig), (knn_gap, knn_sig)) if sig}
    if len(signs) > 1:
        return (
            f"Against random-{k} dimensions the picture is mixed: ARI {ari_nums}, kNN accuracy "
            f"{knn_nums} (mean ± std over {runs} draws)."
        )
    word = "beat" if signs.pop() > 0 else "trail"
    noise = ", within the spread over draws"
    return (
        f"They {word} random-{k} dimensions by {_f2(abs(ari_gap))} ARI ({ari_nums}{'' if ari_sig else noise}) "
        f"and by {abs(knn_gap):.3f} in kNN accuracy ({knn_nums}{'' if knn_sig else noise}); "
        f"± is the std over {runs} draws."
    )


def selection_verdict(df: pd.DataFrame, model_name: str, corpus_name: str) -> str:
    """A plain-language verdict computed from a :func:`compare_dimension_selection` table.

    It picks a headline k: the smallest k < d at which the top-variance dimensions keep at
    least 95% of the full-space kNN accuracy (else the largest k < d), and reports the
    kNN retention and neighbour overlap there, the ARI and kNN-accuracy gaps to random-k (a
    gap counts only if larger than twice the std over random draws, with floors 0.01 ARI
    and 0.005 accuracy; else "no clear gain"), the gap to PCA-k, a caution when even the
    full space is near the majority-class rate (within 10% of the way to perfect),
    and for each method the smallest k that keeps 95% of the full-space kNN accuracy, plus
    the kNN accuracies of the three methods at the smallest k.
    Needs the ``all`` and ``top_variance`` rows; raises OptionError otherwise.
    """
    s = summarize_selection(df)
    methods = set(s["method"])
    if not {"all", "top_variance"} <= methods:
        raise OptionError("The verdict needs results for both 'all' and 'top_variance'.")
    full = s[s["method"] == "all"].iloc[0]
    d = int(full["k"])
    full_knn = float(full["knn_accuracy_mean"])
    full_ari = float(full["ari_mean"])

    def rows(m: str) -> pd.DataFrame:
        return s[(s["method"] == m) & (s["k"] < d)].set_index("k")

    tv = rows("top_variance")
    if tv.empty:
        raise OptionError("The verdict needs top_variance results for some k < d.")

    def retention(v: float) -> float:
        return v / full_knn if full_knn > 0 else float("nan")

    def first_k(r: pd.DataFrame) -> int | None:
        ok = r.index[[retention(v) >= 0.95 for v in r["knn_accuracy_mean"]]]
        return int(ok.min()) if len(ok) else None

    k = first_k(tv) or int(tv.index.max())
    t = tv.loc[k]
    parts = []
    sub = ""
    if df.attrs.get("subsampled"):
        sub = f" (scored on {df.attrs['n_samples']} of {df.attrs['n_rows']} texts)"
    kept_knn = (
        f"keep {_pct(retention(t['knn_accuracy_mean']))} of the full-space kNN accuracy "
        f"({t['knn_accuracy_mean']:.3f} vs {full_knn:.3f}) and "
        if full_knn > 0  # a share of zero is no share: say the accuracies instead of "nan%"
        else f"reach {t['knn_accuracy_mean']:.3f} kNN accuracy (all dimensions: 0.000) and keep "
    )
    parts.append(
        f"On {corpus_name}{sub}, the {k} highest-variance dimensions of {model_name} (of {d}) "
        f"{kept_knn}"
        f"{_pct(t['neighbour_overlap_mean'])} of each text's nearest neighbours; "
        f"k-means ARI is {_f2(t['ari_mean'])} vs {_f2(full_ari)} with all dimensions."
    )
    majority = df.attrs.get("majority_rate")
    if majority is not None and full_knn < majority + 0.1 * (1 - majority):
        parts.append(
            f"Caution: even all dimensions reach only {full_knn:.3f} kNN accuracy against "
            f"{majority:.3f} for always guessing the largest class, so the labels are barely "
            "predictable from these embeddings and the comparison says little."
        )
    rnd = rows("random")
    pca = rows("pca")
    if k in rnd.index:
        parts.append(_versus_random(t, rnd.loc[k], k))
    if k in pca.index:
        p = pca.loc[k]
        gap = p["ari_mean"] - t["ari_mean"]
        kgap = p["knn_accuracy_mean"] - t["knn_accuracy_mean"]
        nums = f"kNN accuracy {p['knn_accuracy_mean']:.3f} ({kgap:+.3f}), ARI {_f2(p['ari_mean'])} ({gap:+.2f})"
        if abs(gap) < 0.01 and abs(kgap) < 0.005:
            parts.append(f"PCA-{k} does about the same: {nums}.")
        elif gap * kgap >= 0:
            parts.append(f"PCA-{k} is {'better' if gap + kgap > 0 else 'worse'}: {nums}.")
        else:
            parts.append(f"PCA-{k} against top-variance-{k} is mixed: {nums}.")
    k0 = int(tv.index.min())
    if k0 != k:
        bits = [f"top-variance {tv.loc[k0, 'knn_accuracy_mean']:.3f}"]
        if k0 in rnd.index:
            r0 = rnd.loc[k0]
            bits.append(f"random {r0['knn_accuracy_mean']:.3f} ± {r0['knn_accuracy_std']:.3f}")
        if k0 in pca.index:
            bits.append(f"PCA {pca.loc[k0, 'knn_accuracy_mean']:.3f}")
        parts.append(f"At k={k0}, kNN accuracy is " + ", ".join(bits) + ".")
    needs = []
    for m, label in (("pca", "PCA"), ("top_variance", "top-variance"), ("random", "random")):
        r = rows(m)
        if r.empty:
            continue
        fk = first_k(r)
        needs.append(f"k={fk} with {label}" if fk is not None else f"more than k={int(r.index.max())} with {label}")
    if needs and full_knn > 0:  # 95% of zero is no target
        parts.append("Keeping 95% of the full-space kNN accuracy takes " + ", ".join(needs) + ".")
    parts.append(_neighbours_sentence(df.attrs))
    return " ".join(p for p in parts if p)


def _neighbours_sentence(attrs: dict) -> str:
    """Which neighbour count the kNN scores used, and why when it is not the usual one."""
    nn = attrs.get("n_neighbors")
    if nn is None:
        return ""
    said = f"kNN accuracy and neighbour overlap use each text's {nn} nearest {'neighbour' if nn == 1 else 'neighbours'}"
    if not attrs.get("n_neighbors_auto", False):
        return said + " (as asked)."
    if nn < DEFAULT_NEIGHBORS:
        return (
            said
            + f", not the usual {DEFAULT_NEIGHBORS}: with only {attrs['n_samples']} texts, at most half of the others."
        )
    return said + "."
