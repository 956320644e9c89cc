"""Hostile input for a public demo: odd bytes, wrong encodings, huge lines, formula cells,
escaping names, malformed and oversized Parquet and JSON, and hostile URL parameters.

Every case must end in a correct result or a one-line CorpusError/OptionError; no other
exception type may escape and the process must stay up (memory bombs are run in a child
process whose peak memory is measured). All nasty files are generated here, in tmp_path.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.corpora import (
    Corpus,
    RetrievalTask,
    TablePreview,
    load_corpus,
    parse_corpus_bytes,
    parse_pairs_bytes,
    preview_corpus_bytes,
    read_corpus_file,
)
from analysis.errors import CorpusError, OptionError
from analysis.figures import downloads, stat_tables
from dashboard import urlstate
from dashboard.selection import Selection
from tests.helpers import assert_bad_input

ROOT = Path(__file__).resolve().parent.parent
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXTENSIONS = (".txt", ".csv", ".tsv", ".json", ".jsonl", ".parquet")


# --------------------------------------------------------------------------- helpers


def outcome(func, *args, **kwargs):
    """The result, or the CorpusError/OptionError raised; anything else fails the test."""
    try:
        return func(*args, **kwargs)
    except (CorpusError, OptionError) as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        assert "Traceback" not in message and len(message) < 1000, message
        assert all(unicodedata.category(ch) != "Cc" for ch in message), repr(message)
        return exc


def parquet_of(table: pa.Table, **kwargs) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **kwargs)
    return buffer.getvalue()


def assert_accounting(corpus: Corpus) -> None:
    r = corpus.report
    assert r.n_rows_read == r.n_kept + r.n_blank + r.n_duplicates + r.n_sampled_out + r.n_over_limit
    assert r.n_kept == len(corpus.texts) > 0
    assert all(isinstance(t, str) and t.strip() for t in corpus.texts)


def assert_clean_name(name: str) -> None:
    assert name and len(name) <= 120
    assert "/" not in name and "\\" not in name
    assert all(unicodedata.category(ch)[0] != "C" for ch in name), repr(name)
    assert name == name.strip() and "  " not in name


# --------------------------------------------------------------------------- the nasty corpus

LATIN = "Café naïve façade, déjà vu: 50 °C, £10 ± 2 ¿qué?"


def _nasty_files() -> dict[str, tuple[str, bytes, object]]:
    """name -> (file name, bytes, expectation). An expectation is a tuple of expected texts,
    a str fragment of the expected CorpusError, or a callable checking the Corpus."""
    lines = ["first line", "second – line ✓", "third"]
    utf8 = "\n".join(lines).encode()
    huge_line = b"x" * 10_000_000

    def truncated(corpus: Corpus) -> None:
        assert corpus.texts == ("x" * 10_000,) and corpus.report.n_truncated == 1
        assert "Truncated 1 text longer than 10,000 characters." in corpus.report.messages()

    def lossy(n_rows: int):
        def check(corpus: Corpus) -> None:
            assert corpus.report.n_undecodable == n_rows and len(corpus) == 3
            assert any("not valid UTF-8" in m for m in corpus.report.messages())
            assert all("\ufffd" in t for t in corpus.texts[:n_rows])

        return check

    def many_lines(corpus: Corpus) -> None:
        assert corpus.report.n_rows_read == corpus.report.n_kept == 200_000
        assert corpus.texts[0] == "line 0" and corpus.texts[-1] == "line 199999"

    good_parquet = parquet_of(pa.table({"text": ["alpha", "beta", "gamma"]}))
    return {
        # --- bytes and encodings
        "random bytes": ("noise.txt", np.random.default_rng(0).bytes(20_000), "binary"),
        "NUL bytes in text": ("nul.csv", b"text\nhello\x00world\n" * 50, "binary"),
        "only NUL bytes": ("zeros.jsonl", b"\x00" * 4096, "binary"),
        "UTF-8 BOM": ("bom.txt", codecs.BOM_UTF8 + utf8, tuple(lines)),
        "UTF-8 BOM csv header": ("bom.csv", codecs.BOM_UTF8 + b"text,label\nhi,a\nho,b\n", ("hi", "ho")),
        "UTF-16 LE with BOM": ("u16.txt", "\n".join(lines).encode("utf-16"), tuple(lines)),
        "UTF-16 BE with BOM": ("u16be.txt", codecs.BOM_UTF16_BE + "\n".join(lines).encode("utf-16-be"), tuple(lines)),
        "UTF-16 LE without BOM": (
            "u16le.csv",
            "text\r\nfirst\r\nsecond line\r\n".encode("utf-16-le"),
            ("first", "second line"),
        ),
        "UTF-16 BE without BOM": ("u16be.txt", "\n".join(lines).encode("utf-16-be"), tuple(lines)),
        "UTF-16 odd byte count": (
            "odd16.txt",
            "\n".join(lines).encode("utf-16")[:-1],
            lambda c: c.texts[:2] == tuple(lines[:2]) and c.report.n_undecodable == 1,
        ),
        "latin-1": ("latin.txt", "\n".join([LATIN, LATIN + "!", "plain ascii"]).encode("latin-1"), lossy(2)),
        "cp1252 quotes": (
            "cp.txt",
            "\n".join(["“smart” quotes – dash", "ok", "€ euro"]).encode("cp1252"),
            lambda c: c.report.n_undecodable == 2 and c.texts[1] == "ok",
        ),
        "invalid UTF-8 continuation bytes": (
            "cont.txt",
            b"ab\x80cd\nok\n\xc3\x28 bad pair\n\xe2\x82\n",
            lambda c: c.report.n_undecodable == 3 and c.texts[1] == "ok",
        ),
        "mixed UTF-8 and latin-1 lines": (
            "mixed.txt",
            "déjà\n".encode() + "déjà vu\n".encode("latin-1"),
            lambda c: c.texts[0] == "déjà" and c.report.n_undecodable == 1,
        ),
        "UTF-8 encoded surrogates": (
            "surr.jsonl",
            b'"\xed\xa0\x80 x"\n"\\ud800 y"\n"fine"\n',
            lambda c: c.report.n_undecodable == 2 and c.texts[2] == "fine",
        ),
        # --- line endings and sizes
        "CRLF": ("crlf.txt", b"one\r\ntwo\r\n\r\nthree\r\n", ("one", "two", "three")),
        "lone CR": ("cr.txt", b"one\rtwo\rthree", ("one", "two", "three")),
        "lone CR csv": ("cr.csv", b"text,label\rone,a\rtwo,b\r", ("one", "two")),
        "mixed line endings": ("mixed-eol.tsv", b"text\tlabel\r\na\tx\rb\ty\nc\tz\n", ("a", "b", "c")),
        "single 10 MB line": ("huge.txt", huge_line, truncated),
        "single 10 MB csv cell": ("huge.csv", b"text\n" + huge_line + b"\n", truncated),
        "single 10 MB json string": ("huge.jsonl", b'{"text": "' + huge_line + b'"}\n', truncated),
        "200k lines": ("many.txt", "\n".join(f"line {i}" for i in range(200_000)).encode(), many_lines),
        "blank lines only": ("blank.txt", b"\n \r\n\t\n\r" * 1000, "No text left"),
        "empty": ("empty.csv", b"", "empty"),
        # --- Parquet
        "truncated parquet": ("cut.parquet", good_parquet[: len(good_parquet) // 2], "not a valid Parquet"),
        "parquet magic only": ("magic.parquet", b"PAR1", "not a valid Parquet"),
        "parquet wrong head magic": ("head.parquet", b"PAR0" + good_parquet[4:], "not a valid Parquet"),
        "parquet wrong tail magic": ("tail.parquet", good_parquet[:-4] + b"PAR0", "not a valid Parquet"),
        "parquet garbage footer": (
            "footer.parquet",
            b"PAR1" + os.urandom(64) + (2**31 - 1).to_bytes(4, "little") + b"PAR1",
            "not a valid Parquet",
        ),
        "text file named parquet": ("notes.parquet", b"hello\nworld\n", "CSV or text file renamed"),
        "parquet binary text column": (
            "bin.parquet",
            parquet_of(pa.table({"text": pa.array([b"caf\xc3\xa9", b"\xff\xfe broken", b"plain"], pa.binary())})),
            lambda c: c.texts == ("café", "\ufffd\ufffd broken", "plain") and c.report.n_undecodable == 1,
        ),
        "parquet int text column": ("int.parquet", parquet_of(pa.table({"text": [1, 2, 3]})), "no column of text"),
        "parquet struct text column": (
            "struct.parquet",
            parquet_of(pa.table({"text": [{"a": 1}, {"a": 2}]})),
            "no column of text",
        ),
        "parquet list text column": (
            "list.parquet",
            parquet_of(pa.table({"text": [["a"], ["b"]]})),
            "no column of text",
        ),
        "parquet null column": (
            "null.parquet",
            parquet_of(pa.table({"text": pa.array([None, None], pa.null())})),
            "No text left",
        ),
        "parquet no rows": ("norows.parquet", parquet_of(pa.table({"text": pa.array([], pa.string())})), "no rows"),
        "parquet 5,000 columns": (
            "wide.parquet",
            parquet_of(pa.table({f"c{i}": ["x"] for i in range(5_000)})),
            "at most 1,000",
        ),
        # --- JSON
        "JSON nested 100k levels": ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        "JSON objects nested 100k levels": (
            "deepobj.json",
            b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
            "nested too deeply",
        ),
        "JSON lines nested 100k levels": ("deep.jsonl", b'"ok"\n' + b"[" * 100_000 + b"\n", "line 2"),
        "JSON unclosed nesting": ("open.json", b"[" * 100_000, "not valid JSON"),
        "JSON huge integer": (
            "bigint.jsonl",
            b'{"text": ' + b"9" * 5_000 + b'}\n{"text": "ok"}\n',
            ("9" * 5_000, "ok"),
        ),
        "JSON huge float": (
            "bigfloat.json",
            b'["1e999", 1e999, -1e999, 1' + b"0" * 300 + b".5]",
            ("1e999", "inf", "-inf", "1e+300"),
        ),
        "JSON NaN and Infinity": (
            "nan.jsonl",
            b'{"text": NaN}\n{"text": Infinity}\n{"text": "real"}\n',
            lambda c: c.texts[-1] == "real",
        ),
        "JSON top-level number": ("num.json", b"42", "expected a list"),
        "JSON top-level string": ("str.json", b'"just text"', "expected a list"),
        "JSON top-level null": ("null.json", b"null", "expected a list"),
        "JSON top-level true": ("true.json", b"true", "expected a list"),
        "JSON lines of nested lists": ("lists.jsonl", b'"a"\n[1, [2]]\n', "line 2 is a list"),
        "JSON 5,000 different keys": (
            "keys.jsonl",
            b"\n".join(json.dumps({f"k{i}": 1, "text": f"t{i}"}).encode() for i in range(5_000)),
            "different keys",
        ),
        "JSON sparse keys over many rows": (
            "sparse.jsonl",
            json.dumps({f"k{i}": 1 for i in range(900)}).encode() + b"\n" + b'"x"\n' * 120_000,
            "cells",
        ),
        "JSON 5,000 columns": (
            "cols.json",
            json.dumps({f"c{i}": ["a"] for i in range(5_000)}).encode(),
            "at most 1,000",
        ),
        "CSV 100k columns": (
            "wide.csv",
            (",".join(f"c{i}" for i in range(100_000)) + "\nx\n").encode(),
            "at most 1,000",
        ),
        "CSV formula cells": (
            "formulas.csv",
            b'text,label\n=1+1,@a\n+cmd,-b\n-2,"=c"\n@SUM(A1),d\n"\t=x",e\n',
            ("=1+1", "+cmd", "-2", "@SUM(A1)", "\t=x"),
        ),
    }


NASTY = _nasty_files()
SLOW_PREVIEW = {"200k lines", "JSON sparse keys over many rows"}


@pytest.fixture(scope="module")
def nasty_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("nasty")
    for key, (filename, data, _) in NASTY.items():
        sub = folder / str(sorted(NASTY).index(key))
        sub.mkdir()
        (sub / filename).write_bytes(data)
    return folder


def _check_expectation(result, expected, filename: str) -> None:
    if isinstance(expected, str):
        assert isinstance(result, CorpusError), f"expected an error about {expected!r}, got {result!r}"
        assert expected.lower() in str(result).lower(), str(result)
        assert filename.split(".")[0] in str(result) or "No text left" in str(result), str(result)
        return
    assert isinstance(result, Corpus), f"expected a corpus, got {result!r}"
    assert_accounting(result)
    assert result.name == filename
    if isinstance(expected, tuple):
        assert result.texts == expected
    else:
        assert expected(result) is not False


@pytest.mark.parametrize("case", sorted(NASTY))
def test_nasty_file_gives_a_result_or_one_clear_error(case, nasty_dir):
    filename, data, expected = NASTY[case]
    started = time.monotonic()
    from_bytes = outcome(parse_corpus_bytes, data, filename)
    _check_expectation(from_bytes, expected, filename)
    # The same file read from disk, by path and by load_corpus, gives the same outcome.
    path = nasty_dir / str(sorted(NASTY).index(case)) / filename
    for result in (outcome(read_corpus_file, path), outcome(load_corpus, str(path))):
        assert type(result) is type(from_bytes)
        if isinstance(result, Corpus):
            assert result.texts == from_bytes.texts and result.report == from_bytes.report
        else:
            assert str(result) == str(from_bytes)
    if case not in SLOW_PREVIEW:
        preview = outcome(preview_corpus_bytes, data, filename)
        assert isinstance(preview, (TablePreview, CorpusError))
        if isinstance(preview, TablePreview):  # no cell of the preview is sent to the browser whole
            assert all(len(v) <= 1_000 for v in preview.head.to_numpy().ravel() if isinstance(v, str))
    assert time.monotonic() - started < 30, "a file within the size limit must be handled quickly"


def test_limits_apply_to_nasty_files():
    filename, data, _ = NASTY["200k lines"]
    corpus = parse_corpus_bytes(data, filename, max_texts=50, max_chars=10)
    assert len(corpus) == 50 and all(len(t) <= 10 for t in corpus.texts)
    assert corpus.report.n_over_limit > 190_000
    assert_accounting(corpus)
    with pytest.raises(CorpusError, match="over the 1 MB limit"):
        parse_corpus_bytes(NASTY["single 10 MB line"][1], "huge.txt", max_bytes=1024 * 1024)


# --------------------------------------------------------------------------- big inputs: time and memory

_MEMORY_PROBE = textwrap.dedent(
    """
    import gc, io, json, re, time
    import numpy as np
    import pyarrow as pa, pyarrow.parquet as pq
    from analysis.corpora import parse_corpus_bytes
    from analysis.errors import CorpusError

    def parquet_of(table, **kw):
        buffer = io.BytesIO(); pq.write_table(table, buffer, **kw); return buffer.getvalue()

    def status_mb(field):
        with open("/proc/self/status") as fh:
            return int(re.search(field + r":\\s+(\\d+)", fh.read()).group(1)) / 1024

    line = b"x" * 10_000_000
    cases = {
        "10 MB line": lambda: (line, "huge.txt", {"max_chars": 2000}),
        "10 MB csv cell": lambda: (b"text\\n" + line + b"\\n", "huge.csv", {"max_chars": 2000}),
        "10 MB json cell": lambda: (b'"' + line + b'"\\n', "huge.jsonl", {"max_chars": 2000}),
        "1M parquet rows": lambda: (parquet_of(pa.table({"text": [f"row {i}" for i in range(1_000_000)]})),
                                    "rows.parquet", {"max_texts": 5000}),
        "parquet dictionary bomb": lambda: (parquet_of(pa.table({"text": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(2_000_000, np.int32)), pa.array(["y" * 2_000]))}), compression="zstd"),
            "bomb.parquet", {}),
        "parquet 11M rows": lambda: (parquet_of(pa.table({"text": pa.repeat(pa.scalar("a"), 11_000_000)}),
                                                compression="zstd"), "rows11m.parquet",
                                     {"max_bytes": 10 * 1024 * 1024}),
        "jsonl distinct keys": lambda: (b"\\n".join(json.dumps({f"k{i}": "v", "text": f"t{i}"}).encode()
                                                   for i in range(50_000)), "keys.jsonl", {}),
        "json distinct keys": lambda: (json.dumps([{f"k{i}": "v", "text": f"t{i}"} for i in range(50_000)]).encode(),
                                       "keys.json", {}),
    }
    parse_corpus_bytes(b"warm up\\n", "w.txt")
    for name, build in cases.items():
        data, filename, options = build()
        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak (VmHWM) to the current resident size
        before, started = status_mb("VmRSS"), time.monotonic()
        try:
            corpus = parse_corpus_bytes(data, filename, **options)
            result = {"texts": len(corpus), "truncated": corpus.report.n_truncated,
                      "first": corpus.texts[0][:20], "longest": max(map(len, corpus.texts))}
        except CorpusError as exc:
            result = {"error": str(exc)}
        result.update(name=name, file_bytes=len(data), seconds=time.monotonic() - started,
                      peak_growth_mb=status_mb("VmHWM") - before)
        print(json.dumps(result), flush=True)
        del data
        corpus = None
    """
)


@pytest.mark.slow
def test_big_inputs_are_fast_and_memory_bounded():
    """Run in a child, so that a memory bomb cannot take the test process down with it, and
    measure each case's peak resident memory (VmHWM, reset before each case)."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert len(results) == 8, proc.stdout
    for name in ("10 MB line", "10 MB csv cell", "10 MB json cell"):
        r = results[name]
        assert r["texts"] == 1 and r["truncated"] == 1 and r["longest"] == 2000, r
        assert r["seconds"] < 10 and r["peak_growth_mb"] < 300, r
    rows = results["1M parquet rows"]
    assert rows["texts"] == 5000 and rows["first"] == "row 0", rows
    assert rows["seconds"] < 45 and rows["peak_growth_mb"] < 400, rows
    # A 400 KB Parquet file that expands to 4 GB, and one with 11M rows, are refused up front.
    bomb = results["parquet dictionary bomb"]
    assert bomb["file_bytes"] < 1_000_000 and "unpacks to more than 1.6 GB" in bomb["error"], bomb
    assert bomb["seconds"] < 5 and bomb["peak_growth_mb"] < 300, bomb
    assert "11,000,000 rows" in results["parquet 11M rows"]["error"]
    assert results["parquet 11M rows"]["peak_growth_mb"] < 300
    # 50k records with 50k different keys would be a 2.5-billion-cell table (an OOM kill).
    for name in ("jsonl distinct keys", "json distinct keys"):
        assert "different keys" in results[name]["error"], results[name]
        assert results[name]["seconds"] < 10 and results[name]["peak_growth_mb"] < 300, results[name]


