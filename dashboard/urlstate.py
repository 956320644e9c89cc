"""The dashboard's shareable state: query parameters <-> a validated :class:`UrlState`.

Pure functions, no Streamlit. :func:`parse` never raises: every value that is missing, too
long, malformed or out of range falls back to its default, and each fallback adds a short note
(safe to show as Markdown) saying what was ignored and why. :func:`to_params` writes only the
values that differ from the defaults, so a default view has a clean URL and
``parse(to_params(state)) == state`` for every valid state.

>>> state, notes = parse({"model": "all-mpnet-base-v2", "dim": "-3"}, corpora=["chatterbot-english"])
>>> state.model, state.dim
('all-mpnet-base-v2', 0)
>>> notes
['Ignored `dim=-3`: a dimension is a whole number, 0 or more. Using 0.']
>>> to_params(state)
{'model': 'all-mpnet-base-v2'}
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from analysis.corpora import DEFAULT_CORPUS
from analysis.models import DEFAULT_MODEL, HUB_ID_PATTERN, catalog_info
from analysis.options import (
    BAR_ORDERS,
    DIM_ORDERS,
    DROP_TASKS,
    HEATMAP_VIEWS,
    POSTPROCESSING,
    ROW_ORDERS,
    SELECTION_SCORES,
    SPREAD_METRICS,
    SPREAD_SCALES,
    VIEWS,
)
from analysis.vectors.stores.spec import STORE_FORMS, is_store
from dashboard.selection import Selection

__all__ = [
    "MAX_MODELS",
    "UrlState",
    "accepts",
    "canonical_model",
    "dims_to_spec",
    "model_problem",
    "names_store",
    "parse",
    "parse_dims",
    "to_params",
]

MAX_VALUE_CHARS = 512
MAX_MODELS = 6
# Links are parsed without knowing the model: any whole number up to this is kept, and the page
# that knows the model's dimension count says when it is out of that model's range.
MAX_DIM = 999_999_999
_DEFAULT_MODEL_SHORT = catalog_info(DEFAULT_MODEL).short_name  # type: ignore[union-attr]

THRESHOLD_RANGE = (1e-6, 10.0)
DRAWS = (2, 3, 5, 10)
#: Which dimensions matter: the kNN neighbour counts offered; 0 = adapt to the corpus (10, fewer when small).
NEIGHBORS = (0, 1, 3, 5, 10, 20, 50)

# Local folders: absolute or home-relative, plain characters only, no '..' segments.
_FOLDER = re.compile(r"^(/|~/)[A-Za-z0-9._/ +-]{0,300}$")
_DIMS_SPEC = re.compile(r"^\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?(,\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?)*$")
_KEEP = re.compile(r"^(all|drop-dead|(prefix|top-variance)-[1-9][0-9]{0,4})$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class UrlState:
    """Everything a link reproduces. Field names are the query-parameter names."""

    model: str = _DEFAULT_MODEL_SHORT  # catalog short name, hub id or local folder
    models: tuple[str, ...] = ()  # Compare page; () = the models available here
    corpus: str = DEFAULT_CORPUS  # a Selection as a string: built-in name, or an upload of this session
    view: str = "normalized"  # statistics view: normalized | raw
    heat: str = "normalized"  # heatmap values: normalized | raw | standardized
    sort: str = "index"  # heatmap dimension order: index | std | abs_mean
    rows: str = "label"  # heatmap text order: label (grouped, when the corpus has labels) | corpus
    dims: str = ""  # heatmap dimension selection, e.g. "0-63,127"; "" = all
    full: bool = False  # heatmap: draw every text (up to figures.FULL_MAX_ROWS), not a screen's worth
    dim: int = 0  # Dimension detail page
    metric: str = "std"  # bar chart: std | variance
    bars: str = "index"  # bar chart order: index | sorted
    log: bool = False  # bar chart log scale
    threshold: float = 0.01  # bar chart threshold, relative to the median
    scale: str = "as_is"  # Explore and Compare: spread as is | std x sqrt(d) | share of total variance
    post: str = "none"  # Geometry page post-processing preview
    score: str = "knn_accuracy"  # Which dimensions matter: the plotted score
    draws: int = 5  # Which dimensions matter: random-k draws
    neighbors: int = 0  # Which dimensions matter: kNN neighbour count; 0 = adapt to the corpus
    topk: int = 64  # Which dimensions matter: size of the exported dimension list
    task: str = DROP_TASKS[0]  # What can I drop: the retrieval task (built-in pairs, or the sidebar corpus)
    keep: str = "drop-dead"  # What can I drop: the dimensions the downloaded recipe keeps

    def with_(self, **changes: Any) -> UrlState:
        return replace(self, **changes)


DEFAULTS = UrlState()


# --- value checks --------------------------------------------------------------------------------


def _show(value: str, limit: int = 40) -> str:
    """A value quoted for a Markdown note: one line, short, no backticks."""
    flat = "".join(ch if ch.isprintable() else "?" for ch in value).replace("`", "'")
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def canonical_model(value: str) -> str:
    """Catalog models by their short name; anything else as given (stripped)."""
    value = value.strip()
    info = catalog_info(value)
    return info.short_name if info else value


def model_problem(value: str) -> str | None:
    """Why ``value`` cannot name a model (None when it can): a catalog name, a hub id
    ("org/name") or a local folder path ("/..." or "~/...")."""
    value = value.strip()
    if not value:
        return "no model given"
    if len(value) > 300:
        return "too long for a model name"
    if catalog_info(value) is not None or HUB_ID_PATTERN.match(value):
        return None
    if _FOLDER.match(value) and ".." not in value.split("/"):
        return None
    return "not a catalog name, a hub id such as org/name, or a folder path starting with / or ~/"


def parse_dims(spec: str, max_count: int = 4096) -> list[int]:
    """``"0-3,10"`` -> ``[0, 1, 2, 3, 10]`` (sorted, unique). Raises ValueError when malformed,
    when a range runs backwards, or when it would list more than ``max_count`` dimensions."""
    if not _DIMS_SPEC.match(spec):
        raise ValueError("expected dimensions such as 0-63 or 120-130,223")
    out: set[int] = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        lo, hi = int(a), int(b) if b.strip() else int(a)
        if hi < lo:
            raise ValueError(f"the range {lo}-{hi} runs backwards")
        if hi - lo + 1 > max_count or len(out) + (hi - lo + 1) > max_count:
            raise ValueError(f"more than {max_count} dimensions")
        out.update(range(lo, hi + 1))
    return sorted(out)


def dims_to_spec(dims: Iterable[int]) -> str:
    """The shortest spec for a set of dimensions: ``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    values = sorted(set(int(d) for d in dims))
    parts: list[str] = []
    start = prev = None
    for d in values:
        if start is None:
            start = prev = d
        elif d == prev + 1:  # type: ignore[operator]
            prev = d
        else:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = d
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)


