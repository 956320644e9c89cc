"""The OpenVINO and torch-bf16 backends against torch fp32: vectors, statistics, progress, side effects.

Each backend keeps ``encode_raw_torch``'s contract (pooled float32 before Normalize, rows in the
order given, a progress callback). The accuracy bar is the one ``auto`` uses: normalized
per-dimension std within 5e-4 of torch fp32 and the same dead dimensions; the f32 path must also
match torch vector by vector.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import encoding as embeddings
from analysis.corpora import load_builtin_corpus
from analysis.encoding import backends, machine, openvino_backend
from analysis.encoding.calibration import STD_TOLERANCE, compare_to_reference
from analysis.errors import OptionError
from analysis.models import resolve_model
from analysis.pipeline import EncodeOptions

ROOT = Path(__file__).resolve().parent.parent
# openvino is in requirements.txt: a missing install must fail, not skip. The bf16 paths follow the CPU
# (or `pytest --cpu-bf16`): offered where it has native bf16, refused with the reason elsewhere.
assert backends.openvino_installed(), "openvino is missing: pip install -r requirements.txt"

NEW_BACKENDS = ("openvino", "openvino-bf16", "torch-bf16")
AWKWARD_TEXTS = [
    "Hello world",
    "Ünïcödé àccents, ÉMOJI 🙂 and 中文字符 together",
    "a",
    " ".join(["a very long text that the tokenizer must cut at the model's limit"] * 60),
    "Short.",
]


def _normalized_std(raw: np.ndarray) -> np.ndarray:
    """An independent computation: numpy, float64."""
    unit = raw.astype(np.float64) / np.linalg.norm(raw.astype(np.float64), axis=1, keepdims=True)
    return unit.std(axis=0)


def _dead(std: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(std < 0.01 * np.median(std))]


def _offered_here(backend: str) -> bool:
    """True when this CPU offers ``backend``; else checks that it is refused as it must be (a bf16
    path on a CPU without native bf16, the real one or the one ``--cpu-bf16=no`` plays)."""
    if backend not in backends.BF16_BACKENDS or machine.has_bf16():
        assert backend in backends.available_backends(), machine.machine_summary()
        return True
    with pytest.raises(OptionError, match=rf"^'{backend}' needs a CPU with native bf16 \(avx512_bf16 or AMX\)"):
        EncodeOptions(backend=backend).validate()
    assert backend not in backends.available_backends()
    return False


def _openvino_computes_bf16() -> bool:
    """OpenVINO's own word on this CPU (it runs bf16 natively or not at all): on a CPU that only plays
    bf16 (``--cpu-bf16=yes`` without avx512_bf16) it keeps f32, and the vectors are torch's."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_this_cpu_offers_exactly_the_paths_it_can_run():
    """Every new backend on a CPU with native bf16; the f32 one alone, and the bf16 ones refused with
    the reason, on a CPU without it. Both branches on any CPU: test_auto_backend's played_bf16 tests."""
    offered = {backend for backend in NEW_BACKENDS if _offered_here(backend)}
    assert offered == (set(NEW_BACKENDS) if machine.has_bf16() else {"openvino"}), machine.machine_summary()


@pytest.fixture(scope="module")
def tiny_mpnet_dir(tmp_path_factory) -> Path:
    """A tiny MPNet (no token_type_ids input), ending in Normalize."""
    from tests.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "mpnet", arch="mpnet", dead_dims=(5,))