def test_deep_json_inside_a_deep_call_stack():
    """The recursion limit is shared with the caller's frames (Streamlit adds many)."""
    nested = b"[" * 900 + b'"x"' + b"]" * 900
    record = b'{"text": ' + b'{"a": ' * 400 + b'"x"' + b"}" * 400 + b"}\n"

    def at_depth(n: int):
        if n:
            return at_depth(n - 1)
        return [
            outcome(parse_corpus_bytes, nested, "n.json"),
            outcome(parse_corpus_bytes, record, "r.jsonl", text_column="text"),
            outcome(preview_corpus_bytes, record, "r.jsonl"),
        ]

    for depth in (0, 300, 600):
        for result in at_depth(depth):
            assert isinstance(result, (Corpus, TablePreview, CorpusError)), result


# --------------------------------------------------------------------------- property-based

_LATIN1_TEXT = st.characters(
    min_codepoint=0x20, max_codepoint=0xFF, blacklist_categories=("Cc",), blacklist_characters="\x85\xa0"
)
_ANY_TEXT = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff\x85")


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.text(_ANY_TEXT, max_size=30), min_size=1, max_size=15),
    latin_lines=st.lists(st.text(_LATIN1_TEXT, min_size=1, max_size=30), min_size=1, max_size=15),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    trailing=st.booleans(),
)
def test_text_files_round_trip_in_every_unicode_encoding(lines, latin_lines, encoding, newline, trailing):
    """Whatever the Unicode encoding (with or without a byte-order mark) and line ending, a .txt
    file gives back exactly its non-blank lines, first occurrence of each, in order."""
    if encoding in ("utf-16-le", "utf-16-be"):
        lines = latin_lines  # without a byte-order mark, UTF-16 is recognised for Latin text
    data = (newline.join(lines) + (newline if trailing else "")).encode(encoding)
    expected = tuple(dict.fromkeys(line for line in lines if line.strip()))
    result = outcome(parse_corpus_bytes, data, "t.txt")
    if not expected:
        assert isinstance(result, CorpusError)
        return
    if encoding in ("utf-16-le", "utf-16-be") and len(data) < 16:
        assert isinstance(result, (Corpus, CorpusError))  # too short to tell UTF-16 from binary
        return
    assert isinstance(result, Corpus), (result, data[:80])
    assert result.texts == expected
    assert result.report.n_undecodable == 0


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=100).flatmap(
            lambda s: st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]).map(
                lambda e: s.encode(e, "surrogatepass")
            )
        ),
        st.text(st.characters(max_codepoint=0xFF), max_size=100).map(lambda s: s.encode("latin-1")),
        st.lists(
            st.sampled_from(
                [
                    b"\xef\xbb\xbf",
                    b"\xff\xfe",
                    b"\xfe\xff",
                    b"\x00",
                    b"PAR1",
                    b"\r",
                    b"\n",
                    b"\r\n",
                    b",",
                    b";",
                    b"\t",
                    b'"',
                    b"text",
                    b"=cmd",
                    b"\xc3",
                    b"\xa9",
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b":",
                    b"1e999",
                    b"NaN",
                    b"9" * 50,
                    b"\\u0000",
                ]
            ),
            max_size=60,
        ).map(b"".join),
    ),
    ext=st.sampled_from(EXTENSIONS),
    max_texts=st.one_of(st.none(), st.integers(1, 5)),
    max_chars=st.integers(1, 40),
)
def test_arbitrary_bytes_never_raise_anything_but_corpus_error(data, ext, max_texts, max_chars):
    for func, kwargs in (
        (parse_corpus_bytes, {"max_texts": max_texts, "max_chars": max_chars}),
        (preview_corpus_bytes, {}),
    ):
        result = outcome(func, data, "fuzz" + ext, **kwargs)
        assert isinstance(result, (Corpus, TablePreview, CorpusError)), result
        if isinstance(result, Corpus):
            assert_accounting(result)
            assert all(len(t) <= max_chars for t in result.texts)
            assert max_texts is None or len(result) <= max_texts
    # the same bytes as retrieval pairs (columns inferred, or the first two named)
    for columns in ({}, {"query_column": "text", "document_column": "label"}):
        pairs = outcome(parse_pairs_bytes, data, "fuzz" + ext, max_pairs=max_texts, max_chars=max_chars, **columns)
        assert isinstance(pairs, (RetrievalTask, CorpusError)), pairs
        if isinstance(pairs, RetrievalTask):
            r = pairs.report
            assert r is not None and r.n_pairs == len(pairs.queries) <= (max_texts or r.n_pairs)
            assert all(len(t) <= max_chars for t in pairs.queries.texts + pairs.documents.texts)
            assert r.n_rows_read == r.n_pairs + r.n_blank + r.n_same_text + r.n_duplicate_queries + r.n_over_limit


