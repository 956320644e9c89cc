"""Corpora: built-in text collections, upload parsing and validation, content hashing.

A :class:`Corpus` is an immutable, ordered tuple of texts with optional parallel labels,
languages and parallel-sentence groups, plus a :class:`CleaningReport` that says what was
dropped or changed on the way in. Every failure a user can cause raises
:class:`~analysis.errors.CorpusError` with one actionable sentence.

>>> corpus = parse_corpus_bytes(b"hello\\nworld\\n\\nhello\\n", "notes.txt")
>>> corpus.texts
('hello', 'world')
>>> corpus.report.messages()
['Dropped 1 blank row.', 'Dropped 1 duplicate text (kept the first occurrence of each).']

This module never imports streamlit or torch. ``pyyaml`` and ``pyarrow`` are imported
only when a built-in chatterbot corpus or a Parquet file is read.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import io
import json
import os
import random
import re
import sys
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from analysis.errors import CorpusError, OptionError

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; only file parsing and frames need it
    import pandas as pd

__all__ = [
    "DEFAULT_CORPUS",
    "MAX_FILE_BYTES_DEFAULT",
    "MAX_TEXT_CHARS_DEFAULT",
    "SUPPORTED_EXTENSIONS",
    "WORDNET_LEXNAMES",
    "BuiltinCorpusInfo",
    "CleaningReport",
    "Corpus",
    "TablePreview",
    "builtin_corpora",
    "infer_label_column",
    "infer_language_column",
    "infer_text_column",
    "load_builtin_corpus",
    "load_corpus",
    "parse_corpus_bytes",
    "preview_corpus_bytes",
    "read_corpus_file",
]

DEFAULT_CORPUS = "chatterbot-english"
MAX_FILE_BYTES_DEFAULT = 200 * 1024 * 1024
MAX_TEXT_CHARS_DEFAULT = 10_000

#: File extensions :func:`parse_corpus_bytes` understands, mapped to the format name.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
}

# Column names (normalised: lower case, spaces and dashes as "_") tried in this order.
_TEXT_COLUMN_NAMES = (
    "text", "texts", "sentence", "sentences", "document", "documents", "doc", "content",
    "body", "utterance", "utterances", "message", "comment", "review", "question", "query",
    "prompt", "passage", "paragraph", "definition", "gloss", "description", "abstract",
)
_LABEL_COLUMN_NAMES = (
    "label", "labels", "category", "topic", "class", "target", "tag", "intent", "genre",
)
_LANGUAGE_COLUMN_NAMES = ("language", "lang", "languages", "locale", "language_code", "lang_code")

_BINARY_PROBE_BYTES = 8192
# Hostile-input bounds: how many columns a table may have, how long a displayed name may be,
# how much a compressed Parquet file may expand, and how long a preview cell may be.
_MAX_COLUMNS = 1_000
_MAX_NAME_CHARS = 120
_PARQUET_EXPANSION = 8
_PREVIEW_CELL_CHARS = 1_000
_MESSAGE_COLUMNS = 20
_CONTROL_CHAR_RATIO = 0.10
_REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")

# ---------------------------------------------------------------------------------------
# Data classes
# ---------------------------------------------------------------------------------------


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


@dataclass(frozen=True)
class CleaningReport:
    """What happened to the source rows on their way into a :class:`Corpus`.

    Every row read ends up in exactly one of ``n_kept``, ``n_blank``, ``n_duplicates``,
    ``n_sampled_out`` and ``n_over_limit``. ``n_truncated`` and ``n_undecodable`` count
    rows that were changed (and kept, unless dropped for another reason).
    """

    n_rows_read: int = 0
    n_kept: int = 0
    n_blank: int = 0
    n_duplicates: int = 0
    n_truncated: int = 0
    n_undecodable: int = 0
    n_over_limit: int = 0
    n_sampled_out: int = 0
    max_chars: int | None = None
    max_texts: int | None = None

    def messages(self) -> list[str]:
        """One human sentence per thing that happened; an empty list if nothing did."""
        out: list[str] = []
        if self.n_blank:
            out.append(f"Dropped {_plural(self.n_blank, 'blank row')}.")
        if self.n_duplicates:
            out.append(
                f"Dropped {_plural(self.n_duplicates, 'duplicate text')} "
                "(kept the first occurrence of each)."
            )
        if self.n_sampled_out:
            out.append(f"Left out {_plural(self.n_sampled_out, 'text')} by sampling per label.")
        if self.n_truncated:
            limit = f" longer than {self.max_chars:,} characters" if self.max_chars else ""
            out.append(f"Truncated {_plural(self.n_truncated, 'text')}{limit}.")
        if self.n_undecodable:
            out.append(
                f"Replaced undecodable bytes with U+FFFD in {_plural(self.n_undecodable, 'row')} "
                "(the file is not valid UTF-8)."
            )
        if self.n_over_limit:
            limit = f" (limit: {self.max_texts:,} texts)" if self.max_texts else ""
            out.append(
                f"Kept the first {_plural(self.n_kept, 'text')}; left out "
                f"{self.n_over_limit:,} more{limit}."
            )
        return out


@dataclass(frozen=True)
class _Rows:
    """Cleaned rows before limits (truncation, max_texts): what ``with_limits`` starts from."""

    texts: tuple[str, ...]
    labels: tuple[str, ...] | None
    languages: tuple[str, ...] | None
    groups: tuple[str, ...] | None
    n_rows_read: int
    n_blank: int = 0
    n_duplicates: int = 0
    n_undecodable: int = 0
    n_sampled_out: int = 0
    prior_over_limit: int = 0  # only for corpora built by hand (no recorded source rows)
    prior_truncated: int = 0


@dataclass(frozen=True)
class Corpus:
    """An immutable, ordered collection of texts with optional parallel annotations.

    ``name`` is for display only and is never used as a path. ``labels``, ``languages``
    and ``groups`` (parallel-sentence ids, ``""`` where unknown) have one entry per text.
    ``report`` is always set after construction.
    """

    name: str
    texts: tuple[str, ...]
    labels: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None
    source: str = ""
    report: CleaningReport | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", tuple(self.texts))
        if not all(isinstance(t, str) for t in self.texts):
            raise TypeError("Corpus.texts must all be str")
        n = len(self.texts)
        for attr in ("labels", "languages", "groups"):
            value = getattr(self, attr)
            if value is None:
                continue
            value = tuple(value)
            if len(value) != n:
                raise ValueError(f"Corpus.{attr} has {len(value)} entries for {n} texts")
            if not all(isinstance(v, str) for v in value):
                raise TypeError(f"Corpus.{attr} must all be str")
            object.__setattr__(self, attr, value)
        if self.report is None:
            object.__setattr__(self, "report", CleaningReport(n_rows_read=n, n_kept=n))

    @functools.cached_property
    def content_hash(self) -> str:
        """SHA-256 hex digest of the ordered texts (length-prefixed UTF-8); labels excluded."""
        h = hashlib.sha256(b"dimscope-corpus-v1\0")
        h.update(len(self.texts).to_bytes(8, "big"))
        for text in self.texts:
            data = text.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.texts)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with a ``text`` column, plus ``label``/``language``/``group`` when present."""
        import pandas as pd

        columns: dict[str, list[str]] = {"text": list(self.texts)}
        for column, values in (("label", self.labels), ("language", self.languages),
                               ("group", self.groups)):
            if values is not None:
                columns[column] = list(values)
        return pd.DataFrame(columns)

    def with_limits(self, *, max_texts: int | None = None,
                    max_chars: int | None = None) -> "Corpus":
        """Re-apply the limits to the rows read from the source and update the report.

        ``None`` keeps the current limit. Limits are applied to the source rows, not to the
        current texts, so a larger ``max_texts`` brings rows back.
        """
        report = self.report
        assert report is not None
        max_texts = report.max_texts if max_texts is None else _check_max_texts(max_texts)
        max_chars = report.max_chars if max_chars is None else _check_max_chars(max_chars)
        base: _Rows | None = self.__dict__.get("_base")
        if base is None:
            base = _Rows(self.texts, self.labels, self.languages, self.groups,
                         n_rows_read=report.n_rows_read, n_blank=report.n_blank,
                         n_duplicates=report.n_duplicates, n_undecodable=report.n_undecodable,
                         n_sampled_out=report.n_sampled_out,
                         prior_over_limit=report.n_over_limit,
                         prior_truncated=report.n_truncated)
        return _build_corpus(self.name, self.source, base, max_texts=max_texts,
                             max_chars=max_chars)


