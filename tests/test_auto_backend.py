"""``backend="auto"``: the choice (with fake timings), the calibration (real, cached per machine and
model), the cache keys, the reported backend, the CLI, and unavailable backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import pipeline
from analysis.corpora import Corpus
from analysis.encoding import backends, calibration, machine, preparation
from analysis.encoding.calibration import STD_TOLERANCE, Measurement
from analysis.errors import OptionError
from analysis.models import resolve_model
from analysis.pipeline.cache import EmbeddingStore
from tests.helpers import assert_bad_input, run_cli

# --- the choice, with fake measurements and fake timings -------------------------------------------------


def _m(backend: str, speedup: float, drift: float = 1e-6, same: bool = True) -> Measurement:
    return Measurement(backend, speedup=speedup, drift=drift, same_dead_dims=same)


def test_choose_takes_the_fastest_accurate_path():
    measured = {
        "torch": _m("torch", 1.0, 0.0),
        "onnx": _m("onnx", 1.4),
        "openvino-bf16": _m("openvino-bf16", 2.3, 6e-5),
        "torch-bf16": _m("torch-bf16", 1.7, 7e-5),
    }
    assert calibration.choose(measured) == "openvino-bf16"
    # Over the tolerance, or a dead dimension lost or gained: never chosen, however fast.
    measured["openvino-bf16"] = _m("openvino-bf16", 2.3, STD_TOLERANCE * 1.01)
    assert calibration.choose(measured) == "torch-bf16"
    measured["torch-bf16"] = _m("torch-bf16", 1.7, 7e-5, same=False)
    assert calibration.choose(measured) == "onnx"
    # Exactly at the tolerance is within it; a candidate that was never compared is not.
    measured["onnx"] = Measurement("onnx", speedup=3.0, drift=None, same_dead_dims=None, note="dropped")
    measured["openvino"] = _m("openvino", 1.2, STD_TOLERANCE)
    assert calibration.choose(measured) == "openvino"
    # Nothing faster than torch: torch.
    assert calibration.choose({"torch": _m("torch", 1.0, 0.0), "onnx": _m("onnx", 0.8)}) == "torch"
    assert calibration.choose({}) == "torch"
    # A tie goes to the path expected fastest on this CPU class.
    tie = {"onnx": _m("onnx", 1.5), "openvino": _m("openvino", 1.5)}
    assert calibration.choose(tie, calibration.FP32_ORDER) == "onnx"


def test_candidates_follow_cpu_features_and_never_include_int8():
    everything = backends.OFFERED_BACKENDS
    assert calibration.candidates(everything, bf16=True) == ["openvino-bf16", "torch-bf16", "onnx", "openvino", "torch"]
    assert calibration.candidates(everything, bf16=False) == ["onnx", "openvino", "torch"]
    assert calibration.candidates(("auto", "torch"), bf16=True) == ["torch"]


class FakeClock:
    """Two clocks (CPU, wall) that advance only when a fake runner works."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0

    def clocks(self):
        return (lambda: self.cpu, lambda: self.wall)


def _fake_runners(clock: FakeClock, per_text: dict[str, float], noise: dict[str, float], calls: list[str]):
    """Runners whose vectors are a fixed matrix plus per-backend noise, and whose CPU cost is per_text."""
    rng = np.random.default_rng(0)
    base = {}

    def make(name):
        def run(texts):
            calls.append(name)
            clock.cpu += per_text[name] * len(texts)
            clock.wall += per_text[name] * len(texts) * 1.7  # a busy machine: wall time is longer
            rows = []
            for t in texts:
                if t not in base:
                    row = rng.normal(0, 1, 48)
                    row[[7, 30]] = 1e-7  # two dead dimensions
                    base[t] = row.astype(np.float32)
                rows.append(base[t] + np.float32(noise[name]) * rng.normal(0, 1, 48).astype(np.float32))
            return np.stack(rows)

        return run

    return {name: make(name) for name in per_text}


