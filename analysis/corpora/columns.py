"""Which column holds the texts, the labels and the languages of an uploaded table."""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from analysis.corpora.corpus import is_missing, to_text
from analysis.corpora.decoding import printable, shorten, shown_columns
from analysis.corpora.formats import Table
from analysis.errors import CorpusError

if TYPE_CHECKING:  # pandas costs ~0.5 s to import
    import pandas as pd

# Column names (normalised: lower case, spaces and dashes as "_") tried in this order.
_TEXT_COLUMN_NAMES = (
    "text",
    "texts",
    "sentence",
    "sentences",
    "document",
    "documents",
    "doc",
    "content",
    "body",
    "utterance",
    "utterances",
    "message",
    "comment",
    "review",
    "question",
    "query",
    "prompt",
    "passage",
    "paragraph",
    "definition",
    "gloss",
    "description",
    "abstract",
)
_LABEL_COLUMN_NAMES = (
    "label",
    "labels",
    "category",
    "topic",
    "class",
    "target",
    "tag",
    "intent",
    "genre",
)
_LANGUAGE_COLUMN_NAMES = ("language", "lang", "languages", "locale", "language_code", "lang_code")
# Retrieval pairs: the side that is searched with, and the side that is stored and found.
_QUERY_COLUMN_NAMES = (
    "query",
    "queries",
    "question",
    "questions",
    "anchor",
    "search",
    "search_query",
    "statement",
    "prompt",
    "sentence1",
    "sentence_1",
    "text1",
    "text_1",
)
_DOCUMENT_COLUMN_NAMES = (
    "document",
    "documents",
    "doc",
    "passage",
    "passages",
    "positive",
    "answer",
    "answers",
    "response",
    "context",
    "paragraph",
    "definition",
    "gloss",
    "sentence2",
    "sentence_2",
    "text2",
    "text_2",
    "translation",
)


def _norm(column: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(column).strip().lower())


def _column_profile(series: pd.Series, sample: int = 2000) -> tuple[float, float, bool, int]:
    """(fraction of non-missing values that are str, their mean length, mostly numeric,
    number of non-missing values), over the first ``sample`` values."""
    values = [v for v in series.head(sample).tolist() if not is_missing(v)]
    # Bytes (a Parquet binary column) are read as UTF-8 text, like to_text does.
    values = [to_text(v)[0] if isinstance(v, (bytes, bytearray)) else v for v in values]
    strings = [v for v in values if isinstance(v, str)]
    if not values or not strings:
        return 0.0, 0.0, False, len(values)
    numeric = 0
    for v in strings:
        try:
            float(v)
            numeric += 1
        except ValueError:
            pass
    return (
        len(strings) / len(values),
        sum(map(len, strings)) / len(strings),
        numeric >= 0.9 * len(strings),
        len(values),
    )


def _by_name(df: pd.DataFrame, names: Iterable[str], exclude: Iterable[str] = ()) -> str | None:
    excluded = set(exclude)
    normalized: dict[str, Any] = {}
    for column in df.columns:
        if column not in excluded:
            normalized.setdefault(_norm(column), column)
    for name in names:
        if name in normalized:
            return str(normalized[name])
    return None


def infer_text_column(df: pd.DataFrame) -> str | None:
    """Guess the text column: a conventional name (text, sentence, content, ...; case-insensitive)
    holding strings, else the string column with the longest mean length; None if no column
    holds text."""
    profiles = {str(c): _column_profile(df[c]) for c in df.columns}
    candidates = {c: p for c, p in profiles.items() if p[0] >= 0.5}
    # A conventionally named column wins unless it holds values but no strings (numbers).
    numeric_only = [c for c, p in profiles.items() if p[0] == 0 and p[3] > 0]
    named = _by_name(df, _TEXT_COLUMN_NAMES, exclude=numeric_only)
    if named is not None:
        return named
    other_names = set(_LABEL_COLUMN_NAMES) | set(_LANGUAGE_COLUMN_NAMES)
    textual = {c: p for c, p in candidates.items() if not p[2]}
    preferred = {c: p for c, p in textual.items() if _norm(c) not in other_names} or textual
    if not preferred:
        return None
    return max(preferred, key=lambda c: preferred[c][1])


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Number):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def numeric_columns(df: pd.DataFrame, sample: int = 2000) -> list[str]:
    """Columns whose values are at least 90% numbers (numbers, or strings that read as numbers):
    embedding them as text is almost never what a user meant, so pages say so before doing it."""
    out = []
    for column in df.columns:
        values = [v for v in df[column].head(sample).tolist() if not is_missing(v)]
        if values and sum(map(_is_number, values)) >= 0.9 * len(values):
            out.append(str(column))
    return out