# --- parse / write -------------------------------------------------------------------------------


def _text(raw: Any) -> str:
    if isinstance(raw, (list, tuple)):
        raw = raw[-1] if raw else ""
    return raw if isinstance(raw, str) else str(raw)


_Fallback = Callable[[str], None]  # reject(why): record a note and keep the default


def _parse_model(value: str, reject: _Fallback) -> Any:
    problem = model_problem(value)
    return reject(problem) if problem else canonical_model(value)


def _parse_models(value: str, notes: list[str], default: tuple[str, ...]) -> tuple[str, ...]:
    chosen: list[str] = []
    bad: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if model_problem(item):
            bad.append(item)
        elif canonical_model(item) not in chosen:
            chosen.append(canonical_model(item))
    if bad:
        notes.append(
            "Ignored "
            + ", ".join(f"`{_show(b)}`" for b in bad[:5])
            + (" and more" if len(bad) > 5 else "")
            + " in `models`: not a catalog name, hub id or folder path."
        )
    if len(chosen) > MAX_MODELS:
        notes.append(f"`models` lists {len(chosen)} models; comparing the first {MAX_MODELS}.")
        chosen = chosen[:MAX_MODELS]
    return tuple(chosen) if chosen else default


#: Why a link never opens a vector store, public demo first: said as the one note about the link.
STORE_LINK_PUBLIC = (
    "this public demo never reads a vector store on its server, and a link cannot name one; "
    "upload an embeddings file on the Corpus page instead"
)
STORE_LINK_PRIVATE = (  # kept short: the note carries the link's value too, and stays under 300 characters
    "a link never opens a vector store on this machine, and this session has not opened that one: "
    "type it on the Corpus page (" + ", ".join(STORE_FORMS.values()) + ")"
)