def test_calibration_with_fake_timings_rotates_drops_and_chooses():
    clock, calls = FakeClock(), []
    per_text = {"openvino-bf16": 0.004, "torch-bf16": 0.0055, "onnx": 0.007, "openvino": 0.0075, "torch": 0.01}
    noise = {"openvino-bf16": 1e-3, "torch-bf16": 1e-3, "onnx": 0.0, "openvino": 0.0, "torch": 0.0}
    runners = _fake_runners(clock, per_text, noise, calls)
    texts = [f"text {i}" for i in range(256)]
    timings, vectors, notes = calibration.run_interleaved(runners, texts, clocks=clock.clocks())
    # Every chunk ran every active runner, the order rotating from chunk to chunk.
    first_chunk = calls[:5]
    assert first_chunk == list(runners)
    assert calls[5:8] == ["torch-bf16", "torch", "openvino-bf16"]  # chunk 2: onnx and openvino dropped
    # After the first chunk, what is 1.5x behind the fastest stops (onnx 1.43x, openvino 1.33x vs 2.5x).
    assert set(notes) == {"onnx", "openvino"} and set(vectors) == {"openvino-bf16", "torch-bf16", "torch"}
    measured = calibration.summarize(timings, vectors, notes)
    assert measured["openvino-bf16"].speedup == pytest.approx(2.5)
    assert measured["torch-bf16"].speedup == pytest.approx(10 / 5.5)
    assert measured["openvino-bf16"].wall_speedup == pytest.approx(2.5)
    assert measured["torch"].drift == 0.0 and measured["onnx"].drift is None
    assert 0 < measured["openvino-bf16"].drift < STD_TOLERANCE and measured["openvino-bf16"].same_dead_dims
    assert calibration.choose(measured) == "openvino-bf16"


def test_calibration_with_fake_timings_refuses_a_fast_lossy_path(tiny_clean_dir):
    clock, calls = FakeClock(), []
    per_text = {"openvino-bf16": 0.002, "onnx": 0.007, "torch": 0.01}
    noise = {"openvino-bf16": 0.2, "onnx": 0.0, "torch": 0.0}  # fast, but its std drifts far
    runners = _fake_runners(clock, per_text, noise, calls)
    model = resolve_model(str(tiny_clean_dir))
    result = calibration.calibrate(model, runners=runners, texts=[f"t{i}" for i in range(128)], clocks=clock.clocks())
    lossy = result.measurements["openvino-bf16"]
    assert lossy.drift is None and "stopped after 1 of 2 chunks: normalized std off by" in lossy.note
    # it did not push out onnx, the fastest accurate path (1.43x, below 5x / 1.5)
    assert result.measurements["onnx"].accurate and calls.count("onnx") == 2
    assert result.chosen == "onnx" and result.fingerprint == model.fingerprint
    assert result.n_texts == 128 and result.machine_id == machine.machine_id()
    back = calibration.Calibration.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result  # the record round-trips through JSON


# --- the real calibration, cached per machine and model ------------------------------------------------


def test_real_calibration_is_recorded_once_and_read_back_without_timing(tiny_model_dir, own_models_dir, monkeypatch):
    model = resolve_model(str(tiny_model_dir))
    assert calibration.recorded(model) is None
    assert calibration.resolve_backend(model, "auto", calibrate=False) is None  # unknown: nothing loaded
    before = backends.loaded_backends(model)
    chosen = calibration.resolve_backend(model, "auto")
    # What was loaded only to compare is released: at most the choice (and what shares its model) stays.
    kept = backends.loaded_backends(model) - before
    assert kept <= {chosen, *calibration.SHARES_MODEL.get(chosen, ())}, kept
    record = calibration.recorded(model)
    assert record is not None and chosen == record.chosen != "auto"
    path = calibration.record_path(model)
    assert path.is_file() and path.parent.parent == own_models_dir / "calibration"
    assert path.parent.name == machine.machine_id()
    winner = record.measurements[chosen]
    assert winner.drift is not None and winner.drift <= STD_TOLERANCE and winner.same_dead_dims
    assert winner.speedup == max(m.speedup for m in record.measurements.values() if m.accurate and m.speedup)
    tried = calibration.candidates(backends.available_backends(), machine.has_bf16())
    assert {name for name, m in record.measurements.items() if m.speedup is not None} == set(tried)
    assert set(record.measurements) == set(tried) | _refused_here()
    if not machine.has_bf16():  # the branch this CPU (or the forced answer) takes
        assert chosen not in backends.BF16_BACKENDS

    # A second call, in this process or a new one (no memory), does not time anything again.
    def no_timing(*args, **kwargs):
        raise AssertionError("calibrated twice")

    monkeypatch.setattr(calibration, "run_interleaved", no_timing)
    assert calibration.resolve_backend(model, "auto") == chosen
    calibration.forget(model)
    assert calibration.resolve_backend(model, "auto") == chosen
    # A damaged record is ignored (and replaced by the next calibration), never trusted.
    path.write_text("{not json")
    calibration.forget(model)
    assert calibration.recorded(model) is None


