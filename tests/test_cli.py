"""``python -m analysis`` as a user runs it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT, assert_bad_input, run_cli


def test_models_lists_catalog_with_availability():
    result = run_cli("models", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["all-MiniLM-L6-v2"]["available"] is True
    assert rows["nomic-embed-text-v1.5"]["trust_remote_code"] is True
    table = run_cli("models")
    assert "sentence-transformers/all-MiniLM-L6-v2" in table.stdout


def test_corpora_lists_builtins():
    result = run_cli("corpora", "--format", "json")
    names = [r["name"] for r in json.loads(result.stdout)]
    assert names[0] == "chatterbot-english" and "chatterbot-multilingual" in names and "wordnet-glosses" in names


@pytest.fixture()
def tiny_csv(tmp_path) -> Path:
    from tests.tiny_models import tiny_corpus

    texts = list(dict.fromkeys(tiny_corpus(200, seed=3)))
    path = tmp_path / "corpus.csv"
    pd.DataFrame({"sentence": texts, "topic": ["a", "b"] * (len(texts) // 2) + ["a"] * (len(texts) % 2)}).to_csv(
        path, index=False
    )
    return path


def test_stats_json_embed_export_and_warm_cache(tiny_model_dir, tiny_csv, tmp_path, fresh_cache_dir):
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    stats = run_cli(
        "stats", "--model", str(tiny_model_dir), "--corpus", str(tiny_csv), "--text-column", "sentence", env=env
    )
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    assert {"model", "dimension", "n_texts", "dead_dims", "raw", "normalized"} <= set(report)
    assert report["dead_dims"] == [3, 17] and report["dimension"] == 32
    assert {"dim", "mean", "std", "min", "max", "abs_mean"} <= set(report["raw"][0])
    # Export both views and check them against the reported statistics.
    for view in ("raw", "normalized"):
        out = tmp_path / f"{view}.npy"
        embed = run_cli(
            "embed",
            "--model",
            str(tiny_model_dir),
            "--corpus",
            str(tiny_csv),
            "--view",
            view,
            "--output",
            str(out),
            env=env,
        )
        assert embed.returncode == 0, embed.stderr
        assert "cache" in embed.stderr  # served from what `stats` computed
        matrix = np.load(out)
        assert matrix.dtype == np.float32 and matrix.shape == (report["n_texts"], 32)
        np.testing.assert_allclose([r["std"] for r in report[view]], matrix.astype(np.float64).std(0), atol=1e-6)
    parquet = tmp_path / "e.parquet"
    assert (
        run_cli(
            "embed", "--model", str(tiny_model_dir), "--corpus", str(tiny_csv), "-o", str(parquet), env=env
        ).returncode
        == 0
    )
    frame = pd.read_parquet(parquet)
    assert list(frame.columns[:2]) == ["text", "label"] and frame.shape[1] == 2 + 32
    for fmt, suffix in (("csv", ".csv"), ("parquet", ".parquet")):
        out = tmp_path / f"stats{suffix}"
        assert (
            run_cli(
                "stats",
                "--model",
                str(tiny_model_dir),
                "--corpus",
                str(tiny_csv),
                "--format",
                fmt,
                "-o",
                str(out),
                env=env,
            ).returncode
            == 0
        )
        table = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
        assert set(table["view"]) == {"raw", "normalized"} and table["dead"].sum() == 4


def test_warm_request_imports_neither_torch_nor_sentence_transformers(tiny_model_dir, tiny_csv, fresh_cache_dir):
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    args = ("stats", "--model", str(tiny_model_dir), "--corpus", str(tiny_csv), "-q")
    assert run_cli(*args, env=env).returncode == 0
    warm = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "analysis", *args],
        cwd=ROOT,
        env={**os.environ, **env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert warm.returncode == 0, warm.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in warm.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "numpy" in imported  # the check itself works
    assert not imported & {"torch", "sentence_transformers", "streamlit", "openvino", "onnxruntime"}, sorted(imported)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_CORPORA = {
    "random bytes named .csv": ("junk.csv", os.urandom(4096) + b"\x00\x01", "binary"),
    "empty file": ("empty.txt", b"", "empty"),
    "csv with no text column": ("numbers.csv", b"a,b\n1,2\n3,4\n", "text column"),
    "text file named .parquet": ("notes.parquet", b"hello world\nsecond line\n", "parquet"),
    "blank lines only": ("blank.txt", b"\n   \n\t\n\n", "no text"),
    "broken JSON lines": ("broken.jsonl", b'{"text": "ok"}\n{"text": \n', "line 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_CORPORA))
def test_bad_corpus_files_exit_2_with_one_line(case, tmp_path):
    name, data, fragment = BAD_CORPORA[case]
    path = _write(tmp_path / name, data)
    assert_bad_input(run_cli("stats", "--corpus", str(path)), fragment)


def test_missing_file_unknown_model_and_non_model_folder(tmp_path):
    assert_bad_input(run_cli("stats", "--corpus", str(tmp_path / "nope.csv")), "nope.csv")
    assert_bad_input(run_cli("stats", "--model", "acme/no-such-model"), "cannot be loaded here")
    (tmp_path / "readme.txt").write_text("not a model")
    assert_bad_input(run_cli("stats", "--model", str(tmp_path)), "not a sentence-transformers model")


def test_bad_options_exit_2(tmp_path):
    assert_bad_input(run_cli("stats", "--format", "xml"), "invalid choice")
    assert_bad_input(run_cli("embed", "--output", str(tmp_path / "x.txt")), ".npy")
    assert_bad_input(run_cli("stats", "--max-texts", "0"), "max-texts")
    assert_bad_input(run_cli("stats", "--format", "parquet"), "--output")
    assert_bad_input(run_cli("frobnicate"), "invalid choice")
    assert_bad_input(run_cli("stats", "--batch-size", "0"), "batch size")


def test_backend_flag_is_validated_and_keyed_separately(tiny_model_dir, tiny_csv, fresh_cache_dir):
    assert_bad_input(run_cli("stats", "--backend", "tpu"), "backend")
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    base = ("stats", "--model", str(tiny_model_dir), "--corpus", str(tiny_csv), "--text-column", "sentence", "-q")
    torch_run = run_cli(*base, "--backend", "torch", env=env)
    int8_run = run_cli(*base, "--backend", "onnx-int8", env=env)
    assert torch_run.returncode == 0 and int8_run.returncode == 0, int8_run.stderr
    torch_report, int8_report = json.loads(torch_run.stdout), json.loads(int8_run.stdout)
    assert int8_report["dead_dims"] == torch_report["dead_dims"] == [3, 17]
    # A different backend is a different cache entry, not the torch numbers served again.
    torch_std = np.array([r["std"] for r in torch_report["normalized"]])
    int8_std = np.array([r["std"] for r in int8_report["normalized"]])
    assert not np.array_equal(torch_std, int8_std) and np.allclose(torch_std, int8_std, atol=0.05)