@dataclass(frozen=True)
class BuiltinCorpusInfo:
    """A built-in corpus: whether it can be loaded here and what it carries."""

    name: str
    title: str
    description: str
    available: bool
    reason: str  # why it is unavailable; "" when available
    has_labels: bool
    has_languages: bool


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


# ---------------------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------------------


def _check_max_texts(max_texts: int | None) -> int | None:
    if max_texts is None:
        return None
    if isinstance(max_texts, bool) or not isinstance(max_texts, int) or max_texts < 1:
        raise OptionError(f"max_texts must be a positive whole number or None, not {max_texts!r}.")
    return max_texts


def _check_max_chars(max_chars: int) -> int:
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise OptionError(f"max_chars must be a positive whole number, not {max_chars!r}.")
    return max_chars


def _check_max_bytes(max_bytes: int) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise OptionError(f"max_bytes must be a positive whole number, not {max_bytes!r}.")
    return max_bytes


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, (float, np.floating)):
        return bool(value != value)
    pd = sys.modules.get("pandas")
    if pd is None:  # not imported: no cell can be one of pandas' missing markers
        return False
    try:
        result = pd.isna(value)
    except (TypeError, ValueError):
        return False
    return bool(result) if isinstance(result, (bool, np.bool_)) else False


def _to_text(value: Any) -> tuple[str | None, bool]:
    """Cell -> (text or None when missing, whether bytes had to be replaced)."""
    if _is_missing(value):
        return None, False
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        return text, _REPLACEMENT in text
    else:
        text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. "\ud800" escapes in JSON)
        return _SURROGATE.sub(_REPLACEMENT, text), True
    return text, False


def _to_label(value: Any) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text, _ = _to_text(value)
    return text or ""


def _clean_rows(texts: Sequence[Any], labels: Sequence[Any] | None = None,
                languages: Sequence[Any] | None = None, groups: Sequence[Any] | None = None,
                *, lossy: bool = False) -> _Rows:
    """Drop blanks and exact duplicates (within a language when languages are known)."""
    out_texts: list[str] = []
    out_labels: list[str] | None = [] if labels is not None else None
    out_langs: list[str] | None = [] if languages is not None else None
    out_groups: list[str] | None = [] if groups is not None else None
    seen: set[Any] = set()
    n_blank = n_dup = n_undecodable = 0
    for i, raw in enumerate(texts):
        text, replaced = _to_text(raw)
        if text is None or not text.strip():
            n_blank += 1
            continue
        if replaced or (lossy and _REPLACEMENT in text):
            n_undecodable += 1
        language = _to_label(languages[i]) if languages is not None else ""
        key = (language, text) if languages is not None else text
        if key in seen:
            n_dup += 1
            continue
        seen.add(key)
        out_texts.append(text)
        if out_labels is not None:
            out_labels.append(_to_label(labels[i]))  # type: ignore[index]
        if out_langs is not None:
            out_langs.append(language)
        if out_groups is not None:
            out_groups.append(_to_label(groups[i]))  # type: ignore[index]

    def _tuple_or_none(values: list[str] | None) -> tuple[str, ...] | None:
        if values is None or not any(values):
            return None
        return tuple(values)

    return _Rows(tuple(out_texts), _tuple_or_none(out_labels), _tuple_or_none(out_langs),
                 tuple(out_groups) if out_groups is not None else None,
                 n_rows_read=len(texts), n_blank=n_blank, n_duplicates=n_dup,
                 n_undecodable=n_undecodable)


