"""The compress report on a real (tiny) model: its figures against an independent computation
(sentence-transformers encode, numpy ranking, sentence-transformers' int8), its cache, prompts and recipe."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.util.quantization import quantize_embeddings

from analysis.corpora import Corpus, RetrievalTask, labelled_task, pairs_from_rows
from analysis.errors import OptionError
from analysis.models import ResolvedModel, catalog_info, resolve_model
from analysis.pipeline import EncodeOptions
from analysis.pipeline.cache import EmbeddingStore, default_store
from analysis.reports import compress
from analysis.reports.compress import (
    CompressReport,
    compress_key,
    compress_report,
    side_options,
    storage_recipe,
)
from tests.tiny_models import tiny_corpus


@pytest.fixture(scope="module")
def tiny_pairs() -> RetrievalTask:
    """Half a sentence -> the whole sentence, on the tiny model's own vocabulary."""
    sentences = list(dict.fromkeys(tiny_corpus(260, seed=21)))
    queries = [" ".join(s.split()[:3]) + " …" for s in sentences]
    task = pairs_from_rows("halves", queries, sentences)
    return task


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """0-based rank of each query's relevant document: descending score, lower index first."""
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.argmax(order == relevant[:, None], axis=1)


def _figures(scores: np.ndarray, relevant: np.ndarray) -> dict[str, float]:
    rank = _ranks(scores, relevant)
    return {
        "recall_at_1": float(np.mean(rank < 1)),
        "recall_at_10": float(np.mean(rank < 10)),
        "mrr": float(np.mean(1.0 / (rank + 1))),
        "ndcg_at_10": float(np.mean(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0))),
    }


def test_variants_match_an_independent_computation(tiny_model_dir, tiny_pairs):
    report = compress_report(str(tiny_model_dir), tiny_pairs, ks=[4, 8, 16], n_draws=3, store=default_store())
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    q = _unit(model.encode(list(tiny_pairs.queries.texts), convert_to_numpy=True))
    d = _unit(model.encode(list(tiny_pairs.documents.texts), convert_to_numpy=True))
    relevant = np.array(tiny_pairs.relevant)
    assert (report.n_queries, report.n_documents, report.dimension) == (len(q), len(d), 32)
    assert report.dead_dims == [3, 17]
    qi = quantize_embeddings(q, precision="int8", calibration_embeddings=d).astype(np.int64)
    di = quantize_embeddings(d, precision="int8", calibration_embeddings=d).astype(np.int64)
    qb, db = (q > 0).astype(np.int64), (d > 0).astype(np.int64)
    expected = {
        "float32": _figures(q @ d.T, relevant),
        "int8": _figures(qi @ di.T, relevant),
        "binary": _figures(qb @ db.T + (1 - qb) @ (1 - db).T, relevant),  # equal bits
    }
    for name, figures in expected.items():
        ours = report.variant(name)
        for metric, value in figures.items():
            assert getattr(ours, metric) == pytest.approx(value, abs=0.01), (name, metric)
    assert [report.variant(n).bytes_per_vector for n in ("float32", "int8", "binary")] == [128, 32, 4]
    assert report.variant("drop-dead").bytes_per_vector == 120 and report.variant("drop-dead").dims == 30
    assert report.ks == [4, 8, 16] and report.variant("random-4").n_draws == 3
    assert report.variant("drop-dead").retention >= 0.999
    np.testing.assert_allclose(report.int8_ranges, [d.min(axis=0), d.max(axis=0)], atol=1e-5)
    assert len(report.readiness.bit_balance) == 32 and report.readiness.harmful_mode == "leave-one-out"
    np.testing.assert_allclose(report.readiness.bit_balance, (d > 0).mean(axis=0), atol=0.01)
    assert "int8 keeps" in report.verdict and "rule:" in report.matryoshka
    # the JSON round trip gives the same report
    data = json.loads(json.dumps(report.to_dict()))
    assert {"model", "n_queries", "n_documents", "dimension", "dead_dims", "variants"} <= set(data)
    assert CompressReport.from_dict(data) == report


