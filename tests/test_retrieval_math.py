"""analysis.measures.retrieval: metrics, tie rule, codes and variants against brute force and references."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from analysis.errors import OptionError
from analysis.measures.retrieval import (
    Relevance,
    VariantScore,
    binary_codes,
    binary_rescore_scores,
    bit_balance,
    cosine_share,
    evaluate_variants,
    hamming_similarity,
    harmful_dimensions,
    int8_codes,
    int8_range_over_std,
    int8_scores,
    ladder,
    matryoshka_verdict,
    mrr,
    ndcg_at_10,
    rank_documents,
    recall_at_k,
    score_metrics,
)
from analysis.measures.retrieval import relevance as R


def _unit(A: np.ndarray) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    return (A / np.linalg.norm(A, axis=1, keepdims=True)).astype(np.float32)


def _pair_data(rng, q: int, n: int, d: int, noise: float = 1.0):
    """Documents and queries that are noisy copies of documents 0..q-1."""
    docs = _unit(rng.standard_normal((n, d)))
    queries = _unit(docs[:q] + noise * rng.standard_normal((q, d)) / np.sqrt(d))
    return queries, docs


# --------------------------------------------------------------------------- brute force


def _brute(scores: np.ndarray, relevant_sets: list[set[int]], excl: list[int]) -> dict[str, float]:
    """Per-query python ranking: descending score, lower index first, own document dropped."""
    out = {"recall_at_1": [], "recall_at_10": [], "mrr": [], "ndcg_at_10": []}
    for i, row in enumerate(scores):
        rel = relevant_sets[i] - {excl[i]}
        if not rel:
            continue
        order = [j for j in sorted(range(len(row)), key=lambda j: (-row[j], j)) if j != excl[i]]
        out["recall_at_1"].append(len(rel & set(order[:1])) / len(rel))
        out["recall_at_10"].append(len(rel & set(order[:10])) / len(rel))
        out["mrr"].append(1.0 / (1 + next(p for p, j in enumerate(order) if j in rel)))
        dcg = sum(1.0 / math.log2(p + 2) for p, j in enumerate(order[:10]) if j in rel)
        idcg = sum(1.0 / math.log2(p + 2) for p in range(min(len(rel), 10)))
        out["ndcg_at_10"].append(dcg / idcg)
    return {k: float(np.mean(v)) for k, v in out.items()} | {"n": len(out["mrr"])}


def _sklearn_ndcg(scores: np.ndarray, relevant_sets: list[set[int]], excl: list[int]) -> float:
    values = []
    for i, row in enumerate(scores):
        rel = relevant_sets[i] - {excl[i]}
        if not rel:
            continue
        cols = [j for j in range(len(row)) if j != excl[i]]
        y_true = np.array([[1.0 if j in rel else 0.0 for j in cols]])
        values.append(ndcg_score(y_true, row[cols][None, :], k=10))
    return float(np.mean(values))


def _check_all(scores, relevance, relevant_sets, excl, *, sklearn: bool = True):
    expected = _brute(scores, relevant_sets, excl)
    ranks = rank_documents(scores)
    fast = score_metrics(scores, relevance)
    assert fast.n_queries == expected["n"]
    for name in ("recall_at_1", "recall_at_10", "mrr", "ndcg_at_10"):
        assert getattr(fast, name) == pytest.approx(expected[name], abs=1e-12), name
    assert recall_at_k(ranks, relevance, 1) == pytest.approx(expected["recall_at_1"], abs=1e-12)
    assert recall_at_k(ranks, relevance, 10) == pytest.approx(expected["recall_at_10"], abs=1e-12)
    assert mrr(ranks, relevance) == pytest.approx(expected["mrr"], abs=1e-12)
    assert ndcg_at_10(ranks, relevance) == pytest.approx(expected["ndcg_at_10"], abs=1e-12)
    if sklearn:
        assert fast.ndcg_at_10 == pytest.approx(_sklearn_ndcg(scores, relevant_sets, excl), abs=1e-12)
    return fast


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("chunk", [1 << 20, 500])  # 500: several chunks of a few queries
def test_pairs_metrics_match_brute_force_and_sklearn(monkeypatch, chunk):
    monkeypatch.setattr(R, "CHUNK_ELEMS", chunk)
    rng = np.random.default_rng(1)
    q, n = 70, 150
    scores = rng.standard_normal((q, n))
    relevant = rng.integers(0, n, q)
    relevant[:20] = np.argsort(-scores[:20], axis=1)[:, 3]  # some hits inside the top 10
    sets = [{int(r)} for r in relevant]
    _check_all(scores, Relevance.pairs(relevant), sets, [-1] * q)
    # float32 scores take the same path
    _check_all(scores.astype(np.float32), Relevance.pairs(relevant), sets, [-1] * q)


@pytest.mark.parametrize("chunk", [1 << 20, 700])
def test_labels_metrics_with_self_exclusion(monkeypatch, chunk):
    monkeypatch.setattr(R, "CHUNK_ELEMS", chunk)
    rng = np.random.default_rng(2)
    n = 160
    doc_labels = rng.integers(0, 25, n)
    doc_labels[-1] = 99  # a singleton label: that query has no other relevant document
    q_idx = np.r_[np.arange(0, n, 2), n - 1]  # queries are documents ...
    extra = np.array([3, 7])  # ... plus two outside queries
    query_labels = np.r_[doc_labels[q_idx], extra]
    qdi = np.r_[q_idx, [-1, -1]]
    scores = rng.standard_normal((len(query_labels), n))
    scores[::3] += 2.0 * (doc_labels[None, :] == query_labels[::3, None])  # some good rankings
    sets = [set(np.flatnonzero(doc_labels == lab).tolist()) for lab in query_labels]
    rel = Relevance.labels(query_labels, doc_labels, query_doc_index=qdi)
    fast = _check_all(scores, rel, sets, qdi.tolist())
    assert fast.n_queries_without_relevant == 1  # the singleton
    assert fast.n_queries == len(query_labels) - 1


def test_string_labels_and_pairs_self_exclusion():
    rng = np.random.default_rng(3)
    n = 40
    labels = np.array(list("abcde"))[rng.integers(0, 5, n)]
    scores = rng.standard_normal((n, n))
    sets = [set(np.flatnonzero(labels == lab).tolist()) for lab in labels]
    _check_all(scores, Relevance.labels(labels, labels, query_doc_index=np.arange(n)), sets, list(range(n)))
    # pairs mode: a query whose relevant document is itself has no relevant document left
    relevant = rng.integers(0, n, n)
    relevant[0] = 0
    res = _check_all(
        scores, Relevance.pairs(relevant, query_doc_index=np.arange(n)), [{int(r)} for r in relevant], list(range(n))
    )
    assert res.n_queries_without_relevant == int((relevant == np.arange(n)).sum())


def test_ties_rank_lower_index_first_for_every_dtype():
    base = np.array([[3, 5, 5, 1, 5, 3], [0, 0, 0, 0, 0, 0], [-128, 127, -128, 127, 0, 0]])
    expected = np.array([[1, 2, 4, 0, 5, 3], [0, 1, 2, 3, 4, 5], [1, 3, 4, 5, 0, 2]])
    for dtype in (np.int8, np.int16, np.int32, np.int64, np.float32, np.float64):
        np.testing.assert_array_equal(rank_documents(base.astype(dtype)), expected)
    # unsigned: -x would wrap around; extremes of the range
    u = np.array([[0, 255, 255, 0, 7]], dtype=np.uint8)
    np.testing.assert_array_equal(rank_documents(u), [[1, 2, 4, 0, 3]])
    big = np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0]])
    np.testing.assert_array_equal(rank_documents(big), [[1, 3, 0, 2]])
    np.testing.assert_array_equal(rank_documents(np.array([[False, True, True]])), [[1, 2, 0]])
    # -0.0 and 0.0 are equal scores: lower index first
    np.testing.assert_array_equal(rank_documents(np.array([[0.0, -0.0, 1.0, -0.0]])), [[2, 0, 1, 3]])


def test_metrics_on_heavily_tied_integer_scores():
    rng = np.random.default_rng(4)
    n = 90
    scores = rng.integers(0, 4, (60, n)).astype(np.int16)  # ties everywhere, also at the 10th place
    relevant = rng.integers(0, n, 60)
    _check_all(scores, Relevance.pairs(relevant), [{int(r)} for r in relevant], [-1] * 60, sklearn=False)
    labels = rng.integers(0, 6, n)
    sets = [set(np.flatnonzero(labels == lab).tolist()) for lab in labels[:60]]
    rel = Relevance.labels(labels[:60], labels, query_doc_index=np.arange(60))
    _check_all(scores, rel, sets, list(range(60)), sklearn=False)


def test_fewer_than_ten_documents():
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((8, 6))
    labels = np.array([0, 0, 1, 1, 1, 2])
    qlab = np.array([0, 1, 2, 1, 0, 1, 0, 2])
    qdi = np.array([0, 2, -1, 3, 1, -1, -1, 5])
    sets = [set(np.flatnonzero(labels == lab).tolist()) for lab in qlab]
    _check_all(scores, Relevance.labels(qlab, labels, query_doc_index=qdi), sets, qdi.tolist())


# --------------------------------------------------------------------------- codes


def test_int8_codes_equal_sentence_transformers_exactly():
    from sentence_transformers.util.quantization import quantize_embeddings

    rng = np.random.default_rng(6)
    queries, docs = _pair_data(rng, 50, 120, 64)
    dead = docs.copy()
    dead[:, 5] = 0.0  # dead: constant zero column (step 0 -> 1)
    dead[:, 9] = 0.03125  # constant non-zero column
    q_dead = queries.copy()
    q_dead[:, 5] = 0.0
    q_dead[:, 9] = 0.5  # query outside the calibrated range: clipped
    for q, dd in ((queries, docs), (q_dead, dead), (queries * 3.0, docs)):
        for emb in (q, dd):
            ours = int8_codes(emb, dd)
            ref = quantize_embeddings(emb, precision="int8", calibration_embeddings=dd)
            assert ours.dtype == ref.dtype == np.int8
            assert np.array_equal(ours, ref)
    # float64 inputs: same promotion as sentence-transformers
    q64, d64 = queries.astype(np.float64), docs.astype(np.float64)
    assert np.array_equal(int8_codes(q64, d64), quantize_embeddings(q64, precision="int8", calibration_embeddings=d64))
    # binary codes: the "ubinary" bytes
    assert np.array_equal(binary_codes(docs), quantize_embeddings(docs, precision="ubinary"))


def test_int8_scores_are_exact_integer_dot_products():
    rng = np.random.default_rng(7)
    for d in (384, 1500):  # float32 BLAS path and float64 path
        qc = rng.integers(-128, 128, (20, d)).astype(np.int8)
        dc = rng.integers(-128, 128, (30, d)).astype(np.int8)
        qc[0], dc[0] = -128, -128  # the largest possible product sum
        assert np.array_equal(int8_scores(qc, dc), qc.astype(np.int64) @ dc.astype(np.int64).T)


@pytest.mark.parametrize("d", [37, 384])
def test_hamming_similarity_equals_naive(d):
    rng = np.random.default_rng(8)
    q = rng.standard_normal((25, d)).astype(np.float32)
    x = rng.standard_normal((70, d)).astype(np.float32)
    x[:, :3] = 0.0  # zeros are 0 bits
    naive = d - (((q > 0)[:, None, :]) != ((x > 0)[None, :, :])).sum(axis=2)
    assert np.array_equal(hamming_similarity(binary_codes(q), binary_codes(x), d), naive)


def _naive_rescore_rankings(queries, docs, n_cand, excl):
    d = docs.shape[1]
    qb, db = queries > 0, docs > 0
    pm1 = np.where(db, 1.0, -1.0)
    out = []
    for i, q in enumerate(queries):
        sim = [d - int((qb[i] != db[j]).sum()) for j in range(len(docs))]
        order = [j for j in sorted(range(len(docs)), key=lambda j: (-sim[j], j)) if j != excl[i]]
        cand, rest = order[:n_cand], order[n_cand:]
        value = {j: float(np.dot(q.astype(np.float64), pm1[j])) for j in cand}
        out.append(sorted(cand, key=lambda j: (-value[j], j)) + rest)
    return out


@pytest.mark.parametrize("d", [12, 96])  # d=12: many Hamming ties around the 40th place
def test_binary_rescore_matches_naive(d):
    rng = np.random.default_rng(9)
    queries, docs = _pair_data(rng, 30, 130, d)
    docs[5] = docs[6]  # identical documents: equal rescore values, lower index first
    for excl in (None, np.r_[np.arange(10), np.full(20, -1)]):
        scores = binary_rescore_scores(queries, docs, query_doc_index=excl)
        ranks = rank_documents(scores)
        ex = [-1] * 30 if excl is None else excl.tolist()
        naive = _naive_rescore_rankings(queries, docs, 40, ex)
        for i in range(30):
            got = [j for j in ranks[i] if j != ex[i]]
            assert got == naive[i], i


# --------------------------------------------------------------------------- variants


def test_bytes_ladder_and_variant_wiring():
    rng = np.random.default_rng(10)
    d = 384
    queries, docs = _pair_data(rng, 60, 90, d, noise=3.0)
    dead = [0, 1, 2]
    res = evaluate_variants(queries, docs, Relevance.pairs(np.arange(60)), dead_dims=dead, n_draws=3, seed=1)
    by = {v.name: v for v in res}
    assert by["float32"].bytes_per_vector == 1536
    assert by["int8"].bytes_per_vector == 384
    assert by["binary"].bytes_per_vector == 48
    assert by["binary-rescore"].bytes_per_vector == 48
    assert by["drop-dead"].bytes_per_vector == 4 * 381
    assert by["binary-drop-dead"].bytes_per_vector == 48  # ceil(381 / 8)
    assert ladder(d) == [8, 16, 32, 64, 128, 256, 384]
    for fam in ("top-variance", "prefix", "pca", "random"):
        assert [v.k for v in res if v.family == fam] == ladder(d)
        assert all(v.bytes_per_vector == 4 * v.k for v in res if v.family == fam)
    assert by["float32"].retention == 1.0
    for v in res:
        assert set(v.to_dict()) >= {
            "name",
            "k",
            "bytes_per_vector",
            "recall_at_1",
            "recall_at_10",
            "mrr",
            "ndcg_at_10",
            "retention",
        }
        assert v.retention == pytest.approx(v.ndcg_at_10 / by["float32"].ndcg_at_10)
    rel = Relevance.pairs(np.arange(60))
    # each variant's figures are those of its own score matrix
    assert by["float32"].mrr == score_metrics(queries @ docs.T, rel).mrr
    i8 = score_metrics(int8_scores(int8_codes(queries, docs), int8_codes(docs, docs)), rel)
    assert (by["int8"].mrr, by["int8"].ndcg_at_10) == (i8.mrr, i8.ndcg_at_10)
    b = score_metrics(hamming_similarity(binary_codes(queries), binary_codes(docs), d), rel)
    assert (by["binary"].mrr, by["binary"].ndcg_at_10) == (b.mrr, b.ndcg_at_10)
    rs = score_metrics(binary_rescore_scores(queries, docs), rel)
    assert (by["binary-rescore"].mrr, by["binary-rescore"].ndcg_at_10) == (rs.mrr, rs.ndcg_at_10)
    var = docs.astype(np.float64).var(axis=0)
    top = np.lexsort((np.arange(d), -var))[:16]
    tv = score_metrics(_unit(queries[:, top]) @ _unit(docs[:, top]).T, rel)
    assert by["top-variance-16"].mrr == pytest.approx(tv.mrr, abs=1e-12)
    # pca-d is a rotation of float32 (mean not subtracted), random-d keeps every dimension
    assert by["pca-384"].ndcg_at_10 == pytest.approx(by["float32"].ndcg_at_10, abs=0.02)
    assert by["random-384"].ndcg_at_10_std == 0.0 and by["random-384"].n_draws == 3
    assert by["random-8"].ndcg_at_10_std is not None and by["random-8"].ndcg_at_10_std >= 0
    # the same seed gives the same draws
    again = evaluate_variants(queries, docs, Relevance.pairs(np.arange(60)), dead_dims=dead, n_draws=3, seed=1)
    assert [v.to_dict() for v in again] == [v.to_dict() for v in res]


def test_drop_dead_keeps_everything_when_dead_dims_are_constant():
    rng = np.random.default_rng(11)
    n, d = 300, 64
    docs = rng.standard_normal((n, d))
    queries = docs[:200] + 2.5 * rng.standard_normal((200, d))
    dead = [3, 17, 40, 41]
    for value in (0.0, 0.4):  # zero, and a constant shared by queries and documents
        dd, qq = docs.copy(), queries.copy()
        dd[:, dead], qq[:, dead] = value, value
        res = {
            v.name: v
            for v in evaluate_variants(_unit(qq), _unit(dd), Relevance.pairs(np.arange(200)), dead_dims=dead, ks=[8])
        }
        assert res["float32"].ndcg_at_10 < 0.99  # a task with room to lose
        assert res["drop-dead"].retention >= 0.999
        assert res["drop-dead"].retention == pytest.approx(1.0, abs=1e-12)
        if value == 0.0:
            # zero dims are 0 bits on both sides: every Hamming similarity drops by 4, exactly
            assert res["binary-drop-dead"].to_dict() | {
                "name": "",
                "family": "",
                "dims": 0,
                "bytes_per_vector": 0,
            } == res["binary"].to_dict() | {"name": "", "family": "", "dims": 0, "bytes_per_vector": 0}


def test_option_errors():
    rng = np.random.default_rng(12)
    queries, docs = _pair_data(rng, 5, 12, 8)
    rel = Relevance.pairs(np.arange(5))
    with pytest.raises(OptionError, match="L2-normalized"):
        evaluate_variants(queries * 2, docs, rel, dead_dims=[])
    with pytest.raises(OptionError, match="dimensions"):
        evaluate_variants(_unit(queries[:, :4]), docs, rel, dead_dims=[])
    with pytest.raises(OptionError, match="0..11"):
        evaluate_variants(queries, docs, Relevance.pairs([0, 1, 2, 3, 12]), dead_dims=[])
    with pytest.raises(OptionError, match="between 1 and d=8"):
        evaluate_variants(queries, docs, rel, dead_dims=[], ks=[4, 9])
    with pytest.raises(OptionError, match="nothing would be left"):
        evaluate_variants(queries, docs, rel, dead_dims=range(8))
    with pytest.raises(OptionError, match="No query has a relevant document"):
        score_metrics(queries @ docs.T, Relevance.labels([1, 2, 3, 4, 5], np.zeros(12)))
    with pytest.raises(OptionError, match="NaN"):
        rank_documents(np.array([[1.0, np.nan]]))


# --------------------------------------------------------------------------- readiness


def test_bit_balance_and_int8_range_over_std():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((200, 10)).astype(np.float32)
    x[:, 4] = 0.25  # constant
    x[:, 7] = 0.0
    np.testing.assert_allclose(bit_balance(x), (x > 0).mean(axis=0))
    got = int8_range_over_std(x)
    x64 = x.astype(np.float64)
    for j in range(10):
        s = x64[:, j].std()
        expected = 0.0 if s == 0 else (x64[:, j].max() - x64[:, j].min()) / s
        assert got[j] == pytest.approx(expected, rel=1e-12)
    assert got[4] == 0.0 and got[7] == 0.0


def test_cosine_share_decomposes_the_mean_pairwise_cosine():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((150, 12))
    x[:, 2] += 4.0  # a rogue dimension: large common offset
    x[:, 5] = 0.0
    x = _unit(x)
    res = cosine_share(x)

    def brute(U):
        G = U @ U.T
        n = len(U)
        return (G.sum() - np.trace(G)) / (n * (n - 1))

    u = x.astype(np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    assert res.raw.contributions.sum() == pytest.approx(brute(u), abs=1e-12)
    assert res.raw.mean_cosine == pytest.approx(brute(u), abs=1e-12)
    assert res.raw.share.sum() == pytest.approx(1.0)
    assert res.raw.top_dims[0] == 2 and res.raw.top1_share > 0.8
    assert res.raw.top3_share == pytest.approx(np.sort(res.raw.share)[-3:].sum())
    # standardized: every dimension divided by its std (not centred), then rows normalized
    x64 = x.astype(np.float64)
    sd = x64.std(axis=0)
    z = np.where(sd > 0, x64 / np.where(sd > 0, sd, 1), 0.0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    assert res.standardized.mean_cosine == pytest.approx(brute(z), abs=1e-12)
    np.testing.assert_allclose(
        res.standardized.contributions,
        [((z[:, j].sum()) ** 2 - (z[:, j] ** 2).sum()) / (150 * 149) for j in range(12)],
        atol=1e-14,
    )
    assert res.standardized.share[2] < res.raw.share[2]  # equal spread tames the rogue offset
    assert res.to_dict()["raw"]["top_dims"][0] == 2
    # centered data: contributions cancel, so shares are not reported
    centred = cosine_share(x - x.mean(axis=0))
    assert np.isnan(centred.raw.top1_share) and centred.to_dict()["raw"]["top1_share"] is None
    # a near-constant dimension with an offset (a dead one) becomes rogue once scaled to equal spread
    dead = rng.standard_normal((150, 12))
    dead[:, 2] += 1.0  # a common offset, so the raw mean cosine is clearly positive
    dead[:, 5] = 0.02 + 1e-4 * rng.standard_normal(150)
    dead = cosine_share(_unit(dead))
    assert dead.raw.share[5] < 0.05 < 0.5 < dead.standardized.share[5]


# --------------------------------------------------------------------------- harmful dimensions


def _brute_ndcg_per_query(queries, docs, relevant_sets, excl, removed=()):
    keep = np.setdiff1d(np.arange(docs.shape[1]), removed)
    q = queries[:, keep].astype(np.float64)
    x = docs[:, keep].astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    out = []
    for i, row in enumerate(q @ x.T):
        rel = relevant_sets[i] - {excl[i]}
        order = [j for j in sorted(range(len(row)), key=lambda j: (-row[j], j)) if j != excl[i]]
        dcg = sum(1.0 / math.log2(p + 2) for p, j in enumerate(order[:10]) if j in rel)
        out.append(dcg / sum(1.0 / math.log2(p + 2) for p in range(min(len(rel), 10))))
    return np.array(out)


def test_harmful_dimensions_equal_brute_force():
    rng = np.random.default_rng(15)
    n, d = 80, 10
    docs = rng.standard_normal((n, d))
    queries = docs[:50] + 0.8 * rng.standard_normal((50, d))
    docs[:, 7] = 3.0 * rng.standard_normal(n)  # a noise dimension: unrelated in queries and documents
    queries[:, 7] = 3.0 * rng.standard_normal(50)
    queries, docs = _unit(queries), _unit(docs)
    labels = rng.integers(0, 8, n)
    cases = [
        (Relevance.pairs(np.arange(50)), [{i} for i in range(50)], [-1] * 50),
        (
            Relevance.labels(labels[:50], labels, query_doc_index=np.arange(50)),
            [set(np.flatnonzero(labels == lab).tolist()) for lab in labels[:50]],
            list(range(50)),
        ),
    ]
    for rel, sets, excl in cases:
        base = _brute_ndcg_per_query(queries, docs, sets, excl)
        h = harmful_dimensions(queries, docs, rel)
        assert h.mode == "leave-one-out" and h.updates == d * 50 * n
        assert h.baseline_ndcg == pytest.approx(base.mean(), abs=1e-12)
        for j in range(d):
            diff = _brute_ndcg_per_query(queries, docs, sets, excl, [j]) - base
            assert h.gains[j] == pytest.approx(diff.mean(), abs=1e-12)
            assert h.standard_errors[j] == pytest.approx(diff.std(ddof=1) / np.sqrt(50), abs=1e-9)
        if rel.mode == "pairs":
            assert h.harmful[0] == 7  # removing the noise dimension helps most, beyond 2 standard errors
        clear = np.flatnonzero((h.gains > 0) & (h.gains > 2 * h.standard_errors))
        assert list(h.harmful) == sorted(clear, key=lambda i: (-h.gains[i], i))
        every = harmful_dimensions(queries, docs, rel, z=0.0)  # z = 0: every positive gain
        assert list(every.harmful) == sorted(np.flatnonzero(h.gains > 0), key=lambda i: (-h.gains[i], i))
        for grouping in ("variance", "contiguous"):
            g = harmful_dimensions(queries, docs, rel, mode="groups", n_groups=3, grouping=grouping)
            assert g.mode == "groups" and len(g.units) == 3
            assert sorted(np.concatenate(g.units).tolist()) == list(range(d))
            for unit, gain in zip(g.units, g.gains, strict=True):
                diff = _brute_ndcg_per_query(queries, docs, sets, excl, unit) - base
                assert gain == pytest.approx(diff.mean(), abs=1e-12)
    # the budget switches auto to groups
    auto = harmful_dimensions(queries, docs, cases[0][0], max_updates=1000)
    assert auto.mode == "groups" and auto.grouping == "variance" and len(auto.units) == 8
    with pytest.raises(OptionError, match="z must be"):
        harmful_dimensions(queries, docs, cases[0][0], z=-1.0)


# --------------------------------------------------------------------------- verdict


def _vs(family, k, ndcg, std=None):
    return VariantScore(f"{family}-{k}", family, k, 64, k, 4 * k, 0.0, 0.0, 0.0, ndcg, ndcg, 10, 0, ndcg_at_10_std=std)


def test_matryoshka_verdict_rule():
    ks = [8, 16, 32, 64]
    prefix = [_vs("prefix", k, 0.8) for k in ks]
    random = [_vs("random", k, 0.6, 0.02) for k in ks]
    text = matryoshka_verdict(prefix, random)
    assert text.startswith("truncation-friendly") and "3 of 3" in text and "2 std" in text
    # a margin inside 2 std (0.05 < 2 x 0.04) does not count
    random = [_vs("random", k, 0.75, 0.04) for k in ks]
    assert matryoshka_verdict(prefix, random).startswith("not truncation-friendly (prefix no better than random)")
    # below the 0.01 floor does not count either
    random = [_vs("random", k, 0.795, 0.0) for k in ks]
    assert matryoshka_verdict(prefix, random).startswith("not truncation-friendly")
    # wins at only 1 of 3 ks: not friendly
    random = [_vs("random", 8, 0.5, 0.0), _vs("random", 16, 0.8, 0.0), _vs("random", 32, 0.8, 0.0)]
    assert matryoshka_verdict(prefix, random).startswith("not truncation-friendly")


# --------------------------------------------------------------------------- timing


@pytest.mark.slow  # 34 variants of 9M scores each: seconds on a quiet machine, half a minute on a busy one
def test_timing_3000_by_3000_by_384():
    rng = np.random.default_rng(16)
    queries, docs = _pair_data(rng, 3000, 3000, 384, noise=2.0)
    t0 = time.perf_counter()
    res = evaluate_variants(queries, docs, Relevance.pairs(np.arange(3000)), dead_dims=[0, 1])
    print(f"\nevaluate_variants 3000 q x 3000 docs x 384 dims, {len(res)} variants: {time.perf_counter() - t0:.2f} s")
    assert len(res) == 2 + 4 * 7 + 4


def _named(name, family, k, nbytes, ndcg, d=384):
    return VariantScore(name, family, k, d, k or d, nbytes, 0.0, 0.0, 0.0, ndcg, ndcg / 0.5, 10, 0)


def test_storage_verdict_reads_the_numbers():
    from analysis.measures.retrieval import storage_verdict
    from analysis.measures.retrieval.verdicts import byte_fraction

    variants = [
        _named("float32", "float32", None, 1536, 0.5),
        _named("drop-dead", "drop-dead", None, 1524, 0.5),
        _named("prefix-64", "prefix", 64, 256, 0.3),
        _named("pca-128", "pca", 128, 512, 0.497),
        _named("pca-256", "pca", 256, 1024, 0.499),
        _named("int8", "int8", None, 384, 0.498),
        _named("binary", "binary", None, 48, 0.45),
        _named("binary-rescore", "binary-rescore", None, 48, 0.48),
    ]
    text = storage_verdict(variants, [127, 223, 319])
    assert text.startswith("int8 keeps 99.6% at 1/4 of the bytes; binary keeps 90.0% at 1/32, and 96.0% with rescoring")
    assert "Dropping the 3 dead dims (127, 223, 319) costs nothing (keeps 100.0%)." in text
    assert "The smallest float variant keeping at least 99% is pca-128 (99.4% at 1/3 of the bytes)." in text
    costly = [*variants[:1], _named("drop-dead", "drop-dead", None, 1524, 0.49), *variants[2:3]]
    text = storage_verdict(costly, [7])
    assert "Dropping the 1 dead dim (7) keeps 98.0%." in text and "No float variant" in text
    assert "no dead dimensions" in storage_verdict(variants[:1], [])
    assert byte_fraction(1524, 1536) == "99.2%" and byte_fraction(48, 1536) == "1/32"


def test_kept_dimensions_name_what_a_recipe_stores():
    from analysis.measures.retrieval.variants import kept_dimensions, variance_order

    rng = np.random.default_rng(17)
    docs = rng.standard_normal((50, 12)) * np.arange(1, 13)
    assert kept_dimensions(docs, "all", [3]).tolist() == list(range(12))
    assert kept_dimensions(docs, "drop-dead", [3, 5]).tolist() == [0, 1, 2, 4, 6, 7, 8, 9, 10, 11]
    assert kept_dimensions(docs, "prefix-4", []).tolist() == [0, 1, 2, 3]
    top = kept_dimensions(docs, "top-variance-3", [])
    assert top.tolist() == sorted(np.argsort(-docs.var(axis=0))[:3].tolist()) == sorted(variance_order(docs)[:3])
    for bad in ("prefix-0", "prefix-13", "random-4", "top-variance-x"):
        with pytest.raises(OptionError, match="Unknown set of kept dimensions"):
            kept_dimensions(docs, bad, [])
