"""The variance budget on the dashboard, under AppTest: the spread-scale control on Compare and
Explore (widget <-> URL), Compare's explanation panel, and Explore's crowding by label."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus
from analysis.measures.crowding import label_crowding
from analysis.pipeline import get_embeddings, get_stats
from analysis.pipeline.cache import EmbeddingStore
from tests.helpers import charts, ok, open_page, texts


@pytest.fixture(autouse=True)
def use_warm_cache(fresh_cache_dir, warm_cache_dir, monkeypatch) -> Path:
    """Every test here reads the shared warm cache (all-MiniLM-L6-v2 on the default corpus)."""
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    return warm_cache_dir


@pytest.fixture(scope="module")
def minilm_default(warm_cache_dir, minilm):
    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    store = EmbeddingStore(warm_cache_dir)
    result = get_stats(minilm, corpus, store=store)
    raw = get_embeddings(minilm, corpus, store=store).raw
    store.close()
    return result, raw, corpus


def decode(value) -> np.ndarray:
    """A plotly data array from a chart spec: a list, or a typed-array spec {dtype, bdata, shape}."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return array.reshape([int(n) for n in str(value["shape"]).split(",")]) if "shape" in value else array
    return np.asarray(value, dtype=float)


def specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in charts(at)]


def titled(at, fragment: str) -> dict:
    """The one chart whose title holds ``fragment``."""
    found = [s for s in specs(at) if fragment in json.dumps(s["layout"].get("title", {}), ensure_ascii=False)]
    assert len(found) == 1, [s["layout"].get("title") for s in specs(at)]
    return found[0]


def frame_with(at, column: str):
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1
    return found[0]


@pytest.mark.slow
def test_compare_scale_travels_in_the_url_and_titles_the_axes(minilm_default):
    result, _, _ = minilm_default
    at = open_page("pages/compare.py", {"models": "all-MiniLM-L6-v2", "scale": "sqrt_d"})
    ok(at)
    assert at.segmented_control(key="w_scale").value == "sqrt_d"
    curves = titled(at, "raw and normalized side by side")
    assert curves["layout"]["yaxis2"]["title"]["text"].startswith("std × √d (1 = an isotropic share)")
    assert curves["layout"]["yaxis"]["title"]["text"].startswith("std × √d")
    # The normalized curve is std x sqrt(384): its median is the budget's median std x sqrt(d).
    normalized = [t for t in curves["data"] if t.get("xaxis") == "x2" and t["mode"] == "lines"][0]
    median = result.budget.median_std * np.sqrt(384)
    assert np.median(decode(normalized["customdata"])[:, 1]) == pytest.approx(median, rel=1e-6)
    box = titled(at, "Std × √d per dimension (normalized view)")
    assert box["layout"]["yaxis"]["title"]["text"].startswith("std × √d (1 = an isotropic share)")
    # The control writes the URL; "as is" is the default and leaves it clean.
    at.segmented_control(key="w_scale").set_value("share").run()
    ok(at)
    assert at.query_params == {"models": "all-MiniLM-L6-v2", "scale": "share"}
    assert titled(at, "raw and normalized side by side")["layout"]["yaxis2"]["title"]["text"].startswith(
        "share of the total variance"
    )
    at.segmented_control(key="w_scale").set_value("as_is").run()
    ok(at)
    assert at.query_params == {"models": "all-MiniLM-L6-v2"}


def test_compare_bad_scale_in_a_link_falls_back_with_a_note():
    at = open_page("pages/compare.py", {"models": "all-MiniLM-L6-v2", "scale": "<b>log</b>"})
    ok(at)
    assert any("Ignored `scale=<b>log</b>`" in w and "as_is, sqrt_d, share" in w for w in texts(at.warning))
    assert at.segmented_control(key="w_scale").value == "as_is"
    assert "scale" not in at.query_params