def _sample_per_label(rows: _Rows, per_label: int, seed: int) -> _Rows:
    """Keep at most ``per_label`` rows of each label (seeded), in the original order."""
    if rows.labels is None:
        return rows
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(rows.labels):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    keep: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        keep.extend(idx if len(idx) <= per_label else rng.sample(idx, per_label))
    keep.sort()
    if len(keep) == len(rows.texts):
        return rows

    def pick(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(values[i] for i in keep)

    return _Rows(pick(rows.texts), pick(rows.labels), pick(rows.languages),  # type: ignore[arg-type]
                 pick(rows.groups), n_rows_read=rows.n_rows_read, n_blank=rows.n_blank,
                 n_duplicates=rows.n_duplicates, n_undecodable=rows.n_undecodable,
                 n_sampled_out=rows.n_sampled_out + len(rows.texts) - len(keep))


def _build_corpus(name: str, source: str, base: _Rows, *, max_texts: int | None,
                  max_chars: int | None) -> Corpus:
    """Apply truncation (then re-deduplicate) and ``max_texts`` to ``base``."""
    n = len(base.texts)
    needs_truncation = max_chars is not None and any(len(t) > max_chars for t in base.texts)
    if not needs_truncation and (max_texts is None or n <= max_texts):
        report = CleaningReport(
            n_rows_read=base.n_rows_read, n_kept=n, n_blank=base.n_blank,
            n_duplicates=base.n_duplicates, n_truncated=base.prior_truncated,
            n_undecodable=base.n_undecodable, n_over_limit=base.prior_over_limit,
            n_sampled_out=base.n_sampled_out, max_chars=max_chars, max_texts=max_texts)
        corpus = Corpus(name, base.texts, base.labels, base.languages, base.groups, source,
                        report)
    else:
        keep: list[int] = []
        texts: list[str] = []
        seen: set[Any] = set()
        n_trunc = n_dup = n_over = 0
        for i, text in enumerate(base.texts):
            truncated = max_chars is not None and len(text) > max_chars
            if truncated:
                text = text[:max_chars]
            key = (base.languages[i], text) if base.languages is not None else text
            if key in seen:
                n_dup += 1
                continue
            if max_texts is not None and len(keep) >= max_texts:
                n_over += 1
                continue
            seen.add(key)
            keep.append(i)
            texts.append(text)
            n_trunc += truncated

        def pick(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
            return None if values is None else tuple(values[i] for i in keep)

        report = CleaningReport(
            n_rows_read=base.n_rows_read, n_kept=len(keep), n_blank=base.n_blank,
            n_duplicates=base.n_duplicates + n_dup, n_truncated=base.prior_truncated + n_trunc,
            n_undecodable=base.n_undecodable, n_over_limit=base.prior_over_limit + n_over,
            n_sampled_out=base.n_sampled_out, max_chars=max_chars, max_texts=max_texts)
        labels = pick(base.labels)
        corpus = Corpus(name, tuple(texts), labels if labels and any(labels) else None,
                        pick(base.languages), pick(base.groups), source, report)
    object.__setattr__(corpus, "_base", base)
    return corpus


# ---------------------------------------------------------------------------------------
# Built-in corpora
# ---------------------------------------------------------------------------------------

# Topic files left out of every chatterbot corpus: tech_support repeats ~10 prompts about
# a thousand times, coding holds code blocks, and the bot-profile files (whatever their
# name in a language folder) describe the bot rather than a topic.
_CHATTERBOT_EXCLUDED = frozenset({"tech_support", "coding", "botprofile", "perfilbot", "profile"})
_CHATTERBOT_REASON = ("install the chatterbot corpus and YAML reader "
                      "(pip install chatterbot-corpus==1.3.3 pyyaml)")
_LANGUAGE_TITLES = {"traditionalchinese": "Traditional Chinese", "hinglish": "Hinglish"}

#: WordNet 3.0 lexicographer file names, indexed by ``lex_filenum``.
WORDNET_LEXNAMES: tuple[str, ...] = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition", "noun.communication",
    "noun.event", "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive",
    "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact",
    "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
    "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
WORDNET_DIR = "/usr/share/wordnet"
_WORDNET_PARTS = ("noun", "verb", "adj", "adv")
_WORDNET_REASON = "install Debian's wordnet-base (apt-get install wordnet-base)"
_WORDNET_PER_LABEL_DEFAULT = 50


def _chatterbot_data_dir() -> Path | None:
    """The installed ``chatterbot_corpus/data`` folder, or None (package or pyyaml missing)."""
    if importlib.util.find_spec("yaml") is None:
        return None
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        data = Path(location) / "data"
        if data.is_dir():
            return data
    return None


@functools.lru_cache(maxsize=4)
def _chatterbot_language_dirs(data_dir: Path) -> dict[str, Path]:
    """Language name (lower case) -> folder, for folders holding at least one topic file."""
    out: dict[str, Path] = {}
    for child in sorted(data_dir.iterdir()):
        if child.is_dir() and any(f.stem not in _CHATTERBOT_EXCLUDED
                                  for f in child.glob("*.yml")):
            out[child.name.lower()] = child
    return out


Conversations = tuple[tuple[Any, ...], ...]


@functools.lru_cache(maxsize=64)
def _chatterbot_topics(folder: Path) -> tuple[tuple[str, Conversations], ...]:
    """(topic, conversations) per non-excluded topic file of one language, sorted by file."""
    import yaml  # optional dependency, see requirements.txt

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    topics: list[tuple[str, Conversations]] = []
    for path in sorted(folder.glob("*.yml")):
        if path.stem in _CHATTERBOT_EXCLUDED:
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise CorpusError(f"The chatterbot-corpus file {path.name} in {folder.name} cannot "
                              f"be read ({type(exc).__name__}); reinstall chatterbot-corpus.")
        conversations = doc.get("conversations") if isinstance(doc, dict) else None
        convs: list[tuple[Any, ...]] = []
        for conv in conversations or []:
            # A few conversations are one string (a YAML plain scalar swallowed the answer).
            turns = conv if isinstance(conv, list) else [conv]
            convs.append(tuple(turns))
        topics.append((path.stem, tuple(convs)))
    return tuple(topics)


def _chatterbot_rows(language: str) -> tuple[list[Any], list[str]]:
    data_dir = _chatterbot_data_dir()
    assert data_dir is not None
    folder = _chatterbot_language_dirs(data_dir)[language]
    texts: list[Any] = []
    labels: list[str] = []
    for topic, convs in _chatterbot_topics(folder):
        for conv in convs:
            texts.extend(conv)
            labels.extend([topic] * len(conv))
    return texts, labels


def _structure(convs: Conversations) -> tuple[int, ...]:
    return tuple(len(c) for c in convs)


@functools.lru_cache(maxsize=8)
def _chatterbot_base(language: str | None) -> _Rows:
    """Cleaned rows of one language, or of all languages (``None``) with groups."""
    if language is not None:
        texts, labels = _chatterbot_rows(language)
        return _clean_rows(texts, labels)
    data_dir = _chatterbot_data_dir()
    assert data_dir is not None
    dirs = _chatterbot_language_dirs(data_dir)
    english = dict(_chatterbot_topics(dirs["english"])) if "english" in dirs else {}
    topics_by_lang = {lang: _chatterbot_topics(folder) for lang, folder in dirs.items()}
    # Topics whose file is a line-for-line translation of the English file in some language.
    parallel: dict[str, set[str]] = {}
    for lang, topics in topics_by_lang.items():
        if lang == "english":
            continue
        for topic, convs in topics:
            if topic in english and _structure(convs) == _structure(english[topic]):
                parallel.setdefault(topic, set()).add(lang)
    texts: list[Any] = []
    labels: list[str] = []
    langs: list[str] = []
    groups: list[str] = []
    for lang, topics in topics_by_lang.items():
        for topic, convs in topics:
            grouped = (topic in parallel if lang == "english"
                       else lang in parallel.get(topic, ()))
            for j, conv in enumerate(convs):
                for i, turn in enumerate(conv):
                    texts.append(turn)
                    labels.append(topic)
                    langs.append(lang)
                    groups.append(f"{topic}/{j}/{i}" if grouped else "")
    return _clean_rows(texts, labels, langs, groups)


def _wordnet_dir() -> Path:
    return Path(WORDNET_DIR)


def _wordnet_available() -> bool:
    folder = _wordnet_dir()
    return all((folder / f"data.{part}").is_file() for part in _WORDNET_PARTS)


@functools.lru_cache(maxsize=2)
def _wordnet_base(folder: Path) -> _Rows:
    """All WordNet definitions (gloss before the first ';'), labeled by lexicographer file."""
    texts: list[str] = []
    labels: list[str] = []
    for part in _WORDNET_PARTS:
        with open(folder / f"data.{part}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  "):  # licence header
                    continue
                head, sep, gloss = line.partition(" | ")
                fields = head.split(" ", 2)
                if not sep or len(fields) < 2 or not fields[1].isdigit():
                    continue
                lexnum = int(fields[1])
                label = (WORDNET_LEXNAMES[lexnum] if lexnum < len(WORDNET_LEXNAMES)
                         else f"lexfile.{lexnum}")
                texts.append(gloss.split(";", 1)[0].strip())
                labels.append(label)
    return _clean_rows(texts, labels)


def builtin_corpora() -> list[BuiltinCorpusInfo]:
    """All built-in corpora, the default first; unavailable ones say how to get them."""
    infos: list[BuiltinCorpusInfo] = []
    data_dir = _chatterbot_data_dir()
    dirs = _chatterbot_language_dirs(data_dir) if data_dir is not None else {}
    chatter_ok = bool(dirs)
    infos.append(BuiltinCorpusInfo(
        "chatterbot-english", "ChatterBot English (default)",
        "About 1,630 short English chatbot utterances from chatterbot-corpus 1.3.3, labeled "
        "by topic file (18 unbalanced topics; tech_support, coding and botprofile left out).",
        chatter_ok and "english" in dirs,
        "" if chatter_ok and "english" in dirs else _CHATTERBOT_REASON, True, False))
    infos.append(BuiltinCorpusInfo(
        "chatterbot-multilingual", "ChatterBot multilingual",
        f"Utterances in all {len(dirs) or 'the'} chatterbot-corpus languages with a language "
        "column and topic labels; turns of line-for-line translations of the English files "
        "share a group id.",
        chatter_ok, "" if chatter_ok else _CHATTERBOT_REASON, True, True))
    for lang in dirs:
        if lang == "english":
            continue
        title = _LANGUAGE_TITLES.get(lang, lang.capitalize())
        infos.append(BuiltinCorpusInfo(
            f"chatterbot-{lang}", f"ChatterBot {title}",
            f"Chatbot utterances in {title} from chatterbot-corpus 1.3.3, labeled by topic file.",
            True, "", True, False))
    wn_ok = _wordnet_available()
    infos.append(BuiltinCorpusInfo(
        "wordnet-glosses", "WordNet definitions",
        "WordNet 3.0 synset definitions labeled by lexicographer file (45 categories such as "
        f"noun.artifact); {_WORDNET_PER_LABEL_DEFAULT} sampled per category by default.",
        wn_ok, "" if wn_ok else _WORDNET_REASON, True, False))
    return infos


def _builtin_names() -> list[str]:
    return [info.name for info in builtin_corpora()]


def load_builtin_corpus(name: str, *, per_label: int | None = None, seed: int = 0) -> Corpus:
    """Load a built-in corpus by name (see :func:`builtin_corpora`).

    ``per_label`` keeps at most that many texts per label, sampled with ``seed`` and kept in
    corpus order; ``None`` means all texts for chatterbot and 50 per category for WordNet.
    Results are cached in-process.
    """
    if per_label is not None and (isinstance(per_label, bool) or not isinstance(per_label, int)
                                  or per_label < 1):
        raise OptionError(f"per_label must be a positive whole number or None, not {per_label!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise OptionError(f"seed must be a whole number, not {seed!r}.")
    key = name.strip().lower() if isinstance(name, str) else name
    infos = {info.name: info for info in builtin_corpora()}
    info = infos.get(key)  # type: ignore[arg-type]
    if info is None:
        raise CorpusError(f"Unknown built-in corpus {name!r}; choose one of: "
                          f"{', '.join(infos)}.")
    if not info.available:
        raise CorpusError(f"The built-in corpus {info.name!r} is not available here: "
                          f"{info.reason}.")
    if info.name == "wordnet-glosses" and per_label is None:
        per_label = _WORDNET_PER_LABEL_DEFAULT
    return _load_builtin_cached(info.name, per_label, seed)


@functools.lru_cache(maxsize=32)
def _load_builtin_cached(name: str, per_label: int | None, seed: int) -> Corpus:
    if name == "wordnet-glosses":
        base = _wordnet_base(_wordnet_dir())
    elif name == "chatterbot-multilingual":
        base = _chatterbot_base(None)
    else:
        base = _chatterbot_base(name.removeprefix("chatterbot-"))
    if per_label is not None:
        base = _sample_per_label(base, per_label, seed)
    return _build_corpus(name, f"builtin:{name}", base, max_texts=None,
                         max_chars=MAX_TEXT_CHARS_DEFAULT)


# ---------------------------------------------------------------------------------------
# Files and uploads
# ---------------------------------------------------------------------------------------


def _printable(text: str) -> str:
    """``text`` on one line: control and format characters (NUL, newlines, ANSI escapes,
    bidi overrides) dropped, other whitespace runs made one space, lone surrogates replaced."""
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            out.append(_REPLACEMENT)
        elif ch.isspace():
            out.append(" ")
        elif category[0] == "C":
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def _shorten(text: str, limit: int = _MAX_NAME_CHARS) -> str:
    """``text`` cut in the middle to at most ``limit`` characters, keeping its end (the extension)."""
    if len(text) <= limit:
        return text
    tail = min(40, limit // 3)
    return text[: limit - tail - 1] + "…" + text[-tail:]


def _display_name(filename: str) -> str:
    """The last path component of a user-supplied name (for display and the extension),
    on one line, without control characters and at most ``_MAX_NAME_CHARS`` long."""
    raw = _printable(str(filename)[-4096:])
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    return _shorten(name) or "upload"


def _shown_columns(columns: Iterable[Any]) -> str:
    """Column names for a message: printable, short, at most ``_MESSAGE_COLUMNS`` of them."""
    names = [_shorten(_printable(str(c)), 60) for c in columns]
    shown = ", ".join(names[:_MESSAGE_COLUMNS])
    if len(names) > _MESSAGE_COLUMNS:
        shown += f" and {len(names) - _MESSAGE_COLUMNS:,} more"
    return shown or "(none)"


def _check_columns(name: str, n_columns: int, what: str = "columns") -> None:
    if n_columns > _MAX_COLUMNS:
        raise CorpusError(f"{name} has {n_columns:,} {what}; DimScope reads at most {_MAX_COLUMNS:,}. "
                          "Keep only the text column (and a label column) and upload it again.")


def _format_of(name: str) -> str:
    lower = name.lower()
    for ext in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True):
        if lower.endswith(ext):
            return SUPPORTED_EXTENSIONS[ext]
    suffix = PurePosixPath(lower).suffix or "no extension"
    raise CorpusError(f"{name}: unsupported file type ({suffix}); use one of "
                      f"{', '.join(SUPPORTED_EXTENSIONS)}.")


def _human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value >= 10 or value.is_integer() else f"{value:.1f} {unit}"
    return f"{n} bytes"  # pragma: no cover


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise CorpusError(f"{name} is {_human_size(size)}, over the {_human_size(max_bytes)} "
                          "limit; use a smaller file (for example, the first rows).")
    if size == 0:
        raise CorpusError(f"{name} is empty; it needs at least one line of text.")


_MAGIC = (
    (b"PAR1", "a Parquet file; give it a .parquet extension"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file is one); export the data as CSV"),
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"%PDF", "a PDF document; export its text to a .txt file"),
    (b"SQLite format 3\x00", "an SQLite database; export a table as CSV"),
)


def _decode(data: bytes, name: str) -> tuple[str, bool]:
    """Bytes -> (text, lossy). Raises CorpusError for binary content."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise CorpusError(f"{name} looks like {what}.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            return data.decode("utf-16", "replace"), True
    probe = data[:_BINARY_PROBE_BYTES]
    encoding = _utf16_without_bom(probe)
    if encoding is not None:
        try:
            text, lossy = data.decode(encoding), False
        except UnicodeDecodeError:  # an odd byte count or a broken surrogate pair
            text, lossy = data.decode(encoding, "replace"), True
        sample = text[: _BINARY_PROBE_BYTES // 2]
        if sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\v\f\r") <= (
                _CONTROL_CHAR_RATIO * len(sample)):
            return text, lossy
    control = sum(1 for b in probe if b < 32 and b not in (9, 10, 11, 12, 13)) + probe.count(127)
    if b"\x00" in probe or control > _CONTROL_CHAR_RATIO * len(probe):
        raise CorpusError(f"{name} looks like a binary file, not text; upload UTF-8 text "
                          "(.txt, .csv, .tsv, .json, .jsonl) or a .parquet file.")
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", "replace"), True


def _utf16_without_bom(probe: bytes) -> str | None:
    """"utf-16-le"/"utf-16-be" when the bytes look like UTF-16 text without a byte-order
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


def _split_lines(text: str) -> list[str]:
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the newline at the end of the file does not start another row
    return lines


def _records_frame(items: list[Any], name: str, what: str, max_cells: int) -> pd.DataFrame:
    """JSON values -> DataFrame; strings (and other scalars) become a ``text`` column.

    The table is built column by column. Objects with many different keys would make a table
    far larger than the file (rows x distinct keys), so more than ``_MAX_COLUMNS`` keys or more
    than ``max_cells`` cells is a CorpusError rather than an out-of-memory kill.
    """
    import pandas as pd

    keys: dict[str, None] = {}
    for n, item in enumerate(items, 1):
        if isinstance(item, dict):
            for k in item:
                if k not in keys:
                    keys[str(k)] = None
                    _check_columns(name, len(keys), "different keys")
        elif isinstance(item, list):
            raise CorpusError(f"{name}: {what} {n} is a list; expected a string or an object "
                              'such as {"text": "...", "label": "..."}.')
    if not items:
        return pd.DataFrame({"text": []})

    def scalar_text(item: Any) -> Any:  # a bare string (or number, or null) is one text
        return item if item is None or isinstance(item, str) else str(item)

    n_dicts = sum(isinstance(item, dict) for item in items)
    if not n_dicts:  # only bare values: one text column
        return pd.DataFrame({"text": [scalar_text(item) for item in items]}, dtype=object)
    if n_dicts < len(items) or not keys:
        keys = {"text": None, **keys}
    cells = len(items) * len(keys)
    if cells > max_cells:
        raise CorpusError(f"{name}: {len(items):,} {what}s with {len(keys):,} different keys make a "
                          f"table of {cells:,} cells, far more than the file holds; give every "
                          f"{what} the same few keys (such as text and label).")
    columns = {key: [item.get(key) if isinstance(item, dict)
                     else (scalar_text(item) if key == "text" else None) for item in items]
               for key in keys}
    return pd.DataFrame(columns, dtype=object)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200].rstrip(".")


_PREFERRED_LIST_KEYS = ("texts", "text", "data", "sentences", "documents", "items",
                        "records", "rows", "examples", "corpus")


def _parse_int(digits: str) -> int | str:
    """JSON integers; one longer than Python converts (4,300 digits) stays its digits, the same
    text a shorter number would become."""
    return int(digits) if len(digits) <= 4000 else digits


_loads = json.JSONDecoder(parse_int=_parse_int).decode


_TOO_DEEP = "nested too deeply: over about 1,000 levels of [ or {"


def _json_frame(text: str, name: str) -> pd.DataFrame:
    import pandas as pd

    max_cells = max(len(text), 100_000)
    try:
        doc = _loads(text)
    except json.JSONDecodeError as exc:
        hint = ("; if it holds one JSON value per line, name it .jsonl"
                if exc.msg == "Extra data" else "")
        raise CorpusError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno}{hint}.") from None
    except RecursionError:
        raise CorpusError(f"{name} is not valid JSON ({_TOO_DEEP}).") from None
    except ValueError as exc:
        raise CorpusError(f"{name} is not valid JSON ({_first_line(exc)}).") from None
    if isinstance(doc, list):
        return _records_frame(doc, name, "item", max_cells)
    if isinstance(doc, dict):
        lists = {k: v for k, v in doc.items() if isinstance(v, list)}
        scalar = (str, int, float, bool, type(None))
        if (lists and len(lists) == len(doc) and len({len(v) for v in lists.values()}) == 1
                and all(isinstance(x, scalar) for v in lists.values() for x in v)):
            # Columns: {"text": [...], "label": [...]}
            _check_columns(name, len(lists))
            return pd.DataFrame({str(k): v for k, v in lists.items()}, dtype=object)
        for key in _PREFERRED_LIST_KEYS:
            for k, v in lists.items():
                if k.lower() == key:
                    return _records_frame(v, name, "item", max_cells)
        if len(lists) == 1:
            return _records_frame(next(iter(lists.values())), name, "item", max_cells)
    raise CorpusError(f"{name}: expected a list of strings, a list of objects, or an object "
                      'with a list under a key such as "texts" or "data".')


