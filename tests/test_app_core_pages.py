"""Every dashboard page under streamlit.testing.v1.AppTest: defaults, switches, uploads, bad links.

All tests share one cache folder warmed once per session with all-MiniLM-L6-v2 on the default
corpus (``use_warm_cache`` points every test at it), so a page run reads the
statistics and embeddings from disk instead of encoding 1,629 texts again. When the developer's
own cache (``~/.cache/dimscope``) already holds those embeddings they are copied in; otherwise
they are computed once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus, parse_corpus_bytes
from analysis.figures import heatmap
from analysis.models import list_models
from tests.helpers import APPTEST_TIMEOUT, charts, ok, open_page, texts

PAGES = ["pages/overview.py", "pages/explore.py", "pages/dimension.py", "pages/compare.py", "pages/corpus.py"]


@pytest.fixture(autouse=True)
def use_warm_cache(fresh_cache_dir, warm_cache_dir, monkeypatch) -> Path:
    """Every test here reads the shared warm cache instead of its fresh empty one."""
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    return warm_cache_dir


def available_models() -> list[str]:
    return [a.info.short_name for a in list_models() if a.available]


# --- defaults ------------------------------------------------------------------------------------


def test_overview_opens_on_the_default_with_charts(use_warm_cache, minilm):
    from analysis.pipeline import get_stats
    from analysis.pipeline.cache import EmbeddingStore

    at = open_page("pages/overview.py")
    ok(at)
    # The encoding line names the backend auto resolved to, as the cached result records it.
    summary = get_stats(
        minilm, load_builtin_corpus(DEFAULT_CORPUS), store=EmbeddingStore(use_warm_cache)
    ).backend_summary
    assert any(f"{summary[0].upper()}{summary[1:]}." in c for c in texts(at.caption)), texts(at.caption)
    assert texts(at.title) == ["DimScope"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Dimensions"] == "384" and metrics["Dead dimensions"] == "3"
    assert "Median std (normalized)" in metrics and metrics["Texts"] == "1,629"
    assert len(charts(at)) >= 1
    # The caption names the marks the chart draws: dots on its log axis (it said "each bar").
    kinds = {
        (t["type"], t.get("mode"))
        for t in json.loads(charts(at)[0].proto.spec)["data"]
        if t.get("name") != ("1% of the median std")
    }
    assert kinds == {("scatter", "markers")}
    assert any("each dot is one dimension's standard deviation" in c for c in texts(at.caption)), texts(at.caption)
    assert any("127" in m for m in texts(at.markdown))
    links = at.get("page_link")
    assert len(links) >= 4
    assert at.query_params == {}  # the default view has a clean URL
    assert not at.error and not at.warning
    assert not at.get("progress")  # cached: no progress bar, no model load


def test_cached_results_never_load_a_model(monkeypatch):
    import analysis.encoding.torch_backend

    def no_load(resolved):
        raise AssertionError(f"a cached page loaded {resolved.name}")

    monkeypatch.setattr(analysis.encoding.torch_backend, "load_model", no_load)
    at = open_page("pages/overview.py")
    for page in PAGES[1:4]:
        at.query_params.update({"models": "all-MiniLM-L6-v2"})
        at.switch_page(page).run()
        ok(at)
        assert charts(at) and not at.error


@pytest.mark.parametrize("page", PAGES[1:])
def test_every_page_default_run(page):
    # Compare defaults to every model available here; on the default corpus that would encode
    # 1,629 texts with all-mpnet-base-v2, which test_compare_default_models covers on a small corpus.
    params = {"models": "all-MiniLM-L6-v2"} if page.endswith("compare.py") else None
    at = open_page(page, params)
    ok(at)
    assert not at.error
    if page.endswith("explore.py"):
        assert texts(at.title) == ["Explore a model"]
        assert len(charts(at)) == 3  # heatmap, spread, crowding by label
        downloads = [b.proto.label for b in at.get("download_button")]
        assert len(at.dataframe) == 2 and len(downloads) == 3  # statistics, per-label crowding, the report
        assert downloads[0] == "Download report"
        assert {m.label: m.value for m in at.metric}["Dead dimensions"] == "3"
    elif page.endswith("dimension.py"):
        assert texts(at.title) == ["Dimension detail"]
        assert at.number_input(key="w_dim").value == 0
        assert len(charts(at)) == 3  # distribution, dimension vs others, per-label means
        assert len(at.dataframe) == 2  # highest and lowest texts
    elif page.endswith("compare.py"):
        assert texts(at.title) == ["Compare models"]
        assert len(charts(at)) == 3
        assert at.dataframe[0].value["model"].tolist() == ["all-MiniLM-L6-v2"]
    elif page.endswith("corpus.py"):
        assert texts(at.title) == ["Corpus"]
        assert [u.key for u in at.file_uploader] == ["corpus_upload", "vectors_upload"] and len(charts(at)) >= 1


# --- switches and URL state ----------------------------------------------------------------------


def test_explore_widgets_are_mirrored_into_the_url():
    at = open_page("pages/explore.py")
    at.segmented_control(key="w_heat").set_value("standardized")
    at.selectbox(key="w_sort").set_value("std")
    at.selectbox(key="w_rows").set_value("corpus")
    at.toggle(key="w_log").set_value(True)
    at.radio(key="w_bars").set_value("sorted")
    at.text_input(key="w_dims").set_value("0-63, 127")
    at.run()
    ok(at)
    assert at.query_params == {
        "heat": "standardized",
        "sort": "std",
        "rows": "corpus",
        "log": "1",
        "bars": "sorted",
        "dims": "0-63,127",
    }
    assert len(charts(at)) == 3  # heatmap, spread, crowding by label
    # A bad dimension list shows an error next to the box and keeps the last good selection.
    at.text_input(key="w_dims").set_value("5-1").run()
    ok(at)
    assert any("backwards" in e for e in texts(at.error))
    assert at.query_params["dims"] == "0-63,127"


def test_explore_draws_a_screen_of_texts_unless_every_text_is_asked_for():
    at = open_page("pages/explore.py")
    ok(at)
    trace = json.loads(charts(at)[0].proto.spec)["data"][0]
    n_texts = len(load_builtin_corpus(DEFAULT_CORPUS))
    assert n_texts > heatmap.DEFAULT_MAX_ROWS and len(trace["y"]) <= heatmap.DEFAULT_MAX_ROWS
    at.toggle(key="w_full").set_value(True).run()
    ok(at)
    assert at.query_params == {"full": "1"}
    trace = json.loads(charts(at)[0].proto.spec)["data"][0]
    assert len(trace["y"]) == n_texts  # 1,629 < FULL_MAX_ROWS: every text
    assert "all 1,629 texts" in json.dumps(json.loads(charts(at)[0].proto.spec)["layout"]["title"])


def test_a_link_reproduces_the_view():
    params = {"view": "raw", "heat": "raw", "sort": "abs_mean", "metric": "variance", "threshold": "0.5", "dim": "223"}
    at = open_page("pages/explore.py", params)
    ok(at)
    assert at.sidebar.radio(key="w_view").value == "raw"
    assert at.segmented_control(key="w_heat").value == "raw"
    assert at.selectbox(key="w_sort").value == "abs_mean"
    assert at.radio(key="w_metric").value == "variance"
    assert at.number_input(key="w_threshold").value == 0.5
    assert at.query_params == params
    at.switch_page("pages/dimension.py").run()
    ok(at)
    assert at.number_input(key="w_dim").value == 223
    assert any(s.startswith("Dimension 223 · dead") for s in texts(at.subheader))


@pytest.mark.parametrize("page", PAGES)
def test_bad_query_params_fall_back_with_notes(page):
    params = {
        "model": "<script>alert(1)</script>",
        "corpus": "upload:ghost.csv",
        "dim": "-5",
        "threshold": "NaN",
        "sort": "x" * 5000,
        "dims": "0-99999999",
        "log": "perhaps",
    }
    if page.endswith("compare.py"):
        params["models"] = "all-MiniLM-L6-v2,../../x"
    at = open_page(page, params)
    ok(at)
    notes = texts(at.warning)
    assert len([n for n in notes if n.startswith("Ignored")]) >= 7, notes
    assert any("upload it again" in n for n in notes)
    assert all(len(n) < 300 for n in notes)
    assert "model" not in at.query_params and "dim" not in at.query_params  # cleaned
    assert charts(at) or page.endswith("corpus.py")


def test_model_switch_to_an_unloadable_model_shows_an_error_not_a_traceback():
    at = open_page("pages/explore.py")
    at.sidebar.selectbox(key="w_model_choice").set_value("bge-small-en-v1.5").run()
    ok(at)
    assert at.query_params["model"] == "bge-small-en-v1.5"
    errors = texts(at.error)
    assert len(errors) == 1 and "cannot be loaded here" in errors[0] and "local folder" in errors[0]
    assert not charts(at)
    for page in ("pages/overview.py", "pages/dimension.py"):
        at.switch_page(page).run()
        ok(at)
        assert any("cannot be loaded here" in e for e in texts(at.error))
    # Back to the default model: charts again.
    at.sidebar.selectbox(key="w_model_choice").set_value("all-MiniLM-L6-v2").run()
    ok(at)
    assert "model" not in at.query_params and len(charts(at)) == 3


def test_other_model_by_folder_or_hub_id():
    at = open_page("pages/explore.py")
    at.sidebar.selectbox(key="w_model_choice").set_value("__other__").run()
    at.sidebar.text_input(key="w_model_other").set_value("/no/such/folder").run()
    ok(at)
    assert at.query_params["model"] == "/no/such/folder"
    assert any("does not exist" in e for e in texts(at.error))
    at.sidebar.text_input(key="w_model_other").set_value("../../etc").run()
    ok(at)
    assert any("not a catalog name" in e.lower() for e in texts(at.sidebar.error))
    assert at.query_params["model"] == "/no/such/folder"  # the bad value was not adopted


def test_corpus_switch():
    at = open_page("pages/explore.py")
    at.sidebar.selectbox(key="w_corpus").set_value("chatterbot-hinglish").run()
    ok(at)
    assert at.query_params == {"corpus": "chatterbot-hinglish"}
    assert {m.label: m.value for m in at.metric}["Texts"] == "43"
    assert len(charts(at)) == 3  # heatmap, spread, crowding by label


# --- uploads -------------------------------------------------------------------------------------

CSV = (
    "text,topic\n"
    + "\n".join(
        f'"{t}",{"greet" if i % 2 else "other"}'
        for i, t in enumerate(
            [
                "Hello there",
                "How are you?",
                "=cmd|' /C calc'!A0",
                "I like tea",
                "What time is it?",
                "Good morning",
                "Tell me a joke",
                "Where is the station?",
                "Hello there",
                "",
                "Thank you very much",
                "See you later",
            ]
        )
    )
    + "\n"
)


def test_upload_a_csv_and_use_it_on_every_page():
    at = open_page("pages/corpus.py")
    at.file_uploader(key="corpus_upload").set_value(("mine.csv", CSV.encode(), "text/csv")).run()
    ok(at)
    # A new upload becomes the corpus of every page at once.
    assert at.query_params == {"corpus": "upload:mine.csv"}
    assert "mine.csv" in at.session_state["ds_uploads"]
    assert at.sidebar.selectbox(key="w_corpus").value == "upload:mine.csv"
    assert any("mine.csv is the corpus every page analyses now" in s for s in texts(at.success))
    assert at.selectbox(key="map_text").value == "text"
    assert at.selectbox(key="map_label").value == "topic"
    captions = " ".join(texts(at.caption))
    assert "Dropped 1 blank row" in captions and "Dropped 1 duplicate" in captions
    # Switch back to a built-in corpus in the sidebar, then pick the upload again with the button.
    at.sidebar.selectbox(key="w_corpus").set_value("chatterbot-english").run()
    at.button(key="use_upload").click().run()
    ok(at)
    assert at.query_params == {"corpus": "upload:mine.csv"}
    # A different label column updates the stored corpus.
    at.selectbox(key="map_label").set_value("(none)").run()
    ok(at)
    assert at.session_state["ds_uploads"]["mine.csv"].labels is None
    at.selectbox(key="map_label").set_value("topic").run()
    at.switch_page("pages/explore.py").run()
    ok(at)
    assert {m.label: m.value for m in at.metric}["Texts"] == "10"
    assert len(charts(at)) == 3  # heatmap, spread, crowding by label
    at.switch_page("pages/dimension.py").run()
    ok(at)
    assert len(charts(at)) == 3


def test_a_bad_upload_shows_the_reason():
    at = open_page("pages/corpus.py")
    at.file_uploader(key="corpus_upload").set_value(("data.csv", b"PK\x03\x04binary", "text/csv")).run()
    ok(at)
    assert any("ZIP" in e for e in texts(at.error))


def test_the_corpus_page_parses_an_upload_once_per_run(monkeypatch):
    """Adopting a new file (its on_change callback), its preview, its corpus and its retrieval pairs
    all read one parse of the bytes: a rerun parses once more, never three or four times."""
    from analysis.corpora import files, formats, pairs, uploads

    parses: list[str] = []
    read_table = formats.read_table

    def counting(data, filename, *args, **kwargs):
        parses.append(filename)
        return read_table(data, filename, *args, **kwargs)

    for module in (formats, files, pairs, uploads):  # every module that holds the parser by name
        monkeypatch.setattr(module, "read_table", counting)
    rows = [f"Question {i}?,Answer number {i},Sentence {i} here,{'ab'[i % 2]}" for i in range(12)]
    qa = ("query,document,text,topic\n" + "\n".join(rows)).encode()
    at = open_page("pages/corpus.py")
    assert parses == []
    at.file_uploader(key="corpus_upload").set_value(("qa.csv", qa, "text/csv")).run()
    ok(at)
    assert at.query_params == {"corpus": "upload:qa.csv"}  # adopted by the callback, from the same parse
    assert (at.selectbox(key="map_query").value, at.selectbox(key="map_document").value) == ("query", "document")
    assert (
        "qa.csv" in at.session_state["ds_pair_uploads"] and at.session_state["ds_uploads"]["qa.csv"].labels is not None
    )
    assert parses == ["qa.csv"]
    at.selectbox(key="map_label").set_value("(none)").run()
    ok(at)
    assert at.session_state["ds_uploads"]["qa.csv"].labels is None and parses == ["qa.csv"] * 2
    at.file_uploader(key="corpus_upload").set_value(("data.csv", b"PK\x03\x04binary", "text/csv")).run()
    ok(at)
    assert any("ZIP" in e for e in texts(at.error)) and parses == ["qa.csv"] * 2 + ["data.csv"]


def test_compare_default_models_on_an_uploaded_corpus():
    """The real default (every model available here) on a corpus put into session_state."""
    corpus = parse_corpus_bytes(CSV.encode(), "tiny.csv")
    at = open_page("pages/compare.py", {"corpus": "upload:tiny.csv"}, session={"ds_uploads": {"tiny.csv": corpus}})
    ok(at)
    assert not at.warning  # the URL's uploaded corpus exists in this session
    assert at.multiselect(key="w_models").value == available_models()
    summary = at.dataframe[0].value
    assert summary["model"].tolist() == available_models()
    assert set(summary["texts"]) == {10}
    assert len(charts(at)) == 3
    assert at.query_params == {"corpus": "upload:tiny.csv"}


def test_compare_asks_before_expensive_uncached_work(monkeypatch):
    """Uncached, expensive models wait for a click; the sidebar's own model never waits."""
    from dashboard import compute as _common

    monkeypatch.setattr(_common, "AUTO_COMPUTE_BUDGET", 0)
    corpus = parse_corpus_bytes(b"one small text\nanother one\na third line\n", "small.txt")
    at = open_page(
        "pages/compare.py",
        {"corpus": "upload:small.txt", "models": "all-MiniLM-L6-v2,all-mpnet-base-v2"},
        session={"ds_uploads": {"small.txt": corpus}},
    )
    ok(at)
    assert at.dataframe[0].value["model"].tolist() == ["all-MiniLM-L6-v2"]  # the sidebar model ran
    assert any("has not been run on small.txt yet" in m for m in texts(at.markdown))
    at.button(key="compute_all-mpnet-base-v2").click().run()
    ok(at)
    assert at.dataframe[0].value["model"].tolist() == ["all-MiniLM-L6-v2", "all-mpnet-base-v2"]
    assert not at.button  # nothing left to approve
    assert len(charts(at)) == 3


