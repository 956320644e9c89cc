"""AppTest for the insight pages: Why dimensions die, Geometry, Which dimensions matter, Languages.

One cache folder per session, warmed once with all-MiniLM-L6-v2 on the default corpus: the
statistics and embeddings (copied from the developer's cache when it holds them), the geometry
report and the selection report with the page's defaults, so each page run reads from disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analysis.corpora import DEFAULT_CORPUS, Corpus, load_builtin_corpus
from analysis.pipeline import get_stats
from analysis.pipeline.cache import EmbeddingStore
from analysis.reports.geometry import geometry_report
from analysis.reports.selection import selection_report
from tests.helpers import charts, metrics, ok, open_page, texts

INSIGHT_PAGES = ["pages/diagnosis.py", "pages/geometry.py", "pages/selection.py", "pages/languages.py"]
UNLOADABLE = "bge-small-en-v1.5"  # in the catalog, not packaged: offline it cannot be loaded


@pytest.fixture(scope="session")
def insight_cache_dir(warm_cache_dir, minilm) -> Path:
    """The shared warm cache, plus the reports these pages show by default."""
    directory = warm_cache_dir
    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    store = EmbeddingStore(directory)
    assert get_stats(minilm, corpus, store=store).dead_dims == [127, 223, 319]
    geometry_report(minilm, corpus, store=store)
    selection_report(minilm, corpus, n_random_seeds=5, view="normalized", store=store)  # the page's default
    store.close()
    return directory


@pytest.fixture(autouse=True)
def use_insight_cache(fresh_cache_dir, insight_cache_dir, monkeypatch) -> Path:
    """Every test here reads the shared warm cache instead of its fresh empty one."""
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(insight_cache_dir))
    return insight_cache_dir


# --- default runs ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_diagnosis_default_names_the_dead_dims_and_agrees_with_the_corpus():
    at = open_page("pages/diagnosis.py")
    ok(at)
    assert texts(at.title) == ["Why dimensions die"]
    m = metrics(at)
    assert m["Forced constant"] == "3"
    assert any("`encoder.layer.5.output.LayerNorm`" in s for s in texts(at.markdown))
    assert (m["Both"], m["Weights only"], m["Corpus only"]) == ("3", "0", "0")
    assert any("127, 223, 319" in s for s in texts(at.success))
    assert len(charts(at)) == 1
    table = at.dataframe[0].value
    assert table["dim"].tolist() == [127, 223, 319] and set(table["agreement"]) == {"both"}
    assert set(table["verdict"]) == {"zero"} and (table["weight"].abs() < 1e-6).all()
    assert not at.error and not at.get("progress")


def test_geometry_default_shows_metrics_and_three_charts(minilm, use_insight_cache):
    at = open_page("pages/geometry.py")
    ok(at)
    assert texts(at.title) == ["Geometry"]
    m = metrics(at)
    assert 0 < float(m["Anisotropy"]) < 1 and 0 <= float(m["IsoScore"]) <= 1
    assert float(m["Effective rank"]) > 1
    assert len(charts(at)) == 3  # spectrum, rogue dims, cosine histogram
    table = at.dataframe[0].value
    assert table.columns.tolist() == ["metric", "raw", "normalized"] and len(table) >= 6
    (outliers,) = [c for c in texts(at.caption) if c.startswith("Outlier dimensions")]
    for view in ("raw", "normalized"):  # dimension numbers after "view:", never a bare number a count could be
        report = geometry_report(minilm, load_builtin_corpus(DEFAULT_CORPUS), store=EmbeddingStore(use_insight_cache))
        dims = report.view(view).outlier_dims
        assert f"{view}: {', '.join(map(str, dims)) or 'none'}" in outliers
    assert at.selectbox(key="w_post").value == "none"
    assert not at.error and not at.get("progress")


def test_selection_default_shows_curves_verdict_and_downloads():
    at = open_page("pages/selection.py")
    ok(at)
    assert texts(at.title) == ["Which dimensions matter"]
    assert any("highest-variance dimensions" in s for s in texts(at.info))
    assert len(charts(at)) == 1
    assert at.selectbox(key="w_score").value == "knn_accuracy"
    downloads = list(at.get("download_button"))
    assert len(downloads) == 2
    assert not at.error and not at.get("progress")  # read from the warm cache
    at.slider(key="w_topk").set_value(3).run()
    ok(at)
    assert any(c.startswith("Top 3 of 384: ") for c in texts(at.caption))
    at.selectbox(key="w_score").set_value("ari").run()
    ok(at)
    assert len(charts(at)) == 1


def test_selection_on_a_small_corpus_adapts_its_neighbours_and_takes_them_from_the_widget():
    """8 texts of 4 labels once failed with 'n_neighbors must be between 1 and 7; got 10'."""
    texts_ = [
        "The cat sat on the mat",
        "Dogs love long walks",
        "Stocks fell sharply today",
        "The bank raised interest rates",
        "It will rain tomorrow",
        "A sunny and warm afternoon",
        "The team won the final",
        "He scored two goals",
    ]
    corpus = Corpus("small.csv", texts_, labels=["animals"] * 2 + ["finance"] * 2 + ["weather"] * 2 + ["sport"] * 2)
    at = open_page("pages/selection.py", {"corpus": "upload:small.csv"}, session={"ds_uploads": {"small.csv": corpus}})
    ok(at)
    assert not at.error
    assert at.select_slider(key="w_neighbors").value == 0  # auto
    assert any("3 nearest neighbours, not the usual 10" in s for s in texts(at.info))
    assert any("votes among the 3 cosine-nearest texts" in c for c in texts(at.caption))
    at.select_slider(key="w_neighbors").set_value(5).run()
    ok(at)
    assert at.query_params["neighbors"] == "5"
    assert any("5 nearest neighbours (as asked)" in s for s in texts(at.info))
    assert any("votes among the 5 cosine-nearest texts" in c for c in texts(at.caption))
    at.select_slider(key="w_neighbors").set_value(10).run()
    ok(at)
    errors = texts(at.error)
    assert len(errors) == 1 and "Asked for 10 nearest neighbours" in errors[0] and "at most 7" in errors[0]
    assert not charts(at)


def test_languages_default_corpus_has_no_language_column():
    at = open_page("pages/languages.py")
    ok(at)
    assert texts(at.title) == ["Languages"]
    assert any("no language column" in s for s in texts(at.info))
    at.button(key="languages_use").click().run()
    ok(at)
    assert at.query_params["corpus"] == "chatterbot-multilingual"
    # ~5,000 sampled texts are not cached here: the page asks before encoding them.
    assert any(b.key == "languages_compute" for b in at.button)
    assert any("300 texts per language" in c for c in texts(at.caption))


# --- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", INSIGHT_PAGES[:3])
def test_an_unloadable_model_shows_an_error_not_an_exception(page):
    at = open_page(page, {"model": UNLOADABLE})
    ok(at)
    errors = texts(at.error)
    assert len(errors) == 1 and "cannot be loaded here" in errors[0], errors
    assert not charts(at)


def test_languages_with_an_unloadable_model_shows_an_error():
    at = open_page("pages/languages.py", {"model": UNLOADABLE, "corpus": "chatterbot-multilingual"})
    ok(at)
    assert any("cannot be loaded here" in e for e in texts(at.error))


def test_selection_on_an_unlabeled_corpus_shows_info():
    corpus = Corpus("plain.txt", ["hello there", "how are you", "good morning", "see you later"])
    at = open_page("pages/selection.py", {"corpus": "upload:plain.txt"}, session={"ds_uploads": {"plain.txt": corpus}})
    ok(at)
    assert any("needs a labeled corpus" in s for s in texts(at.info))
    assert not charts(at) and not at.error


def test_diagnosis_says_plainly_when_the_architecture_is_not_understood(monkeypatch):
    import analysis.reports.diagnosis
    from analysis.reports.diagnosis import DiagnosisReport

    def not_understood(model, corpus_dead_dims=None, **options):
        return DiagnosisReport(
            model_path="m",
            architecture="GPT2Model",
            understood=False,
            message="GPT2Model (model_type 'gpt2') is not a known post-LayerNorm encoder.",
            final_layer=None,
            dead_dims_from_weights=[],
            evidence=[],
            weight_abs=[],
            bias_abs=[],
            threshold=1e-3,
            model_type="gpt2",
            model="m",
        )

    monkeypatch.setattr(analysis.reports.diagnosis, "diagnosis_report", not_understood)
    at = open_page("pages/diagnosis.py")
    ok(at)
    assert any("Architecture not understood" in w and "GPT2Model" in w for w in texts(at.warning))
    assert not charts(at) and not at.error


# --- post-processing -------------------------------------------------------------------------------


def test_postprocessing_switch_rerenders_every_metric():
    at = open_page("pages/geometry.py")
    before = metrics(at)
    at.selectbox(key="w_post").set_value("whiten").run()
    ok(at)
    after = metrics(at)
    assert after["Anisotropy"] != before["Anisotropy"] and after["IsoScore"] != before["IsoScore"]
    assert abs(float(after["Anisotropy"])) < 0.05  # whitening removes the common direction
    assert len(at.dataframe) == 2  # metrics table plus the before/after comparison
    comparison = at.dataframe[1].value
    assert comparison.columns.tolist() == ["metric", "none", "whiten", "change"]
    # whitening leaves anisotropy ~0, so its share is blank: a caption says why, only when one is blank
    blank = comparison["whiten"].isna().any()
    assert blank == any("share of anisotropy is undefined" in c for c in texts(at.caption))
    assert blank  # the whitened MiniLM view: anisotropy -0.0006
    assert len(charts(at)) == 3
    at.selectbox(key="w_post").set_value("none").run()
    ok(at)
    assert metrics(at)["Anisotropy"] == before["Anisotropy"] and len(at.dataframe) == 1


def test_geometry_samples_its_cosines_once_then_reads_them(monkeypatch, tmp_path):
    """The histogram's 2 x 20,000 pairs are a cached report: a rerun and a new session sample nothing."""
    import shutil

    from analysis.measures import geometry as geometry_measures

    cache = shutil.copytree(os.environ["DIMSCOPE_CACHE_DIR"], tmp_path / "cache")  # a setting no other test drew
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(cache))
    calls = []
    sample = geometry_measures.pairwise_cosine_sample
    monkeypatch.setattr(geometry_measures, "pairwise_cosine_sample", lambda *a, **k: calls.append(k) or sample(*a, **k))
    params = {"view": "raw", "post": "standardize"}
    at = open_page("pages/geometry.py", params)
    ok(at)
    assert len(charts(at)) == 3 and [k.get("center", False) for k in calls] == [False, True]
    at.run()
    ok(at)
    second = open_page("pages/geometry.py", params)
    ok(second)
    assert len(charts(second)) == 3 and len(calls) == 2  # both runs drew the histogram from the cache
