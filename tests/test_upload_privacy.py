"""What an upload leaves on the shared disk cache: nothing in public mode, everything (useful) in private mode.

The app runs under AppTest on a copy of the warm cache; the upload goes through the real file
uploader, and the pages that compute from it are visited (every page of the app's navigation, read
from app.py). Then the disk cache is opened directly (diskcache's own SQLite table and its folder)
and searched for the upload's corpus hash, in keys and in values, and for any new row or file.
"""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
import sqlite3
import weakref
from pathlib import Path

import numpy as np
import pytest

from analysis.corpora import parse_corpus_bytes
from analysis.pipeline import text_hashes
from tests.helpers import app_pages, charts, ok, open_page, texts

# 40 distinct texts with two labels and two languages: enough for every page that computes.
ROWS = [
    (f"Sentence number {i} talks about {topic} in a quiet way.", topic, lang)
    for i, (topic, lang) in enumerate(
        [("weather", "en"), ("food", "en"), ("weather", "de"), ("food", "de")] * 10,
    )
]
CSV = ("text,topic,language\n" + "\n".join(f'"{t}",{label},{lang}' for t, label, lang in ROWS) + "\n").encode()
PAGES = ["pages/explore.py", "pages/dimension.py", "pages/geometry.py", "pages/selection.py", "pages/languages.py"]
# Every column a visitor's table can bring: texts, labels, languages, and query -> passage pairs.
FULL_ROWS = [
    (f"Sentence number {i} talks about {topic} in a quiet way.", topic, lang, f"What is said about {topic} {i}?")
    for i, (topic, lang) in enumerate([("weather", "en"), ("food", "en"), ("weather", "de"), ("food", "de")] * 8)
]
FULL_CSV = (
    "text,label,language,question,passage\n"
    + "\n".join(f'"{t}",{label},{lang},"{q}","{t}"' for t, label, lang, q in FULL_ROWS)
    + "\n"
).encode()


@pytest.fixture()
def cache_copy(warm_cache_dir, tmp_path, monkeypatch) -> Path:
    """A private copy of the warm cache (the built-in default is precomputed, as in the demo)."""
    target = tmp_path / "cache"
    shutil.copytree(warm_cache_dir, target, ignore=shutil.ignore_patterns("locks"))
    monkeypatch.setenv("DIMSCOPE_CACHE_DIR", str(target))
    return target


@pytest.fixture()
def public(monkeypatch):
    from dashboard import policy

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


def disk_state(cache: Path) -> tuple[set[str], set[str]]:
    """The shared cache as a visitor could leave a mark on it: its rows' keys and every file under
    its folder (value files, lock files, the database's own)."""
    keys = {key for key, _ in disk_entries(cache)}
    files = {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()}
    return keys, files


def new_on_disk(cache: Path, before: tuple[set[str], set[str]]) -> tuple[list[str], list[str]]:
    """The rows and files the shared cache has gained since ``before`` (see :func:`disk_state`)."""
    keys, files = disk_state(cache)
    return sorted(keys - before[0]), sorted(files - before[1])


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_private_mode_upload_is_cached_for_later_runs(cache_copy):
    """Locally, caching an upload is useful: a later process (here: the library, as the CLI runs it)
    reads the same file and gets its statistics from the cache."""
    _, corpus = upload_and_visit()
    assert traces_of(corpus, cache_copy), "private mode should cache the upload on disk"
    from analysis.pipeline import get_stats
    from analysis.pipeline.cache import EmbeddingStore

    again = parse_corpus_bytes(CSV, "visitor.csv")
    assert again.content_hash == corpus.content_hash
    store = EmbeddingStore(cache_copy)
    assert get_stats("all-MiniLM-L6-v2", again, store=store).from_cache
    store.close()


