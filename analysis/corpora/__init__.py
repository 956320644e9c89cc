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
* :mod:`~analysis.corpora.files`: uploads, files and names -> a :class:`Corpus`.

Nothing here imports streamlit or torch; ``pyyaml``, ``pandas`` and ``pyarrow`` are imported
only when a chatterbot corpus, a table or a Parquet file is read.
"""

from analysis.corpora.builtin import WORDNET_LEXNAMES, BuiltinCorpusInfo, builtin_corpora, load_builtin_corpus
from analysis.corpora.columns import infer_label_column, infer_language_column, infer_text_column
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

__all__ = [
    "DEFAULT_CORPUS",
    "MAX_FILE_BYTES_DEFAULT",
    "MAX_TEXT_CHARS_DEFAULT",
    "MIN_TEXTS_FOR_STATISTICS",
    "SUPPORTED_EXTENSIONS",
    "WORDNET_LEXNAMES",
    "BuiltinCorpusInfo",
    "CleaningReport",
    "Corpus",
    "TablePreview",
    "as_corpus",
    "corpus_from_texts",
    "builtin_corpora",
    "infer_label_column",
    "infer_language_column",
    "infer_text_column",
    "load_builtin_corpus",
    "load_corpus",
    "parse_corpus_bytes",
    "preview_corpus_bytes",
    "plural",
    "read_corpus_file",
    "require_texts_for_statistics",
]
