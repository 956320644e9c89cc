"""Tests for analysis.corpora: built-in corpora, file formats, cleaning counts, errors."""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import corpora
from analysis.corpora import (
    DEFAULT_CORPUS,
    MAX_FILE_BYTES_DEFAULT,
    MAX_TEXT_CHARS_DEFAULT,
    CleaningReport,
    Corpus,
    TablePreview,
    builtin,
    builtin_corpora,
    infer_label_column,
    infer_text_column,
    load_builtin_corpus,
    load_corpus,
    parse_corpus_bytes,
    preview_corpus_bytes,
    read_corpus_file,
)
from analysis.errors import CorpusError, DimScopeError, OptionError

EXTENSIONS = (".txt", ".csv", ".tsv", ".json", ".jsonl", ".parquet")


@pytest.fixture(scope="module")
def english() -> Corpus:
    return load_builtin_corpus("chatterbot-english")


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


def assert_kept_accounting(report: CleaningReport) -> None:
    assert report.n_rows_read == (
        report.n_kept + report.n_blank + report.n_duplicates + report.n_sampled_out + report.n_over_limit
    )


# --------------------------------------------------------------------------- constants


def test_constants():
    assert DEFAULT_CORPUS == "chatterbot-english"
    assert MAX_FILE_BYTES_DEFAULT == 200 * 1024 * 1024
    assert MAX_TEXT_CHARS_DEFAULT == 10_000