def test_compare_default_on_the_default_corpus_stays_fast():
    """Only cached or cheap models are computed without a click."""
    at = open_page("pages/compare.py")
    ok(at)
    assert at.multiselect(key="w_models").value == available_models()
    summary = at.dataframe[0].value
    assert "all-MiniLM-L6-v2" in summary["model"].tolist()
    for name in available_models():
        if name not in summary["model"].tolist():
            assert at.button(key=f"compute_{name}")  # e.g. all-mpnet-base-v2: waits for a click


def test_compare_lists_unloadable_models_with_their_reason():
    at = open_page("pages/compare.py", {"models": "all-MiniLM-L6-v2,bge-small-en-v1.5"})
    ok(at)
    (warning,) = [w.replace("\\", "") for w in texts(at.warning)]  # shown as written: Markdown escapes dropped
    assert warning.startswith("1 of 2 model(s) cannot be loaded here")
    assert "- **bge-small-en-v1.5**: BAAI/bge-small-en-v1.5 cannot be loaded here (offline: HF_HUB_OFFLINE" in warning
    summary = at.dataframe[0].value
    assert summary["model"].tolist() == ["all-MiniLM-L6-v2"] and summary["dead dims"].tolist() == [3]
    assert len(charts(at)) == 3
    dead = at.dataframe[-1].value  # after the summary and the variance budget
    assert dead["dim"].tolist() == [127, 223, 319]


