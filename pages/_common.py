"""Shared by every page (not a page itself): URL state, the sidebar, and cached computation.

State flow on every run
-----------------------
1. :func:`sync_from_url` reads ``st.query_params``. On the first run of a session, or when the
   URL holds parameters this session did not write (a shared link, a ``st.page_link`` with
   query parameters), they are validated by :func:`analysis.urlstate.parse` into the session's
   :class:`~analysis.urlstate.UrlState`; notes for bad values are kept and shown.
2. Widgets are bound to state fields with :func:`bind`: a widget starts from the state, and a
   change updates the state and rewrites the URL (only non-default values).
3. Uploaded corpora live in ``st.session_state`` only: never in a cache shared across sessions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from analysis import urlstate
from analysis.corpora import DEFAULT_CORPUS, Corpus, builtin_corpora, load_builtin_corpus
from analysis.errors import DimScopeError
from analysis.cache import default_store
from analysis.models import CATALOG, ResolvedModel, catalog_info, list_models
from analysis.policy import Policy, current_policy
from analysis.pipeline import (
    EmbeddingResult,
    EncodeOptions,
    StatsResult,
    embeddings_key,
    get_embeddings,
    get_stats,
    stats_key,
)
from analysis.urlstate import UPLOAD_PREFIX, UrlState

STATE = "ds_state"
WRITTEN = "ds_written"
NOTES = "ds_notes"
UPLOADS = "ds_uploads"
MEMO = "ds_embeddings_memo"
TRUST = "ds_trust_remote_code"
APPROVED = "ds_compute_approved"
# Work started without asking, in texts x million parameters: all-MiniLM-L6-v2 (22.7M) on the
# default corpus (1,629 texts) is 37k; all-mpnet-base-v2 (110M) on it is 178k, minutes on a CPU.
AUTO_COMPUTE_BUDGET = 60_000
OTHER = "__other__"
_MEMO_SIZE = 2

PAGE_OVERVIEW = "pages/overview.py"
PAGE_EXPLORE = "pages/explore.py"
PAGE_DIMENSION = "pages/dimension.py"
PAGE_COMPARE = "pages/compare.py"
PAGE_CORPUS = "pages/corpus.py"
PAGE_DIAGNOSIS = "pages/diagnosis.py"
PAGE_GEOMETRY = "pages/geometry.py"
PAGE_SELECTION = "pages/selection.py"
PAGE_LANGUAGES = "pages/languages.py"


# --- state and URL -------------------------------------------------------------------------------


def uploads() -> dict[str, Corpus]:
    """This session's uploaded corpora by display name."""
    return st.session_state.setdefault(UPLOADS, {})


def builtin_names() -> list[str]:
    return [info.name for info in builtin_corpora() if info.available]


def state() -> UrlState:
    return st.session_state.get(STATE) or UrlState()


def _query_dict() -> dict[str, str]:
    return {key: st.query_params.get(key) for key in st.query_params.keys()}


def sync_from_url() -> None:
    """Adopt the URL's parameters when they are new to this session (see the module docstring)."""
    params = _query_dict()
    first = STATE not in st.session_state
    if first or (params and params != st.session_state.get(WRITTEN)):
        parsed, notes = urlstate.parse(params, corpora=builtin_names(), uploaded=uploads().keys())
        parsed, notes = _apply_public_limits(parsed, notes)
        st.session_state[STATE] = parsed
        st.session_state[NOTES] = notes
        for key in [k for k in st.session_state.keys() if isinstance(k, str) and k.startswith("w_")]:
            del st.session_state[key]  # widgets start again from the new state
    write_url()


def _apply_public_limits(parsed: UrlState, notes: list[str]) -> tuple[UrlState, list[str]]:
    """In a public demo a shared link may name models it does not offer: fall back, and say so."""
    rules = policy()
    if not rules.public:
        return parsed, notes
    offered = [info.short_name for info in CATALOG if info.hub_id in rules.allowed_models]
    notes = list(notes)
    changes: dict[str, Any] = {}
    if parsed.model not in offered:
        notes.append(f"This public demo offers only {', '.join(offered)}; showing {offered[0]} instead.")
        changes["model"] = offered[0]
    kept = tuple(m for m in parsed.models if m in offered)
    if kept != tuple(parsed.models):
        notes.append(f"Left out models this public demo does not offer; it offers {', '.join(offered)}.")
        changes["models"] = kept
    return (dataclasses.replace(parsed, **changes) if changes else parsed), notes


def write_url() -> None:
    params = urlstate.to_params(state())
    if params != _query_dict():
        st.query_params.from_dict(params)
    st.session_state[WRITTEN] = params


def update(**changes: Any) -> None:
    """Change the state, mirror it into the URL, and drop notes about the old URL."""
    new = state().with_(**changes)
    if new != state():
        st.session_state[STATE] = new
        st.session_state[NOTES] = []
        write_url()


def set_widget(field: str, value: Any) -> None:
    """For callbacks: point a bound widget (and so the state) at ``value``."""
    st.session_state[f"w_{field}"] = value
    update(**{field: value})


