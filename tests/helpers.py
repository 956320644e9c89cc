"""Helpers shared by test modules (a module of plain functions: test files never import each other)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
APPTEST_TIMEOUT = 180


# --- the command line -------------------------------------------------------------------------------


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m analysis ARGS`` in a real process, offline unless ``env`` says otherwise."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


#: Variables that would keep a process offline or point it at another hub cache or account.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")


def online_env(endpoint: str, hf_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a process online against ``endpoint``: no offline variables, its own HF_HOME."""
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_VARIABLES}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_PROGRESS_BARS="1", **extra)
    return env


def run_online_cli(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m analysis ARGS`` with exactly ``env`` (see :func:`online_env`)."""
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_bad_input(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2 and exactly one ``error:`` line on stderr, containing every fragment; no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


# --- the dashboard under AppTest ----------------------------------------------------------------------


def new_app(params: dict[str, str] | None = None) -> Any:
    """An AppTest of app.py with these query parameters, not yet run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=APPTEST_TIMEOUT)
    at.query_params.update(params or {})
    return at


def open_page(page: str, params: dict[str, str] | None = None, session: dict | None = None) -> Any:
    """Run app.py (the overview), then switch to ``page``; fails on any exception on the way."""
    at = new_app(params)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    at.run()
    ok(at)
    if page != "pages/overview.py":
        at.switch_page(page).run()
    return at


def app_pages() -> list[tuple[str, str]]:
    """Every page of app.py's ``st.navigation``, in menu order, as (file, URL path): read from
    app.py itself, so a page added there is visited by every test that walks them all."""
    import ast

    import dashboard as ui

    found = []
    for node in ast.walk(ast.parse(APP.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Page":
            first = node.args[0]
            path = getattr(ui, first.attr) if isinstance(first, ast.Attribute) else ast.literal_eval(first)
            keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("url_path", "default")}
            url = "" if keywords.get("default") else keywords.get("url_path", Path(path).stem)
            found.append((node.lineno, path, url))
    assert len(found) >= 10, found  # the parse still finds the menu
    return [(path, url) for _, path, url in sorted(found)]


def ok(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]


def charts(at: Any) -> list:
    return list(at.get("plotly_chart"))


_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def texts(elements: Any) -> list[str]:
    """The elements' text as a reader sees it: Markdown's backslash escapes (``analysis.wording.plain``
    puts one before every punctuation character of what a user supplied) dropped."""
    return [_shown(e.value) if isinstance(e.value, str) else e.value for e in elements]


def _shown(markdown: str) -> str:
    return _MARKDOWN_ESCAPE.sub(r"\1", markdown).replace("\u2060", "")  # and its invisible word joiners


def metrics(at: Any) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --- corpora ------------------------------------------------------------------------------------------


def held_out_glosses(per_label: int, seed: int) -> list[str]:
    """WordNet glosses, ``per_label`` from each of the 45 categories, sampled with a seed no other test uses."""
    from analysis.corpora import load_builtin_corpus

    return list(load_builtin_corpus("wordnet-glosses", per_label=per_label, seed=seed).texts)


def held_out_question_pairs(n: int, seed: int) -> Any:
    """``n`` WordNet synsets none of the built-in wordnet-pairs task uses, as a question about the lemma
    and its definition as the passage; every question and every passage appears once."""
    import numpy as np
    import pandas as pd

    from analysis.corpora import wordnet_synsets
    from analysis.corpora.pairs import WORDNET_PAIRS_PER_LABEL, sample_synset_positions

    built_in = frozenset(sample_synset_positions(WORDNET_PAIRS_PER_LABEL, seed=0))
    synsets = wordnet_synsets()
    rows, questions, passages = [], set(), set()
    for i in sample_synset_positions(20, seed=seed, exclude=built_in):
        s = synsets[i]
        question = f'What does "{s.lemma}" mean?'
        if question in questions or s.gloss in passages or not s.gloss.strip():
            continue
        questions.add(question)
        passages.add(s.gloss)
        rows.append((question, s.gloss))
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(rows), size=n, replace=False))
    return pd.DataFrame([rows[i] for i in keep], columns=["question", "passage"])
