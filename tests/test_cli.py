"""``python -m analysis`` as a user runs it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import itertools
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


@pytest.mark.slow
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
        assert "Encoding" not in embed.stderr  # no progress bar for work not done
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
        table = pd.read_csv(out, comment="#") if fmt == "csv" else pd.read_parquet(out)
        assert set(table["view"]) == {"raw", "normalized"} and table["dead"].sum() == 4
        assert len(table) == 2 * 32 and not table.isna().any().any()


@pytest.mark.slow
def test_stats_reports_the_variance_budget_in_json_csv_and_text(tiny_model_dir, tiny_csv, tmp_path, fresh_cache_dir):
    """The budget beside dead_dims (JSON), as '#' lines above the rows (CSV), and one line of text."""
    env = {"DIMSCOPE_CACHE_DIR": str(fresh_cache_dir)}
    common = ("--model", str(tiny_model_dir), "--corpus", str(tiny_csv), "--text-column", "sentence", "-q")
    report = json.loads(run_cli("stats", *common, env=env).stdout)
    matrix = tmp_path / "normalized.npy"
    assert run_cli("embed", *common, "--view", "normalized", "-o", str(matrix), env=env).returncode == 0
    x = np.load(matrix).astype(np.float64)
    mu, var = x.mean(axis=0), x.var(axis=0, ddof=0)
    n = x.shape[0]
    assert abs(report["mean_norm_sq"] - mu @ mu) < 1e-6 and abs(report["total_variance"] - var.sum()) < 1e-6
    assert abs(report["mean_norm_sq"] + report["total_variance"] - 1.0) < 1e-6
    pairs = x @ x.T
    assert abs(report["mean_cosine"] - (pairs.sum() - np.trace(pairs)) / (n * (n - 1))) < 1e-6
    top = np.sort(var)[::-1] / var.sum()
    assert (
        abs(report["variance_share_top1"] - top[0]) < 1e-6
        and abs(report["variance_share_top10"] - top[:10].sum()) < 1e-6
    )
    assert report["top1pct_dims"] == 1 and abs(report["variance_share_top1pct"] - top[0]) < 1e-6
    assert abs(report["effective_dims"] - var.sum() ** 2 / (var**2).sum()) < 1e-4
    assert report["zero_rows"] == 0 and "ddof=0" in report["budget_rule"]
    # CSV: the same figures in '#' lines, and the rows still parse.
    csv_path = tmp_path / "stats.csv"
    assert run_cli("stats", *common, "--format", "csv", "-o", str(csv_path), env=env).returncode == 0
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    header = [line[2:] for line in itertools.takewhile(lambda line: line.startswith("#"), lines)]
    summary = dict(line.split("=", 1) for line in header if "=" in line and " " not in line.split("=", 1)[0])
    assert float(summary["mean_norm_sq"]) == pytest.approx(report["mean_norm_sq"], abs=1e-12)
    assert float(summary["total_variance"]) == pytest.approx(report["total_variance"], abs=1e-12)
    assert int(summary["zero_rows"]) == 0 and "dead_dims=3 17" in header[0]
    table = pd.read_csv(csv_path, comment="#")
    assert list(table.columns[:3]) == ["view", "dim", "mean"] and len(table) == 64
    np.testing.assert_allclose(table[table["view"] == "normalized"]["variance"], var, atol=1e-6)
    # Text: a short human summary with the budget line, to stdout or a .txt file.
    text = run_cli("stats", *common, "--format", "text", env=env)
    assert text.returncode == 0, text.stderr
    assert "dead dimensions (normalized std < 1% of the median std): 3, 17" in text.stdout
    budget_line = next(line for line in text.stdout.splitlines() if line.startswith("variance budget"))
    assert f"|mu|^2 {report['mean_norm_sq']:.4f}" in budget_line and "= 1.0000" in budget_line
    assert "effective dims" in budget_line and "from the cache" in text.stdout
    assert_bad_input(run_cli("stats", *common, "--format", "text", "-o", str(tmp_path / "s.json"), env=env), ".txt")


@pytest.mark.slow
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


def test_a_single_text_is_refused_with_the_reason_and_exit_2(tmp_path):
    """A 200,000-character line is cut to one text: statistics need two, and the message says
    what happened on the way in."""
    path = _write(tmp_path / "one.txt", ("word " * 40_000).encode() + b"\n")
    result = run_cli("stats", "--corpus", str(path))
    assert_bad_input(result, "one.txt has 1 text;", "at least 2 texts", "Truncated 1 text")
    assert "1 texts" not in result.stderr
    assert_bad_input(run_cli("geometry", "--corpus", str(path)), "at least 2 texts")


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


@pytest.mark.slow
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


def _env_without_cache_settings(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DIMSCOPE_CACHE_DIR", "XDG_CACHE_HOME")}
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.slow
def test_verbose_and_help_name_the_cache_folder_and_why(tmp_path):
    configured = tmp_path / "my-cache"
    result = run_cli("corpora", "-v", env={"DIMSCOPE_CACHE_DIR": str(configured)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"cache: {configured} (from $DIMSCOPE_CACHE_DIR)"
    before = run_cli("-v", "corpora", env={"DIMSCOPE_CACHE_DIR": str(configured)})  # before the subcommand too
    assert before.stderr.splitlines()[0] == f"cache: {configured} (from $DIMSCOPE_CACHE_DIR)"
    assert "cache:" not in run_cli("corpora", env={"DIMSCOPE_CACHE_DIR": str(configured)}).stderr
    home = tmp_path / "home"
    help_text = subprocess.run(
        [sys.executable, "-m", "analysis", "--help"],
        cwd=tmp_path,
        env=_env_without_cache_settings(HOME=str(home), COLUMNS="400"),  # argparse wraps at hyphens
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    flat = " ".join(help_text.split())
    assert "one folder per user, wherever you run DimScope from" in flat
    assert f"Here: {home / '.cache' / 'dimscope'}." in flat


@pytest.mark.slow
def test_one_cache_folder_per_user_wherever_the_cli_runs(tiny_model_dir, tiny_csv, tmp_path):
    """The installed `dimscope` run from any folder and `python -m analysis` in the checkout share one
    cache: what one computed, the other reads (issue 25: another folder meant a second, cold cache)."""
    xdg = tmp_path / "xdg"
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    env = _env_without_cache_settings(XDG_CACHE_HOME=str(xdg))
    args = ["-m", "analysis", "stats", "-v", "--model", str(tiny_model_dir), "--corpus", str(tiny_csv)]
    args += ["--format", "text", "-q"]
    runs = [
        subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        for cwd in (elsewhere, ROOT)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        expected = f"cache: {xdg / 'dimscope'} (the per-user cache, under $XDG_CACHE_HOME; set $DIMSCOPE_CACHE_DIR"
        assert run.stderr.splitlines()[0].startswith(expected), run.stderr
    assert "(computed)" in runs[0].stdout.splitlines()[0]
    assert "(from the cache)" in runs[1].stdout.splitlines()[0]  # the checkout read what the other folder computed
    assert (xdg / "dimscope" / "cache.db").is_file()
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing written where the command ran


def test_the_progress_bar_draws_work_only(capsys):
    from analysis.cli.common import Progress

    progress = Progress("Encoding")
    progress(1629, 1629)  # a result read from the cache reports itself complete at once
    progress(1, 1)  # compress: a cached report
    assert capsys.readouterr().err == ""
    for done in (0, 500, 1000, 1629):  # real work starts at 0
        progress(done, 1629)
    err = capsys.readouterr().err
    assert err.startswith("\rEncoding [") and err.endswith("] 1629/1629 (" + err.rsplit("(", 1)[1])
    assert err.endswith("/s)\n") and err.count("\n") == 1
    progress(1629, 1629)  # a later cache hit in the same command: still nothing
    assert capsys.readouterr().err == ""