def test_compare_with_no_model_chosen_asks_for_one():
    at = open_page("pages/compare.py", {"models": "all-MiniLM-L6-v2"})
    at.multiselect(key="w_models").set_value([]).run()
    ok(at)
    assert any("Choose one or more models" in i for i in texts(at.info))
    assert not charts(at)


def test_compare_with_only_unloadable_models_stops_with_a_hint():
    at = open_page("pages/compare.py", {"models": "bge-small-en-v1.5,org/does-not-exist"})
    ok(at)
    assert any("None of the chosen models" in i for i in texts(at.info))
    assert not charts(at)


# --- dimension detail ----------------------------------------------------------------------------


def test_dimension_jump_to_a_dead_dimension():
    at = open_page("pages/dimension.py")
    at.button(key="jump_223").click().run()
    ok(at)
    assert at.number_input(key="w_dim").value == 223
    assert at.query_params == {"dim": "223"}
    assert any(s == "Dimension 223 · dead" for s in texts(at.subheader))
    at.number_input(key="w_dim").set_value(5).run()
    ok(at)
    assert at.query_params == {"dim": "5"}


@pytest.mark.parametrize("dim", ["5000", "99999"])
def test_dimension_beyond_the_model_falls_back_and_names_the_models_range(dim):
    at = open_page("pages/dimension.py", {"dim": dim})
    ok(at)
    notes = texts(at.info) + texts(at.warning)
    assert any("does not exist" in i and "(0 to 383)" in i for i in notes), notes
    assert not any("65535" in n or "65,535" in n for n in notes)
    assert at.number_input(key="w_dim").value == 0
    assert "dim" not in at.query_params