def test_a_labelled_corpus_encodes_once_and_excludes_each_text_from_its_own_ranking(tiny_model_dir, fresh_cache_dir):
    sentences = list(dict.fromkeys(tiny_corpus(150, seed=22)))
    corpus = Corpus("topics", tuple(sentences), labels=tuple(s.split()[1] for s in sentences))
    report = compress_report(str(tiny_model_dir), labelled_task(corpus), ks=[8], n_draws=2, store=default_store())
    assert report.mode == "labels" and report.n_documents == len(sentences)
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    x = _unit(model.encode(sentences, convert_to_numpy=True))
    labels = np.array(corpus.labels)
    scores = x @ x.T
    ndcg = []
    for i in range(len(x)):
        relevant = (labels == labels[i]) & (np.arange(len(x)) != i)
        if not relevant.any():
            continue
        order = [j for j in np.argsort(-scores[i], kind="stable") if j != i]
        dcg = sum(1.0 / math.log2(p + 2) for p, j in enumerate(order[:10]) if relevant[j])
        ndcg.append(dcg / sum(1.0 / math.log2(p + 2) for p in range(min(int(relevant.sum()), 10))))
    assert report.variant("float32").ndcg_at_10 == pytest.approx(np.mean(ndcg), abs=0.01)
    assert report.n_queries == len(ndcg) and report.n_queries + report.n_queries_without_relevant == len(x)


def test_the_report_is_cached_under_a_key_naming_everything(tiny_model_dir, tiny_pairs, monkeypatch, fresh_cache_dir):
    first = compress_report(str(tiny_model_dir), tiny_pairs, ks=[8], n_draws=2, store=default_store())
    model = resolve_model(str(tiny_model_dir))
    key = compress_key(model, tiny_pairs, ks=[8], n_draws=2, options=EncodeOptions(backend=first.backend))
    for part in (
        model.fingerprint,
        f"backend={first.backend}",
        tiny_pairs.queries.content_hash,
        tiny_pairs.documents.content_hash,
        tiny_pairs.relevance_hash,
        "ks=8",
        "draws=2",
        f"version={compress.REPORT_VERSION}",
    ):
        assert part in key
    assert EmbeddingStore(fresh_cache_dir).get_json(key) is not None

    import analysis.measures.retrieval as retrieval

    def fail(*args, **kwargs):
        raise AssertionError("scored again")

    with monkeypatch.context() as patch:
        patch.setattr(retrieval, "evaluate_variants", fail)
        assert compress_report(str(tiny_model_dir), tiny_pairs, ks=[8], n_draws=2, store=default_store()) == first
        with pytest.raises(AssertionError, match="scored again"):  # other draws: another key
            compress_report(str(tiny_model_dir), tiny_pairs, ks=[8], n_draws=3, store=default_store())
    store = EmbeddingStore(fresh_cache_dir)
    store.put_json(key, {"model": "damaged"})
    again = compress_report(str(tiny_model_dir), tiny_pairs, ks=[8], n_draws=2, store=default_store())
    assert again.to_dict() | {"seconds": 0} == first.to_dict() | {"seconds": 0}
    assert CompressReport.from_dict(store.get_json(key)) == again