def test_auto_resolves_in_keys_results_and_json(tiny_model_dir, own_models_dir, tmp_path):
    from tests.tiny_models import tiny_corpus

    model = resolve_model(str(tiny_model_dir))
    corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=3))))  # enough to calibrate
    store = EmbeddingStore(tmp_path / "c")
    calibration.calibration_for(model)  # prepared, as after a first request (see test_auto_preparation.py)
    auto = pipeline.get_stats(model, corpus, store=store)
    chosen = calibration.recorded(model).chosen
    assert auto.backend == chosen != "auto"
    drift, speedup = auto.backend_drift, auto.backend_speedup
    if chosen == "torch":
        assert (drift, speedup) == (0.0, 1.0)
    else:
        assert drift <= STD_TOLERANCE and speedup > 1
    report = auto.to_json_dict()
    assert (report["backend"], report["backend_drift"], report["backend_speedup"]) == (chosen, drift, speedup)
    assert auto.backend_summary.startswith(f"encoded with {backends.backend_label(chosen)}")
    # The key names the resolved backend: auto and its choice share one entry ...
    explicit = pipeline.get_stats(model, corpus, store=store, options=pipeline.EncodeOptions(backend=chosen))
    assert explicit.from_cache and explicit.backend == chosen
    auto_key = pipeline.stats_key(model, corpus, pipeline.EncodeOptions(), "raw")
    assert auto_key == pipeline.stats_key(model, corpus, pipeline.EncodeOptions(backend=chosen), "raw")
    assert f"backend={chosen}" in auto_key and "backend=auto" not in auto_key
    # ... and every other backend has its own.
    keys = {
        pipeline.stats_key(model, corpus, pipeline.EncodeOptions(backend=b), "raw") for b in backends.OFFERED_BACKENDS
    }
    assert len(keys) == len(backends.OFFERED_BACKENDS) - 1
    other = "torch" if chosen != "torch" else "onnx"
    again = pipeline.get_stats(model, corpus, store=store, options=pipeline.EncodeOptions(backend=other))
    assert not again.from_cache and again.backend == other and again.dead_dims == auto.dead_dims == [3, 17]
    np.testing.assert_allclose(again.normalized["std"], auto.normalized["std"], atol=STD_TOLERANCE)
    emb = pipeline.get_embeddings(model, corpus, store=store)
    assert emb.from_cache and emb.backend == chosen


def test_a_cached_auto_result_needs_no_calibration_and_no_encoding(
    tiny_model_dir, own_models_dir, tmp_path, monkeypatch
):
    from tests.tiny_models import tiny_corpus

    model = resolve_model(str(tiny_model_dir))
    corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=8))))
    store = EmbeddingStore(tmp_path / "c")
    calibration.calibration_for(model)
    first = pipeline.get_stats(model, corpus, store=store)
    assert first.backend == calibration.recorded(model).chosen
    calibration.forget(model)  # as in a new process: only the record on disk remains

    def forbidden(*args, **kwargs):
        raise AssertionError("a cached auto request calibrated or encoded")

    monkeypatch.setattr(calibration, "calibrate", forbidden)
    monkeypatch.setattr("analysis.pipeline.embeddings.encode_raw", forbidden)
    again = pipeline.get_stats(model, corpus, store=store)
    assert again.from_cache and again.backend == first.backend
    assert pipeline.cached_embeddings(model, corpus, store=store) is not None


