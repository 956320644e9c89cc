"""Small uploads that declare huge contents, and a child process that takes one as the public demo does.

Each builder returns ``(file name, bytes)``: a file of at most a few hundred KB (most under 12 KB),
within the public demo's upload limits, whose contents expand to far more than the 300 MB a
public-mode upload may cost the server. :mod:`tests.test_upload_memory` writes each to a temporary
file and runs::

    python -m tests.hostile_uploads <kind> <path>

which, in public mode, warms up on a small valid upload of the same kind (so imports and first-use
allocations are not counted), resets the process's peak resident size (``/proc/self/clear_refs``),
then does what the Corpus page does with the upload, and prints one JSON line: the message (or the
rows taken), the exception type if anything but a DimScopeError escaped, and the growth of the peak
resident size (VmHWM) over the baseline.

Nothing binary is committed: every file is generated here.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MB = 1 << 20


def _parquet(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    """An .npy header (format 1.0) declaring ``shape`` and ``descr``, without the data."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


# --- corpus uploads (texts: .txt, .csv, .json, .jsonl, .parquet) ----------------------------------------


def corpus_parquet_rle_list() -> tuple[str, bytes]:
    """A text column and a list column holding one run-length-encoded row of 25M zeros."""
    zeros = pa.ListArray.from_arrays(pa.array([0, 25_000_000], pa.int32()), pa.array(np.zeros(25_000_000, np.int64)))
    table = pa.table({"text": ["a short text"], "zeros": zeros})
    return "zeros.parquet", _parquet(table, compression="zstd")


def corpus_parquet_list_next_to_texts() -> tuple[str, bytes]:
    """10,000 texts next to a list column of 10M zeros (just within the 80 MB count of values)."""
    offsets = pa.array(np.arange(0, 10_000_001, 1000), pa.int32())
    zeros = pa.ListArray.from_arrays(offsets, pa.array(np.zeros(10_000_000, np.int64)))
    return "lists.parquet", _parquet(pa.table({"text": [f"t{i}" for i in range(10_000)], "zeros": zeros}))


def corpus_parquet_long_dictionary_text() -> tuple[str, bytes]:
    """One 2 MB string repeated on 60,000 rows, dictionary-encoded: 120 GB of text."""
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(60_000, np.int32)), pa.array(["y" * (2 * MB)]))
    return "long.parquet", _parquet(pa.table({"text": text}), compression="zstd")


def corpus_parquet_distinct_long_texts() -> tuple[str, bytes]:
    """Nineteen different texts of 2 MB each (38 MB of pages, under the public 40 MB)."""
    texts = [f"{i:02d}" + "v" * (2 * MB) for i in range(19)]
    return "texts.parquet", _parquet(pa.table({"text": texts}), compression="zstd", use_dictionary=False)


def corpus_parquet_deep_nesting() -> tuple[str, bytes]:
    """A column nested 200 lists deep next to the text column."""
    inner: pa.Array = pa.array([1, 2, 3], pa.int8())
    for _ in range(200):
        inner = pa.ListArray.from_arrays(pa.array([0, len(inner)], pa.int32()), inner)
    return "deep.parquet", _parquet(pa.table({"text": ["a text"], "deep": inner}), compression="zstd")


def corpus_json_deep_nesting() -> tuple[str, bytes]:
    return "deep.json", b"[" * 3_000_000 + b"]" * 3_000_000


def corpus_txt_long_line() -> tuple[str, bytes]:
    return "line.txt", b"x" * (9 * MB)


def corpus_csv_many_short_rows() -> tuple[str, bytes]:
    """Nine MB of distinct four-character rows: 1.9M texts, kept to the public 5,000."""
    rows = (f"{i:04x}"[-4:] + "\n" for i in range(1_900_000))
    return "rows.csv", ("text\n" + "".join(rows)).encode()


# --- embeddings uploads (.npy, .npz, .parquet, .arrow) ----------------------------------------------------


def vectors_parquet_dictionary_text() -> tuple[str, bytes]:
    """300 small vectors whose text column holds one 1 MB string on every row, dictionary-encoded."""
    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(300, np.int32)), pa.array(["z" * MB]))
    vectors = pa.array(list(np.ones((300, 4), np.float32)), pa.list_(pa.float32()))
    return "texts.parquet", _parquet(pa.table({"embedding": vectors, "text": text}), compression="zstd")