def test_import_pulls_in_no_ui_or_ml_stack():
    code = (
        "import sys, analysis.corpora; "
        "bad = [m for m in ('streamlit', 'torch', 'sentence_transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- built-ins


def test_builtin_listing():
    infos = builtin_corpora()
    names = [i.name for i in infos]
    assert names[0] == DEFAULT_CORPUS
    assert len(names) == len(set(names))
    for expected in ("chatterbot-multilingual", "chatterbot-italian", "chatterbot-japanese", "wordnet-glosses"):
        assert expected in names
    by_name = {i.name: i for i in infos}
    assert by_name["chatterbot-english"].available and by_name["chatterbot-english"].reason == ""
    assert by_name["chatterbot-multilingual"].has_languages
    assert not by_name["chatterbot-english"].has_languages
    assert all(i.has_labels for i in infos)
    assert all(i.title and i.description for i in infos)


def test_default_corpus(english: Corpus):
    assert english.name == "chatterbot-english"
    assert english.source == "builtin:chatterbot-english"
    assert len(english) > 1500
    assert english.labels is not None and len(english.labels) == len(english)
    labels = set(english.labels)
    assert {"trivia", "emotion", "ai"} <= labels
    assert not labels & {"tech_support", "coding", "botprofile"}
    assert len(set(english.texts)) == len(english.texts)
    assert english.languages is None
    # Sorted topic files, file order: ai.yml comes first.
    assert english.texts[0] == "What is AI?"
    assert english.labels[0] == "ai"
    report = english.report
    assert report.n_kept == len(english) and report.n_duplicates > 0
    assert_kept_accounting(report)
    assert report.messages() == [
        f"Dropped {report.n_duplicates:,} duplicate texts (kept the first occurrence of each)."
    ]


def test_default_corpus_is_cached_and_deterministic(english: Corpus):
    assert load_builtin_corpus("chatterbot-english") is english
    assert load_corpus("chatterbot-english") is english
    assert load_corpus(" builtin:Chatterbot-English ") is english
    builtin._load_builtin_cached.cache_clear()
    builtin._chatterbot_base.cache_clear()
    builtin._chatterbot_topics.cache_clear()
    fresh = load_builtin_corpus("chatterbot-english")
    assert fresh is not english
    assert fresh == english
    assert fresh.content_hash == english.content_hash


def test_single_language_corpus():
    italian = load_builtin_corpus("chatterbot-italian")
    assert len(italian) > 800
    assert italian.labels is not None and "trivia" in italian.labels
    assert italian.languages is None and italian.groups is None
    assert italian.source == "builtin:chatterbot-italian"


def test_multilingual_corpus():
    multi = load_builtin_corpus("chatterbot-multilingual")
    assert multi.languages is not None and multi.labels is not None and multi.groups is not None
    languages = collections.Counter(multi.languages)
    assert {"english", "italian", "japanese", "persian"} <= set(languages)
    assert languages["english"] == len(load_builtin_corpus("chatterbot-english"))
    members: dict[str, list[int]] = collections.defaultdict(list)
    for i, group in enumerate(multi.groups):
        if group:
            members[group].append(i)
    en_it = 0
    for group, idx in members.items():
        langs = [multi.languages[i] for i in idx]
        assert len(langs) == len(set(langs)), group  # one text per language per group
        topic = group.split("/")[0]
        assert all(multi.labels[i] == topic for i in idx)
        if {"english", "italian"} <= set(langs):
            en_it += 1
    assert en_it >= 300
    # Deduplication is per language: a text may recur in another language.
    keys = list(zip(multi.languages, multi.texts, strict=True))
    assert len(keys) == len(set(keys))
    frame = multi.to_frame()
    assert list(frame.columns) == ["text", "label", "language", "group"]
    # A known parallel pair: the first English and Italian turns of emotion.yml.
    en = multi.groups.index("emotion/0/0")
    it = [i for i, g in enumerate(multi.groups) if g == "emotion/0/0" and multi.languages[i] == "italian"][0]
    assert multi.texts[en] == "You are arrogant"
    assert multi.texts[it] == "Sei arrogante"


def test_per_label_sampling_is_seeded_and_ordered(english: Corpus):
    small = load_builtin_corpus("chatterbot-english", per_label=5, seed=1)
    assert small is load_builtin_corpus("chatterbot-english", per_label=5, seed=1)
    counts = collections.Counter(small.labels)
    assert max(counts.values()) == 5
    assert set(counts) == set(english.labels)
    assert counts["health"] == min(5, collections.Counter(english.labels)["health"])
    # A subsequence of the full corpus, in corpus order.
    positions = [english.texts.index(t) for t in small.texts]
    assert positions == sorted(positions)
    other = load_builtin_corpus("chatterbot-english", per_label=5, seed=2)
    assert other.texts != small.texts
    assert small.report.n_sampled_out == len(english) - len(small)
    assert_kept_accounting(small.report)


def test_unknown_builtin_lists_names():
    with pytest.raises(CorpusError, match="chatterbot-english"):
        load_builtin_corpus("no-such-corpus")
    with pytest.raises(CorpusError, match="chatterbot-english.*no such file"):
        load_corpus("no-such-corpus-or-file")


def test_bad_builtin_options():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(OptionError, match="per_label"):
            load_builtin_corpus("chatterbot-english", per_label=bad)
    with pytest.raises(OptionError, match="files only"):
        load_corpus("chatterbot-english", text_column="text")


def test_chatterbot_missing_marks_unavailable(monkeypatch):
    monkeypatch.setattr(builtin, "_chatterbot_data_dir", lambda: None)
    infos = {i.name: i for i in builtin_corpora()}
    info = infos["chatterbot-english"]
    assert not info.available and "pip install chatterbot-corpus" in info.reason
    assert not infos["chatterbot-multilingual"].available
    with pytest.raises(CorpusError, match="not available here.*pip install chatterbot-corpus"):
        load_builtin_corpus("chatterbot-english")


def test_load_corpus_applies_limits_to_builtins(english: Corpus):
    small = load_corpus("chatterbot-english", max_texts=100, max_chars=20)
    assert len(small) == 100 and max(map(len, small.texts)) <= 20
    assert small.report.n_truncated > 0
    assert load_builtin_corpus("chatterbot-english") == english  # the cached corpus is untouched


# --------------------------------------------------------------------------- WordNet

WORDNET_MISSING = (
    "WordNet is not installed at /usr/share/wordnet: run `apt-get install -y wordnet-base` (CI installs it)."
)


def test_wordnet_glosses():
    assert builtin._wordnet_available(), WORDNET_MISSING
    assert len(corpora.WORDNET_LEXNAMES) == 45
    info = {i.name: i for i in builtin_corpora()}["wordnet-glosses"]
    assert info.available and info.reason == ""
    wn = load_builtin_corpus("wordnet-glosses")
    counts = collections.Counter(wn.labels)
    assert len(counts) == 45
    assert max(counts.values()) == 50  # the default per-category sample
    assert "noun.artifact" in counts and "adj.all" in counts and "verb.weather" in counts
    assert all(";" not in t and not t.startswith('"') and t == t.strip() for t in wn.texts)
    assert wn.report.n_sampled_out > 100_000
    assert load_builtin_corpus("wordnet-glosses", seed=1).texts != wn.texts
    everything = load_builtin_corpus("wordnet-glosses", per_label=10**9)
    assert len(everything) > 100_000
    i = everything.texts.index("an entity that has physical existence")
    assert everything.labels[i] == "noun.Tops"
    assert everything.texts[0].startswith("that which is perceived or known")


def test_wordnet_missing_marks_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin, "WORDNET_DIR", str(tmp_path))
    info = {i.name: i for i in builtin_corpora()}["wordnet-glosses"]
    assert not info.available
    assert info.reason == "install Debian's wordnet-base (apt-get install wordnet-base)"
    with pytest.raises(CorpusError, match="apt-get install wordnet-base"):
        load_builtin_corpus("wordnet-glosses")


