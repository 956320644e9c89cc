"""The ONNX backend against sentence-transformers: tokens, pooled vectors, statistics, side effects.

Exports go to ``settings.models_dir()`` (conftest points it at ``<project>/cache/models``, shared
between runs like the extracted packaged models), except where a test checks where files go.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis import encoding as embeddings
from analysis import pipeline
from analysis.corpora import Corpus, load_builtin_corpus
from analysis.encoding import backends, machine, onnx_backend
from analysis.errors import ModelUnavailableError, OptionError
from analysis.models import resolve_model
from analysis.pipeline.cache import EmbeddingStore

# onnxruntime is in requirements.txt: a missing install must fail here, not skip.
assert backends.onnxruntime_installed(), "onnxruntime is missing: pip install -r requirements.txt"

ROOT = Path(__file__).resolve().parent.parent

AWKWARD_TEXTS = [
    "Hello world",
    "  leading and trailing spaces  ",
    "Ünïcödé àccents, ÉMOJI 🙂 and 中文字符 together",
    "a",
    "tabs\tand\nnewlines inside",
    " ".join(["a very long text that the tokenizer must cut at the model's limit"] * 60),
    "Short.",
]


def _st(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def _st_features(model, texts):
    return model.preprocess(texts)


@pytest.fixture(scope="module")
def tiny_mpnet_dir(tmp_path_factory) -> Path:
    """A tiny MPNet (no token_type_ids input), ending in Normalize."""
    from tests.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "mpnet", arch="mpnet", dead_dims=(5,))


@pytest.mark.parametrize("which", ["minilm", "tiny_model_dir", "tiny_mpnet_dir"])
def test_tokens_match_sentence_transformers_token_for_token(which, request):
    value = request.getfixturevalue(which)
    path = value.path if hasattr(value, "path") else value
    st_model = _st(path)
    features = _st_features(st_model, AWKWARD_TEXTS)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]
    layout = onnx_backend.supported_layout(path)
    assert layout.max_seq_length == st_model.max_seq_length
    tokenizer = onnx_backend.TextTokenizer(layout, names)
    ours = tokenizer.batch_arrays(tokenizer.encode(AWKWARD_TEXTS))
    for name in names:
        np.testing.assert_array_equal(ours[name], features[name].numpy(), err_msg=name)
    assert ours["attention_mask"].shape[1] == st_model.max_seq_length  # the long text was cut


@pytest.mark.slow
def test_real_model_onnx_matches_torch_and_int8_keeps_dead_dims(minilm):
    texts = list(load_builtin_corpus("chatterbot-english").texts)[:400]
    torch_raw = embeddings.encode_raw(minilm, texts)
    fp32 = embeddings.encode_raw(minilm, texts, backend="onnx")
    np.testing.assert_allclose(fp32, torch_raw, atol=2e-5)
    int8 = embeddings.encode_raw(minilm, texts, backend="onnx-int8")
    from analysis.measures.stats import dead_dimensions, iter_row_chunks, stats_columns

    ref = stats_columns(iter_row_chunks(torch_raw, 8192), 384)["normalized"]["std"]
    got = stats_columns(iter_row_chunks(int8, 8192), 384)["normalized"]["std"]
    assert dead_dimensions(ref) == dead_dimensions(got) == [127, 223, 319]
    assert np.max(np.abs(got - ref)) < 5e-3
    # The exported files live in the models folder, not next to the packaged weights.
    exported = onnx_backend.model_file(minilm, quantized=True)
    assert exported.is_file() and minilm.path not in exported.parents


def test_tiny_models_match_torch_exactly_enough(tiny_model_dir, tiny_mpnet_dir):
    from tests.tiny_models import tiny_corpus

    texts = tiny_corpus(70, seed=2) + AWKWARD_TEXTS
    for folder, dead in ((tiny_model_dir, [3, 17]), (tiny_mpnet_dir, [5])):
        model = resolve_model(str(folder))
        torch_raw = embeddings.encode_raw(model, texts)
        onnx_raw = embeddings.encode_raw(model, texts, backend="onnx")
        np.testing.assert_allclose(onnx_raw, torch_raw, atol=1e-5)
        assert np.all(onnx_raw[:, dead] == 0)


@pytest.mark.parametrize("mode", ["cls", "max", "mean_sqrt_len_tokens", ["cls", "mean"]])
def test_every_pooling_mode_matches_sentence_transformers(mode, tiny_clean_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_clean_dir, folder)
    config_path = folder / "1_Pooling" / "config.json"
    config = {k: v for k, v in json.loads(config_path.read_text()).items() if not k.startswith("pooling_mode")}
    config["pooling_mode"] = mode
    config_path.write_text(json.dumps(config))
    from tests.tiny_models import tiny_corpus

    texts = tiny_corpus(40, seed=4)
    direct = _st(folder).encode(texts, batch_size=8, convert_to_numpy=True)  # no Normalize in this model
    model = resolve_model(str(folder))
    got = onnx_backend.encode_raw_onnx(model, texts, batch_size=8)
    np.testing.assert_allclose(got, direct, atol=1e-5)


def test_unsupported_layouts_are_refused(tmp_path):
    from tests.tiny_models import build_tiny_model

    folder = build_tiny_model(tmp_path / "dense", dense_out=16)
    with pytest.raises(ModelUnavailableError, match="torch backend"):
        onnx_backend.supported_layout(folder)


def test_pipeline_offers_only_the_measured_backends(tiny_model_dir, tmp_path):
    for backend in embeddings.OFFERED_BACKENDS:  # every one runs here, or is refused with its reason
        if (reason := backends.unavailable_reason(backend)) is None:
            pipeline.EncodeOptions(backend=backend).validate()
        else:  # only the bf16 paths, on a CPU without native bf16 (or under --cpu-bf16=no)
            assert backend in backends.BF16_BACKENDS and not machine.has_bf16(), reason
            with pytest.raises(OptionError, match=f"^'{backend}' {re.escape(reason)}; available here: "):
                pipeline.EncodeOptions(backend=backend).validate()
    for backend in ("bogus", *(b for b in backends.ONNX_BACKENDS if b not in embeddings.OFFERED_BACKENDS)):
        with pytest.raises(OptionError, match="available here"):
            pipeline.EncodeOptions(backend=backend).validate()
    store = EmbeddingStore(tmp_path / "c")
    from tests.tiny_models import tiny_corpus

    corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(150, seed=3))))
    model = resolve_model(str(tiny_model_dir))
    torch_stats = pipeline.get_stats(model, corpus, store=store, options=pipeline.EncodeOptions(backend="torch"))
    onnx_stats = pipeline.get_stats(model, corpus, store=store, options=pipeline.EncodeOptions(backend="onnx-int8"))
    assert not onnx_stats.from_cache  # its own cache entry: the key includes the backend
    assert onnx_stats.dead_dims == torch_stats.dead_dims == [3, 17]
    np.testing.assert_allclose(onnx_stats.normalized["std"], torch_stats.normalized["std"], atol=5e-3)
    fp32_stats = pipeline.get_stats(model, corpus, store=store, options=pipeline.EncodeOptions(backend="onnx"))
    assert not fp32_stats.from_cache and fp32_stats.dead_dims == [3, 17]
    np.testing.assert_allclose(fp32_stats.normalized["std"], torch_stats.normalized["std"], rtol=1e-4, atol=1e-7)


_CONTAINED = """
import sys
from analysis.models import resolve_model
from analysis.encoding.onnx_backend import encode_raw_onnx
vectors = encode_raw_onnx(resolve_model(sys.argv[1]), ["one text", "and another one"], quantized=True)
print(vectors.shape)
"""


@pytest.mark.slow
def test_onnxruntime_side_effects_stay_in_the_models_folder(tiny_model_dir, tmp_path):
    home, tmp, models = tmp_path / "home", tmp_path / "tmp", tmp_path / "models"
    for folder in (home, tmp):
        folder.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "DIMSCOPE_MODELS_DIR": str(models),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }
    run = subprocess.run(
        [sys.executable, "-c", _CONTAINED, str(tiny_model_dir)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert not (home / ".cache" / "Microsoft").exists()
    assert not (tmp / ".ses").exists()
    # Whether onnxruntime writes its cache at all depends on the environment (it did not under CI=true),
    # so only containment is asserted: nothing under the real HOME or TMPDIR.
    assert not [p for p in home.rglob("*")] and not [p for p in tmp.rglob("*")], (
        list(home.rglob("*")),
        list(tmp.rglob("*")),
    )
    exported = list((models / "onnx").glob("*/model.int8.onnx"))
    assert len(exported) == 1 and (exported[0].parent / "model.onnx").is_file()
    assert not list(Path(tiny_model_dir).rglob("*.onnx"))
