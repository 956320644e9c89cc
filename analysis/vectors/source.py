"""A :class:`VectorSource`: embeddings given as a file, standing where a model stands in the pipeline.

The pipeline asks a model for two things: a fingerprint for the cache keys, and the raw embeddings
of a corpus. A vector source answers both from a file: its fingerprint is the sha256 of the file's
bytes (and of the vector column chosen), and its raw embeddings are the vectors as given. Its corpus
is its own rows: the texts of a text column (or ``row <i>`` when there is none) and the labels of a
label column. **The given vectors are the raw view; normalized is their L2 normalization** (what
the model returned is unknown: a file of already-normalized vectors gives two identical views).

>>> import numpy as np, io
>>> buffer = io.BytesIO(); np.save(buffer, np.eye(3, dtype=np.float32) + 1)
>>> source = open_vectors(buffer.getvalue(), name="toy.npy")
>>> source.name, source.n_rows, source.dimension, source.fingerprint.startswith("vectors:sha256:")
('toy.npy', 3, 3, True)
>>> moments = source.moments()
>>> [round(float(s), 4) for s in moments["raw"].columns()["std"]]
[0.4714, 0.4714, 0.4714]
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.corpora.corpus import (
    MAX_TEXT_CHARS_DEFAULT,
    REPLACEMENT,
    CleaningReport,
    Corpus,
    check_max_chars,
    to_label,
    to_text,
)
from analysis.corpora.decoding import display_name, printable, shorten, shown_columns
from analysis.errors import CorpusError, OptionError, upload_memory
from analysis.measures.moments import DimensionMoments
from analysis.models.fingerprint import files_sha256
from analysis.vectors.layout import DEFAULT_CHUNK_ROWS, MAX_MAGNITUDE, Layout, VectorReader, usable_rows
from analysis.vectors.readers import open_reader, path_of, source_files
from analysis.vectors.sampling import SampledReader
from analysis.vectors.stores import is_store, open_store_reader, parse_store, store_files

if TYPE_CHECKING:
    from analysis.encoding import ProgressCallback

#: What the two views mean for a vector source (the CLI's JSON and the pages say it).
VECTOR_VIEWS = {
    "raw": "the vectors as given in the file or store",
    "normalized": "their L2 normalization (each row divided by its length)",
}


@dataclass(frozen=True, eq=False)
class VectorSource:
    """Embeddings from a file, a folder of Parquet shards or an upload's bytes.

    Made by :func:`open_vectors`. Has what the pipeline reads of a
    :class:`~analysis.models.ResolvedModel` (``name``, ``fingerprint``, ``source``, ``info``,
    ``analysis_prompt``), so it goes wherever a model goes except encoding: pass it as the model
    and ``None`` as the corpus, and its own rows are analysed. The given vectors are the raw view;
    normalized is their L2 normalization.

    Attributes
    ----------
    name : str
        For display: the file or folder name.
    fingerprint : str
        ``"vectors:sha256:<32 hex>"`` of the bytes, the vector column and the row limit: the model
        part of the cache keys.
    n_rows : int
        Rows analysed (at most ``max_rows``).
    dimension : int or None
        The vector length; None until read for a Parquet list column.
    corpus : Corpus
        Its rows: the texts of a text column (``"row <i>"`` when there is none) and the labels of a
        label column.
    has_texts : bool
        Whether the rows have real texts.

    Examples
    --------
    An upload's bytes (a path works the same, without ``name``):

    >>> import io
    >>> import numpy as np
    >>> from analysis import open_vectors
    >>> upload = io.BytesIO()
    >>> np.save(upload, np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
    >>> source = open_vectors(upload.getvalue(), name="vectors.npy")
    >>> source.n_rows, source.dimension, source.corpus.texts[:2], source.has_texts
    (6, 4, ('row 0', 'row 1'), False)
    >>> source.matrix().shape
    (6, 4)
    """

    spec: str  # what the user gave: a path, a store form (lancedb:PATH#TABLE...), or an upload's file name
    name: str  # for display: the file or folder name
    fingerprint: str  # "vectors:sha256:<32 hex>": the bytes, the vector column and the row limit
    layout: Layout
    text_column: str | None  # None: inferred when the corpus is built (may stay None); "": none
    label_column: str | None  # the same
    max_rows: int | None  # rows past it are left out, and counted
    max_chars: int
    path: Path | None  # None for an upload's bytes
    data: bytes | None = field(default=None, repr=False)
    sample: tuple[int, int] | None = None  # (rows, seed): a seeded uniform sample of the rows instead of all
    source: str = "vectors"
    info: None = None
    trust_remote_code: bool = False
    analysis_prompt: str = ""

    @property
    def n_rows(self) -> int:
        return self.layout.n_rows if self.max_rows is None else min(self.max_rows, self.layout.n_rows)

    @property
    def dimension(self) -> int | None:
        """The vector length; None until read for a list column (see :meth:`moments`)."""
        return self.layout.dimension

    @property
    def corpus_hash(self) -> str:
        """The identity of this source's rows: they are fixed by the file, so derived from the fingerprint."""
        return hashlib.sha256(f"dimscope-vectors-corpus-v1\0{self.fingerprint}".encode()).hexdigest()

    @functools.cached_property
    def reader(self) -> VectorReader:
        column = self.layout.vector_column or None
        reader: VectorReader
        if self.data is None and is_store(self.spec):  # an upload's name may look like a store form: never opened so
            reader = open_store_reader(parse_store(self.spec), column)
        else:
            source: Path | bytes = self.path if self.path is not None else (self.data or b"")
            reader = open_reader(source, self.name, vector_column=column)
        return reader if self.sample is None else SampledReader(reader, *self.sample)

    def chunks(self, rows_per_chunk: int = DEFAULT_CHUNK_ROWS) -> Iterator[np.ndarray]:
        """The raw vectors in chunks of ``rows_per_chunk`` rows, as stored (float16, 32 or 64).

        Rows with NaN, inf or no vector are counted as the chunks go by; once one is seen no more
        chunks are yielded, and the end of the iteration raises a CorpusError with the count. Such
        rows are refused, never dropped.
        """
        bad = 0
        first_bad = -1
        seen = 0
        for chunk in self.reader.chunks(rows_per_chunk, self.max_rows):
            finite = usable_rows(chunk)
            if not finite.all():
                if first_bad < 0:
                    first_bad = seen + int(np.argmin(finite))
                bad += int(finite.size - np.count_nonzero(finite))
            seen += chunk.shape[0]
            if not bad:
                yield chunk
        if bad:
            raise CorpusError(
                f"{self.name}: {bad:,} of {seen:,} rows {'has' if bad == 1 else 'have'} NaN, infinite or missing "
                f"values, or values beyond ±{MAX_MAGNITUDE:g} (the first is row {first_bad:,}); DimScope refuses "
                "them rather than dropping them. Fix or remove those rows."
            )

    def moments(
        self, *, workers: int | None = None, progress: ProgressCallback | None = None
    ) -> dict[str, DimensionMoments]:
        """Mergeable statistics of both views in one streamed pass (bounded memory).

        ``progress(done, total)`` counts rows read.
        """
        from analysis.measures.stats import stats_moments

        def counted() -> Iterator[np.ndarray]:
            done = 0
            for chunk in self.chunks():
                done += chunk.shape[0]
                yield chunk
                if progress:
                    progress(done, self.n_rows)

        return stats_moments(counted(), self.dimension, workers=workers)

    def matrix(self, progress: ProgressCallback | None = None) -> np.ndarray:
        """Every raw vector as one float32 matrix (for the pages: bounded by the upload limits)."""
        total = self.n_rows
        if progress:
            progress(0, total)
        out: np.ndarray | None = None
        start = 0
        for chunk in self.chunks():
            if out is None:
                out = np.empty((total, chunk.shape[1]), dtype=np.float32)
            out[start : start + chunk.shape[0]] = chunk
            start += chunk.shape[0]
            if progress:
                progress(start, total)
        if out is None or start != total:
            raise CorpusError(f"{self.name}: expected {total:,} rows of vectors, read {start:,}.")
        return out

    @functools.cached_property
    def corpus(self) -> Corpus:
        """This source's rows as a corpus: texts (or ``row <i>``) and labels, in file order, none dropped.

        Texts over ``max_chars`` are cut and missing ones left empty, each counted in the report;
        duplicates and blanks are kept, since every row has its own vector.
        """
        n = self.n_rows
        text_column, label_column = self.columns_used
        truncated = undecodable = 0
        if text_column is not None:
            texts = []
            # The reader cuts each text to max_chars + 1 before it is a Python string: the one
            # character more says it was cut. A value cut inside a character (bytes) ends in a
            # replacement character past the cut, so what is kept is judged, not the cut-off end.
            for value in self.reader.column(text_column, max_rows=n, max_chars=self.max_chars):
                text, replaced = to_text(value)
                text = text or ""
                if len(text) > self.max_chars:
                    text, truncated = text[: self.max_chars], truncated + 1
                    replaced = replaced and REPLACEMENT in text
                undecodable += replaced
                texts.append(text)
        else:
            texts = [f"row {i}" for i in range(n)]
        labels = None
        if label_column is not None:
            labels = tuple(to_label(v) for v in self.reader.column(label_column, max_rows=n, max_chars=self.max_chars))
            labels = labels if any(labels) else None
        report = CleaningReport(
            n_rows_read=self.layout.n_rows,
            n_kept=n,
            n_truncated=truncated,
            n_undecodable=undecodable,
            n_over_limit=self.layout.n_rows - n,
            max_chars=self.max_chars,
            max_texts=self.max_rows,
        )
        return Corpus(self.name, tuple(texts), labels, source=f"vectors:{self.name}", report=report)

    @functools.cached_property
    def columns_used(self) -> tuple[str | None, str | None]:
        """(text column, label column) of the corpus: as given, else inferred from the names and the first rows."""
        text, label = self.text_column, self.label_column
        if (text is None or label is None) and self.layout.scalar_columns:
            import pandas as pd

            from analysis.corpora.columns import infer_label_column, infer_text_column

            head = self.reader.head(200)
            frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in head.items()})
            if text is None:
                text = infer_text_column(frame.drop(columns=[label]) if label else frame)
            if label is None:
                label = infer_label_column(frame, exclude=[text] if text else [])
        return text or None, label or None

    @property
    def has_texts(self) -> bool:
        """True when the rows carry texts (a text column given or found), not ``row <i>`` placeholders."""
        return self.columns_used[0] is not None

    def describe(self) -> str:
        """One line for the CLI and the pages: what the rows and the two views are."""
        dims = f" x {self.dimension:,} dims" if self.dimension else ""
        return (
            f"{self.name}: {self.n_rows:,} vectors{dims} ({self.layout.dtype}); raw = {VECTOR_VIEWS['raw']}, "
            f"normalized = {VECTOR_VIEWS['normalized']}"
        )


