"""Many users at once: N real browser sessions against one `streamlit run app.py` on loopback.

Each session is its own Chromium context (own cookies, own Streamlit session). Two scenarios:

* ``walk`` (warm cache): every session opens the overview, then switches through Explore,
  Dimension detail and Compare; each page is timed from navigation to "charts drawn and script
  finished". Reports p50/p95 page time, errors and the server's memory per session (N = 1, 4, 16).
* ``cold-upload`` (public mode, as the hosted demo runs): every session uploads its own
  1,000-text CSV (disjoint WordNet glosses, so nothing is reused) at the same moment, then opens
  Explore; timed from the upload to Explore's first chart. While it runs, the health endpoint is
  polled every 0.25 s and the server's RSS sampled. Reports p50/p95 upload-to-first-chart, the
  health p95, the peak RSS, errors, and how many sessions saw their place in the encode line
  (N = 1, 4, 8). Each level starts a fresh server, so every level is cold.

    python -m benchmarks.load_test                          # walk: N = 1, 4, 16
    python -m benchmarks.load_test --scenario cold-upload   # cold uploads: N = 1, 4, 8
    python -m benchmarks.load_test --sessions 1 4 --rounds 1

Traffic goes to 127.0.0.1 only, and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DIMSCOPE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
ROUTE = [
    ("", "DimScope"),
    ("explore", "Explore a model"),
    ("dimension", "Dimension detail"),
    ("compare", "Compare models"),
]
PAGE_TIMEOUT_S = 180
UPLOAD_TEXTS = 1_000
UPLOAD_TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def start_server(cache: Path, *, public: bool = False, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    if public:
        env["DIMSCOPE_PUBLIC"] = "1"
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (the server outlives this function)
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
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read().strip() == b"ok":
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start in 60 s")


async def _settle(page, timeout_s: float = PAGE_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    await page.wait_for_timeout(200)
    while time.monotonic() < deadline:
        if await page.locator('[data-testid="stStatusWidget"]').count() == 0:
            return
        await page.wait_for_timeout(100)
    raise TimeoutError("page kept running")


async def _session(browser, base: str, rounds: int, times: list[float], errors: list[str]) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        for _ in range(rounds):
            for path, title in ROUTE:
                start = time.monotonic()
                try:
                    await page.goto(f"{base}/{path}", wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_S * 1000)
                    await page.get_by_role("heading", name=title).first.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
                    await page.locator(".js-plotly-plot").first.wait_for(timeout=PAGE_TIMEOUT_S * 1000)
                    await _settle(page)
                    if await page.locator('[data-testid="stException"]').count():
                        errors.append(f"{path}: exception shown")
                    times.append(time.monotonic() - start)
                except Exception as exc:  # a timeout or a crashed page counts as an error, not a crash of the test
                    errors.append(f"{path}: {type(exc).__name__}")
    finally:
        await context.close()


async def _run_level(base: str, n_sessions: int, rounds: int, server_pid: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        rss_before = _rss_mb(server_pid)
        times: list[float] = []
        errors: list[str] = []
        started = time.monotonic()
        await asyncio.gather(*(_session(browser, base, rounds, times, errors) for _ in range(n_sessions)))
        wall = time.monotonic() - started
        rss_after = _rss_mb(server_pid)
        await browser.close()
    ordered = sorted(times)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")

    return {
        "sessions": n_sessions,
        "pages": len(times),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "p50_s": round(pct(0.50), 2),
        "p95_s": round(pct(0.95), 2),
        "mean_s": round(statistics.fmean(times), 2) if times else None,
        "wall_s": round(wall, 1),
        "server_rss_mb": round(rss_after, 0),
        "rss_growth_per_session_mb": round((rss_after - rss_before) / n_sessions, 1),
    }


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


# --- the cold-upload scenario ------------------------------------------------------------------------


class Monitor:
    """Polls the health endpoint (latency of each answer) and samples the server's RSS, in a thread."""

    def __init__(self, base: str, pid: int, every_s: float = 0.25) -> None:
        self.base, self.pid, self.every_s = base, pid, every_s
        self.health_s: list[float] = []
        self.health_at: list[float] = []  # seconds since the monitor started, per poll
        self.health_failures = 0
        self.peak_rss_mb = _rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        origin = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            self.health_at.append(started - origin)
            try:
                ok = urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=10).read().strip() == b"ok"
            except OSError:
                ok = False
            self.health_s.append(time.monotonic() - started)
            self.health_failures += 0 if ok else 1
            self.peak_rss_mb = max(self.peak_rss_mb, _rss_mb(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def upload_files(folder: Path, n_files: int, n_texts: int = UPLOAD_TEXTS) -> list[Path]:
    """``n_files`` CSVs of ``n_texts`` different WordNet glosses each (text and label columns),
    disjoint from each other and from the warm cache: every upload is encoded from scratch."""
    import csv
    import random

    from analysis.corpora import load_builtin_corpus

    glosses = load_builtin_corpus("wordnet-glosses", per_label=1000)
    rows = list(zip(glosses.texts, glosses.labels or ("",) * len(glosses), strict=True))
    if len(rows) < n_files * n_texts:
        raise SystemExit(f"need {n_files * n_texts:,} WordNet glosses, found {len(rows):,}")
    random.Random(0).shuffle(rows)
    paths = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        path = folder / f"visitor-{i + 1}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(rows[i * n_texts : (i + 1) * n_texts])
        paths.append(path)
    return paths


async def _upload_session(browser, base: str, csv_path: Path, out: dict, shots: Path | None) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    timeout_ms = UPLOAD_TIMEOUT_S * 1000
    stage = "open the Corpus page"
    try:
        await page.goto(f"{base}/corpus", wait_until="domcontentloaded", timeout=timeout_ms)
        await page.get_by_role("heading", name="Corpus").first.wait_for(timeout=timeout_ms)
        await _settle(page, UPLOAD_TIMEOUT_S)
        stage = "upload"
        started = time.monotonic()
        await (
            page.get_by_role("region", name="Corpus file")
            .get_by_test_id("stFileUploaderDropzoneInput")
            .set_input_files(str(csv_path))
        )
        await page.get_by_text("is the corpus every page analyses now").first.wait_for(timeout=timeout_ms)
        stage = "open Explore"
        await page.get_by_role("link", name="Explore a model").first.click()
        await page.get_by_role("heading", name="Explore a model").first.wait_for(timeout=timeout_ms)
        stage = "wait for the first chart"
        deadline = time.monotonic() + UPLOAD_TIMEOUT_S
        while await page.locator(".js-plotly-plot").count() == 0:
            if await page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count():
                break
            if not out.get("saw_line") and await page.get_by_text("waiting in line").count():
                out["saw_line"] = True
                if shots:
                    await page.screenshot(path=str(shots / f"waiting-{csv_path.stem}.png"), full_page=True)
            if time.monotonic() > deadline:
                raise TimeoutError("no chart")
            await page.wait_for_timeout(200)
        if await page.locator(".js-plotly-plot").count():
            out["first_chart_s"] = time.monotonic() - started
        stage = "wait for the page to finish"
        await _settle(page, UPLOAD_TIMEOUT_S)
        for selector in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
            if await page.locator(selector).count():
                out["error"] = (await page.locator(selector).first.inner_text())[:300]
        if "first_chart_s" not in out and "error" not in out:
            out["error"] = "no chart drawn"
        if shots:
            await page.screenshot(path=str(shots / f"explore-{csv_path.stem}.png"), full_page=True)
    except Exception as exc:  # a timeout or a crashed page counts as an error, not a crash of the run
        out["error"] = f"{stage}: {type(exc).__name__}: {str(exc)[:200]}"
        if shots:
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(shots / f"error-{csv_path.stem}.png"), full_page=True)
    finally:
        await context.close()


async def _run_uploads(base: str, files: list[Path], shots: Path | None) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        outcomes: list[dict] = [{} for _ in files]
        await asyncio.gather(
            *(_upload_session(browser, base, f, o, shots) for f, o in zip(files, outcomes, strict=True))
        )
        await browser.close()
    return outcomes


def cold_upload_level(cache: Path, n_sessions: int, work: Path, shots: Path | None) -> dict:
    """One fresh public-mode server, ``n_sessions`` sessions uploading at once."""
    files = upload_files(work / f"uploads-{n_sessions}", n_sessions)
    level_cache = work / f"cache-{n_sessions}"
    subprocess.run(["cp", "-a", str(cache), str(level_cache)], check=True)
    proc, base = start_server(level_cache, public=True, log=work / f"server-{n_sessions}.log")
    load_before = os.getloadavg()
    try:
        with Monitor(base, proc.pid) as monitor:
            started = time.monotonic()
            outcomes = asyncio.run(_run_uploads(base, files, shots))
            wall = time.monotonic() - started
    finally:
        stop_server(proc)
    times = [o["first_chart_s"] for o in outcomes if "first_chart_s" in o and "error" not in o]
    errors = [o["error"] for o in outcomes if "error" in o]
    return {
        "sessions": n_sessions,
        "texts_per_upload": UPLOAD_TEXTS,
        "errors": len(errors) + monitor.health_failures,
        "error_kinds": sorted(set(errors))[:5]
        + ([f"{monitor.health_failures} health failures"] if monitor.health_failures else []),
        "charts": len(times),
        "p50_first_chart_s": round(_pct(times, 0.50), 1),
        "p95_first_chart_s": round(_pct(times, 0.95), 1),
        "max_first_chart_s": round(max(times), 1) if times else None,
        "health_p95_s": round(_pct(monitor.health_s, 0.95), 3),
        "health_max_s": round(max(monitor.health_s), 3) if monitor.health_s else None,
        "health_polls": len(monitor.health_s),
        # When the slowest answers came (s after the sessions started) and how slow: a cold server's
        # first encode imports torch, which holds the interpreter for seconds.
        "health_slowest": [
            [round(at, 1), round(took, 2)]
            for took, at in sorted(zip(monitor.health_s, monitor.health_at, strict=True), reverse=True)[:3]
        ],
        "peak_rss_mb": round(monitor.peak_rss_mb),
        "saw_place_in_line": sum(1 for o in outcomes if o.get("saw_line")),
        "wall_s": round(wall, 1),
        "cache_dir": str(level_cache),
        "upload_files": [str(f) for f in files],
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def print_cold_upload(results: list[dict]) -> None:
    print(
        f"{'sessions':>8} {'errors':>6} {'p50 s':>7} {'p95 s':>7} {'health p95 s':>12} {'peak RSS MB':>11}"
        f" {'saw line':>8} {'load before -> after':>24}"
    )
    for r in results:
        print(
            f"{r['sessions']:>8} {r['errors']:>6} {r['p50_first_chart_s']:>7} {r['p95_first_chart_s']:>7}"
            f" {r['health_p95_s']:>12} {r['peak_rss_mb']:>11} {r['saw_place_in_line']:>8}"
            f" {str(r['load_before'][0]) + ' -> ' + str(r['load_after'][0]):>24}"
        )
        for kind in r["error_kinds"]:
            print(f"         error: {kind}")


def warm_cache(cache: Path) -> None:
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    subprocess.run(["bash", "scripts/prepare-demo.sh"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["walk", "cold-upload"], default="walk")
    parser.add_argument("--sessions", type=int, nargs="+", default=None, help="walk: 1 4 16; cold-upload: 1 4 8")
    parser.add_argument("--rounds", type=int, default=2, help="walk: times each session walks the pages")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--screenshots", type=Path, default=None, help="cold-upload: save screenshots here")
    args = parser.parse_args(argv)
    sessions = args.sessions or ([1, 4, 16] if args.scenario == "walk" else [1, 4, 8])
    if any(n < 1 or n > 64 for n in sessions) or not 1 <= args.rounds <= 10:
        parser.error("sessions must be 1..64 and rounds 1..10")
    machine = f"{os.cpu_count()} cores, {os.uname().machine}"
    with tempfile.TemporaryDirectory(prefix="dimscope-load-") as tmp:
        cache = Path(tmp) / "cache"
        warm_cache(cache)
        if args.scenario == "cold-upload":
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
            results = [cold_upload_level(cache, n, Path(tmp), args.screenshots) for n in sessions]
            print_cold_upload(results)
            print(
                f"machine: {machine}; public mode, {UPLOAD_TEXTS:,}-text uploads, a fresh server per level, "
                f"encode line capacity {os.environ.get('DIMSCOPE_MAX_CONCURRENT_ENCODES', 'default')}"
            )
        else:
            proc, base = start_server(cache)
            try:
                # One untimed visit so that the server's first-run imports are not charged to N=1.
                asyncio.run(_run_level(base, 1, 1, proc.pid))
                results = [asyncio.run(_run_level(base, n, args.rounds, proc.pid)) for n in sessions]
            finally:
                stop_server(proc)
            print(
                f"{'sessions':>8} {'pages':>6} {'errors':>6} {'p50 s':>7} {'p95 s':>7} {'wall s':>7} "
                f"{'server MB':>10} {'MB/session':>11}"
            )
            for r in results:
                print(
                    f"{r['sessions']:>8} {r['pages']:>6} {r['errors']:>6} {r['p50_s']:>7} {r['p95_s']:>7}"
                    f" {r['wall_s']:>7} {r['server_rss_mb']:>10} {r['rss_growth_per_session_mb']:>11}"
                )
            print(f"machine: {machine}; each session walks {len(ROUTE)} pages x {args.rounds} rounds on a warm cache")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "scenario": args.scenario, "results": results}, indent=1))
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
