"""Targets 5 and 6: what the dashboard sends per page, and how fast it starts.

Target 5 runs every page under Streamlit's AppTest on a 100,000-text corpus whose embeddings sit
in a warm cache (synthetic vectors stored under the real model's key: the pages read them
without encoding), and adds up the serialized protobuf size of every element the page emits:
that is what goes over the websocket to the browser (before compression).

Target 6 starts ``streamlit run app.py`` on a warm cache and drives a headless Chromium to the
first page, timing spawn -> server healthy -> title drawn -> first chart drawn.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import INFO, PYTHON, ROOT, SKIP, TODO, Figure, base_env, check, run_process, verdict

PAGES = ("pages/overview.py", "pages/explore.py", "pages/dimension.py", "pages/compare.py", "pages/corpus.py")


def app_pages() -> list[str]:
    """Every page app.py registers (``common.PAGE_*`` constants it uses), the default page first."""
    import re

    common = (ROOT / "pages" / "_common.py").read_text(encoding="utf-8")
    app = (ROOT / "app.py").read_text(encoding="utf-8")
    constants = dict(re.findall(r'^(PAGE_\w+)\s*=\s*"(pages/[^"]+\.py)"', common, re.M))
    found = [constants[name] for name in re.findall(r"common\.(PAGE_\w+)", app) if name in constants]
    pages = list(dict.fromkeys(found)) or list(PAGES)
    return sorted(pages, key=lambda p: p != "pages/overview.py")
PAYLOAD_LIMIT_MB = 5.0

_WARM_CHILD = r"""
import sys, numpy as np
from analysis import settings
from analysis.cache import EmbeddingStore
from analysis.corpora import DEFAULT_CORPUS, load_builtin_corpus, parse_corpus_bytes
from analysis.models import resolve_model
from analysis.pipeline import EncodeOptions, embeddings_key, get_stats, stats_key

target, n_big = sys.argv[1], int(sys.argv[2])
model = resolve_model("all-MiniLM-L6-v2")
options = EncodeOptions()
store = EmbeddingStore(target)
rng = np.random.default_rng(0)

