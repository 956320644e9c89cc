"""Opening embedding files: .npy, .npz, Parquet, Arrow, and folders of Parquet shards, a chunk at a time.

No reader loads a file whole: ``.npy`` is memory-mapped and the pages of each finished chunk are
handed back to the kernel (``madvise``), so a file larger than memory streams with a bounded
resident size; ``.npz`` members are decompressed as a stream; Parquet and Arrow are read a record
batch at a time (:mod:`~analysis.vectors.arrays`, :mod:`~analysis.vectors.arrow_files`; what they share,
limits included: :mod:`~analysis.vectors.layout`).
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.corpora.decoding import human_size, printable, shorten
from analysis.errors import CorpusError
from analysis.vectors.arrays import NpyReader, NpzReader
from analysis.vectors.arrow_files import ArrowReader, ParquetReader
from analysis.vectors.layout import VectorReader

#: File extensions of embedding files, mapped to the format name.
VECTOR_EXTENSIONS: dict[str, str] = {
    ".npy": "npy",
    ".npz": "npz",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
}


# --- opening -------------------------------------------------------------------------------------------


def vector_format(name: str) -> str:
    """The format of an embedding file from its name; a CorpusError for other extensions."""
    lower = name.lower()
    for ext, fmt in VECTOR_EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    suffix = Path(lower).suffix or "no extension"
    raise CorpusError(
        f"{name}: unsupported embeddings file ({suffix}); use {', '.join(VECTOR_EXTENSIONS)} "
        "or a folder of .parquet shards."
    )


def open_reader(
    source: Path | bytes, name: str, *, vector_column: str | None = None, max_bytes: int | None = None
) -> VectorReader:
    """A reader for a file, a folder of Parquet shards, or an upload's bytes named ``name``."""
    if isinstance(source, Path) and source.is_dir():
        return ParquetReader(source, name, vector_column, max_bytes=max_bytes)
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if max_bytes is not None and size > max_bytes:
        raise CorpusError(f"{name} is {human_size(size)}, over the {human_size(max_bytes)} limit; use a smaller file.")
    if size == 0:
        raise CorpusError(f"{name} is empty.")
    fmt = vector_format(name)
    if fmt == "npy":
        if vector_column is not None:
            raise CorpusError(f"{name} is a bare .npy array: it has no columns, so --vector-column does not apply.")
        return NpyReader(source, name, max_bytes=max_bytes)
    if fmt == "npz":
        return NpzReader(source, name, vector_column, max_bytes=max_bytes)
    if fmt == "parquet":
        return ParquetReader(source, name, vector_column, max_bytes=max_bytes)
    return ArrowReader(source, name, vector_column, max_bytes=max_bytes)


def source_files(source: Path) -> list[Path]:
    """The files whose bytes make up an embeddings source on disk (the file, or a folder's shards)."""
    if source.is_dir():
        return sorted(p for p in source.rglob("*.parquet") if p.is_file())
    return [source]


def path_of(spec: str | os.PathLike[str]) -> Path:
    """The path of an embeddings file or folder; a CorpusError when it does not exist."""
    shown = shorten(printable(os.fspath(spec)), 300)
    try:
        path = Path(spec).expanduser()
        if not path.exists():
            raise CorpusError(f"No such embeddings file or folder: {shown}; check the path.")
    except (OSError, ValueError):
        raise CorpusError(f"Cannot read {shown}: not a usable path.") from None
    return path
