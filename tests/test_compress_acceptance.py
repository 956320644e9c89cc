"""Issue 12's check, as a user runs it: ``python -m analysis compress`` on a held-out CSV of about 700
question -> passage pairs, against an independent computation (sentence-transformers encode of both
columns, numpy ranking, sentence-transformers' own int8 quantization with the documents as calibration,
numpy sign bits and equal-bit counts for binary)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import held_out_question_pairs, run_cli

HELD_OUT_SEED = 20261212  # no other test samples with it
N_PAIRS = 700


def _rank_of_own_passage(scores: np.ndarray) -> np.ndarray:
    """0-based rank of passage i for question i: descending score, the lower index first on ties."""
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.argmax(order == np.arange(len(scores))[:, None], axis=1)


def _recall_at_10_and_mrr(scores: np.ndarray) -> tuple[float, float]:
    rank = _rank_of_own_passage(scores)
    return float(np.mean(rank < 10)), float(np.mean(1.0 / (rank + 1)))


@pytest.mark.slow  # encodes 1,400 texts twice with all-MiniLM-L6-v2
def test_compress_matches_sentence_transformers_on_held_out_question_passage_pairs(tmp_path, fresh_cache_dir, minilm):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util.quantization import quantize_embeddings

    frame = held_out_question_pairs(N_PAIRS, HELD_OUT_SEED)
    path = tmp_path / "pairs.csv"
    frame.to_csv(path, index=False)
    result = run_cli(
        "compress",
        "--model",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--corpus",
        str(path),
        "--query-column",
        "question",
        "--document-column",
        "passage",
        "--format",
        "json",
        env={"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert (report["n_queries"], report["n_documents"], report["dimension"]) == (N_PAIRS, N_PAIRS, 384)
    assert report["dead_dims"] == [127, 223, 319]
    variants = {v["name"]: v for v in report["variants"]}

    # The independent computation: sentence-transformers and numpy only.
    model = SentenceTransformer(str(minilm.path), device="cpu")
    q = model.encode(frame["question"].tolist(), batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    d = model.encode(frame["passage"].tolist(), batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    q_int8 = quantize_embeddings(q, precision="int8", calibration_embeddings=d).astype(np.int64)
    d_int8 = quantize_embeddings(d, precision="int8", calibration_embeddings=d).astype(np.int64)
    q_bits, d_bits = (q > 0).astype(np.int64), (d > 0).astype(np.int64)
    equal_bits = q_bits @ d_bits.T + (1 - q_bits) @ (1 - d_bits).T  # 384 - Hamming distance
    expected = {
        "float32": _recall_at_10_and_mrr(q @ d.T),
        "int8": _recall_at_10_and_mrr(q_int8 @ d_int8.T),
        "binary": _recall_at_10_and_mrr(equal_bits),
    }
    for name, (recall_at_10, mrr) in expected.items():
        assert variants[name]["recall_at_10"] == pytest.approx(recall_at_10, abs=0.01), name
        assert variants[name]["mrr"] == pytest.approx(mrr, abs=0.01), name
    assert [variants[n]["bytes_per_vector"] for n in ("float32", "int8", "binary")] == [1536, 384, 48]
    assert variants["drop-dead"]["retention"] >= 0.999
    print(
        "\n"
        + "\n".join(
            f"{n}: recall@10 {variants[n]['recall_at_10']:.4f} (independent {expected[n][0]:.4f}), "
            f"MRR {variants[n]['mrr']:.4f} (independent {expected[n][1]:.4f})"
            for n in expected
        )
        + f"\ndrop-dead retention {variants['drop-dead']['retention']:.5f}"
    )
