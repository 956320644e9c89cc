"""Cache faults on a real diskcache on disk, with real processes and real mounts.

* damaged value files and a deleted or garbage database are recomputed to the same answer
  (the tiny model's dead dimensions [3, 17]);
* a read-only or full cache folder (real tmpfs mounts when the tests run as root) keeps the
  pipeline working uncached, with the reason in ``StatsResult.warnings``, and never throws a
  good cache away;
* value files swapped between two intact same-shape entries are caught by the key in their
  header and recomputed;
* eviction never takes away an entry that is being streamed (POSIX keeps the unlinked file
  readable until it is closed);
* 8 processes asking for the same uncached embeddings compute them once and agree.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from analysis import pipeline
from analysis.corpora import Corpus
from analysis.models import resolve_model
from analysis.pipeline.cache import EmbeddingStore

ROOT = Path(__file__).resolve().parent.parent
DEAD = [3, 17]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return resolve_model(str(tiny_model_dir))


def tiny(n: int, seed: int = 5) -> Corpus:
    from tests.tiny_models import tiny_corpus

    return Corpus(name=f"tiny-{n}-{seed}", texts=tuple(dict.fromkeys(tiny_corpus(n, seed=seed))))


def value_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.val"))


def run_in_thread(func, *args, **kwargs):
    """Call ``func`` in a new thread, as Streamlit runs each session's script (a new thread
    means a new SQLite connection in diskcache)."""
    box: dict = {}

    def target():
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(300)
    if "error" in box:
        raise box["error"]
    return box["value"]


# --------------------------------------------------------------------------- mounts


def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", str(target)], capture_output=True, timeout=30)
    if os.path.ismount(target):  # something still holds a file open: detach lazily
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


@pytest.fixture()
def tmpfs(tmp_path):
    """``tmpfs(options) -> Path | None``: a fresh tmpfs mount (unmounted after the test), or
    None when this machine cannot mount (not root); the tests then fall back, and say so."""
    mounted: list[Path] = []

    def make(options: str) -> Path | None:
        target = tmp_path / f"mnt{len(mounted)}"
        if not _mount(target, options):
            return None
        mounted.append(target)
        return target

    yield make
    for target in mounted:
        _umount(target)


def fill_disk(folder: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system holding ``folder`` to the last block, then free ``leave_bytes``."""
    filler = folder / "filler"
    with open(filler, "ab", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 4096)
    if leave_bytes:
        os.truncate(filler, max(0, filler.stat().st_size - leave_bytes))
    return filler


# --------------------------------------------------------------------------- damaged files


