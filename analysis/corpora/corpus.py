"""The corpus: an immutable, ordered tuple of texts with optional labels, languages and groups.

A :class:`Corpus` carries a :class:`CleaningReport` that says what was dropped or changed on the
way in. The cleaning steps shared by built-in corpora and uploads live here: blank rows and
exact duplicates are dropped (:func:`clean_rows`), texts over a length are truncated and rows
past a count left out (:func:`build_corpus`), each counted.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.errors import CorpusError, OptionError
from analysis.wording import plural

if TYPE_CHECKING:  # pandas costs ~0.5 s to import; only frames need it
    import pandas as pd

DEFAULT_CORPUS = "chatterbot-english"
"""The built-in corpus a request without one uses (the CLI, the dashboard's first page).

Its English chatterbot conversations are varied enough that all-MiniLM-L6-v2's three dead
dimensions stand out by four orders of magnitude.

Examples
--------
>>> from analysis import DEFAULT_CORPUS, load_corpus
>>> DEFAULT_CORPUS
'chatterbot-english'
>>> corpus = load_corpus(DEFAULT_CORPUS, per_label=2)
>>> len(corpus), len(set(corpus.labels))
(36, 18)
"""
MAX_FILE_BYTES_DEFAULT = 200 * 1024 * 1024
MAX_TEXT_CHARS_DEFAULT = 10_000
REPLACEMENT = "\ufffd"
SURROGATE = re.compile("[\ud800-\udfff]")


# A spread needs two values: with one text every dimension's std is 0 (or undefined), so every
# dimension would look dead and the median-relative dead rule would divide by zero. Two is the
# mathematical minimum, not a quality bar; few texts give noisy statistics, which pages can say.
MIN_TEXTS_FOR_STATISTICS = 2


def require_texts_for_statistics(corpus: Corpus) -> None:
    """Raise :class:`~analysis.errors.CorpusError` when ``corpus`` has too few texts for a spread.

    >>> try:
    ...     require_texts_for_statistics(Corpus("one.txt", ("just one",)))
    ... except CorpusError as exc:
    ...     print(str(exc).split(" (")[0])
    one.txt has 1 text; statistics need at least 2 texts
    """
    n = len(corpus)
    if n >= MIN_TEXTS_FOR_STATISTICS:
        return
    why = " ".join(corpus.report.messages()) if corpus.report else ""
    raise CorpusError(
        f"{corpus.name} has {plural(n, 'text')}; statistics need at least {MIN_TEXTS_FOR_STATISTICS} texts "
        "(a spread such as the std is undefined for a single value). "
        + (f"On the way in: {why} " if why else "")
        + "Add texts to the corpus."
    )


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
            out.append(f"Dropped {plural(self.n_blank, 'blank row')}.")
        if self.n_duplicates:
            out.append(f"Dropped {plural(self.n_duplicates, 'duplicate text')} (kept the first occurrence of each).")
        if self.n_sampled_out:
            out.append(f"Left out {plural(self.n_sampled_out, 'text')} by sampling per label.")
        if self.n_truncated:
            limit = f" longer than {self.max_chars:,} characters" if self.max_chars else ""
            out.append(f"Truncated {plural(self.n_truncated, 'text')}{limit}.")
        if self.n_undecodable:
            out.append(
                f"Replaced undecodable bytes with U+FFFD in {plural(self.n_undecodable, 'row')} "
                "(the file is not valid UTF-8)."
            )
        if self.n_over_limit:
            limit = f" (limit: {self.max_texts:,} texts)" if self.max_texts else ""
            out.append(f"Kept the first {plural(self.n_kept, 'text')}; left out {self.n_over_limit:,} more{limit}.")
        return out


@dataclass(frozen=True)
class SourceRows:
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

    Build one with :func:`corpus_from_texts`, :func:`load_corpus` or :func:`parse_corpus_bytes`,
    which clean the rows and count what they drop; the constructor takes texts as they are.

    Parameters
    ----------
    name : str
        For display only; never used as a path.
    texts : tuple of str
        The texts, in order.
    labels, languages, groups : tuple of str, optional
        One entry per text: a topic label, a language code, a parallel-sentence id
        (``""`` where unknown).
    source : str, default ""
        Where the texts came from (``"builtin:..."``, ``"file:..."``, ``"memory:..."``).
    report : CleaningReport, optional
        What was dropped or changed on the way in; "nothing" when not given.

    Attributes
    ----------
    content_hash : str
        SHA-256 of the ordered texts (labels excluded): the corpus part of every cache key.
    report : CleaningReport
        Always set; ``report.messages()`` says what cleaning did, one sentence per step.

    Examples
    --------
    >>> from analysis import Corpus
    >>> corpus = Corpus("greetings", ("hello", "bonjour"), languages=("en", "fr"))
    >>> len(corpus), corpus.languages, corpus.content_hash[:12]
    (2, ('en', 'fr'), '5f406bf12caa')
    >>> Corpus("bad", ("hello",), labels=("a", "b"))
    Traceback (most recent call last):
    ValueError: Corpus.labels has 2 entries for 1 texts
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
        for column, values in (("label", self.labels), ("language", self.languages), ("group", self.groups)):
            if values is not None:
                columns[column] = list(values)
        return pd.DataFrame(columns)

    def with_limits(self, *, max_texts: int | None = None, max_chars: int | None = None) -> Corpus:
        """Re-apply the limits to the rows read from the source and update the report.

        ``None`` keeps the current limit. Limits are applied to the source rows, not to the
        current texts, so a larger ``max_texts`` brings rows back.
        """
        report = self.report
        assert report is not None
        max_texts = report.max_texts if max_texts is None else check_max_texts(max_texts)
        max_chars = report.max_chars if max_chars is None else check_max_chars(max_chars)
        base: SourceRows | None = self.__dict__.get("_base")
        if base is None:
            base = SourceRows(
                self.texts,
                self.labels,
                self.languages,
                self.groups,
                n_rows_read=report.n_rows_read,
                n_blank=report.n_blank,
                n_duplicates=report.n_duplicates,
                n_undecodable=report.n_undecodable,
                n_sampled_out=report.n_sampled_out,
                prior_over_limit=report.n_over_limit,
                prior_truncated=report.n_truncated,
            )
        return build_corpus(self.name, self.source, base, max_texts=max_texts, max_chars=max_chars)


def check_max_texts(max_texts: int | None) -> int | None:
    if max_texts is None:
        return None
    if isinstance(max_texts, bool) or not isinstance(max_texts, int) or max_texts < 1:
        raise OptionError(f"max_texts must be a positive whole number or None, not {max_texts!r}.")
    return max_texts


def check_max_chars(max_chars: int) -> int:
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise OptionError(f"max_chars must be a positive whole number, not {max_chars!r}.")
    return max_chars


def check_max_bytes(max_bytes: int) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise OptionError(f"max_bytes must be a positive whole number, not {max_bytes!r}.")
    return max_bytes


def is_missing(value: Any) -> bool:
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


def to_text(value: Any) -> tuple[str | None, bool]:
    """Cell -> (text or None when missing, whether bytes had to be replaced)."""
    if is_missing(value):
        return None, False
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        return text, REPLACEMENT in text
    else:
        text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. "\ud800" escapes in JSON)
        return SURROGATE.sub(REPLACEMENT, text), True
    return text, False


def to_label(value: Any) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text, _ = to_text(value)
    return text or ""


def clean_rows(
    texts: Sequence[Any],
    labels: Sequence[Any] | None = None,
    languages: Sequence[Any] | None = None,
    groups: Sequence[Any] | None = None,
    *,
    lossy: bool = False,
) -> SourceRows:
    """Drop blanks and exact duplicates (within a language when languages are known)."""
    out_texts: list[str] = []
    out_labels: list[str] | None = [] if labels is not None else None
    out_langs: list[str] | None = [] if languages is not None else None
    out_groups: list[str] | None = [] if groups is not None else None
    seen: set[Any] = set()
    n_blank = n_dup = n_undecodable = 0
    for i, raw in enumerate(texts):
        text, replaced = to_text(raw)
        if text is None or not text.strip():
            n_blank += 1
            continue
        if replaced or (lossy and REPLACEMENT in text):
            n_undecodable += 1
        language = to_label(languages[i]) if languages is not None else ""
        key = (language, text) if languages is not None else text
        if key in seen:
            n_dup += 1
            continue
        seen.add(key)
        out_texts.append(text)
        if out_labels is not None:
            out_labels.append(to_label(labels[i]))  # type: ignore[index]
        if out_langs is not None:
            out_langs.append(language)
        if out_groups is not None:
            out_groups.append(to_label(groups[i]))  # type: ignore[index]

    def _tuple_or_none(values: list[str] | None) -> tuple[str, ...] | None:
        if values is None or not any(values):
            return None
        return tuple(values)

    return SourceRows(
        tuple(out_texts),
        _tuple_or_none(out_labels),
        _tuple_or_none(out_langs),
        tuple(out_groups) if out_groups is not None else None,
        n_rows_read=len(texts),
        n_blank=n_blank,
        n_duplicates=n_dup,
        n_undecodable=n_undecodable,
    )


def sample_per_label(rows: SourceRows, per_label: int, seed: int) -> SourceRows:
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

    return SourceRows(
        tuple(rows.texts[i] for i in keep),
        pick(rows.labels),
        pick(rows.languages),
        pick(rows.groups),
        n_rows_read=rows.n_rows_read,
        n_blank=rows.n_blank,
        n_duplicates=rows.n_duplicates,
        n_undecodable=rows.n_undecodable,
        n_sampled_out=rows.n_sampled_out + len(rows.texts) - len(keep),
    )


def build_corpus(name: str, source: str, base: SourceRows, *, max_texts: int | None, max_chars: int | None) -> Corpus:
    """Apply truncation (then re-deduplicate) and ``max_texts`` to ``base``."""
    n = len(base.texts)
    needs_truncation = max_chars is not None and any(len(t) > max_chars for t in base.texts)
    if not needs_truncation and (max_texts is None or n <= max_texts):
        report = CleaningReport(
            n_rows_read=base.n_rows_read,
            n_kept=n,
            n_blank=base.n_blank,
            n_duplicates=base.n_duplicates,
            n_truncated=base.prior_truncated,
            n_undecodable=base.n_undecodable,
            n_over_limit=base.prior_over_limit,
            n_sampled_out=base.n_sampled_out,
            max_chars=max_chars,
            max_texts=max_texts,
        )
        corpus = Corpus(name, base.texts, base.labels, base.languages, base.groups, source, report)
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
            n_rows_read=base.n_rows_read,
            n_kept=len(keep),
            n_blank=base.n_blank,
            n_duplicates=base.n_duplicates + n_dup,
            n_truncated=base.prior_truncated + n_trunc,
            n_undecodable=base.n_undecodable,
            n_over_limit=base.prior_over_limit + n_over,
            n_sampled_out=base.n_sampled_out,
            max_chars=max_chars,
            max_texts=max_texts,
        )
        labels = pick(base.labels)
        corpus = Corpus(
            name,
            tuple(texts),
            labels if labels and any(labels) else None,
            pick(base.languages),
            pick(base.groups),
            source,
            report,
        )
    object.__setattr__(corpus, "_base", base)
    return corpus