def test_wordnet_parser_on_a_tiny_file(monkeypatch, tmp_path):
    header = "  1 This software and database is being provided to you, the LICENSEE  \n"
    lines = {
        "noun": '00001740 03 n 01 entity 0 000 | that which exists; "an example"  \n'
        "00002000 06 n 01 car 0 000 | a motor vehicle; a second sense  \n",
        "verb": "00001000 43 v 01 rain 0 000 | precipitate as rain  \n",
        "adj": '00001000 00 a 01 able 0 000 | (usually followed by `to\') having means; "able"  \n',
        "adv": "00001000 02 r 01 very 0 000 | used as an intensifier  \n",
    }
    for part, body in lines.items():
        (tmp_path / f"data.{part}").write_text(header + body, encoding="utf-8")
    monkeypatch.setattr(builtin, "WORDNET_DIR", str(tmp_path))
    builtin._load_builtin_cached.cache_clear()
    try:
        wn = load_builtin_corpus("wordnet-glosses")
    finally:
        builtin._load_builtin_cached.cache_clear()
    assert wn.texts == (
        "that which exists",
        "a motor vehicle",
        "precipitate as rain",
        "(usually followed by `to') having means",
        "used as an intensifier",
    )
    assert wn.labels == ("noun.Tops", "noun.artifact", "verb.weather", "adj.all", "adv.all")


# --------------------------------------------------------------------------- formats


def english_frame(corpus: Corpus) -> pd.DataFrame:
    return pd.DataFrame({"text": list(corpus.texts), "label": list(corpus.labels)})


def build_file(corpus: Corpus, kind: str) -> tuple[str, bytes]:
    df = english_frame(corpus)
    records = df.to_dict("records")
    if kind == "txt":
        return "corpus.txt", ("\n".join(corpus.texts) + "\n").encode()
    if kind == "txt-crlf-bom":
        return "corpus.txt", ("\ufeff" + "\r\n".join(corpus.texts) + "\r\n").encode()
    if kind == "txt-utf16":
        return "corpus.txt", ("\n".join(corpus.texts)).encode("utf-16")
    if kind == "csv":
        return "corpus.csv", df.to_csv(index=False).encode()
    if kind == "csv-semicolon":
        return "corpus.csv", df.to_csv(index=False, sep=";").encode()
    if kind == "tsv":
        return "corpus.tsv", df.to_csv(index=False, sep="\t").encode()
    if kind == "jsonl":
        return "corpus.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if kind == "jsonl-strings":
        return "corpus.jsonl", "".join(json.dumps(t) + "\n" for t in corpus.texts).encode()
    if kind == "json-strings":
        return "corpus.json", json.dumps(list(corpus.texts)).encode()
    if kind == "json-records":
        return "corpus.json", json.dumps(records, indent=1).encode()
    if kind == "json-keyed":
        return "corpus.json", json.dumps({"version": 1, "data": records}).encode()
    if kind == "json-columns":
        return "corpus.json", json.dumps(df.to_dict("list")).encode()
    if kind == "parquet":
        return "corpus.parquet", parquet_bytes(df)
    raise AssertionError(kind)


LABELED = {"csv", "csv-semicolon", "tsv", "jsonl", "json-records", "json-keyed", "json-columns", "parquet"}


