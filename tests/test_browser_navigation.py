"""Moving between pages the way people do: clicking the sidebar, in a real browser on a real server.

The other browser tests open each page by its URL, so none of them ever went from one page to
another, and Explore -> Compare crashed (issue 25: the spread-scale control came back empty, wrote
``scale=None`` into the URL and raised OptionError). Here one browser session clicks every sidebar
link in order, then every ordered pair of the main pages (a walk that takes each pair exactly once),
first on the default corpus and then on a corpus uploaded through the Corpus page's file input.

After every click: no exception, no traceback, no error box; the URL's query is what it was (moving
between pages changes no choice); and a new session opened on that URL shows the same view (the
same page, title and every control's value). For the default corpus that new session is a reload of
the tab, and the walk goes on from the reloaded page. An upload lives only in its session and never
travels in a link, so the uploaded walk checks its URL in a second tab: the same view except the
corpus, with the note that says to upload it again.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from urllib.parse import urlsplit

import pytest

from tests.test_browser_e2e import CHART_PAGES, browser, server, warm_cache  # noqa: F401 (fixtures)

# One server: the walk is about the dashboard, not about the hub (test_browser_e2e runs both).
offline_server = pytest.mark.parametrize("server", ["offline"], indirect=True)

# Sidebar links in their order: (page id, link text, page title).
SIDEBAR = [
    ("overview", "Overview", "DimScope"),
    ("explore", "Explore a model", "Explore a model"),
    ("dimension", "Dimension detail", "Dimension detail"),
    ("compare", "Compare models", "Compare models"),
    ("diagnosis", "Why dimensions die", "Why dimensions die"),
    ("geometry", "Geometry", "Geometry"),
    ("selection", "Which dimensions matter", "Which dimensions matter"),
    ("languages", "Languages", "Languages"),
    ("drop", "What can I drop?", "What can I drop?"),
    ("corpus", "Corpus", "Corpus"),
]
MAIN_PAGES = ["overview", "explore", "dimension", "compare", "drop"]
BY_ID = {page_id: (link, title) for page_id, link, title in SIDEBAR}
# A shared 2-core box runs other suites at the same time: a first encode of the default corpus with
# all-mpnet-base-v2 (Compare) takes minutes there. Every wait below is an auto-waiting expect().
RUN_TIMEOUT_MS = 600_000
SHOWN_TIMEOUT_MS = 60_000
UPLOAD = "walk_reviews.csv"

# Every control's label and shown value in the main area and the sidebar (the page links excluded).
VIEW_JS = """() => {
  const view = {};
  const label = (w) => (w.querySelector('[data-testid="stWidgetLabel"]')?.innerText || '').trim();
  const put = (w, value) => { const key = (w.closest('[data-testid="stSidebar"]') ? 'sidebar: ' : '') + label(w);
                              view[key] = value; };
  for (const w of document.querySelectorAll('[data-testid="stSelectbox"], [data-testid="stNumberInput"],'
                                            + ' [data-testid="stTextInput"]')) put(w, w.querySelector('input')?.value);
  for (const w of document.querySelectorAll('[data-testid="stMultiSelect"]'))
    put(w, [...w.querySelectorAll('[data-tag]')].map((t) => t.getAttribute('aria-label')).join(' | '));
  for (const w of document.querySelectorAll('[data-testid="stRadio"], [data-testid="stButtonGroup"]')) {
    const on = [...w.querySelectorAll('input:checked, [aria-checked="true"], [aria-pressed="true"]')];
    put(w, on.map((e) => (e.closest('label') || e).innerText.trim()).join(' | '));
  }
  for (const w of document.querySelectorAll('[data-testid="stSlider"]'))
    put(w, [...w.querySelectorAll('[data-testid="stSliderThumbValue"]')].map((s) => s.innerText.trim()).join(' | '));
  for (const w of document.querySelectorAll('[data-testid="stCheckbox"]')) put(w, w.querySelector('input')?.checked);
  return view;
}"""
# The view once the browser has drawn it: no element still loading its code (Streamlit's skeleton),
# none left over from the last run, and the same values on three polls in a row (a number input
# shows its minimum for a moment before its value).
SETTLED_VIEW_JS = (
    """() => {
  const now = JSON.stringify(("""
    + VIEW_JS
    + """)());
  const seen = window.__dimscopeView || (window.__dimscopeView = {last: null, same: 0});
  if (now === seen.last) seen.same += 1; else { seen.last = now; seen.same = 0; }
  if (seen.same < 3 || document.querySelector('[data-testid="stSkeleton"], [data-stale="true"]')) return false;
  window.__dimscopeView = null;
  return now;
}"""
)


def every_ordered_pair(nodes: list[str]) -> list[str]:
    """A walk that steps from a to b exactly once for every a != b (an Euler circuit of the complete
    directed graph: each node has as many ways in as out, so one exists), starting at nodes[0]."""
    unused = {a: [b for b in reversed(nodes) if b != a] for a in nodes}
    stack, walk = [nodes[0]], []
    while stack:
        if unused[stack[-1]]:
            stack.append(unused[stack[-1]].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def test_the_walk_takes_every_ordered_pair_once():
    walk = every_ordered_pair(MAIN_PAGES)
    steps = list(itertools.pairwise(walk))
    assert walk[0] == walk[-1] == "overview"
    assert len(steps) == len(set(steps)) == 20
    assert set(steps) == {(a, b) for a in MAIN_PAGES for b in MAIN_PAGES if a != b}


def _settled(page, page_id: str, where: str) -> dict:
    """Wait until ``page_id`` is drawn and its script has finished; fail on any exception or error box.
    Returns the view: the page's path and query, its title and every control's value."""
    from playwright.sync_api import expect

    _, title = BY_ID[page_id]
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", name=title, exact=True).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=RUN_TIMEOUT_MS
    )
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0, timeout=SHOWN_TIMEOUT_MS)
    failures = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    if page_id in CHART_PAGES:  # a chart, or the reason there is none
        expect(main.locator(".js-plotly-plot").first.or_(failures.first)).to_be_visible(timeout=SHOWN_TIMEOUT_MS)
    assert failures.count() == 0, f"{where}: {failures.first.inner_text()[:1500]}"
    controls = json.loads(page.wait_for_function(SETTLED_VIEW_JS, polling=100, timeout=SHOWN_TIMEOUT_MS).json_value())
    url = urlsplit(page.url)
    return {"path": url.path, "query": url.query, "title": title, "controls": controls}


def _differences(before: dict, after: dict) -> dict:
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def _click(page, page_id: str, where: str) -> dict:
    link, _ = BY_ID[page_id]
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=link, exact=True).click()
    return _settled(page, page_id, where)


def _walk(page, reload_check, shots, tag: str) -> None:
    """Every sidebar link in order, then every ordered pair of the main pages; checks after each click.

    A reload is checked once per page, in the sidebar walk. In the pairs walk each click must give the
    very URL and view that page had then (moving changes no choice), which a reload restores the same
    way: a new session reads only the URL. That halves the walk's time on a busy box."""
    start = urlsplit(page.url).query
    route = [("sidebar", page_id) for page_id, _, _ in SIDEBAR]
    route += [("pairs", page_id) for page_id in every_ordered_pair(MAIN_PAGES)]
    came_from, seen = "start", {}
    for phase, page_id in route:
        where = f"{tag}, {phase}: {came_from} -> {page_id}"
        began = time.monotonic()
        try:
            view = _click(page, page_id, where)
        except AssertionError:
            page.screenshot(path=str(shots / f"navigation-failed-{tag}.png"), full_page=True)
            raise
        clicked = time.monotonic()
        assert view["query"] == start, f"{where}: moving between pages changed the URL to ?{view['query']}"
        if page_id in seen:
            changed = _differences(seen[page_id]["controls"], view["controls"])
            assert not changed, f"{where}: other choices than on the last visit: {changed}"
            assert view == seen[page_id], where
        else:
            reload_check(view, page_id, where)
            seen[page_id] = view
        print(f"{where}: click {clicked - began:.1f} s, then {time.monotonic() - clicked:.1f} s")
        if (came_from, page_id) == ("explore", "compare"):
            page.screenshot(path=str(shots / f"compare-after-explore-{tag}.png"), full_page=True)
        came_from = page_id


