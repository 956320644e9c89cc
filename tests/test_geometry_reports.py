"""The geometry page's cosine histogram is a cached report: the same numbers as the measure on the
same view, and a second ask reads the store instead of sampling again."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.corpora import Corpus
from analysis.encoding import view_of
from analysis.errors import OptionError
from analysis.measures import geometry as geometry_measures
from analysis.measures.postprocess import apply_postprocessing
from analysis.pipeline import get_embeddings
from analysis.pipeline.cache import EmbeddingStore
from analysis.pipeline.memory_cache import MemoryStore
from analysis.reports import geometry as reports
from tests.tiny_models import tiny_corpus


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(name="tiny-cosines", texts=tuple(dict.fromkeys(tiny_corpus(90, seed=3)))[:80])


@pytest.fixture
def counted(monkeypatch) -> dict[str, int]:
    """How many times the sampler and the embeddings reader run."""
    calls = {"sample": 0, "embeddings": 0}
    sample, embeddings = geometry_measures.pairwise_cosine_sample, reports.get_embeddings

    def counting_sample(*args, **kwargs):
        calls["sample"] += 1
        return sample(*args, **kwargs)

    def counting_embeddings(*args, **kwargs):
        calls["embeddings"] += 1
        return embeddings(*args, **kwargs)

    monkeypatch.setattr(geometry_measures, "pairwise_cosine_sample", counting_sample)
    monkeypatch.setattr(reports, "get_embeddings", counting_embeddings)
    return calls


def brute_pair_cosines(x: np.ndarray, center: bool = False) -> np.ndarray:
    """Every pair i < j, row-major, from the full cosine matrix."""
    x = x.astype(np.float64)
    if center:
        x = x - x.mean(axis=0)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (unit @ unit.T)[np.triu_indices(len(x), k=1)]


@pytest.mark.parametrize("view", ["raw", "normalized"])
def test_all_pairs_match_the_cosine_matrix(tiny_clean_dir, corpus, tmp_path, view):
    """80 texts have 3,160 pairs, under the 20,000 drawn: every pair, checked against numpy."""
    store = EmbeddingStore(tmp_path / "c")
    sample = reports.cosine_sample(str(tiny_clean_dir), corpus, view=view, store=store)
    raw = get_embeddings(str(tiny_clean_dir), corpus, store=store).raw.astype(np.float64)
    x = raw if view == "raw" else raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert sample.before.shape == sample.after.shape == (80 * 79 // 2,)
    # The views are float32 (as every page sees them): agreement to float32's precision.
    np.testing.assert_allclose(sample.before, brute_pair_cosines(x), atol=1e-6)
    np.testing.assert_allclose(sample.after, brute_pair_cosines(x, center=True), atol=1e-6)
    assert (sample.view, sample.postprocessing, sample.n_pairs) == (view, "none", reports.COSINE_PAIRS)


def test_drawn_pairs_and_postprocessing_are_those_of_the_measure(tiny_clean_dir, corpus, tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    sample = reports.cosine_sample(
        str(tiny_clean_dir), corpus, postprocessing="whiten", n_pairs=500, seed=7, store=store
    )
    raw = get_embeddings(str(tiny_clean_dir), corpus, store=store).raw
    whitened = apply_postprocessing(view_of(raw, "normalized"), "whiten")
    expected = geometry_measures.pairwise_cosine_sample(whitened, n_pairs=500, seed=7)
    np.testing.assert_array_equal(sample.before, expected)
    assert sample.after.shape == (500,) and abs(float(sample.after.mean())) < 0.05  # whitened and centered


@pytest.mark.parametrize("make_store", [lambda path: EmbeddingStore(path), lambda path: MemoryStore()])
def test_a_second_ask_reads_the_store(tiny_clean_dir, corpus, tmp_path, counted, make_store):
    store = make_store(tmp_path / "c")
    first = reports.cosine_sample(str(tiny_clean_dir), corpus, postprocessing="standardize", store=store)
    assert counted == {"sample": 2, "embeddings": 1}
    second = reports.cosine_sample(str(tiny_clean_dir), corpus, postprocessing="standardize", store=store)
    assert counted == {"sample": 2, "embeddings": 1}  # nothing encoded, read or sampled again
    np.testing.assert_array_equal(second.before, first.before)
    np.testing.assert_array_equal(second.after, first.after)
    # Each setting is its own entry: another view, post-processing or seed samples anew.
    reports.cosine_sample(str(tiny_clean_dir), corpus, view="raw", postprocessing="standardize", store=store)
    reports.cosine_sample(str(tiny_clean_dir), corpus, postprocessing="none", store=store)
    reports.cosine_sample(str(tiny_clean_dir), corpus, postprocessing="standardize", seed=1, store=store)
    assert counted["sample"] == 8


def test_a_damaged_entry_is_sampled_again_to_the_same_numbers(tiny_clean_dir, corpus, tmp_path, counted):
    store = EmbeddingStore(tmp_path / "c")
    first = reports.cosine_sample(str(tiny_clean_dir), corpus, store=store)
    store._cache._sql("UPDATE Cache SET value = ? WHERE key LIKE '%geometry-cosines%'", (b"garbage",))
    again = reports.cosine_sample(str(tiny_clean_dir), corpus, store=store)
    assert counted["sample"] == 4
    np.testing.assert_array_equal(again.before, first.before)


def test_bad_settings_are_refused_before_any_work(tiny_clean_dir, corpus, tmp_path, counted):
    store = EmbeddingStore(tmp_path / "c")
    with pytest.raises(OptionError, match="view"):
        reports.cosine_sample(str(tiny_clean_dir), corpus, view="standardized", store=store)
    with pytest.raises(OptionError, match="post-processing"):
        reports.cosine_sample(str(tiny_clean_dir), corpus, postprocessing="pca", store=store)
    assert counted == {"sample": 0, "embeddings": 0}
