"""The cached pipeline on real and tiny models: correctness against sentence-transformers + numpy,
cache hits that skip encoding, corruption recovery, incremental reuse, concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import encoding as embeddings
from analysis import pipeline
from analysis.corpora import Corpus, load_builtin_corpus
from analysis.encoding import calibration
from analysis.models import resolve_model
from analysis.pipeline.cache import EmbeddingStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def english():
    return load_builtin_corpus("chatterbot-english")


@pytest.fixture(scope="module")
def warm_store(tmp_path_factory, minilm, english):
    """One encode of the default corpus with the real model, shared by this module's tests."""
    store = EmbeddingStore(tmp_path_factory.mktemp("warm") / "cache")
    result = pipeline.get_stats(minilm, english, store=store)
    assert not result.from_cache
    return store


def test_default_model_finds_the_reported_dead_dims(warm_store, minilm, english):
    result = pipeline.get_stats(minilm, english, store=warm_store)
    assert result.dead_dims == [127, 223, 319]
    assert result.dimension == 384 and result.n_texts == len(english)


@pytest.mark.slow  # over 10 s of the quick lane on shared cores
def test_normalized_std_matches_sentence_transformers_and_numpy(warm_store, minilm, english):
    from sentence_transformers import SentenceTransformer

    # 400 texts: three encodes of the whole corpus (sentence-transformers, torch, auto) took 73 s
    # of the quick lane on shared cores; the dead dims and the tolerance already hold on 300.
    texts = list(english.texts[:400])
    english = Corpus(name="english-400", texts=tuple(texts))
    direct = SentenceTransformer(str(minilm.path), device="cpu").encode(texts, batch_size=32)
    # The model ends in Normalize: its own output is unit length.
    np.testing.assert_allclose(np.linalg.norm(direct, axis=1), 1.0, atol=1e-5)
    # The default (backend="auto", first: later it would accept torch's cached entry) holds the
    # stated tolerance against the reference.
    default = pipeline.get_stats(minilm, english, store=warm_store)
    assert default.backend != "auto" and default.dead_dims == [127, 223, 319]
    assert np.max(np.abs(default.normalized["std"] - direct.astype(np.float64).std(0))) <= 5e-4
    torch_path = pipeline.EncodeOptions(backend="torch")  # the reference path: sentence-transformers' numbers
    result = pipeline.get_stats(minilm, english, store=warm_store, options=torch_path)
    np.testing.assert_allclose(result.normalized["std"], direct.astype(np.float64).std(0), atol=2e-6)
    np.testing.assert_allclose(result.normalized["mean"], direct.astype(np.float64).mean(0), atol=2e-6)
    # Raw is the pooled output before Normalize: a different scale entirely.
    assert np.median(result.raw["std"]) > 5 * np.median(result.normalized["std"])
    raw = pipeline.get_embeddings(minilm, english, store=warm_store, options=torch_path).raw
    np.testing.assert_allclose(embeddings.l2_normalize(raw), direct, atol=1e-5)


def test_cache_hits_skip_encoding(warm_store, minilm, english, monkeypatch):
    def no_encoding(*args, **kwargs):
        raise AssertionError("encode_raw must not run on a cache hit")

    monkeypatch.setattr("analysis.pipeline.embeddings.encode_raw", no_encoding)
    stats = pipeline.get_stats(minilm, english, store=warm_store)
    emb = pipeline.get_embeddings(minilm, english, store=warm_store)
    assert stats.from_cache and emb.from_cache


def test_stats_stream_from_cached_embeddings_without_encoding(warm_store, minilm, english, monkeypatch, tmp_path):
    # Drop only the stats records: they must be rebuilt from the stored array, not by encoding.
    for view in ("raw", "normalized"):
        warm_store.delete(pipeline.stats_key(minilm, english, pipeline.EncodeOptions(), view))
    monkeypatch.setattr(
        "analysis.pipeline.embeddings.encode_raw", lambda *a, **k: (_ for _ in ()).throw(AssertionError("encoded"))
    )
    result = pipeline.get_stats(minilm, english, store=warm_store)
    assert not result.from_cache and result.dead_dims == [127, 223, 319]


