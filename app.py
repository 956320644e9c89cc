"""DimScope: look inside sentence-embedding models one dimension at a time.

Run with ``streamlit run app.py``. This file only sets up the page, the navigation and the
shared sidebar; every page lives in ``pages/`` and every computation in ``analysis/``.
"""

import streamlit as st

from pages import _common as common

common.ensure_navigation()
st.set_page_config(
    page_title="DimScope",
    page_icon=":material/view_column:",
    layout="wide",
    menu_items={"About": "DimScope: per-dimension statistics of sentence-embedding models."},
)

navigation = st.navigation(
    {
        "DimScope": [
            st.Page(common.PAGE_OVERVIEW, title="Overview", icon=":material/home:", default=True),
        ],
        "Analyse": [
            st.Page(common.PAGE_EXPLORE, title="Explore a model", icon=":material/grid_on:", url_path="explore"),
            st.Page(common.PAGE_DIMENSION, title="Dimension detail", icon=":material/query_stats:",
                    url_path="dimension"),
            st.Page(common.PAGE_COMPARE, title="Compare models", icon=":material/compare_arrows:", url_path="compare"),
        ],
        "Insight": [
            st.Page(common.PAGE_DIAGNOSIS, title="Why dimensions die", icon=":material/biotech:", url_path="diagnosis"),
            st.Page(common.PAGE_GEOMETRY, title="Geometry", icon=":material/scatter_plot:", url_path="geometry"),
            st.Page(common.PAGE_SELECTION, title="Which dimensions matter", icon=":material/filter_list:",
                    url_path="selection"),
            st.Page(common.PAGE_LANGUAGES, title="Languages", icon=":material/translate:", url_path="languages"),
        ],
        "Data": [
            st.Page(common.PAGE_CORPUS, title="Corpus", icon=":material/table_rows:", url_path="corpus"),
        ],
    }
)

common.sync_from_url()
st.session_state["ds_context"] = common.sidebar()
common.show_notes()
navigation.run()