def _jsonl_frame(text: str, name: str) -> pd.DataFrame:
    items: list[Any] = []
    for n, line in enumerate(_split_lines(text), 1):
        if not line.strip():
            items.append(None)  # counted as a blank row
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as exc:
            hint = ("; if the file is one JSON document, name it .json"
                    if n == 1 or line.lstrip()[:1] in ("}", "]", '"') else "")
            raise CorpusError(f"{name}: line {n} is not valid JSON ({exc.msg}){hint}.") from None
        except RecursionError:
            raise CorpusError(f"{name}: line {n} is not valid JSON ({_TOO_DEEP}).") from None
        except ValueError as exc:
            raise CorpusError(f"{name}: line {n} is not valid JSON ({_first_line(exc)}).") from None
        if isinstance(value, list):
            raise CorpusError(f"{name}: line {n} is a list; expected a string or an object "
                              'such as {"text": "...", "label": "..."}.')
        items.append(value)
    return _records_frame(items, name, "line", max(len(text), 100_000))


def _header_width(text: str, sep: str) -> int:
    """The number of fields in the header row (read from the first 1 MB only; 0 if unsure)."""
    try:
        return len(next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=sep), []))
    except csv.Error:  # a header field over the csv module's size limit: let pandas judge
        return 0


def _csv_frame(text: str, name: str, fmt: str) -> pd.DataFrame:
    import pandas as pd

    if fmt == "tsv":
        sep = "\t"
    else:
        header = text.split("\n", 1)[0]
        sep = ";" if "," not in header and ";" in header else ","
    _check_columns(name, _header_width(text, sep))
    try:
        with warnings.catch_warnings():
            # A row longer than the header would otherwise be cut silently.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                               na_values=[""], index_col=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise CorpusError(f"{name} has no columns; the first line must be a header "
                          "such as: text,label") from None
    except Exception as exc:  # noqa: BLE001 - the parser raises several types on bad input
        raise CorpusError(f"{name} is not a valid {fmt.upper()} file: "
                          f"{_first_line(exc)}.") from None


