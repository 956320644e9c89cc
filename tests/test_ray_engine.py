"""The Ray Data engine, run for real on a local Ray cluster (one per session, see ``ray_cluster``).

Statistics over Parquet shards must agree with the single-process stream; texts encoded by Ray actors
must agree with the pipeline's own encoding (and the written shards must read back as the same
vectors); bad rows are refused with their count; the CLI's default starts and cleans up its own local
cluster; ``import analysis`` never imports Ray.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.corpora import corpus_from_texts, load_builtin_corpus
from analysis.errors import CorpusError, OptionError
from analysis.pipeline import EncodeOptions, get_embeddings, get_stats
from analysis.pipeline.cache import default_store
from analysis.vectors import open_vectors
from tests.helpers import held_out_glosses, run_cli

HELD_OUT_SEED = 20261201  # the held-out corpus of tests/test_vectors_cli.py
# ray_data.stats_of_texts encodes with torch fp32 unless told otherwise: compare with the same backend.
TORCH = EncodeOptions(backend="torch")


def fixed_list(x: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(x).reshape(-1)), x.shape[1])


def write_shards(folder: Path, matrix: np.ndarray, rows_per_shard: int, as_lists: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, len(matrix), rows_per_shard)):
        block = matrix[start : start + rows_per_shard]
        column = pa.array(list(block), type=pa.list_(pa.float32())) if as_lists else fixed_list(block)
        pq.write_table(pa.table({"vec": column}), folder / f"part-{i:04d}.parquet")
    return folder


def assert_close(ray_moments: dict, local_moments: dict, rtol: float, atol: float = 1e-12) -> None:
    for view in ("raw", "normalized"):
        got, want = ray_moments[view].columns(), local_moments[view].columns()
        assert ray_moments[view].count == local_moments[view].count
        for column in ("mean", "std", "min", "max", "abs_mean", "near_zero_share"):
            np.testing.assert_allclose(got[column], want[column], rtol=rtol, atol=atol, err_msg=f"{view} {column}")


pytestmark = pytest.mark.slow  # a real Ray cluster: seconds to start, an encoder actor loads a model


def test_statistics_of_shards_on_ray_match_the_single_process_stream(ray_cluster, tmp_path):
    from analysis.engines import ray_data

    rng = np.random.default_rng(5)
    matrix = (rng.normal(0.1, 1.0, size=(30_000, 32)) * rng.uniform(0.05, 2, size=32)).astype(np.float32)
    matrix[:, 7] = 0.0
    folder = write_shards(tmp_path / "shards", matrix, 7_000, as_lists=True)
    source = open_vectors(folder)
    run = ray_data.stats_of_shards(source)
    assert run.n_rows == 30_000 and run.session.started_here is False  # the session's cluster, reused
    assert_close(run.moments, source.moments(), rtol=1e-6)
    reference = matrix.astype(np.float64)
    np.testing.assert_allclose(run.moments["raw"].columns()["std"], reference.std(axis=0), rtol=1e-5, atol=1e-12)


def test_bad_rows_and_dimensions_in_shards_are_refused_on_ray(ray_cluster, tmp_path):
    from analysis.engines import ray_data

    matrix = np.random.default_rng(1).normal(size=(3_000, 8)).astype(np.float32)
    matrix[[5, 2500], 1] = np.inf
    source = open_vectors(write_shards(tmp_path / "inf", matrix, 1_000))
    with pytest.raises(CorpusError, match="2 of 3,000 rows have NaN, infinite or missing values"):
        ray_data.stats_of_shards(source)
    ragged = tmp_path / "ragged"
    ragged.mkdir()
    pq.write_table(pa.table({"vec": pa.array([[1.0, 2.0, 3.0]] * 50)}), ragged / "a.parquet")
    pq.write_table(pa.table({"vec": pa.array([[1.0, 2.0]] * 50)}), ragged / "b.parquet")
    with pytest.raises(CorpusError, match="same dimension"):
        ray_data.stats_of_shards(open_vectors(ragged))


def test_texts_encoded_by_ray_actors_match_the_pipeline_and_read_back(ray_cluster, minilm, tmp_path):
    from analysis.engines import ray_data

    texts = list(load_builtin_corpus("chatterbot-english").texts)[:300]
    corpus_file = tmp_path / "texts.txt"
    corpus_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
    written = tmp_path / "embeddings"
    two = ray_data.stats_of_texts(minilm, corpus_file, workers=2, write_embeddings=written)
    one = ray_data.stats_of_texts(minilm, corpus_file, workers=1)
    local = get_stats(minilm, corpus_from_texts(texts), options=TORCH, store=default_store())
    assert two.n_rows == one.n_rows == local.n_texts == len(texts)
    for run in (one, two):
        for view in ("raw", "normalized"):
            np.testing.assert_allclose(
                run.moments[view].columns()["std"], local.columns(view)["std"], rtol=1e-4, atol=1e-9
            )
    # Encoded in other batches by one or two actors: float32 noise of ~1e-8 on values of ~0.1.
    assert_close(one.moments, two.moments, rtol=1e-5, atol=1e-7)
    # The shards: a plain fixed-size list column and the texts, readable without Ray, the same vectors.
    schema = pq.read_schema(next(written.glob("*.parquet")))
    assert schema.field("embedding").type == pa.list_(pa.float32(), 384) and schema.field("text").type == pa.string()
    shards = open_vectors(written, text_column="text")
    assert shards.n_rows == len(texts) and set(shards.corpus.texts) == set(texts)
    by_text = dict(zip(shards.corpus.texts, shards.matrix(), strict=True))
    local_raw = get_embeddings(minilm, corpus_from_texts(texts), options=TORCH, store=default_store()).raw
    np.testing.assert_allclose(np.stack([by_text[t] for t in texts]), local_raw, rtol=1e-4, atol=2e-6)
    assert_close(shards.moments(), two.moments, rtol=1e-5, atol=1e-8)  # other chunk boundaries: float32 noise
    # Ray appends to a folder: a second run into it is refused before anything starts.
    with pytest.raises(OptionError, match="not an empty folder"):
        ray_data.stats_of_texts(minilm, corpus_file, write_embeddings=written)


@pytest.mark.parametrize(
    "failure", [CorpusError("an encoder actor died"), KeyboardInterrupt()], ids=["error", "interrupt"]
)
def test_write_embeddings_is_all_or_nothing(ray_cluster, tiny_model_dir, tmp_path, monkeypatch, capsys, failure):
    """A run that fails or is interrupted once its shards are on disk leaves no folder of shards (they
    were complete-looking and the next run refused the folder), an empty folder empty, and a file
    or a folder that holds files as they were; a run that ends well leaves the shards and nothing else."""
    from analysis.cli.main import main
    from analysis.engines import ray_data
    from tests.tiny_models import tiny_corpus

    texts = list(dict.fromkeys(tiny_corpus(700, seed=9)))  # more than BATCH_ROWS: several blocks
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()

    def stats(target: Path) -> int:
        argv = ["stats", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--engine", "ray"]
        return main([*argv, "--backend", "torch", "--write-embeddings", str(target), "-q", "--format", "json"])

    def everything() -> list[str]:
        return sorted(str(p.relative_to(out)) for p in out.rglob("*"))

    on_disk: list[Path] = []
    real_aggregate = ray_data.aggregate_moments

    def fail_midway(*args, **kwargs):  # the shards are written; the statistics are not done
        on_disk.extend(out.rglob("*.parquet"))
        raise failure

    monkeypatch.setattr(ray_data, "aggregate_moments", fail_midway)
    new = out / "new"
    if isinstance(failure, KeyboardInterrupt):
        assert stats(new) == 130
    else:
        assert stats(new) == 2
        assert capsys.readouterr().err.strip() == "error: an encoder actor died"
    assert on_disk, "the failure came before any shard was written"
    assert everything() == [], everything()  # no folder, no hidden stage
    empty = out / "empty"
    empty.mkdir()
    assert stats(empty) != 0 and everything() == ["empty"]

    monkeypatch.setattr(ray_data, "aggregate_moments", real_aggregate)
    (out / "file.parquet").write_bytes(b"kept as it was")
    (out / "full").mkdir()
    (out / "full" / "part-0.parquet").write_bytes(b"old shard")
    capsys.readouterr()
    assert stats(out / "file.parquet") == 2 and "is a file" in capsys.readouterr().err
    assert stats(out / "full") == 2 and "not empty" in capsys.readouterr().err
    assert (out / "file.parquet").read_bytes() == b"kept as it was"
    assert (out / "full" / "part-0.parquet").read_bytes() == b"old shard" and len(list((out / "full").iterdir())) == 1

    assert stats(empty) == 0
    report = json.loads(capsys.readouterr().out)
    shards = open_vectors(empty, text_column="text")
    assert shards.n_rows == report["n_texts"] == len(texts) and set(shards.corpus.texts) == set(texts)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no stage left beside it


def test_the_cli_runs_over_shards_on_a_cluster_by_address(ray_cluster, tmp_path):
    """A second driver joins the session's cluster by its address, as a user joins a real cluster."""
    matrix = np.random.default_rng(2).normal(size=(5_000, 16)).astype(np.float32)
    folder = write_shards(tmp_path / "shards", matrix, 2_000)
    result = run_cli(
        "stats",
        "--embeddings",
        str(folder),
        "--engine",
        "ray",
        "--ray-address",
        ray_cluster.address,
        "-q",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["engine"] == "ray" and report["n_texts"] == 5_000 and report["model"] == "shards"
    local = json.loads(run_cli("stats", "--embeddings", str(folder), "-q").stdout)
    assert list(report) == list(local) and report["fingerprint"] == local["fingerprint"]
    np.testing.assert_allclose(
        [r["std"] for r in report["normalized"]], [r["std"] for r in local["normalized"]], rtol=1e-6
    )


def test_held_out_corpus_on_a_local_ray_from_the_cli(minilm, tmp_path_factory):
    """The acceptance run: the CLI's default starts its own local Ray, finds the dead dims, agrees with
    the single-process statistics to 1e-4, and leaves neither files nor processes behind."""
    texts = held_out_glosses(45, seed=HELD_OUT_SEED)
    folder = tmp_path_factory.mktemp("held-out-ray")
    corpus_file = folder / "glosses.txt"
    corpus_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
    ray_tmp = tmp_path_factory.getbasetemp() / "c"  # short: Ray's socket paths must fit in 107 bytes
    ray_tmp.mkdir()
    result = run_cli(
        "stats",
        "--model",
        "sentence-transformers/all-MiniLM-L6-v2",
        "--corpus",
        str(corpus_file),
        "--engine",
        "ray",
        "--format",
        "json",
        "-q",
        env={"DIMSCOPE_RAY_TEMP_DIR": str(ray_tmp)},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Deprecat" not in result.stderr, result.stderr[-3000:]  # -q: no notice from Ray's API on the way
    report = json.loads(result.stdout)
    assert report["dead_dims"] == [127, 223, 319] and report["engine"] == "ray"
    assert report["mean_norm_sq"] > 0  # the variance budget rides in a Ray run's JSON too
    assert report["n_texts"] == len(texts)
    single = get_stats(
        minilm, corpus_from_texts(texts), store=default_store()
    )  # the default, "auto", as a user runs both
    assert report["backend"] == single.backend  # auto means this machine's choice on a local Ray too
    np.testing.assert_allclose(
        [r["std"] for r in report["normalized"]], single.columns("normalized")["std"], rtol=1e-4, atol=0
    )
    assert list(ray_tmp.iterdir()) == []  # the session folder was removed
    leftover = subprocess.run(["pgrep", "-f", str(ray_tmp)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout  # no raylet, GCS or worker survived
