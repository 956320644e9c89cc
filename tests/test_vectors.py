"""Bring-your-own vectors: every format gives the same statistics bit for bit, files stream with
bounded memory, bad rows are refused with their count, and hostile files end in one clear error.

All files are written here (numpy, pyarrow); statistics are checked against float64 numpy.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from analysis.corpora import corpus_from_texts
from analysis.errors import CorpusError, OptionError
from analysis.measures.stats import iter_row_chunks, stats_columns
from analysis.pipeline import get_embeddings, get_stats
from analysis.pipeline.cache import EmbeddingStore, default_store
from analysis.vectors import VECTOR_VIEWS, open_vectors, rechunk
from analysis.vectors.layout import MAX_DIMENSION
from tests.helpers import ROOT

N, D = 20_000, 24


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    rng = np.random.default_rng(3)
    x = (rng.normal(0.2, 1.0, size=(N, D)) * rng.uniform(0.01, 3.0, size=D)).astype(np.float32)
    x[:, 5] = 0.0  # dead
    x[:, 9] = 1.5  # constant
    return x


def fixed_list(x: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(x).reshape(-1)), x.shape[1])


@pytest.fixture(scope="module")
def files(matrix, tmp_path_factory) -> dict[str, Path]:
    """The same vectors in every supported layout."""
    d = tmp_path_factory.mktemp("vectors")
    texts = [f"text number {i}" for i in range(N)]
    labels = [f"topic {i % 4}" for i in range(N)]
    out = {}
    out["list.parquet"] = d / "list.parquet"
    pq.write_table(
        pa.table({"emb": pa.array(list(matrix)), "text": texts, "label": labels}),
        out["list.parquet"],
        row_group_size=3001,
    )
    out["fixed.parquet"] = d / "fixed.parquet"
    pq.write_table(pa.table({"text": texts, "embedding": fixed_list(matrix)}), out["fixed.parquet"], row_group_size=777)
    out["shards"] = d / "shards"
    out["shards"].mkdir()
    for i, start in enumerate(range(0, N, 6000)):
        pq.write_table(
            pa.table({"embedding": fixed_list(matrix[start : start + 6000])}), out["shards"] / f"part-{i:03d}.parquet"
        )
    out["x.arrow"] = d / "x.arrow"
    feather.write_feather(pa.table({"vector": fixed_list(matrix), "text": texts}), out["x.arrow"])  # lz4
    out["x.npy"] = d / "x.npy"
    np.save(out["x.npy"], matrix)
    out["fortran.npy"] = d / "fortran.npy"
    np.save(out["fortran.npy"], np.asfortranarray(matrix))
    out["x.npz"] = d / "x.npz"
    np.savez_compressed(out["x.npz"], embeddings=matrix, texts=np.array(texts), labels=np.array(labels))
    return out


FORMATS = ["list.parquet", "fixed.parquet", "shards", "x.arrow", "x.npy", "fortran.npy", "x.npz"]


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_gives_the_same_statistics_bit_for_bit(files, matrix, name):
    reference = stats_columns(iter_row_chunks(matrix, 8192), D)  # the pipeline's in-memory path
    source = open_vectors(files[name])
    assert (source.n_rows, source.layout.dtype) == (N, "float32")
    moments = source.moments()
    for view in ("raw", "normalized"):
        got = moments[view].columns()
        for column in ("mean", "std", "min", "max", "abs_mean", "near_zero_share"):
            assert np.array_equal(got[column], reference[view][column]), (view, column)
    m = matrix.astype(np.float64)
    np.testing.assert_allclose(moments["raw"].columns()["std"], m.std(axis=0), rtol=1e-6, atol=1e-12)
    normalized = m / np.linalg.norm(m, axis=1, keepdims=True)
    np.testing.assert_allclose(moments["normalized"].columns()["std"], normalized.std(axis=0), rtol=1e-5, atol=1e-12)


def test_texts_and_labels_come_from_their_columns_in_file_order(files):
    parquet = open_vectors(files["list.parquet"])
    assert parquet.layout.vector_column == "emb"
    assert parquet.columns_used == ("text", "label")  # inferred by name
    corpus = parquet.corpus
    assert corpus.texts[:2] == ("text number 0", "text number 1") and len(corpus) == N
    assert corpus.labels[:5] == ("topic 0", "topic 1", "topic 2", "topic 3", "topic 0")
    npz = open_vectors(files["x.npz"])
    assert npz.layout.vector_column == "embeddings" and npz.columns_used == ("texts", "labels")
    assert npz.corpus.texts == corpus.texts
    bare = open_vectors(files["x.npy"])
    assert not bare.has_texts and bare.corpus.texts[:2] == ("row 0", "row 1") and bare.corpus.labels is None
    none = open_vectors(files["list.parquet"], text_column="", label_column="")
    assert none.columns_used == (None, None) and none.corpus.texts[0] == "row 0"


def test_duplicate_and_blank_texts_are_kept_because_each_row_has_its_own_vector(tmp_path):
    path = tmp_path / "dups.parquet"
    rows = np.eye(4, dtype=np.float32) + 1
    pq.write_table(pa.table({"e": pa.array(list(rows)), "text": ["same", "same", "", None]}), path)
    corpus = open_vectors(path, text_column="text").corpus
    assert corpus.texts == ("same", "same", "", "")
    assert corpus.report.n_kept == 4 and corpus.report.n_duplicates == 0 and corpus.report.n_blank == 0


def test_max_rows_keeps_the_first_rows_counts_the_rest_and_changes_the_fingerprint(files, matrix):
    full = open_vectors(files["fixed.parquet"])
    cut = open_vectors(files["fixed.parquet"], max_rows=5000)
    assert cut.n_rows == 5000 and cut.corpus.report.n_over_limit == N - 5000
    assert cut.fingerprint != full.fingerprint
    std = cut.moments()["raw"].columns()["std"]
    np.testing.assert_allclose(std, matrix[:5000].astype(np.float64).std(axis=0), rtol=1e-6, atol=1e-12)


def test_the_fingerprint_is_the_content_not_the_name_or_time(files, tmp_path):
    copy = tmp_path / "renamed.npy"
    copy.write_bytes(files["x.npy"].read_bytes())
    os.utime(copy, (1, 1))
    assert open_vectors(copy).fingerprint == open_vectors(files["x.npy"]).fingerprint
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0x01  # one bit of one value
    changed = tmp_path / "changed.npy"
    changed.write_bytes(bytes(data))
    assert open_vectors(changed).fingerprint != open_vectors(files["x.npy"]).fingerprint
    # An upload's bytes and the same file on disk name the same vectors.
    assert open_vectors(copy.read_bytes(), name="up.npy").fingerprint == open_vectors(copy).fingerprint
    # Another vector column of the same file is another source.
    two = tmp_path / "two.parquet"
    pq.write_table(pa.table({"a": pa.array([[1.0, 2.0]] * 3), "b": pa.array([[3.0, 1.0]] * 3)}), two)
    assert open_vectors(two, vector_column="a").fingerprint != open_vectors(two, vector_column="b").fingerprint


def test_statistics_are_cached_under_the_fingerprint(files, fresh_cache_dir):
    store = EmbeddingStore(fresh_cache_dir)
    first = get_stats(open_vectors(files["x.npy"]), None, store=store)
    again = get_stats(open_vectors(files["x.npy"]), None, store=store)
    assert not first.from_cache and again.from_cache
    assert first.dead_dims == [5] and first.constant_dims == [9]
    assert first.views == VECTOR_VIEWS
    assert first.to_json_dict()["views"]["raw"] == "the vectors as given in the file or store"
    assert first.model_name == first.corpus_name == "x.npy" and first.n_texts == N
    assert np.array_equal(first.normalized_columns["std"], again.normalized_columns["std"])


def test_a_vectors_source_gives_only_its_own_rows(files):
    source = open_vectors(files["list.parquet"])
    result = get_embeddings(source, None, store=default_store())
    assert result.raw.shape == (N, D) and result.corpus is source.corpus
    with pytest.raises(OptionError, match="its own 20,000 rows"):
        get_stats(source, corpus_from_texts(["a", "b"]), store=default_store())


# --- bad rows -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["nan", "inf", "null", "huge"])
def test_rows_with_nan_inf_or_no_vector_are_refused_with_their_count(matrix, tmp_path, kind):
    rows = list(matrix[:1000].astype(np.float64))
    for i in (10, 500, 999):
        if kind == "null":
            rows[i] = None
        else:
            rows[i] = rows[i].copy()
            rows[i][3] = {"nan": np.nan, "inf": -np.inf, "huge": 1e30}[kind]  # 1e30 overflows float32 squares
    path = tmp_path / f"{kind}.parquet"
    pq.write_table(pa.table({"emb": pa.array(rows, type=pa.list_(pa.float64()))}), path)
    with pytest.raises(
        CorpusError, match=r"3 of 1,000 rows have NaN, infinite or missing values.*\(the first is row 10\)"
    ):
        open_vectors(path).moments()


def test_a_nan_in_a_npy_file_is_refused_too(matrix, tmp_path):
    bad = matrix[:100].copy()
    bad[42, 0] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(CorpusError, match="1 of 100 rows has NaN"):
        open_vectors(tmp_path / "bad.npy").matrix()


def test_rows_of_different_lengths_name_the_first_bad_row(tmp_path):
    path = tmp_path / "ragged.parquet"
    pq.write_table(
        pa.table({"emb": pa.array([[1.0, 2.0, 3.0]] * 7 + [[1.0, 2.0]] + [[1.0, 2.0, 3.0]])}), path, row_group_size=4
    )
    with pytest.raises(CorpusError, match="row 7 of the column 'emb' has 2 values where the rows before have 3"):
        open_vectors(path).moments()


# --- hostile files ----------------------------------------------------------------------------------


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


HOSTILE = {
    "1-D npy": ("a.npy", lambda: npy_bytes(np.ones(10, dtype=np.float32)), "2-D array"),
    "3-D npy": ("a.npy", lambda: npy_bytes(np.ones((2, 3, 4), dtype=np.float32)), "2-D array"),
    "int npy": ("a.npy", lambda: npy_bytes(np.ones((3, 4), dtype=np.int64)), "not floats"),
    "object npy": ("a.npy", lambda: npy_bytes(np.array([[object()]], dtype=object)), "Python objects"),
    "records npy": ("a.npy", lambda: npy_bytes(np.zeros(3, dtype=[("a", "f4"), ("b", "f4")])), "records"),
    "no rows": ("a.npy", lambda: npy_bytes(np.ones((0, 4), dtype=np.float32)), "no rows"),
    "zero dims": ("a.npy", lambda: npy_bytes(np.ones((4, 0), dtype=np.float32)), "1 to 65,536"),
    "truncated npy": ("a.npy", lambda: npy_bytes(np.ones((1000, 8), dtype=np.float32))[:-100], "truncated"),
    "lying npy header": (
        "a.npy",
        lambda: npy_bytes(np.ones((2, 2), dtype=np.float32)).replace(b"(2, 2)", b"(999999999, 2)"),
        "truncated",
    ),
    "garbage npy": ("a.npy", lambda: b"\x93NUMPY\x01\x00\xff\xffgarbage", "not a readable .npy"),
    "not a zip": ("a.npz", lambda: b"PK\x03\x04 not really", "not a readable .npz"),
    "npz without matrix": ("a.npz", lambda: _npz(texts=np.array(["a", "b"])), "no array of float vectors"),
    "not parquet": ("a.parquet", lambda: b"PAR1 this is not parquet", "not a readable Parquet"),
    "no vector column": ("a.parquet", lambda: parquet_bytes(pa.table({"text": ["a", "b"]})), "no column of float"),
    "strings in lists": (
        "a.parquet",
        lambda: parquet_bytes(pa.table({"emb": pa.array([["a"], ["b"]])})),
        "no column of float",
    ),
    "two vector columns": (
        "a.parquet",
        lambda: parquet_bytes(pa.table({"a": pa.array([[1.0]] * 2), "b": pa.array([[1.0]] * 2)})),
        "several columns of vectors",
    ),
    "too wide": (
        "a.parquet",
        lambda: parquet_bytes(pa.table({f"c{i}": [1] for i in range(1001)} | {"emb": pa.array([[1.0]])})),
        "at most 1,000",
    ),
    "too many dims": (
        "a.parquet",
        lambda: parquet_bytes(
            pa.table(
                {"emb": pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(MAX_DIMENSION + 1)), MAX_DIMENSION + 1)}
            )
        ),
        "1 to 65,536",
    ),
    "empty table": (
        "a.parquet",
        lambda: parquet_bytes(pa.table({"emb": pa.array([], type=pa.list_(pa.float32()))})),
        "no rows",
    ),
    "not arrow": ("a.arrow", lambda: b"ARROW1 but not", "not a readable Arrow"),
    "unknown extension": ("a.csv", lambda: b"1,2,3\n", "unsupported embeddings file"),
    "empty file": ("a.npy", lambda: b"", "is empty"),
}


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_end_in_one_clear_corpus_error(case):
    name, make, fragment = HOSTILE[case]
    with pytest.raises(CorpusError) as caught:
        open_vectors(make(), name=name, max_bytes=50 * 1024 * 1024).moments()
    message = str(caught.value)
    assert fragment.lower() in message.lower(), message
    assert "\n" not in message and len(message) < 600 and "Traceback" not in message


def test_pickled_texts_in_an_npz_are_not_read():
    data = _npz(embeddings=np.ones((2, 3), np.float32), texts=np.array(["a", None], dtype=object))
    source = open_vectors(data, name="pickled.npz")
    assert source.layout.scalar_columns == () and source.corpus.texts == ("row 0", "row 1")
    with pytest.raises(CorpusError, match="no text column 'texts'"):
        open_vectors(data, name="pickled.npz", text_column="texts")


def test_an_upload_over_the_byte_limit_is_refused_before_reading():
    with pytest.raises(CorpusError, match="over the 1 KB limit"):
        open_vectors(npy_bytes(np.ones((100, 8), np.float32)), name="big.npy", max_bytes=1024)


def test_a_compression_bomb_is_refused_before_it_expands():
    zeros = np.zeros((20_000, 64), dtype=np.float32)  # 5 MB of zeros compress to a few KB
    table = pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(zeros.reshape(-1)), 64)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    assert len(data) < 100_000
    with pytest.raises(CorpusError, match="expand"):
        open_vectors(data, name="bomb.parquet", max_bytes=200_000)
    bomb = io.BytesIO()
    np.savez_compressed(bomb, embeddings=zeros)
    with pytest.raises(CorpusError, match="expands"):
        open_vectors(bomb.getvalue(), name="bomb.npz", max_bytes=200_000)


def test_shards_with_another_schema_are_named(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    pq.write_table(pa.table({"emb": pa.array([[1.0, 2.0]])}), folder / "a.parquet")
    pq.write_table(pa.table({"other": pa.array([[1.0, 2.0]])}), folder / "b.parquet")
    with pytest.raises(CorpusError, match="the shard b.parquet has no column 'emb'"):
        open_vectors(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="without .parquet shards"):
        open_vectors(empty)


def test_bad_options_and_paths_are_clear(files, tmp_path):
    with pytest.raises(CorpusError, match="No such embeddings file"):
        open_vectors(tmp_path / "missing.parquet")
    with pytest.raises(CorpusError, match="no column 'nope'"):
        open_vectors(files["list.parquet"], vector_column="nope")
    with pytest.raises(CorpusError, match="no text column 'nope'"):
        open_vectors(files["list.parquet"], text_column="nope")
    with pytest.raises(CorpusError, match="no columns, so --vector-column"):
        open_vectors(files["x.npy"], vector_column="x")
    with pytest.raises(OptionError, match="max_rows"):
        open_vectors(files["x.npy"], max_rows=0)


def test_rechunk_yields_exact_chunks_whatever_the_pieces():
    pieces = [np.arange(n * 2).reshape(n, 2) for n in (3, 0, 10, 1, 7)]
    chunks = list(rechunk(iter(pieces), 4))
    assert [c.shape[0] for c in chunks] == [4, 4, 4, 4, 4, 1]
    assert np.array_equal(np.concatenate(chunks), np.concatenate(pieces))


# --- memory -------------------------------------------------------------------------------------------

_STREAM_CHILD = textwrap.dedent(
    """
    import json, sys
    from analysis.vectors import open_vectors

    def rss(field):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    source = open_vectors(sys.argv[1])
    before = rss("VmRSS")
    moments = source.moments()
    print(json.dumps({"extra_mb": rss("VmHWM") - before, "rows": moments["raw"].count}))
    """
)


def _write_big(path: Path, rows: int, dims: int = 384) -> float:
    """``rows`` random float32 vectors as .npy (written through a memory map) or Parquet (one large
    row group per 131,072 rows, as pandas and pyarrow write them); returns the file's size in MB."""
    rng = np.random.default_rng(0)
    step = 32_768
    if path.suffix == ".npy":
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dims))
        for start in range(0, rows, step):
            out[start : start + step] = rng.standard_normal((min(step, rows - start), dims), dtype=np.float32)
        out.flush()
        del out
    else:
        schema = pa.schema([("embedding", pa.list_(pa.float32(), dims))])
        with pq.ParquetWriter(path, schema, compression="none") as writer:
            for start in range(0, rows, 131_072):
                block = rng.standard_normal((min(131_072, rows - start), dims), dtype=np.float32)
                writer.write_table(pa.table({"embedding": fixed_list(block)}, schema=schema), row_group_size=131_072)
    return path.stat().st_size / 2**20