_HOSTILE_NAMES = [
    "../../etc/passwd.csv",
    "/etc/passwd.csv",
    "..\\..\\windows\\win.ini.txt",
    "C:\\Users\\me\\notes.txt",
    "\\\\server\\share\\x.csv",
    "notes.txt\x00.exe.txt",
    "a\x00b.csv",
    "x" * 5000 + ".csv",
    "evil\nname.txt",
    "evil\r\n\tname.txt",
    "\x1b[31mred\x1b[0m.txt",
    "\u202egnp.txt",
    "name\u200b.txt",
    "~/.ssh/id_rsa.txt",
    "file:///etc/passwd.txt",
    "%2e%2e%2fetc%2fpasswd.txt",
    "CON.txt",
    "<script>alert(1)</script>.txt",
    "  spaced   out  .txt",
    "\udcff\udcfe.txt",
    "../" * 2000 + "deep.txt",
]


@pytest.mark.parametrize("filename", _HOSTILE_NAMES, ids=range(len(_HOSTILE_NAMES)))
def test_user_supplied_names_are_never_paths_and_are_sanitised(filename, tmp_path, monkeypatch):
    # Anything the parser opens would be a bug: make every open() and Path.open() fail loudly.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "passwd.csv").write_text("text\nSECRET FROM DISK\n")

    def forbidden(*args, **kwargs):
        raise AssertionError(f"parse_corpus_bytes opened {args[:1]!r}")

    import builtins

    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(Path, "open", forbidden)
    data = b"text\nfrom the upload\n" if filename.endswith(".csv") else b"from the upload\n"
    corpus = outcome(parse_corpus_bytes, data, filename)
    monkeypatch.undo()
    assert isinstance(corpus, Corpus), corpus
    assert corpus.texts == ("from the upload",)
    assert_clean_name(corpus.name)
    assert corpus.source == f"file:{corpus.name}"
    assert corpus.name.endswith((".csv", ".txt"))
    # Errors name the file the same, sanitised way.
    error = outcome(parse_corpus_bytes, b"", filename)
    assert isinstance(error, CorpusError) and str(error).startswith(corpus.name)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    prefix=st.sampled_from(["", "../", "../../", "/", "C:\\", "\\\\h\\s\\", "~/", "a/b\\c/"]),
    stem=st.text(max_size=300),
    ext=st.sampled_from(EXTENSIONS),
)
def test_any_display_name_is_one_short_printable_line(prefix, stem, ext):
    corpus_or_error = outcome(parse_corpus_bytes, b"\x00\x01binary", prefix + stem + ext)
    assert isinstance(corpus_or_error, CorpusError)
    shown = str(corpus_or_error).split(" looks like")[0].split(" is not a valid")[0]
    assert_clean_name(shown)
    assert shown.endswith(ext) or shown == "upload"