DAMAGE = {
    "empty": lambda data: b"",
    "header only": lambda data: data[: data.index(b"}") + 1],
    "half": lambda data: data[: len(data) // 2],
    "one byte more": lambda data: data + b"\0",
    "garbage of the same size": lambda data: os.urandom(len(data)),
    "one flipped bit": lambda data: data[:-100] + bytes([data[-100] ^ 0x01]) + data[-99:],
}


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_value_files_are_recomputed_to_the_same_answer(damage, model, tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    corpus = tiny(320)  # 320 x 32 float32 rows: over diskcache's 32 KB file threshold
    first = pipeline.get_stats(model, corpus, store=store)
    assert first.dead_dims == DEAD and not first.from_cache
    raw_before = pipeline.cached_embeddings(model, corpus, store=store)
    files = value_files(tmp_path / "c")
    assert files, "the embeddings should live in a value file"
    for path in files:
        path.write_bytes(DAMAGE[damage](path.read_bytes()))
    # Drop the (small, in-database) statistics so that the next request must read the damaged
    # value file: streamed statistics first, then the embeddings themselves.
    for view in ("raw", "normalized"):
        store.delete(pipeline.stats_key(model, corpus, pipeline.EncodeOptions(), view))
    second = run_in_thread(pipeline.get_stats, model, corpus, store=store)
    assert second.dead_dims == DEAD and not second.from_cache
    np.testing.assert_allclose(second.normalized["std"], first.normalized["std"], atol=1e-6)
    assert any("damaged" in w for w in second.warnings), second.warnings
    # The recomputed embeddings were stored again, whole and checked.
    again = pipeline.get_embeddings(model, corpus, store=store)
    assert again.from_cache
    np.testing.assert_allclose(again.raw, raw_before, atol=1e-5)


def same_size_pair(n: int = 300) -> tuple[Corpus, Corpus]:
    """Two different corpora of exactly ``n`` texts (same-shape embeddings, over 32 KB each)."""
    a, b = tiny(n + 40, seed=5), tiny(n + 40, seed=6)
    return Corpus(name="first", texts=a.texts[:n]), Corpus(name="second", texts=b.texts[:n])


def value_file_of(directory: Path, key: str) -> Path:
    """The value file diskcache keeps for ``key`` (its own SQLite table says which)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(directory / "cache.db")) as db:
        row = db.execute("SELECT filename FROM Cache WHERE key = ?", (key,)).fetchone()
    assert row is not None and row[0], f"{key} is not stored in a value file"
    return directory / row[0]


def swap_files(a: Path, b: Path) -> None:
    aside = a.with_suffix(".swap")
    os.replace(a, aside)
    os.replace(b, a)
    os.replace(aside, b)


@pytest.mark.slow
def test_value_files_swapped_between_two_entries_are_caught_and_recomputed(model, tmp_path):
    """Two same-shape embeddings, both intact, each in the other's file: every read refuses them."""
    cache = tmp_path / "c"
    store = EmbeddingStore(cache)
    options = pipeline.EncodeOptions()
    first, second = same_size_pair()
    assert len(first) == len(second) and first.content_hash != second.content_hash
    truth = {c.content_hash: pipeline.get_embeddings(model, c, store=store).raw for c in (first, second)}
    key_a, key_b = (pipeline.embeddings_key(model, c, options) for c in (first, second))
    file_a, file_b = value_file_of(cache, key_a), value_file_of(cache, key_b)
    swap_files(file_a, file_b)
    # A checksum alone would pass: each file is whole, only under the other key.
    assert store.get_array(key_a) is None and key_a not in store
    assert any("another key" in w for w in store.warnings), store.warnings
    # Streaming checks the key in the header before reading a row.
    assert store.stream_array(key_b) is None and key_b not in store
    # The pipeline recomputes each one to its own answer.
    for corpus in (first, second):
        again = run_in_thread(pipeline.get_embeddings, model, corpus, store=store)
        assert not again.from_cache
        np.testing.assert_allclose(again.raw, truth[corpus.content_hash], atol=1e-5)
        assert not np.allclose(again.raw, truth[(second if corpus is first else first).content_hash], atol=1e-3)


def test_statistics_files_swapped_between_two_entries_are_caught(model, tmp_path):
    """Statistics records of two corpora (each a value file over 32 KB) swapped: both recomputed."""
    cache = tmp_path / "c"
    store = EmbeddingStore(cache)
    options = pipeline.EncodeOptions()
    first, second = same_size_pair()
    truth = {c.content_hash: pipeline.get_stats(model, c, store=store) for c in (first, second)}
    for view in ("raw", "normalized"):
        key_a, key_b = (pipeline.stats_key(model, c, options, view) for c in (first, second))
        store.put_json(key_a, {**store.get_json(key_a), "pad": "x" * 40_000})  # force a value file
        store.put_json(key_b, {**store.get_json(key_b), "pad": "y" * 40_000})
        swap_files(value_file_of(cache, key_a), value_file_of(cache, key_b))
        assert store.get_json(key_a) is None and store.get_json(key_b) is None
    assert any("another key" in w for w in store.warnings)
    for corpus in (first, second):
        again = pipeline.get_stats(model, corpus, store=store)
        assert not again.from_cache and again.dead_dims == DEAD
        np.testing.assert_allclose(
            again.normalized["std"], truth[corpus.content_hash].normalized["std"], rtol=1e-6, atol=1e-9
        )


_STATS_WORKER = textwrap.dedent(
    """
    import json, sys
    from analysis import pipeline
    from analysis.pipeline.cache import EmbeddingStore
    from analysis.corpora import Corpus
    from tests.tiny_models import tiny_corpus
    corpus = Corpus(name="c", texts=tuple(dict.fromkeys(tiny_corpus(600, seed=5))))
    store = EmbeddingStore(sys.argv[2])
    result = pipeline.get_stats(sys.argv[1], corpus, store=store)
    print(json.dumps({"dead": result.dead_dims, "from_cache": result.from_cache,
                      "std": result.normalized["std"].tolist(), "warnings": result.warnings}))
    """
)


def _worker_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _stats_in_a_process(model_dir: Path, cache: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _STATS_WORKER, str(model_dir), str(cache)],
        cwd=ROOT,
        env=_worker_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_deleted_database_between_runs_recomputes_the_same_answer(tiny_model_dir, model, tmp_path):
    cache = tmp_path / "c"
    first = _stats_in_a_process(tiny_model_dir, cache)  # a run that ends, as the CLI's does
    assert first["dead"] == DEAD and not first["from_cache"]
    for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
        (cache / name).unlink(missing_ok=True)
    assert value_files(cache), "the orphaned value files stay behind"
    second = pipeline.get_stats(model, tiny(600), store=EmbeddingStore(cache))
    assert second.dead_dims == DEAD and not second.from_cache
    np.testing.assert_allclose(second.normalized["std"], first["std"], atol=1e-6)
    third = pipeline.get_stats(model, tiny(600), store=EmbeddingStore(cache))
    assert third.from_cache and third.dead_dims == DEAD and third.warnings == []


@pytest.mark.parametrize("fault", ["deleted", "overwritten with garbage"])
def test_database_lost_while_the_app_runs_is_replaced(fault, model, tmp_path):
    """A long-lived store (the dashboard's) whose database disappears under it: every new
    session thread must not stay uncached forever, and answers stay right."""
    directory = tmp_path / "c"
    store = EmbeddingStore(directory)
    corpus = tiny(600)
    assert run_in_thread(pipeline.get_stats, model, corpus, store=store).dead_dims == DEAD
    for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
        path = directory / name
        if not path.exists():
            continue
        if fault == "deleted":
            path.unlink()
        else:
            with open(path, "r+b") as fh:
                fh.write(os.urandom(path.stat().st_size))
    second = run_in_thread(pipeline.get_stats, model, corpus, store=store)
    assert second.dead_dims == DEAD and not second.from_cache
    assert any("while in use" in w and "new, empty one" in w for w in second.warnings), second.warnings
    # The new database works: another session, and another process, are served from it.
    third = run_in_thread(pipeline.get_stats, model, corpus, store=store)
    assert third.from_cache and third.dead_dims == DEAD
    fresh = EmbeddingStore(directory)
    assert fresh.enabled and pipeline.get_stats(model, corpus, store=fresh).from_cache
    if fault != "deleted":
        assert list(directory.glob("cache.db.corrupt-*")), "the damaged database is kept aside"


# --------------------------------------------------------------------------- read-only and full


@pytest.mark.slow
def test_read_only_cache_folder_works_uncached_with_a_warning(model, tmpfs, tmp_path):
    corpus = tiny(600)
    mount = tmpfs("ro,size=1m")
    if mount is not None:
        folder = mount / "cache"  # cannot even be created
    else:  # not root: a path under a regular file can never be created either
        blocker = tmp_path / "file"
        blocker.write_text("x")
        folder = blocker / "cache"
        print("could not mount a read-only tmpfs; used a path under a regular file instead")
    store = EmbeddingStore(folder)
    result = pipeline.get_stats(model, corpus, store=store)
    assert result.dead_dims == DEAD and not result.from_cache
    assert any("cannot be written" in w and "working uncached" in w for w in result.warnings)
    if mount is not None:
        assert any("Read-only file system" in w for w in result.warnings)


@pytest.mark.slow
def test_cache_made_read_only_after_warming_is_kept_and_reused(model, tmpfs, tmp_path):
    corpus = tiny(600)
    mount = tmpfs("size=4m")
    folder = (mount or tmp_path) / "cache"
    warm_store = EmbeddingStore(folder)
    warm = pipeline.get_stats(model, corpus, store=warm_store)
    assert warm.dead_dims == DEAD and not warm.from_cache
    warm_store.close()  # a file system with files open for writing cannot be made read-only
    if mount is not None:
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
        assert remounted.returncode == 0, remounted.stderr
    else:  # not root: chmod alone does not stop root, and nothing else does; use a read-only twin path
        print("could not remount read-only; simulated with an unwritable path")
        folder = tmp_path / "file-not-dir" / "cache"
        (tmp_path / "file-not-dir").write_text("x")
    read_only = EmbeddingStore(folder)
    result = pipeline.get_stats(model, corpus, store=read_only)
    assert result.dead_dims == DEAD
    assert any("working uncached" in w for w in result.warnings), result.warnings
    if mount is not None:
        assert subprocess.run(["mount", "-o", "remount,rw", str(mount)], capture_output=True).returncode == 0
        assert not list(folder.glob("cache.db.corrupt-*")), "a read-only cache is not damage"
        assert pipeline.get_stats(model, corpus, store=EmbeddingStore(folder)).from_cache


@pytest.mark.slow
def test_full_cache_folder_from_the_start_works_uncached(model, tmpfs, monkeypatch, tmp_path):
    corpus = tiny(600)
    mount = tmpfs("size=64k")
    if mount is not None:
        store = EmbeddingStore(mount / "cache")
    else:
        print("could not mount a 64 KB tmpfs; simulated a full disk by monkeypatching writes")
        store = EmbeddingStore(tmp_path / "cache")

        def no_space(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store._cache, "set", no_space)
    result = pipeline.get_stats(model, corpus, store=store)
    assert result.dead_dims == DEAD and not result.from_cache
    assert result.warnings and any("full" in w or "No space" in w for w in result.warnings), result.warnings
    # A full disk is not a corrupt database: nothing is moved aside as "corrupt".
    assert not any("corrupt" in w for w in result.warnings), result.warnings
    again = pipeline.get_stats(model, corpus, store=store)
    assert again.dead_dims == DEAD


@pytest.mark.slow
def test_cache_folder_filling_up_while_in_use(model, tmpfs, monkeypatch, tmp_path):
    mount = tmpfs("size=1m")
    store = EmbeddingStore((mount or tmp_path) / "cache")
    warm = pipeline.get_stats(model, tiny(600), store=store)
    assert warm.dead_dims == DEAD and warm.warnings == []
    if mount is not None:
        fill_disk(mount)
    else:
        print("could not mount a tmpfs; simulated a full disk by monkeypatching writes")

        def no_space(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store._cache, "set", no_space)
    other = tiny(700, seed=6)
    result = run_in_thread(pipeline.get_stats, model, other, store=store)
    assert result.dead_dims == DEAD and not result.from_cache
    assert any("not cached" in w for w in result.warnings), result.warnings
    expected = pipeline.get_stats(model, other, store=EmbeddingStore(tmp_path / "fresh"))
    np.testing.assert_allclose(result.normalized["std"], expected.normalized["std"], atol=1e-6)


@pytest.mark.slow
def test_nearly_full_disk_at_start_does_not_throw_the_warm_cache_away(model, tmpfs, tmp_path):
    """Opening a good database on a disk with a few KB left fails with "database or disk is
    full"; that is not corruption, and the warm cache must survive it."""
    mount = tmpfs("size=1m")
    corpus = tiny(600)
    if mount is None:
        print("could not mount a tmpfs; checked the open path with a monkeypatched full disk")
        folder = tmp_path / "cache"
        warm = EmbeddingStore(folder)
        assert not pipeline.get_stats(model, corpus, store=warm).from_cache
        warm.close()
        import diskcache

        real = diskcache.Cache

        def full(*args, **kwargs):
            import sqlite3

            raise sqlite3.OperationalError("database or disk is full")

        diskcache.Cache = full
        try:
            store = EmbeddingStore(folder)
        finally:
            diskcache.Cache = real
        assert not store.enabled
        assert not list(folder.glob("cache.db.corrupt-*"))
        assert pipeline.get_stats(model, corpus, store=EmbeddingStore(folder)).from_cache
        return
    folder = mount / "cache"
    warm = EmbeddingStore(folder)
    assert not pipeline.get_stats(model, corpus, store=warm).from_cache
    warm.close()
    seen = set()
    for pages_left in (1, 2, 4):
        filler = fill_disk(mount, leave_bytes=pages_left * 4096)
        store = EmbeddingStore(folder)
        result = pipeline.get_stats(model, corpus, store=store)
        assert result.dead_dims == DEAD
        seen.update(result.warnings)
        store.close()
        assert not list(folder.glob("cache.db.corrupt-*")), (pages_left, result.warnings)
        filler.unlink()
    assert any("working uncached" in w or "not cached" in w or "recomputing" in w for w in seen), seen
    # Space is back: the warm entries are still there.
    assert pipeline.get_stats(model, corpus, store=EmbeddingStore(folder)).from_cache


# --------------------------------------------------------------------------- eviction while reading

_EVICTOR = textwrap.dedent(
    """
    import sys
    import numpy as np
    from analysis.pipeline.cache import EmbeddingStore
    store = EmbeddingStore(sys.argv[1], size_limit=int(sys.argv[2]))
    for i in range(8):
        assert store.put_array(f"filler-{i}", np.full((3000, 32), i, dtype=np.float32))
    print(store.volume_bytes())
    """
)


def test_eviction_never_removes_an_entry_while_it_is_read(tmp_path):
    directory, limit = tmp_path / "c", 1024 * 1024
    store = EmbeddingStore(directory, size_limit=limit)
    array = np.random.default_rng(0).normal(size=(3000, 32)).astype(np.float32)  # 384 KB
    assert store.put_array("victim", array)
    stream = store.stream_array("victim")
    assert stream is not None and stream.shape == array.shape
    chunks = stream.chunks(500)
    rows = [next(chunks)]  # reading has started
    path = Path(stream._handle.name)
    assert path.exists()
    # Another process writes 3 MB into a 1 MB cache: least-recently-used entries are culled,
    # the victim (accessed before any filler was written) first.
    done = subprocess.run(
        [sys.executable, "-c", _EVICTOR, str(directory), str(limit)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) <= limit + 512 * 1024
    # The entry is gone from the cache and its file from the folder...
    assert "victim" not in EmbeddingStore(directory, size_limit=limit)
    assert not path.exists()
    assert os.fstat(stream._handle.fileno()).st_nlink == 0  # unlinked, but still open here
    # ...yet the reader finishes with every row and a verified checksum.
    rows.extend(chunks)
    assert stream.verified
    np.testing.assert_array_equal(np.concatenate(rows), array)
    # A later request sees a miss (and would recompute), never a partial array.
    assert store.get_array("victim") is None


# --------------------------------------------------------------------------- 8 processes, one key

_RACER = textwrap.dedent(
    """
    import hashlib, json, os, sys, time
    from pathlib import Path
    import analysis.pipeline.embeddings  # light: torch is imported only by the process that encodes
    from analysis import pipeline
    from analysis.pipeline.cache import EmbeddingStore
    from analysis.corpora import Corpus
    from tests.tiny_models import tiny_corpus

    model_dir, cache, sync, index = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    real = analysis.pipeline.embeddings.encode_raw

    def counted(model, texts, **kwargs):
        with open(sync / "computed.log", "a") as log:
            log.write(f"{index} {len(texts)}\\n")
        return real(model, texts, **kwargs)

    analysis.pipeline.embeddings.encode_raw = counted
    corpus = Corpus(name="race", texts=tuple(dict.fromkeys(tiny_corpus(3000, seed=11))))
    store = EmbeddingStore(cache)
    (sync / f"ready-{index}").touch()
    deadline = time.monotonic() + 240
    while not (sync / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("never started")
        time.sleep(0.005)
    started = time.time()
    result = pipeline.get_embeddings(model_dir, corpus, store=store)
    print(json.dumps({"from_cache": result.from_cache, "n_encoded": result.n_encoded,
                      "started": started, "finished": time.time(),
                      "shape": list(result.raw.shape),
                      "sha256": hashlib.sha256(result.raw.tobytes()).hexdigest()}))
    """
)


@pytest.mark.slow  # eight processes, each importing the stack
def test_eight_processes_compute_one_uncached_key_once(tiny_model_dir, tmp_path):
    cache, sync = tmp_path / "c", tmp_path / "sync"
    sync.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tiny_model_dir), str(cache), str(sync), str(i)],
            cwd=ROOT,
            env=_worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    try:
        deadline = time.monotonic() + 240
        while len(list(sync.glob("ready-*"))) < 8:
            assert time.monotonic() < deadline, "workers did not get ready"
            assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs if p.poll()]
            time.sleep(0.05)
        (sync / "go").touch()  # all 8 start from the same empty cache at once
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert sorted(r["from_cache"] for r in results) == [False] + [True] * 7, results
    computed = (sync / "computed.log").read_text().split("\n")
    computed = [line for line in computed if line]
    assert len(computed) == 1, computed  # one encoding, of every text
    assert int(computed[0].split()[1]) == results[0]["shape"][0]
    assert len({r["sha256"] for r in results}) == 1 and len({tuple(r["shape"]) for r in results}) == 1
    assert sum(r["n_encoded"] for r in results) == results[0]["shape"][0]
    # Every cache hit asked while the key was still uncached (before the one computation
    # finished), so it waited on the lock rather than arriving late.
    (winner,) = [r for r in results if not r["from_cache"]]
    assert all(r["started"] < winner["finished"] for r in results if r["from_cache"])
