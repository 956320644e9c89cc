"""A model's first ``auto`` request: encoded with torch fp32 at once, auto's faster path prepared in
the background (export, conversion, calibration), reported as it goes, used by the next request.

Real tiny models, real exports and calibrations in a models folder of each test's own; the encode
line is a real :class:`EncodeQueue`.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

import analysis.pipeline.embeddings
from analysis import pipeline
from analysis.corpora import Corpus
from analysis.encoding import backends, calibration, preparation
from analysis.encoding import queue as queue_module
from analysis.encoding.queue import EncodeQueue
from analysis.models import resolve_model
from analysis.pipeline import encode_options
from analysis.pipeline.cache import EmbeddingStore
from tests.helpers import run_cli
from tests.tiny_models import tiny_corpus

WAIT_S = 300  # a calibration of a tiny model takes seconds; under a loaded CI box, far longer


@pytest.fixture()
def line(monkeypatch) -> EncodeQueue:
    """One slot, as on a 2-core server, shared by the pipeline and the preparation."""
    queue = EncodeQueue(capacity=1, poll_s=0.05)
    monkeypatch.setattr(queue_module, "_QUEUE", queue)
    return queue


def _corpus(seed: int, n: int = 320) -> Corpus:
    corpus = Corpus(name=f"c{seed}", texts=tuple(dict.fromkeys(tiny_corpus(n, seed=seed))))
    assert len(corpus) >= calibration.MIN_TEXTS_TO_CALIBRATE
    return corpus


class Notes:
    """A progress callback that keeps the library's notes."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def __call__(self, done: int, total: int) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.mark.slow  # a real export and calibration of a tiny model: seconds
def test_a_first_request_encodes_with_torch_and_auto_prepares_for_the_next(
    tiny_model_dir, own_models_dir, line, tmp_path
):
    model = resolve_model(str(tiny_model_dir))
    corpus, store, progress = _corpus(21), EmbeddingStore(tmp_path / "c"), Notes()
    first = pipeline.get_stats(model, corpus, store=store, progress=progress)
    # Encoded at once with the reference, and said so before the encode started.
    assert first.backend == "torch" and not first.from_cache and first.dead_dims == [3, 17]
    assert progress.notes == [
        "auto has not prepared bert-dead on this machine yet: this request encodes with torch fp32, the reference, "
        "and a faster path (ONNX export, OpenVINO conversion, a timed calibration) is prepared in the background "
        "after it"
    ]
    assert first.backend_note is not None and "faster path for bert-dead" in first.backend_note
    # The key names torch, the backend that encoded: an explicit torch request is the same entry.
    torch_key = pipeline.stats_key(model, corpus, pipeline.EncodeOptions(backend="torch"), "raw")
    assert torch_key in store and "backend=torch" in torch_key
    explicit = pipeline.get_stats(model, corpus, store=store, options=pipeline.EncodeOptions(backend="torch"))
    assert explicit.from_cache
    np.testing.assert_array_equal(explicit.normalized_columns["std"], first.normalized_columns["std"])

    prep = preparation.current(model)
    assert prep is not None and prep.wait(WAIT_S) and prep.state == preparation.DONE, prep.describe()
    record = calibration.recorded(model)
    assert record is not None and calibration.record_path(model).is_file() and prep.chosen == record.chosen
    # Its steps were reported in order, counted against a total that holds at the end.
    whats = [step.what for step in prep.steps]
    assert whats[0] == "exporting the model to ONNX"
    if backends.openvino_installed():  # after the export, before any OpenVINO load (the order of loads is the CPU's)
        convert = whats.index("converting the ONNX export for OpenVINO")
        assert convert > 0 and not any(what.startswith("loading openvino") for what in whats[:convert])
    assert "loading torch fp32" in whats and whats[-1].startswith("timing ")
    assert [step.done for step in prep.steps] == list(range(len(prep.steps)))
    assert prep.steps[-1].total == len(prep.steps)
    assert prep.describe().startswith(
        f"auto's faster path for bert-dead is ready: {backends.backend_label(record.chosen)}"
    )
    # A result computed with torch is never stored as the choice's.
    if record.chosen != "torch":
        assert pipeline.stats_key(model, corpus, pipeline.EncodeOptions(backend=record.chosen), "raw") not in store
    # The next request uses the prepared path, with nothing more to say; the first one stays served.
    later = Notes()
    second = pipeline.get_stats(model, _corpus(22), store=store, progress=later)
    assert second.backend == record.chosen and second.backend_note is None and later.notes == []
    again = pipeline.get_stats(model, corpus, store=store)
    assert again.from_cache and again.backend == "torch" and again.backend_note is None


