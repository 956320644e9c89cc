"""The first things app.py does on every run, before the heavy imports (not a page itself).

Only streamlit and the standard library are imported here, so that the browser gets its first
instructions while the server is still importing pandas, plotly and the analysis layer.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from pathlib import Path

import streamlit as st

BOOT_KEY = "ds_boot"
# A module app.py imports only after the prefetch: absent means this is the process's first run.
HEAVY_MODULE = "analysis.pipeline"
# Long enough for the server's event loop to send the prefetch before the heavy imports start.
FLUSH_PAUSE_S = 0.05


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


@functools.cache
def chart_renderer_chunk() -> str | None:
    """File name of the Streamlit front-end chunk that draws Plotly charts, or None if not found.

    Streamlit loads it (4.7 MB of JavaScript in 1.67) only when the first chart arrives, and on a
    2-core machine fetching and compiling it took ~2 s after the page title was drawn.
    """
    import streamlit as streamlit_package

    js_dir = Path(streamlit_package.__file__).parent / "static" / "static" / "js"
    found = [p.name for p in js_dir.glob("PlotlyChart.*.js") if re.fullmatch(r"PlotlyChart\.[\w-]+\.js", p.name)]
    return found[0] if len(found) == 1 else None


def prefetch_chart_renderer() -> None:
    """Ask the browser to load the chart renderer now, while the server is still working.

    The chunk is imported from the same URL Streamlit's own lazy import resolves to (next to the
    front end's entry module), so the browser evaluates it once and the first chart draws
    without waiting for it. The element is hidden. Without the chunk (another Streamlit build)
    this does nothing: charts still draw, only later.
    """
    chunk = chart_renderer_chunk()
    if chunk is None:
        return
    script = (
        "<script>(() => {"
        "const entry = document.querySelector('script[type=\"module\"][src*=\"/static/js/index.\"]');"
        f"if (entry) import(new URL({chunk!r}, entry.src).href).catch(() => {{}});"
        "})();</script>"
    )
    st.html(f"<style>.st-key-{BOOT_KEY} {{display: none}}</style>")
    with st.container(key=BOOT_KEY):
        st.html(script, unsafe_allow_javascript=True)
    if HEAVY_MODULE not in sys.modules:
        # The imports that follow hold the GIL for about a second, and the event loop sending
        # messages to the browser waits for it at every step: without this pause the prefetch
        # arrived together with the chart it was meant to precede.
        time.sleep(FLUSH_PAUSE_S)
