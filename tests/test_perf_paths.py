"""Every optimised path against the straightforward computation (no timing assertions here:
``python -m benchmarks`` prints the figures).

* the fast float32 statistics path vs plain float64 numpy and vs the module's own reference path;
* the warm CLI request: no torch / sentence_transformers import (``python -X importtime``);
* the OpenMP wait policy set before torch loads, without overriding a user's choice.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.measures import stats

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = stats.STAT_COLUMNS[1:]


def _numpy_reference(matrix: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Two-pass float64 numpy: the definition of every column."""
    m = matrix.astype(np.float64)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    near = (np.abs(m) < stats.NEAR_ZERO_EPS * norms).mean(0)
    normalized = (m / np.where(norms > 0, norms, 1.0)).astype(np.float32).astype(np.float64)
    out = {}
    for view, v in (("raw", m), ("normalized", normalized)):
        out[view] = {
            "mean": v.mean(0),
            "std": v.std(0),
            "variance": v.var(0),
            "min": v.min(0),
            "max": v.max(0),
            "abs_mean": np.abs(v).mean(0),
            "near_zero_share": near,
        }
    return out


def _embedding_like(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, d)) * rng.uniform(0.01, 0.1, d) + rng.normal(0, 0.05, d)).astype(np.float32)
    x[:, 1] = 0.0  # dead: exactly zero
    x[:, 2] = 0.375  # constant, non-zero
    x[:, 3] = (0.03 + rng.standard_normal(n) * 1e-6).astype(np.float32)  # near-dead, far from zero
    return x


