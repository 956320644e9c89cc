"""The real thing: `streamlit run app.py` on a free port, driven by Debian's Chromium through Playwright.

Visits every page, waits for the charts, asserts that no Streamlit exception is shown, uploads a
CSV and a Parquet file of embeddings through the real file inputs and sees them used, and saves
full-page screenshots under
artifacts/screenshots/ (git-ignored). CI installs Chromium (scripts/install-dev.sh); without it
this test fails with a message saying so, it never skips.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real Streamlit server and a real browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DIMSCOPE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PAGES = [
    ("overview", "", "DimScope"),
    ("explore", "explore", "Explore a model"),
    ("dimension", "dimension", "Dimension detail"),
    ("compare", "compare", "Compare models"),
    ("corpus", "corpus", "Corpus"),
    ("diagnosis", "diagnosis", "Why dimensions die"),
    ("geometry", "geometry", "Geometry"),
    ("selection", "selection", "Which dimensions matter"),
    ("languages", "languages", "Languages"),
]
CHART_PAGES = {"overview", "explore", "dimension", "compare", "diagnosis", "geometry", "selection"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """The default answers precomputed by the same script the Docker build runs."""
    cache = tmp_path_factory.mktemp("browser") / "cache"
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    subprocess.run(["bash", "scripts/prepare-demo.sh"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    return cache


@pytest.fixture(scope="module")
def server(warm_cache):
    port = _free_port()
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(warm_cache), "HF_HUB_OFFLINE": "1"}
    log = open(warm_cache.parent / "streamlit.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read().strip() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise AssertionError(
            "streamlit did not become healthy in 60 s: " + (warm_cache.parent / "streamlit.log").read_text()[-2000:]
        )
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists() or shutil.which("chromium"), (
        "Chromium is missing: run `apt-get install -y chromium` (scripts/install-dev.sh does it)."
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield instance
        instance.close()


def _open(page, url: str, title: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
    _settle(page)


def _settle(page, timeout_s: float = 120) -> None:
    """Wait until Streamlit stops running the script (the status widget disappears)."""
    deadline = time.time() + timeout_s
    page.wait_for_timeout(500)
    while time.time() < deadline:
        if page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        page.wait_for_timeout(250)
    raise AssertionError("the page kept running for too long")


def _assert_no_exception(page, name: str) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{name}: {exceptions.first.inner_text()[:1000]}"


@pytest.mark.parametrize("name,path,title", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_renders_without_exception(browser, server, name, path, title):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        _open(page, f"{server}/{path}", title)
        if name in CHART_PAGES:
            page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            assert page.locator(".js-plotly-plot").count() >= 1
        _assert_no_exception(page, name)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    finally:
        context.close()


def test_upload_csv_through_the_file_input_and_use_it(browser, server, tmp_path):
    from analysis.corpora import load_builtin_corpus

    english = load_builtin_corpus("chatterbot-english")
    rows = ["body,topic"] + [
        f'"{t.replace(chr(34), "")}",{label}'
        for t, label in list(zip(english.texts, english.labels, strict=True))[:120]
    ]
    upload = tmp_path / "my_reviews.csv"
    upload.write_text("\n".join(rows) + "\n", encoding="utf-8")

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        _open(page, f"{server}/corpus", "Corpus")
        # The first file input takes texts; the second, embeddings.
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(upload))
        page.get_by_text("my_reviews.csv").first.wait_for(timeout=60_000)
        _settle(page)
        # Confirm the mapping if the page asks for it.
        for label in ("Use this corpus", "Add corpus", "Load corpus", "Use corpus"):
            button = page.get_by_role("button", name=label)
            if button.count():
                button.first.click()
                _settle(page)
                break
        _assert_no_exception(page, "corpus upload")
        page.screenshot(path=str(SCREENSHOTS / "corpus-upload.png"), full_page=True)
        # The uploaded corpus is now what the explore page analyses (client-side navigation keeps the session).
        page.get_by_role("link", name="Explore a model").first.click()
        page.get_by_role("heading", name="Explore a model").first.wait_for(timeout=120_000)
        _settle(page, 300)
        page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
        _assert_no_exception(page, "explore with upload")
        body = page.locator("body").inner_text()
        assert "my_reviews.csv" in body and "120" in body.replace(",", "")
        page.screenshot(path=str(SCREENSHOTS / "explore-upload.png"), full_page=True)
    finally:
        context.close()


def test_upload_embeddings_through_the_file_input_and_use_them(browser, server, warm_cache, tmp_path):
    """all-MiniLM-L6-v2's own vectors of the default corpus, uploaded as Parquet with their texts and
    topics: every page then analyses the file (raw = the vectors as given), and the weight scan says
    it needs a model."""

    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.cache import EmbeddingStore
    from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus
    from analysis.models import resolve_model
    from analysis.pipeline import EncodeOptions, embeddings_key

    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    store = EmbeddingStore(warm_cache)
    raw = store.get_array(embeddings_key(resolve_model("all-MiniLM-L6-v2"), corpus, EncodeOptions()))
    store.close()
    assert raw is not None
    upload = tmp_path / "minilm_vectors.parquet"
    flat = pa.FixedSizeListArray.from_arrays(pa.array(raw.reshape(-1)), raw.shape[1])
    pq.write_table(pa.table({"embedding": flat, "text": list(corpus.texts), "topic": list(corpus.labels)}), upload)

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        _open(page, f"{server}/corpus", "Corpus")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').nth(1).set_input_files(str(upload))
        page.get_by_text("is what every page analyses now").first.wait_for(timeout=120_000)
        _settle(page)
        _assert_no_exception(page, "embeddings upload")
        body = page.locator("body").inner_text()
        assert "Your vectors" in body and "the vectors as given in the file" in body
        page.screenshot(path=str(SCREENSHOTS / "corpus-vectors.png"), full_page=True)
        for link, title, shot in (
            ("Overview", "DimScope", "overview-vectors.png"),
            ("Explore a model", "Explore a model", "explore-vectors.png"),
            ("Dimension detail", "Dimension detail", "dimension-vectors.png"),
            ("Why dimensions die", "Why dimensions die", "diagnosis-vectors.png"),
        ):
            page.get_by_role("link", name=link).first.click()
            page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
            _settle(page, 300)
            if title != "Why dimensions die":
                page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
            _assert_no_exception(page, link)
            body = page.locator("body").inner_text()
            assert "minilm_vectors.parquet" in body, link
            page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
        assert "needs a model" in body
    finally:
        context.close()
