"""``python -m analysis stats --embeddings``: the same JSON as a model's statistics, from a file.

The acceptance case is slow: about 2,000 held-out WordNet glosses embedded by sentence-transformers
itself (the model's output, as a user would export it), written as Parquet (vector column ``emb``,
with the texts) and as .npy; the CLI must find all-MiniLM-L6-v2's dead dimensions and match numpy.
The rest (bad rows, bad options, output formats) runs in the quick lane on small files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import ROOT, assert_bad_input, held_out_glosses, run_cli

HELD_OUT_SEED = 20261201  # no other test samples the glosses with it


def stats_json(*args: str, cache: Path) -> dict:
    result = run_cli("stats", *args, "--format", "json", "-q", env={"DIMSCOPE_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory, minilm) -> dict:
    from sentence_transformers import SentenceTransformer

    texts = held_out_glosses(45, seed=HELD_OUT_SEED)
    assert 1800 <= len(texts) <= 2200
    embeddings = SentenceTransformer(str(minilm.path), device="cpu").encode(texts)  # normalized, float32
    folder = tmp_path_factory.mktemp("held-out-vectors")
    pd.DataFrame({"text": texts, "emb": list(embeddings)}).to_parquet(folder / "minilm.parquet")
    np.save(folder / "minilm.npy", embeddings)
    return {
        "texts": texts,
        "embeddings": embeddings,
        "parquet": folder / "minilm.parquet",
        "npy": folder / "minilm.npy",
    }


@pytest.mark.slow  # encodes 2,000 held-out texts with sentence-transformers
def test_held_out_minilm_embeddings_give_the_dead_dims_and_numpy_std(held_out, fresh_cache_dir):
    assert pq.read_schema(held_out["parquet"]).field("emb").type == pa.list_(pa.float32())  # what pandas writes
    report = stats_json("--embeddings", str(held_out["parquet"]), "--vector-column", "emb", cache=fresh_cache_dir)
    assert report["dead_dims"] == [127, 223, 319]
    assert report["model"] == report["corpus"] == "minilm.parquet" and report["n_texts"] == len(held_out["texts"])
    assert report["fingerprint"].startswith("vectors:sha256:") and report["dimension"] == 384
    assert report["views"]["raw"] == "the vectors as given in the file or store"
    direct = held_out["embeddings"].astype(np.float64)
    normalized = direct / np.linalg.norm(direct, axis=1, keepdims=True)
    got = np.array([row["std"] for row in report["normalized"]])
    np.testing.assert_allclose(got, normalized.std(axis=0), rtol=1e-5, atol=0)
    # The same vectors as .npy: the same answer (bit for bit: both stream 8,192-row float32 chunks).
    from_npy = stats_json("--embeddings", str(held_out["npy"]), cache=fresh_cache_dir)
    assert from_npy["dead_dims"] == [127, 223, 319] and from_npy["n_texts"] == report["n_texts"]
    for view in ("raw", "normalized"):
        assert [r["std"] for r in from_npy[view]] == [r["std"] for r in report[view]]


def small_matrix(n: int = 50, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_the_json_has_the_same_shape_as_a_models(tmp_path, fresh_cache_dir):
    np.save(tmp_path / "small.npy", small_matrix())
    mine = stats_json("--embeddings", str(tmp_path / "small.npy"), cache=fresh_cache_dir)
    corpus = tmp_path / "texts.txt"
    corpus.write_text("one text\nanother text\na third\n")
    model = stats_json("--model", "all-MiniLM-L6-v2", "--corpus", str(corpus), cache=fresh_cache_dir)
    assert list(mine) == list(model)
    assert list(mine["raw"][0]) == list(model["raw"][0])
    assert mine["engine"] == model["engine"] == "local"
    assert model["views"]["raw"].startswith("the pooled vector before")
    std = np.array([r["std"] for r in mine["raw"]])
    np.testing.assert_allclose(std, small_matrix().astype(np.float64).std(axis=0), rtol=1e-6)


def test_a_nan_row_exits_2_naming_the_count(tmp_path):
    bad = small_matrix()
    bad[[4, 30], 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert_bad_input(run_cli("stats", "--embeddings", str(tmp_path / "nan.npy"), "-q"), "2 of 50 rows have NaN")
    pq.write_table(
        pa.table({"emb": pa.array(list(bad)), "text": [f"t{i}" for i in range(50)]}), tmp_path / "nan.parquet"
    )
    assert_bad_input(
        run_cli("stats", "--embeddings", str(tmp_path / "nan.parquet"), "-q"), "2 of 50 rows have NaN", "row 4"
    )


def test_csv_output_names_the_views_per_row(tmp_path, fresh_cache_dir):
    np.save(tmp_path / "small.npy", small_matrix())
    result = run_cli("stats", "--embeddings", str(tmp_path / "small.npy"), "--format", "csv", "-q")
    assert result.returncode == 0, result.stderr
    comments = [line for line in result.stdout.splitlines() if line.startswith("#")]
    lines = [line for line in result.stdout.strip().splitlines() if not line.startswith("#")]
    assert lines[0].startswith("view,dim,mean,std") and len(lines) == 1 + 2 * 8
    # The variance budget of the file's normalized view rides above the rows, as for a model.
    assert comments[0].startswith("# DimScope stats: small.npy on small.npy, 50 texts x 8 dims")
    assert any(line.startswith("# mean_norm_sq=") for line in comments), comments


def test_the_note_says_what_the_views_are(tmp_path):
    np.save(tmp_path / "small.npy", small_matrix())
    result = run_cli("stats", "--embeddings", str(tmp_path / "small.npy"))
    assert result.returncode == 0, result.stderr
    assert "raw = the vectors as given in the file or store, normalized = their L2 normalization" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--embeddings", "{npy}", "--model", "all-MiniLM-L6-v2"], "drop --model and --corpus"),
        (["--embeddings", "{npy}", "--corpus", "chatterbot-english"], "drop --model and --corpus"),
        (["--vector-column", "emb"], "--vector-column applies to --embeddings"),
        (["--embeddings", "{npy}", "--workers", "2"], "--workers apply to --engine ray only"),
        (["--embeddings", "{npy}", "--write-embeddings", "{dir}"], "apply to --engine ray only"),
        (["--embeddings", "{npy}", "--vector-column", "emb"], "no columns"),
        (["--embeddings", "{dir}/missing.parquet"], "No such embeddings file"),
        (["--embeddings", "{npy}", "--engine", "ray"], ".parquet file or a folder"),
        (["--embeddings", "{npy}", "--language-column", "lang"], "--language-column applies to text corpora"),
        (["--engine", "ray", "--workers", "0"], "--workers must be at least 1"),
        (["--engine", "ray"], "--engine ray needs --corpus"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, args, fragment):
    np.save(tmp_path / "small.npy", small_matrix())
    filled = [a.format(npy=tmp_path / "small.npy", dir=tmp_path) for a in args]
    assert_bad_input(run_cli("stats", *filled, "-q"), fragment)


def test_without_ray_the_engine_names_the_extra_to_install(tmp_path):
    """The optional extra is missing (ray made unimportable in a child process): a one-line message."""
    corpus = tmp_path / "texts.txt"
    corpus.write_text("a\nb\n")
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from analysis.cli import main\n"
        f"sys.exit(main(['stats', '--corpus', {str(corpus)!r}, '--engine', 'ray', '-q']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert_bad_input(run, 'pip install "dimscope[ray]"', "ray[data]==2.60.0")


def test_importing_the_library_the_cli_and_the_ray_module_does_not_import_ray():
    code = (
        "import sys, analysis, analysis.cli, analysis.engines.ray_data, analysis.pipeline; print('ray' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_ray_is_an_optional_extra_that_the_dev_install_has():
    import tomllib
    from importlib.metadata import version

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["ray"] == ["ray[data]==2.60.0"]
    assert "ray[data]==2.60.0" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "ray" not in (ROOT / "requirements.txt").read_text()  # the runtime does not need it
    assert version("ray") == "2.60.0"