def test_tiny_models_every_new_backend_keeps_torch_statistics(tiny_model_dir, tiny_mpnet_dir):
    from tests.tiny_models import tiny_corpus

    texts = tiny_corpus(120, seed=2) + AWKWARD_TEXTS
    for folder, dead in ((tiny_model_dir, [3, 17]), (tiny_mpnet_dir, [5])):
        model = resolve_model(str(folder))
        reference = embeddings.encode_raw(model, texts, backend="torch")
        for backend in filter(_offered_here, NEW_BACKENDS):
            got = embeddings.encode_raw(model, texts, backend=backend)
            assert got.dtype == np.float32 and got.shape == reference.shape
            assert np.all(got[:, dead] == 0), backend  # planted dead dims stay exactly zero
            if backend == "openvino":  # f32: the same vectors
                np.testing.assert_allclose(got, reference, atol=1e-5)
            std, ref_std = _normalized_std(got), _normalized_std(reference)
            assert np.max(np.abs(std - ref_std)) <= STD_TOLERANCE, backend
            assert _dead(std) == _dead(ref_std) == dead, backend
            # bf16 really computes in bf16: not bit-equal to fp32 (else the test would prove nothing)
            if backend == "torch-bf16" or (backend == "openvino-bf16" and _openvino_computes_bf16()):
                assert 1e-6 < np.max(np.abs(got - reference)) < 1e-2, backend


@pytest.mark.slow  # over 10 s of the quick lane on shared cores
def test_real_minilm_every_new_backend_within_tolerance(minilm):
    texts = list(load_builtin_corpus("chatterbot-english").texts)[:200]
    reference = embeddings.encode_raw(minilm, texts, backend="torch")
    ref_std = _normalized_std(reference)
    assert _dead(ref_std) == [127, 223, 319]
    for backend in filter(_offered_here, NEW_BACKENDS):
        got = embeddings.encode_raw(minilm, texts, backend=backend)
        std = _normalized_std(got)
        drift = float(np.max(np.abs(std - ref_std)))
        assert drift <= STD_TOLERANCE and _dead(std) == [127, 223, 319], (backend, drift)
        # the library's own comparison (used by auto) agrees with this independent one
        ours = compare_to_reference(reference, got)
        assert ours[1] is True and abs(ours[0] - drift) < 1e-7
        if backend == "openvino":
            np.testing.assert_allclose(got, reference, atol=2e-5)
        else:
            unit_cos = np.sum(got * reference, axis=1) / (
                np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1)
            )
            assert unit_cos.min() > 0.999, backend


@pytest.mark.parametrize("backend", NEW_BACKENDS)
def test_contract_order_progress_and_empty_input(backend, tiny_model_dir):
    from tests.tiny_models import tiny_corpus

    model = resolve_model(str(tiny_model_dir))
    if not _offered_here(backend):
        return  # refused on this CPU, as checked
    texts = tiny_corpus(70, seed=9)
    calls: list[tuple[int, int]] = []
    got = embeddings.encode_raw(
        model, texts, backend=backend, chunk_size=32, batch_size=8, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(0, 70), (32, 70), (64, 70), (70, 70)]
    # rows come back in the order given, whatever the length sort inside
    single = embeddings.encode_raw(model, [texts[40], texts[3]], backend=backend)
    np.testing.assert_allclose(single, got[[40, 3]], atol=2e-3 if "bf16" in backend else 1e-5)
    empty = embeddings.encode_raw(model, [], backend=backend)
    assert empty.shape == (0, 32) and empty.dtype == np.float32


@pytest.mark.parametrize("mode", ["cls", "max", ["cls", "mean"]])
def test_openvino_pooling_modes_match_sentence_transformers(mode, tiny_clean_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_clean_dir, folder)
    config_path = folder / "1_Pooling" / "config.json"
    config = {k: v for k, v in json.loads(config_path.read_text()).items() if not k.startswith("pooling_mode")}
    config["pooling_mode"] = mode
    config_path.write_text(json.dumps(config))
    from sentence_transformers import SentenceTransformer

    from tests.tiny_models import tiny_corpus

    texts = tiny_corpus(40, seed=4)
    direct = SentenceTransformer(str(folder), device="cpu", local_files_only=True).encode(texts, batch_size=8)
    got = openvino_backend.encode_raw_openvino(resolve_model(str(folder)), texts, batch_size=8, precision="f32")
    np.testing.assert_allclose(got, direct, atol=1e-5)