def test_paths_with_nul_control_characters_or_huge_length(tmp_path):
    for spec in ("a\x00b.csv", str(tmp_path / "x\x00.csv"), "x" * 5000 + ".csv", str(tmp_path / ("y" * 300 + ".csv"))):
        assert isinstance(outcome(read_corpus_file, spec), CorpusError)
        assert isinstance(outcome(load_corpus, spec), CorpusError)
    odd = tmp_path / "evil\n\x1b[31mname.csv"
    odd.write_bytes(b"")
    error = outcome(read_corpus_file, odd)
    assert isinstance(error, CorpusError) and "evil [31mname.csv is empty" in str(error)
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)  # a reader that waited for data would hang here
    assert "empty" in str(outcome(read_corpus_file, fifo))


def test_column_names_in_messages_are_sanitised_and_capped():
    header = ",".join(f'"col\n{i}\x1b"' for i in range(500))
    data = (header + "\n" + ",".join(["1"] * 500) + "\n").encode()
    error = outcome(parse_corpus_bytes, data, "many.csv")
    assert isinstance(error, CorpusError) and "and 480 more" in str(error)
    error = outcome(parse_corpus_bytes, b'text\n"x"\n', "c.csv", text_column="evil\ncolumn\x00")
    assert isinstance(error, CorpusError) and "evil column" in str(error)


