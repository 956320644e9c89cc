"""The variance budget end to end through ``python -m analysis stats --format json``, on a held-out
corpus, against sentence-transformers' own normalized embeddings and numpy.

About 2,000 WordNet glosses sampled with a seed no other test uses, written to a plain text file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import held_out_glosses, run_cli

pytestmark = pytest.mark.slow  # two real models (one of them all-mpnet-base-v2) on 2,000 texts

HELD_OUT_SEED = 20261201


@pytest.fixture(scope="module")
def held_out_file(tmp_path_factory) -> Path:
    texts = held_out_glosses(45, seed=HELD_OUT_SEED)
    assert 1800 <= len(texts) <= 2200
    path = tmp_path_factory.mktemp("held-out-budget") / "glosses.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def _stats(model: str, corpus: Path, cache: Path, *backend: str) -> dict:
    result = run_cli(
        "stats", "--model", model, "--corpus", str(corpus), "--format", "json", "-q", *backend,
        env={"DIMSCOPE_CACHE_DIR": str(cache)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _check_budget(model: str, model_path: str, corpus: Path, cache: Path) -> dict:
    """``stats`` for ``model`` (as a user names it) against the model folder loaded by sentence-transformers.

    With ``--backend torch`` (the reference: sentence-transformers' own computation) every figure
    matches to 1e-5. The default ``auto`` may encode with a faster backend (bf16 on a CPU that has
    it), whose vectors differ from torch's by float rounding: its budget stays within auto's
    tolerance of the same numbers, with the same dead dimensions.
    """
    from sentence_transformers import SentenceTransformer

    report = _stats(model, corpus, cache, "--backend", "torch")
    texts = corpus.read_text(encoding="utf-8").splitlines()
    assert report["n_texts"] == len(texts) and report["backend"] == "torch"
    # The model's own output (it ends in Normalize), then numpy: population variances, ddof=0.
    x = SentenceTransformer(model_path, device="cpu").encode(texts, batch_size=32).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    mu = x.mean(axis=0)
    assert abs(report["mean_norm_sq"] - float(mu @ mu)) < 1e-5
    assert abs(report["total_variance"] - float(x.var(axis=0, ddof=0).sum())) < 1e-5
    assert abs(report["total_variance"] + report["mean_norm_sq"] - 1.0) < 1e-5
    n = len(texts)
    cosines = x @ x.T  # every pair, formed explicitly
    assert abs(report["mean_cosine"] - (cosines.sum() - np.trace(cosines)) / (n * (n - 1))) < 1e-5
    assert report["zero_rows"] == 0
    auto = _stats(model, corpus, cache)  # the default
    assert auto["dead_dims"] == report["dead_dims"]
    assert abs(auto["total_variance"] + auto["mean_norm_sq"] - 1.0) < 1e-5  # the identity holds on any backend
    assert abs(auto["mean_norm_sq"] - float(mu @ mu)) < 5e-4
    return report


def test_minilm_budget_matches_numpy(held_out_file, fresh_cache_dir, minilm):
    report = _check_budget("all-MiniLM-L6-v2", str(minilm.path), held_out_file, fresh_cache_dir)
    assert report["dimension"] == 384 and report["dead_dims"] == [127, 223, 319]


def test_mpnet_budget_matches_numpy(held_out_file, fresh_cache_dir, mpnet_folder):
    report = _check_budget(str(mpnet_folder), str(mpnet_folder), held_out_file, fresh_cache_dir)
    assert report["dimension"] == 768 and report["dead_dims"] == [34, 555, 688, 756]
