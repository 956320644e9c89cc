"""Page paths, and the guard that keeps every run inside app.py's ``st.navigation``."""

from __future__ import annotations

import streamlit as st

from dashboard.sidebar import PAGE_CORPUS, Context, sidebar
from dashboard.state import sync_from_url

PAGE_OVERVIEW = "pages/overview.py"
PAGE_EXPLORE = "pages/explore.py"
PAGE_DIMENSION = "pages/dimension.py"
PAGE_COMPARE = "pages/compare.py"
PAGE_DIAGNOSIS = "pages/diagnosis.py"
PAGE_GEOMETRY = "pages/geometry.py"
PAGE_SELECTION = "pages/selection.py"
PAGE_LANGUAGES = "pages/languages.py"
PAGE_COMPRESS = "pages/drop.py"
CONTEXT = "ds_context"
__all__ = [
    "PAGE_COMPARE",
    "PAGE_CORPUS",
    "PAGE_DIAGNOSIS",
    "PAGE_DIMENSION",
    "PAGE_COMPRESS",
    "PAGE_EXPLORE",
    "PAGE_GEOMETRY",
    "PAGE_LANGUAGES",
    "PAGE_OVERVIEW",
    "PAGE_SELECTION",
    "context",
    "ensure_navigation",
]


def ensure_navigation() -> None:
    """Make sure this run goes through app.py's ``st.navigation``, not Streamlit's legacy mode.

    Streamlit starts in its v1 multipage mode whenever a folder named ``pages/`` sits next to the
    entry point, and leaves it only once ``st.navigation`` has run. Until then a request for a
    sub-page (the first request to a fresh server, or every ``AppTest.switch_page``) executes the
    page file alone: no page config, no sidebar, a navigation menu listing every file. When that
    happens, switch the flag off and rerun: the rerun goes through app.py and its navigation.

    Streamlit has no public switch for this (only ``st.navigation`` itself clears the flag, and it
    runs too late for such a run). tests/test_streamlit_pages_flag.py pins down every part of the
    flag relied on here, and says what to do when a Streamlit upgrade changes it.
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
    ctx = st.session_state.get(CONTEXT)
    if ctx is None:  # cannot happen through app.py; keeps a page usable on its own
        sync_from_url()
        ctx = sidebar()
    return ctx
