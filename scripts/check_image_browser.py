"""The browser half of scripts/check-image.sh: drives headless Chromium against a running DimScope.

    python scripts/check_image_browser.py overview --url URL --screenshot PNG
    python scripts/check_image_browser.py upload --url URL --csv CSV --screenshot PNG

``overview`` opens the Overview and waits for its Plotly chart. ``upload`` writes a small CSV of texts
that no built-in corpus holds (so the server must encode them), uploads it on the Corpus page and opens
Explore on it. Both fail (exit 1, one line naming what went wrong) on a Streamlit exception, a chart
that never draws, or any request that leaves 127.0.0.1. Not part of the default CI run (see the shell
script's header); tests/test_browser_e2e.py covers the same pages against a server outside a container.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

# Run from the checkout (check-image.sh does): Chromium's flags come from the one list the load test keeps.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.load_test import LAUNCH_ARGS  # noqa: E402

LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
UPLOAD_ROWS = 40


class CheckFailed(Exception):
    """A check did not hold; the message says which."""


def _settle(page: Any, timeout_s: float = 300) -> None:
    """Wait until Streamlit stops running the script (its status widget disappears)."""
    deadline = time.monotonic() + timeout_s
    page.wait_for_timeout(500)
    while time.monotonic() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        page.wait_for_timeout(250)
    raise CheckFailed(f"the page still ran after {timeout_s:.0f} s")


def _no_exception(page: Any, where: str) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    if exceptions.count():
        raise CheckFailed(f"{where}: {exceptions.first.inner_text()[:500]}")


def _chart(page: Any, where: str, timeout_s: float) -> None:
    try:
        page.locator(".js-plotly-plot").first.wait_for(timeout=timeout_s * 1000)
    except Exception as exc:  # Playwright's TimeoutError: name the page, not the locator
        raise CheckFailed(f"{where}: no Plotly chart within {timeout_s:.0f} s") from exc


def write_visitor_csv(path: Path) -> None:
    """Texts and labels a visitor might bring: made up here, so no cache row can already hold them."""
    subjects = ["The harbour crane", "A quiet librarian", "Our night train", "The orchard robot", "My aunt's parrot"]
    verbs = ["repaints", "forgets", "measures", "sings about", "carefully sorts"]
    objects = ["blue lanterns", "tidal charts", "old postcards", "frozen pears", "brass keys"]
    rows = ["note,mood"]
    for i in range(UPLOAD_ROWS):
        text = f"{subjects[i % 5]} {verbs[(i // 5) % 5]} {objects[(i * 3) % 5]} on day {i + 1}."
        rows.append(f'"{text}",{"calm" if i % 2 else "busy"}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def overview(page: Any, url: str, screenshot: Path) -> str:
    started = time.monotonic()
    page.goto(url + "/", wait_until="domcontentloaded")
    page.get_by_role("heading", name="DimScope").first.wait_for(timeout=120_000)
    _chart(page, "Overview", 180)
    drawn = time.monotonic() - started
    _settle(page)
    _no_exception(page, "Overview")
    page.screenshot(path=str(screenshot), full_page=True)
    charts = page.locator(".js-plotly-plot").count()
    return f"Overview drew {charts} Plotly chart(s), the first {drawn:.1f} s after navigation"


def upload(page: Any, url: str, csv: Path, screenshot: Path) -> str:
    write_visitor_csv(csv)
    name = csv.name
    page.goto(url + "/corpus", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Corpus").first.wait_for(timeout=120_000)
    _settle(page)
    # The first file input takes texts; the second, embeddings.
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(csv))
    # The page confirms once it has parsed the file and made it the session's corpus.
    adopted = page.get_by_text(f"{name} is the corpus every page analyses now")
    try:
        adopted.first.wait_for(timeout=300_000)
    except Exception as exc:  # Playwright's TimeoutError
        raise CheckFailed(f"the Corpus page did not adopt {name} within 300 s") from exc
    _settle(page)
    _no_exception(page, "Corpus upload")
    page.screenshot(path=str(screenshot.with_name("corpus-upload.png")), full_page=True)
    # Client-side navigation keeps the session, so Explore analyses the upload.
    page.get_by_role("link", name="Explore a model").first.click()
    page.get_by_role("heading", name="Explore a model").first.wait_for(timeout=120_000)
    _settle(page, 600)
    _chart(page, "Explore on the upload", 600)
    _no_exception(page, "Explore on the upload")
    body = page.locator("body").inner_text()
    if name not in body or str(UPLOAD_ROWS) not in body:
        raise CheckFailed(f"Explore does not show the upload ({name}, {UPLOAD_ROWS} texts)")
    page.screenshot(path=str(screenshot), full_page=True)
    return f"uploaded {name} ({UPLOAD_ROWS} texts) on Corpus; Explore drew its chart on the upload"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["overview", "upload"])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8501")
    parser.add_argument("--screenshot", type=Path, required=True)
    parser.add_argument("--csv", type=Path, help="where to write the visitor's CSV (upload)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if args.action == "upload" and args.csv is None:
        parser.error("upload needs --csv")

    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=LAUNCH_ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 1800}).new_page()
        page.on("request", lambda request: requests.append(request.url))
        try:
            if args.action == "overview":
                done = overview(page, args.url.rstrip("/"), args.screenshot)
            else:
                done = upload(page, args.url.rstrip("/"), args.csv, args.screenshot)
        except Exception as exc:  # a failed check or a browser error: one line, and what the page showed
            failure = args.screenshot.with_name(f"failed-{args.action}.png")
            try:
                page.screenshot(path=str(failure), full_page=True)
                shown = f"; the page as it was: {failure}"
            except Exception:
                shown = ""
            what = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            print(f"check_image_browser: {args.action}: {what}{shown}", file=sys.stderr)
            return 1
        finally:
            browser.close()
    elsewhere = sorted({u for u in requests if not u.startswith(LOCAL)})
    if elsewhere:
        print(f"check_image_browser: requests left 127.0.0.1: {elsewhere}", file=sys.stderr)
        return 1
    print(f"{done}; {len(requests)} request(s), none leaving 127.0.0.1; screenshot {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