def infer_label_column(df: pd.DataFrame, exclude: Iterable[str] = ()) -> str | None:
    """A column named label/category/topic/class/target/... (case-insensitive), or None."""
    return _by_name(df, _LABEL_COLUMN_NAMES, exclude)


def infer_language_column(df: pd.DataFrame, exclude: Iterable[str] = ()) -> str | None:
    """A column named language/lang/locale (case-insensitive), or None."""
    return _by_name(df, _LANGUAGE_COLUMN_NAMES, exclude)


def _resolve_column(df: pd.DataFrame, wanted: str, role: str, name: str) -> str:
    columns = [str(c) for c in df.columns]
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.lower() == str(wanted).lower()]
    if len(folded) == 1:
        return folded[0]
    raise CorpusError(
        f"{name} has no column {shorten(printable(str(wanted)), 60)!r} for the "
        f"{role}; available columns: {shown_columns(columns)}."
    )


def columns_of(
    table: Table, name: str, text_column: str | None, label_column: str | None, language_column: str | None
) -> tuple[str, str | None, str | None]:
    df = table.frame
    if text_column is not None:
        text_col = _resolve_column(df, text_column, "text", name)
    else:
        if len(df) == 0:
            raise CorpusError(f"{name} has no rows of data.")
        inferred = infer_text_column(df)
        if inferred is None:
            raise CorpusError(
                f"{name} has no column of text (columns: "
                f"{shown_columns(df.columns)}); choose one with "
                "--text-column (or the text column picker)."
            )
        text_col = inferred
    label_col = (
        _resolve_column(df, label_column, "labels", name)
        if label_column is not None
        else infer_label_column(df, exclude=[text_col])
    )
    lang_col = (
        _resolve_column(df, language_column, "languages", name)
        if language_column is not None
        else infer_language_column(df, exclude=[c for c in (text_col, label_col) if c])
    )
    return text_col, label_col, lang_col


def infer_pair_columns(df: pd.DataFrame) -> tuple[str | None, str | None]:
    """Guess a retrieval table's query and document columns from their names (question/passage,
    query/document, anchor/positive, sentence1/sentence2, ...); None for a side not found."""
    query = _by_name(df, _QUERY_COLUMN_NAMES)
    document = _by_name(df, _DOCUMENT_COLUMN_NAMES, exclude=[query] if query else [])
    return query, document


def pair_columns_of(table: Table, name: str, query_column: str | None, document_column: str | None) -> tuple[str, str]:
    """The query and document columns: the given names (case-insensitive), else inferred ones."""
    df = table.frame
    if len(df) == 0:
        raise CorpusError(f"{name} has no rows of data.")
    guessed_query, guessed_document = infer_pair_columns(df)
    query = _resolve_column(df, query_column, "queries", name) if query_column is not None else guessed_query
    document = (
        _resolve_column(df, document_column, "documents", name) if document_column is not None else guessed_document
    )
    if query is None or document is None:
        raise CorpusError(
            f"{name} needs a query column and a document column (columns: {shown_columns(df.columns)}); "
            "name them with --query-column and --document-column (or the column pickers)."
        )
    if query == document:
        raise CorpusError(
            f"The query and document columns of {name} are both {shorten(printable(query), 60)!r}; pick two columns."
        )
    return query, document
