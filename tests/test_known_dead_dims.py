"""The reported dead dimensions, end to end through the CLI, on a held-out corpus.

About 2,000 WordNet glosses sampled with a seed no other test uses, written to a plain
text file, so the corpus goes through the upload path too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import held_out_glosses, run_cli

pytestmark = pytest.mark.slow  # real models on 2,000 held-out texts, through the CLI

HELD_OUT_SEED = 20261127


@pytest.fixture(scope="module")
def held_out_file(tmp_path_factory) -> Path:
    texts = held_out_glosses(45, seed=HELD_OUT_SEED)
    assert 1800 <= len(texts) <= 2200
    path = tmp_path_factory.mktemp("held-out") / "glosses.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def _stats(model: str, corpus: Path, cache: Path, *extra: str) -> dict:
    args = ("stats", "--model", model, "--corpus", str(corpus), "-q", *extra)
    result = run_cli(*args, env={"DIMSCOPE_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_minilm_dead_dims_and_normalized_std_match_direct_computation(held_out_file, fresh_cache_dir):
    report = _stats("sentence-transformers/all-MiniLM-L6-v2", held_out_file, fresh_cache_dir, "--backend", "torch")
    assert report["dead_dims"] == [127, 223, 319] and report["backend"] == "torch"
    from sentence_transformers import SentenceTransformer

    from analysis.models import resolve_model

    texts = held_out_file.read_text(encoding="utf-8").splitlines()
    assert report["n_texts"] == len(texts)
    direct = SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2").path), device="cpu").encode(texts)
    reference_std = direct.astype(np.float64).std(axis=0)
    normalized_std = np.array([r["std"] for r in report["normalized"]])
    raw_std = np.array([r["std"] for r in report["raw"]])
    np.testing.assert_allclose(normalized_std, reference_std, atol=2e-6)
    assert not np.allclose(raw_std, normalized_std, rtol=0.5)
    # The finding's scale: dead dims below 1e-3, the rest far above.
    assert reference_std[[127, 223, 319]].max() < 1e-3
    assert np.delete(reference_std, [127, 223, 319]).min() > 0.01
    # The default, --backend auto: the same dead dims and std within the stated 5e-4.
    auto = _stats("sentence-transformers/all-MiniLM-L6-v2", held_out_file, fresh_cache_dir, "--backend", "auto")
    assert auto["dead_dims"] == [127, 223, 319] and auto["backend"] not in ("auto", "onnx-int8")
    auto_std = np.array([r["std"] for r in auto["normalized"]])
    assert np.max(np.abs(auto_std - reference_std)) <= 5e-4
    assert auto["backend_drift"] is not None and auto["backend_drift"] <= 5e-4


def test_mpnet_folder_dead_dims(held_out_file, fresh_cache_dir, mpnet_folder):
    report = _stats(str(mpnet_folder), held_out_file, fresh_cache_dir)
    assert report["dimension"] == 768
    assert report["dead_dims"] == [34, 555, 688, 756]