def _parquet_frame(data: bytes, name: str, max_bytes: int) -> pd.DataFrame:
    if not data.startswith(b"PAR1"):
        probe = data[:_BINARY_PROBE_BYTES]
        textual = b"\x00" not in probe
        hint = "; is it a CSV or text file renamed?" if textual else "."
        raise CorpusError(f"{name} is not a valid Parquet file{hint}")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a requirement
        raise CorpusError("Reading Parquet needs pyarrow (pip install pyarrow).") from None
    # Compression (and dictionary encoding) can hide a huge table in a small file, so the
    # table is bounded from the metadata before reading, and text columns are read as
    # dictionaries and measured before they are expanded.
    budget = _PARQUET_EXPANSION * max_bytes
    too_big = (f"{name} unpacks to more than {_human_size(budget)}, over {_PARQUET_EXPANSION} times "
               f"the {_human_size(max_bytes)} upload limit; upload fewer or shorter rows.")
    try:
        meta = pq.ParquetFile(pa.BufferReader(data)).metadata
        n_rows, n_leaves = meta.num_rows, meta.num_columns
        _check_columns(name, n_leaves)
        if n_rows * max(n_leaves, 1) > max_bytes:
            raise CorpusError(f"{name} holds {n_rows:,} rows x {n_leaves:,} columns, more cells "
                              f"than a {_human_size(max_bytes)} text file could; upload fewer rows.")
        pages = sum(meta.row_group(i).column(j).total_uncompressed_size
                    for i in range(meta.num_row_groups) for j in range(n_leaves))
        if pages > budget:
            raise CorpusError(too_big)
        byte_arrays = [j for j in range(n_leaves) if meta.schema.column(j).physical_type == "BYTE_ARRAY"]
        # Read whole (iter_batches would repeat the growing dictionary in every batch).
        table = pq.ParquetFile(pa.BufferReader(data), read_dictionary=byte_arrays).read()
        unpacked = sum(_plain_nbytes(chunk) for column in table.columns for chunk in column.chunks)
        if unpacked > budget:
            raise CorpusError(too_big)
        # Measured and within the budget: only now expand the dictionaries.
        table = pa.Table.from_arrays(
            [pa.chunked_array([c.dictionary_decode() for c in column.chunks], type=column.type.value_type)
             if pa.types.is_dictionary(column.type) else column for column in table.columns],
            names=table.column_names)
        table = table.rename_columns(_unique_names([str(c) for c in table.column_names]))
        return table.to_pandas()
    except CorpusError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types on corrupt files
        raise CorpusError(f"{name} is not a valid Parquet file ({_first_line(exc)}).") from None


