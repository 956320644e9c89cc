"""The hosted demo's build: Dockerfile instructions, and its build script run outside Docker."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def test_dockerfile_has_the_required_instructions():
    rows = _instructions()
    keywords = [k for k, _ in rows]
    assert rows[0][0] == "FROM" and "slim" in rows[0][1]
    users = [v for k, v in rows if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", "8501") in rows
    healthcheck = " ".join(v for k, v in rows if k == "HEALTHCHECK")
    assert "/_stcore/health" in healthcheck
    assert any("/data/cache" in v for k, v in rows if k == "VOLUME")
    runs = " ".join(v for k, v in rows if k == "RUN")
    assert "torch==2.13.0" in runs and "scripts/prepare-demo.sh" in runs
    envs = " ".join(v for k, v in rows if k == "ENV")
    assert "HF_HUB_OFFLINE=1" in envs and "DIMSCOPE_PUBLIC=1" in envs
    # The precompute runs as the non-root user, after USER, so the cache it writes is readable.
    assert keywords.index("USER") < max(i for i, (k, v) in enumerate(rows) if k == "RUN" and "prepare-demo" in v)
    cmd = " ".join(v for k, v in rows if k == "CMD")
    assert "enableXsrfProtection=true" in cmd and "8501" in cmd


def test_every_copied_path_exists():
    for keyword, value in _instructions():
        if keyword == "COPY":
            sources = [part for part in value.split() if not part.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is missing"


def test_streamlit_config_keeps_xsrf_protection():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config.get("server", {}).get("enableXsrfProtection", True) is True


@pytest.mark.slow  # the demo's build script, end to end
def test_prepare_demo_script_warms_the_cache_outside_docker(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "DIMSCOPE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        ["bash", "scripts/prepare-demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cache warm" in result.stdout
    # A fresh process now gets the default answer from the cache.
    from analysis.corpora import load_corpus
    from analysis.pipeline import get_stats
    from analysis.pipeline.cache import EmbeddingStore

    stats = get_stats("all-MiniLM-L6-v2", load_corpus("chatterbot-english"), store=EmbeddingStore(cache))
    assert stats.from_cache and stats.dead_dims == [127, 223, 319]
    # ... and "What can I drop?" its default report
    from analysis.corpora import load_builtin_task
    from analysis.reports.compress import cached_compress_report

    report = cached_compress_report(
        "all-MiniLM-L6-v2", load_builtin_task("chatterbot-pairs"), store=EmbeddingStore(cache)
    )
    assert report is not None and report.dead_dims == [127, 223, 319]
