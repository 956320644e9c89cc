"""Issue 4's checks through the CLI: weight diagnosis without text, geometry against
independent computations on a held-out corpus, dimension selection and the multilingual view."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis.corpora import Corpus, load_builtin_corpus
from analysis.pipeline.cache import default_store
from tests.helpers import ROOT, assert_bad_input, run_cli


def _imported_modules(stderr: str) -> set[str]:
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize(
    "model,expected", [("sentence-transformers/all-MiniLM-L6-v2", [127, 223, 319]), ("mpnet", [34, 555, 688, 756])]
)
def test_diagnose_names_dead_dims_without_reading_text(model, expected, mpnet_folder, fresh_cache_dir):
    spec = str(mpnet_folder) if model == "mpnet" else model
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "analysis", "diagnose", "--model", spec, "--format", "json"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["dead_dims_from_weights"] == expected
    assert report["understood"] is True
    assert [e["dim"] for e in report["evidence"]] == expected
    assert all(e["verdict"] == "zero" for e in report["evidence"])
    modules = _imported_modules(result.stderr)
    # No text is read and no model is run: no corpus module, no torch.
    assert "analysis.corpora" not in modules and "torch" not in modules and "analysis.measures.diagnosis" in modules
    assert not list(fresh_cache_dir.rglob("*.val"))


@pytest.mark.slow
def test_diagnose_says_plainly_when_it_does_not_understand(tmp_path):
    from safetensors.numpy import save_file

    folder = tmp_path / "gpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2Model"]}))
    save_file({"h.0.ln_1.weight": np.ones(8, dtype=np.float32)}, str(folder / "model.safetensors"))
    result = run_cli("diagnose", "--model", str(folder), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["understood"] is False and report["dead_dims_from_weights"] == []
    assert "gpt2" in report["message"].lower() or "GPT2" in report["message"]
    assert_bad_input(run_cli("diagnose", "--model", str(tmp_path / "missing-folder")), "does not exist")


def _isoscore_reference(X: np.ndarray) -> float:
    from IsoScore import IsoScore as reference  # PyPI isoscore 2.0.1; points as rows

    return float(reference.IsoScore(np.asarray(X, dtype=np.float64)))


def _anisotropy_reference(X: np.ndarray) -> float:
    unit = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    cos = unit @ unit.T
    n = len(X)
    return float((cos.sum() - np.trace(cos)) / (n * (n - 1)))


def _erank_reference(X: np.ndarray) -> float:
    s = np.linalg.svd(X.astype(np.float64) - X.astype(np.float64).mean(0), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


@pytest.mark.slow  # a real model on a held-out corpus
def test_geometry_matches_independent_computations_on_held_out_corpus(tmp_path, fresh_cache_dir):
    # Spanish chatterbot utterances: a corpus no other test embeds.
    corpus = load_builtin_corpus("chatterbot-spanish")
    path = tmp_path / "held_out.txt"
    path.write_text("\n".join(corpus.texts) + "\n", encoding="utf-8")
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    geometry = run_cli("geometry", "--corpus", str(path), "--format", "json", "-q", env=env)
    assert geometry.returncode == 0, geometry.stderr
    report = json.loads(geometry.stdout)
    exported = tmp_path / "x.npy"
    assert (
        run_cli("embed", "--corpus", str(path), "--view", "raw", "--output", str(exported), "-q", env=env).returncode
        == 0
    )
    raw = np.load(exported)
    normalized = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    for view, matrix in (("raw", raw), ("normalized", normalized)):
        ours = report[view]
        assert ours["anisotropy"] == pytest.approx(_anisotropy_reference(matrix), rel=1e-3)
        assert ours["effective_rank"] == pytest.approx(_erank_reference(matrix), rel=1e-3)
        assert ours["isoscore"] == pytest.approx(_isoscore_reference(matrix), rel=1e-3)
    text = run_cli("geometry", "--corpus", str(path), "-q", env=env)
    assert "isoscore" in text.stdout and "effective_rank" in text.stdout


@pytest.mark.slow
def test_select_scores_methods_and_exports_dims(tiny_model_dir, tmp_path, fresh_cache_dir):
    from tests.tiny_models import tiny_corpus

    texts = list(dict.fromkeys(tiny_corpus(400, seed=11)))
    labels = [t.split()[1] for t in texts]  # the subject noun: a real, learnable label
    path = tmp_path / "labeled.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    args = (
        "select",
        "--model",
        str(tiny_model_dir),
        "--corpus",
        str(path),
        "-q",
        "--k",
        "4",
        "--k",
        "8",
        "--random-seeds",
        "2",
    )
    result = run_cli(*args, "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    table = pd.DataFrame(report["table"])
    assert set(table["method"]) == {"top_variance", "pca", "random", "all"}
    assert {"ari", "nmi", "silhouette", "knn_accuracy", "neighbour_overlap"} <= set(table.columns)
    assert "highest-variance" in report["verdict"]
    exported = run_cli(*args, "--export-dims", "5", env=env)
    dims = [int(d) for d in exported.stdout.strip().split(",")]
    assert dims == report["top_variance_order"][:5] and not {3, 17} & set(dims)
    unlabeled = tmp_path / "plain.txt"
    unlabeled.write_text("\n".join(texts))
    assert_bad_input(
        run_cli("select", "--model", str(tiny_model_dir), "--corpus", str(unlabeled), "-q", env=env), "labeled"
    )


def test_select_on_a_small_corpus_adapts_its_neighbours_or_takes_them_from_the_flag(
    tiny_model_dir, tmp_path, fresh_cache_dir
):
    """8 texts of 4 labels once failed with 'n_neighbors must be between 1 and 7; got 10'."""
    from tests.tiny_models import tiny_corpus

    texts = list(dict.fromkeys(tiny_corpus(40, seed=3)))[:8]
    path = tmp_path / "small.csv"
    pd.DataFrame({"text": texts, "label": [f"t{i // 2}" for i in range(8)]}).to_csv(path, index=False)
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    base = ("select", "--model", str(tiny_model_dir), "--corpus", str(path), "-q", "--k", "8", "--random-seeds", "2")
    adapted = run_cli(*base, "--format", "json", env=env)
    assert adapted.returncode == 0, adapted.stderr
    report = json.loads(adapted.stdout)
    assert report["attrs"]["n_neighbors"] == 3 and report["attrs"]["n_neighbors_auto"] is True
    assert "3 nearest neighbours, not the usual 10" in report["verdict"]
    asked = run_cli(*base, "--neighbors", "5", env=env)
    assert asked.returncode == 0, asked.stderr
    assert "5 nearest neighbours (as asked)" in asked.stdout
    assert_bad_input(run_cli(*base, "--neighbors", "10", env=env), "asked for 10", "at most 7")
    assert_bad_input(run_cli(*base, "--neighbors", "0", env=env), "--neighbors", "at least 1")


def test_multilingual_view_per_language_and_parallel_cosines(tiny_model_dir, fresh_cache_dir):
    from analysis.pipeline import get_embeddings
    from analysis.reports.multilingual import multilingual_report

    corpus = Corpus(
        name="parallel",
        texts=(
            "the cat sees the garden",
            "le chat voit le jardin",
            "a dog builds a chair",
            "un chien construit une chaise",
            "solo text",
        ),
        languages=("english", "french", "english", "french", "french"),
        groups=("g1", "g1", "g2", "g2", ""),
    )
    report = multilingual_report(str(tiny_model_dir), corpus, store=default_store())
    assert [row.language for row in report.languages] == ["english", "french"]
    raw = get_embeddings(str(tiny_model_dir), corpus, store=default_store()).raw
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    expected = np.mean([unit[0] @ unit[1], unit[2] @ unit[3]])
    assert report.parallel is not None and report.parallel.n_pairs == 2
    assert report.parallel.mean_cosine == pytest.approx(expected, rel=1e-6)
    french_std = np.array(report.languages[1].std_normalized)
    np.testing.assert_allclose(french_std, unit[[1, 3, 4]].astype(np.float64).std(0), atol=1e-6)


# --- compress ------------------------------------------------------------------------------------


@pytest.fixture()
def pairs_csv(tmp_path):
    """Half a sentence -> the whole sentence, in columns with names nothing infers."""
    from tests.tiny_models import tiny_corpus

    sentences = list(dict.fromkeys(tiny_corpus(160, seed=23)))
    path = tmp_path / "mine.csv"
    pd.DataFrame({"ask": [" ".join(s.split()[:3]) for s in sentences], "find": sentences}).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_compress_json_csv_and_text_from_a_pairs_file(tiny_model_dir, pairs_csv, fresh_cache_dir):
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    args = ("compress", "--model", str(tiny_model_dir), "--corpus", str(pairs_csv))
    columns = ("--query-column", "ask", "--document-column", "find")
    result = run_cli(*args, *columns, "--format", "json", "-q", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"model", "n_queries", "n_documents", "dimension", "dead_dims", "variants"} <= set(report)
    assert report["dimension"] == 32 and report["dead_dims"] == [3, 17] and report["n_queries"] > 50
    variants = {v["name"]: v for v in report["variants"]}
    wanted = {"name", "k", "bytes_per_vector", "recall_at_1", "recall_at_10", "mrr", "ndcg_at_10", "retention"}
    assert all(wanted <= set(v) for v in variants.values())
    assert [variants[n]["bytes_per_vector"] for n in ("float32", "int8", "binary")] == [128, 32, 4]
    assert variants["float32"]["k"] is None and variants["prefix-8"]["k"] == 8 and variants["float32"]["retention"] == 1
    assert {"drop-dead", "top-variance-16", "pca-32", "random-8", "binary-rescore", "binary-drop-dead"} <= set(variants)
    # cached: a second run prints the stored report, scoring time included
    assert run_cli(*args, *columns, "--format", "json", "-q", env=env).stdout == result.stdout
    csv_out = run_cli(*args, *columns, "--format", "csv", "-q", env=env)
    table = pd.read_csv(io.StringIO(csv_out.stdout))
    assert table["name"].tolist() == [v["name"] for v in report["variants"]]
    assert table.loc[table["name"] == "int8", "bytes_per_vector"].item() == 32
    text = run_cli(*args, *columns, env=env)
    assert text.returncode == 0 and "retention" in text.stdout and "int8 keeps" in text.stdout
    assert "Matryoshka:" in text.stdout
    few = run_cli(*args, *columns, "--k", "4,8", "--draws", "2", "--format", "json", "-q", env=env)
    assert json.loads(few.stdout)["ks"] == [4, 8] and json.loads(few.stdout)["n_draws"] == 2


@pytest.mark.slow
def test_compress_on_a_labelled_file(tiny_model_dir, tmp_path, fresh_cache_dir):
    from tests.tiny_models import tiny_corpus

    sentences = list(dict.fromkeys(tiny_corpus(120, seed=24)))
    path = tmp_path / "topics.csv"
    pd.DataFrame({"body": sentences, "kind": [s.split()[1] for s in sentences]}).to_csv(path, index=False)
    result = run_cli(
        "compress", "--model", str(tiny_model_dir), "--corpus", str(path), "--label-column", "kind", "--format",
        "json", "-q", "--k", "8", env={"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "labels" and report["n_documents"] == len(sentences)


@pytest.mark.parametrize(
    "extra,fragment",
    [
        (("--k", "abc"), "--k must be comma-separated"),
        (("--k", "0,8"), "at least 1"),
        (("--k", "64", "--query-column", "ask", "--document-column", "find"), "between 1 and d=32"),
        (("--draws", "0"), "from 1 to 50"),
        (("--max-pairs", "0"), "--max-pairs must be at least 1"),
        (("--query-column", "nope"), "no column 'nope'"),
        (("--query-column", "ask", "--label-column", "find"), "not both"),
        (("--corpus", "chatterbot-pairs", "--query-column", "ask"), "files only"),
        (("--corpus", "no-such-task"), "not a built-in task"),
        (("--corpus", "PLAIN"), "--query-column and --document-column, or --label-column"),
    ],
)
@pytest.mark.slow
def test_compress_bad_input_exits_2_with_one_line(extra, fragment, tiny_model_dir, pairs_csv, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("one text\nanother text\n")
    extra = tuple(str(plain) if e == "PLAIN" else e for e in extra)
    corpus = () if "--corpus" in extra else ("--corpus", str(pairs_csv))
    assert_bad_input(run_cli("compress", "--model", str(tiny_model_dir), *corpus, *extra, "-q"), fragment)
