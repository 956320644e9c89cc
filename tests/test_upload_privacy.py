"""What an upload leaves on the shared disk cache: nothing in public mode, everything (useful) in private mode.

The app runs under AppTest on a copy of the warm cache; the upload goes through the real file
uploader, and the pages that compute from it are visited. Then the disk cache is opened directly
(diskcache's own SQLite table) and searched for the upload's corpus hash, in keys and in values.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import sqlite3
import weakref
from pathlib import Path

import pytest

from analysis.corpora import parse_corpus_bytes
from analysis.pipeline import text_hashes
from tests.helpers import charts, ok, open_page

# 40 distinct texts with two labels and two languages: enough for every page that computes.
ROWS = [
    (f"Sentence number {i} talks about {topic} in a quiet way.", topic, lang)
    for i, (topic, lang) in enumerate(
        [("weather", "en"), ("food", "en"), ("weather", "de"), ("food", "de")] * 10,
    )
]
CSV = ("text,topic,language\n" + "\n".join(f'"{t}",{label},{lang}' for t, label, lang in ROWS) + "\n").encode()
PAGES = ["pages/explore.py", "pages/dimension.py", "pages/geometry.py", "pages/selection.py", "pages/languages.py"]


@pytest.fixture()
def cache_copy(warm_cache_dir, tmp_path, monkeypatch) -> Path:
    """A private copy of the warm cache (the built-in default is precomputed, as in the demo)."""
    target = tmp_path / "cache"
    shutil.copytree(warm_cache_dir, target, ignore=shutil.ignore_patterns("locks"))
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(target))
    return target


@pytest.fixture()
def public(monkeypatch):
    from pages.dashboard import policy

    monkeypatch.setenv("DIMSCOPE_PUBLIC", "1")
    policy.reset_policy()
    yield
    monkeypatch.delenv("DIMSCOPE_PUBLIC")
    policy.reset_policy()


def disk_entries(cache: Path) -> list[tuple[str, bytes]]:
    """Every (key, value bytes) diskcache holds, read from its database and value files."""
    out = []
    with contextlib.closing(sqlite3.connect(cache / "cache.db")) as db:
        for key, filename, value in db.execute("SELECT key, filename, value FROM Cache"):
            data = (cache / filename).read_bytes() if filename else (value or b"")
            out.append((str(key), bytes(data) if not isinstance(data, str) else data.encode()))
    return out


def traces_of(corpus, cache: Path) -> list[str]:
    """Keys of disk entries that derive from ``corpus``: named by its hash, mentioning it, or
    holding the hashes of its texts."""
    digest = corpus.content_hash
    row_hashes = text_hashes(corpus.texts).tobytes()
    return [
        key for key, data in disk_entries(cache) if digest in key or digest.encode() in data or row_hashes[:64] in data
    ]


def upload_and_visit() -> tuple[object, object]:
    at = open_page("pages/corpus.py")
    at.file_uploader(key="corpus_upload").set_value(("visitor.csv", CSV, "text/csv")).run()
    ok(at)
    corpus = at.session_state["ds_uploads"]["visitor.csv"]
    assert len(corpus) == len(ROWS) and corpus.languages is not None
    for page in PAGES:
        at.switch_page(page).run()
        ok(at)
        assert not at.error, [e.value for e in at.error]
        if page != "pages/languages.py":
            assert charts(at), page
    return at, corpus


def test_public_mode_upload_leaves_nothing_on_the_shared_disk(cache_copy, public):
    before = {key for key, _ in disk_entries(cache_copy)}
    at, corpus = upload_and_visit()
    # The pages did compute from the upload, into this session's memory...
    store = at.session_state["ds_session_store"]
    assert any(corpus.content_hash in key for key in store.keys())
    # ...and nothing derived from it is on disk, in a key or in a value (the reuse index).
    assert traces_of(corpus, cache_copy) == []
    # Nothing new at all was written to the shared disk during the visit.
    assert {key for key, _ in disk_entries(cache_copy)} - before == set()
    # The session ends: its memory store goes with it.
    gone = weakref.ref(store)
    del at, store
    gc.collect()
    assert gone() is None
    assert traces_of(corpus, cache_copy) == []


def test_private_mode_upload_is_cached_for_later_runs(cache_copy):
    """Locally, caching an upload is useful: a later process (here: the library, as the CLI runs it)
    reads the same file and gets its statistics from the cache."""
    _, corpus = upload_and_visit()
    assert traces_of(corpus, cache_copy), "private mode should cache the upload on disk"
    from analysis.cache import EmbeddingStore
    from analysis.pipeline import get_stats

    again = parse_corpus_bytes(CSV, "visitor.csv")
    assert again.content_hash == corpus.content_hash
    store = EmbeddingStore(cache_copy)
    assert get_stats("all-MiniLM-L6-v2", again, store=store).from_cache
    store.close()
