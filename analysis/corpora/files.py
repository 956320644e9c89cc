"""Reading a corpus: an upload's bytes, a file on disk, or a built-in name.

>>> corpus = parse_corpus_bytes(b"hello\\nworld\\n\\nhello\\n", "notes.txt")
>>> corpus.texts
('hello', 'world')
>>> corpus.report.messages()
['Dropped 1 blank row.', 'Dropped 1 duplicate text (kept the first occurrence of each).']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.corpora.builtin import builtin_names, load_builtin_corpus
from analysis.corpora.columns import (
    columns_of,
    infer_label_column,
    infer_language_column,
    infer_pair_columns,
    infer_text_column,
    numeric_columns,
)
from analysis.corpora.corpus import (
    MAX_FILE_BYTES_DEFAULT,
    MAX_TEXT_CHARS_DEFAULT,
    REPLACEMENT,
    SURROGATE,
    Corpus,
    SourceRows,
    build_corpus,
    check_max_bytes,
    check_max_chars,
    check_max_texts,
    clean_rows,
)
from analysis.corpora.decoding import (
    SUPPORTED_EXTENSIONS,
    check_size,
    checked_bytes,
    decode_text,
    display_name,
    format_of,
    printable,
    shorten,
    split_lines,
)
from analysis.corpora.formats import Table, read_table
from analysis.errors import CorpusError, OptionError
from analysis.settings import timed

if TYPE_CHECKING:  # pandas costs ~0.5 s to import
    import pandas as pd

_PREVIEW_CELL_CHARS = 1_000


@dataclass(frozen=True, eq=False)
class TablePreview:
    """The first rows of an uploaded file and the columns DimScope would use."""

    columns: list[str]
    text_column: str | None
    label_column: str | None
    language_column: str | None
    head: pd.DataFrame
    n_rows: int
    format: str
    # Retrieval pairs (the "What can I drop?" page): guessed from the column names, None when not found.
    query_column: str | None = None
    document_column: str | None = None
    numeric_columns: tuple[str, ...] = ()  # columns of numbers: not text, whatever their name


@timed("parse")
def parse_corpus_bytes(
    data: bytes,
    filename: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    language_column: str | None = None,
    max_bytes: int = MAX_FILE_BYTES_DEFAULT,
    max_texts: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> Corpus:
    """Parse an uploaded file's bytes into a :class:`Corpus`.

    Supported: .txt (one text per line), .csv/.tsv (header row), .jsonl, .json and .parquet.
    Blank rows and exact duplicates are dropped, texts over ``max_chars`` are truncated and rows
    past ``max_texts`` left out; the corpus's ``report`` counts each.

    Parameters
    ----------
    data : bytes
        The file's content.
    filename : str
        Picks the format (by extension) and the display name; never opened.
    text_column, label_column, language_column : str, optional
        Columns of a table; inferred from the names and contents when not given.
    max_bytes : int, default 200 MiB
        A larger file is refused before it is parsed.
    max_texts : int, optional
        Keep the first ``max_texts`` texts (after cleaning).
    max_chars : int, default 10000
        Longer texts are cut to this many characters.

    Returns
    -------
    Corpus
        The cleaned texts with their labels and languages, named after the file.

    Raises
    ------
    CorpusError
        The file cannot be read, has an unsupported format or no text; one sentence says why.

    Examples
    --------
    >>> from analysis import parse_corpus_bytes
    >>> data = b"text,label,lang\\nhello,greet,en\\nbonjour,greet,fr\\n\\nhello,greet,en\\n"
    >>> corpus = parse_corpus_bytes(data, "chat.csv")
    >>> corpus.texts, corpus.languages
    (('hello', 'bonjour'), ('en', 'fr'))
    >>> corpus.report.messages()
    ['Dropped 1 blank row.', 'Dropped 1 duplicate text (kept the first occurrence of each).']
    """
    check_max_chars(max_chars)
    check_max_texts(max_texts)
    name = display_name(filename)
    if format_of(name) == "txt" and (text_column, label_column, language_column) == (None, None, None):
        # One text per line needs no table: the same rows as the table path, without pandas.
        text, lossy = decode_text(checked_bytes(data, name, max_bytes), name)
        lines = split_lines(text)
        if not lines:
            raise CorpusError(f"{name} has no rows of data.")
        rows = clean_rows(lines, None, None, lossy=lossy)
        return _corpus_of_rows(name, rows, "txt", "text", max_texts, max_chars)
    return corpus_from_table(
        read_table(data, filename, max_bytes, max_chars),
        name,
        text_column=text_column,
        label_column=label_column,
        language_column=language_column,
        max_texts=max_texts,
        max_chars=max_chars,
    )


def corpus_from_table(
    table: Table,
    name: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    language_column: str | None = None,
    max_texts: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> Corpus:
    """A :class:`Corpus` from a table already read (see :func:`parse_corpus_bytes`); ``name`` is
    the display name. Columns given by name (case-insensitive) or inferred."""
    check_max_chars(max_chars)
    check_max_texts(max_texts)
    text_col, label_col, lang_col = columns_of(table, name, text_column, label_column, language_column)
    df = table.frame
    rows = clean_rows(
        df[text_col].tolist(),
        df[label_col].tolist() if label_col is not None else None,
        df[lang_col].tolist() if lang_col is not None else None,
        lossy=table.lossy,
    )
    return _corpus_of_rows(name, rows, table.format, text_col, max_texts, max_chars)


def _corpus_of_rows(
    name: str, rows: SourceRows, fmt: str, text_col: str, max_texts: int | None, max_chars: int
) -> Corpus:
    if not rows.texts:
        where = f"the column {shorten(printable(text_col), 60)!r} of {name}" if fmt != "txt" else name
        raise CorpusError(
            f"No text left in {where} after dropping {rows.n_blank:,} blank "
            f"{'row' if rows.n_blank == 1 else 'rows'}; check that the file "
            "holds text."
        )
    return build_corpus(name, f"file:{name}", rows, max_texts=max_texts, max_chars=max_chars)


@timed("parse")
def preview_corpus_bytes(
    data: bytes,
    filename: str,
    n_rows: int = 20,
    max_bytes: int = MAX_FILE_BYTES_DEFAULT,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> TablePreview:
    """Parse an upload far enough to show its columns, the inferred roles and the first rows
    (texts over ``max_chars`` cut, as the corpus will cut them)."""
    return preview_of_table(read_table(data, filename, max_bytes, max_chars), n_rows)


def preview_of_table(table: Table, n_rows: int = 20) -> TablePreview:
    """The preview of a table already read (see :func:`preview_corpus_bytes`)."""
    import pandas as pd

    df = table.frame
    text_col = infer_text_column(df)
    label_col = infer_label_column(df, exclude=[text_col] if text_col else [])
    lang_col = infer_language_column(df, exclude=[c for c in (text_col, label_col) if c])
    query_col, document_col = infer_pair_columns(df)
    head = df.head(max(0, n_rows)).reset_index(drop=True)
    for column in range(head.shape[1]):
        # A 10 MB cell is not sent to the browser whole, and a lone surrogate (a "\ud800"
        # escape in JSON) would make Arrow, and so st.dataframe, fail.
        head.isetitem(
            column,
            pd.Series(
                [
                    shorten(SURROGATE.sub(REPLACEMENT, v), _PREVIEW_CELL_CHARS) if isinstance(v, str) else v
                    for v in head.iloc[:, column]
                ],
                index=head.index,
                dtype=object,
            ),
        )
    return TablePreview(
        columns=[str(c) for c in df.columns],
        text_column=text_col,
        label_column=label_col,
        language_column=lang_col,
        head=head,
        n_rows=len(df),
        format=table.format,
        query_column=query_col,
        document_column=document_col,
        numeric_columns=tuple(numeric_columns(df)),
    )


def read_corpus_file(
    path: str | os.PathLike[str],
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    language_column: str | None = None,
    max_bytes: int = MAX_FILE_BYTES_DEFAULT,
    max_texts: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> Corpus:
    """Read a corpus file from disk (same formats and options as :func:`parse_corpus_bytes`)."""
    data, filename = read_file_bytes(path, max_bytes)
    return parse_corpus_bytes(
        data,
        filename,
        text_column=text_column,
        label_column=label_column,
        language_column=language_column,
        max_bytes=max_bytes,
        max_texts=max_texts,
        max_chars=max_chars,
    )


def read_file_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES_DEFAULT) -> tuple[bytes, str]:
    """A corpus file's bytes (at most ``max_bytes`` + 1) and its file name, with one-line errors for
    a missing path, a folder, an unsupported extension or a file over the limit."""
    check_max_bytes(max_bytes)
    p = Path(path)
    shown = shorten(printable(os.fspath(path)), 300)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise CorpusError(f"No such file: {shown}; check the path.") from None
    except OSError as exc:
        raise CorpusError(f"Cannot read {shown}: {exc.strerror or exc}.") from None
    except ValueError:  # an embedded NUL byte
        raise CorpusError(f"Cannot read {shown}: the path contains a NUL byte.") from None
    if p.is_dir():
        raise CorpusError(f"{shown} is a directory, not a file; pass one {'/'.join(SUPPORTED_EXTENSIONS)} file.")
    format_of(display_name(p.name))
    check_size(display_name(p.name), st.st_size, max_bytes)
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise CorpusError(f"Cannot read {shown}: {exc.strerror or exc}.") from None
    return data, p.name


def load_corpus(
    spec: str,
    *,
    per_label: int | None = None,
    seed: int = 0,
    text_column: str | None = None,
    label_column: str | None = None,
    language_column: str | None = None,
    max_bytes: int = MAX_FILE_BYTES_DEFAULT,
    max_texts: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> Corpus:
    """Load a built-in corpus by name or a corpus file by path.

    Built-in names win over files of the same name (write ``file:name`` for the file).

    Parameters
    ----------
    spec : str
        A built-in name (``"chatterbot-english"``, optionally ``"builtin:..."``) or a file path
        in a format :func:`parse_corpus_bytes` reads.
    per_label : int, optional
        Built-ins only: sample this many texts per label.
    seed : int, default 0
        Built-ins only: the seed of that sample.
    text_column, label_column, language_column : str, optional
        Files only: the columns to read (inferred when not given).
    max_bytes : int, default 200 MiB
        Files only: a larger file is refused.
    max_texts : int, optional
        Keep the first ``max_texts`` texts.
    max_chars : int, default 10000
        Longer texts are cut to this many characters.

    Returns
    -------
    Corpus
        The texts, with labels (and languages) where the source has them.

    Raises
    ------
    CorpusError
        An unknown name, a missing file, or a file that cannot be read.
    OptionError
        An option that does not apply to this kind of source.

    Examples
    --------
    >>> from analysis import load_corpus
    >>> corpus = load_corpus("chatterbot-english", max_texts=5)
    >>> len(corpus), corpus.labels is not None
    (5, True)
    >>> corpus.report.messages()[-1]
    'Kept the first 5 texts; left out 1,624 more (limit: 5 texts).'
    >>> load_corpus("no-such-corpus")
    Traceback (most recent call last):
    analysis.errors.CorpusError: Unknown corpus 'no-such-corpus': not a built-in corpus (...) and no such file.
    """
    name = spec.strip().removeprefix("builtin:").lower()
    names = builtin_names()
    if name in names:
        if any(v is not None for v in (text_column, label_column, language_column)):
            raise OptionError(f"Column options apply to files only, not to the built-in corpus {name!r}.")
        corpus = load_builtin_corpus(name, per_label=per_label, seed=seed)
        if max_texts is not None or max_chars != MAX_TEXT_CHARS_DEFAULT:
            corpus = corpus.with_limits(max_texts=max_texts, max_chars=max_chars)
        return corpus
    path = spec.removeprefix("file:")
    if os.path.exists(path):
        if per_label is not None:
            raise OptionError("per_label applies to built-in corpora only, not to files.")
        return read_corpus_file(
            path,
            text_column=text_column,
            label_column=label_column,
            language_column=language_column,
            max_bytes=max_bytes,
            max_texts=max_texts,
            max_chars=max_chars,
        )
    raise CorpusError(
        f"Unknown corpus {shorten(printable(spec), 200)!r}: not a built-in corpus "
        f"({', '.join(names)}) and no such file."
    )


def corpus_from_texts(
    texts: Sequence[str],
    *,
    name: str = "texts",
    labels: Sequence[str] | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
) -> Corpus:
    """A corpus from strings in memory, cleaned like a file (blanks and duplicates dropped and counted).

    Parameters
    ----------
    texts : sequence of str
        The texts, in order (a list, not one string).
    name : str, default "texts"
        The display name (reports and charts show it).
    labels : sequence of str, optional
        One label per text, for the reports that compare labels (selection, label crowding).
    max_chars : int, default 10000
        Longer texts are cut to this many characters.

    Returns
    -------
    Corpus
        The kept texts (and their labels), with a ``report`` of what was dropped.

    Examples
    --------
    >>> from analysis import corpus_from_texts
    >>> corpus = corpus_from_texts(["a", "b", "a", " "], labels=["x", "y", "x", "z"])
    >>> corpus.texts, corpus.labels
    (('a', 'b'), ('x', 'y'))
    >>> corpus.report.messages()
    ['Dropped 1 blank row.', 'Dropped 1 duplicate text (kept the first occurrence of each).']
    """
    if isinstance(texts, (str, bytes)):
        raise OptionError('Give a list of texts, not one string: for example ["first text", "second text"].')
    texts = list(texts)
    if labels is not None and len(labels) != len(texts):
        raise OptionError(f"{len(labels)} labels for {len(texts)} texts; give one label per text.")
    rows = clean_rows(texts, list(labels) if labels is not None else None)
    if not rows.texts:
        raise CorpusError(f"No text left in {name} after dropping {rows.n_blank:,} blank rows.")
    return build_corpus(name, f"memory:{name}", rows, max_texts=None, max_chars=check_max_chars(max_chars))


def as_corpus(corpus: str | os.PathLike[str] | Corpus | Sequence[str], **options: Any) -> Corpus:
    """A :class:`Corpus` from a built-in name, a file path, a list of strings, or a corpus as is."""
    if isinstance(corpus, Corpus):
        return corpus
    if isinstance(corpus, (str, os.PathLike)):
        return load_corpus(os.fspath(corpus), **options)
    return corpus_from_texts(corpus, **options)
