"""``python -m benchmarks --quick`` runs end to end and writes its JSON (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs python -m benchmarks --quick

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_run_and_write_results(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("DIMSCOPE_CACHE_DIR", None)  # every benchmark makes its own cache folders
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (tmp_path / "latest.json").exists()  # a quick run never replaces the full record
    latest = json.loads((tmp_path / "latest-quick.json").read_text())
    assert latest["quick"] is True and latest["machine"]["cores"]
    assert len(list(tmp_path.glob("2*-quick.json"))) == 1  # the timestamped record
    figures = latest["figures"]
    assert {f["target"] for f in figures} == set(range(1, 14))  # every target of benchmarks/run.py
    assert not [f for f in figures if f["verdict"] == "ERROR"], [
        f["details"] for f in figures if f["verdict"] == "ERROR"
    ]
    for f in figures:
        assert f["verdict"] in {"pass", "FAIL", "info", "skip", "todo"}
        assert f["value"] is None or isinstance(f["value"], (int, float))
    # The table is on stdout with one line per figure.
    assert "pipeline overhead" in run.stdout and "warm speedup" in run.stdout
