"""Moving between pages under AppTest: a control that two pages share keeps the state's value.

Streamlit gives widgets on different pages different identities even under one key, so the second
page's control used to start empty (a segmented control: ``scale=None``, then OptionError) or on its
first option (a select slider: ``draws=2``), and that value replaced the state and went into the URL.
:func:`dashboard.state.bind` now starts a widget from the state whenever its key holds another
page's value or one the URL would not read back.

The first tests use a two-page app written to a temporary folder (the binding alone, no model); the
last one walks the real pages from Explore to Compare and back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import APPTEST_TIMEOUT, ROOT, ok, open_page

MAIN = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import streamlit as st
import dashboard as ui

navigation = st.navigation([st.Page("a.py", url_path="a", default=True), st.Page("b.py", url_path="b")])
ui.sync_from_url()
navigation.run()
"""
# Both pages bind the same fields with other labels and help, as Explore and Compare do.
PAGE = """
import streamlit as st
import dashboard as ui

st.write("{name}: scale=" + str(ui.bind("scale", st.{control}, "Scale on {name}", ["as_is", "sqrt_d", "share"]{req})))
st.write("{name}: draws=" + str(ui.bind("draws", st.select_slider, "Draws on {name}", [2, 3, 5, 10])))
"""


@pytest.fixture
def two_pages(tmp_path: Path) -> AppTest:
    (tmp_path / "main.py").write_text(MAIN)
    (tmp_path / "a.py").write_text(PAGE.format(name="A", control="segmented_control", req=", required=True"))
    # B's control lets people deselect (pills without required): "none" must not become a state.
    (tmp_path / "b.py").write_text(PAGE.format(name="B", control="pills", req=""))
    at = AppTest.from_file(str(tmp_path / "main.py"), default_timeout=APPTEST_TIMEOUT)
    at.run()
    ok(at)
    return at


def shown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def params(at: AppTest) -> dict[str, str]:
    """The URL's query parameters, one value each (AppTest keeps them as lists)."""
    return {key: value[-1] if isinstance(value, list) else value for key, value in at.query_params.items()}


def test_a_shared_control_keeps_the_state_across_pages(two_pages):
    at = two_pages
    assert shown(at) == ["A: scale=as_is", "A: draws=5"]
    at.switch_page("b.py").run()
    ok(at)
    assert shown(at) == ["B: scale=as_is", "B: draws=5"]
    assert at.pills[0].value == "as_is" and at.select_slider[0].value == 5
    assert params(at) == {}  # navigating changed nothing
    # A change on one page is what the other page shows, and what the URL says.
    at.pills[0].set_value("share").run()
    at.select_slider[0].set_value(10).run()
    assert shown(at) == ["B: scale=share", "B: draws=10"]
    at.switch_page("a.py").run()
    ok(at)
    assert shown(at) == ["A: scale=share", "A: draws=10"]
    assert at.segmented_control[0].value == "share" and at.select_slider[0].value == 10
    assert params(at) == {"scale": "share", "draws": "10"}
    # Back and forth again: still the same.
    at.switch_page("b.py").run()
    assert shown(at) == ["B: scale=share", "B: draws=10"]


def test_deselecting_a_control_keeps_the_state_and_the_url_clean(two_pages):
    at = two_pages
    at.switch_page("b.py").run()
    at.pills[0].set_value("sqrt_d").run()
    assert shown(at)[0] == "B: scale=sqrt_d"
    at.pills[0].set_value(None).run()  # the pill clicked off
    ok(at)
    assert shown(at)[0] == "B: scale=sqrt_d"
    at.run()  # the next run shows the kept value in the control itself
    assert at.pills[0].value == "sqrt_d"
    assert params(at) == {"scale": "sqrt_d"}


@pytest.mark.slow  # the real Explore and Compare pages (cached statistics)
def test_explore_to_compare_and_back_keeps_the_spread_scale(warm_cache_dir, monkeypatch):
    """The crash of issue 25: Explore -> Compare wrote scale=None and raised OptionError."""
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(warm_cache_dir))
    at = open_page("pages/explore.py")
    ok(at)
    (scale,) = [c for c in at.segmented_control if c.key == "w_scale"]
    assert scale.value == "as_is"
    at.switch_page("pages/compare.py").run()
    ok(at)
    assert params(at) == {}
    assert [c.value for c in at.segmented_control if c.key == "w_scale"] == ["as_is"]
    # A scale chosen on Compare is the one Explore shows.
    [c for c in at.segmented_control if c.key == "w_scale"][0].set_value("share").run()
    at.switch_page("pages/explore.py").run()
    ok(at)
    assert [c.value for c in at.segmented_control if c.key == "w_scale"] == ["share"]
    assert params(at) == {"scale": "share"}


def test_every_page_file_is_named_after_its_url():
    """A fresh server serves its first request by Streamlit's folder rules (a page per file in
    ``pages/``, found by file name) until app.py's ``st.navigation`` takes over and reruns it. A page
    whose file name differs from its ``url_path`` is not found on that first request, and the visitor
    lands on the overview (seen with the compress page as ``pages/compress.py`` at ``/drop``)."""
    from tests.helpers import app_pages

    pages = app_pages()
    assert len(pages) >= 10
    misnamed = [(file, url) for file, url in pages if url and Path(file).stem != url]
    assert misnamed == []