def bind(
    field: str,
    widget: Callable[..., Any],
    label: str,
    *args: Any,
    to_widget: Callable[[Any], Any] = lambda v: v,
    from_widget: Callable[[Any], Any] = lambda v: v,
    **kwargs: Any,
) -> Any:
    """Render ``widget`` bound to the state field ``field``; returns the field's (new) value."""
    key = f"w_{field}"
    if key not in st.session_state:
        st.session_state[key] = to_widget(getattr(state(), field))
    value = from_widget(widget(label, *args, key=key, **kwargs))
    if value != getattr(state(), field):
        update(**{field: value})
    return getattr(state(), field)


def link_params(**changes: Any) -> dict[str, str]:
    """Query parameters for a ``st.page_link`` that keeps the current state plus ``changes``."""
    return urlstate.to_params(state().with_(**changes))


def show_notes() -> None:
    for note in st.session_state.get(NOTES, []):
        st.warning(note, icon=":material/link_off:")


# --- sidebar -------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every page needs: the state, the model spec, the corpus and the trust flag."""

    state: UrlState
    model: str
    corpus: Corpus
    trust_remote_code: bool

    @property
    def view(self) -> str:
        return self.state.view


def _availability() -> dict[str, str]:
    """Catalog short name -> "" when it can be loaded here, else the reason."""
    return {a.info.short_name: ("" if a.available else a.where) for a in list_models()}


def available_models() -> list[str]:
    return [name for name, reason in _availability().items() if not reason]


def _model_label(availability: dict[str, str]) -> Callable[[str], str]:
    def label(name: str) -> str:
        if name == OTHER:
            return "Other: a hub id or a local folder…"
        info = catalog_info(name)
        text = f"{name} · {info.dimension} dims" if info else name
        return text + (" · not available here" if availability.get(name) else "")

    return label


def _corpus_label(name: str) -> str:
    if name.startswith(UPLOAD_PREFIX):  # pure (no session state): AppTest calls it outside a run
        return f"Uploaded: {name[len(UPLOAD_PREFIX):]}"
    titles = {info.name: info.title for info in builtin_corpora()}
    return titles.get(name, name)


def sidebar() -> Context:
    """The shared sidebar: model, corpus and view, each bound to the URL. Returns the context."""
    availability = _availability()
    rules = policy()
    catalog_names = [info.short_name for info in CATALOG if not rules.public or info.hub_id in rules.allowed_models]
    sb = st.sidebar
    sb.markdown("#### Model")
    current = state().model
    if rules.public and current not in catalog_names:  # not reachable through sync_from_url; a guard
        update(model=catalog_names[0])
        current = catalog_names[0]
    choice_key, other_key = "w_model_choice", "w_model_other"
    if choice_key not in st.session_state:
        st.session_state[choice_key] = current if current in catalog_names else OTHER
    if other_key not in st.session_state:
        st.session_state[other_key] = "" if current in catalog_names else current
    choice = sb.selectbox(
        "Model", catalog_names + ([] if rules.public else [OTHER]), key=choice_key, format_func=_model_label(availability),
        help="Catalog models, or any sentence-transformers model by hub id or folder.",
    )
    if choice == OTHER:
        typed = sb.text_input(
            "Hub id or folder", key=other_key, placeholder="org/name or /path/to/model",
            help="A Hugging Face hub id (needs a network unless cached) or an absolute folder path.",
        ).strip()
        problem = urlstate.model_problem(typed) if typed else None
        if problem:
            sb.error(f"{problem.capitalize()}.")
        elif typed:
            update(model=urlstate.canonical_model(typed))
        else:
            sb.info(f"Type a hub id or a folder. Still showing {state().model}.")
    else:
        update(model=choice)
    if availability.get(state().model):
        sb.caption(f"Not available here: {availability[state().model]}.")
    info = catalog_info(state().model)
    trust = False
    if info is not None and info.needs_trust_remote_code:
        trust = sb.checkbox(
            "Allow this model's custom code", key=TRUST,
            help="This model runs Python code from its hub repository (trust_remote_code).",
        )

    sb.markdown("#### Corpus")
    names = builtin_names() + [UPLOAD_PREFIX + name for name in uploads()]
    if state().corpus not in names:
        update(corpus=DEFAULT_CORPUS if DEFAULT_CORPUS in names else names[0])
    bind("corpus", sb.selectbox, "Corpus", names, format_func=_corpus_label)
    sb.page_link(PAGE_CORPUS, label="Browse or upload corpora", icon=":material/upload_file:")

    sb.markdown("#### Statistics")
    bind(
        "view", sb.radio, "View", list(urlstate.VIEWS), horizontal=True,
        format_func=lambda v: {"normalized": "normalized", "raw": "raw (before Normalize)"}[v],
        help="Normalized: unit-length vectors, what the model returns. Raw: the pooled vector before "
        "the model's own Normalize step. Dead dimensions are always judged on the normalized view.",
    )
    return Context(state(), state().model, corpus_for(state().corpus), trust)


def corpus_for(name: str) -> Corpus:
    if name.startswith(UPLOAD_PREFIX):
        found = uploads().get(name[len(UPLOAD_PREFIX):])
        if found is not None:
            return found
        name = DEFAULT_CORPUS
    return load_builtin_corpus(name)