@pytest.mark.parametrize(
    "kind",
    [
        "txt",
        "txt-crlf-bom",
        "txt-utf16",
        "csv",
        "csv-semicolon",
        "tsv",
        "jsonl",
        "jsonl-strings",
        "json-strings",
        "json-records",
        "json-keyed",
        "json-columns",
        "parquet",
    ],
)
def test_format_round_trip(english: Corpus, kind: str):
    filename, data = build_file(english, kind)
    corpus = parse_corpus_bytes(data, filename)
    assert corpus.texts == english.texts
    assert corpus.content_hash == english.content_hash
    assert corpus.labels == (english.labels if kind in LABELED else None)
    assert corpus.name == filename and corpus.source == f"file:{filename}"
    assert corpus.report == CleaningReport(
        n_rows_read=len(english), n_kept=len(english), max_chars=MAX_TEXT_CHARS_DEFAULT
    )
    assert corpus.report.messages() == []


@pytest.mark.parametrize("kind", ["txt", "txt-utf16", "csv", "jsonl", "json-records", "parquet"])
def test_one_parse_answers_as_the_three_readers_do(english: Corpus, kind: str):
    """read_upload's preview, corpus and pairs are those of preview_corpus_bytes, parse_corpus_bytes
    and parse_pairs_bytes on the same bytes: the Corpus page parses once and loses nothing."""
    from analysis.corpora import parse_pairs_bytes, preview_corpus_bytes, read_upload

    filename, data = build_file(english, kind)
    upload = read_upload(data, filename, max_chars=40)
    assert upload.name == filename and upload.format == kind.split("-")[0]
    once, separate = upload.preview(n_rows=5), preview_corpus_bytes(data, filename, n_rows=5, max_chars=40)
    assert (once.columns, once.text_column, once.label_column, once.n_rows, once.format) == (
        separate.columns,
        separate.text_column,
        separate.label_column,
        separate.n_rows,
        separate.format,
    )
    pd.testing.assert_frame_equal(once.head, separate.head)
    for columns in ({}, {"max_texts": 7}, {"label_column": "label"} if kind in LABELED else {"text_column": "text"}):
        corpus = upload.corpus(**columns)
        expected = parse_corpus_bytes(data, filename, max_chars=40, **columns)
        assert (corpus.texts, corpus.labels, corpus.name, corpus.source) == (
            expected.texts,
            expected.labels,
            expected.name,
            expected.source,
        )
        assert corpus.report == expected.report and corpus.content_hash == expected.content_hash
    assert max(len(t) for t in upload.corpus().texts) == 40  # the deployment's cut, as the parser cuts
    if kind in LABELED:  # text -> label as a (query, document) pair
        task = upload.pairs(query_column="text", document_column="label", max_pairs=50)
        expected_task = parse_pairs_bytes(
            data, filename, query_column="text", document_column="label", max_pairs=50, max_chars=40
        )
        assert task.queries.texts == expected_task.queries.texts and task.relevant == expected_task.relevant
        assert task.report.messages() == expected_task.report.messages()


def test_read_corpus_file_and_load_corpus_by_path(english: Corpus, tmp_path: Path):
    filename, data = build_file(english, "parquet")
    path = tmp_path / filename
    path.write_bytes(data)
    for corpus in (read_corpus_file(path), read_corpus_file(str(path)), load_corpus(str(path))):
        assert corpus.texts == english.texts and corpus.labels == english.labels
        assert corpus.source == "file:corpus.parquet"
    with pytest.raises(OptionError, match="built-in corpora only"):
        load_corpus(str(path), per_label=3)


def test_uploaded_filename_is_never_a_path(tmp_path: Path):
    corpus = parse_corpus_bytes(b"hello\n", "../../etc/passwd.txt")
    assert corpus.name == "passwd.txt" and corpus.source == "file:passwd.txt"
    assert parse_corpus_bytes(b"hi\n", "C:\\Users\\me\\notes.txt").name == "notes.txt"
    # A real file with the upload's name changes nothing: only the bytes are read.
    (tmp_path / "x.txt").write_text("on disk\n")
    assert parse_corpus_bytes(b"in memory\n", str(tmp_path / "x.txt")).texts == ("in memory",)