def test_results_cached_on_another_machine_are_served_without_calibrating(
    tiny_model_dir, own_models_dir, tmp_path, monkeypatch
):
    """A Docker image built on one CPU and run on another: the precomputed answers stay served."""
    from tests.tiny_models import tiny_corpus

    model = resolve_model(str(tiny_model_dir))
    corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=12))))
    store = EmbeddingStore(tmp_path / "c")
    calibration.calibration_for(model)
    built = pipeline.get_stats(model, corpus, store=store)
    path = calibration.record_path(model)
    elsewhere = path.parent.parent / "0123456789abcdef" / path.name  # the build machine's record
    elsewhere.parent.mkdir()
    record = json.loads(path.read_text())
    elsewhere.write_text(json.dumps({**record, "machine_id": "0123456789abcdef"}))
    path.unlink()
    calibration.forget(model)
    real_calibrate, calls = calibration.calibrate, []
    monkeypatch.setattr(calibration, "calibrate", lambda m, **kw: calls.append(m) or real_calibrate(m, **kw))
    served = pipeline.get_stats(model, corpus, store=store)
    assert served.from_cache and served.backend == built.backend and calls == []
    if built.backend != "torch":  # the drift holds anywhere; the speed was measured elsewhere
        assert served.backend_drift == built.backend_drift and served.backend_speedup is None
    assert pipeline.cached_embeddings(model, corpus, store=store) is not None
    # Something new is encoded with torch fp32 while this machine's own choice is prepared, once.
    fresh = Corpus(name="new", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=13))))
    computed = pipeline.get_stats(model, fresh, store=store)
    assert computed.backend == "torch" and computed.backend_note is not None
    assert preparation.current(model).wait(120) and preparation.current(model).state == preparation.DONE
    assert len(calls) == 1 and path.is_file()


def test_small_requests_use_torch_until_a_calibration_exists(tiny_model_dir, own_models_dir, tmp_path):
    """Calibrating costs more than encoding a few texts: small requests do not start one."""
    from tests.tiny_models import tiny_corpus

    model = resolve_model(str(tiny_model_dir))
    store = EmbeddingStore(tmp_path / "c")
    small = Corpus(name="small", texts=tuple(dict.fromkeys(tiny_corpus(40, seed=15))))
    assert len(small) < calibration.MIN_TEXTS_TO_CALIBRATE
    first = pipeline.get_stats(model, small, store=store)
    assert first.backend == "torch" and calibration.recorded(model) is None
    assert preparation.current(model) is None and first.backend_note is None  # nothing prepared for it
    assert (first.backend_drift, first.backend_speedup) == (0.0, 1.0)
    large = Corpus(name="large", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=16))))
    assert pipeline.get_stats(model, large, store=store).backend == "torch"  # while auto prepares
    assert preparation.current(model).wait(120)
    larger = Corpus(name="larger", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=19))))
    calibrated = pipeline.get_stats(model, larger, store=store)
    assert calibrated.backend == calibration.recorded(model).chosen
    # The small corpus stays served from its torch entry (torch is always within tolerance).
    again = pipeline.get_stats(model, small, store=store)
    assert again.from_cache and again.backend == "torch"


def _refused_here() -> set[str]:
    """The lossless paths this machine cannot run: a calibration record lists each with the reason."""
    return {
        b
        for b in backends.OFFERED_BACKENDS
        if b not in ("auto", *backends.LOSSY_BACKENDS) and backends.unavailable_reason(b)
    }


def test_auto_without_onnxruntime_and_openvino_uses_what_is_installed_and_says_so(
    tiny_model_dir, own_models_dir, tmp_path, monkeypatch, played_bf16
):
    """A plain ``pip install dimscope`` has neither runtime: auto still works, on the torch paths; on a
    CPU with native bf16 it also times torch bf16, on one without it never tries it and says why."""
    from tests.tiny_models import tiny_corpus

    assert backends.missing_runtimes_note() is None  # this machine has both (requirements.txt)
    monkeypatch.setattr(backends, "onnxruntime_installed", lambda: False)
    monkeypatch.setattr(backends, "openvino_installed", lambda: False)
    assert backends.missing_runtimes_note() == (
        "auto could not try onnxruntime or openvino: not installed (pip install -r requirements.txt)"
    )
    assert set(backends.available_backends()) <= {"auto", "torch", "torch-bf16"}
    model = resolve_model(str(tiny_model_dir))
    corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=18))))
    record = calibration.calibration_for(model)
    result = pipeline.get_stats(model, corpus, store=EmbeddingStore(tmp_path / "c"))
    measured = {name for name, m in record.measurements.items() if m.speedup is not None}
    assert measured == ({"torch", "torch-bf16"} if played_bf16 else {"torch"})
    notes = {name: m.note for name, m in record.measurements.items() if name not in measured}
    runtime = "not a candidate: needs {} (pip install -r requirements.txt)"
    cpu = "not a candidate: needs a CPU with native bf16 (avx512_bf16 or AMX)"
    assert notes == {
        "onnx": runtime.format("onnxruntime"),
        "openvino": runtime.format("openvino"),
        "openvino-bf16": runtime.format("openvino"),  # the first missing piece is the one said
        **({} if played_bf16 else {"torch-bf16": cpu}),
    }
    assert result.backend == record.chosen and result.dead_dims == [3, 17]
    assert played_bf16 or result.backend == "torch"