# --------------------------------------------------------------------------- formula cells on export


def _csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _assert_no_formula_cells(data: bytes) -> None:
    text = data.decode("utf-8")
    # A spreadsheet may split on CR, on LF, on ';' (many locales) or on ',', inside quotes
    # only when the cell is quoted; no physical piece of an unquoted cell may start a formula.
    for row in _csv_cells(data):
        for cell in row:
            if not cell or _is_number(cell):  # a number, even a negative one, is not a formula
                continue
            assert not cell.startswith(FORMULA_PREFIXES), repr(cell)
            assert f'"{cell.replace(chr(34), chr(34) * 2)}"' in text, f"text cell not quoted: {cell!r}"


def _is_number(cell: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?|True|False", cell) is not None


def test_exported_corpus_and_dimension_tables_neutralise_formulas():
    data = (
        b'text,label\n=HYPERLINK("http://x";"click"),=lab\n+1+1,@lab\n-2-2,-lab\n@SUM(A1:A9),+lab\n'
        b'"\t=1",x\n"\r=2",y\n"harmless\r=cmd()",z\n"a;=cmd()",w\nplain,v\n'
    )
    corpus = parse_corpus_bytes(data, "formulas.csv")
    # Parsing keeps the data as it is; the export neutralises it.
    assert corpus.texts[0].startswith("=HYPERLINK") and corpus.labels[0] == "=lab"
    values = np.linspace(-1, 1, len(corpus))
    top, bottom = stat_tables.top_bottom_texts(values, corpus.texts, corpus.labels, n=len(corpus))
    for frame in (corpus.to_frame(), top, pd.concat([top.assign(end="highest"), bottom.assign(end="lowest")])):
        out = downloads.safe_csv_bytes(frame)
        _assert_no_formula_cells(out)
        back = pd.read_csv(io.BytesIO(out), keep_default_na=False)
        for column in ("text", "label"):
            originals = frame[column].tolist()
            exported = back[column].tolist()
            assert [
                e[1:] if o.startswith(FORMULA_PREFIXES) else e for o, e in zip(originals, exported, strict=True)
            ] == originals
        if "value" in frame:  # numbers, including negative ones, stay numbers
            np.testing.assert_allclose(back["value"].to_numpy(dtype=float), frame["value"].to_numpy())


def test_exported_stats_table_keeps_numbers_and_neutralises_names():
    stats = pd.DataFrame(
        {
            "dim": [0, 1],
            "mean": [-0.5, 0.25],
            "std": [0.1, 0.0],
            "min": [-1.0, 0.0],
            "max": [1.0, 0.5],
            "abs_mean": [0.5, 0.25],
        }
    )
    table = stat_tables.stats_table(stats, [1])
    export = table.copy()
    export.insert(0, "model", "-model")
    export.insert(1, "corpus", "=corpus.csv")
    out = downloads.safe_csv_bytes(export)
    _assert_no_formula_cells(out)
    back = pd.read_csv(io.BytesIO(out))
    assert back["model"].tolist() == ["'-model"] * 2 and back["corpus"].tolist() == ["'=corpus.csv"] * 2
    assert back["mean"].tolist() == [-0.5, 0.25] and back["dead"].tolist() == [False, True]
    # Repeated column names (e.g. two "text" columns) are handled by position.
    twice = pd.DataFrame([["=a", "+b", -1]], columns=["text", "text", "n"])
    assert _csv_cells(downloads.safe_csv_bytes(twice))[1] == ["'=a", "'+b", "-1"]


_CELL = st.one_of(
    st.text(max_size=30),
    st.tuples(st.sampled_from(FORMULA_PREFIXES + (" ", ";", "\n", "'", '"')), st.text(max_size=20)).map("".join),
    st.tuples(
        st.text(max_size=5),
        st.sampled_from(["\r", "\n", "\r\n", ";", ","]),
        st.sampled_from(FORMULA_PREFIXES),
        st.text(max_size=10),
    ).map("".join),
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    cells=st.lists(_CELL, min_size=1, max_size=8),
    header=st.sampled_from(["text", "=cmd", "@h", "label"]),
    numbers=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=8, max_size=8),
)
def test_safe_csv_never_starts_a_cell_with_a_formula(cells, header, numbers):
    frame = pd.DataFrame({header: cells, "value": numbers[: len(cells)]})
    out = downloads.safe_csv_bytes(frame)
    _assert_no_formula_cells(out)
    rows = _csv_cells(out)
    assert len(rows) == len(cells) + 1
    assert [r[0][1:] if c.startswith(FORMULA_PREFIXES) else r[0] for c, r in zip(cells, rows[1:], strict=True)] == cells
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(numbers[: len(cells)])