def test_queries_and_documents_get_the_model_cards_prompts():
    def model(name: str | None) -> ResolvedModel:
        info = catalog_info(name) if name else None
        return ResolvedModel(name or "folder", name or "folder", "folder", __import__("pathlib").Path("/x"), "f", info)

    pairs = pairs_from_rows("p", ["q"], ["d"])
    labels = labelled_task(Corpus("c", ("a", "b"), labels=("x", "x")))
    nomic = model("nomic-embed-text-v1.5")
    query, document = side_options(nomic, pairs, EncodeOptions())
    assert (query.effective_prompt(nomic), document.effective_prompt(nomic)) == ("search_query: ", "search_document: ")
    bge = model("bge-small-en-v1.5")
    query, document = side_options(bge, pairs, EncodeOptions())
    assert query.effective_prompt(bge).startswith("Represent this sentence") and document.effective_prompt(bge) == ""
    assert side_options(nomic, labels, EncodeOptions()) == (EncodeOptions(), EncodeOptions())  # symmetric task
    given = EncodeOptions(prompt="x: ")
    assert side_options(nomic, pairs, given) == (given, given)
    assert side_options(model(None), pairs, EncodeOptions()) == (EncodeOptions(), EncodeOptions())
    keys = {compress_key(m, pairs, ks=None, n_draws=5, options=EncodeOptions(backend="torch")) for m in (nomic, bge)}
    assert len(keys) == 2
    with pytest.raises(ValueError, match="concrete backend"):  # "auto" never reaches a key
        compress_key(nomic, pairs, ks=None, n_draws=5, options=EncodeOptions())


def test_auto_is_resolved_once_per_task_before_the_key(tiny_model_dir, fresh_cache_dir, tmp_path, monkeypatch):
    from analysis.encoding import backends, calibration, preparation
    from analysis.pipeline import embeddings_key

    monkeypatch.setenv("DIMSCOPE_MODELS_DIR", str(tmp_path / "models"))  # no calibration recorded yet
    monkeypatch.setattr(calibration, "_MEMO", {})
    model = resolve_model(str(tiny_model_dir))
    sentences = list(dict.fromkeys(tiny_corpus(300, seed=23)))
    task = pairs_from_rows("reversed", [" ".join(s.split()[::-1]) for s in sentences], sentences)
    assert len(task.documents) >= calibration.MIN_TEXTS_TO_CALIBRATE
    # Looking up the report never starts a calibration: nothing can be cached under a choice not made yet.
    assert compress.cached_compress_report(model, task, ks=[8], n_draws=2, store=default_store()) is None
    assert calibration.recorded(model) is None
    # The model's first request: torch while auto prepares.
    first = compress_report(model, task, ks=[8], n_draws=2, store=default_store())
    assert first.backend == "torch" and preparation.current(model).wait(300)
    chosen = calibration.recorded(model).chosen
    # auto accepts torch's result.
    assert compress.cached_compress_report(model, task, ks=[8], n_draws=2, store=default_store()) == first
    # A new task is encoded with the prepared choice.
    others = list(dict.fromkeys(tiny_corpus(300, seed=24)))
    task = pairs_from_rows("reversed, others", [" ".join(s.split()[::-1]) for s in others], others)
    report = compress_report(model, task, ks=[8], n_draws=2, store=default_store())
    assert report.backend == chosen and report.to_dict()["backend"] == chosen
    assert (report.backend_drift, report.backend_speedup) == calibration.backend_facts(model, chosen)
    assert report.backend_summary.startswith(f"encoded with {backends.backend_label(chosen)}")
    # Both sides were encoded with the one backend, and the report is found by auto and by its choice.
    concrete = EncodeOptions(backend=chosen)
    store = EmbeddingStore(fresh_cache_dir)
    for side, options in zip((task.queries, task.documents), side_options(model, task, concrete), strict=True):
        assert embeddings_key(model, side, options) in store
    assert compress.cached_compress_report(model, task, ks=[8], n_draws=2, store=default_store()) == report
    assert (
        compress.cached_compress_report(model, task, ks=[8], n_draws=2, options=concrete, store=default_store())
        == report
    )
    # A small task does not start a calibration: torch encodes it.
    calibration.forget(model)
    calibration.record_path(model).unlink()
    small = pairs_from_rows("few", list(task.queries.texts[:40]), list(task.documents.texts[:40]))
    assert compress_report(model, small, ks=[8], n_draws=2, store=default_store()).backend == "torch"
    assert calibration.recorded(model) is None