def _peak_extra(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", _STREAM_CHILD, str(path)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # writes and streams 1 GB
@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_streaming_memory_does_not_grow_with_the_file(tmp_path, suffix):
    """A 4x larger file (400 MB against 100 MB) adds nothing to the peak RSS of a streamed pass:
    npy is memory-mapped with its pages released chunk by chunk, Parquet read by record batch."""
    small, large = tmp_path / f"small{suffix}", tmp_path / f"large{suffix}"
    small_mb, large_mb = _write_big(small, 65_536), _write_big(large, 262_144)
    assert large_mb > 380
    small_run, large_run = _peak_extra(small), _peak_extra(large)
    assert (small_run["rows"], large_run["rows"]) == (65_536, 262_144)
    assert large_run["extra_mb"] - small_run["extra_mb"] < 0.1 * (large_mb - small_mb), (small_run, large_run)
    assert large_run["extra_mb"] < 300, large_run


def test_importing_the_library_and_opening_a_npy_needs_no_pyarrow_or_pandas(files):
    code = (
        "import sys; from analysis.vectors import open_vectors; s = open_vectors(sys.argv[1]); s.moments(); "
        "print(sorted(m for m in ('pyarrow', 'pandas', 'ray', 'torch') if m in sys.modules))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(files["x.npy"])],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_a_zip_member_that_lies_about_its_size_is_an_error_not_a_crash(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("embeddings.npy", npy_bytes(np.ones((1000, 4), np.float32))[:-64])
    with pytest.raises(CorpusError, match="truncated|could not be read"):
        open_vectors(buffer.getvalue(), name="lying.npz").moments()


def _mutations() -> list[tuple[str, bytes]]:
    """Valid small files of every format, to be cut and flipped by the fuzz test below."""
    x = np.arange(24, dtype=np.float32).reshape(6, 4) / 7
    out = [("a.npy", npy_bytes(x)), ("a.npz", _npz(embeddings=x, texts=np.array(list("abcdef"))))]
    table = pa.table({"emb": fixed_list(x), "text": list("abcdef")})
    out.append(("a.parquet", parquet_bytes(table)))
    sink = io.BytesIO()
    feather.write_feather(table, sink)
    out.append(("a.arrow", sink.getvalue()))
    return out


_FUZZ_CHILD = textwrap.dedent(
    """
    import json, random, sys, warnings
    from tests.test_vectors import _mutations
    from analysis.errors import CorpusError, OptionError
    from analysis.vectors import open_vectors

    warnings.simplefilter("error", RuntimeWarning)  # no overflow in the statistics either
    outcomes, files = {}, _mutations()
    for seed in map(int, sys.argv[1:]):
        rng = random.Random(seed)
        for i in range(4000):
            name, data = files[i % 4]
            damaged = bytearray(data)
            if rng.random() < 0.5:
                damaged = damaged[: rng.randrange(1, len(damaged))]
            for _ in range(rng.randrange(0, 6)):
                damaged[rng.randrange(len(damaged))] ^= rng.randrange(1, 256)
            try:
                source = open_vectors(bytes(damaged), name=name, max_bytes=1 << 20)
                source.moments()
                assert len(source.corpus) == source.n_rows
                key = name + " ok"
            except (CorpusError, OptionError) as exc:
                assert str(exc) and "\\n" not in str(exc), repr(str(exc))
                key = name + " refused"
            outcomes[key] = outcomes.get(key, 0) + 1
    print(json.dumps(outcomes))
    """
)


def test_damaged_files_give_a_result_or_one_corpus_error():
    """12,000 seeded mutations of valid files (cut short, bytes flipped): statistics and a corpus, or
    a one-line CorpusError. Run in a child process, because these seeds once found damaged files on
    which pyarrow aborted the process (column-chunk metadata, now never read) or crashed it (an Arrow
    IPC string offset, now validated), and numpy's header parser raised five kinds of error."""
    run = subprocess.run(
        [sys.executable, "-c", _FUZZ_CHILD, "100", "101", "102"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-3000:])
    outcomes = json.loads(run.stdout.strip().splitlines()[-1])
    for name in ("a.npy", "a.npz", "a.parquet", "a.arrow"):
        assert outcomes.get(f"{name} ok", 0) > 100 and outcomes.get(f"{name} refused", 0) > 1000, outcomes


def test_the_weight_scan_refuses_vectors_with_a_reason(tmp_path):
    from analysis.reports.diagnosis import diagnosis_report

    np.save(tmp_path / "mine.npy", np.eye(4, dtype=np.float32))
    with pytest.raises(OptionError, match=r"mine\.npy holds vectors only; choose the model that made them"):
        diagnosis_report(open_vectors(tmp_path / "mine.npy"))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 17])
def test_row_blocks_gather_rows_in_order_with_missing_rows_as_nan(n):
    from analysis.vectors.layout import row_blocks

    rng = np.random.default_rng(n)
    rows = [None if i % 5 == 3 else rng.normal(size=3).tolist() for i in range(n)]
    blocks = list(row_blocks(iter(rows), 3, np.float32, rows_per_block=4))
    assert [len(b) for b in blocks] == [4] * (n // 4) + ([n % 4] if n % 4 else [])
    expected = np.array([[np.nan] * 3 if r is None else r for r in rows], dtype=np.float32).reshape(n, 3)
    got = np.concatenate(blocks) if blocks else np.empty((0, 3), np.float32)
    np.testing.assert_array_equal(got, expected)  # NaN == NaN here
    assert all(b.dtype == np.float32 for b in blocks)
    # each block its own memory: a reader that kept one buffer would hand out blocks that change later
    assert not any(np.shares_memory(a, b) for a, b in zip(blocks, blocks[1:], strict=False))
