"""Retrieval tasks: queries, documents, and which documents each query should find.

Three are built from what ships, deterministically (counts on chatterbot-corpus 1.3.3 and
Debian's WordNet 3.0):

* ``chatterbot-pairs``: each English chatterbot statement -> the turn that answers it
  (1,053 consecutive turns give 895 pairs and 862 documents once repeated statements and a
  statement answered by itself are dropped);
* ``wordnet-pairs``: a WordNet lemma -> its definition, 50 synsets sampled per lexicographer
  file with seed 0 (2,146 pairs, 2,144 documents; 96 repeated lemmas dropped);
* ``translation-pairs``: a chatterbot sentence in one of 13 other languages -> its English
  version, from the parallel groups of the multilingual corpus (1,847 pairs, 786 documents).

A labelled corpus is a task too (:func:`labelled_task`): every text is a query against all the
others, and the documents sharing its label are relevant. Files with a query column and a
document column are read by :func:`parse_pairs_bytes`.

>>> task = pairs_from_rows("demo", ["hi", "hi", "bye", "yes"], ["hello", "hey", "see you", "yes"])
>>> task.queries.texts, task.documents.texts, task.relevant
(('hi', 'bye'), ('hello', 'see you'), (0, 1))
>>> task.report.messages()
['Dropped 1 repeated query (kept its first document).', 'Dropped 1 pair whose query is its document.']
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis.corpora.builtin import (
    WordNetSynset,
    builtin_names,
    chatterbot_conversations,
    load_builtin_corpus,
    wordnet_synsets,
)
from analysis.corpora.columns import infer_pair_columns, pair_columns_of
from analysis.corpora.corpus import (
    MAX_FILE_BYTES_DEFAULT,
    MAX_TEXT_CHARS_DEFAULT,
    Corpus,
    check_max_chars,
    check_max_texts,
    plural,
    to_text,
)
from analysis.corpora.decoding import display_name, format_of, printable, shorten
from analysis.corpora.files import parse_corpus_bytes, read_file_bytes
from analysis.corpora.formats import Table, read_table
from analysis.errors import CorpusError, OptionError
from analysis.options import RETRIEVAL_TASKS

WORDNET_PAIRS_PER_LABEL = 50


@dataclass(frozen=True)
class PairsReport:
    """What happened to the source rows on their way into a pairs task; each row read is kept or
    counted once under ``n_blank``, ``n_same_text``, ``n_duplicate_queries``, ``n_unmatched`` or
    ``n_over_limit``."""

    n_rows_read: int = 0
    n_pairs: int = 0
    n_blank: int = 0
    n_same_text: int = 0
    n_duplicate_queries: int = 0
    n_unmatched: int = 0
    n_over_limit: int = 0
    n_truncated: int = 0
    n_undecodable: int = 0
    max_chars: int | None = None
    max_pairs: int | None = None

    def messages(self) -> list[str]:
        """One sentence per thing that happened; an empty list if nothing did."""
        out: list[str] = []
        if self.n_blank:
            out.append(f"Dropped {plural(self.n_blank, 'row')} with a blank query or document.")
        if self.n_duplicate_queries:
            out.append(
                f"Dropped {plural(self.n_duplicate_queries, 'repeated query', 'repeated queries')} "
                "(kept its first document)."
            )
        if self.n_same_text:
            out.append(f"Dropped {plural(self.n_same_text, 'pair')} whose query is its document.")
        if self.n_unmatched:
            out.append(f"Left out {plural(self.n_unmatched, 'sentence')} whose English version is missing.")
        if self.n_truncated:
            out.append(
                f"Truncated {plural(self.n_truncated, 'pair')} with a text longer than {self.max_chars:,} characters."
            )
        if self.n_undecodable:
            out.append(f"Replaced undecodable bytes with U+FFFD in {plural(self.n_undecodable, 'row')}.")
        if self.n_over_limit:
            out.append(
                f"Kept the first {plural(self.n_pairs, 'pair')}; left out {self.n_over_limit:,} more "
                f"(limit: {self.max_pairs:,})."
            )
        return out


@dataclass(frozen=True, eq=False)
class RetrievalTask:
    """Queries, documents and relevance, ready to embed (both sides are :class:`Corpus` objects).

    Made by :func:`load_retrieval_task`; :func:`compress_report` scores storage choices on one.

    Attributes
    ----------
    name : str
        The task's display name (the file name, or the built-in's).
    queries, documents : Corpus
        The two sides, each embedded (and cached) as a corpus of its own.
    relevant : tuple of int or None
        ``relevant[i]`` is query i's one relevant document (pairs). ``None`` means labels: a
        document is relevant when it shares the query's label, and the queries are the documents.
    query_doc_index : tuple of int
        The document with query i's exact text (-1 when none): left out of that query's ranking,
        so a text never finds itself.
    mode : {"pairs", "labels"}
        Which of the two kinds of relevance the task has.
    labels : tuple of str or None
        The documents' labels in labels mode.

    Examples
    --------
    >>> from analysis import load_retrieval_task
    >>> task = load_retrieval_task("chatterbot-pairs")
    >>> task.mode, task.describe()
    ('pairs', '895 queries, 862 documents (each query has one relevant document)')
    >>> task.queries.texts[0], task.documents.texts[task.relevant[0]][:35]
    ('What is AI?', 'Artificial Intelligence is the bran')
    """

    name: str
    queries: Corpus
    documents: Corpus
    relevant: tuple[int, ...] | None
    query_doc_index: tuple[int, ...]
    source: str = ""
    report: PairsReport | None = None

    @property
    def mode(self) -> str:
        return "labels" if self.relevant is None else "pairs"

    @property
    def labels(self) -> tuple[str, ...] | None:
        return self.documents.labels if self.relevant is None else None

    @functools.cached_property
    def relevance_hash(self) -> str:
        """SHA-256 (16 hex digits) of which documents are relevant to which query."""
        h = hashlib.sha256(f"dimscope-relevance-v1\0{self.mode}\0".encode())
        h.update(",".join(map(str, self.query_doc_index)).encode() + b"\0")
        if self.relevant is not None:
            h.update(",".join(map(str, self.relevant)).encode())
        else:
            for label in self.labels or ():
                data = label.encode("utf-8", "surrogatepass")
                h.update(len(data).to_bytes(8, "big") + data)
        return h.hexdigest()[:16]

    def messages(self) -> list[str]:
        """What was dropped or changed on the way in (pairs report, or the labelled corpus's cleaning)."""
        if self.report is not None:
            return self.report.messages()
        return self.documents.report.messages() if self.documents.report is not None else []

    def describe(self) -> str:
        """``"895 queries, 862 documents (each query has one relevant document)"``."""
        how = "each query has one relevant document" if self.relevant is not None else "same label = relevant"
        return f"{len(self.queries):,} queries, {len(self.documents):,} documents ({how})"


def pairs_from_rows(
    name: str,
    queries: Sequence[Any],
    documents: Sequence[Any],
    *,
    source: str = "",
    max_pairs: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
    lossy: bool = False,
    n_unmatched: int = 0,
) -> RetrievalTask:
    """A pairs task from parallel query and document cells, cleaned and counted.

    Rows with a blank side are dropped; texts over ``max_chars`` are cut; a query repeated
    later keeps its first document; a pair whose query equals its document is dropped (there
    is nothing to find); rows past ``max_pairs`` are left out. Documents are unique: queries
    sharing a document point at one row.
    """
    check_max_chars(max_chars)
    check_max_texts(max_pairs)
    if len(queries) != len(documents):
        raise CorpusError(f"{name}: {len(queries)} queries but {len(documents)} documents; give one of each per row.")
    kept_queries: list[str] = []
    relevant: list[int] = []
    doc_index: dict[str, int] = {}
    seen: set[str] = set()
    counts = dict.fromkeys(("blank", "same", "dup", "over", "cut", "bad"), 0)
    for raw_query, raw_doc in zip(queries, documents, strict=True):
        (query, bad_q), (doc, bad_d) = to_text(raw_query), to_text(raw_doc)
        if query is None or doc is None or not query.strip() or not doc.strip():
            counts["blank"] += 1
            continue
        counts["bad"] += bad_q or bad_d or (lossy and ("\ufffd" in query or "\ufffd" in doc))
        if len(query) > max_chars or len(doc) > max_chars:
            query, doc = query[:max_chars], doc[:max_chars]
            counts["cut"] += 1
        if query == doc:
            counts["same"] += 1
        elif query in seen:
            counts["dup"] += 1
        elif max_pairs is not None and len(kept_queries) >= max_pairs:
            counts["over"] += 1
        else:
            seen.add(query)
            kept_queries.append(query)
            relevant.append(doc_index.setdefault(doc, len(doc_index)))
    if not kept_queries:
        raise CorpusError(
            f"No query -> document pair left in {name} ({plural(counts['blank'], 'blank row')}, "
            f"{plural(counts['same'], 'pair')} whose query is its document); check the two columns."
        )
    report = PairsReport(
        n_rows_read=len(queries) + n_unmatched,
        n_pairs=len(kept_queries),
        n_blank=counts["blank"],
        n_same_text=counts["same"],
        n_duplicate_queries=counts["dup"],
        n_unmatched=n_unmatched,
        n_over_limit=counts["over"],
        n_truncated=counts["cut"],
        n_undecodable=counts["bad"],
        max_chars=max_chars,
        max_pairs=max_pairs,
    )
    return RetrievalTask(
        name=name,
        queries=Corpus(f"{name} (queries)", tuple(kept_queries), source=source),
        documents=Corpus(f"{name} (documents)", tuple(doc_index), source=source),
        relevant=tuple(relevant),
        query_doc_index=tuple(doc_index.get(q, -1) for q in kept_queries),
        source=source,
        report=report,
    )


def labelled_task(corpus: Corpus) -> RetrievalTask:
    """Every text of a labelled corpus as a query against all the others; same label = relevant."""
    if corpus.labels is None:
        raise CorpusError(
            f"'{corpus.name}' has no labels, so no document is relevant to any query; give a label column, "
            "or a query column and a document column."
        )
    return RetrievalTask(
        name=corpus.name,
        queries=corpus,
        documents=corpus,
        relevant=None,
        query_doc_index=tuple(range(len(corpus))),
        source=corpus.source,
    )


# --- built-in tasks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltinTaskInfo:
    name: str
    title: str
    description: str


BUILTIN_TASKS: dict[str, BuiltinTaskInfo] = {
    info.name: info
    for info in (
        BuiltinTaskInfo(
            "chatterbot-pairs",
            "ChatterBot statement → response",
            "Each English chatterbot statement and the turn that answers it (895 pairs, 862 documents).",
        ),
        BuiltinTaskInfo(
            "wordnet-pairs",
            "WordNet lemma → definition",
            f"A WordNet lemma and its definition, {WORDNET_PAIRS_PER_LABEL} synsets per category (2,146 pairs).",
        ),
        BuiltinTaskInfo(
            "translation-pairs",
            "ChatterBot sentence → English translation",
            "A chatterbot sentence in one of 13 languages and its English version (1,847 pairs, 786 documents).",
        ),
    )
}
assert tuple(BUILTIN_TASKS) == RETRIEVAL_TASKS


def load_builtin_task(name: str) -> RetrievalTask:
    """A built-in retrieval task by name (see :data:`BUILTIN_TASKS`); cached in-process."""
    if name not in BUILTIN_TASKS:
        raise CorpusError(f"Unknown built-in retrieval task {name!r}; choose one of: {', '.join(BUILTIN_TASKS)}.")
    return _builtin_task(name)


@functools.lru_cache(maxsize=4)
def _builtin_task(name: str) -> RetrievalTask:
    source = f"builtin:{name}"
    if name == "chatterbot-pairs":
        turns = [
            (conv[i], conv[i + 1])
            for _, convs in chatterbot_conversations("english")
            for conv in convs
            for i in range(len(conv) - 1)
        ]
        return pairs_from_rows(name, [q for q, _ in turns], [d for _, d in turns], source=source)
    if name == "wordnet-pairs":
        synsets = sample_synsets(WORDNET_PAIRS_PER_LABEL, seed=0)
        return pairs_from_rows(name, [s.lemma for s in synsets], [s.gloss for s in synsets], source=source)
    corpus = load_builtin_corpus("chatterbot-multilingual")
    assert corpus.languages is not None and corpus.groups is not None
    english = {
        g: t
        for t, lang, g in zip(corpus.texts, corpus.languages, corpus.groups, strict=True)
        if g and lang == "english"
    }
    rows = [
        (t, g)
        for t, lang, g in zip(corpus.texts, corpus.languages, corpus.groups, strict=True)
        if g and lang != "english"
    ]
    matched = [(t, english[g]) for t, g in rows if g in english]
    return pairs_from_rows(
        name, [q for q, _ in matched], [d for _, d in matched], source=source, n_unmatched=len(rows) - len(matched)
    )


def sample_synsets(per_label: int, seed: int, exclude: frozenset[int] = frozenset()) -> list[WordNetSynset]:
    """At most ``per_label`` WordNet synsets of each lexicographer file, sampled with ``seed``, in file order."""
    synsets = wordnet_synsets()
    return [synsets[i] for i in sample_synset_positions(per_label, seed, exclude)]


def sample_synset_positions(per_label: int, seed: int, exclude: frozenset[int] = frozenset()) -> list[int]:
    """Positions in :func:`wordnet_synsets` of :func:`sample_synsets`; ``exclude`` holds positions never
    to pick (so a held-out sample can avoid the built-in one)."""
    synsets = wordnet_synsets()
    by_label: dict[str, list[int]] = {}
    for i, synset in enumerate(synsets):
        if i not in exclude:
            by_label.setdefault(synset.label, []).append(i)
    rng = random.Random(seed)
    keep: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        keep.extend(idx if len(idx) <= per_label else rng.sample(idx, per_label))
    return sorted(keep)


# --- files and names -------------------------------------------------------------------------------


def parse_pairs_bytes(
    data: bytes,
    filename: str,
    *,
    query_column: str | None = None,
    document_column: str | None = None,
    max_bytes: int = MAX_FILE_BYTES_DEFAULT,
    max_pairs: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> RetrievalTask:
    """A pairs task from an uploaded table (CSV/TSV, JSON lines, JSON, Parquet) with a query column
    and a document column, any names: given, or inferred (question/passage, query/document, ...).

    Cleaned as :func:`pairs_from_rows` does; ``filename`` only picks the format and the name.
    """
    return pairs_from_table(
        read_table(data, filename, max_bytes, max_chars),
        display_name(filename),
        query_column=query_column,
        document_column=document_column,
        max_pairs=max_pairs,
        max_chars=max_chars,
    )


def pairs_from_table(
    table: Table,
    name: str,
    *,
    query_column: str | None = None,
    document_column: str | None = None,
    max_pairs: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> RetrievalTask:
    """A pairs task from a table already read (see :func:`parse_pairs_bytes`); ``name`` is the
    display name."""
    query, document = pair_columns_of(table, name, query_column, document_column)
    df = table.frame
    return pairs_from_rows(
        name,
        df[query].tolist(),
        df[document].tolist(),
        source=f"file:{name}",
        max_pairs=max_pairs,
        max_chars=max_chars,
        lossy=table.lossy,
    )


def load_retrieval_task(
    spec: str,
    *,
    query_column: str | None = None,
    document_column: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    max_bytes: int = MAX_FILE_BYTES_DEFAULT,
    max_pairs: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> RetrievalTask:
    """A retrieval task from a name or a file.

    * a built-in task (``chatterbot-pairs``, ``wordnet-pairs``, ``translation-pairs``);
    * a built-in corpus (``chatterbot-english``, ...): its labels (:func:`labelled_task`);
    * a file: pairs from its query and document columns; labels when a label or text column
      is named; with no column named, pairs when both sides can be inferred from the column
      names, else labels when a label column can be.

    Parameters
    ----------
    spec : str
        A built-in task or corpus name, or the path of a file (.csv, .tsv, .jsonl, .json, .parquet).
    query_column, document_column : str, optional
        Files only: the two sides of each pair.
    text_column, label_column : str, optional
        Files only: a labelled corpus (same label = relevant) instead of pairs.
    max_bytes : int, default 200 MiB
        Files only: a larger file is refused.
    max_pairs : int, optional
        Keep the first ``max_pairs`` pairs (or texts, for labels).
    max_chars : int, default 10000
        Longer texts are cut to this many characters.

    Returns
    -------
    RetrievalTask
        Queries, documents and which documents each query should find.

    Raises
    ------
    CorpusError
        An unknown name, or a file without usable columns; the message names the columns found.
    OptionError
        Pair and label columns both given, or column options for a built-in.

    Examples
    --------
    A file of question -> answer pairs (here written to a temporary folder):

    >>> import pathlib, tempfile
    >>> from analysis import load_retrieval_task
    >>> faq = (
    ...     "query,document\\n"
    ...     "how do I reset my password,Open Settings and choose Reset password.\\n"
    ...     "when is the shop open,From 9 to 5 on weekdays.\\n"
    ...     "can I pay by card,Yes: every major card is accepted.\\n"
    ...     "where do you ship,To the EU and the UK.\\n"
    ...     "where do you ship,Everywhere.\\n"
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "faq.csv"
    ...     _ = path.write_text(faq)
    ...     task = load_retrieval_task(str(path))
    >>> task.name, task.describe()
    ('faq.csv', '4 queries, 4 documents (each query has one relevant document)')
    >>> task.messages()
    ['Dropped 1 repeated query (kept its first document).']
    >>> load_retrieval_task("chatterbot-english").describe()
    '1,629 queries, 1,629 documents (same label = relevant)'
    """
    pair_options = query_column is not None or document_column is not None
    label_options = text_column is not None or label_column is not None
    if pair_options and label_options:
        raise OptionError(
            "Give either a query and a document column (pairs) or a text and label column (labels), not both."
        )
    name = spec.strip().removeprefix("builtin:").lower()
    if name in BUILTIN_TASKS or name in builtin_names():
        if pair_options or label_options:
            raise OptionError(f"Column options apply to files only, not to the built-in {name!r}.")
        return load_builtin_task(name) if name in BUILTIN_TASKS else labelled_task(load_builtin_corpus(name))
    path = spec.removeprefix("file:")
    if not os.path.exists(path):
        raise CorpusError(
            f"Unknown corpus {shorten(printable(spec), 200)!r}: not a built-in task "
            f"({', '.join(BUILTIN_TASKS)}), not a built-in corpus ({', '.join(builtin_names())}) and no such file."
        )
    data, filename = read_file_bytes(path, max_bytes)
    if not pair_options and not label_options and format_of(display_name(filename)) != "txt":
        columns = infer_pair_columns(read_table(data, filename, max_bytes).frame)
        pair_options = None not in columns
    if pair_options:
        return parse_pairs_bytes(
            data,
            filename,
            query_column=query_column,
            document_column=document_column,
            max_bytes=max_bytes,
            max_pairs=max_pairs,
            max_chars=max_chars,
        )
    corpus = parse_corpus_bytes(
        data,
        filename,
        text_column=text_column,
        label_column=label_column,
        max_bytes=max_bytes,
        max_texts=max_pairs,
        max_chars=max_chars,
    )
    if corpus.labels is None:
        raise CorpusError(
            f"{corpus.name} has neither a query and a document column nor a label column; name them with "
            "--query-column and --document-column, or --label-column."
        )
    return labelled_task(corpus)