def test_explicit_columns_and_languages():
    data = (
        b"id,Body,Category,lang,extra\n"
        b"1,Hello there,greet,en,x\n2,Ciao a tutti,greet,it,y\n3,Hello there,greet,it,z\n"
        b"4,Hello there,greet,en,w\n"
    )
    corpus = parse_corpus_bytes(data, "m.csv")
    assert corpus.texts == ("Hello there", "Ciao a tutti", "Hello there")  # dedupe per language
    assert corpus.labels == ("greet",) * 3
    assert corpus.languages == ("en", "it", "it")
    assert corpus.report.n_duplicates == 1
    chosen = parse_corpus_bytes(data, "m.csv", text_column="extra", label_column="lang", language_column="id")
    assert chosen.texts == ("x", "y", "z", "w")
    assert chosen.labels == ("en", "it", "it", "en")
    assert chosen.languages == ("1", "2", "3", "4")
    assert parse_corpus_bytes(data, "m.csv", text_column="body").texts[0] == "Hello there"


def test_labels_are_strings_and_empty_labels_vanish():
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": [1.0, None, 3.0]})
    corpus = parse_corpus_bytes(parquet_bytes(df), "x.parquet")
    assert corpus.labels == ("1", "", "3")
    df = pd.DataFrame({"text": ["a", "b"], "label": [None, None]})
    assert parse_corpus_bytes(parquet_bytes(df), "x.parquet").labels is None
    assert parse_corpus_bytes(b"text,label\na,\nb,\n", "x.csv").labels is None


def test_csv_keeps_text_as_is():
    data = b'text\n"  padded  "\nNA\nnull\n007\n"multi\nline"\n'
    corpus = parse_corpus_bytes(data, "x.csv")
    assert corpus.texts == ("  padded  ", "NA", "null", "007", "multi\nline")


# --------------------------------------------------------------------------- inference


def test_infer_text_column():
    assert infer_text_column(pd.DataFrame({"id": [1, 2], "Sentence": ["a", "b"]})) == "Sentence"
    assert infer_text_column(pd.DataFrame({"ID": ["1", "2"], "TEXT": ["x", "y"]})) == "TEXT"
    # No conventional name: the string column with the longest mean length.
    df = pd.DataFrame({"code": ["ab", "cd"], "note": ["a longer string", "another one"], "n": [1, 2]})
    assert infer_text_column(df) == "note"
    # Numbers-as-strings (CSV ids) and label-named columns are not text.
    df = pd.DataFrame(
        {"id": ["1000000000001", "1000000000002"], "label": ["positive", "neg"], "msg_body": ["hi", "yo"]}
    )
    assert infer_text_column(df) == "msg_body"
    assert infer_text_column(pd.DataFrame({"a": [1, 2], "b": [1.5, 2.5]})) is None
    assert infer_text_column(pd.DataFrame({"text": [1, 2], "words": ["a b", "c"]})) == "words"


def test_infer_label_column():
    df = pd.DataFrame({"text": ["a"], "Topic": ["x"], "lang": ["en"]})
    assert infer_label_column(df) == "Topic"
    assert corpora.infer_language_column(df) == "lang"
    assert infer_label_column(pd.DataFrame({"text": ["a"], "note": ["x"]})) is None
    assert infer_label_column(pd.DataFrame({"label": ["a"]}), exclude=["label"]) is None


def test_preview():
    data = b"id,sentence,topic,language\n" + b"".join(f"{i},text number {i},t{i % 3},en\n".encode() for i in range(50))
    preview = preview_corpus_bytes(data, "p.csv", n_rows=5)
    assert isinstance(preview, TablePreview)
    assert preview.columns == ["id", "sentence", "topic", "language"]
    assert (preview.text_column, preview.label_column, preview.language_column) == ("sentence", "topic", "language")
    assert preview.n_rows == 50 and preview.format == "csv"
    assert len(preview.head) == 5 and preview.head["sentence"].tolist()[0] == "text number 0"
    txt = preview_corpus_bytes(b"a\nb\n", "p.txt")
    assert txt.columns == ["text"] and txt.text_column == "text" and txt.format == "txt"
    numeric = preview_corpus_bytes(b"a,b\n1,2\n", "n.csv")
    assert numeric.text_column is None
    with pytest.raises(CorpusError, match="binary"):
        preview_corpus_bytes(b"\x00\x01\x02", "p.txt")