# --------------------------------------------------------------------------- URL query parameters

CORPORA = ["chatterbot-english", "wordnet-glosses"]
_FIELDS = [f.name for f in urlstate.fields(urlstate.UrlState)]
_VALUE = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
    st.sampled_from(
        [
            "`",
            "``code``",
            "[x](javascript:alert(1))",
            "<img src=x onerror=alert(1)>",
            "**b**",
            "\n# heading",
            "\x00",
            "\u202e",
            "%0a",
            "../../etc/passwd",
            "/",
            "~",
            "~/../..",
            "0-65535",
            "65536",
            "-0",
            "1e309",
            "nan",
            "inf",
            "0x10",
            "٣",
            "1_000",
            "a" * 100_000,
            "upload:",
            "upload:../x",
            "builtin:chatterbot-english",
            "all-MiniLM-L6-v2," * 50,
        ]
    ),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.none(),
    st.binary(max_size=10),
)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.one_of(st.sampled_from(_FIELDS), st.text(max_size=10)),
        st.one_of(_VALUE, st.lists(st.one_of(_VALUE, st.lists(_VALUE, max_size=2)), max_size=4)),
        max_size=12,
    ),
    st.lists(st.text(max_size=12), max_size=3),
)
@example(params={"corpus": "upload:"}, uploaded=[""])  # an accepted upload, always tried (derandomized draws move)
def test_url_parse_never_raises_and_notes_are_markdown_safe(params, uploaded):
    started = time.monotonic()
    state, notes = urlstate.parse(params, corpora=CORPORA, uploaded=uploaded)
    assert time.monotonic() - started < 1.0
    assert isinstance(state, urlstate.UrlState)
    assert urlstate.model_problem(state.model) is None
    assert state.corpus in CORPORA or state.corpus in {str(Selection.upload(u)) for u in uploaded}
    assert 0 <= state.dim <= urlstate.MAX_DIM and isinstance(state.dim, int)
    assert math.isfinite(state.threshold) and len(state.models) <= urlstate.MAX_MODELS
    for note in notes:
        assert isinstance(note, str) and len(note) < 600
        assert "\n" not in note and "\r" not in note and "\x00" not in note
        # User text only ever appears inside `code spans`, which Markdown does not interpret.
        assert note.count("`") % 2 == 0
        outside = note.split("`")[0::2]
        assert not any(marker in part for part in outside for marker in ("<", "](", "**", "javascript"))
    again, again_notes = urlstate.parse(urlstate.to_params(state), corpora=CORPORA, uploaded=uploaded)
    assert again == state and again_notes == []


