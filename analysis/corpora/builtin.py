"""Built-in corpora: chatterbot conversations (28 languages, topic labels, parallel groups) and
WordNet glosses (45 lexicographer-file labels), where installed.

``pyyaml`` is imported only when a chatterbot corpus is read.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.corpora.corpus import (
    MAX_TEXT_CHARS_DEFAULT,
    Corpus,
    SourceRows,
    build_corpus,
    clean_rows,
    sample_per_label,
)
from analysis.errors import CorpusError, OptionError


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


# Topic files left out of every chatterbot corpus: tech_support repeats ~10 prompts about
# a thousand times, coding holds code blocks, and the bot-profile files (whatever their
# name in a language folder) describe the bot rather than a topic.
_CHATTERBOT_EXCLUDED = frozenset({"tech_support", "coding", "botprofile", "perfilbot", "profile"})
_CHATTERBOT_REASON = "install the chatterbot corpus and YAML reader (pip install chatterbot-corpus==1.3.3 pyyaml)"
_LANGUAGE_TITLES = {"traditionalchinese": "Traditional Chinese", "hinglish": "Hinglish"}

#: WordNet 3.0 lexicographer file names, indexed by ``lex_filenum``.
WORDNET_LEXNAMES: tuple[str, ...] = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
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
        if child.is_dir() and any(f.stem not in _CHATTERBOT_EXCLUDED for f in child.glob("*.yml")):
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
            raise CorpusError(
                f"The chatterbot-corpus file {path.name} in {folder.name} cannot "
                f"be read ({type(exc).__name__}); reinstall chatterbot-corpus."
            ) from None
        conversations = doc.get("conversations") if isinstance(doc, dict) else None
        convs: list[tuple[Any, ...]] = []
        for conv in conversations or []:
            # A few conversations are one string (a YAML plain scalar swallowed the answer).
            turns = conv if isinstance(conv, list) else [conv]
            convs.append(tuple(turns))
        topics.append((path.stem, tuple(convs)))
    return tuple(topics)


def chatterbot_conversations(language: str = "english") -> tuple[tuple[str, Conversations], ...]:
    """(topic, conversations) of one chatterbot language, topic files in name order, the same
    files every chatterbot corpus reads (tech_support, coding and the bot profiles left out).

    Each conversation is the tuple of its turns, as written in the YAML file (not cleaned).
    """
    data_dir = _chatterbot_data_dir()
    if data_dir is None:
        raise CorpusError(f"The chatterbot conversations are not available here: {_CHATTERBOT_REASON}.")
    dirs = _chatterbot_language_dirs(data_dir)
    if language not in dirs:
        raise CorpusError(f"chatterbot-corpus has no language {language!r}; it has: {', '.join(dirs)}.")
    return _chatterbot_topics(dirs[language])


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
def _chatterbot_base(language: str | None) -> SourceRows:
    """Cleaned rows of one language, or of all languages (``None``) with groups."""
    if language is not None:
        return clean_rows(*_chatterbot_rows(language))
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
            grouped = topic in parallel if lang == "english" else lang in parallel.get(topic, ())
            for j, conv in enumerate(convs):
                for i, turn in enumerate(conv):
                    texts.append(turn)
                    labels.append(topic)
                    langs.append(lang)
                    groups.append(f"{topic}/{j}/{i}" if grouped else "")
    return clean_rows(texts, labels, langs, groups)


def _wordnet_dir() -> Path:
    return Path(WORDNET_DIR)


def _wordnet_available() -> bool:
    folder = _wordnet_dir()
    return all((folder / f"data.{part}").is_file() for part in _WORDNET_PARTS)


@functools.lru_cache(maxsize=2)
def _wordnet_base(folder: Path) -> SourceRows:
    """All WordNet definitions (gloss before the first ';'), labeled by lexicographer file."""
    synsets = _wordnet_synsets(folder)
    return clean_rows([s.gloss for s in synsets], [s.label for s in synsets])


@dataclass(frozen=True)
class WordNetSynset:
    """One WordNet synset: its first lemma (as words), its definition and its lexicographer file."""

    lemma: str
    gloss: str
    label: str


def wordnet_synsets() -> tuple[WordNetSynset, ...]:
    """Every WordNet 3.0 synset of the four parts of speech, in file order.

    ``lemma``: the synset's first word with ``_`` as spaces and adjective markers such as
    ``(a)`` removed; ``gloss``: the definition before the first ``;`` (examples left out).
    """
    if not _wordnet_available():
        raise CorpusError(f"WordNet is not available here: {_WORDNET_REASON}.")
    return _wordnet_synsets(_wordnet_dir())


@functools.lru_cache(maxsize=2)
def _wordnet_synsets(folder: Path) -> tuple[WordNetSynset, ...]:
    out: list[WordNetSynset] = []
    for part in _WORDNET_PARTS:
        with open(folder / f"data.{part}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  "):  # licence header
                    continue
                head, sep, gloss = line.partition(" | ")
                fields = head.split(" ", 5)
                if not sep or len(fields) < 5 or not fields[1].isdigit():
                    continue
                lexnum = int(fields[1])
                label = WORDNET_LEXNAMES[lexnum] if lexnum < len(WORDNET_LEXNAMES) else f"lexfile.{lexnum}"
                lemma = re.sub(r"\([a-z]+\)$", "", fields[4]).replace("_", " ").strip()
                out.append(WordNetSynset(lemma, gloss.split(";", 1)[0].strip(), label))
    return tuple(out)


def builtin_corpora() -> list[BuiltinCorpusInfo]:
    """All built-in corpora, the default first; unavailable ones say how to get them."""
    infos: list[BuiltinCorpusInfo] = []
    data_dir = _chatterbot_data_dir()
    dirs = _chatterbot_language_dirs(data_dir) if data_dir is not None else {}
    chatter_ok = bool(dirs)
    infos.append(
        BuiltinCorpusInfo(
            "chatterbot-english",
            "ChatterBot English (default)",
            "About 1,630 short English chatbot utterances from chatterbot-corpus 1.3.3, labeled "
            "by topic file (18 unbalanced topics; tech_support, coding and botprofile left out).",
            chatter_ok and "english" in dirs,
            "" if chatter_ok and "english" in dirs else _CHATTERBOT_REASON,
            True,
            False,
        )
    )
    infos.append(
        BuiltinCorpusInfo(
            "chatterbot-multilingual",
            "ChatterBot multilingual",
            f"Utterances in all {len(dirs) or 'the'} chatterbot-corpus languages with a language "
            "column and topic labels; turns of line-for-line translations of the English files "
            "share a group id.",
            chatter_ok,
            "" if chatter_ok else _CHATTERBOT_REASON,
            True,
            True,
        )
    )
    for lang in dirs:
        if lang == "english":
            continue
        title = _LANGUAGE_TITLES.get(lang, lang.capitalize())
        infos.append(
            BuiltinCorpusInfo(
                f"chatterbot-{lang}",
                f"ChatterBot {title}",
                f"Chatbot utterances in {title} from chatterbot-corpus 1.3.3, labeled by topic file.",
                True,
                "",
                True,
                False,
            )
        )
    wn_ok = _wordnet_available()
    infos.append(
        BuiltinCorpusInfo(
            "wordnet-glosses",
            "WordNet definitions",
            "WordNet 3.0 synset definitions labeled by lexicographer file (45 categories such as "
            f"noun.artifact); {_WORDNET_PER_LABEL_DEFAULT} sampled per category by default.",
            wn_ok,
            "" if wn_ok else _WORDNET_REASON,
            True,
            False,
        )
    )
    return infos


def builtin_names() -> list[str]:
    return [info.name for info in builtin_corpora()]


def load_builtin_corpus(name: str, *, per_label: int | None = None, seed: int = 0) -> Corpus:
    """Load a built-in corpus by name (see :func:`builtin_corpora`).

    ``per_label`` keeps at most that many texts per label, sampled with ``seed`` and kept in
    corpus order; ``None`` means all texts for chatterbot and 50 per category for WordNet.
    Results are cached in-process.
    """
    if per_label is not None and (isinstance(per_label, bool) or not isinstance(per_label, int) or per_label < 1):
        raise OptionError(f"per_label must be a positive whole number or None, not {per_label!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise OptionError(f"seed must be a whole number, not {seed!r}.")
    key = name.strip().lower() if isinstance(name, str) else name
    infos = {info.name: info for info in builtin_corpora()}
    info = infos.get(key)
    if info is None:
        raise CorpusError(f"Unknown built-in corpus {name!r}; choose one of: {', '.join(infos)}.")
    if not info.available:
        raise CorpusError(f"The built-in corpus {info.name!r} is not available here: {info.reason}.")
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
        base = sample_per_label(base, per_label, seed)
    return build_corpus(name, f"builtin:{name}", base, max_texts=None, max_chars=MAX_TEXT_CHARS_DEFAULT)
