"""Bytes to text, safely: file names for display, formats by extension, sizes, encodings.

Every message a user can trigger names the file (sanitised: one line, no control characters,
at most ``MAX_NAME_CHARS``) and says what to do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from analysis.corpora.corpus import REPLACEMENT, check_max_bytes
from analysis.errors import CorpusError

#: File extensions the upload parser understands, mapped to the format name.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
}
BINARY_PROBE_BYTES = 8192
# Hostile-input bounds: how many columns a table may have, how long a displayed name may be,
# how many columns a message lists, and the share of control characters that means "binary".
MAX_COLUMNS = 1_000
MAX_NAME_CHARS = 120
_MESSAGE_COLUMNS = 20
_CONTROL_CHAR_RATIO = 0.10


def printable(text: str) -> str:
    """``text`` on one line: control and format characters (NUL, newlines, ANSI escapes,
    bidi overrides) dropped, other whitespace runs made one space, lone surrogates replaced."""
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            out.append(REPLACEMENT)
        elif ch.isspace():
            out.append(" ")
        elif category[0] == "C":
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def shorten(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """``text`` cut in the middle to at most ``limit`` characters, keeping its end (the extension)."""
    if len(text) <= limit:
        return text
    tail = min(40, limit // 3)
    return text[: limit - tail - 1] + "…" + text[-tail:]


def display_name(filename: str) -> str:
    """The last path component of a user-supplied name (for display and the extension),
    on one line, without control characters and at most ``MAX_NAME_CHARS`` long."""
    raw = printable(str(filename)[-4096:])
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    return shorten(name) or "upload"


def shown_columns(columns: Iterable[Any]) -> str:
    """Column names for a message: printable, short, at most ``_MESSAGE_COLUMNS`` of them."""
    names = [shorten(printable(str(c)), 60) for c in columns]
    shown = ", ".join(names[:_MESSAGE_COLUMNS])
    if len(names) > _MESSAGE_COLUMNS:
        shown += f" and {len(names) - _MESSAGE_COLUMNS:,} more"
    return shown or "(none)"


def check_columns(name: str, n_columns: int, what: str = "columns") -> None:
    if n_columns > MAX_COLUMNS:
        raise CorpusError(
            f"{name} has {n_columns:,} {what}; DimScope reads at most {MAX_COLUMNS:,}. "
            "Keep only the text column (and a label column) and upload it again."
        )


def format_of(name: str) -> str:
    lower = name.lower()
    for ext in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True):
        if lower.endswith(ext):
            return SUPPORTED_EXTENSIONS[ext]
    suffix = PurePosixPath(lower).suffix or "no extension"
    raise CorpusError(f"{name}: unsupported file type ({suffix}); use one of {', '.join(SUPPORTED_EXTENSIONS)}.")


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value >= 10 or value.is_integer() else f"{value:.1f} {unit}"
    return f"{n} bytes"  # pragma: no cover


def check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise CorpusError(
            f"{name} is {human_size(size)}, over the {human_size(max_bytes)} "
            "limit; use a smaller file (for example, the first rows)."
        )
    if size == 0:
        raise CorpusError(f"{name} is empty; it needs at least one line of text.")


_MAGIC = (
    (b"PAR1", "a Parquet file; give it a .parquet extension"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file is one); export the data as CSV"),
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"%PDF", "a PDF document; export its text to a .txt file"),
    (b"SQLite format 3\x00", "an SQLite database; export a table as CSV"),
)


def decode_text(data: bytes, name: str) -> tuple[str, bool]:
    """Bytes -> (text, lossy). Raises CorpusError for binary content."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise CorpusError(f"{name} looks like {what}.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            return data.decode("utf-16", "replace"), True
    probe = data[:BINARY_PROBE_BYTES]
    encoding = _utf16_without_bom(probe)
    if encoding is not None:
        try:
            text, lossy = data.decode(encoding), False
        except UnicodeDecodeError:  # an odd byte count or a broken surrogate pair
            text, lossy = data.decode(encoding, "replace"), True
        sample = text[: BINARY_PROBE_BYTES // 2]
        if sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\v\f\r") <= (_CONTROL_CHAR_RATIO * len(sample)):
            return text, lossy
    control = sum(1 for b in probe if b < 32 and b not in (9, 10, 11, 12, 13)) + probe.count(127)
    if b"\x00" in probe or control > _CONTROL_CHAR_RATIO * len(probe):
        raise CorpusError(
            f"{name} looks like a binary file, not text; upload UTF-8 text "
            "(.txt, .csv, .tsv, .json, .jsonl) or a .parquet file."
        )
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", "replace"), True


def _utf16_without_bom(probe: bytes) -> str | None:
    """ "utf-16-le"/"utf-16-be" when the bytes look like UTF-16 text without a byte-order
    mark (mostly-Latin text: every other byte is zero), else None."""
    even, odd = probe[0::2], probe[1::2]
    if len(odd) < 8:
        return None
    if odd.count(0) >= 0.5 * len(odd) and even.count(0) <= 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.5 * len(even) and odd.count(0) <= 0.05 * len(odd):
        return "utf-16-be"
    return None


_NEWLINE = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the newline at the end of the file does not start another row
    return lines


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200].rstrip(".")


def checked_bytes(data: bytes, name: str, max_bytes: int) -> bytes:
    check_max_bytes(max_bytes)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes")
    data = bytes(data)
    check_size(name, len(data), max_bytes)
    return data