def names_store(value: str) -> bool:
    """Whether a corpus value names a vector store: a store form (``lancedb:PATH#TABLE``...), bare or
    as embeddings (``vectors:lancedb:...``), which only the Corpus page of a private server opens."""
    chosen = Selection.parse(value)
    return is_store(value) or (chosen.is_vectors and is_store(chosen.name))


def _parse_corpus(value: str, reject: _Fallback, corpora: set[str], uploaded: set[str], public: bool) -> Any:
    if value in corpora:  # what this session opened itself (in public mode, never a store: see state.py)
        return value
    chosen = Selection.parse(value)
    if chosen.is_upload and chosen.name in uploaded:
        return value
    if names_store(value):
        return reject(STORE_LINK_PUBLIC if public else STORE_LINK_PRIVATE)
    if not chosen.is_builtin:
        what = "an uploaded corpus" if chosen.is_upload else "uploaded embeddings"
        return reject(
            f"{what} cannot travel in a link and this session has none by that name "
            "(upload it again on the Corpus page)"
        )
    return reject("not a built-in corpus here")


def _choice(allowed: tuple[str, ...]) -> Callable[[str, _Fallback], Any]:
    def parse_choice(value: str, reject: _Fallback) -> Any:
        if value.lower() in allowed:
            return value.lower()
        return reject("expected one of " + ", ".join(allowed))

    return parse_choice


def _parse_dims(value: str, reject: _Fallback) -> Any:
    if not value:
        return ""
    try:
        return dims_to_spec(parse_dims(value))
    except ValueError as exc:
        return reject(str(exc))


def _parse_dim(value: str, reject: _Fallback) -> Any:
    if re.fullmatch(r"\d{1,9}", value) and int(value) <= MAX_DIM:
        return int(value)
    return reject("a dimension is a whole number, 0 or more")


def _parse_draws(value: str, reject: _Fallback) -> Any:
    if value in {str(n) for n in DRAWS}:
        return int(value)
    return reject("expected one of " + ", ".join(map(str, DRAWS)))


def _parse_neighbors(value: str, reject: _Fallback) -> Any:
    if value in {str(n) for n in NEIGHBORS}:
        return int(value)
    return reject("expected one of " + ", ".join(map(str, NEIGHBORS)) + " (0 = adapt to the corpus)")


def _parse_topk(value: str, reject: _Fallback) -> Any:
    if re.fullmatch(r"[0-9]{1,9}", value) and 1 <= int(value) <= MAX_DIM:
        return int(value)
    return reject("a dimension count is a whole number, 1 or more")


def _parse_keep(value: str, reject: _Fallback) -> Any:
    if _KEEP.match(value.lower()):
        return value.lower()
    return reject("expected all, drop-dead, prefix-K or top-variance-K (K a number of dimensions)")


def _parse_flag(value: str, reject: _Fallback) -> Any:
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    return reject("expected 1 or 0")


def _parse_threshold(value: str, reject: _Fallback) -> Any:
    lo, hi = THRESHOLD_RANGE
    try:
        number = float(value) if re.fullmatch(r"[0-9.eE+-]{1,32}", value) else math.nan
    except ValueError:
        number = math.nan
    if math.isfinite(number) and lo <= number <= hi:
        return number
    return reject(f"the threshold is a number from {lo:g} to {hi:g} (times the median)")


