"""AppTest for "What can I drop?": the Pareto chart and verdict from the cached report, the readiness
charts, the downloads, the URL state, uploads with query/document columns, the approval guard and errors.

The session cache is the shared warm cache plus the default report (chatterbot-pairs, 5 draws), so the
default page reads everything from disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.corpora import Corpus, load_builtin_task, pairs_from_rows
from analysis.pipeline.cache import EmbeddingStore
from analysis.reports.compress import compress_report
from tests.helpers import charts, metrics, ok, open_page, texts

PAGE = "pages/drop.py"


@pytest.fixture(scope="session")
def drop_cache_dir(warm_cache_dir, minilm) -> Path:
    store = EmbeddingStore(warm_cache_dir)
    compress_report(minilm, load_builtin_task("chatterbot-pairs"), n_draws=5, store=store)
    store.close()
    return warm_cache_dir


@pytest.fixture(autouse=True)
def use_drop_cache(fresh_cache_dir, drop_cache_dir, monkeypatch) -> Path:
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(drop_cache_dir))
    return drop_cache_dir


def _pair_upload(n: int = 30) -> tuple[Corpus, object]:
    """A small upload whose question and passage columns were mapped on the Corpus page."""
    questions = [f"What does the number {i} look like in words?" for i in range(n)]
    passages = [f"The number {i} is written with {len(str(i))} digits." for i in range(n)]
    task = pairs_from_rows("pairs.csv", questions, passages)
    corpus = Corpus("pairs.csv", tuple(questions))
    return corpus, task


def _pareto(at) -> dict:
    spec = json.loads(charts(at)[0].proto.spec)
    assert "against its bytes" in json.dumps(spec["layout"]["title"])
    return spec


@pytest.mark.slow
def test_default_shows_the_pareto_chart_verdict_readiness_and_downloads(drop_cache_dir, minilm):
    from analysis.reports.compress import cached_compress_report

    at = open_page(PAGE)
    ok(at)
    report = cached_compress_report(minilm, load_builtin_task("chatterbot-pairs"), store=EmbeddingStore(drop_cache_dir))
    assert report is not None and report.backend != "auto"
    line = f"{report.backend_summary[0].upper()}{report.backend_summary[1:]}."
    assert any(line in c for c in texts(at.caption)), texts(at.caption)  # the backend that encoded both sides
    assert texts(at.title) == ["What can I drop?"]
    assert at.selectbox(key="w_task").value == "chatterbot-pairs"
    verdict = texts(at.info)
    assert len(verdict) == 1 and "int8 keeps" in verdict[0] and "at 1/4 of the bytes" in verdict[0]
    assert "1/32" in verdict[0] and "Dropping the 3 dead dims (127, 223, 319) costs nothing" in verdict[0]
    m = metrics(at)
    assert m["Dead dimensions"] == "3" and m["float32 nDCG@10"].startswith("0.")
    assert len(charts(at)) == 6  # Pareto, truncation, bit balance, int8 range, cosine share, removal
    pareto = _pareto(at)
    points = {name for trace in pareto["data"] for name in (c[0] for c in trace.get("customdata") or [])}
    assert {"float32", "drop-dead", "int8", "binary", "binary-rescore", "binary-drop-dead"} <= points
    assert {"prefix-8", "pca-256", "top-variance-64", "random-128"} <= points  # every variant is a point
    assert pareto["layout"]["xaxis"]["type"] == "log"
    assert any("truncation-friendly" in s for s in texts(at.markdown))
    assert any(c.startswith("Rule: prefix-k beats random-k") for c in texts(at.caption))
    assert any(c.startswith("Removal test: ") and "groups of dimensions" in c for c in texts(at.caption))
    downloads = [b.proto.label for b in at.get("download_button")]
    assert len(downloads) == 3 and downloads[0] == "Download report"  # the report, the variants, the recipe
    assert any("keeps 381 of 384 dimensions" in c for c in texts(at.caption))
    assert not at.error and not at.get("progress")  # read from the cache


def test_recipe_choice_and_task_travel_in_the_url():
    at = open_page(PAGE)
    at.selectbox(key="w_keep").set_value("prefix-64").run()
    ok(at)
    assert at.query_params["keep"] == "prefix-64"
    assert any("keeps 64 of 384 dimensions: 64 bytes per vector in int8, 8 in binary" in c for c in texts(at.caption))
    # a link with a recipe choice that was not scored falls back, and says so
    at = open_page(PAGE, {"keep": "prefix-100"})
    ok(at)
    assert any("`prefix-100` was not scored here" in c for c in texts(at.caption))
    assert at.selectbox(key="w_keep").value == "drop-dead"


def test_an_upload_with_query_and_document_columns_is_scored():
    corpus, task = _pair_upload()
    at = open_page(
        PAGE,
        {"corpus": "upload:pairs.csv", "task": "corpus"},
        session={"ds_uploads": {"pairs.csv": corpus}, "ds_pair_uploads": {"pairs.csv": task}},
    )
    ok(at)
    assert any(c.startswith("pairs.csv: 30 queries, 30 documents") for c in texts(at.caption))
    assert len(charts(at)) == 6 and not at.error
    names = {c[0] for trace in _pareto(at)["data"] for c in (trace.get("customdata") or [])}
    assert "binary-rescore" in names


def test_the_sidebar_corpus_without_labels_or_pairs_shows_a_note():
    corpus = Corpus("plain.txt", ("hello there", "how are you", "good morning"))
    at = open_page(
        PAGE, {"corpus": "upload:plain.txt", "task": "corpus"}, session={"ds_uploads": {"plain.txt": corpus}}
    )
    ok(at)
    assert any("no labels and no query and document columns" in s for s in texts(at.info))
    assert not charts(at) and not at.error


def test_long_work_waits_for_approval(monkeypatch):
    import dashboard.compute

    monkeypatch.setattr(dashboard.compute, "AUTO_SCORING_PAIRS", 100)
    corpus, task = _pair_upload(40)  # 1,600 pairs: over the lowered limit
    at = open_page(
        PAGE,
        {"corpus": "upload:pairs.csv", "task": "corpus"},
        session={"ds_uploads": {"pairs.csv": corpus}, "ds_pair_uploads": {"pairs.csv": task}},
    )
    ok(at)
    assert any("1,600 query-document pairs" in s for s in texts(at.markdown))
    assert not charts(at)
    at.button(key="drop_compute").click().run()
    ok(at)
    assert len(charts(at)) == 6 and not at.error


def test_an_unloadable_model_shows_an_error_not_an_exception():
    at = open_page(PAGE, {"model": "bge-small-en-v1.5"})
    ok(at)
    errors = texts(at.error)
    assert len(errors) == 1 and "cannot be loaded here" in errors[0], errors
    assert not charts(at)


@pytest.mark.slow
def test_an_upload_mapped_on_the_corpus_page_becomes_the_task():
    import pandas as pd

    questions = [f"Which colour is fruit number {i}?" for i in range(25)]
    passages = [f"Fruit number {i} is {['red', 'green', 'yellow'][i % 3]} when ripe." for i in range(25)]
    data = pd.DataFrame({"question": questions, "passage": passages}).to_csv(index=False).encode()
    at = open_page("pages/corpus.py")
    at.file_uploader(key="corpus_upload").set_value(("qa.csv", data, "text/csv")).run()
    ok(at)
    assert (at.selectbox(key="map_query").value, at.selectbox(key="map_document").value) == ("question", "passage")
    assert len(at.session_state["ds_pair_uploads"]["qa.csv"].queries) == 25
    assert any("Also a retrieval task: 25 queries, 25 documents" in c for c in texts(at.caption))
    at.selectbox(key="map_document").set_value("(none)").run()
    assert "qa.csv" not in at.session_state["ds_pair_uploads"]
    at.selectbox(key="map_document").set_value("question").run()  # the same column twice: a clear error
    assert any("both 'question'" in e for e in texts(at.error))
    at.selectbox(key="map_document").set_value("passage").run()
    at.switch_page(PAGE).run()
    at.selectbox(key="w_task").set_value("corpus").run()
    ok(at)
    assert at.query_params["task"] == "corpus" and at.query_params["corpus"] == "upload:qa.csv"
    assert any(c.startswith("qa.csv: 25 queries, 25 documents") for c in texts(at.caption))
    assert len(charts(at)) == 6 and not at.error
