"""Issue 21: the compress report's variant exported as a folder that stock sentence-transformers loads.

Tiny models here (seconds); the issue's own check on all-MiniLM-L6-v2, in a process that cannot import
DimScope, is the slow test at the end. Every expected vector is computed independently: the source model
encoded by sentence-transformers, then numpy (selection, PCA by eigendecomposition, quantize_embeddings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.corpora import load_retrieval_task
from analysis.export import export_model
from analysis.models import resolve_model
from analysis.pipeline import EncodeOptions
from analysis.pipeline.cache import EmbeddingStore
from tests.helpers import assert_bad_input, held_out_glosses, held_out_question_pairs, run_cli
from tests.tiny_models import tiny_corpus

pytestmark = pytest.mark.slow  # each test encodes with a real model or starts the CLI (4 to 9 s)

TORCH = EncodeOptions(backend="torch")
HELD_OUT_SEED = 20261221  # no other test samples with it


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _st(folder: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


@pytest.fixture()
def tiny_task(tmp_path):
    """A labelled task over tiny sentences: every text queries the others, same label = relevant."""
    texts = tiny_corpus(160, seed=3)
    path = tmp_path / "labelled.csv"
    pd.DataFrame({"text": texts, "label": [f"l{i % 8}" for i in range(len(texts))]}).to_csv(path, index=False)
    return load_retrieval_task(str(path), text_column="text", label_column="label")


def _export(model_dir: Path, task, variant: str, out: Path, tmp_path: Path, **kwargs):
    store = EmbeddingStore(tmp_path / "store")
    try:
        return export_model(resolve_model(str(model_dir)), task, variant, out, options=TORCH, store=store, **kwargs)
    finally:
        store.close()


def test_drop_dead_export_is_the_source_without_its_dead_dimensions(tiny_model_dir, tiny_task, tmp_path):
    out = tmp_path / "trimmed"
    result = _export(tiny_model_dir, tiny_task, "drop-dead", out, tmp_path)
    assert result.method == "dense"
    dropped = result.provenance["dropped_dims"]
    assert {3, 17} <= set(dropped)  # the planted dead dimensions (the constant dim 9 may join them)

    texts = held_out_glosses(1, HELD_OUT_SEED)[:20]
    source = _st(tiny_model_dir).encode(texts, normalize_embeddings=True)
    keep = np.setdiff1d(np.arange(source.shape[1]), dropped)
    exported = _st(out).encode(texts)
    assert exported.shape == (20, keep.size)
    np.testing.assert_allclose(exported, _unit(source[:, keep]), atol=1e-5)

    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules][-2:] == ["Dense", "Normalize"]
    dense = json.loads((out / modules[-2]["path"] / "config.json").read_text())
    assert dense == {
        "in_features": source.shape[1],
        "out_features": keep.size,
        "bias": False,
        "activation_function": "torch.nn.modules.linear.Identity",
    }
    config = json.loads((out / "config_sentence_transformers.json").read_text())["dimscope"]
    assert config["variant"]["name"] == "drop-dead" and config["corpus"]["task"] == tiny_task.name
    card = (out / "README.md").read_text()
    assert "drop-dead" in card and config["source_model"]["fingerprint"] in card
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".trimmed")]  # no staging folder left


def test_pca_export_spans_the_documents_top_principal_axes(tiny_clean_dir, tiny_task, tmp_path):
    out = tmp_path / "pca"
    _export(tiny_clean_dir, tiny_task, "pca-6", out, tmp_path)
    source = _st(tiny_clean_dir)
    documents = source.encode(list(tiny_task.documents.texts), normalize_embeddings=True).astype(np.float64)
    centred = documents - documents.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :6]  # the six largest
    texts = held_out_glosses(1, HELD_OUT_SEED)[:25]
    expected = _unit(source.encode(texts, normalize_embeddings=True) @ axes)
    exported = _st(out).encode(texts)
    assert exported.shape == (25, 6)
    # Each axis is defined up to its sign: the cosines between texts are not.
    np.testing.assert_allclose(exported @ exported.T, expected @ expected.T, atol=1e-4)


def test_prefix_of_a_normalized_model_is_sentence_transformers_truncate_dim(tiny_model_dir, tiny_task, tmp_path):
    out = tmp_path / "prefix"
    result = _export(tiny_model_dir, tiny_task, "prefix-8", out, tmp_path)
    assert result.method == "truncate_dim"
    assert json.loads((out / "modules.json").read_text()) == json.loads((tiny_model_dir / "modules.json").read_text())
    assert json.loads((out / "config_sentence_transformers.json").read_text())["truncate_dim"] == 8
    texts = held_out_glosses(1, HELD_OUT_SEED)[:10]
    full = _st(tiny_model_dir).encode(texts, normalize_embeddings=True)
    exported = _st(out).encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(exported, _unit(full[:, :8]), atol=1e-5)
    assert "truncate_dim" in (out / "README.md").read_text()


def test_int8_codes_from_quantization_json_are_sentence_transformers_own(tiny_model_dir, tiny_task, tmp_path):
    from sentence_transformers.quantization import quantize_embeddings

    out = tmp_path / "int8"
    _export(tiny_model_dir, tiny_task, "top-variance-12", out, tmp_path, precision="int8")
    saved = json.loads((out / "quantization.json").read_text())
    model = _st(out)
    documents = model.encode(list(tiny_task.documents.texts), normalize_embeddings=True)
    ranges = np.array(saved["ranges"], dtype=np.float32)
    # The ranges are the ones quantize_embeddings(..., calibration_embeddings=documents) computes.
    np.testing.assert_allclose(ranges, np.vstack([documents.min(axis=0), documents.max(axis=0)]), atol=1e-6)
    texts = held_out_glosses(2, HELD_OUT_SEED)
    embeddings = model.encode(texts, normalize_embeddings=True)
    ours = quantize_embeddings(embeddings, precision="int8", ranges=ranges)
    theirs = quantize_embeddings(embeddings, precision="int8", calibration_embeddings=documents)
    assert ours.dtype == np.int8 and ours.shape == (len(texts), 12)
    np.testing.assert_array_equal(ours, theirs)
    card = (out / "README.md").read_text()
    assert 'quantize_embeddings(embeddings, precision="int8", ranges=ranges)' in card
    assert [
        row["name"]
        for row in json.loads((out / "config_sentence_transformers.json").read_text())["dimscope"]["measured"]
    ] == ["float32 (source model)", "exported model", "exported model, int8"]


def test_bad_input_exits_2_in_one_line_and_leaves_the_folder_as_it_was(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert_bad_input(run_cli("export", "--variant", "drop-dead", "-o", str(full)), "not empty")
    assert [p.name for p in full.iterdir()] == ["keep.txt"] and (full / "keep.txt").read_text() == "mine"

    assert_bad_input(run_cli("export", "--variant", "dims-12", "-o", str(tmp_path / "new")), "unknown variant")
    assert_bad_input(run_cli("export", "--variant", "pca-999", "-o", str(tmp_path / "new")), "384")
    vectors = tmp_path / "vectors.npy"
    np.save(vectors, np.ones((3, 4), dtype=np.float32))
    assert_bad_input(
        run_cli("export", "--model", str(vectors), "--variant", "drop-dead", "-o", str(tmp_path / "new")), "no model"
    )
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def _isolated_encode(script: str, cwd: Path, *args: str) -> dict:
    """Run ``script`` in ``python -I`` from ``cwd``: no PYTHONPATH, no user site, not the repository's folder,
    so ``import analysis`` fails there as it does for a user without DimScope."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