def test_auto_still_works_when_the_models_folder_is_unusable(tiny_model_dir, tmp_path, monkeypatch):
    from tests.tiny_models import tiny_corpus

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models folder should be")
    monkeypatch.setenv("DIMSCOPE_MODELS_DIR", str(blocker))
    monkeypatch.setattr(calibration, "_MEMO", {})
    model = resolve_model(str(tiny_model_dir))
    for loaded in backends.loaded_backends(model):  # earlier tests' copies came from a usable folder
        backends.release(model, loaded)
    corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(320, seed=14))))
    result = pipeline.get_stats(model, corpus, store=EmbeddingStore(tmp_path / "c"))
    assert result.dead_dims == [3, 17] and result.backend == "torch"  # while auto prepares
    assert preparation.current(model).wait(120) and preparation.current(model).state == preparation.DONE
    record = calibration.recorded(model)  # kept in this process only
    assert record is not None and not calibration.record_path(model).exists()
    assert "failed to load" in record.measurements["onnx"].note  # its export had nowhere to go


def test_real_minilm_auto_keeps_torch_statistics(minilm, tmp_path):
    """The real model on this CPU: auto's choice holds the tolerance against a fresh torch fp32 run."""
    from analysis.corpora import load_builtin_corpus

    texts = tuple(dict.fromkeys(load_builtin_corpus("chatterbot-english").texts))[:300]
    corpus = Corpus(name="english-300", texts=texts)
    store = EmbeddingStore(tmp_path / "c")
    calibration.calibration_for(minilm)  # prepared (a no-op where the models folder has its record)
    auto = pipeline.get_stats(minilm, corpus, store=store)
    torch_stats = pipeline.get_stats(minilm, corpus, store=store, options=pipeline.EncodeOptions(backend="torch"))
    assert auto.backend != "auto" and auto.backend not in backends.LOSSY_BACKENDS
    assert auto.dead_dims == torch_stats.dead_dims == [127, 223, 319]
    drift = float(np.max(np.abs(auto.normalized["std"] - torch_stats.normalized["std"])))
    assert drift <= STD_TOLERANCE
    if auto.backend != "torch":  # a path other than the reference only for a measured speedup
        assert auto.backend_speedup is not None and auto.backend_speedup > 1.0
    if not machine.has_bf16():  # this CPU (or the forced answer) has no native bf16: never a bf16 path
        assert auto.backend not in backends.BF16_BACKENDS


# --- options, availability and the CLI ----------------------------------------------------------------


def test_bf16_backends_follow_the_cpu(played_bf16):
    """Offered where the CPU has native bf16; elsewhere refused with the reason, and never a candidate."""
    available = backends.available_backends()
    assert {"auto", "torch", "onnx", "onnx-int8", "openvino"} <= set(available)  # requirements.txt: both runtimes
    bf16 = sorted(backends.BF16_BACKENDS)
    if played_bf16:
        assert set(bf16) <= set(available)
        for name in bf16:
            pipeline.EncodeOptions(backend=name).validate()
    else:
        assert not set(bf16) & set(available)
        for name in bf16:
            with pytest.raises(OptionError) as refused:
                pipeline.EncodeOptions(backend=name).validate()
            assert str(refused.value) == (
                f"'{name}' needs a CPU with native bf16 (avx512_bf16 or AMX); available here: {', '.join(available)}."
            )
    assert bool(set(bf16) & set(calibration.candidates(available, machine.has_bf16()))) is played_bf16
    with pytest.raises(OptionError, match="Unknown encoding backend 'tpu'"):
        pipeline.EncodeOptions(backend="tpu").validate()


