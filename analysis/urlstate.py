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
['Ignored `dim=-3`: a dimension is a whole number from 0 to 65535. Using 0.']
>>> to_params(state)
{'model': 'all-mpnet-base-v2'}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from analysis.corpora import DEFAULT_CORPUS
from analysis.models import DEFAULT_MODEL, catalog_info

__all__ = [
    "MAX_MODELS",
    "UPLOAD_PREFIX",
    "UrlState",
    "canonical_model",
    "dims_to_spec",
    "model_problem",
    "parse",
    "parse_dims",
    "to_params",
]

MAX_VALUE_CHARS = 512
MAX_MODELS = 6
MAX_DIM = 65_535
UPLOAD_PREFIX = "upload:"
_DEFAULT_MODEL_SHORT = catalog_info(DEFAULT_MODEL).short_name  # type: ignore[union-attr]

VIEWS = ("normalized", "raw")
HEAT_VIEWS = ("normalized", "raw", "standardized")
DIM_SORTS = ("index", "std", "abs_mean")
ROW_ORDERS = ("corpus", "label")
METRICS = ("std", "variance")
BAR_ORDERS = ("index", "sorted")
THRESHOLD_RANGE = (1e-6, 10.0)
POSTPROCESSING = ("none", "standardize", "all_but_the_top", "whiten")
SCORES = ("knn_accuracy", "ari", "nmi", "silhouette", "neighbour_overlap")
DRAWS = (2, 3, 5, 10)