@pytest.mark.slow  # a real export and calibration of a tiny model: seconds
def test_the_preparation_waits_behind_the_encode_that_asked_for_it_and_later_visitors(
    tiny_model_dir, own_models_dir, line, tmp_path, monkeypatch
):
    model = resolve_model(str(tiny_model_dir))
    events: list[tuple[str, float]] = []
    real_encode, real_calibrate = analysis.pipeline.embeddings.encode_raw, calibration.calibrate

    def encode(*args, **kwargs):
        if not events:  # the first request encodes once the preparation and a second visitor queue
            deadline = time.monotonic() + 60
            while line.waiting < 2:
                assert time.monotonic() < deadline, "nobody queued behind the first encode"
                time.sleep(0.02)
        out = real_encode(*args, **kwargs)
        events.append(("encoded", time.monotonic()))
        return out

    def calibrate(m, **kwargs):
        events.append(("calibrating", time.monotonic()))
        assert line.running == 1  # holding the one slot
        return real_calibrate(m, **kwargs)

    monkeypatch.setattr("analysis.pipeline.embeddings.encode_raw", encode)
    monkeypatch.setattr(calibration, "calibrate", calibrate)
    # Another visitor's encode holds the line; the first request and then a second visitor queue.
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with line.slot(10, kind="another model"):
            held.set()
            release.wait(WAIT_S)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert held.wait(10)
    results: dict[str, pipeline.StatsResult] = {}
    store = EmbeddingStore(tmp_path / "c")

    def visit(name: str, seed: int) -> None:
        results[name] = pipeline.get_stats(model, _corpus(seed), store=store)

    threads.append(threading.Thread(target=visit, args=("first", 23)))
    threads[-1].start()
    deadline = time.monotonic() + 30
    while line.waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()  # the first request encodes; its preparation queues behind it
    while preparation.current(model) is None or preparation.current(model).state == preparation.PENDING:
        assert time.monotonic() < deadline, "the preparation never started"
        time.sleep(0.02)
    threads.append(threading.Thread(target=visit, args=("second", 24)))  # arrives after the preparation
    threads[-1].start()
    for thread in threads:
        thread.join(WAIT_S)
    assert preparation.current(model).wait(WAIT_S)
    kinds = [kind for kind, _ in events]
    # Both visitors encoded (with torch: nothing was prepared when they asked) before the calibration.
    assert kinds == ["encoded", "encoded", "calibrating"], kinds
    assert results["first"].backend == results["second"].backend == "torch"


@pytest.mark.slow  # a real export and calibration of a tiny model: seconds
def test_sessions_asking_for_the_same_new_model_prepare_it_once(
    tiny_model_dir, own_models_dir, line, tmp_path, monkeypatch
):
    model = resolve_model(str(tiny_model_dir))
    real_calibrate, calls = calibration.calibrate, []
    monkeypatch.setattr(calibration, "calibrate", lambda m, **kw: calls.append(m) or real_calibrate(m, **kw))
    results: list[pipeline.StatsResult] = []
    store = EmbeddingStore(tmp_path / "c")
    sessions = [
        threading.Thread(target=lambda seed=seed: results.append(pipeline.get_stats(model, _corpus(seed), store=store)))
        for seed in (25, 26, 27)
    ]
    for session in sessions:
        session.start()
    for session in sessions:
        session.join(WAIT_S)
    assert [r.backend for r in results] == ["torch"] * 3
    prep = preparation.current(model)
    assert prep.wait(WAIT_S) and prep.state == preparation.DONE
    assert len(calls) == 1
    # Another process that finds the record made meanwhile takes no slot in its encode line.
    calibration.forget(model)

    def no_turn():
        raise AssertionError("took a slot to read a record")

    assert calibration.calibration_for(model, turn=no_turn).chosen == prep.chosen
    assert len(calls) == 1


