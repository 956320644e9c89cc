"""An upload read once: its preview, its corpus and its retrieval pairs from one parse.

A page that previews a file, maps its columns and reads its pairs asks three questions of the
same bytes; :func:`read_upload` parses them once and :class:`UploadedTable` answers each from
that table, with the same rows and messages as :func:`~analysis.corpora.files.parse_corpus_bytes`,
:func:`~analysis.corpora.files.preview_corpus_bytes` and
:func:`~analysis.corpora.pairs.parse_pairs_bytes`.

>>> upload = read_upload(b"text,topic\\nhello,a\\nworld,b\\nhello,a\\n", "notes.csv")
>>> upload.preview().text_column, upload.preview().label_column
('text', 'topic')
>>> upload.corpus().texts, upload.corpus(label_column="topic").labels
(('hello', 'world'), ('a', 'b'))
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.corpora.corpus import MAX_FILE_BYTES_DEFAULT, MAX_TEXT_CHARS_DEFAULT, Corpus, check_max_chars
from analysis.corpora.decoding import display_name
from analysis.corpora.files import TablePreview, corpus_from_table, preview_of_table
from analysis.corpora.formats import Table, read_table
from analysis.corpora.pairs import RetrievalTask, pairs_from_table
from analysis.settings import timed


@dataclass(frozen=True, eq=False)
class UploadedTable:
    """One uploaded file, parsed: ask it for a preview, a corpus or a pairs task."""

    name: str  # the display name (never a path)
    table: Table
    max_chars: int  # texts are cut at this many characters, as the corpus cuts them

    @property
    def format(self) -> str:
        return self.table.format

    def preview(self, n_rows: int = 20) -> TablePreview:
        """Its columns, the roles DimScope infers and its first ``n_rows`` rows."""
        return preview_of_table(self.table, n_rows)

    def corpus(
        self,
        *,
        text_column: str | None = None,
        label_column: str | None = None,
        language_column: str | None = None,
        max_texts: int | None = None,
    ) -> Corpus:
        """The corpus of these columns (given by name, else inferred); see ``parse_corpus_bytes``."""
        return corpus_from_table(
            self.table,
            self.name,
            text_column=text_column,
            label_column=label_column,
            language_column=language_column,
            max_texts=max_texts,
            max_chars=self.max_chars,
        )

    def pairs(
        self, *, query_column: str | None = None, document_column: str | None = None, max_pairs: int | None = None
    ) -> RetrievalTask:
        """The retrieval task of a query and a document column; see ``parse_pairs_bytes``."""
        return pairs_from_table(
            self.table,
            self.name,
            query_column=query_column,
            document_column=document_column,
            max_pairs=max_pairs,
            max_chars=self.max_chars,
        )


@timed("parse")
def read_upload(
    data: bytes, filename: str, *, max_bytes: int = MAX_FILE_BYTES_DEFAULT, max_chars: int = MAX_TEXT_CHARS_DEFAULT
) -> UploadedTable:
    """Parse an upload's bytes once (``filename`` only picks the format and the display name).

    Raises ``CorpusError`` with the reason for a file that cannot be read as a table.
    """
    check_max_chars(max_chars)
    return UploadedTable(display_name(filename), read_table(data, filename, max_bytes, max_chars), max_chars)