def is_vectors(model: Any) -> bool:
    """True for a :class:`VectorSource` (embeddings from a file), False for a model."""
    return isinstance(model, VectorSource)


def _fingerprint(content: str, vector_column: str, max_rows: int | None) -> str:
    digest = hashlib.sha256(f"dimscope-vectors-v1\0{content}\0{vector_column}\0{max_rows}".encode()).hexdigest()
    return "vectors:sha256:" + digest[:32]


def open_vectors(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    vector_column: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    max_chars: int = MAX_TEXT_CHARS_DEFAULT,
    sample: int | None = None,
    seed: int = 0,
) -> VectorSource:
    """Open embeddings you already have, to analyse them as a model's.

    Reads headers and metadata only; the vectors are read in row chunks when a statistic needs them.

    Parameters
    ----------
    source : str, path-like or bytes
        A path (.npy, .npz, .parquet, .arrow/.feather, or a folder of .parquet shards), a vector
        store (``lancedb:PATH#TABLE``, ``chroma:PATH#COLLECTION``, ``faiss:FILE``; opened read-only,
        see :mod:`analysis.vectors.stores`), or an upload's bytes.
    name : str, optional
        With bytes: the file name, which gives the format. Required then.
    vector_column : str, optional
        The column of vectors, needed when several columns hold vectors.
    text_column, label_column : str, optional
        Columns of texts and labels; they must exist when given. Inferred when not given;
        ``""`` says there is none.
    max_bytes : int, optional
        A larger file is refused (uploads).
    max_rows : int, optional
        Keep the first rows only.
    max_chars : int, default 10000
        Longer texts are cut to this many characters.
    sample : int, optional
        Keep that many rows drawn uniformly with ``seed`` instead (:mod:`analysis.vectors.sampling`);
        the source's name says so.
    seed : int, default 0
        The seed of ``sample``.

    Returns
    -------
    VectorSource
        Stands where a model stands: ``get_stats(source, None, store=...)`` and the reports.

    Raises
    ------
    CorpusError
        An unsupported or unreadable file; the message names the file and the reason.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from analysis import default_store, get_stats, open_vectors
    >>> vectors = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    >>> vectors[:, 2] = 0.5  # one dimension that never varies
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "vectors.npy"
    ...     np.save(path, vectors)
    ...     source = open_vectors(path)
    ...     result = get_stats(source, None, store=default_store())
    >>> source.name, source.n_rows, source.dimension
    ('vectors.npy', 6, 4)
    >>> result.constant_dims, result.dead_dims
    ([2], [])
    >>> open_vectors(b"abc", name="vectors.txt")
    Traceback (most recent call last):
    analysis.errors.CorpusError: vectors.txt: unsupported embeddings file (.txt); use .npy, .npz, .parquet, ...
    """
    check_max_chars(max_chars)
    for what, count in (("max_rows", max_rows), ("sample", sample)):
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise OptionError(f"{what} must be a positive whole number or None, not {count!r}.")
    if sample is not None and max_rows is not None:
        raise OptionError("Give either the first rows (a limit) or a sample of the rows, not both.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OptionError(f"seed must be a whole number from 0, not {seed!r}.")
    for what, value in (("vector", vector_column), ("text", text_column or None), ("label", label_column or None)):
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 1000):
            raise OptionError(f"The {what} column must be a column name, not {shorten(printable(repr(value)), 60)}.")
    store = parse_store(source) if isinstance(source, str) and is_store(source) else None
    reader: VectorReader
    if store is not None:
        if max_bytes is not None:  # only uploads are bounded, and an upload never names a path on the server
            raise OptionError("A vector store is read from a path on this machine, never from an upload.")
        with upload_memory(store.display):
            reader = open_store_reader(store, vector_column)
        files, root = store_files(store)
        content = "store\0" + files_sha256(files, root)
        path, data, shown, spec = store.path, None, reader.name, str(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data, path = bytes(source), None
        shown = display_name(name or "upload")
        # The digest files_sha256 gives the same bytes as a file on disk (its name relative to itself: ".").
        content = hashlib.sha256(b".\0" + data + b"\0").hexdigest()
        spec = shown
    else:
        path, data = path_of(source), None
        shown = display_name(name or path.name or os.fspath(source))
        spec = os.fspath(source)
    if store is None:
        with upload_memory(shown):  # the readers' bounds are the rule; an allocation they missed is a message
            reader = open_reader(
                path if path is not None else data or b"", shown, vector_column=vector_column, max_bytes=max_bytes
            )
    if sample is not None:
        reader = SampledReader(reader, sample, seed)
        shown = f"{shown}, {reader.describe()}"
    layout = reader.layout
    for what, value in (("text", text_column), ("label", label_column)):
        if value and value not in layout.scalar_columns:
            where = "columns" if layout.format != "npz" else "1-D arrays"
            raise CorpusError(
                f"{shown} has no {what} column {shorten(printable(value), 60)!r}; its {where}: "
                f"{shown_columns(layout.scalar_columns) if layout.scalar_columns else '(none: a bare matrix)'}."
            )
    if path is not None and store is None:
        files = source_files(path)
        content = files_sha256(files, path)
    source_obj = VectorSource(
        spec=spec,
        name=shown,
        fingerprint=_fingerprint(
            content if sample is None else f"{content}\0sample {sample} seed {seed}", layout.vector_column, max_rows
        ),
        layout=layout,
        text_column=text_column,
        label_column=label_column,
        max_rows=max_rows,
        max_chars=max_chars,
        path=path,
        data=data,
        sample=None if sample is None else (sample, seed),
    )
    source_obj.__dict__["reader"] = reader  # the cached_property, already opened
    return source_obj