def test_garbage_in_every_value_file_is_recomputed_to_the_same_answer(tiny_model_dir, tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    model = resolve_model(str(tiny_model_dir))
    corpus = _tiny_corpus(600)
    first = pipeline.get_stats(model, corpus, store=store)
    files = list((tmp_path / "c").rglob("*.val"))
    assert files, "the embeddings should be stored in a value file"
    for path in files:
        path.write_bytes(os.urandom(path.stat().st_size))
    store._cache._sql("UPDATE Cache SET value = ? WHERE value IS NOT NULL", (b"garbage",))
    second = pipeline.get_stats(model, corpus, store=store)
    assert not second.from_cache
    assert second.dead_dims == first.dead_dims == [3, 17]
    np.testing.assert_allclose(second.normalized["std"], first.normalized["std"], atol=1e-6)


def _tiny_corpus(n: int, offset: int = 0) -> Corpus:
    from tests.tiny_models import tiny_corpus

    texts = tiny_corpus(n + offset, seed=5)[offset:]
    return Corpus(name=f"tiny-{n}", texts=tuple(dict.fromkeys(texts)))


def test_tiny_model_planted_dims_are_found_exactly(tiny_model_dir, tmp_path):
    result = pipeline.get_stats(str(tiny_model_dir), _tiny_corpus(400), store=EmbeddingStore(tmp_path / "c"))
    assert result.dead_dims == [3, 17]
    assert result.constant_dims == [9]
    assert (result.raw.loc[[3, 17], "abs_mean"] == 0).all()


def test_model_without_normalize_gets_normalized_view_too(tiny_clean_dir, tmp_path):
    result = pipeline.get_embeddings(str(tiny_clean_dir), _tiny_corpus(50), store=EmbeddingStore(tmp_path / "c"))
    norms = np.linalg.norm(result.view("normalized"), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(result.raw, axis=1), 1.0)


def test_incremental_corpus_reuses_rows(tiny_model_dir, tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    model = resolve_model(str(tiny_model_dir))
    calibration.calibration_for(model)  # auto prepared: every request below encodes with its choice
    base = _tiny_corpus(300)
    pipeline.get_embeddings(model, base, store=store)
    extra = Corpus(name="extended", texts=base.texts + ("a brand new sentence", "another unseen one"))
    extended = pipeline.get_embeddings(model, extra, store=store)
    assert extended.n_reused == len(base) and extended.n_encoded == 2
    direct = embeddings.encode_raw(model, list(extra.texts), backend=extended.backend)  # auto's choice
    np.testing.assert_allclose(extended.raw, direct, atol=1e-5)
    # A reordered subset is served entirely from reused rows, without loading anything new.
    subset = Corpus(name="subset", texts=tuple(reversed(base.texts[:50])))
    again = pipeline.get_embeddings(model, subset, store=store)
    assert again.n_encoded == 0 and again.n_reused == 50


def test_progress_reports_done_and_total(tiny_model_dir, tmp_path):
    seen = []
    corpus = _tiny_corpus(600)
    pipeline.get_embeddings(
        str(tiny_model_dir), corpus, store=EmbeddingStore(tmp_path / "c"), progress=lambda d, t: seen.append((d, t))
    )
    assert seen[0] == (0, len(corpus)) and seen[-1] == (len(corpus), len(corpus))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


_CONCURRENT = """
import json, sys
from analysis.pipeline.cache import EmbeddingStore
from analysis.corpora import Corpus
from analysis import pipeline
from tests.tiny_models import tiny_corpus
corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(3000, seed=9))))
result = pipeline.get_embeddings(sys.argv[1], corpus, store=EmbeddingStore(sys.argv[2]))
print(json.dumps({"from_cache": result.from_cache, "sum": float(result.raw.astype("float64").sum())}))
"""


@pytest.mark.slow
def test_two_processes_compute_once_and_agree(tiny_model_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", _CONCURRENT, str(tiny_model_dir), str(tmp_path / "c")]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, cwd=ROOT)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["from_cache"] for r in results) == [False, True]
    assert results[0]["sum"] == results[1]["sum"]


@pytest.mark.slow
def test_time_budget_stops_encoding_and_stores_nothing(tiny_model_dir, tmp_path):
    from analysis.errors import TimeLimitError

    store = EmbeddingStore(tmp_path / "c")
    corpus = _tiny_corpus(1500)
    with pytest.raises(TimeLimitError, match="limit"):
        pipeline.get_embeddings(str(tiny_model_dir), corpus, store=store, time_limit_s=1e-9)
    assert pipeline.cached_embeddings(str(tiny_model_dir), corpus, store=store) is None
    # Without the budget the same request completes.
    assert pipeline.get_embeddings(str(tiny_model_dir), corpus, store=store).raw.shape[0] == len(corpus)


def test_texts_over_the_token_limit_are_counted(tiny_model_dir, tmp_path):
    from analysis.encoding.torch_backend import load_model

    limit = load_model(resolve_model(str(tiny_model_dir))).max_seq_length
    long_text = " ".join(["the cat sees the garden"] * (limit // 2 + 10))
    corpus = Corpus(name="long", texts=("short one", long_text, long_text + " again"))
    store = EmbeddingStore(tmp_path / "c")
    first = pipeline.get_embeddings(str(tiny_model_dir), corpus, store=store)
    assert first.n_truncated_tokens == 2
    assert pipeline.get_stats(str(tiny_model_dir), corpus, store=store).n_truncated_tokens == 2


def test_statistics_and_reports_refuse_fewer_than_two_texts_before_any_work(tiny_model_dir, monkeypatch):
    """One text has no spread: every statistic would be 0 or undefined. Refused with a clear
    message before the model is loaded or anything is cached."""
    from analysis.corpora import corpus_from_texts
    from analysis.errors import CorpusError
    from analysis.pipeline.memory_cache import MemoryStore
    from analysis.reports.geometry import geometry_report
    from analysis.reports.selection import selection_report

    def no_encoding(*args, **kwargs):
        raise AssertionError("nothing should be encoded")

    monkeypatch.setattr("analysis.pipeline.embeddings.encode_raw", no_encoding)
    store = MemoryStore()
    one = corpus_from_texts(["only this", "only this"], name="one.txt", labels=["a", "a"])
    assert len(one) == 1
    for call in (
        lambda: pipeline.get_stats(str(tiny_model_dir), one, store=store),
        lambda: geometry_report(str(tiny_model_dir), one, store=store),
        lambda: selection_report(str(tiny_model_dir), one, store=store),
    ):
        with pytest.raises(CorpusError, match=r"one.txt has 1 text; statistics need at least 2 texts"):
            call()
    assert store.volume_bytes() == 0
    # Two texts is the mathematical minimum for a spread, and it is accepted.
    two = Corpus(name="two", texts=("first text", "second text"))
    monkeypatch.undo()
    result = pipeline.get_stats(str(tiny_model_dir), two, store=store)
    assert result.n_texts == 2 and np.isfinite(result.normalized["std"]).all()