def test_views_switch_on_every_page():
    at = open_page("pages/overview.py")
    at.sidebar.radio(key="w_view").set_value("raw").run()
    ok(at)
    assert at.query_params == {"view": "raw"}
    assert "Median std (raw)" in {m.label for m in at.metric}
    for page in PAGES[1:3]:
        at.switch_page(page).run()
        ok(at)
        assert charts(at)
    assert os.environ["DIMSCOPE_CACHE_DIR"]


def test_progress_appears_only_for_real_work():
    def script():
        import streamlit as st

        from dashboard.compute import Progress

        cached = Progress("cached")
        cached(5, 5)  # what the pipeline reports on a cache hit
        st.markdown(f"cached-bars {0 if cached.bar is None else 1}")
        work = Progress("work")
        work(0, 10)
        work(4, 10)
        scored = Progress("Scoring the selections", unit="configurations")  # not an encode: its own unit
        scored(40, 40)  # a cached report: nothing drawn
        scored(0, 1200)
        scored(1100, 1200)
        st.markdown(f"scored-bars {0 if scored.bar is None else 1}")

    at = AppTest.from_function(script, default_timeout=APPTEST_TIMEOUT).run()
    ok(at)
    bars = list(at.get("progress"))
    assert len(bars) == 2 and "encoded 4 of 10 texts" in bars[0].proto.text
    assert bars[1].proto.text == "Scoring the selections: 1,100 of 1,200 configurations"
    assert bars[1].proto.value == 91  # percent
    assert texts(at.markdown) == ["cached-bars 0", "scored-bars 1"]


