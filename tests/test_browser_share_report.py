"""Issue 23's own check: the report of all-MiniLM-L6-v2 on held-out texts, opened from disk in a
real headless Chromium with every request recorded.

About 2,000 WordNet glosses sampled with a seed no other test uses. The report must weigh at most
8 MB, draw at least 3 Plotly charts, name dead dimensions 127, 223 and 319, and load nothing but
itself (``data:`` and ``blob:`` URLs aside). Its screenshot is saved under artifacts/screenshots/report/
(git-ignored) to be looked at. The Markdown section of the same run must name the three too.

And the dashboard's Download report button, clicked in a real Streamlit server: the file it gives is
the same report of the page's selection.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.load_test import CHROMIUM, LAUNCH_ARGS
from tests.helpers import held_out_glosses, run_cli

pytestmark = pytest.mark.slow  # the real model on 2,000 texts and a real browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "report"
HELD_OUT_SEED = 20261223
MAX_BYTES = 8 * 1024 * 1024
DEAD = ("127", "223", "319")


def test_minilm_report_opens_offline_and_names_its_dead_dimensions(tmp_path, minilm):
    assert Path(CHROMIUM).exists() or shutil.which("chromium"), (
        "Chromium is missing: run `apt-get install -y chromium` (scripts/install-dev.sh does it)."
    )
    texts = held_out_glosses(45, seed=HELD_OUT_SEED)
    corpus = tmp_path / "held-out.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    report = tmp_path / "r.html"
    model = "sentence-transformers/all-MiniLM-L6-v2"
    made = run_cli("report", "--model", model, "--corpus", str(corpus), "-o", str(report), "-q")
    assert made.returncode == 0, made.stderr
    assert 0 < report.stat().st_size <= MAX_BYTES, report.stat().st_size

    card = run_cli("report", "--model", model, "--corpus", str(corpus), "--format", "markdown", "-q")
    assert card.returncode == 0, card.stderr
    dead_row = re.search(r"^\| Dead dimensions \| (.+) \|$", card.stdout, flags=re.M)
    assert dead_row is not None and dead_row.group(1) == "3: 127, 223, 319", card.stdout

    from playwright.sync_api import sync_playwright

    url = report.resolve().as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            context.on("request", lambda request: requests.append(request.url))
            errors: list[str] = []
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(url, wait_until="load")
            # Drawn, not merely present: plotly adds its SVG layers and the modebar (zoom, pan, hover) when it draws.
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6"
                " && document.querySelectorAll('.js-plotly-plot .modebar').length >= 3",
                timeout=120_000,
            )
            drawn = page.evaluate("document.querySelectorAll('.js-plotly-plot .plot-container').length")
            headline = page.locator("#headline").inner_text()
            heading = page.locator("h1").inner_text()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "minilm-held-out.png"), full_page=True)
        finally:
            browser.close()
    assert drawn >= 3
    assert re.search(r"Dead dimensions: 127, 223, 319\b", headline), headline
    assert heading == f"DimScope report: {model} on held-out.txt"
    strangers = [u for u in requests if u != url and not u.startswith(("data:", "blob:"))]
    assert requests and requests[0] == url and not strangers, strangers
    assert not errors, errors


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_overview_button_downloads_the_report_of_the_selection(tmp_path, warm_cache_dir):
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(warm_cache_dir), "HF_HUB_OFFLINE": "1"}
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("streamlit did not become healthy in 120 s")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
                context.set_default_timeout(180_000)
                page = context.new_page()
                page.goto(base + "/")
                button = page.get_by_role("button", name="Download report")
                expect(button).to_be_visible()
                with page.expect_download() as download:
                    button.click()
                saved = tmp_path / "downloaded.html"
                download.value.save_as(saved)
                name = download.value.suggested_filename
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    page_text = saved.read_text(encoding="utf-8")
    assert name == "dimscope-all-MiniLM-L6-v2-chatterbot-english-report.html"
    assert "<h1>DimScope report: sentence-transformers/all-MiniLM-L6-v2 on chatterbot-english</h1>" in page_text
    assert 'Dead dimensions: <span class="dead">127, 223, 319</span>' in page_text
    assert (
        "python -m analysis report --model all-MiniLM-L6-v2 --corpus chatterbot-english "
        "-o dimscope-all-MiniLM-L6-v2-chatterbot-english-report.html" in page_text
    )
