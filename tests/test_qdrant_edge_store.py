"""``--embeddings qdrant:PATH#NAME`` where ``PATH/NAME`` is a Qdrant Edge shard: the round trip of ``--write qdrant:``.

The shards are written by the sink's own writer (``analysis.export.qdrant_sink.write_qdrant``, as
``compress --write qdrant:`` writes them) or, for what the sink never writes (named vectors, UUID ids,
NaN, a point without a vector), by qdrant-edge-py directly. Every read must leave each file of the
shard the same bytes: qdrant-edge-py writes to a shard it opens, so the reader opens a private copy.
"""

from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pytest

from analysis.errors import CorpusError
from analysis.export.qdrant_sink import write_qdrant
from analysis.export.store_sinks import parse_sink
from analysis.vectors import open_vectors
from analysis.vectors.sampling import sample_positions
from tests.helpers import assert_bad_input, run_cli
from tests.test_store_sinks import task  # noqa: F401 (a fixture)
from tests.test_vector_stores import folder_digest, normalized_std, write_raw_shard


def unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict:
    """Shards as the sink writes them: float32, int8 and binary (quantized: the float vectors are kept too)."""
    folder = tmp_path_factory.mktemp("edge")
    vectors = unit(300, 12)
    texts = [f"text {i}" for i in range(len(vectors))]
    labels = ["odd" if i % 2 else "even" for i in range(len(vectors))]
    for precision in ("float32", "int8", "binary"):
        write_qdrant(parse_sink(f"qdrant:{folder}#{precision}"), vectors, texts, labels, precision, replace=False)
    return {"folder": folder, "vectors": vectors, "texts": texts, "labels": labels}