def test_recipe_ranges_reproduce_sentence_transformers_int8(tiny_model_dir, tiny_pairs):
    from analysis.measures.retrieval.checks import unit_rows
    from analysis.reports.compress import task_embeddings

    report = compress_report(str(tiny_model_dir), tiny_pairs, ks=[8], n_draws=2, store=default_store())
    _, d = task_embeddings(resolve_model(str(tiny_model_dir)), tiny_pairs, store=default_store())  # cached
    every = storage_recipe(report, str(tiny_model_dir), tiny_pairs, "all", store=default_store())
    assert every["kept_dims"] == list(range(32)) and every["int8"]["ranges"] == report.int8_ranges
    dead = storage_recipe(report, str(tiny_model_dir), tiny_pairs, "drop-dead", store=default_store())
    assert dead["kept_dims"] == [j for j in range(32) if j not in (3, 17)] and dead["int8"]["bytes_per_vector"] == 30
    top = storage_recipe(report, str(tiny_model_dir), tiny_pairs, "top-variance-8", store=default_store())
    assert top["kept_dims"] == sorted(np.argsort(-d.astype(np.float64).var(axis=0), kind="stable")[:8].tolist())
    kept = unit_rows(d[:, top["kept_dims"]])
    codes = quantize_embeddings(kept, precision="int8", ranges=np.array(top["int8"]["ranges"]))
    assert np.array_equal(codes, quantize_embeddings(kept, precision="int8", calibration_embeddings=kept))
    assert [m["name"] for m in top["measured"]] == ["top-variance-8", "int8", "binary", "binary-rescore"]
    assert top["binary"]["bytes_per_vector"] == 1 and top["float32"]["bytes_per_vector"] == 32
    json.dumps(top)  # ready to download
    with pytest.raises(OptionError, match="Unknown set of kept dimensions"):
        storage_recipe(report, str(tiny_model_dir), tiny_pairs, "random-8", store=default_store())


@pytest.mark.slow
def test_progress_counts_the_work_in_order_and_says_nothing_for_cache_hits(tiny_model_dir, tiny_pairs, fresh_cache_dir):
    """Issue 25: read from the cache, the CLI still drew 'Encoding … 1629/1629', and compress '1/1'."""
    from analysis.reports.compress import task_embeddings

    model = resolve_model(str(tiny_model_dir))
    options = EncodeOptions(backend="torch")
    total = len(tiny_pairs.queries) + len(tiny_pairs.documents)
    calls: list[tuple[int, int]] = []
    store = default_store()
    task_embeddings(model, tiny_pairs, options=options, store=store, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, total) and calls[-1] == (total, total)  # documents, then queries, one count
    assert all(t == total for _, t in calls) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    calls.clear()
    task_embeddings(model, tiny_pairs, options=options, store=store, progress=lambda d, t: calls.append((d, t)))
    assert calls == []  # both sides from the cache: no work to show
    # Only the queries are new: the bar covers them, after the documents, and ends.
    queries, documents = tiny_pairs.queries.texts, tiny_pairs.documents.texts
    other = pairs_from_rows("other queries", [q.replace(" …", " ?") for q in queries], documents)
    task_embeddings(model, other, options=options, store=store, progress=lambda d, t: calls.append((d, t)))
    other_total = len(other.queries) + len(other.documents)
    assert calls[0] == (len(other.documents), other_total) and calls[-1] == (other_total, other_total)
    calls.clear()
    compress_report(model, tiny_pairs, ks=[8], n_draws=2, options=options, store=store)
    compress_report(
        model, tiny_pairs, ks=[8], n_draws=2, options=options, store=store, progress=lambda d, t: calls.append((d, t))
    )
    assert calls in ([], [(1, 1)])  # a cached report: at most its own completion, which draws nothing