def vectors_parquet_growing_rows() -> tuple[str, bytes]:
    """The first vector has 4 values, the 2,999 after it 50,000 each (zeros: run-length encoded)."""
    lengths = np.full(3000, 50_000, np.int64)
    lengths[0] = 4
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = pa.array(np.zeros(int(offsets[-1]), np.float32))
    vectors = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)
    return "growing.parquet", _parquet(pa.table({"embedding": vectors}), compression="zstd")


def vectors_parquet_one_huge_row() -> tuple[str, bytes]:
    """Every vector has 4 values but one in the middle holds 40M zeros."""
    lengths = np.full(5000, 4, np.int64)
    lengths[2500] = 40_000_000
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    vectors = pa.LargeListArray.from_arrays(
        pa.array(offsets, pa.int64()), pa.array(np.zeros(int(offsets[-1]), np.float32))
    )
    return "huge-row.parquet", _parquet(pa.table({"embedding": vectors}), compression="zstd")


def vectors_arrow_zstd_strings() -> tuple[str, bytes]:
    """An Arrow IPC file whose zstd-compressed string column holds 240 strings of 1 MB."""
    vectors = pa.array(list(np.ones((240, 4), np.float32)), pa.list_(pa.float32()))
    table = pa.table({"embedding": vectors, "text": [f"{i:03d}" + "w" * MB for i in range(240)]})
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return "strings.arrow", sink.getvalue()


def vectors_arrow_zstd_vectors() -> tuple[str, bytes]:
    """An Arrow IPC file of 5,000 zero vectors of 40,000 dimensions (800 MB), zstd-compressed."""
    values = pa.array(np.zeros(5000 * 40_000, np.float32))
    vectors = pa.FixedSizeListArray.from_arrays(values, 40_000)
    sink = io.BytesIO()
    table = pa.table({"embedding": vectors})
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return "wide.arrow", sink.getvalue()