#: One parser per field that needs no context beyond its own value: (value, reject) -> parsed value.
_FIELD_PARSERS: dict[str, Callable[[str, _Fallback], Any]] = {
    "model": _parse_model,
    "view": _choice(VIEWS),
    "heat": _choice(HEATMAP_VIEWS),
    "sort": _choice(DIM_ORDERS),
    "rows": _choice(ROW_ORDERS),
    "metric": _choice(SPREAD_METRICS),
    "scale": _choice(SPREAD_SCALES),
    "bars": _choice(BAR_ORDERS),
    "post": _choice(POSTPROCESSING),
    "score": _choice(SELECTION_SCORES),
    "dims": _parse_dims,
    "dim": _parse_dim,
    "draws": _parse_draws,
    "neighbors": _parse_neighbors,
    "topk": _parse_topk,
    "task": _choice(DROP_TASKS),
    "keep": _parse_keep,
    "log": _parse_flag,
    "full": _parse_flag,
    "threshold": _parse_threshold,
}


def parse(
    params: Mapping[str, Any],
    *,
    corpora: Iterable[str],
    uploaded: Iterable[str] = (),
    base: UrlState = DEFAULTS,
    public: bool = False,
) -> tuple[UrlState, list[str]]:
    """Validate query parameters into a state, plus notes for every value that fell back.

    ``corpora`` are the built-in corpus names available here and ``uploaded`` the names of this
    session's uploaded corpora (named as an upload :class:`~dashboard.selection.Selection`).
    A corpus naming a vector store that ``corpora`` does not list is refused with one note, which
    says on a public demo (``public``) that no link reaches the server's files.
    Missing keys take their value from ``base``; unknown keys are ignored. A repeated key counts with its last value.
    """
    notes: list[str] = []
    values: dict[str, Any] = {}
    corpora, uploaded = set(corpora), set(uploaded)
    for f in fields(UrlState):
        key = f.name
        if key not in params:
            continue
        raw = _text(params[key])
        default = getattr(base, key)

        def reject(why: str, key: str = key, raw: str = raw, default: Any = default) -> Any:
            notes.append(f"Ignored `{key}={_show(raw)}`: {why}. Using {_shown_default(default)}.")
            return default

        if len(raw) > MAX_VALUE_CHARS:
            values[key] = reject(f"longer than {MAX_VALUE_CHARS} characters")
        elif key == "models":
            values[key] = _parse_models(raw.strip(), notes, default)
        elif key == "corpus":
            values[key] = _parse_corpus(raw.strip(), reject, corpora, uploaded, public)
        else:
            values[key] = _FIELD_PARSERS[key](raw.strip(), reject)
    return replace(base, **values), notes


def accepts(
    field: str, value: Any, *, corpora: Iterable[str], uploaded: Iterable[str] = (), public: bool = False
) -> bool:
    """Whether ``value`` for ``field`` comes back unchanged and without a note from a trip through
    the URL (:func:`to_params`, then :func:`parse`). ``None``, a wrong type or an unknown choice
    does not; ``corpora``, ``uploaded`` and ``public`` are as for :func:`parse`.

    >>> accepts("scale", "sqrt_d", corpora=[]), accepts("scale", None, corpora=[])
    (True, False)
    """
    parsed, notes = parse(
        to_params(replace(DEFAULTS, **{field: value})), corpora=corpora, uploaded=uploaded, public=public
    )
    return not notes and getattr(parsed, field) == value


def _shown_default(fallback: Any) -> str:
    if isinstance(fallback, bool):
        return "on" if fallback else "off"
    if fallback == "" or fallback == ():
        return "the default"
    if isinstance(fallback, tuple):
        return ", ".join(fallback)
    return str(fallback)


def to_params(state: UrlState) -> dict[str, str]:
    """The query parameters for ``state``: only values that differ from the defaults, as strings."""
    out: dict[str, str] = {}
    for f in fields(UrlState):
        value = getattr(state, f.name)
        if value == getattr(DEFAULTS, f.name):
            continue
        if isinstance(value, tuple):
            out[f.name] = ",".join(value)
        elif isinstance(value, bool):
            out[f.name] = "1" if value else "0"
        elif isinstance(value, float):
            out[f.name] = repr(value)
        else:
            out[f.name] = str(value)
    return out
