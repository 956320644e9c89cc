"""The upload path's helpers: step timings, the background model preload, and the benchmark's
attribution of the upload-to-chart window to steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import settings as timings
from analysis.encoding import encode_raw, preload
from analysis.encoding.torch_backend import loaded_model
from analysis.errors import ModelUnavailableError
from analysis.models import resolve_model
from benchmarks.bench_app import upload_steps


def test_steps_are_written_only_when_asked(tmp_path, monkeypatch):
    target = tmp_path / "steps.jsonl"
    monkeypatch.delenv(timings.TIMINGS_ENV, raising=False)
    with timings.step("quiet"):
        pass
    assert not target.exists()
    monkeypatch.setenv(timings.TIMINGS_ENV, str(target))
    with timings.step("parse", rows=3) as details:
        details["kept"] = 2

    @timings.timed("figures")
    def build(x: int) -> int:
        return x + 1

    assert build(1) == 2
    with pytest.raises(ValueError), timings.step("failing"):
        raise ValueError("a step that raises is still recorded")
    steps = timings.read_steps(target)
    assert [s["step"] for s in steps] == ["parse", "figures", "failing"]
    assert steps[0]["rows"] == 3 and steps[0]["kept"] == 2 and steps[0]["end"] >= steps[0]["start"]
    assert steps[1]["function"] == "build"
    assert all(json.loads(line) for line in target.read_text().splitlines())
    assert timings.read_steps(tmp_path / "absent.jsonl") == []


def test_preload_loads_once_in_the_background_and_the_encode_matches(tiny_model_dir):
    resolved = resolve_model(str(tiny_model_dir))
    texts = ["a first text", "the second one", "and a third text here"]
    thread = preload(resolved, "torch")
    assert thread is not None and thread.name == "dimscope-preload"
    thread.join(120)
    assert loaded_model(resolved) is not None
    assert preload(resolved, "torch") is None  # once per process
    assert preload(resolved, "no-such-backend") is None
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(tiny_model_dir), device="cpu")
    del reference[len(reference) - 1]  # the raw view: without the trailing Normalize
    expected = reference.encode(texts, convert_to_numpy=True, normalize_embeddings=False)
    np.testing.assert_allclose(encode_raw(resolved, texts), expected, rtol=1e-5, atol=1e-6)


def test_a_failing_preload_is_silent_and_the_encode_says_why(tmp_path, tiny_model_dir):
    import shutil

    folder = shutil.copytree(tiny_model_dir, tmp_path / "damaged")
    weights = next(folder.rglob("model.safetensors"))
    weights.write_bytes(b"not a safetensors file")  # resolves (the files are there), cannot load
    resolved = resolve_model(str(folder))
    thread = preload(resolved, "torch")
    assert thread is not None
    thread.join(120)
    assert not thread.is_alive() and loaded_model(resolved) is None
    assert preload(resolved, "torch") is None  # not retried in the background
    with pytest.raises(ModelUnavailableError, match="Could not load the model"):
        encode_raw(resolved, ["a text"])


def test_upload_steps_split_the_window_without_counting_the_background_load_twice():
    steps = [
        {"step": "model load", "start": 99.0, "end": 106.0},  # preloaded from the Corpus page
        {"step": "parse", "start": 101.0, "end": 101.5},
        {"step": "encode", "start": 104.0, "end": 112.0},  # waited 2 s for the load, encoded 6 s
        {"step": "truncation", "start": 112.0, "end": 112.2},
        {"step": "store", "start": 112.2, "end": 112.3},
        {"step": "stats", "start": 112.3, "end": 112.4},
        {"step": "figures", "start": 112.4, "end": 112.6, "sent": "explore_heatmap"},
        {"step": "figures", "start": 112.6, "end": 112.7, "sent": "explore_bars"},
    ]
    out = upload_steps(steps, upload_at=100.0, chart_at=114.0)
    assert out["model load"] == pytest.approx(2.0)
    assert out["encode"] == pytest.approx(6.0)
    assert out["parse"] == pytest.approx(0.5)
    assert out["figures"] == pytest.approx(0.3)
    assert out["browser draw"] == pytest.approx(114.0 - 112.6)
    assert sum(out.values()) == pytest.approx(14.0)
    assert out["other"] == pytest.approx(14.0 - 0.5 - 2 - 6 - 0.2 - 0.1 - 0.1 - 0.3 - 1.4)


def test_the_corpus_page_preloads_the_sidebar_model_and_the_other_pages_do_not(monkeypatch):
    import dashboard.compute
    from tests.helpers import ok, open_page

    started: list[tuple[str, str]] = []
    monkeypatch.setattr(
        dashboard.compute, "preload", lambda resolved, backend: started.append((resolved.fingerprint, backend))
    )
    at = open_page("pages/overview.py")
    ok(at)
    at.switch_page("pages/explore.py").run()
    ok(at)
    assert started == []  # a cached page never starts loading a model
    at.switch_page("pages/corpus.py").run()
    ok(at)
    # The backend "auto" will encode with: this machine's recorded choice, else torch fp32 (which a
    # first calibration loads too).
    from analysis.encoding import calibration

    model = resolve_model("all-MiniLM-L6-v2")
    expected = calibration.resolve_backend(model, "auto", calibrate=False) or calibration.REFERENCE
    assert started and set(started) == {(model.fingerprint, expected)}