def _plain_nbytes(array: Any) -> int:
    """The bytes an Arrow array takes once its dictionaries are expanded (computed, not done)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        values = array.dictionary
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
                or pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)):
            return len(array) * 16
        lengths = pc.take(pc.binary_length(values), array.indices)
        return int(pc.sum(lengths).as_py() or 0) + 8 * len(array)
    if pa.types.is_struct(kind):
        return sum(_plain_nbytes(field) for field in array.flatten()) + len(array)
    if pa.types.is_map(kind):
        return _plain_nbytes(array.keys) + _plain_nbytes(array.items) + 8 * len(array)
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)):
        return _plain_nbytes(array.flatten()) + 8 * len(array)
    return array.nbytes


@dataclass
class _Table:
    frame: pd.DataFrame
    format: str
    lossy: bool


def _checked_bytes(data: bytes, name: str, max_bytes: int) -> bytes:
    _check_max_bytes(max_bytes)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes")
    data = bytes(data)
    _check_size(name, len(data), max_bytes)
    return data


def _read_table(data: bytes, filename: str, max_bytes: int) -> _Table:
    import pandas as pd

    name = _display_name(filename)
    fmt = _format_of(name)
    data = _checked_bytes(data, name, max_bytes)
    lossy = False
    if fmt == "parquet":
        frame = _parquet_frame(data, name, max_bytes)
    else:
        text, lossy = _decode(data, name)
        if fmt == "txt":
            frame = pd.DataFrame({"text": pd.Series(_split_lines(text), dtype=object)})
        elif fmt == "jsonl":
            frame = _jsonl_frame(text, name)
        elif fmt == "json":
            frame = _json_frame(text, name)
        else:
            frame = _csv_frame(text, name, fmt)
    frame.columns = _unique_names([_to_text(c)[0] or "" for c in frame.columns])
    return _Table(frame, fmt, lossy)


def _unique_names(names: list[str]) -> list[str]:
    """Make column names unique (Parquet allows duplicates) by appending .1, .2, ..."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, k = name, 0
        while candidate in seen:
            k += 1
            candidate = f"{name}.{k}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _norm(column: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(column).strip().lower())


