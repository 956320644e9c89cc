"""Uploaded embeddings on every dashboard page (AppTest): the Corpus page's "Upload embeddings" path,
the sidebar's note, every page that needs no model weights, Compare with files next to models, the
weight scan's "needs a model", refused NaN rows, public-mode caps and links that cannot carry uploads.

The embeddings are all-MiniLM-L6-v2's raw vectors of the default corpus, read from the shared warm
cache and written as Parquet with their texts and topics, so every number can be checked against the
model's own statistics.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus
from analysis.pipeline import EncodeOptions, embeddings_key, get_stats
from analysis.pipeline.cache import EmbeddingStore, default_store
from tests.helpers import charts, metrics, ok, open_page, texts

NAME = "minilm.parquet"


@pytest.fixture(autouse=True)
def use_warm_cache(fresh_cache_dir, warm_cache_dir, monkeypatch) -> Path:
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    return warm_cache_dir


@pytest.fixture(scope="module")
def minilm_raw(warm_cache_dir, minilm) -> np.ndarray:
    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    store = EmbeddingStore(warm_cache_dir)
    raw = store.get_array(embeddings_key(minilm, corpus, EncodeOptions()))
    store.close()
    assert raw is not None and raw.shape == (len(corpus), 384)
    return raw


def parquet_bytes(raw: np.ndarray, **columns) -> bytes:
    flat = pa.array(np.ascontiguousarray(raw, dtype=np.float32).reshape(-1))
    table = pa.table({"embedding": pa.FixedSizeListArray.from_arrays(flat, raw.shape[1]), **columns})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def minilm_parquet(minilm_raw) -> bytes:
    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    return parquet_bytes(minilm_raw, text=list(corpus.texts), topic=list(corpus.labels))


def upload(at, data: bytes, name: str = NAME):
    return at.file_uploader(key="vectors_upload").set_value((name, data, "application/octet-stream")).run()


def test_uploaded_embeddings_work_on_every_page_that_needs_no_weights(minilm_parquet, minilm, minilm_raw):
    at = open_page("pages/corpus.py")
    upload(at, minilm_parquet)
    ok(at)
    # New embeddings become the corpus (and the model) of every page at once.
    assert at.query_params == {"corpus": f"vectors:{NAME}"}
    assert at.sidebar.selectbox(key="w_corpus").value == f"vectors:{NAME}"
    assert at.selectbox(key="map_vtext").value == "text" and at.selectbox(key="map_vlabel").value == "topic"
    sidebar_notes = " ".join(texts(at.sidebar.info))
    assert "Your vectors" in sidebar_notes and "raw = the vectors as given" in sidebar_notes.lower()
    assert "w_model_choice" not in [box.key for box in at.sidebar.selectbox]  # the file is the model

    at.switch_page("pages/overview.py").run()
    ok(at)
    shown = metrics(at)
    assert shown["Dimensions"] == "384" and shown["Dead dimensions"] == "3" and shown["Texts"] == "1,629"
    assert any("raw** = the vectors as given" in c for c in texts(at.caption))
    model_stats = get_stats(minilm, load_builtin_corpus(DEFAULT_CORPUS), store=default_store())
    assert shown["Median std (normalized)"] == f"{np.median(model_stats.normalized_columns['std']):.4g}"

    at.switch_page("pages/explore.py").run()
    ok(at)
    shown = metrics(at)
    assert len(charts(at)) == 3 and shown["Texts"] == "1,629"  # heatmap, bars, crowding by the file's topics
    # The crowding of the file's vectors is the model's: ‖μ‖² of the normalized rows, by numpy.
    unit = minilm_raw.astype(np.float64) / np.linalg.norm(minilm_raw.astype(np.float64), axis=1, keepdims=True)
    assert shown["‖μ‖² of the whole corpus"] == f"{float(np.sum(unit.mean(axis=0) ** 2)):.4f}"

    at.switch_page("pages/dimension.py").run()
    ok(at)
    assert len(charts(at)) == 3  # distribution, rank among dimensions, per-label means (topics)
    top = at.dataframe[0].value
    assert set(top["text"]) <= set(load_builtin_corpus(DEFAULT_CORPUS).texts)  # real snippets, not row ids

    at.switch_page("pages/geometry.py").run()
    ok(at)
    assert len(charts(at)) >= 3 and not at.error

    at.switch_page("pages/languages.py").run()
    ok(at)
    assert any("no language column" in i for i in texts(at.info))

    at.switch_page("pages/diagnosis.py").run()
    ok(at)
    assert not at.error
    assert any("needs a model" in i for i in texts(at.info))


def test_compare_puts_a_file_next_to_the_model_that_made_it(minilm_parquet):
    at = open_page("pages/corpus.py")
    upload(at, minilm_parquet)
    at.switch_page("pages/compare.py").run()
    ok(at)
    assert at.multiselect(key="compare_vectors").value == [NAME]
    at.multiselect(key="w_models").set_value(["all-MiniLM-L6-v2"]).run()
    ok(at)
    summary = at.dataframe[0].value.set_index("model")
    mine = summary.loc[f"{NAME} (your vectors)"]
    model = summary.loc["all-MiniLM-L6-v2"]
    # The model encodes the file's own texts: the same vectors, so the same statistics, bit for bit.
    assert mine["texts"] == model["texts"] == 1629
    assert mine["dead dim indices"] == model["dead dim indices"] == "127, 223, 319"
    assert mine["median std (normalized)"] == model["median std (normalized)"]
    assert len(charts(at)) == 3
    # The variance budget is computed from the file's statistics too: the model's, to float noise.
    budget = at.dataframe[1].value.set_index("model")
    for column in ("‖μ‖²", "total variance", "mean cosine", "effective dims"):
        assert budget.loc[f"{NAME} (your vectors)", column] == pytest.approx(
            budget.loc["all-MiniLM-L6-v2", column], rel=1e-6
        ), column


@pytest.mark.slow  # scores every selection on 1,629 texts (about 20 s)
def test_selection_runs_on_the_files_labels(minilm_parquet):
    at = open_page("pages/corpus.py")
    upload(at, minilm_parquet)
    at.switch_page("pages/selection.py").run()
    ok(at)
    assert not at.error and len(charts(at)) == 1


def test_what_can_i_drop_scores_the_files_labels_and_says_builtin_tasks_need_a_model(minilm_raw, minilm):
    """The labelled task on the file's own rows gives the model's report on the same texts (the rows
    are the model's vectors); a built-in task of texts says it needs a model."""
    from analysis.corpora import Corpus, labelled_task
    from analysis.reports.compress import compress_report

    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    texts_300, topics_300 = list(corpus.texts[:300]), list(corpus.labels[:300])
    at = open_page("pages/corpus.py")
    upload(at, parquet_bytes(minilm_raw[:300], text=texts_300, topic=topics_300), "few.parquet")
    ok(at)
    at.switch_page("pages/drop.py").run()
    ok(at)
    assert any("need a model to embed them" in i for i in texts(at.info)), texts(at.info)
    assert not charts(at)
    at.selectbox(key="w_task").set_value("corpus").run()
    ok(at)
    assert not at.error and len(charts(at)) >= 5
    model_report = compress_report(
        minilm, labelled_task(Corpus("same texts", tuple(texts_300), tuple(topics_300))), store=default_store()
    )
    assert metrics(at)["float32 nDCG@10"] == f"{model_report.variant('float32').ndcg_at_10:.3f}"
    assert metrics(at)["Dead dimensions"] == str(len(model_report.dead_dims))


def test_what_can_i_drop_on_a_file_without_labels_says_what_is_missing(minilm_raw):
    at = open_page("pages/corpus.py")
    upload(at, parquet_bytes(minilm_raw[:100]), "bare.parquet")
    at.switch_page("pages/drop.py").run()
    at.selectbox(key="w_task").set_value("corpus").run()
    ok(at)
    assert any("bare.parquet** has no label column" in i for i in texts(at.info)), texts(at.info)


def test_public_mode_keeps_what_is_computed_from_uploaded_embeddings_in_the_session(minilm_raw, monkeypatch):
    from analysis.pipeline.cache import build_key
    from dashboard import policy

    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    try:
        at = open_page("pages/corpus.py")
        upload(at, parquet_bytes(minilm_raw[:500]), "private.parquet")
        at.switch_page("pages/overview.py").run()
        ok(at)
        assert metrics(at)["Texts"] == "500"
        source = at.session_state["ds_vector_uploads"]["private.parquet"]
        session = at.session_state["ds_session_store"]
        for view in ("raw", "normalized"):
            key = build_key("stats", model=source.fingerprint, corpus=source.corpus_hash, view=view)
            assert key in session.keys()  # computed, and kept in this session's memory
            assert key not in session.shared  # never written to the shared disk cache
    finally:
        monkeypatch.delenv("DIMSCOPE_PUBLIC")
        policy.reset_policy()


def test_a_nan_row_is_refused_with_its_count(minilm_raw):
    bad = minilm_raw[:50].copy()
    bad[[3, 7], 10] = np.nan
    at = open_page("pages/corpus.py")
    upload(at, parquet_bytes(bad), "bad.parquet")
    ok(at)
    assert any("2 of 50 rows have NaN" in e for e in texts(at.error))
    assert "bad.parquet" not in at.session_state["ds_vector_uploads"]
    assert at.query_params == {}


def test_a_file_without_texts_shows_row_numbers_and_compare_leaves_models_out(minilm_raw):
    at = open_page("pages/corpus.py")
    upload(at, parquet_bytes(minilm_raw[:200]), "bare.parquet")
    ok(at)
    at.switch_page("pages/dimension.py").run()
    ok(at)
    assert any("no text column" in c for c in texts(at.caption))
    assert set(at.dataframe[0].value["text"]) <= {f"row {i}" for i in range(200)}
    at.switch_page("pages/compare.py").run()
    ok(at)
    # Said once, in one sentence, and no Models box showing models that take no part.
    (info,) = texts(at.main.info)
    assert "bare.parquet has no text column" in info and "No model takes part" in info
    assert info.count(". ") == 0 and info.endswith(".")
    assert not [m for m in at.multiselect if m.label == "Models"]
    assert at.dataframe[0].value["model"].tolist() == ["bare.parquet (your vectors)"]


def test_public_mode_caps_uploaded_embeddings(minilm_raw, monkeypatch):
    from dashboard import policy

    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    try:
        at = open_page("pages/corpus.py")
        many = np.tile(minilm_raw, (4, 1))[:6000]
        upload(at, parquet_bytes(many), "many.parquet")
        ok(at)
        source = at.session_state["ds_vector_uploads"]["many.parquet"]
        assert source.n_rows == policy.current_policy().max_vector_rows == 5000
        assert source.corpus.report.n_over_limit == 1000
        at.switch_page("pages/overview.py").run()
        ok(at)
        assert metrics(at)["Texts"] == "5,000"
    finally:
        monkeypatch.delenv("DIMSCOPE_PUBLIC")
        policy.reset_policy()


def test_uploaded_embeddings_cannot_travel_in_a_link():
    at = open_page("pages/overview.py", {"corpus": f"vectors:{NAME}"})
    ok(at)
    notes = " ".join(texts(at.warning))
    assert "uploaded embeddings cannot travel in a link" in notes
    assert at.sidebar.selectbox(key="w_corpus").value == DEFAULT_CORPUS


def test_the_corpus_page_opens_an_embeddings_upload_once_per_run(monkeypatch, minilm_raw):
    """The callback that adopts new embeddings and the page body that describes them share one
    opening (a streamed pass over every vector). Choosing other columns later opens the file once
    in that run, with the chosen ones (it once opened it first with the inferred columns too)."""
    import analysis.vectors

    opened: list[dict] = []
    open_vectors = analysis.vectors.open_vectors

    def counting(data, **kwargs):
        opened.append({k: v for k, v in kwargs.items() if k.endswith("_column")})
        return open_vectors(data, **kwargs)

    monkeypatch.setattr(analysis.vectors, "open_vectors", counting)
    n = 40
    data = parquet_bytes(minilm_raw[:n], text=[f"text {i}" for i in range(n)], topic=["ab"[i % 2] for i in range(n)])
    at = open_page("pages/corpus.py")
    upload(at, data, "few.parquet")
    ok(at)
    assert at.query_params == {"corpus": "vectors:few.parquet"} and metrics(at)["Vectors"] == "40"
    assert opened == [{}]
    at.selectbox(key="map_vlabel").set_value("(none)").run()
    ok(at)
    assert at.session_state["ds_vector_uploads"]["few.parquet"].corpus.labels is None
    assert opened == [{}, {"vector_column": "embedding", "text_column": "text", "label_column": ""}]
    # A new file starts from its own columns, not the last file's choices.
    upload(at, parquet_bytes(minilm_raw[:30], text=[f"t {i}" for i in range(30)], topic=["x"] * 30), "other.parquet")
    ok(at)
    assert opened[2:] == [{}] and at.selectbox(key="map_vlabel").value == "topic"