def synthetic(n, d=384):
    x = (rng.standard_normal((n, d), dtype=np.float32) * 0.05 + rng.normal(0, 0.02, d).astype(np.float32))
    x[:, [d // 3, d // 2]] = 0.01
    return x

source = "synthetic"
default = load_builtin_corpus(DEFAULT_CORPUS)
project = EmbeddingStore(settings.DEFAULT_CACHE_DIR) if (settings.DEFAULT_CACHE_DIR / "cache.db").is_file() else None
array = project.get_array(embeddings_key(model, default, options)) if project else None
if array is not None and array.shape[0] == len(default):
    source = "copied from the project cache"
else:
    array = synthetic(len(default))
store.put_array(embeddings_key(model, default, options), array)
get_stats(model, default, store=store)  # stats records, streamed from the stored array
if n_big:
    rows = "\n".join(f"Synthetic text number {i} about topic {i % 23} and subject {i % 7}.,topic-{i % 23:02d}" for i in range(n_big))
    big = parse_corpus_bytes(("text,label\n" + rows).encode(), "big.csv")
    # Every model available here: the compare page reads them all (nothing may be encoded).
    from analysis.models import list_models
    for available in list_models():
        if available.available:
            other = resolve_model(available.info.hub_id)
            store.put_array(embeddings_key(other, big, options), synthetic(len(big), available.info.dimension))
            get_stats(other, big, store=store)
print(source)
"""

_PAYLOAD_CHILD = r"""
import json, sys
from streamlit.testing.v1 import AppTest
from analysis.corpora import parse_corpus_bytes
import analysis.pipeline

def _no_encoding(*args, **kwargs):
    raise RuntimeError("the payload benchmark must not encode: warm the cache for this page")

analysis.pipeline.encode_raw = _no_encoding  # pages run in this process: a cache miss fails fast

app, n_big, pages = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
rows = "\n".join(f"Synthetic text number {i} about topic {i % 23} and subject {i % 7}.,topic-{i % 23:02d}" for i in range(n_big))
big = parse_corpus_bytes(("text,label\n" + rows).encode(), "big.csv")

def walk(node, sizes):
    proto = getattr(node, "proto", None)
    if proto is not None and hasattr(proto, "ByteSize"):
        kind = getattr(node, "type", type(node).__name__)
        sizes[kind] = sizes.get(kind, 0) + proto.ByteSize()
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            walk(child, sizes)

out = {}
for page in pages:
    try:
        at = AppTest.from_file(app, default_timeout=300)
        at.query_params["corpus"] = "upload:big.csv"
        at.session_state["ds_uploads"] = {"big.csv": big}
        at.run()
        if page != "pages/overview.py":
            at.switch_page(page).run()
    except Exception as exc:  # a page that times out or breaks: report it, measure the others
        out[page] = {"bytes": 0, "by_type": {}, "exceptions": [f"{type(exc).__name__}: {str(exc)[:200]}"], "texts": len(big)}
        continue
    sizes = {}
    walk(at._tree, sizes)
    out[page] = {"bytes": sum(sizes.values()), "by_type": sizes, "exceptions": [str(e.value)[:200] for e in at.exception],
                 "texts": len(big)}
print(json.dumps(out))
"""


def _warm_cache(cache: Path, n_big: int) -> str:
    run = check(run_process([PYTHON, "-c", _WARM_CHILD, str(cache), str(n_big)], base_env(cache)), "warming the cache")
    return run.stdout.strip().splitlines()[-1]


def payloads(quick: bool) -> list[Figure]:
    if not (ROOT / "app.py").is_file() or not (ROOT / "analysis" / "figures.py").is_file():
        return [Figure(5, "page payloads", None, "MB", f"<= {PAYLOAD_LIMIT_MB} MB per page", TODO,
                       {"reason": "app.py or analysis/figures.py not there yet"})]
    n_big = 2_000 if quick else 100_000
    pages = app_pages()[:1] if quick else app_pages()
    with tempfile.TemporaryDirectory(prefix="dimscope-payload-") as tmp:
        cache = Path(tmp) / "cache"
        _warm_cache(cache, n_big)
        run = check(run_process([PYTHON, "-c", _PAYLOAD_CHILD, str(ROOT / "app.py"), str(n_big), ",".join(pages)],
                                base_env(cache), timeout=1800), "AppTest payload run")
        result = json.loads(run.stdout.strip().splitlines()[-1])
    figures = []
    for page, info in result.items():
        mb = info["bytes"] / 1e6
        ok = mb <= PAYLOAD_LIMIT_MB and not info["exceptions"]
        top = dict(sorted(info["by_type"].items(), key=lambda kv: -kv[1])[:4])
        figures.append(Figure(5, f"payload of {page} ({n_big:,} texts)", mb, "MB", f"<= {PAYLOAD_LIMIT_MB:g} MB", verdict(ok),
                              {"largest_elements_bytes": top, "exceptions": info["exceptions"]}))
    return figures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_start(quick: bool) -> list[Figure]:
    if not (ROOT / "app.py").is_file():
        return [Figure(6, "app start to first page drawn", None, "s", "<= 5 s", TODO, {"reason": "app.py not there yet"})]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [Figure(6, "app start to first page drawn", None, "s", "<= 5 s", SKIP, {"reason": "playwright not installed"})]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory(prefix="dimscope-start-") as tmp:
        cache = Path(tmp) / "cache"
        source = _warm_cache(cache, 0)
        port = _free_port()
        env = base_env(cache, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", HOME=str(Path(tmp) / "home"))
        Path(env["HOME"]).mkdir()
        args = [PYTHON, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
        with sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(**({"executable_path": chromium} if chromium else {}))
            except Exception as exc:  # noqa: BLE001 - no browser on this machine
                return [Figure(6, "app start to first page drawn", None, "s", "<= 5 s", SKIP,
                               {"reason": f"no headless browser: {str(exc).splitlines()[0][:200]}"})]
            try:
                page = browser.new_page()
                start = time.perf_counter()
                server = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                try:
                    healthy = _wait_healthy(port, server, timeout=120) - start
                    page.goto(f"http://127.0.0.1:{port}/", wait_until="commit", timeout=120_000)
                    page.wait_for_selector("h1", timeout=120_000)
                    title = time.perf_counter() - start
                    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
                    drawn = time.perf_counter() - start
                    errors = page.locator('[data-testid="stException"]').count()
                finally:
                    server.terminate()
                    try:
                        server.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        server.kill()
            finally:
                browser.close()
    return [Figure(6, "app start: `streamlit run app.py` to first page drawn (warm cache)", drawn, "s", "<= 5 s",
                   verdict(drawn <= 5.0 and errors == 0),
                   {"server_healthy_s": healthy, "title_drawn_s": title, "first_chart_drawn_s": drawn,
                    "exceptions_on_page": errors, "cache": source, "browser": chromium or "playwright chromium"})]


def _wait_healthy(port: int, server: subprocess.Popen, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited: {(server.stderr.read() if server.stderr else '')[-500:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("streamlit did not become healthy")


def run(quick: bool = False) -> list[Figure]:
    figures = []
    for target, bench in ((5, payloads), (6, app_start)):
        try:
            figures += bench(quick)
        except Exception as exc:  # noqa: BLE001 - one failing must not hide the other
            figures.append(Figure(target, bench.__name__, None, "", "", "ERROR", {"error": f"{type(exc).__name__}: {exc}"}))
    return figures