def test_conversion_is_done_once_and_redone_when_the_onnx_file_changes(tiny_clean_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DIMSCOPE_MODELS_DIR", str(tmp_path / "models"))
    model = resolve_model(str(tiny_clean_dir))
    xml = openvino_backend.ensure_converted(model)
    first = xml.stat().st_mtime_ns
    assert xml.parent == openvino_backend.ir_dir(model) and (xml.parent / "model.bin").is_file()
    assert openvino_backend.ensure_converted(model).stat().st_mtime_ns == first  # reused
    meta = json.loads((xml.parent / "meta.json").read_text())
    assert meta["openvino"] and meta["input_names"]
    onnx_file = xml.parent.parent / "model.onnx"
    os.utime(onnx_file, ns=(onnx_file.stat().st_atime_ns, onnx_file.stat().st_mtime_ns + 10**9))
    assert openvino_backend.ensure_converted(model).stat().st_mtime_ns != first  # a new export: reconverted
    assert not list(tmp_path.glob("models/onnx/*/openvino.*.tmp"))


def test_compile_settings_follow_the_measurements():
    assert openvino_backend.compile_config("bf16", 2) == {
        "INFERENCE_PRECISION_HINT": "bf16",
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": "2",
        "ENABLE_CPU_PINNING": False,
    }
    assert "NUM_STREAMS" not in openvino_backend.compile_config("f32", 16)  # untested there: openvino decides
    with pytest.raises(ValueError, match="precision"):
        openvino_backend.compile_config("int8", 2)


# --- telemetry: no file outside the models folder, no network ----------------------------------------

_WATCHED = r"""
import json, os, sys
events = []
home, tmp = os.environ["HOME"], os.environ["TMPDIR"]

def audit(event, args):
    if event.startswith("socket."):
        events.append(event)
    elif event == "open" and isinstance(args[0], str) and args[0].startswith((home, tmp)):
        mode, flags = args[1], args[2]
        writes = any(c in mode for c in "wax+") if mode else flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writes:
            events.append("write:" + args[0])

sys.addaudithook(audit)
mode, model = sys.argv[1], sys.argv[2]
if mode == "project":
    from analysis.models import resolve_model
    from analysis.encoding.openvino_backend import encode_raw_openvino
    vectors = encode_raw_openvino(resolve_model(model), ["one text", "and another one"], precision="bf16")
    shape = list(vectors.shape)
else:  # a plain import and conversion, as any script would do it: the positive control
    import openvino as ov
    ov.convert_model(model)
    shape = None
telemetry = sys.modules.get("openvino_telemetry", "absent")
print(json.dumps({"events": events, "shape": shape, "telemetry": None if telemetry is None else str(telemetry)}))
"""


def _run_watched(mode: str, model: str, home: Path, tmp: Path, models: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}  # telemetry's opt-outs
    env.update(HOME=str(home), TMPDIR=str(tmp), DIMSCOPE_MODELS_DIR=str(models), PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-c", _WATCHED, mode, model], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_openvino_telemetry_is_contained(tiny_model_dir, tmp_path):
    home, tmp, models = tmp_path / "home", tmp_path / "tmp", tmp_path / "models"
    for folder in (home, tmp):
        folder.mkdir()
    report = _run_watched("project", str(tiny_model_dir), home, tmp, models)
    assert report["shape"] == [2, 32]
    assert report["telemetry"] is None  # openvino fell back to its no-op stub
    assert report["events"] == []  # no socket, no file written under HOME or TMPDIR
    assert not list(home.rglob("*")) and not list(tmp.rglob("*")), (list(home.rglob("*")), list(tmp.rglob("*")))
    assert list(models.glob("onnx/*/openvino/model.xml"))  # the IR went to the models folder

    # The positive control: the same watch sees openvino's telemetry when nothing contains it.
    onnx_file = next(models.glob("onnx/*/model.onnx"))
    plain_home = tmp_path / "plain-home"
    plain_home.mkdir()
    control = _run_watched("plain", str(onnx_file), plain_home, tmp, tmp_path / "unused")
    assert control["telemetry"] not in (None, "absent")
    written = sorted(p.name for p in plain_home.rglob("*"))
    assert "openvino_ga_cid" in written, written
    assert any(e.startswith("write:" + str(plain_home)) for e in control["events"])