ISOLATED = """
import importlib.util, json, sys
import numpy as np
from sentence_transformers import SentenceTransformer
assert importlib.util.find_spec("analysis") is None, "DimScope is importable here"
source, dead, pca, pairs, texts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
full = SentenceTransformer(source, device="cpu").encode(texts, normalize_embeddings=True)
trimmed = SentenceTransformer(dead, device="cpu").encode(texts)
keep = np.setdiff1d(np.arange(full.shape[1]), [127, 223, 319])
expected = full[:, keep] / np.linalg.norm(full[:, keep], axis=1, keepdims=True)
model = SentenceTransformer(pca, device="cpu")
frame = json.load(open(pairs))
q = model.encode(frame["question"], normalize_embeddings=True)
d = model.encode(frame["passage"], normalize_embeddings=True)
scores = q @ d.T
rank = np.argmax(np.argsort(-scores, axis=1, kind="stable") == np.arange(len(q))[:, None], axis=1)
print(json.dumps({"dims": trimmed.shape[1], "max_error": float(np.abs(trimmed - expected).max()),
                  "pca_dims": q.shape[1], "recall_at_10": float(np.mean(rank < 10))}))
"""


def test_the_issue_check_minilm_exports_load_without_dimscope(  # all-MiniLM-L6-v2, three processes
    tmp_path, fresh_cache_dir, minilm
):
    frame = held_out_question_pairs(200, HELD_OUT_SEED)
    pairs_csv = tmp_path / "pairs.csv"
    frame.to_csv(pairs_csv, index=False)
    fit_texts = tmp_path / "held-out.txt"  # the issue's drop-dead check fits on held-out texts
    fit_texts.write_text("\n".join(held_out_glosses(4, HELD_OUT_SEED + 1)) + "\n")
    model = ("--model", "sentence-transformers/all-MiniLM-L6-v2", "--backend", "torch", "-q")
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    for variant, corpus in (("drop-dead", fit_texts), ("pca-128", pairs_csv)):
        out = str(tmp_path / variant)
        result = run_cli("export", *model, "--corpus", str(corpus), "--variant", variant, "-o", out, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
    report = run_cli("compress", *model, "--corpus", str(pairs_csv), "--format", "json", env=env)
    assert report.returncode == 0, report.stderr[-2000:]
    pca_figure = next(v for v in json.loads(report.stdout)["variants"] if v["name"] == "pca-128")["recall_at_10"]

    pairs_json = tmp_path / "pairs.json"
    pairs_json.write_text(json.dumps({c: frame[c].tolist() for c in ("question", "passage")}))
    texts = held_out_glosses(2, HELD_OUT_SEED)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = _isolated_encode(
        ISOLATED,
        elsewhere,
        str(minilm.path),
        str(tmp_path / "drop-dead"),
        str(tmp_path / "pca-128"),
        str(pairs_json),
        json.dumps(texts),
    )
    assert got["dims"] == 381 and got["max_error"] <= 1e-5
    assert got["pca_dims"] == 128
    assert got["recall_at_10"] == pytest.approx(pca_figure, abs=0.01)
    print(
        f"\ndrop-dead max error {got['max_error']:.2e}; pca-128 recall@10 {got['recall_at_10']:.4f} "
        f"(exported, fresh process) vs {pca_figure:.4f} (compress report)"
    )


def test_embed_writes_the_variant_codes_with_their_recipe(tiny_model_dir, tmp_path):
    import pyarrow.parquet as pq
    from sentence_transformers.quantization import quantize_embeddings

    texts = tiny_corpus(120, seed=5)
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(texts) + "\n")
    source = _st(tiny_model_dir).encode(texts, normalize_embeddings=True)
    keep = np.sort(np.argsort(-source.var(axis=0), kind="stable")[:10])
    stored = _unit(source[:, keep]).astype(np.float32)
    for precision in ("int8", "binary"):
        out = tmp_path / f"{precision}.parquet"
        args = ("embed", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--backend", "torch", "-q")
        result = run_cli(*args, "--variant", "top-variance-10", "--precision", precision, "-o", str(out))
        assert result.returncode == 0, result.stderr[-2000:]
        table = pq.read_table(out)
        recipe = json.loads(table.schema.metadata[b"dimscope.recipe"])
        assert recipe["kept_dims"] == keep.tolist() and recipe["precision"] == precision
        assert table.column("text").to_pylist() == texts and table.column("id").to_pylist() == list(range(120))
        if precision == "int8":
            codes = np.array(table.column("vector").to_pylist(), dtype=np.int8)
            np.testing.assert_array_equal(
                codes, quantize_embeddings(stored, precision="int8", calibration_embeddings=stored)
            )
        else:
            packed = np.frombuffer(b"".join(table.column("vector").to_pylist()), dtype=np.uint8).reshape(120, 2)
            np.testing.assert_array_equal(packed, quantize_embeddings(stored, precision="ubinary"))


def test_the_zip_unpacks_to_a_folder_sentence_transformers_loads(tiny_model_dir, tiny_task, tmp_path):
    import zipfile

    from analysis.export.recipe import zip_folder

    out = tmp_path / "trimmed"
    _export(tiny_model_dir, tiny_task, "pca-4", out, tmp_path)
    archive = tmp_path / "trimmed.zip"
    archive.write_bytes(zip_folder(out))
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unpacked")
    texts = held_out_glosses(1, HELD_OUT_SEED)[:5]
    np.testing.assert_array_equal(_st(tmp_path / "unpacked" / "trimmed").encode(texts), _st(out).encode(texts))


def test_a_model_fetched_by_hub_id_records_its_commit(tiny_clean_dir, tiny_model_dir, tmp_path):
    """The online world: the loopback hub serves a tiny model at two revisions; the export names the commit."""
    from tests.helpers import online_env, run_online_cli
    from tests.hub_server import LoopbackHub

    texts = tiny_corpus(80, seed=7)
    corpus = tmp_path / "labelled.csv"
    pd.DataFrame({"text": texts, "label": [f"l{i % 4}" for i in range(80)]}).to_csv(corpus, index=False)
    with LoopbackHub() as hub:
        hub.add_model("dimscope-test/tiny", tiny_clean_dir)
        hub.add_model("dimscope-test/tiny", tiny_model_dir, revision_name="v2", tag=True)
        env = online_env(hub.endpoint, tmp_path / "hf", DIMSCOPE_CACHE_DIR=str(tmp_path / "cache"))
        out = tmp_path / "from-hub"
        result = run_online_cli(
            "export", "--model", "dimscope-test/tiny", "--revision", "v2", "--corpus", str(corpus), "--text-column",
            "text", "--label-column", "label", "--variant", "drop-dead", "--backend", "torch", "-q", "-o", str(out),
            env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        commit = hub.commit("dimscope-test/tiny", "v2")
    provenance = json.loads((out / "config_sentence_transformers.json").read_text())["dimscope"]
    assert provenance["source_model"]["revision"] == commit and provenance["source_model"]["requested_revision"] == "v2"
    assert {3, 17} <= set(provenance["dropped_dims"])  # v2 is the revision with the planted dead dims
    assert commit in (out / "README.md").read_text()
    keep = np.setdiff1d(np.arange(32), provenance["dropped_dims"])
    full = _st(tiny_model_dir).encode(texts[:5], normalize_embeddings=True)
    np.testing.assert_allclose(_st(out).encode(texts[:5]), _unit(full[:, keep]), atol=1e-5)