@pytest.mark.slow  # three CLI processes (~2.5 s)
def test_the_cli_reads_back_what_the_sink_wrote_with_numpys_std_and_leaves_every_byte(shards, tmp_path):
    folder = shards["folder"]
    before = folder_digest(folder)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    vectors = shards["vectors"].astype(np.float64)
    for precision in ("float32", "int8", "binary"):
        result = run_cli(
            "stats", "--embeddings", f"qdrant:{folder}#{precision}", "--format", "json", "-q",
            env={"DIMSCOPE_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(private_tmp)},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["corpus"] == f"qdrant:{folder.name}#{precision}"
        assert (report["n_texts"], report["dimension"]) == (300, 12)
        raw = np.array([row["std"] for row in report["raw"]])
        np.testing.assert_allclose(raw, vectors.std(axis=0), rtol=0, atol=1e-5)
        normalized = np.array([row["std"] for row in report["normalized"]])
        np.testing.assert_allclose(normalized, normalized_std(vectors), rtol=0, atol=1e-5)
    assert folder_digest(folder) == before  # read-only: every file of every shard the same bytes
    assert list(private_tmp.iterdir()) == []  # the private copies are gone


def test_a_quantized_shard_gives_the_float_vectors_its_texts_and_labels(shards):
    folder = shards["folder"]
    before = folder_digest(folder)
    vectors = shards["vectors"].astype(np.float64)
    for precision in ("int8", "binary"):
        source = open_vectors(f"qdrant:{folder}#{precision}")
        assert (source.n_rows, source.dimension) == (300, 12)
        # The float vectors the shard keeps beside its codes: float32 as written, to float32 rounding.
        np.testing.assert_allclose(source.moments()["raw"].columns()["std"], vectors.std(axis=0), rtol=1e-6)
        assert source.corpus.texts == tuple(shards["texts"])
        assert source.corpus.labels == tuple(shards["labels"])
    assert folder_digest(folder) == before


def test_limit_and_a_seeded_sample_read_those_rows(shards):
    spec = f"qdrant:{shards['folder']}#int8"
    vectors = shards["vectors"].astype(np.float64)
    source = open_vectors(spec, sample=40, seed=5)
    rows = sample_positions(300, 40, seed=5)
    assert source.n_rows == 40 and "a uniform sample of 40 of 300 rows (seed 5)" in source.name
    np.testing.assert_allclose(source.moments()["raw"].columns()["std"], vectors[rows].std(axis=0), rtol=1e-6)
    assert source.corpus.texts == tuple(shards["texts"][i] for i in rows)
    limited = open_vectors(spec, max_rows=10)
    assert limited.n_rows == 10
    np.testing.assert_allclose(limited.moments()["raw"].columns()["std"], vectors[:10].std(axis=0), rtol=1e-6)


def test_more_points_than_a_scroll_page_are_all_read_in_order(tmp_path):
    vectors = unit(2500, 5, seed=3)  # three scroll pages of 1,024
    write_qdrant(parse_sink(f"qdrant:{tmp_path}#docs"), vectors, [f"t{i}" for i in range(2500)], None, "float32", False)
    source = open_vectors(f"qdrant:{tmp_path}#docs")
    assert source.n_rows == 2500 and source.corpus.texts[-1] == "t2499"
    np.testing.assert_allclose(
        source.moments()["raw"].columns()["std"], vectors.astype(np.float64).std(axis=0), rtol=1e-6
    )


def test_named_vectors_uuid_ids_and_dot_vectors_as_stored(tmp_path):
    image, words = np.random.default_rng(1).normal(size=(40, 6)), np.random.default_rng(2).normal(size=(40, 9))
    ids = [str(uuid.UUID(int=i + 1)) for i in range(40)]
    write_raw_shard(tmp_path / "named", {"image": image, "words": words}, [{"text": f"t{i}"} for i in range(40)], ids)
    spec = f"qdrant:{tmp_path}#named"
    for name, matrix in (("image", image), ("words", words)):
        source = open_vectors(spec, vector_column=name)
        assert (source.n_rows, source.dimension) == matrix.shape
        # Dot distance keeps the vectors as given (not normalized): float32 of them, to its rounding.
        np.testing.assert_allclose(
            source.moments()["raw"].columns()["std"], matrix.astype(np.float32).astype(np.float64).std(axis=0),
            rtol=1e-6,
        )  # fmt: skip
    with pytest.raises(CorpusError, match=r"several named vectors \('image', 'words'\); choose one"):
        open_vectors(spec)
    with pytest.raises(CorpusError, match="no named vector 'nope'; it has: image, words"):
        open_vectors(spec, vector_column="nope")
    source = open_vectors(spec, vector_column="image", text_column="id")
    assert source.corpus.texts == tuple(ids)  # a UUID id is its text (points in Qdrant's order: by id)


def test_nan_and_a_point_without_the_vector_are_missing_rows_and_a_wrong_dimension_cannot_be_stored(tmp_path):
    import qdrant_edge as edge

    vectors = np.random.default_rng(4).normal(size=(30, 4))
    vectors[[3, 11], 1] = np.nan
    write_raw_shard(tmp_path / "nan", vectors, [{} for _ in range(30)])
    with pytest.raises(CorpusError, match="2 of 30 rows have NaN, infinite or missing values"):
        open_vectors(f"qdrant:{tmp_path}#nan").moments()
    image = np.random.default_rng(5).normal(size=(20, 3))
    write_raw_shard(tmp_path / "partial", {"image": image, "words": image}, [{} for _ in range(20)])
    shard = edge.EdgeShard.load(str(tmp_path / "partial"))
    try:  # point 7 loses its "words" vector; and a vector of the wrong dimension is refused by Qdrant itself
        shard.update(edge.UpdateOperation.upsert_points([edge.Point(id=7, vector={"image": [0.1, 0.2, 0.3]})]))
        with pytest.raises(Exception, match="Vector dimension error"):
            shard.update(edge.UpdateOperation.upsert_points([edge.Point(id=8, vector={"image": [0.1, 0.2]})]))
        shard.flush()
    finally:
        shard.close()
    with pytest.raises(CorpusError, match=r"1 of 20 rows has NaN, infinite or missing values.*\(the first is row 7\)"):
        open_vectors(f"qdrant:{tmp_path}#partial", vector_column="words").moments()
    image[7] = [0.1, 0.2, 0.3]  # the other vector of every point is whole, point 7's replaced
    raw = open_vectors(f"qdrant:{tmp_path}#partial", vector_column="image").moments()["raw"]
    assert raw.count == 20
    np.testing.assert_allclose(raw.columns()["std"], image.astype(np.float32).astype(np.float64).std(axis=0), rtol=1e-6)


@pytest.mark.parametrize(
    ("form", "fragments"),
    [
        ("qdrant:{folder}#nope", ("holds no Qdrant Edge shard 'nope'", "its Edge shards: 'binary', 'float32', 'int8'")),
        ("qdrant:{folder}/int8#docs", ("is itself a Qdrant Edge shard", "#int8")),
        ("qdrant:{folder}/int8/segments#x", ("not a qdrant-client local folder", "meta.json", "x/edge_config.json")),
        ("qdrant:{folder}#..", ("holds no Qdrant Edge shard '..'",)),
    ],
)
def test_a_folder_that_is_not_what_the_form_names_is_one_clear_error(shards, form, fragments):
    with pytest.raises(CorpusError) as caught:
        open_vectors(form.format(folder=shards["folder"]))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_a_symlink_in_the_shard_is_refused_not_followed(tmp_path):
    write_qdrant(
        parse_sink(f"qdrant:{tmp_path}#docs"), unit(20, 4), [f"t{i}" for i in range(20)], None, "float32", False
    )
    outside = tmp_path / "outside.txt"
    outside.write_text("not the shard's")
    os.symlink(outside, tmp_path / "docs" / "link")
    with pytest.raises(
        CorpusError, match=r"qdrant:\S+#docs: 'link' in the shard is not a file or folder \(a symlink\?\)"
    ):
        open_vectors(f"qdrant:{tmp_path}#docs")


def test_a_damaged_shard_is_one_clear_error(tmp_path):
    write_qdrant(
        parse_sink(f"qdrant:{tmp_path}#docs"), unit(20, 4), [f"t{i}" for i in range(20)], None, "float32", False
    )
    for segment in (tmp_path / "docs" / "segments").glob("*/segment.json"):
        segment.write_text("{")
    with pytest.raises(CorpusError, match=r"qdrant:\S+#docs is not a readable Qdrant Edge shard"):
        open_vectors(f"qdrant:{tmp_path}#docs")
    (tmp_path / "docs" / "edge_config.json").write_text("garbage")
    with pytest.raises(CorpusError, match="edge_config.json is not readable JSON"):
        open_vectors(f"qdrant:{tmp_path}#docs")


def test_the_cli_names_the_shards_there_are(shards):
    result = run_cli("stats", "--embeddings", f"qdrant:{shards['folder']}#unknown", "-q")
    assert_bad_input(result, "no Qdrant Edge shard 'unknown'", "its Edge shards: 'binary', 'float32', 'int8'")


@pytest.mark.slow  # encodes the task's texts, writes two shards, two CLI processes
def test_compress_write_qdrant_is_read_back_by_stats_embeddings_qdrant(minilm, task, tmp_path):  # noqa: F811
    from analysis.export.store_check import check_in_store
    from analysis.export.vectors_file import fit_on_corpus
    from analysis.pipeline.cache import default_store
    from analysis.reports.compress import task_embeddings

    _, documents = task_embeddings(minilm, task, store=default_store())
    for name, variant, precision in (("f32", None, "float32"), ("int8", "top-variance-128", "int8")):
        sink = parse_sink(f"qdrant:{tmp_path}#{name}")
        check_in_store(minilm, task, sink, variant=variant, precision=precision, replace=False, store=default_store())
        before = folder_digest(tmp_path / name)
        result = run_cli(
            "stats", "--embeddings", f"qdrant:{tmp_path}#{name}", "--format", "json", "-q",
            env={"DIMSCOPE_CACHE_DIR": str(tmp_path / "cache")},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        fitted = fit_on_corpus(documents, variant)
        stored = (documents if fitted is None else fitted.apply(documents)).astype(np.float64)
        stored /= np.linalg.norm(stored, axis=1, keepdims=True)  # Cosine: Qdrant keeps them normalized
        assert (report["n_texts"], report["dimension"]) == stored.shape == (len(task.documents.texts), stored.shape[1])
        assert report["dimension"] == (384 if variant is None else 128)
        raw = np.array([row["std"] for row in report["raw"]])
        np.testing.assert_allclose(raw, stored.std(axis=0), rtol=0, atol=1e-5)
        assert folder_digest(tmp_path / name) == before


@pytest.mark.parametrize("kind", ["local", "edge"])
def test_a_payload_that_is_not_a_text_and_a_missing_column_are_one_clear_error(tmp_path, kind):
    """Both qdrant: kinds read texts and labels through one rule: a scalar payload key or the id."""
    from tests.test_qdrant_store import write_qdrant as write_local

    vectors = np.random.default_rng(3).normal(size=(20, 4)).astype(np.float32)
    texts: list = [f"t{i}" for i in range(20)]
    texts[7] = {"nested": "no"}  # a payload value that is neither a text nor a label
    if kind == "local":
        write_local(tmp_path, "docs", vectors, texts)
    else:
        write_raw_shard(tmp_path / "docs", vectors, [{"text": t} for t in texts])
    spec = f"qdrant:{tmp_path}#docs"
    with pytest.raises(CorpusError, match=r"point 7's payload 'text' holds a dict, not a text or a label"):
        _ = open_vectors(spec, text_column="text").corpus
    with pytest.raises(CorpusError, match=r"has no text column 'nope'; its columns: id, text"):
        _ = open_vectors(spec, text_column="nope").corpus
    assert open_vectors(spec, text_column="id", label_column="").corpus.texts == tuple(str(i) for i in range(20))