# --- public demo mode -------------------------------------------------------------------------------


@pytest.fixture()
def public_mode(monkeypatch):
    from dashboard import policy

    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    yield policy.current_policy()
    monkeypatch.delenv("DIMSCOPE_PUBLIC")
    policy.reset_policy()


def test_public_mode_offers_only_allow_listed_models_and_no_free_text(public_mode):
    at = open_page("pages/overview.py", {"model": "BAAI/bge-small-en-v1.5"})
    ok(at)
    options = at.sidebar.selectbox(key="w_model_choice").options
    assert [o.partition(" ")[2] for o in options] == ["all-MiniLM-L6-v2", "all-mpnet-base-v2"]  # no "Other…" either
    assert at.sidebar.selectbox(key="w_model_choice").value == "all-MiniLM-L6-v2"
    # A shared link to a model the demo does not offer falls back with a visible note.
    notes = " ".join(texts(at.warning) + texts(at.info) + texts(at.sidebar.warning) + texts(at.sidebar.info))
    assert "public demo offers only" in notes or "Ignored" in notes


def test_public_mode_caps_uploads(public_mode):
    at = open_page("pages/corpus.py")
    big = b"text\n" + b"".join(f"line number {i}\n".encode() for i in range(6000))
    at.file_uploader(key="corpus_upload").set_value(("big.csv", big, "text/csv")).run()
    ok(at)
    corpus = at.session_state["ds_uploads"]["big.csv"]
    assert len(corpus) == public_mode.max_texts == 5000
    assert corpus.report.n_over_limit == 1000