def _assert_close(got: dict, ref: dict, *, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    for view in ("raw", "normalized"):
        for column in COLUMNS:
            np.testing.assert_allclose(
                got[view][column], ref[view][column], rtol=rtol, atol=atol, err_msg=f"{view} {column}"
            )


@pytest.mark.parametrize(
    "n,d,chunk", [(1, 5, 1), (17, 4, 5), (301, 24, 7), (1000, 384, 8192), (5000, 64, 333), (9000, 40, 9000)]
)
def test_fast_stats_match_numpy(n, d, chunk):
    x = _embedding_like(n, d, seed=n)
    got = stats.stats_columns(stats.iter_row_chunks(x, chunk), d, method="fast")
    _assert_close(got, _numpy_reference(x))
    assert got["raw"]["std"][1] == 0 and got["raw"]["abs_mean"][1] == 0
    assert got["raw"]["std"][2] < 1e-7  # a constant column has (numerically) no spread


def test_fast_and_reference_paths_agree_closely():
    x = _embedding_like(20_000, 96, seed=3)
    fast = stats.stats_columns(stats.iter_row_chunks(x, 4096), 96, method="fast")
    reference = stats.stats_columns(stats.iter_row_chunks(x, 4096), 96, method="reference")
    _assert_close(fast, reference, rtol=1e-6, atol=1e-9)
    # The near-dead dimension (std 1e-6 around 0.03) keeps its digits in both.
    np.testing.assert_allclose(fast["raw"]["std"][3], x[:, 3].astype(np.float64).std(), rtol=1e-4)


def test_large_offset_and_sorted_rows_stay_accurate():
    # A mean 1e4 x the spread, and rows sorted so that the first block is unrepresentative.
    rng = np.random.default_rng(4)
    x = (1e3 + rng.normal(0, 0.1, size=(30_000, 4))).astype(np.float32)
    x = np.sort(x, axis=0)
    got = stats.stats_columns(stats.iter_row_chunks(x, 1000), 4, method="fast", both_views=False)
    np.testing.assert_allclose(got["raw"]["std"], x.astype(np.float64).std(0), rtol=1e-6)
    np.testing.assert_allclose(got["raw"]["mean"], x.astype(np.float64).mean(0), rtol=1e-9)


def test_threads_do_not_change_the_answer():
    x = _embedding_like(40_000, 48, seed=5)
    one = stats.stats_columns(stats.iter_row_chunks(x, 20_000), 48, workers=1)
    two = stats.stats_columns(stats.iter_row_chunks(x, 20_000), 48, workers=2)
    _assert_close(two, one, rtol=1e-6, atol=1e-10)  # other block boundaries: float32 rounding only
    for view in ("raw", "normalized"):
        np.testing.assert_array_equal(two[view]["near_zero_share"], one[view]["near_zero_share"])
        np.testing.assert_array_equal(two[view]["min"], one[view]["min"])
    again = stats.stats_columns(stats.iter_row_chunks(x, 20_000), 48, workers=2)
    np.testing.assert_array_equal(again["raw"]["std"], two["raw"]["std"])  # deterministic


def test_zero_rows_are_never_near_zero_and_stay_zero_when_normalized():
    x = _embedding_like(200, 16, seed=6)
    x[[0, 50, 199]] = 0.0
    got = stats.stats_columns([x], 16, method="fast")
    _assert_close(got, _numpy_reference(x))


def test_mixed_dtypes_and_public_frames():
    x = _embedding_like(500, 12, seed=7)
    ref = _numpy_reference(x)
    # float64 input takes the reference path; float32 after float64 is cast.
    _assert_close(stats.stats_columns([x.astype(np.float64)], 12), ref)
    _assert_close(stats.stats_columns([x[:100], x[100:].astype(np.float64)], 12), ref)
    frames = stats.dimension_stats_both_views(stats.iter_row_chunks(x, 64), 12)
    assert list(frames["raw"].columns) == stats.STAT_COLUMNS
    np.testing.assert_allclose(frames["normalized"]["std"], ref["normalized"]["std"], rtol=1e-5, atol=1e-8)


def _fresh_python_stdout(code: str) -> str:
    """What ``code`` prints in a new interpreter (so that sys.modules shows only its own imports)."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_stats_does_not_import_pandas():
    assert _fresh_python_stdout("import sys, analysis.measures.stats; print('pandas' in sys.modules)") == "False"


def test_warm_cli_request_imports_no_torch(tiny_model_dir, tmp_path):
    """Target 2: a cached ``python -m analysis stats`` never imports torch or sentence_transformers."""
    from analysis import pipeline
    from analysis.corpora import load_corpus
    from analysis.models import resolve_model
    from analysis.pipeline.cache import EmbeddingStore

    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(f"sentence number {i} about the weather" for i in range(60)) + "\n")
    cache = tmp_path / "cache"
    store = EmbeddingStore(cache)
    pipeline.get_stats(resolve_model(str(tiny_model_dir)), load_corpus(str(texts)), store=store)
    store.close()
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    args = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "analysis",
        "stats",
        "--model",
        str(tiny_model_dir),
        "--corpus",
        str(texts),
        "-q",
        "--output",
        str(tmp_path / "out.json"),
    ]
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {
        m.group(1).split(".")[0] for m in re.finditer(r"^import time:\s+\d+\s+\|\s+\d+\s+\|\s*(\S+)", run.stderr, re.M)
    }
    assert "analysis" in imported  # the trace really covers the run
    # "auto" is the default: resolving it reads this machine's calibration record, nothing heavier.
    assert not imported & {"torch", "sentence_transformers", "transformers", "openvino", "onnxruntime"}, sorted(
        imported
    )
    assert '"dead_dims": [' in (tmp_path / "out.json").read_text()


@pytest.mark.parametrize("preset,expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_passive_openmp_is_a_default_not_an_override(preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = (
        "import os; from analysis.encoding import prefer_passive_openmp; prefer_passive_openmp(); "
        "print(os.environ['OMP_WAIT_POLICY'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected


def test_fast_truncation_count_matches_the_tokenizer_call(minilm, tiny_model_dir, tiny_clean_dir):
    """``count_truncated`` (Rust ``encode_batch``, no model load) vs the loaded tokenizer's __call__."""
    from analysis.encoding import tokens
    from analysis.models import resolve_model

    texts = [("word " * n).strip() for n in (1, 5, 60, 126, 127, 128, 200, 254, 255, 256, 300, 900)]
    texts += ["Ünïcödé àccents 🙂 中文字符 " * k for k in (1, 40, 90)]
    for model in (minilm, resolve_model(str(tiny_model_dir)), resolve_model(str(tiny_clean_dir))):
        for prompt in ("", "query: "):
            slow = tokens._count_truncated_slow(model, texts, prompt)
            tokens._COUNTERS.pop(model.fingerprint, None)
            assert tokens.count_truncated(model, texts, prompt) == slow
            assert 0 < slow < len(texts)


_OVERVIEW_CHILD = r"""
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=300)
at.run()
print(json.dumps({
    "exceptions": [str(e.value)[:300] for e in at.exception],
    "charts": len(at.get("plotly_chart")),
    "title": [t.value for t in at.title],
    "imported": sorted(m for m in ("pandas", "pyarrow", "torch", "sentence_transformers") if m in sys.modules),
}))
"""


def test_overview_from_a_warm_cache_imports_neither_pandas_nor_torch(warm_cache_dir):
    """Target 6: the first page of a fresh server pays only for what it draws (about 0.5 s less)."""
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(warm_cache_dir), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _OVERVIEW_CHILD, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["exceptions"] == []
    assert report["title"] == ["DimScope"] and report["charts"] >= 1  # the page really drew its chart
    assert report["imported"] == [], report


def test_stats_result_columns_and_frames_agree(tiny_model_dir, tmp_path):
    """The numpy columns a page reads and the DataFrames other pages read hold the same numbers,
    freshly computed and served from the cache."""
    from analysis import pipeline
    from analysis.corpora import Corpus
    from analysis.models import resolve_model
    from analysis.pipeline.cache import EmbeddingStore
    from tests.tiny_models import tiny_corpus

    corpus = Corpus(name="t", texts=tuple(dict.fromkeys(tiny_corpus(120, seed=3))))
    store = EmbeddingStore(tmp_path / "cache")
    model = resolve_model(str(tiny_model_dir))
    fresh = pipeline.get_stats(model, corpus, store=store)
    cached = pipeline.get_stats(model, corpus, store=store)
    assert not fresh.from_cache and cached.from_cache
    for result in (fresh, cached):
        for view in ("raw", "normalized"):
            columns, frame = result.columns(view), result.view(view)
            assert list(frame.columns) == stats.STAT_COLUMNS and list(columns) == stats.STAT_COLUMNS
            for name in stats.STAT_COLUMNS:
                np.testing.assert_array_equal(frame[name].to_numpy(), columns[name])
        assert result.view("raw") is result.raw  # built once
    for view in ("raw", "normalized"):
        for name in stats.STAT_COLUMNS:
            np.testing.assert_array_equal(fresh.columns(view)[name], cached.columns(view)[name])
    assert fresh.to_json_dict() == cached.to_json_dict()
    # The same numbers as a direct computation on the embeddings.
    raw = pipeline.get_embeddings(model, corpus, store=store).raw.astype(np.float64)
    normalized = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(cached.columns("raw")["std"], raw.std(axis=0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(cached.columns("normalized")["std"], normalized.std(axis=0), rtol=1e-5, atol=1e-9)
    assert fresh.dead_dims == cached.dead_dims == stats.dead_dimensions(normalized.std(axis=0)) == [3, 17]
    store.close()


def test_missing_cells_are_recognised_without_pandas():
    code = (
        "import sys, numpy as np; from analysis.corpora.corpus import is_missing; "
        "print([is_missing(v) for v in (None, float('nan'), np.float32('nan'), np.float64(1.0), 'nan', b'', 0)],"
        " 'pandas' in sys.modules)"
    )
    assert _fresh_python_stdout(code) == "[True, True, True, False, False, False, False] False"


_TXT_SAMPLES = [
    b"",
    b"\n",
    b"one\ntwo\n\ntwo\r\nthree\rfour",
    "caf\u00e9 \u2014 na\u00efve\n\u00fcber".encode("utf-8"),
    "\ufeffwith a BOM\nsecond".encode("utf-8"),
    "utf sixteen\nline".encode("utf-16"),
    b"\xff\xfe\x00bad\x80bytes\n",
    b"  padded  \n\t\n" + b"x" * 5000 + b"\n",
    b"1\n2\n3\n",
    b"=SUM(A1)\n+cmd\n",
    b"a\x00b\nc\n",
]


def _txt_fast_and_table_paths(data: bytes, filename: str, **kwargs):
    """``parse_corpus_bytes`` of a .txt file as is (the line splitter) and with the text column named
    (the table path); CorpusError stands for a refusal."""
    from analysis.corpora import parse_corpus_bytes
    from analysis.errors import CorpusError

    def parse(**extra):
        try:
            return parse_corpus_bytes(data, filename, **kwargs, **extra)
        except CorpusError:
            return CorpusError

    return parse(), parse(text_column="text")


@pytest.mark.parametrize("data", _TXT_SAMPLES)
def test_text_files_skip_pandas_and_give_the_table_paths_corpus(data):
    """A .txt upload is read without pandas; the result is the one the table path gives."""
    fast, table = _txt_fast_and_table_paths(data, "notes.txt", max_chars=1000)
    assert fast == table


def test_text_file_parsing_imports_no_pandas():
    code = (
        "import sys; from analysis.corpora import parse_corpus_bytes; "
        "c = parse_corpus_bytes(b'first\\nsecond\\n\\nsecond\\n', 'a.txt'); "
        "print(list(c.texts), c.report.n_duplicates, 'pandas' in sys.modules)"
    )
    assert _fresh_python_stdout(code) == "['first', 'second'] 1 False"


@given(
    st.lists(st.text(max_size=40), max_size=30),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
@settings(max_examples=120, deadline=None, derandomize=True)
def test_text_file_fast_path_matches_the_table_path_on_generated_files(lines, newline, encoding):
    fast, table = _txt_fast_and_table_paths(newline.join(lines).encode(encoding, errors="replace"), "generated.txt")
    assert fast == table
