"""The real thing: `streamlit run app.py` on a free port, driven by Debian's Chromium through Playwright.

Visits every page, waits for the charts, asserts that no Streamlit exception is shown, uploads a
CSV through the real file input and sees it used, and saves full-page screenshots under
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
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import online_env
from tests.hub_server import LoopbackHub

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
    ("drop", "drop", "What can I drop?"),
]
_LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
CHART_PAGES = {"overview", "explore", "dimension", "compare", "diagnosis", "geometry", "selection", "drop"}


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
    deadline = time.time() + 60
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
        raise AssertionError("streamlit did not become healthy in 60 s: " + log_path.read_text()[-2000:])
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
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        _open(page, f"{server.base}/{path}", title)
        if name in CHART_PAGES:
            page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            assert page.locator(".js-plotly-plot").count() >= 1
        if name == "drop":  # the Pareto chart is drawn: its title, and a marker for every variant
            pareto = page.locator(".js-plotly-plot", has_text="What each storage choice keeps").first
            pareto.wait_for(timeout=120_000)
            assert pareto.locator(".scatterlayer .point").count() >= 34
            assert "int8 keeps" in page.locator("body").inner_text()
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

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        _open(page, f"{server.base}/corpus", "Corpus")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
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
        page.screenshot(path=str(server.screenshots / "corpus-upload.png"), full_page=True)
        # The uploaded corpus is now what the explore page analyses (client-side navigation keeps the session).
        page.get_by_role("link", name="Explore a model").first.click()
        page.get_by_role("heading", name="Explore a model").first.wait_for(timeout=120_000)
        _settle(page, 300)
        page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
        _assert_no_exception(page, "explore with upload")
        body = page.locator("body").inner_text()
        assert "my_reviews.csv" in body and "120" in body.replace(",", "")
        page.screenshot(path=str(server.screenshots / "explore-upload.png"), full_page=True)
    finally:
        context.close()


def test_compare_lists_a_model_that_cannot_be_had_with_its_reason(browser, server):
    """Compare with a model the hub (online) or the machine (offline) cannot provide: its row says why."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        _open(page, f"{server.base}/compare?models=all-MiniLM-L6-v2,bge-small-en-v1.5", "Compare models")
        if server.mode == "online":  # a download waits for a click
            assert page.get_by_text("it needs a download from the hub first").count() >= 1
            page.get_by_role("button", name="Compute bge-small-en-v1.5").click()
            _settle(page)
            reason = "was not found on the hub at http://127.0.0.1"
        else:
            reason = "cannot be loaded here (offline: HF_HUB_OFFLINE is set"
        page.get_by_text("1 of 2 model(s) cannot be loaded here").first.wait_for(timeout=60_000)
        page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
        _assert_no_exception(page, "compare with an unavailable model")
        body = page.locator("body").inner_text()
        reasons = [line for line in body.splitlines() if line.startswith("bge-small-en-v1.5: ")]
        assert len(reasons) == 1 and reason in reasons[0], reasons  # the whole sentence, readable
        page.screenshot(path=str(server.screenshots / "compare-unavailable.png"), full_page=True)
    finally:
        context.close()


def test_compare_shows_std_times_sqrt_d_and_the_explanation_panel(browser, server, tiny_model_dir):
    """A link with scale=sqrt_d: the axis says what the numbers mean, and the budget panel explains
    all-MiniLM-L6-v2 against a second model (a tiny 32-dim folder model, computed on a click)."""
    from urllib.parse import urlencode

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    try:
        query = urlencode({"models": f"all-MiniLM-L6-v2,{tiny_model_dir}", "scale": "sqrt_d"})
        _open(page, f"{server}/compare?{query}", "Compare models")
        compute = page.get_by_role("button", name="Compute")  # a folder model of unknown size waits for a click
        compute.first.wait_for(timeout=120_000)
        compute.first.click()
        _settle(page, 300)
        page.get_by_text("median std is").first.wait_for(timeout=120_000)
        _assert_no_exception(page, "compare sqrt_d")
        body = page.locator("body").inner_text()
        assert "Why the spreads differ: the variance budget" in body
        assert "1 − ‖μ‖²" in body and "mean pairwise cosine" in body and "Effective dims" in body
        panel = page.locator(".st-key-budget_panel")
        assert panel.locator('[data-testid="stDataFrame"]').count() == 1  # d, ‖μ‖², total variance, ...
        assert "from having 1/12 of the dimensions (32 against 384)" in body
        # The segmented control shows the chosen scale, and the plotly axis carries its meaning.
        chosen = page.get_by_role("radiogroup", name="Spread scale").get_by_role("radio", name="std × √d")
        assert chosen.get_attribute("aria-checked") == "true"
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        axis_titles = page.locator(".js-plotly-plot .g-ytitle, .js-plotly-plot .g-y2title").all_text_contents()
        assert any("std × √d (1 = an isotropic share)" in t for t in axis_titles), axis_titles
        assert "scale=sqrt_d" in page.url
        _settle(page)
        page.screenshot(path=str(SCREENSHOTS / "compare-budget.png"), full_page=True)
    finally:
        context.close()


def test_explore_controls_show_their_whole_choice(browser, server):
    """At 1280 px the longest choices ("std (largest first)", "corpus order") fit their boxes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _open(page, f"{server}/explore?sort=std&rows=corpus", "Explore a model")
        page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
        for label, shown in (("Order dimensions by", "std (largest first)"), ("Order texts by", "corpus order")):
            field = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input").first
            assert field.input_value() == shown
            overflow = field.evaluate("e => e.scrollWidth - e.clientWidth")
            assert overflow <= 0, f"{label}: '{shown}' is cut off by {overflow} px"
        page.screenshot(path=str(SCREENSHOTS / "explore-1280.png"))
    finally:
        context.close()
