"""Corpora: built-in text collections, upload parsing and validation, content hashing.

A :class:`Corpus` is an immutable, ordered tuple of texts with optional parallel labels,
languages and parallel-sentence groups, plus a :class:`CleaningReport` that says what was
dropped or changed on the way in. Every failure a user can cause raises
:class:`~analysis.errors.CorpusError` with one actionable sentence.

* :mod:`~analysis.corpora.corpus`: the :class:`Corpus` and the cleaning steps;
* :mod:`~analysis.corpora.builtin`: chatterbot and WordNet;
* :mod:`~analysis.corpora.decoding`: bytes to text, file names, sizes;
* :mod:`~analysis.corpora.formats`: JSON, CSV/TSV and Parquet to tables;
* :mod:`~analysis.corpora.columns`: which column holds the texts, labels and languages;
* :mod:`~analysis.corpora.files`: uploads, files and names -> a :class:`Corpus`;
* :mod:`~analysis.corpora.pairs`: retrieval tasks (query -> document pairs, or labels) from
  what ships and from files with a query and a document column;
* :mod:`~analysis.corpora.uploads`: an upload parsed once, asked for its preview, corpus and pairs.

Nothing here imports streamlit or torch; ``pyyaml``, ``pandas`` and ``pyarrow`` are imported
only when a chatterbot corpus, a table or a Parquet file is read.
"""

from analysis.corpora.builtin import (
    WORDNET_LEXNAMES,
    BuiltinCorpusInfo,
    WordNetSynset,
    builtin_corpora,
    chatterbot_conversations,
    load_builtin_corpus,
    wordnet_synsets,
)
from analysis.corpora.columns import infer_label_column, infer_language_column, infer_pair_columns, infer_text_column
from analysis.corpora.corpus import (
    DEFAULT_CORPUS,
    MAX_FILE_BYTES_DEFAULT,
    MAX_TEXT_CHARS_DEFAULT,
    MIN_TEXTS_FOR_STATISTICS,
    CleaningReport,
    Corpus,
    plural,
    require_texts_for_statistics,
)
from analysis.corpora.decoding import SUPPORTED_EXTENSIONS
from analysis.corpora.files import (
    TablePreview,
    as_corpus,
    corpus_from_texts,
    load_corpus,
    parse_corpus_bytes,
    preview_corpus_bytes,
    read_corpus_file,
)
from analysis.corpora.pairs import (
    BUILTIN_TASKS,
    PairsReport,
    RetrievalTask,
    labelled_task,
    load_builtin_task,
    load_retrieval_task,
    pairs_from_rows,
    parse_pairs_bytes,
)
from analysis.corpora.uploads import UploadedTable, read_upload

__all__ = [
    "BUILTIN_TASKS",
    "DEFAULT_CORPUS",
    "MAX_FILE_BYTES_DEFAULT",
    "MAX_TEXT_CHARS_DEFAULT",
    "MIN_TEXTS_FOR_STATISTICS",
    "SUPPORTED_EXTENSIONS",
    "WORDNET_LEXNAMES",
    "BuiltinCorpusInfo",
    "CleaningReport",
    "Corpus",
    "PairsReport",
    "RetrievalTask",
    "TablePreview",
    "UploadedTable",
    "WordNetSynset",
    "as_corpus",
    "chatterbot_conversations",
    "corpus_from_texts",
    "builtin_corpora",
    "infer_label_column",
    "infer_language_column",
    "infer_pair_columns",
    "infer_text_column",
    "labelled_task",
    "load_builtin_corpus",
    "load_builtin_task",
    "load_corpus",
    "load_retrieval_task",
    "pairs_from_rows",
    "parse_corpus_bytes",
    "parse_pairs_bytes",
    "preview_corpus_bytes",
    "plural",
    "read_corpus_file",
    "read_upload",
    "wordnet_synsets",
    "require_texts_for_statistics",
]
