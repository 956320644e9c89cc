"""Retrieval tasks: query -> document pairs from what ships and from files, labelled corpora, and their counts."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from analysis.corpora import (
    BUILTIN_TASKS,
    Corpus,
    RetrievalTask,
    chatterbot_conversations,
    labelled_task,
    load_builtin_corpus,
    load_builtin_task,
    load_retrieval_task,
    pairs_from_rows,
    parse_pairs_bytes,
    preview_corpus_bytes,
    wordnet_synsets,
)
from analysis.corpora.pairs import sample_synset_positions
from analysis.errors import CorpusError, OptionError
from analysis.options import RETRIEVAL_TASKS
from tests.helpers import ROOT


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _pairs_of(task: RetrievalTask) -> list[tuple[str, str]]:
    assert task.relevant is not None
    return [(q, task.documents.texts[r]) for q, r in zip(task.queries.texts, task.relevant, strict=True)]


# --- cleaning ------------------------------------------------------------------------------------------


def test_pairs_are_cleaned_and_every_row_is_counted():
    queries = ["a", "", "b", "a", "c", "d", "x" * 30, "e", None, "f", "g"]
    docs = ["A", "B", " ", "A2", "c", "D", "long", "A", "F", "G", "H"]
    task = pairs_from_rows("demo", queries, docs, max_chars=20, max_pairs=5)
    r = task.report
    assert r is not None
    assert (r.n_blank, r.n_duplicate_queries, r.n_same_text, r.n_truncated) == (3, 1, 1, 1)
    assert r.n_pairs == 5 and r.n_over_limit == 1
    assert r.n_rows_read == r.n_pairs + r.n_blank + r.n_duplicate_queries + r.n_same_text + r.n_over_limit
    # kept in order; documents unique, shared documents point at one row; truncation applied
    assert _pairs_of(task) == [("a", "A"), ("d", "D"), ("x" * 20, "long"), ("e", "A"), ("f", "G")]
    assert task.documents.texts == ("A", "D", "long", "G")
    assert task.relevant == (0, 1, 2, 0, 3)
    assert task.query_doc_index == (-1, -1, -1, -1, -1)
    assert len(r.messages()) == 5 and all(m.endswith(".") for m in r.messages())


def test_a_query_that_is_also_a_document_is_marked_so_it_cannot_find_itself():
    # a conversation A -> B -> C: B is the document of A and the query of C
    task = pairs_from_rows("chain", ["A", "B"], ["B", "C"])
    assert task.documents.texts == ("B", "C") and task.relevant == (0, 1)
    assert task.query_doc_index == (-1, 0)


def test_no_pair_left_is_one_clear_error():
    with pytest.raises(CorpusError, match="No query -> document pair left in empty"):
        pairs_from_rows("empty", ["same", " "], ["same", "x"])
    with pytest.raises(CorpusError, match="one of each per row"):
        pairs_from_rows("uneven", ["a"], ["b", "c"])
    with pytest.raises(OptionError, match="max_texts"):
        pairs_from_rows("bad", ["a"], ["b"], max_pairs=0)


def test_relevance_hash_follows_relevance_not_just_texts():
    one = pairs_from_rows("x", ["q1", "q2", "q3"], ["d1", "d2", "d1"])
    other = pairs_from_rows("x", ["q1", "q2", "q3"], ["d1", "d2", "d2"])
    assert one.queries.content_hash == other.queries.content_hash
    assert one.documents.content_hash == other.documents.content_hash
    assert one.relevance_hash != other.relevance_hash
    assert one.relevance_hash == pairs_from_rows("y", ["q1", "q2", "q3"], ["d1", "d2", "d1"]).relevance_hash
    corpus = Corpus("c", ("a", "b", "c"), labels=("x", "x", "y"))
    relabelled = Corpus("c", ("a", "b", "c"), labels=("x", "y", "y"))
    assert labelled_task(corpus).relevance_hash != labelled_task(relabelled).relevance_hash


# --- built-in tasks ------------------------------------------------------------------------------------


def test_builtin_tasks_have_the_documented_sizes_and_are_deterministic():
    assert tuple(BUILTIN_TASKS) == RETRIEVAL_TASKS
    sizes = {
        name: (len(load_builtin_task(name).queries), len(load_builtin_task(name).documents)) for name in BUILTIN_TASKS
    }
    assert sizes == {"chatterbot-pairs": (895, 862), "wordnet-pairs": (2146, 2144), "translation-pairs": (1847, 786)}
    for name in BUILTIN_TASKS:
        task = load_builtin_task(name)
        assert task.mode == "pairs" and task.source == f"builtin:{name}"
        assert str(len(task.queries)) in BUILTIN_TASKS[name].description.replace(",", "")
    with pytest.raises(CorpusError, match="choose one of: chatterbot-pairs"):
        load_builtin_task("nope")
    # another process (another hash seed) builds exactly the same tasks
    code = (
        "from analysis.corpora import load_builtin_task as t; "
        "print([(t(n).queries.content_hash, t(n).documents.content_hash, t(n).relevance_hash) "
        "for n in ('chatterbot-pairs', 'wordnet-pairs', 'translation-pairs')])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == str(
        [
            (
                load_builtin_task(n).queries.content_hash,
                load_builtin_task(n).documents.content_hash,
                load_builtin_task(n).relevance_hash,
            )
            for n in RETRIEVAL_TASKS
        ]
    ), out.stderr


def test_chatterbot_pairs_are_consecutive_turns():
    task = load_builtin_task("chatterbot-pairs")
    turns = {
        (conv[i], conv[i + 1])
        for _, convs in chatterbot_conversations("english")
        for conv in convs
        for i in range(len(conv) - 1)
    }
    pairs = _pairs_of(task)
    assert set(pairs) <= turns
    assert ("What is AI?", pairs[0][1]) == pairs[0] and pairs[0][1].startswith("Artificial Intelligence is")
    assert 1053 == sum(max(0, len(c) - 1) for _, convs in chatterbot_conversations("english") for c in convs)
    # every text is one the chatterbot-english corpus holds, so its embeddings are reused
    english = set(load_builtin_corpus("chatterbot-english").texts)
    assert set(task.queries.texts) <= english and set(task.documents.texts) <= english
    # statements that are also responses are marked, so they never find themselves
    marked = [i for i, j in enumerate(task.query_doc_index) if j >= 0]
    assert len(marked) == 267
    assert all(task.documents.texts[task.query_doc_index[i]] == task.queries.texts[i] for i in marked)


def test_wordnet_pairs_are_lemma_and_definition():
    task = load_builtin_task("wordnet-pairs")
    synsets = wordnet_synsets()
    picked = [synsets[i] for i in sample_synset_positions(50, seed=0)]
    first = {}
    for s in picked:
        first.setdefault(s.lemma, s.gloss)
    assert dict(_pairs_of(task)) == first
    assert all("_" not in q and not q.endswith(")") for q in task.queries.texts)


def test_translation_pairs_point_at_the_english_sentence_of_the_group():
    task = load_builtin_task("translation-pairs")
    corpus = load_builtin_corpus("chatterbot-multilingual")
    english = {
        g: t
        for t, lang, g in zip(corpus.texts, corpus.languages, corpus.groups, strict=True)
        if lang == "english" and g
    }
    group_of = {
        t: g
        for t, lang, g in zip(corpus.texts, corpus.languages, corpus.groups, strict=True)
        if lang != "english" and g
    }
    for query, doc in _pairs_of(task):
        assert english[group_of[query]] == doc
    assert task.report is not None and task.report.n_unmatched == 38


def test_labelled_corpus_is_every_text_against_the_others():
    corpus = load_builtin_corpus("chatterbot-english")
    task = labelled_task(corpus)
    assert task.mode == "labels" and task.queries is task.documents is corpus
    assert task.query_doc_index == tuple(range(len(corpus))) and task.labels == corpus.labels
    with pytest.raises(CorpusError, match="has no labels"):
        labelled_task(Corpus("plain", ("a", "b")))


# --- files -------------------------------------------------------------------------------------------


def test_any_column_names_are_mapped_and_common_ones_inferred():
    frame = pd.DataFrame({"id": [1, 2, 3], "ask": ["q1", "q2", "q3"], "find": ["d1", "d2", "d3"]})
    task = parse_pairs_bytes(_csv(frame), "mine.csv", query_column="ASK", document_column="find")
    assert _pairs_of(task) == [("q1", "d1"), ("q2", "d2"), ("q3", "d3")] and task.name == "mine.csv"
    inferred = pd.DataFrame({"question": ["q1", "q2"], "passage": ["d1", "d2"], "topic": ["t", "t"]})
    assert _pairs_of(parse_pairs_bytes(_csv(inferred), "qa.csv")) == [("q1", "d1"), ("q2", "d2")]
    lines = "\n".join(json.dumps({"anchor": f"a{i}", "positive": f"p{i}"}) for i in range(4)).encode()
    assert len(parse_pairs_bytes(lines, "triplets.jsonl").queries) == 4
    buffer = io.BytesIO()
    inferred.to_parquet(buffer, index=False)
    assert len(parse_pairs_bytes(buffer.getvalue(), "qa.parquet").documents) == 2
    preview = preview_corpus_bytes(_csv(inferred), "qa.csv")
    assert (preview.query_column, preview.document_column) == ("question", "passage")


@pytest.mark.parametrize(
    "frame,options,fragment",
    [
        (pd.DataFrame({"a": ["x"], "b": ["y"]}), {}, "needs a query column and a document column"),
        (pd.DataFrame({"question": ["x"], "b": ["y"]}), {"document_column": "missing"}, "no column 'missing'"),
        (
            pd.DataFrame({"question": ["x"], "passage": ["y"]}),
            {"query_column": "question", "document_column": "Question"},
            "both 'question'",
        ),
        (pd.DataFrame({"question": ["", " "], "passage": ["y", ""]}), {}, "No query -> document pair left"),
    ],
)
def test_pair_file_errors_are_one_line(frame, options, fragment):
    with pytest.raises(CorpusError) as info:
        parse_pairs_bytes(_csv(frame), "bad.csv", **options)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_load_retrieval_task_by_name_or_file(tmp_path):
    assert load_retrieval_task("wordnet-pairs") is load_builtin_task("wordnet-pairs")
    labels = load_retrieval_task("chatterbot-english")
    assert labels.mode == "labels" and len(labels.queries) == 1629
    pairs_file = tmp_path / "qa.csv"
    pairs_file.write_bytes(_csv(pd.DataFrame({"question": ["q1", "q2"], "passage": ["d1", "d2"]})))
    assert load_retrieval_task(str(pairs_file)).mode == "pairs"
    labelled_file = tmp_path / "topics.csv"
    labelled_file.write_bytes(_csv(pd.DataFrame({"body": ["a", "b", "c"], "topic": ["x", "x", "y"]})))
    task = load_retrieval_task(str(labelled_file))
    assert task.mode == "labels" and task.labels == ("x", "x", "y")
    as_pairs = load_retrieval_task(str(labelled_file), query_column="body", document_column="topic")
    assert _pairs_of(as_pairs) == [("a", "x"), ("b", "x"), ("c", "y")]
    plain = tmp_path / "plain.txt"
    plain.write_text("one\ntwo\n")
    with pytest.raises(CorpusError, match="--query-column and --document-column, or --label-column"):
        load_retrieval_task(str(plain))
    with pytest.raises(OptionError, match="not both"):
        load_retrieval_task(str(labelled_file), query_column="body", label_column="topic")
    with pytest.raises(OptionError, match="files only"):
        load_retrieval_task("chatterbot-pairs", query_column="q")
    with pytest.raises(CorpusError, match="not a built-in task"):
        load_retrieval_task(str(tmp_path / "missing.csv"))
