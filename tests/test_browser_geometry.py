"""The Geometry page's tables in a real browser: every column shows at the dashboard's default width.

Side by side, the before/after table of a post-processing preview got ~435 px of the 1440-px window
and needed ~530 (a 45-character metric label, then three numbers): its last columns ("whiten",
"change") sat behind a horizontal scroll bar. AppTest cannot see that; only a browser lays it out.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_browser_e2e import RENDER_MS, browser, server, warm_cache  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow  # a real Streamlit server and a real browser

# For each data grid: the scroller's visible width and the width its columns take.
GRID_WIDTHS_JS = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')].map((frame) => {
  const scroller = frame.querySelector('.dvn-scroller');
  return {visible: scroller.clientWidth, content: scroller.scrollWidth};
})"""


def _settled_widths(page) -> list[dict]:
    """The grids' widths once two reads 0.5 s apart agree (a grid sizes its columns after it appears)."""
    last = None
    for _ in range(40):
        now = page.evaluate(GRID_WIDTHS_JS)
        if now == last:
            return now
        last = now
        page.wait_for_timeout(500)
    raise AssertionError(f"the tables kept changing width: {last}")


CASES = [("whiten", 1440), ("all_but_the_top", 1440), ("standardize", 1440), ("whiten", 1280)]


@pytest.mark.parametrize("server", ["offline"], indirect=True)
@pytest.mark.parametrize("post,width", CASES)
def test_every_column_of_the_geometry_tables_shows(browser, server, post, width):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 1000})
    context.set_default_timeout(RENDER_MS)
    page = context.new_page()
    try:
        page.goto(f"{server.base}/geometry?post={post}", wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="Post-processing: before and after")).to_be_visible()
        expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
        frames = page.get_by_test_id("stDataFrame")
        expect(frames).to_have_count(2)
        expect(frames.last.locator(".dvn-scroller")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        grids = _settled_widths(page)
        assert len(grids) == 2 and all(g["content"] > 300 for g in grids), grids
        frames.last.scroll_into_view_if_needed()
        page.screenshot(path=str(server.screenshots / f"geometry-{post}-{width}.png"))
        hidden = [g for g in grids if g["content"] > g["visible"] + 1]
        assert not hidden, f"columns cut off at {width} px with {post}: {grids}"
    finally:
        context.close()