def _column_profile(series: pd.Series, sample: int = 2000) -> tuple[float, float, bool, int]:
    """(fraction of non-missing values that are str, their mean length, mostly numeric,
    number of non-missing values), over the first ``sample`` values."""
    values = [v for v in series.head(sample).tolist() if not _is_missing(v)]
    # Bytes (a Parquet binary column) are read as UTF-8 text, like _to_text does.
    values = [_to_text(v)[0] if isinstance(v, (bytes, bytearray)) else v for v in values]
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
    return (len(strings) / len(values), sum(map(len, strings)) / len(strings),
            numeric >= 0.9 * len(strings), len(values))


def _by_name(df: pd.DataFrame, names: Iterable[str], exclude: Iterable[str] = ()) -> str | None:
    excluded = set(exclude)
    normalized = {}
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
    raise CorpusError(f"{name} has no column {_shorten(_printable(str(wanted)), 60)!r} for the "
                      f"{role}; available columns: {_shown_columns(columns)}.")


def _columns_of(table: _Table, name: str, text_column: str | None, label_column: str | None,
                language_column: str | None) -> tuple[str, str | None, str | None]:
    df = table.frame
    if text_column is not None:
        text_col = _resolve_column(df, text_column, "text", name)
    else:
        if len(df) == 0:
            raise CorpusError(f"{name} has no rows of data.")
        inferred = infer_text_column(df)
        if inferred is None:
            raise CorpusError(f"{name} has no column of text (columns: "
                              f"{_shown_columns(df.columns)}); choose one with "
                              "--text-column (or the text column picker).")
        text_col = inferred
    label_col = (_resolve_column(df, label_column, "labels", name) if label_column is not None
                 else infer_label_column(df, exclude=[text_col]))
    lang_col = (_resolve_column(df, language_column, "languages", name)
                if language_column is not None
                else infer_language_column(df, exclude=[c for c in (text_col, label_col) if c]))
    return text_col, label_col, lang_col