def embeddings_parquet() -> bytes:
    """A visitor's own vectors with texts and labels (32 rows x 24 dims, two well-separated topics)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(19)
    labels = [label for _, label, _, _ in FULL_ROWS]
    raw = rng.normal(size=(len(labels), 24)).astype(np.float32)
    raw[:, 0] += np.array([4.0 if label == "food" else -4.0 for label in labels], dtype=np.float32)
    flat = pa.array(raw.reshape(-1))
    table = pa.table(
        {
            "embedding": pa.FixedSizeListArray.from_arrays(flat, raw.shape[1]),
            "text": [f"own vector {i}" for i in range(len(labels))],
            "label": labels,
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def visit_every_page(at, *, own_task: str | None = None) -> dict[str, int]:
    """Open every page of the navigation; on What can I drop? score the sidebar corpus's own task
    (its pairs or labels, named ``own_task``) when given. Returns the charts each page drew."""
    drawn = {}
    for page, _ in app_pages():
        if own_task and page == "pages/drop.py":
            at.query_params["task"] = "corpus"  # in the link, so no built-in task runs first
        at.switch_page(page).run()
        ok(at)
        assert not at.error, (page, [e.value for e in at.error])
        if own_task and page == "pages/drop.py":
            assert any(c.startswith(f"{own_task}: ") for c in texts(at.caption)), texts(at.caption)
        drawn[page] = len(charts(at))
    return drawn


@pytest.mark.slow
def test_public_mode_every_page_after_every_kind_of_upload_leaves_the_shared_disk_unchanged(cache_copy, public):
    """Privacy by construction: whatever page a visitor opens on whatever they upload (texts with
    labels, languages and pairs; the same without pairs, so the labels are the task; their own
    embeddings), the shared disk gets no new row and no new file. Built-in corpora first, so what
    the demo may cache for everyone is cached before the snapshot."""
    at = open_page("pages/overview.py")
    visit_every_page(at)
    before = disk_state(cache_copy)

    at.switch_page("pages/corpus.py").run()
    at.file_uploader(key="corpus_upload").set_value(("visitor.csv", FULL_CSV, "text/csv")).run()
    ok(at)
    mapped = {key: at.selectbox(key=key).value for key in ("map_text", "map_label", "map_language", "map_query")}
    assert mapped == {"map_text": "text", "map_label": "label", "map_language": "language", "map_query": "question"}
    assert at.selectbox(key="map_document").value == "passage"
    corpus = at.session_state["ds_uploads"]["visitor.csv"]
    pairs = at.session_state["ds_pair_uploads"]["visitor.csv"]
    drawn = visit_every_page(at, own_task=pairs.name)
    # Each page that computes drew from the upload; What can I drop? scored the upload's own pairs.
    assert all(drawn[page] for page in PAGES + ["pages/compare.py", "pages/drop.py"]), drawn
    assert any(pairs.queries.content_hash in key for key in at.session_state["ds_session_store"].keys())
    assert new_on_disk(cache_copy, before) == ([], [])

    # The same upload without its pairs: What can I drop? scores its labels instead.
    at.switch_page("pages/corpus.py").run()  # a page left forgets its file widget: the file again
    at.file_uploader(key="corpus_upload").set_value(("visitor.csv", FULL_CSV, "text/csv")).run()
    at.selectbox(key="map_query").set_value("(none)").run()
    ok(at)
    assert "visitor.csv" not in at.session_state["ds_pair_uploads"]
    at.switch_page("pages/drop.py").run()
    ok(at)
    assert "same label = relevant" in " ".join(texts(at.caption)) and charts(at)
    assert new_on_disk(cache_copy, before) == ([], [])

    # The visitor's own embeddings: every page again, What can I drop? on their labels.
    at.switch_page("pages/corpus.py").run()
    at.file_uploader(key="vectors_upload").set_value(("own.parquet", embeddings_parquet(), "application/octet-stream"))
    at.run()
    ok(at)
    assert at.session_state["ds_context"].vectors is not None
    vectors = at.session_state["ds_context"].vectors
    drawn = visit_every_page(at, own_task=vectors.corpus.name)
    assert all(drawn[page] for page in ["pages/explore.py", "pages/geometry.py", "pages/drop.py"]), drawn
    assert new_on_disk(cache_copy, before) == ([], [])
    assert traces_of(corpus, cache_copy) == []
