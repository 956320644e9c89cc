"""The dashboard's state: the URL <-> one validated :class:`UrlState` per session, and widget binding.

State flow on every run
-----------------------
1. :func:`sync_from_url` reads ``st.query_params``. On the first run of a session, or when the
   URL holds parameters this session did not write (a shared link, a ``st.page_link`` with
   query parameters), they are validated by :func:`urlstate.parse` into the session's
   :class:`UrlState`; notes for bad values are kept and shown.
2. Widgets are bound to state fields with :func:`bind`: a widget starts from the state, and a
   change updates the state and rewrites the URL (only non-default values). Only values the URL
   parser reads back unchanged reach the state (see :func:`bind` for why a widget may hold others).
3. Uploaded corpora and embeddings live in ``st.session_state`` only (see :func:`uploads` and
   :func:`vector_uploads`), and so do the retrieval pairs mapped from them (see :func:`pair_uploads`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypedDict

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analysis.corpora import Corpus, RetrievalTask, builtin_corpora
from analysis.models import CATALOG
from analysis.vectors import VectorSource
from analysis.wording import plain
from dashboard import urlstate
from dashboard.policy import current_policy
from dashboard.selection import Selection
from dashboard.urlstate import UrlState

STATE = "ds_state"
WRITTEN = "ds_written"
NOTES = "ds_notes"
UPLOADS = "ds_uploads"
VECTOR_UPLOADS = "ds_vector_uploads"
PAIR_UPLOADS = "ds_pair_uploads"
BOUND_ON = "ds_bound_on"  # widget key -> the page whose widget last showed it
WIDGET_PREFIX = "w_"  # the key of a widget bound to a state field: see widget_key


def uploads() -> dict[str, Corpus]:
    """This session's uploaded corpora by display name."""
    return st.session_state.setdefault(UPLOADS, {})


def vector_uploads() -> dict[str, VectorSource]:
    """This session's uploaded embeddings by display name (each is a corpus and a model at once)."""
    return st.session_state.setdefault(VECTOR_UPLOADS, {})


def pair_uploads() -> dict[str, RetrievalTask]:
    """This session's uploads mapped to a query and a document column, by the upload's display name."""
    return st.session_state.setdefault(PAIR_UPLOADS, {})


def builtin_names() -> list[str]:
    return [info.name for info in builtin_corpora() if info.available]


def state() -> UrlState:
    return st.session_state.get(STATE) or UrlState()


def _query_dict() -> dict[str, str]:
    return {key: st.query_params[key] for key in st.query_params.keys()}


def sync_from_url() -> None:
    """Adopt the URL's parameters when they are new to this session (see the module docstring)."""
    params = _query_dict()
    first = STATE not in st.session_state
    if first or (params and params != st.session_state.get(WRITTEN)):
        parsed, notes = urlstate.parse(params, **_known_corpora())
        parsed, notes = _apply_public_limits(parsed, notes)
        st.session_state[STATE] = parsed
        st.session_state[NOTES] = notes
        for key in [k for k in st.session_state.keys() if isinstance(k, str) and k.startswith(WIDGET_PREFIX)]:
            del st.session_state[key]  # widgets start again from the new state
    write_url()


class KnownCorpora(TypedDict):
    """The corpus names a URL may name, as :func:`urlstate.parse` and :func:`urlstate.accepts` take them."""

    corpora: list[str]
    uploaded: list[str]
    public: bool


def _known_corpora() -> KnownCorpora:
    """The corpus names a URL may name in this session, as :func:`urlstate.parse` takes them."""
    own = [str(Selection.vectors(name)) for name in vector_choices()]
    return {"corpora": builtin_names() + own, "uploaded": list(uploads()), "public": current_policy().public}


def vector_choices() -> list[str]:
    """The names of this session's embeddings a page may analyse. On a public demo, only what a
    visitor uploaded: nothing read from the server's disk (as a store is in private mode) is a choice."""
    public = current_policy().public
    return [name for name, source in vector_uploads().items() if not public or source.data is not None]


def _apply_public_limits(parsed: UrlState, notes: list[str]) -> tuple[UrlState, list[str]]:
    """In a public demo a shared link may name models it does not offer: fall back, and say so."""
    rules = current_policy()
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


def widget_key(field: str) -> str:
    """The session key of the widget :func:`bind` draws for the state field ``field``."""
    return f"{WIDGET_PREFIX}{field}"


def widget_value(field: str) -> Any:
    """What the widget bound to ``field`` holds now (None before it is drawn). It can run ahead
    of :func:`state`: a choice made in this run is in the widget before the widget is drawn."""
    return st.session_state.get(widget_key(field))


def set_widget(field: str, value: Any) -> None:
    """For callbacks: point a bound widget (and so the state) at ``value``."""
    st.session_state[widget_key(field)] = value
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
    """Render ``widget`` bound to the state field ``field``; returns the field's (new) value, which
    is always one the URL parser accepts.

    The widget starts from the state whenever what its key holds is not this page's own choice:

    - nothing yet (first run, or Streamlit dropped a widget that was not drawn in the last run);
    - another page's widget: Streamlit gives widgets on different pages different identities even
      under one key, so a widget shared by two pages (the spread scale on Explore and Compare)
      would otherwise start empty or on its first option when the other page opens, and that
      value would replace the state (``scale=None``, ``draws=2``);
    - a value the URL would not read back (``None`` from a control that was deselected): the
      control shows the state's value again, so "no selection" is never a state.

    A value the widget returns that the URL would not read back never reaches the state either.
    """
    key = widget_key(field)
    corpora = _known_corpora()
    current = getattr(state(), field)
    page = _page()
    shown_on = st.session_state.setdefault(BOUND_ON, {})
    if (
        key not in st.session_state
        or shown_on.get(key) != page
        or not urlstate.accepts(field, from_widget(st.session_state[key]), **corpora)
    ):
        st.session_state[key] = to_widget(current)
    shown_on[key] = page
    value = from_widget(widget(label, *args, key=key, **kwargs))
    if value != current and urlstate.accepts(field, value, **corpora):
        update(**{field: value})
    return getattr(state(), field)


def _page() -> str:
    """The page this run draws (Streamlit's own identity for it; "" outside a script run)."""
    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx is not None else ""


def link_params(**changes: Any) -> dict[str, str]:
    """Query parameters for a ``st.page_link`` that keeps the current state plus ``changes``."""
    return urlstate.to_params(state().with_(**changes))


def show_notes() -> None:
    for note in st.session_state.get(NOTES, []):
        st.warning(plain(note), icon=":material/link_off:")  # notes quote the link: text only