def parse_corpus_bytes(data: bytes, filename: str, *, text_column: str | None = None,
                       label_column: str | None = None, language_column: str | None = None,
                       max_bytes: int = MAX_FILE_BYTES_DEFAULT, max_texts: int | None = None,
                       max_chars: int = MAX_TEXT_CHARS_DEFAULT) -> Corpus:
    """Parse an uploaded file's bytes into a :class:`Corpus`.

    ``filename`` only picks the format (by extension) and the display name; it is never
    opened. Supported: .txt (one text per line), .csv/.tsv (header row), .jsonl, .json and
    .parquet. Blank rows and exact duplicates are dropped, texts over ``max_chars`` are
    truncated and rows past ``max_texts`` left out; the report counts each.
    """
    _check_max_chars(max_chars)
    _check_max_texts(max_texts)
    name = _display_name(filename)
    if _format_of(name) == "txt" and (text_column, label_column, language_column) == (None, None, None):
        # One text per line needs no table: the same rows as the table path, without pandas.
        text, lossy = _decode(_checked_bytes(data, name, max_bytes), name)
        lines = _split_lines(text)
        if not lines:
            raise CorpusError(f"{name} has no rows of data.")
        fmt, text_col = "txt", "text"
        rows = _clean_rows(lines, None, None, lossy=lossy)
    else:
        table = _read_table(data, filename, max_bytes)
        text_col, label_col, lang_col = _columns_of(table, name, text_column, label_column,
                                                    language_column)
        df = table.frame
        fmt = table.format
        rows = _clean_rows(df[text_col].tolist(),
                           df[label_col].tolist() if label_col is not None else None,
                           df[lang_col].tolist() if lang_col is not None else None,
                           lossy=table.lossy)
    if not rows.texts:
        where = (f"the column {_shorten(_printable(text_col), 60)!r} of {name}"
                 if fmt != "txt" else name)
        raise CorpusError(f"No text left in {where} after dropping {rows.n_blank:,} blank "
                          f"{'row' if rows.n_blank == 1 else 'rows'}; check that the file "
                          "holds text.")
    return _build_corpus(name, f"file:{name}", rows, max_texts=max_texts, max_chars=max_chars)


def preview_corpus_bytes(data: bytes, filename: str, n_rows: int = 20,
                         max_bytes: int = MAX_FILE_BYTES_DEFAULT) -> TablePreview:
    """Parse an upload far enough to show its columns, the inferred roles and the first rows."""
    import pandas as pd

    table = _read_table(data, filename, max_bytes)
    df = table.frame
    text_col = infer_text_column(df)
    label_col = infer_label_column(df, exclude=[text_col] if text_col else [])
    lang_col = infer_language_column(df, exclude=[c for c in (text_col, label_col) if c])
    head = df.head(max(0, n_rows)).reset_index(drop=True)
    for column in range(head.shape[1]):
        # A 10 MB cell is not sent to the browser whole, and a lone surrogate (a "\ud800"
        # escape in JSON) would make Arrow, and so st.dataframe, fail.
        head.isetitem(column, pd.Series(
            [_shorten(_SURROGATE.sub(_REPLACEMENT, v), _PREVIEW_CELL_CHARS) if isinstance(v, str) else v
             for v in head.iloc[:, column]], index=head.index, dtype=object))
    return TablePreview(columns=[str(c) for c in df.columns], text_column=text_col,
                        label_column=label_col, language_column=lang_col,
                        head=head, n_rows=len(df), format=table.format)


def read_corpus_file(path: str | os.PathLike[str], *, text_column: str | None = None,
                     label_column: str | None = None, language_column: str | None = None,
                     max_bytes: int = MAX_FILE_BYTES_DEFAULT, max_texts: int | None = None,
                     max_chars: int = MAX_TEXT_CHARS_DEFAULT) -> Corpus:
    """Read a corpus file from disk (same formats and options as :func:`parse_corpus_bytes`)."""
    _check_max_bytes(max_bytes)
    p = Path(path)
    shown = _shorten(_printable(os.fspath(path)), 300)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise CorpusError(f"No such file: {shown}; check the path.") from None
    except OSError as exc:
        raise CorpusError(f"Cannot read {shown}: {exc.strerror or exc}.") from None
    except ValueError:  # an embedded NUL byte
        raise CorpusError(f"Cannot read {shown}: the path contains a NUL byte.") from None
    if p.is_dir():
        raise CorpusError(f"{shown} is a directory, not a file; pass one "
                          f"{'/'.join(SUPPORTED_EXTENSIONS)} file.")
    _format_of(_display_name(p.name))
    _check_size(_display_name(p.name), st.st_size, max_bytes)
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise CorpusError(f"Cannot read {shown}: {exc.strerror or exc}.") from None
    return parse_corpus_bytes(data, p.name, text_column=text_column, label_column=label_column,
                              language_column=language_column, max_bytes=max_bytes,
                              max_texts=max_texts, max_chars=max_chars)


def load_corpus(spec: str, *, per_label: int | None = None, seed: int = 0,
                text_column: str | None = None, label_column: str | None = None,
                language_column: str | None = None, max_bytes: int = MAX_FILE_BYTES_DEFAULT,
                max_texts: int | None = None,
                max_chars: int = MAX_TEXT_CHARS_DEFAULT) -> Corpus:
    """Load a built-in corpus by name (optionally prefixed ``builtin:``) or a file by path.

    Built-in names win over files of the same name. Column options apply to files only and
    ``per_label``/``seed`` to built-ins only; ``max_texts``/``max_chars`` apply to both.
    """
    name = spec.strip().removeprefix("builtin:").lower()
    names = _builtin_names()
    if name in names:
        if any(v is not None for v in (text_column, label_column, language_column)):
            raise OptionError("Column options apply to files only, not to the built-in "
                              f"corpus {name!r}.")
        corpus = load_builtin_corpus(name, per_label=per_label, seed=seed)
        if max_texts is not None or max_chars != MAX_TEXT_CHARS_DEFAULT:
            corpus = corpus.with_limits(max_texts=max_texts, max_chars=max_chars)
        return corpus
    path = spec.removeprefix("file:")
    if os.path.exists(path):
        if per_label is not None:
            raise OptionError("per_label applies to built-in corpora only, not to files.")
        return read_corpus_file(path, text_column=text_column, label_column=label_column,
                                language_column=language_column, max_bytes=max_bytes,
                                max_texts=max_texts, max_chars=max_chars)
    raise CorpusError(f"Unknown corpus {_shorten(_printable(spec), 200)!r}: not a built-in corpus "
                      f"({', '.join(names)}) and no such file.")