def test_an_upload_never_reaches_another_session():
    first = open_page("pages/corpus.py")
    first.file_uploader(key="corpus_upload").set_value(("private.csv", CSV.encode(), "text/csv")).run()
    ok(first)
    assert "private.csv" in first.session_state["ds_uploads"]
    # A second visitor, even one given the first visitor's link, gets the default corpus and a note.
    second = open_page("pages/explore.py", {"corpus": "upload:private.csv"})
    ok(second)
    assert "ds_uploads" not in second.session_state or "private.csv" not in second.session_state["ds_uploads"]
    assert second.sidebar.selectbox(key="w_corpus").value == DEFAULT_CORPUS
    assert {m.label: m.value for m in second.metric}["Texts"] == f"{len(load_builtin_corpus(DEFAULT_CORPUS)):,}"


def test_compare_dead_dimension_table_shows_every_std_in_one_notation():
    """Its stds span 30 orders of magnitude; "%.3g" showed 0.00000981 beside 4.56e-32 (issue 25)."""
    at = open_page("pages/compare.py", {"models": "all-MiniLM-L6-v2"})
    ok(at)
    (table,) = [d for d in at.dataframe if "std / median (normalized)" in d.value.columns]
    assert table.value["dim"].tolist() == [127, 223, 319]
    config = json.loads(table.proto.columns)
    stds = [c for c in table.value.columns if c.startswith("std")]
    # Exponent notation for all (the browser's "%g" switches to plain digits above 1e-6; checked in Chromium).
    assert len(stds) == 3 and {config[c]["type_config"]["format"] for c in stds} == {"%.2e"}
