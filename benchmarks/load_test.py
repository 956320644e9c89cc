"""Many users at once: N real browser sessions against one `streamlit run app.py` on loopback.

Each session is its own Chromium context (own cookies, own Streamlit session). On a warm
cache, every session opens the overview, then switches through Explore, Dimension detail and
Compare, and we time each page from navigation to "charts drawn and script finished".
Reports p50/p95 page time, the error count (Streamlit exceptions or timeouts) and the
server's memory per session, for N = 1, 4 and 16 by default.

    python -m benchmarks.load_test            # N = 1, 4, 16
    python -m benchmarks.load_test --sessions 1 4 --rounds 1

Traffic goes to 127.0.0.1 only, and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
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


def start_server(cache: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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


async def _settle(page) -> None:
    deadline = time.monotonic() + PAGE_TIMEOUT_S
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


def warm_cache(cache: Path) -> None:
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    subprocess.run(["bash", "scripts/prepare-demo.sh"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=2, help="times each session walks the pages")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if any(n < 1 or n > 64 for n in args.sessions) or not 1 <= args.rounds <= 10:
        parser.error("sessions must be 1..64 and rounds 1..10")
    with tempfile.TemporaryDirectory(prefix="dimscope-load-") as tmp:
        cache = Path(tmp) / "cache"
        warm_cache(cache)
        proc, base = start_server(cache)
        try:
            # One untimed visit so that the server's first-run imports are not charged to N=1.
            asyncio.run(_run_level(base, 1, 1, proc.pid))
            results = [asyncio.run(_run_level(base, n, args.rounds, proc.pid)) for n in args.sessions]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(
        f"{'sessions':>8} {'pages':>6} {'errors':>6} {'p50 s':>7} {'p95 s':>7} {'wall s':>7} "
        f"{'server MB':>10} {'MB/session':>11}"
    )
    for r in results:
        print(
            f"{r['sessions']:>8} {r['pages']:>6} {r['errors']:>6} {r['p50_s']:>7} {r['p95_s']:>7} {r['wall_s']:>7}"
            f" {r['server_rss_mb']:>10} {r['rss_growth_per_session_mb']:>11}"
        )
    machine = f"{os.cpu_count()} cores, {os.uname().machine}"
    print(f"machine: {machine}; each session walks {len(ROUTE)} pages x {args.rounds} rounds on a warm cache")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=1))
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