def test_the_forced_bf16_answer_reaches_the_probe_and_the_machine_id(monkeypatch):
    """DIMSCOPE_FORCE_BF16 (pytest --cpu-bf16) plays the other CPU; unset, /proc/cpuinfo decides."""
    monkeypatch.delenv(machine.FORCE_BF16_ENV, raising=False)
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # an independent reading: the first "flags" line (x86 Linux)
        line = next((x for x in cpuinfo.read_text().splitlines() if x.startswith("flags")), "flags:")
        flags = set(line.split(":", 1)[1].split())
    real = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert machine.forced_bf16() is None and machine.has_bf16() is real
    ids = {None: machine.machine_id()}
    for value, answer in (("1", True), ("0", False)):
        monkeypatch.setenv(machine.FORCE_BF16_ENV, value)
        assert machine.forced_bf16() is answer and machine.has_bf16() is answer
        assert machine.machine_summary()["bf16"] is answer
        ids[answer] = machine.machine_id()
    # a played CPU keeps its own calibrations: the real answer's id is the real machine's
    assert ids[real] == ids[None] and ids[True] != ids[False]
    monkeypatch.setenv(machine.FORCE_BF16_ENV, "maybe")
    with pytest.raises(ValueError, match="DIMSCOPE_FORCE_BF16='maybe': use 1 .bf16., 0 .no bf16., or leave it unset"):
        machine.has_bf16()


def test_describe_is_honest_about_what_was_measured():
    assert (
        calibration.describe("onnx", 4e-9, 1.9)
        == "encoded with onnx fp32, 1.9x faster than torch, std within 4e-9 of torch fp32"
    )
    assert "not calibrated" in calibration.describe("torch-bf16", None, None)
    assert "0.8x the speed of torch" in calibration.describe("openvino", 1e-8, 0.8)


@pytest.mark.slow  # over 10 s of the quick lane on shared cores
def test_cli_backend_auto_reports_the_resolved_backend(tiny_model_dir, own_models_dir, tmp_path, fresh_cache_dir):
    from tests.tiny_models import tiny_corpus

    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(dict.fromkeys(tiny_corpus(150, seed=11))) + "\n")
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    args = ("stats", "--model", str(tiny_model_dir), "--corpus", str(corpus))
    explicit = run_cli(*args, "--backend", "auto", env=env)
    assert explicit.returncode == 0, explicit.stderr
    report = json.loads(explicit.stdout)
    assert report["backend"] in backends.available_backends() and report["backend"] != "auto"
    assert report["dead_dims"] == [3, 17]
    assert f"note: encoded with {backends.backend_label(report['backend'])}" in explicit.stderr
    default = run_cli(*args, "-q", env=env)  # auto is the default: the same entry, served from the cache
    assert json.loads(default.stdout)["backend"] == report["backend"] and default.stderr == ""
    assert report["backend"] == "torch"  # 150 texts: too few to start a calibration
    assert not (own_models_dir / "calibration").exists()
    assert_bad_input(run_cli(*args, "--backend", "gpu", env=env), "Unknown encoding backend 'gpu'", "auto")


def test_machine_id_changes_with_what_decides_speed(monkeypatch):
    before = machine.machine_id()
    summary = machine.machine_summary()
    assert summary["cores"] >= 1 and "runtimes" in summary and set(summary["flags"]) <= set(machine.RELEVANT_FLAGS)
    changed = dict(machine.runtime_versions(), openvino="1.0")
    monkeypatch.setattr(machine, "runtime_versions", lambda: changed)
    assert machine.machine_id() != before and len(before) == 16


def test_dimscope_backend_sets_the_default_for_the_library_and_the_cli(monkeypatch, tmp_path):
    """An operator pins the hosted demo's backend with $DIMSCOPE_BACKEND; a bad value is one clear line."""
    from analysis.errors import OptionError
    from tests.helpers import assert_bad_input, run_cli

    monkeypatch.delenv("DIMSCOPE_BACKEND", raising=False)
    assert pipeline.EncodeOptions().backend == "auto"
    monkeypatch.setenv("DIMSCOPE_BACKEND", "torch")
    assert pipeline.EncodeOptions().backend == "torch"
    assert pipeline.EncodeOptions(backend="onnx").backend == "onnx"  # a named backend wins
    monkeypatch.setenv("DIMSCOPE_BACKEND", "gpu-magic")
    with pytest.raises(OptionError, match="gpu-magic"):
        pipeline.EncodeOptions().validate()
    corpus = tmp_path / "two.txt"
    corpus.write_text("one text\nanother text\n", encoding="utf-8")
    result = run_cli(
        "stats", "--model", "all-MiniLM-L6-v2", "--corpus", str(corpus), env={"DIMSCOPE_BACKEND": "gpu-magic"}
    )
    assert_bad_input(result, "gpu-magic")