# --------------------------------------------------------------------------- hashing


def test_content_hash():
    a = Corpus("a", ("ab", "c"))
    assert a.content_hash == Corpus("other name", ("ab", "c"), labels=("x", "y")).content_hash
    assert a.content_hash != Corpus("a", ("a", "bc")).content_hash
    assert a.content_hash != Corpus("a", ("c", "ab")).content_hash
    assert a.content_hash != Corpus("a", ("ab", "c", "")).content_hash
    assert len(a.content_hash) == 64 and int(a.content_hash, 16) >= 0
    assert Corpus("a", ["ab", "c"]).content_hash == a.content_hash  # lists become tuples
    # Stable across processes and versions of this code (a cache key depends on it).
    assert Corpus("k", ("hello", "world")).content_hash == (
        "98c10ff4d847d77249695a62d34845d58a9efae09fd149a3c002d93d0eb88fde"
    )
    again = pickle.loads(pickle.dumps(a))
    assert again == a and again.content_hash == a.content_hash


def test_corpus_validation():
    with pytest.raises(ValueError, match="labels"):
        Corpus("x", ("a", "b"), labels=("only one",))
    with pytest.raises(TypeError):
        Corpus("x", ("a", 3))  # type: ignore[arg-type]
    corpus = Corpus("x", ("a", "b"))
    assert corpus.report == CleaningReport(n_rows_read=2, n_kept=2)
    assert len(corpus) == 2
    assert list(corpus.to_frame().columns) == ["text"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        corpus.name = "y"  # type: ignore[misc]


# --------------------------------------------------------------------------- cleaning counts


def test_cleaning_counts_are_exact():
    lines = [
        "alpha",  # kept
        "",  # blank
        "   \t",  # blank (whitespace only)
        "beta",  # kept
        "alpha",  # duplicate
        "x" * 30,  # kept, truncated to 10
        "caf\xff",  # kept, undecodable byte -> U+FFFD
        "gamma ",  # kept as is (trailing space is not stripped)
        "beta",  # duplicate
        "delta",  # over the limit
        "epsilon",  # over the limit
    ]
    data = b"\n".join(line.encode("latin-1") for line in lines) + b"\n"
    corpus = parse_corpus_bytes(data, "c.txt", max_chars=10, max_texts=5)
    assert corpus.texts == ("alpha", "beta", "x" * 10, "caf\ufffd", "gamma ")
    r = corpus.report
    assert (r.n_rows_read, r.n_kept, r.n_blank, r.n_duplicates, r.n_truncated, r.n_undecodable, r.n_over_limit) == (
        11,
        5,
        2,
        2,
        1,
        1,
        2,
    )
    assert_kept_accounting(r)
    assert r.messages() == [
        "Dropped 2 blank rows.",
        "Dropped 2 duplicate texts (kept the first occurrence of each).",
        "Truncated 1 text longer than 10 characters.",
        "Replaced undecodable bytes with U+FFFD in 1 row (the file is not valid UTF-8).",
        "Kept the first 5 texts; left out 2 more (limit: 5 texts).",
    ]


def test_truncation_can_create_duplicates():
    corpus = parse_corpus_bytes(b"abcdef1\nabcdef2\nabc\n", "t.txt", max_chars=6)
    assert corpus.texts == ("abcdef", "abc")
    assert (corpus.report.n_truncated, corpus.report.n_duplicates) == (1, 1)


def test_labels_follow_their_texts():
    data = b"text,label\nfoo,a\n,b\nfoo,c\nbar,d\nbaz,e\n"
    corpus = parse_corpus_bytes(data, "l.csv", max_texts=2)
    assert corpus.texts == ("foo", "bar") and corpus.labels == ("a", "d")
    assert corpus.to_frame().to_dict("list") == {"text": ["foo", "bar"], "label": ["a", "d"]}


def test_with_limits_reapplies_from_the_source():
    data = "\n".join(f"text number {i:03d}" for i in range(100)).encode()
    full = parse_corpus_bytes(data, "w.txt")
    small = full.with_limits(max_texts=10, max_chars=8)
    assert len(small) == 1 and small.texts == ("text num",)  # truncation made duplicates
    assert (small.report.n_duplicates, small.report.n_truncated, small.report.n_over_limit) == (99, 1, 0)
    back = small.with_limits(max_chars=100)  # max_texts=None keeps the current limit
    assert len(back) == 10 and back.texts == full.texts[:10]
    assert (back.report.n_over_limit, back.report.n_truncated, back.report.n_duplicates) == (90, 0, 0)
    bigger = back.with_limits(max_texts=1000)
    assert bigger.texts == full.texts and bigger.report.messages() == []
    assert_kept_accounting(small.report)
    # A corpus built by hand starts from its own texts.
    manual = Corpus("m", ("aa", "bb", "cc")).with_limits(max_texts=2)
    assert manual.texts == ("aa", "bb") and manual.report.n_over_limit == 1
    for bad in (0, -5, 1.5):
        with pytest.raises(OptionError):
            full.with_limits(max_texts=bad)
        with pytest.raises(OptionError):
            full.with_limits(max_chars=bad)


def test_jsonl_blank_lines_and_nulls_count_as_blank():
    data = b'{"text": "a", "label": "x"}\n\n{"text": null, "label": "y"}\n"b"\n{"text": 7}\n'
    corpus = parse_corpus_bytes(data, "j.jsonl")
    assert corpus.texts == ("a", "b", "7") and corpus.labels == ("x", "", "")
    assert (corpus.report.n_rows_read, corpus.report.n_blank) == (5, 2)


def test_lone_surrogates_in_json_are_replaced_and_counted():
    corpus = parse_corpus_bytes(b'["ok", "bad \\ud800 char"]', "s.json")
    assert corpus.texts == ("ok", "bad \ufffd char")
    assert corpus.report.n_undecodable == 1
    assert len(corpus.content_hash) == 64


def test_valid_replacement_characters_are_not_undecodable():
    corpus = parse_corpus_bytes("fine \ufffd\n".encode(), "r.txt")
    assert corpus.report.n_undecodable == 0


# --------------------------------------------------------------------------- errors


def error_of(data: bytes, filename: str, **options) -> str:
    with pytest.raises(CorpusError) as info:
        parse_corpus_bytes(data, filename, **options)
    message = str(info.value)
    assert "Traceback" not in message and "\n" not in message.strip()
    assert isinstance(info.value, DimScopeError)
    return message


def test_error_empty_file():
    assert "is empty" in error_of(b"", "e.txt")
    assert "e.csv" in error_of(b"", "e.csv")


def test_error_binary():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    for ext in (".txt", ".csv", ".tsv", ".json", ".jsonl"):
        assert "looks like a binary file, not text" in error_of(png, "img" + ext)
    controls = bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15]) * 20 + b"text"
    assert "binary" in error_of(controls, "c.txt")
    assert "ZIP" in error_of(b"PK\x03\x04" + b"x" * 100, "sheet.csv")