_HUB_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
# Local folders: absolute or home-relative, plain characters only, no '..' segments.
_FOLDER = re.compile(r"^(/|~/)[A-Za-z0-9._/ +-]{0,300}$")
_DIMS_SPEC = re.compile(r"^\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?(,\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?)*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class UrlState:
    """Everything a link reproduces. Field names are the query-parameter names."""

    model: str = _DEFAULT_MODEL_SHORT  # catalog short name, hub id or local folder
    models: tuple[str, ...] = ()  # Compare page; () = the models available here
    corpus: str = DEFAULT_CORPUS  # built-in name or "upload:<name>"
    view: str = "normalized"  # statistics view: normalized | raw
    heat: str = "normalized"  # heatmap values: normalized | raw | standardized
    sort: str = "index"  # heatmap dimension order: index | std | abs_mean
    rows: str = "corpus"  # heatmap text order: corpus | label
    dims: str = ""  # heatmap dimension selection, e.g. "0-63,127"; "" = all
    full: bool = False  # heatmap: draw every text (up to figures.FULL_MAX_ROWS), not a screen's worth
    dim: int = 0  # Dimension detail page
    metric: str = "std"  # bar chart: std | variance
    bars: str = "index"  # bar chart order: index | sorted
    log: bool = False  # bar chart log scale
    threshold: float = 0.01  # bar chart threshold, relative to the median
    post: str = "none"  # Geometry page post-processing preview
    score: str = "knn_accuracy"  # Which dimensions matter: the plotted score
    draws: int = 5  # Which dimensions matter: random-k draws
    topk: int = 64  # Which dimensions matter: size of the exported dimension list

    def with_(self, **changes: Any) -> "UrlState":
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
    if catalog_info(value) is not None or _HUB_ID.match(value):
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


def parse(
    params: Mapping[str, Any],
    *,
    corpora: Iterable[str],
    uploaded: Iterable[str] = (),
    base: UrlState = DEFAULTS,
) -> tuple[UrlState, list[str]]:
    """Validate query parameters into a state, plus notes for every value that fell back.

    ``corpora`` are the built-in corpus names available here and ``uploaded`` the names of this
    session's uploads (referred to as ``upload:<name>``). Missing keys take their value from
    ``base``; unknown keys are ignored. A repeated key counts with its last value.
    """
    notes: list[str] = []
    values: dict[str, Any] = {}
    corpora = set(corpora)
    uploaded = set(uploaded)

    def reject(key: str, raw: str, why: str, fallback: Any) -> None:
        shown = ", ".join(fallback) if isinstance(fallback, tuple) else fallback
        if isinstance(fallback, bool):
            shown = "on" if fallback else "off"
        if fallback == "" or fallback == ():
            shown = "the default"
        notes.append(f"Ignored `{key}={_show(raw)}`: {why}. Using {shown}.")

    for f in fields(UrlState):
        key = f.name
        if key not in params:
            continue
        raw = _text(params[key])
        default = getattr(base, key)
        if len(raw) > MAX_VALUE_CHARS:
            reject(key, raw, f"longer than {MAX_VALUE_CHARS} characters", default)
            continue
        value = raw.strip()
        if key == "model":
            problem = model_problem(value)
            if problem:
                reject(key, raw, problem, default)
            else:
                values[key] = canonical_model(value)
        elif key == "models":
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
                    "Ignored " + ", ".join(f"`{_show(b)}`" for b in bad[:5]) + (" and more" if len(bad) > 5 else "")
                    + " in `models`: not a catalog name, hub id or folder path."
                )
            if len(chosen) > MAX_MODELS:
                notes.append(f"`models` lists {len(chosen)} models; comparing the first {MAX_MODELS}.")
                chosen = chosen[:MAX_MODELS]
            values[key] = tuple(chosen) if chosen else default
        elif key == "corpus":
            if value in corpora:
                values[key] = value
            elif value.startswith(UPLOAD_PREFIX) and value[len(UPLOAD_PREFIX):] in uploaded:
                values[key] = value
            elif value.startswith(UPLOAD_PREFIX):
                reject(key, raw, "an uploaded corpus cannot travel in a link and this session has none by that "
                       "name (upload it again on the Corpus page)", default)
            else:
                reject(key, raw, "not a built-in corpus here", default)
        elif key in ("view", "heat", "sort", "rows", "metric", "bars", "post", "score"):
            allowed = {"view": VIEWS, "heat": HEAT_VIEWS, "sort": DIM_SORTS, "rows": ROW_ORDERS,
                       "metric": METRICS, "bars": BAR_ORDERS, "post": POSTPROCESSING, "score": SCORES}[key]
            if value.lower() in allowed:
                values[key] = value.lower()
            else:
                reject(key, raw, "expected one of " + ", ".join(allowed), default)
        elif key == "dims":
            if not value:
                values[key] = ""
                continue
            try:
                values[key] = dims_to_spec(parse_dims(value))
            except ValueError as exc:
                reject(key, raw, str(exc), default)
        elif key == "dim":
            if re.fullmatch(r"\d{1,5}", value) and int(value) <= MAX_DIM:
                values[key] = int(value)
            else:
                reject(key, raw, f"a dimension is a whole number from 0 to {MAX_DIM}", default)
        elif key == "draws":
            if value in {str(n) for n in DRAWS}:
                values[key] = int(value)
            else:
                reject(key, raw, "expected one of " + ", ".join(map(str, DRAWS)), default)
        elif key == "topk":
            if re.fullmatch(r"[0-9]{1,5}", value) and 1 <= int(value) <= MAX_DIM:
                values[key] = int(value)
            else:
                reject(key, raw, f"a dimension count is a whole number from 1 to {MAX_DIM}", default)
        elif key in ("log", "full"):
            if value.lower() in _TRUE | _FALSE:
                values[key] = value.lower() in _TRUE
            else:
                reject(key, raw, "expected 1 or 0", default)
        elif key == "threshold":
            lo, hi = THRESHOLD_RANGE
            try:
                number = float(value) if re.fullmatch(r"[0-9.eE+-]{1,32}", value) else math.nan
            except ValueError:
                number = math.nan
            if math.isfinite(number) and lo <= number <= hi:
                values[key] = number
            else:
                reject(key, raw, f"the threshold is a number from {lo:g} to {hi:g} (times the median)", default)
    return replace(base, **values), notes


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