@pytest.mark.slow  # a real Streamlit server and a real browser
@offline_server
def test_clicking_through_the_sidebar_on_the_default_corpus(browser, server):  # noqa: F811
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        page.goto(server.base + "/", wait_until="domcontentloaded")
        _settled(page, "overview", "default: first visit")

        def reload_in_place(view: dict, page_id: str, where: str) -> None:
            page.reload(wait_until="domcontentloaded")
            again = _settled(page, page_id, f"{where} (reloaded)")
            shown = {**again, "controls": None}
            assert shown == {**view, "controls": None}, f"{where}: the reloaded URL shows another page"
            assert again["controls"] == view["controls"], (
                f"{where}: the reloaded URL shows other choices: {_differences(view['controls'], again['controls'])}"
            )

        _walk(page, reload_in_place, server.screenshots, "default")
    finally:
        context.close()


@pytest.mark.slow
@offline_server
def test_clicking_through_the_sidebar_on_an_uploaded_corpus(browser, server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    from analysis.corpora import load_builtin_corpus

    english = load_builtin_corpus("chatterbot-english")
    # Every 12th text: 136 texts over all the corpus's topics (its file is sorted by topic).
    picked = list(zip(english.texts, english.labels, strict=True))[::12]
    assert len({label for _, label in picked}) > 10
    rows = ["body,topic"] + [f'"{text.replace(chr(34), "")}",{label}' for text, label in picked]
    upload = tmp_path / UPLOAD
    upload.write_text("\n".join(rows) + "\n", encoding="utf-8")
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page, second = context.new_page(), context.new_page()
    try:
        page.goto(server.base + "/corpus", wait_until="domcontentloaded")
        _settled(page, "corpus", "upload: the Corpus page")
        # The uploader by its label: which file input comes first in the page is not fixed while it renders.
        page.get_by_role("region", name="Corpus file").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            str(upload)
        )
        expect(page).to_have_url(re.compile(r"corpus=upload%3A" + re.escape(UPLOAD)), timeout=RUN_TIMEOUT_MS)
        _settled(page, "corpus", "upload: after the upload")
        sidebar_corpus = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Corpus")
        expect(sidebar_corpus.locator("input")).to_have_value(re.compile(re.escape(UPLOAD)))

        def reload_in_a_new_tab(view: dict, page_id: str, where: str) -> None:
            second.goto(page.url, wait_until="domcontentloaded")
            again = _settled(second, page_id, f"{where} (new tab)")
            expect(second.get_by_text("cannot travel in a link").first).to_be_visible(timeout=SHOWN_TIMEOUT_MS)
            corpus = "sidebar: Corpus"
            assert UPLOAD in view["controls"][corpus] and UPLOAD not in again["controls"][corpus], where
            # Everything but the corpus (and what depends on it: the query, the dimension counts) is the same.
            same = {k: v for k, v in view["controls"].items() if k != corpus and k in again["controls"]}
            assert same == {k: again["controls"][k] for k in same}, f"{where}: the URL restored another view"
            assert (again["path"], again["title"]) == (view["path"], view["title"]), where

        _walk(page, reload_in_a_new_tab, server.screenshots, "upload")
    finally:
        context.close()