def test_error_no_text_column():
    message = error_of(b"id,score\n1,0.5\n2,0.7\n", "n.csv")
    assert "id, score" in message and "--text-column" in message
    assert "no rows" in error_of(b"text,label\n", "h.csv")


def test_numbers_are_never_taken_for_text():
    """``id,a,b`` numbers: no text column is inferred, and every numeric column is named as such
    (CSV cells arrive as strings, JSON ones as numbers)."""
    preview = preview_corpus_bytes(b"id,a,b\n1,2,3\n4,5.5,6\n7,8,-9\n", "nums.csv")
    assert preview.text_column is None and preview.numeric_columns == ("id", "a", "b")
    assert "id, a, b" in error_of(b"id,a,b\n1,2,3\n4,5,6\n", "nums.csv")
    mixed = preview_corpus_bytes(b'[{"id": 1, "t": "hello there"}, {"id": 2, "t": "good morning"}]', "m.json")
    assert mixed.text_column == "t" and mixed.numeric_columns == ("id",)


def test_error_missing_given_column():
    message = error_of(b"text,label\nhi,a\n", "g.csv", text_column="body")
    assert "'body'" in message and "available columns: text, label" in message
    assert "available columns" in error_of(b"text,label\nhi,a\n", "g.csv", label_column="nope")
    assert "available columns" in error_of(b"text\nhi\n", "g.csv", language_column="nope")


