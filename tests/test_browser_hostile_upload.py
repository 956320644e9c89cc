"""A hostile visitor of the public demo, in a real browser: what a file says is never markup.

`streamlit run app.py` in public mode on loopback, Debian's Chromium through Playwright. The visitor
uploads files whose name, column names, labels and texts are Markdown images, HTML tags and
``javascript:`` links, then opens every page of the navigation (read from app.py) on that upload.
The test fails on any request that leaves 127.0.0.1 (a Markdown image or an ``<img>`` the page
rendered would fetch its URL) and on any dialog (a script or a ``javascript:`` link that ran).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from benchmarks import load_test
from tests.helpers import app_pages

pytestmark = pytest.mark.slow  # a real Streamlit server and a real browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots" / "hostile"  # git-ignored

LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
EVIL = "http://evil.example"
# Payloads that fetch (images), run (script, handlers, javascript: links) or restyle (HTML, Markdown).
MARKUP = [
    f"![md]({EVIL}/md.png)",
    f"<img src={EVIL}/img.png onerror=alert(1)>",
    "<script>alert(2)</script>",
    "[click](javascript:alert(3))",
    '<a href="javascript:alert(4)">a</a> <b>bold</b> :red[red] $x^2$ **strong**',
    f"<svg onload=alert(5)></svg><iframe src={EVIL}/frame></iframe>",
]
# A file name cannot hold "/": "http:evil.example" is what a browser resolves to http://evil.example/.
FILE_NAME = "![f](http:evil.example) <img src=http:evil.example onerror=alert(6)> [j](javascript:alert(7)).csv"


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def no_text_column_file() -> bytes:
    """Only numbers under hostile headers: the Corpus page warns, naming the columns."""
    return _csv(MARKUP[:3], [[str(i), str(i * 2), str(i * 3)] for i in range(20)])


def hostile_corpus_file() -> bytes:
    """Texts, labels, an extra column and query -> passage pairs, each carrying the payloads."""
    header = ["text", "label", MARKUP[1], "question", "passage"]
    rows = [
        [
            f"Sentence {i} says {MARKUP[i % len(MARKUP)]} about the weather and food.",
            MARKUP[i % 3],
            MARKUP[(i + 1) % len(MARKUP)],
            f"What does {MARKUP[(i + 2) % len(MARKUP)]} say about item {i}?",
            f"Item {i}: {MARKUP[(i + 3) % len(MARKUP)]} is a passage.",
        ]
        for i in range(36)
    ]
    return _csv(header, rows)


def shown(locator) -> str:
    """The text a reader sees (the escaper's invisible word joiners dropped)."""
    return locator.inner_text().replace("\u2060", "")


def _settle(page, timeout_s: float = 300) -> None:
    """Wait until Streamlit stops running the script (the status widget disappears)."""
    page.wait_for_timeout(500)
    for _ in range(int(timeout_s * 4)):
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        page.wait_for_timeout(250)
    raise AssertionError("the page kept running for too long")


def _upload(page, data: bytes, name: str = FILE_NAME) -> None:
    page.get_by_role("region", name="Corpus file").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": data}
    )
    _settle(page)


def test_a_file_full_of_markup_is_shown_as_text_on_every_page(tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(load_test.CHROMIUM).exists() or shutil.which("chromium"), "Chromium is missing (scripts/install-dev.sh)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    proc, base = load_test.start_server(tmp_path / "cache", public=True, log=tmp_path / "server.log")
    left: list[str] = []
    dialogs: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=load_test.CHROMIUM, headless=True, args=load_test.LAUNCH_ARGS
            )
            context = browser.new_context(viewport={"width": 1440, "height": 1000})

            def guard(route) -> None:  # record, and never let it out
                if route.request.url.startswith(LOCAL):
                    route.continue_()
                else:
                    left.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(f"{base}/corpus", wait_until="domcontentloaded")
            page.get_by_role("heading", name="Corpus").first.wait_for(timeout=180_000)
            _settle(page)
            # The widget advertises the public cap for texts, not Streamlit's 200 MB.
            zone = page.get_by_role("region", name="Corpus file").inner_text()
            assert "10MB per file" in zone, zone

            _upload(page, no_text_column_file(), f"{MARKUP[0]} numbers.csv".replace("/", ""))
            page.get_by_text("holds text").first.wait_for(timeout=60_000)
            warning = shown(page.get_by_text("holds text").first)
            assert MARKUP[0] in warning and "<img src=" in warning, warning  # the column names, as written

            _upload(page, hostile_corpus_file())
            # The upload is the corpus of every page, its name shown as written.
            page.get_by_text("(36 texts)").first.wait_for(timeout=120_000)
            assert f"{FILE_NAME} (36 texts)" in shown(page.locator("body"))
            caption = page.get_by_text("CSV, 36 rows, columns:").first
            assert MARKUP[1] in shown(caption) and caption.locator("a").count() == 0  # not even a link
            for path, url in app_pages():
                link = page.locator(f'[data-testid="stSidebarNav"] a[href="{base}/{url}"]')
                link.first.click()
                _settle(page)
                if path == "pages/drop.py":  # the upload's own pairs, as a visitor would pick them
                    page.get_by_role("combobox", name="Retrieval task").first.click()
                    page.get_by_role("option", name="The sidebar corpus").first.click()
                    _settle(page)
                    page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
                body = page.locator("body").inner_text()
                assert page.locator('[data-testid="stException"]').count() == 0, (path, body[:2000])
                page.screenshot(path=str(SCREENSHOTS / f"{Path(path).stem}.png"), full_page=True)
            browser.close()
    finally:
        load_test.stop_server(proc)
    assert dialogs == [], dialogs
    assert left == [], f"requests left 127.0.0.1: {sorted(set(left))}"
