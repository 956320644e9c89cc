"""DimScope: look inside sentence-embedding models one dimension at a time.

Run with ``streamlit run app.py``. This file only sets up the page, the navigation and the
shared sidebar; every page lives in ``pages/``, what pages share in ``dashboard/``, and every
computation in ``analysis/``.
"""

from pathlib import Path

import streamlit as st

import dashboard as ui

ui.ensure_navigation()
ui.limit_uploads()  # public mode: the server receives no file larger than the policy takes
st.set_page_config(
    page_title="DimScope",
    # A file served by this server: a ":material/...:" icon makes every browser fetch the favicon
    # from fonts.gstatic.com, and a hosted demo must not send its visitors to third parties.
    page_icon=str(Path(__file__).parent / "dashboard" / "favicon.png"),
    layout="wide",
    menu_items={"About": "DimScope: per-dimension statistics of sentence-embedding models."},
)

navigation = st.navigation(
    {
        "DimScope": [
            st.Page(ui.PAGE_OVERVIEW, title="Overview", icon=":material/home:", default=True),
        ],
        "Analyse": [
            st.Page(ui.PAGE_EXPLORE, title="Explore a model", icon=":material/grid_on:", url_path="explore"),
            st.Page(ui.PAGE_DIMENSION, title="Dimension detail", icon=":material/query_stats:", url_path="dimension"),
            st.Page(ui.PAGE_COMPARE, title="Compare models", icon=":material/compare_arrows:", url_path="compare"),
        ],
        "Insight": [
            st.Page(ui.PAGE_DIAGNOSIS, title="Why dimensions die", icon=":material/biotech:", url_path="diagnosis"),
            st.Page(ui.PAGE_GEOMETRY, title="Geometry", icon=":material/scatter_plot:", url_path="geometry"),
            st.Page(
                ui.PAGE_SELECTION, title="Which dimensions matter", icon=":material/filter_list:", url_path="selection"
            ),
            st.Page(ui.PAGE_LANGUAGES, title="Languages", icon=":material/translate:", url_path="languages"),
            st.Page(ui.PAGE_COMPRESS, title="What can I drop?", icon=":material/compress:", url_path="drop"),
        ],
        "Data": [
            st.Page(ui.PAGE_CORPUS, title="Corpus", icon=":material/table_rows:", url_path="corpus"),
        ],
    }
)

ui.sync_from_url()
st.session_state[ui.CONTEXT] = ui.sidebar()
ui.show_notes()
navigation.run()