def test_error_no_text_after_cleaning():
    message = error_of(b"\n  \n\t\n\r\n", "blank.txt")
    assert "No text left" in message and "4 blank rows" in message
    assert "No text left in the column 'text'" in error_of(b"text,label\n ,a\n,b\n", "b.csv")


def test_error_broken_json_lines():
    data = b'{"text": "ok"}\n{"text": "fine"}\n{"text": broken}\n'
    message = error_of(data, "bad.jsonl")
    assert "line 3" in message and "not valid JSON" in message
    assert "name it .json" in error_of(b'{\n "text": "a"\n}\n', "pretty.jsonl")
    assert "line 2" in error_of(b'"a"\n[1, 2]\n', "list.jsonl")


def test_error_broken_json():
    assert "not valid JSON" in error_of(b'["a", ', "bad.json")
    assert "name it .jsonl" in error_of(b'{"text": "a"}\n{"text": "b"}\n', "lines.json")
    assert "a list of strings" in error_of(b'{"a": 1, "b": "x"}', "odd.json")
    assert "a list of strings" in error_of(b'"just a string"', "str.json")
    assert "not valid JSON" in error_of(b"[" * 100_000, "deep.json")


def test_error_size_limit(tmp_path: Path):
    data = b"hello world\n" * 200  # 2,400 bytes
    message = error_of(data, "big.txt", max_bytes=1024)
    assert "2.3 KB" in message and "1 KB limit" in message
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match="over the 1 KB limit"):
        read_corpus_file(path, max_bytes=1024)
    with pytest.raises(OptionError):
        parse_corpus_bytes(data, "big.txt", max_bytes=0)


def test_error_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(CorpusError, match="No such file"):
        read_corpus_file(tmp_path / "missing.csv")
    with pytest.raises(CorpusError, match="is a directory, not a file"):
        read_corpus_file(tmp_path)
    (tmp_path / "sheet.xlsx").write_bytes(b"x")
    with pytest.raises(CorpusError, match="unsupported file type"):
        read_corpus_file(tmp_path / "sheet.xlsx")


def test_error_unknown_extension_lists_supported():
    message = error_of(b"hello", "notes.docx")
    assert ".docx" in message
    for ext in EXTENSIONS:
        assert ext in message
    assert "no extension" in error_of(b"hello", "README")


def test_error_wrong_extension_for_content(english: Corpus):
    message = error_of(b"text,label\nhello,a\n", "renamed.parquet")
    assert "not a valid Parquet file" in message and "CSV or text file renamed" in message
    _, parquet = build_file(english, "parquet")
    for name in ("data.csv", "data.txt", "data.json"):
        assert "looks like a Parquet file" in error_of(parquet, name)
    assert "not a valid Parquet file" in error_of(parquet[: len(parquet) // 2], "cut.parquet")
    assert "not a valid CSV file" in error_of(b'a,b\n"1,2\n', "quote.csv")
    assert "not a valid CSV file" in error_of(b"a,b\n1,2,3\n", "wide.csv")


def test_option_errors():
    with pytest.raises(OptionError, match="max_chars"):
        parse_corpus_bytes(b"a\n", "a.txt", max_chars=0)
    with pytest.raises(OptionError, match="max_texts"):
        parse_corpus_bytes(b"a\n", "a.txt", max_texts=0)


# --------------------------------------------------------------------------- property


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.lists(
            st.sampled_from(
                [
                    b'"',
                    b",",
                    b";",
                    b"\t",
                    b"\n",
                    b"\r",
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b":",
                    b"text",
                    b"a b",
                    b"\\ud800",
                    b"null",
                    b"1",
                    b"\xff",
                    b" ",
                    b"PAR1",
                ]
            ),
            max_size=40,
        ).map(b"".join),
    ),
    ext=st.sampled_from(EXTENSIONS),
)
def test_parse_arbitrary_bytes_returns_corpus_or_corpus_error(data: bytes, ext: str):
    try:
        corpus = parse_corpus_bytes(data, "fuzz" + ext, max_chars=50, max_texts=20)
    except CorpusError:
        return
    assert isinstance(corpus, Corpus)
    assert 1 <= len(corpus) <= 20 and all(t.strip() and len(t) <= 50 for t in corpus.texts)
    assert_kept_accounting(corpus.report)
    assert len(corpus.content_hash) == 64