def ensure_navigation() -> None:
    """Make sure this run goes through app.py's ``st.navigation``, not Streamlit's legacy mode.

    Streamlit starts in its v1 multipage mode whenever a folder named ``pages/`` sits next to the
    entry point, and leaves it only once ``st.navigation`` has run. Until then a request for a
    sub-page (the first request to a fresh server, or every ``AppTest.switch_page``) executes the
    page file alone: no page config, no sidebar, a navigation menu listing every file. When that
    happens, switch the flag off and rerun: the rerun goes through app.py and its navigation.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without the legacy mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def context() -> Context:
    """The context the sidebar computed in this run (every page calls this first)."""
    ensure_navigation()
    ctx = st.session_state.get("ds_context")
    if ctx is None:  # cannot happen through app.py; keeps a page usable on its own
        sync_from_url()
        ctx = sidebar()
    return ctx


# --- computation ---------------------------------------------------------------------------------


def policy() -> Policy:
    """Private (everything open) or public demo limits, from DIMSCOPE_PUBLIC / DIMSCOPE_CONFIG."""
    return current_policy()


def resolve(model: str, *, trust: bool = False) -> ResolvedModel:
    """resolve_model under the deployment policy (public mode: allow-listed models only)."""
    return policy().resolve(model, allow_trust_remote_code=trust)


class Progress:
    """A progress callback that draws nothing until real work starts (a cache hit stays silent)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or (self.bar is None and done >= total):
            return
        if self.bar is None:
            self.bar = st.progress(0.0, text=f"{self.label}: loading the model…")
        self.bar.progress(min(1.0, done / total), text=f"{self.label}: encoded {done:,} of {total:,} texts")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.empty()
            self.bar = None


def load_stats(model: str, corpus: Corpus, *, trust: bool = False) -> StatsResult:
    """Statistics from the disk cache, or computed with a progress bar. Raises DimScopeError."""
    resolved = resolve(model, trust=trust)
    progress = Progress(f"{resolved.name} on {corpus.name}")
    try:
        return get_stats(resolved, corpus, progress=progress, time_budget_s=policy().encode_budget_seconds)
    finally:
        progress.close()


def load_embeddings(model: str, corpus: Corpus, *, trust: bool = False) -> EmbeddingResult:
    """Raw embeddings, remembered for this session only (keyed by model fingerprint and corpus hash)."""
    resolved = resolve(model, trust=trust)
    memo: dict[tuple[str, str], EmbeddingResult] = st.session_state.setdefault(MEMO, {})
    key = (resolved.fingerprint, corpus.content_hash)
    if key in memo:
        return memo[key]
    progress = Progress(f"{resolved.name} on {corpus.name}")
    try:
        result = get_embeddings(resolved, corpus, progress=progress, time_budget_s=policy().encode_budget_seconds)
    finally:
        progress.close()
    while len(memo) >= _MEMO_SIZE:
        memo.pop(next(iter(memo)))
    memo[key] = result
    return result


def pending_reason(model: str, corpus: Corpus, *, trust: bool = False) -> str | None:
    """None when a model's statistics can be shown right away: already cached (or computable from
    cached embeddings), cheap to compute, or approved in this session. Otherwise a short estimate
    of the work, for a page to ask before starting it. Raises DimScopeError for unloadable models."""
    resolved = resolve(model, trust=trust)
    store, options = default_store(), EncodeOptions()
    if all(stats_key(resolved, corpus, options, view) in store for view in ("raw", "normalized")):
        return None
    if embeddings_key(resolved, corpus, options) in store:
        return None
    if (resolved.fingerprint, corpus.content_hash) in st.session_state.get(APPROVED, set()):
        return None
    millions = resolved.info.parameters_millions if resolved.info else 110.0
    if len(corpus) * millions <= AUTO_COMPUTE_BUDGET:
        return None
    return (f"{len(corpus):,} texts through a {millions:.0f}M-parameter model, which can take minutes on a CPU; "
            "the result is cached for every later visit")


def approve(model: str, corpus: Corpus, trust: bool = False) -> None:
    """Callback: allow computing ``model`` on ``corpus`` in this session."""
    resolved = resolve(model, trust=trust)
    st.session_state.setdefault(APPROVED, set()).add((resolved.fingerprint, corpus.content_hash))


def stats_or_stop(ctx: Context) -> StatsResult:
    """The page guard: statistics, or an error with the fix and a stopped page."""
    try:
        result = load_stats(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    except DimScopeError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    for warning in result.warnings:
        st.caption(f":material/warning: {warning}")
    return result


def embeddings_or_stop(ctx: Context) -> EmbeddingResult:
    try:
        return load_embeddings(ctx.model, ctx.corpus, trust=ctx.trust_remote_code)
    except DimScopeError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()


def plot(fig: Any, **kwargs: Any) -> Any:
    """Every chart goes through here: Streamlit's theme (light or dark), full width."""
    return st.plotly_chart(fig, theme="streamlit", width="stretch", **kwargs)