# --------------------------------------------------------------------------- through the CLI

_CLI_CASES = {
    "random bytes": ("noise.txt", np.random.default_rng(1).bytes(50_000), "binary"),
    "deep JSON": ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep JSON lines": ("deep.jsonl", b"[" * 100_000 + b"\n", "nested too deeply"),
    "parquet dictionary bomb": (
        "bomb.parquet",
        parquet_of(
            pa.table(
                {
                    "text": pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(2_000_000, np.int32)), pa.array(["z" * 2_000])
                    )
                }
            ),
            compression="zstd",
        ),
        "unpacks",
    ),
    "truncated parquet": ("cut.parquet", parquet_of(pa.table({"text": ["a", "b"]}))[:40], "not a valid parquet"),
    "CSV 100k columns": ("wide.csv", (",".join(f"c{i}" for i in range(100_000)) + "\nx\n").encode(), "1,000"),
    "JSON lines key bomb": (
        "keys.jsonl",
        b"\n".join(json.dumps({f"k{i}": 1}).encode() for i in range(20_000)),
        "different keys",
    ),
    "name with newline and escape": ("evil\n\x1b[2Jname.csv", b"", "evil [2Jname.csv is empty"),
}


@pytest.mark.slow
def test_cli_exits_2_with_one_line_on_the_nastiest_files(tmp_path):
    procs = {}
    try:
        for case, (filename, data, _) in _CLI_CASES.items():
            folder = tmp_path / str(len(procs))
            folder.mkdir()
            (folder / filename).write_bytes(data)
            procs[case] = subprocess.Popen(
                [sys.executable, "-m", "analysis", "stats", "--corpus", str(folder / filename)],
                cwd=ROOT,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        for case, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=120)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
            assert_bad_input(result, _CLI_CASES[case][2])
            assert stdout == ""
    finally:
        for proc in procs.values():  # never leave a child behind, even when a case hangs
            if proc.poll() is None:
                proc.kill()
                proc.wait()