@pytest.mark.slow  # a real export and calibration of a tiny model: seconds
def test_a_failed_preparation_leaves_torch_working_with_a_clear_line(
    tiny_model_dir, own_models_dir, line, tmp_path, monkeypatch
):
    model = resolve_model(str(tiny_model_dir))
    calls = []

    def broken(m, **kwargs):
        calls.append(m)
        raise RuntimeError("the ONNX export ran out of disk\nsecond line of detail")

    monkeypatch.setattr(calibration, "calibrate", broken)
    store = EmbeddingStore(tmp_path / "c")
    first = pipeline.get_stats(model, _corpus(28), store=store)
    assert first.backend == "torch" and first.dead_dims == [3, 17]
    prep = preparation.current(model)
    assert prep.wait(WAIT_S) and prep.state == preparation.FAILED
    line_text = (
        "auto could not prepare a faster path for bert-dead (RuntimeError: the ONNX export ran out of disk); "
        "bert-dead encodes with torch fp32"
    )
    assert prep.describe() == line_text
    # torch keeps working, the line says why, and this process does not try again.
    progress = Notes()
    second = pipeline.get_stats(model, _corpus(29), store=store, progress=progress)
    assert second.backend == "torch" and second.dead_dims == [3, 17]
    assert second.backend_note == line_text and progress.notes == [line_text]
    assert len(calls) == 1 and not calibration.record_path(model).exists()


def test_small_requests_start_no_preparation(tiny_model_dir, own_models_dir, line, tmp_path):
    model = resolve_model(str(tiny_model_dir))
    small = Corpus(name="small", texts=tuple(dict.fromkeys(tiny_corpus(60, seed=30))))
    assert len(small) < calibration.MIN_TEXTS_TO_CALIBRATE
    store = EmbeddingStore(tmp_path / "c")
    result = pipeline.get_stats(model, small, store=store)
    assert result.backend == "torch" and result.backend_note is None and preparation.current(model) is None
    assert encode_options.known_options(model, small, store=store).backend == "torch"


@pytest.mark.slow  # two CLI processes, one of them preparing auto
def test_cli_says_it_encodes_with_torch_then_prepares_and_the_next_run_uses_it(
    tiny_model_dir, own_models_dir, tmp_path, fresh_cache_dir
):
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(_corpus(31).texts) + "\n")
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir), "DIMSCOPE_MODELS_DIR": str(own_models_dir)}
    args = ("stats", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--format", "json")
    first = run_cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["backend"] == "torch"
    err = first.stderr
    assert "note: auto has not prepared bert-dead on this machine yet: this request encodes with torch fp32" in err
    assert "auto: preparing a faster path for bert-dead for the next run" in err
    assert "auto: exporting the model to ONNX (step 1 of " in err
    assert "auto's faster path for bert-dead is ready: " in err
    # the note comes before the encode, the preparation after the result
    assert err.index("note: auto has not prepared") < err.index("Encoding") < err.index("auto: preparing")
    record = next((own_models_dir / "calibration").glob("*/*.json"))
    chosen = json.loads(record.read_text())["chosen"]
    second_corpus = tmp_path / "more.txt"
    second_corpus.write_text("\n".join(_corpus(32).texts) + "\n")
    second = run_cli("stats", "--model", str(tiny_model_dir), "--corpus", str(second_corpus), env=env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["backend"] == chosen
    assert "auto" not in second.stderr.replace("auto could not try", "")  # nothing prepared, nothing to say


@pytest.mark.slow  # a page run that encodes 1,629 texts, then a real calibration
def test_the_page_says_the_first_result_is_torch_while_auto_prepares(tiny_model_dir, own_models_dir):
    from tests.helpers import open_page, texts

    at = open_page("pages/overview.py", {"model": str(tiny_model_dir)})
    assert not at.exception and not at.error
    assert at.get("plotly_chart")  # the first chart, drawn from the torch result
    caption = next(c for c in texts(at.caption) if c.startswith(":material/speed:"))
    assert "Encoded with torch fp32, the reference." in caption
    assert "faster path for bert-dead" in caption and "until then bert-dead encodes with torch fp32" in caption
    model = resolve_model(str(tiny_model_dir))
    assert preparation.current(model).wait(WAIT_S) and calibration.recorded(model) is not None
    # Once prepared, the page has nothing more to say about it.
    at.run()
    caption = next(c for c in texts(at.caption) if c.startswith(":material/speed:"))
    assert "faster path" not in caption and "Encoded with torch fp32, the reference." in caption