def vectors_npz_huge_text_dtype() -> tuple[str, bytes]:
    """An .npz whose text member declares 200 strings of dtype <U100000000 (74.5 GiB)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("embedding.npy", _npy_bytes(np.ones((200, 4), np.float32)))
        archive.writestr("text.npy", _npy_header((200,), "<U100000000") + b"\0" * 4096)
    return "texts.npz", buffer.getvalue()


def vectors_npz_zip_bomb() -> tuple[str, bytes]:
    """A deflated member of 250 MB of zeros: 5,000 vectors of 12,500 dimensions."""
    buffer = io.BytesIO()
    header = _npy_header((5000, 12_500), "<f4")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("embedding.npy", "w", force_zip64=True) as member:
            member.write(header)
            block = bytes(8 * MB)
            left = 5000 * 12_500 * 4
            while left:
                member.write(block[: min(left, len(block))])
                left -= min(left, len(block))
    return "bomb.npz", buffer.getvalue()


def vectors_npz_text_bomb() -> tuple[str, bytes]:
    """An .npz whose text member is a deflated 240 MB of <U12000 strings (5,000 of them)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("embedding.npy", _npy_bytes(np.ones((5000, 4), np.float32)))
        with archive.open("text.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((5000,), "<U12000"))
            row = np.array(["t" * 12_000], "<U12000").tobytes()
            for _ in range(5000):
                member.write(row)
    return "textbomb.npz", buffer.getvalue()


def vectors_npy_huge_shape() -> tuple[str, bytes]:
    """An .npy header declaring 10^12 x 4 floats over 4 KB of data."""
    return "shape.npy", _npy_header((10**12, 4), "<f4") + bytes(4096)


HOSTILE: dict[str, tuple[str, Callable[[], tuple[str, bytes]]]] = {
    "corpus parquet RLE list of 25M zeros": ("corpus", corpus_parquet_rle_list),
    "corpus parquet 10M zeros beside 10k texts": ("corpus", corpus_parquet_list_next_to_texts),
    "corpus parquet 2 MB dictionary text x 60k": ("corpus", corpus_parquet_long_dictionary_text),
    "corpus parquet 19 distinct 2 MB texts": ("corpus", corpus_parquet_distinct_long_texts),
    "corpus parquet nested 200 deep": ("corpus", corpus_parquet_deep_nesting),
    "corpus json nested 3M deep": ("corpus", corpus_json_deep_nesting),
    "corpus txt one 9 MB line": ("corpus", corpus_txt_long_line),
    "corpus csv 1.9M short rows": ("corpus", corpus_csv_many_short_rows),
    "vectors parquet 1 MB dictionary text x 300": ("vectors", vectors_parquet_dictionary_text),
    "vectors parquet first row 4 then 50k": ("vectors", vectors_parquet_growing_rows),
    "vectors parquet one row of 40M": ("vectors", vectors_parquet_one_huge_row),
    "vectors arrow zstd strings": ("vectors", vectors_arrow_zstd_strings),
    "vectors arrow zstd 800 MB of vectors": ("vectors", vectors_arrow_zstd_vectors),
    "vectors npz text dtype <U100000000": ("vectors", vectors_npz_huge_text_dtype),
    "vectors npz zip bomb 250 MB": ("vectors", vectors_npz_zip_bomb),
    "vectors npz text zip bomb 240 MB": ("vectors", vectors_npz_text_bomb),
    "vectors npy declared 10^12 rows": ("vectors", vectors_npy_huge_shape),
}

#: The five shapes issue 19 names (the rest widen the net).
ISSUE_SHAPES = (
    "corpus parquet RLE list of 25M zeros",
    "vectors parquet 1 MB dictionary text x 300",
    "vectors parquet first row 4 then 50k",
    "vectors arrow zstd strings",
    "vectors npz text dtype <U100000000",
)


# --- the child: one upload, as the Corpus page takes it in public mode ------------------------------------


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        match = re.search(field + r":\s+(\d+)", fh.read())
    assert match, field
    return int(match.group(1)) / 1024


def _take_corpus(data: bytes, name: str, policy) -> str:
    """What the Corpus page does with a text upload: a preview, then the corpus."""
    from analysis.corpora import parse_corpus_bytes, preview_corpus_bytes

    preview_corpus_bytes(data, name, max_bytes=policy.max_upload_bytes)
    corpus = parse_corpus_bytes(
        data, name, max_bytes=policy.max_upload_bytes, max_texts=policy.max_texts, max_chars=policy.max_chars
    )
    return f"{len(corpus):,} texts, longest {max(map(len, corpus.texts)):,} characters"


def _take_vectors(data: bytes, name: str, policy) -> str:
    """What the Corpus page and the pages after it do with embeddings: open, one streamed pass
    of statistics, the rows' texts and labels, and the matrix."""
    from analysis.vectors import open_vectors

    source = open_vectors(
        data,
        name=name,
        max_bytes=policy.max_vector_upload_bytes,
        max_rows=policy.max_vector_rows,
        max_chars=policy.max_chars,
    )
    source.moments()
    corpus = source.corpus
    matrix = source.matrix()
    return f"{matrix.shape[0]:,} x {matrix.shape[1]:,} vectors, longest text {max(map(len, corpus.texts)):,}"


_WARM_UP = {
    "corpus": lambda: ("warm.parquet", _parquet(pa.table({"text": ["warm", "up"], "label": ["a", "b"]}))),
    "vectors": lambda: (
        "warm.parquet",
        _parquet(
            pa.table({"embedding": pa.array([[1.0, 2.0], [2.0, 1.0]], pa.list_(pa.float32())), "text": ["a", "b"]})
        ),
    ),
}


def main(kind: str, path: str) -> int:
    os.environ["DIMSCOPE_PUBLIC"] = "1"
    from analysis.errors import DimScopeError
    from dashboard.policy import load_policy

    policy = load_policy()
    assert policy.public
    take = {"corpus": _take_corpus, "vectors": _take_vectors}[kind]
    take(*reversed(_WARM_UP[kind]()), policy)  # imports and first-use allocations are not the upload's cost
    from analysis.corpora import parse_corpus_bytes  # noqa: F401
    from analysis.vectors import open_vectors  # noqa: F401 - both paths' modules loaded before the baseline

    data = Path(path).read_bytes()
    name = Path(path).name
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # the peak (VmHWM) starts again from the current resident size
    before = _status_mb("VmRSS")
    started = time.monotonic()
    result: dict = {}
    try:
        result["taken"] = take(data, name, policy)
    except DimScopeError as exc:
        result["message"] = str(exc)
    except BaseException as exc:  # noqa: BLE001 - the test reports whatever escaped
        result["exception"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        result["traceback"] = traceback.format_exc()[-2000:]
    result["seconds"] = round(time.monotonic() - started, 2)
    result["peak_growth_mb"] = round(_status_mb("VmHWM") - before, 1)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    # No interpreter teardown: about one run in twenty, pyarrow's thread pools end the process
    # with "terminate called without an active exception" while Python shuts down, after the
    # result is written. A server never shuts down per upload; what is measured is above.
    os._exit(code)
