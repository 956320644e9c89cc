"""The hosted demo for real: `streamlit run app.py` in public mode on loopback, with an encode
line of one, and two Chromium sessions uploading different 1,000-text CSVs at the same moment
(the cold-upload scenario of benchmarks/load_test.py at N = 2).

* both get Explore's charts, with no error;
* the one that arrives second sees its place in line while the first encodes;
* the health endpoint keeps answering (p95 under 1 s) while both run;
* once the sessions are gone and the server stopped, the shared disk cache holds nothing derived
  from either upload (no key or value names their corpus hash or holds their text hashes).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from analysis.corpora import read_corpus_file
from analysis.pipeline import text_hashes
from benchmarks import load_test

pytestmark = pytest.mark.slow  # a real server, two real browsers, two real encodes

ROOT = Path(__file__).resolve().parent.parent


def disk_traces(cache: Path, csv: Path) -> list[str]:
    corpus = read_corpus_file(csv)
    digest, rows = corpus.content_hash, text_hashes(corpus.texts).tobytes()[:64]
    found = []
    with contextlib.closing(sqlite3.connect(cache / "cache.db")) as db:
        for key, filename, value in db.execute("SELECT key, filename, value FROM Cache"):
            data = (cache / filename).read_bytes() if filename else bytes(value or b"")
            if digest in str(key) or digest.encode() in data or rows in data:
                found.append(str(key))
    return found


def test_two_visitors_upload_at_once_wait_in_line_and_leave_nothing_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("DIMSCOPE_MAX_CONCURRENT_ENCODES", "1")
    # Each upload's encode starts on the Corpus page; with "auto" on a bf16 CPU the first one can
    # end before the second visitor reaches Explore. Torch fp32 keeps the wait long enough to see.
    monkeypatch.setenv("DIMSCOPE_BACKEND", "torch")
    cache = tmp_path / "cache"
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    subprocess.run(["bash", "scripts/prepare-demo.sh"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    result = load_test.cold_upload_level(cache, 2, tmp_path, shots)
    log = (tmp_path / "server-2.log").read_text(errors="replace")[-3000:]
    assert result["errors"] == 0, (result["error_kinds"], log)
    assert result["charts"] == 2  # both sessions got Explore's first chart
    assert result["saw_place_in_line"] >= 1, "the second visitor never saw its place in line"
    assert result["health_polls"] >= 10 and result["health_p95_s"] < 1.0, result
    for csv in result["upload_files"]:
        assert disk_traces(Path(result["cache_dir"]), Path(csv)) == [], csv


def test_a_visitor_who_leaves_the_line_gives_up_their_place(tmp_path, monkeypatch):
    """A encodes 2,500 texts; B waits 1st and C 2nd. B closes the tab: Streamlit stops B's script,
    B's wait callback raises, and C moves up to 1st while A is still encoding."""
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DIMSCOPE_MAX_CONCURRENT_ENCODES", "1")
    # The operator's pin on the backend (torch fp32): A must still encode while B and C arrive, and
    # "auto" on a bf16 CPU encodes A's 2,500 texts before they do.
    monkeypatch.setenv("DIMSCOPE_BACKEND", "torch")
    cache = tmp_path / "cache"
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    subprocess.run(["bash", "scripts/prepare-demo.sh"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    # Long enough to still run while B and C arrive and B leaves, short enough for the time budget.
    long_one = load_test.upload_files(tmp_path / "long", 1, n_texts=2500)[0]
    short = load_test.upload_files(tmp_path / "short", 3, n_texts=200)[1:]  # disjoint from each other
    proc, base = load_test.start_server(cache, public=True, log=tmp_path / "server.log")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=load_test.CHROMIUM, headless=True, args=load_test.LAUNCH_ARGS
            )
            contexts, pages = {}, {}
            for name, csv, shown in (
                ("A", long_one, re.compile("loading the model|encoded")),  # A holds the slot
                ("B", short[0], "1st of 1 waiting"),
                ("C", short[1], "2nd of 2 waiting"),
            ):
                contexts[name] = browser.new_context(viewport={"width": 1280, "height": 900})
                contexts[name].set_default_timeout(180_000)  # clicks wait for their target on a busy box
                page = pages[name] = contexts[name].new_page()
                page.goto(f"{base}/corpus", wait_until="domcontentloaded")
                expect(page.get_by_role("heading", name="Corpus").first).to_be_visible(timeout=180_000)
                page.get_by_role("region", name="Corpus file").get_by_test_id(
                    "stFileUploaderDropzoneInput"
                ).set_input_files(str(csv))
                expect(page.get_by_text("is the corpus every page analyses now").first).to_be_visible(timeout=180_000)
                page.get_by_role("link", name="Explore a model").first.click()
                expect(page.get_by_text(shown).first).to_be_visible(timeout=180_000)
            # A still encodes (no chart yet): what follows happens while it holds the slot.
            expect(pages["A"].locator(".js-plotly-plot")).to_have_count(0, timeout=5_000)
            contexts["B"].close()  # B leaves while A still encodes
            # B's script stops once its tab's connection is gone: on a busy box that takes a while
            expect(pages["C"].get_by_text("1st of 1 waiting").first).to_be_visible(timeout=120_000)
            expect(pages["A"].locator(".js-plotly-plot"), "A finished first: nothing was shown").to_have_count(
                0, timeout=5_000
            )
            pages["C"].screenshot(path=str(ROOT / "artifacts" / "screenshots" / "moved-up.png"))
            # C gets its charts once A is done; nobody is left waiting for B.
            expect(pages["C"].locator(".js-plotly-plot").first).to_be_visible(timeout=600_000)
            expect(pages["C"].get_by_test_id("stException")).to_have_count(0, timeout=5_000)
            browser.close()
    finally:
        load_test.stop_server(proc)
