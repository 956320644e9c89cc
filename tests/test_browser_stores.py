"""A vector store on the Corpus page, in a real browser: `streamlit run app.py` and Debian's Chromium.

Private mode: the user types a LanceDB store form (a table written by lancedb in tmp from
all-MiniLM-L6-v2's embeddings of about 400 held-out WordNet glosses), presses Enter, and clicks to
Overview and to Dimension detail, which show the model's dead dimensions 127, 223 and 319; the
store's files keep every byte. Public mode: the field is absent, and a link naming the store (as
embeddings, or as a bare store form) is refused with one line while the sidebar keeps the default
corpus. Screenshots under artifacts/screenshots/stores/ (git-ignored).
"""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

import pytest

from benchmarks import load_test
from tests.helpers import held_out_glosses
from tests.test_vector_stores import HELD_OUT_SEED, folder_digest, write_lance

pytestmark = pytest.mark.slow  # encodes 400 texts, then two Streamlit servers and a browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots" / "stores"
FIELD = "Vector store on this server"
WAIT_MS = 300_000  # a script run on a shared 2-core box, statistics included


@pytest.fixture(scope="module")
def store(tmp_path_factory, minilm) -> Path:
    from sentence_transformers import SentenceTransformer

    texts = held_out_glosses(9, seed=HELD_OUT_SEED)  # the CLI's acceptance set: dead dims 127, 223, 319
    embeddings = SentenceTransformer(str(minilm.path), device="cpu").encode(texts)
    return write_lance(tmp_path_factory.mktemp("browser-store") / "lance", "glosses", embeddings, text=texts)


def _settle(page, timeout_s: float = 300) -> None:
    """Wait until Streamlit stops running the script (the status widget disappears)."""
    page.wait_for_timeout(500)
    for _ in range(int(timeout_s * 4)):
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        page.wait_for_timeout(250)
    raise AssertionError("the page kept running for too long")


def _no_exception(page, where: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, (where, page.locator("body").inner_text()[:2000])


def _browser(playwright):
    assert Path(load_test.CHROMIUM).exists() or shutil.which("chromium"), "Chromium is missing (scripts/install-dev.sh)"
    browser = playwright.chromium.launch(executable_path=load_test.CHROMIUM, headless=True, args=load_test.LAUNCH_ARGS)
    return browser, browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()


def _open(page, url: str, heading: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=180_000)
    _settle(page)


def _nav(page, base: str, url: str) -> None:
    page.locator(f'[data-testid="stSidebarNav"] a[href="{base}/{url}"]').first.click()
    _settle(page)


def test_a_typed_store_is_what_every_page_shows_in_private_mode(store, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = folder_digest(store)
    proc, base = load_test.start_server(tmp_path / "cache", log=tmp_path / "server.log")
    try:
        with sync_playwright() as playwright:
            browser, page = _browser(playwright)
            _open(page, f"{base}/corpus", "Corpus")
            field = page.get_by_label(FIELD, exact=True)
            field.fill(f"lancedb:{store}#glosses")
            field.press("Enter")
            _settle(page)
            name = "lancedb:lance#glosses"
            expect(page.get_by_text(f"{name} is what every page analyses now.")).to_be_visible(timeout=WAIT_MS)
            _no_exception(page, "corpus")
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar).to_contain_text(f"Your vectors from {name}")
            # The whole store section in one picture: a tall window (Streamlit scrolls its own pane,
            # so a full-page shot is one window high), the field left without focus.
            field.evaluate("element => element.blur()")
            page.set_viewport_size({"width": 1440, "height": 2400})
            page.get_by_role("heading", name="Your vector store").scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(SCREENSHOTS / "corpus-store-field.png"), full_page=True)
            page.set_viewport_size({"width": 1440, "height": 1000})

            _nav(page, base, "")
            expect(page.get_by_text("Dead here: 127, 223, 319.")).to_be_visible(timeout=WAIT_MS)
            _no_exception(page, "overview")
            page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
            assert "corpus=vectors%3Alancedb%3Alance%23glosses" in page.url or "corpus=vectors:lancedb" in page.url
            page.screenshot(path=str(SCREENSHOTS / "overview-on-store.png"), full_page=True)

            _nav(page, base, "dimension")
            for dim in ("127", "223", "319"):  # the dead dimensions, one button each
                expect(page.get_by_role("button", name=dim, exact=True)).to_be_visible(timeout=WAIT_MS)
            _no_exception(page, "dimension")
            expect(sidebar).to_contain_text(f"Your vectors from {name}")
            page.screenshot(path=str(SCREENSHOTS / "dimension-on-store.png"), full_page=True)
            browser.close()
    finally:
        load_test.stop_server(proc)
    assert folder_digest(store) == before  # read, never written


def test_a_public_visitor_has_no_field_and_no_link_reaches_a_store(store, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    proc, base = load_test.start_server(tmp_path / "cache", public=True, log=tmp_path / "server.log")
    try:
        with sync_playwright() as playwright:
            browser, page = _browser(playwright)
            _open(page, f"{base}/corpus", "Corpus")
            _no_exception(page, "corpus")
            assert (
                page.get_by_label(FIELD, exact=True).count() == 0
                and page.get_by_text(FIELD).count() == 0
                and page.get_by_text("Your vector store").count() == 0
            )
            for value in (f"vectors:lancedb:{store}#glosses", f"lancedb:{store}#glosses"):
                _open(page, f"{base}/?corpus={urllib.parse.quote(value, safe='')}", "DimScope")
                refusal = page.get_by_text("this public demo never reads a vector store on its server")
                expect(refusal).to_have_count(1, timeout=WAIT_MS)
                _no_exception(page, value)
                sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
                assert "Your vectors" not in sidebar and "lancedb" not in sidebar, sidebar
                assert "lancedb" not in urllib.parse.unquote(page.url)  # the state fell back: the link is gone
            page.screenshot(path=str(SCREENSHOTS / "public-link-refused.png"), full_page=True)
            browser.close()
    finally:
        load_test.stop_server(proc)
