"""The store forms of ``--embeddings`` (``lancedb:PATH#TABLE``...): parsing, checking, fingerprinted files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.corpora.decoding import printable, shorten
from analysis.errors import CorpusError, OptionError

#: The store forms of ``--embeddings``, with what follows the scheme.
STORE_FORMS: dict[str, str] = {
    "lancedb": "lancedb:PATH#TABLE",
    "chroma": "chroma:PATH#COLLECTION",
    "faiss": "faiss:FILE",
    "qdrant": "qdrant:PATH#COLLECTION",
}
# What marks a folder as a Qdrant Edge shard (what qdrant-edge-py's EdgeShard.create writes).
EDGE_CONFIG = "edge_config.json"
EDGE_SEGMENTS = "segments"
STORES_EXTRA = "pip install 'dimscope[stores]' (or pip install -r requirements-dev.txt)"
# Store schemes named in the issue that DimScope refuses, with why (one line each): none left.
REFUSED: dict[str, str] = {}


@dataclass(frozen=True)
class StoreSpec:
    """A parsed store form: the scheme, the folder or file, and the table or collection (None for FAISS)."""

    scheme: str
    path: Path
    name: str | None

    @property
    def display(self) -> str:
        where = self.path.name or str(self.path)
        return f"{where}#{self.name}" if self.name is not None else where


def store_scheme(spec: object) -> str | None:
    """The store scheme of an ``--embeddings`` value (``lancedb``, ``chroma``, ``faiss``, ``qdrant``), or None."""
    if not isinstance(spec, str):
        return None
    scheme, sep, _ = spec.partition(":")
    scheme = scheme.lower()
    return scheme if sep and (scheme in STORE_FORMS or scheme in REFUSED) else None


def is_store(spec: object) -> bool:
    """True when ``spec`` names a vector store rather than a file."""
    return store_scheme(spec) is not None


def parse_store(spec: str) -> StoreSpec:
    """The parts of a store form; a CorpusError when the form is incomplete or the path does not exist."""
    scheme = store_scheme(spec)
    if scheme is None:
        raise CorpusError(
            f"{shorten(printable(spec), 200)} is not a store form; use one of {', '.join(STORE_FORMS.values())}."
        )
    if scheme in REFUSED:
        raise CorpusError(f"{scheme}: is not supported: {REFUSED[scheme]}")
    rest = spec.partition(":")[2]
    form = STORE_FORMS[scheme]
    name: str | None = None
    if scheme != "faiss":
        rest, sep, name = rest.rpartition("#")
        if not sep or not rest or not name.strip():
            raise CorpusError(f"{shorten(printable(spec), 200)}: write it as {form}.")
    shown = shorten(printable(rest), 200)
    try:
        path = Path(rest).expanduser()
        exists = path.exists()
    except (OSError, ValueError):
        raise CorpusError(f"{scheme}: cannot read {shown}: not a usable path.") from None
    if not exists:
        raise CorpusError(f"{scheme}: no such {'file' if scheme == 'faiss' else 'folder'}: {shown}; check the path.")
    if scheme == "faiss" and not path.is_file():
        raise CorpusError(f"faiss: {shown} is not a file; {form} names an index file written by faiss.write_index.")
    if scheme != "faiss" and not path.is_dir():
        raise CorpusError(f"{scheme}: {shown} is not a folder; {form} names the folder the store persists to.")
    return StoreSpec(scheme, path, name)


def import_store_library(module: str, scheme: str) -> Any:
    """The store's library, or an OptionError naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise OptionError(f"{scheme}: stores need the optional extra 'stores': {STORES_EXTRA}.") from None


def store_files(spec: StoreSpec) -> tuple[list[Path], Path]:
    """The files whose bytes make up the store's data (for the fingerprint), and the folder they are named from."""
    if spec.scheme == "faiss":
        return [spec.path], spec.path.parent
    root = spec.path
    if spec.scheme == "lancedb":
        table = spec.path / f"{spec.name}.lance"
        root = table if table.is_dir() else spec.path
    shard = edge_shard(spec)
    if shard is not None:  # a Qdrant Edge shard: every file of it
        return sorted(p for p in shard.rglob("*") if p.is_file()), root
    if spec.scheme == "qdrant":  # the configuration and the collection's points, not the client's lock file
        files = [root / "meta.json", root / "collection" / str(spec.name) / "storage.sqlite"]
        return [p for p in files if p.is_file()], root
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return files, root


def is_edge_shard(folder: Path) -> bool:
    """True when ``folder`` holds a Qdrant Edge shard: its ``edge_config.json`` or its ``segments`` folder."""
    return (folder / EDGE_CONFIG).is_file() or (folder / EDGE_SEGMENTS).is_dir()


def edge_shard(spec: StoreSpec) -> Path | None:
    """The Qdrant Edge shard ``PATH/NAME`` a ``qdrant:`` form names, or None (a plain folder name only)."""
    name = str(spec.name)
    if spec.scheme != "qdrant" or not is_plain_name(name):
        return None
    folder = spec.path / name
    return folder if folder.is_dir() and is_edge_shard(folder) else None


def is_plain_name(name: str) -> bool:
    """A name that is one folder inside its parent (no separator, not ``.`` or ``..``)."""
    return bool(name) and "/" not in name and "\\" not in name and "\0" not in name and name not in (".", "..")


def names_line(names: list[str], what: str) -> str:
    """``its tables: a, b`` (at most 20 names), for the message about a missing table or collection."""
    if not names:
        return f"it has no {what}s"
    shown = ", ".join(repr(shorten(printable(n), 60)) for n in sorted(names)[:20])
    more = f" and {len(names) - 20:,} more" if len(names) > 20 else ""
    return f"its {what}s: {shown}{more}"