def test_compare_explanation_panel_shows_the_budget(minilm_default):
    result, _, _ = minilm_default
    at = open_page("pages/compare.py", {"models": "all-MiniLM-L6-v2"})
    ok(at)
    assert "Why the spreads differ: the variance budget" in texts(at.subheader)
    paragraph = next(m for m in texts(at.markdown) if "1 − ‖μ‖²" in m)
    assert "1/d" in paragraph or "fewer dimensions" in paragraph
    assert "GIST" not in paragraph  # only models compared here are named
    table = frame_with(at, "‖μ‖²")
    row = table.iloc[0]
    b = result.budget
    assert row["model"] == "all-MiniLM-L6-v2" and row["d"] == 384
    assert row["‖μ‖²"] == pytest.approx(b.mean_norm_sq) and row["total variance"] == pytest.approx(b.total_variance)
    assert row["‖μ‖² + total"] == pytest.approx(1.0, abs=1e-6)
    assert row["mean cosine"] == pytest.approx(b.mean_cosine) and row["effective dims"] == pytest.approx(
        b.effective_dims
    )
    assert not [m for m in texts(at.markdown) if "median std is" in m]  # one model: nothing to compare


def test_compare_explains_the_ratio_of_two_models(tiny_model_dir):
    """all-MiniLM-L6-v2 (384 dims) against a tiny 32-dim model: one sentence, d = 12x."""
    at = open_page("pages/compare.py", {"models": f"all-MiniLM-L6-v2,{tiny_model_dir}", "scale": "sqrt_d"})
    ok(at)
    assert not frame_with(at, "‖μ‖²")["model"].tolist()[1:]  # the folder model waits for a click
    at.button(key=f"compute_{tiny_model_dir}").click().run()
    ok(at)
    table = frame_with(at, "‖μ‖²")
    assert table["d"].tolist() == [384, 32]
    np.testing.assert_allclose(table["‖μ‖²"] + table["total variance"], 1.0, atol=1e-6)
    sentences = [m for m in texts(at.markdown) if "median std is" in m]
    assert len(sentences) == 1, sentences
    assert sentences[0].startswith(f"- {tiny_model_dir}'s median std is")
    assert "(√12) from having 1/12 of the dimensions (32 against 384)" in sentences[0]
    ratio = table["median std"].iloc[1] / table["median std"].iloc[0]
    assert f"{ratio:.2f}x all-MiniLM-L6-v2's" in sentences[0]


@pytest.mark.slow
def test_explore_scale_control_and_url(minilm_default):
    result, _, _ = minilm_default
    at = open_page("pages/explore.py", {"scale": "sqrt_d", "metric": "variance"})
    ok(at)
    assert at.segmented_control(key="w_scale").value == "sqrt_d"
    bars = titled(at, "of each dimension")
    assert bars["layout"]["yaxis"]["title"]["text"].startswith("variance × d (1 = an isotropic share)")
    shown = np.concatenate([decode(t["y"]) for t in bars["data"] if t["name"] == "dimension"])
    assert np.median(shown) == pytest.approx(
        np.median(np.delete(result.normalized_columns["variance"], result.dead_dims)) * 384, rel=1e-6
    )
    at.segmented_control(key="w_scale").set_value("share").run()
    ok(at)
    assert at.query_params == {"scale": "share", "metric": "variance"}
    assert titled(at, "of each dimension")["layout"]["yaxis"]["title"]["text"].startswith("share of the total")
    assert any("× the median variance share" in c for c in texts(at.caption))


def test_explore_splits_the_variance_by_label(minilm_default):
    _, raw, corpus = minilm_default
    at = open_page("pages/explore.py")
    ok(at)
    assert "Crowding by label" in texts(at.subheader)
    expected = label_crowding(raw, corpus.labels)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["‖μ‖² of the whole corpus"] == f"{expected.corpus_mean_norm_sq:.4f}"
    assert metrics["Variance within labels"] == f"{expected.within_total:.4f}"
    assert metrics["Variance between labels"] == f"{expected.between_total:.4f}"
    assert expected.within_total + expected.between_total == pytest.approx(expected.total_variance, abs=1e-12)
    chart = titled(at, "How tightly each label's texts crowd")
    assert len(chart["data"][0]["y"]) == len(set(corpus.labels))
    table = frame_with(at, "‖μ_c‖²")
    assert table["texts"].sum() == len(corpus)


def test_explore_without_labels_says_so():
    from analysis.corpora import parse_corpus_bytes

    corpus = parse_corpus_bytes(b"the cat sat\nstocks fell sharply\na recipe for bread\n", "plain.txt")
    assert corpus.labels is None
    at = open_page("pages/explore.py", {"corpus": "upload:plain.txt"}, session={"ds_uploads": {"plain.txt": corpus}})
    ok(at)
    assert any("no labels" in i for i in texts(at.info))
    assert len(charts(at)) == 2  # heatmap and spread; no crowding chart
