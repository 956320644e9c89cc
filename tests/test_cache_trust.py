"""The disk cache trusts nothing it reads: rows written straight into cache.db by someone else.

Each crafted row is a way in for whoever can write the cache folder (a shared DIMSCOPE_CACHE_DIR,
a Docker volume): a pickled value whose unpickling would create a marker file, and value-file
names that reach outside the folder (absolute, ``..``, a symlinked file or folder) at a victim
file. The cache must run nothing, open and delete nothing outside its folder, drop only the
row, and the answer must come back right, recomputed.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from analysis import pipeline
from analysis.corpora import Corpus
from analysis.models import resolve_model
from analysis.pipeline.cache import EmbeddingStore, encode_array

MODE_BINARY, MODE_PICKLE = 2, 4  # diskcache's row modes, spelled out as an attacker writes them
VALID_NAME = "ab/cd/0123456789abcdef0123456789ab.val"  # the form Disk.filename() makes


class Payload:
    """Unpickling this calls open(marker, "w"): the marker file exists only if a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def pickled(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


def rows(directory: Path) -> dict[str, tuple[int, str | None]]:
    with contextlib.closing(sqlite3.connect(directory / "cache.db")) as db:
        return {key: (mode, name) for key, mode, name in db.execute("SELECT key, mode, filename FROM Cache")}


def tamper(directory: Path, key: str, *, mode: int, filename: str | None = None, value: bytes | None = None) -> None:
    with contextlib.closing(sqlite3.connect(directory / "cache.db")) as db, db:
        changed = db.execute(
            "UPDATE Cache SET mode = ?, filename = ?, value = ? WHERE key = ?", (mode, filename, value, key)
        ).rowcount
    assert changed == 1, key


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside the cache folder that holds a *valid* array for key "k": reading it would
    return a wrong answer, deleting it would destroy a user's file."""
    path = tmp_path / "victim"
    path.write_bytes(encode_array(np.full((300, 64), 7.0, dtype=np.float32), "k"))
    return path


def put_and_check(store: EmbeddingStore, key: str = "k") -> np.ndarray:
    array = np.arange(300 * 64, dtype=np.float32).reshape(300, 64)  # 76 KB: a value file
    assert store.put_array(key, array)
    return array


def assert_damaged_row_dropped(store: EmbeddingStore, directory: Path, key: str = "k") -> None:
    assert store.get_array(key) is None
    assert key not in rows(directory), "the damaged row must be removed"
    assert any("damaged" in w for w in store.warnings), store.warnings
    # and the store works on: a fresh value is stored and read back
    array = put_and_check(store, key)
    np.testing.assert_array_equal(store.get_array(key), array)


@pytest.mark.parametrize("where", ["row", "file"])
def test_a_pickled_value_is_never_unpickled(tmp_path, where):
    directory, marker = tmp_path / "c", tmp_path / "marker"
    store = EmbeddingStore(directory)
    put_and_check(store)
    if where == "row":  # small pickles live in the row itself
        tamper(directory, "k", mode=MODE_PICKLE, value=pickled(marker))
    else:  # large ones in a value file diskcache named
        (directory / VALID_NAME).parent.mkdir(parents=True)
        (directory / VALID_NAME).write_bytes(pickled(marker))
        tamper(directory, "k", mode=MODE_PICKLE, filename=VALID_NAME)
    assert_damaged_row_dropped(store, directory)
    assert not marker.exists(), "a pickle from the cache database ran"


def test_a_pickled_json_record_is_never_unpickled(tmp_path):
    directory, marker = tmp_path / "c", tmp_path / "marker"
    store = EmbeddingStore(directory)
    assert store.put_json("j", {"a": 1})
    tamper(directory, "j", mode=MODE_PICKLE, value=pickled(marker))
    assert store.get_json("j") is None and "j" not in rows(directory)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["absolute", "dotdot", "dotdot-deep", "symlinked-file", "symlinked-folder"])
def test_a_value_file_outside_the_folder_is_neither_read_nor_deleted(tmp_path, victim, name):
    directory = tmp_path / "c"
    store = EmbeddingStore(directory)
    put_and_check(store)
    filename = {
        "absolute": str(victim),
        "dotdot": "../victim",
        "dotdot-deep": "ab/../../victim",
    }.get(name)
    if name == "symlinked-file":  # a name of the right form, but the file is a link out
        (directory / "ab" / "cd").mkdir(parents=True)
        (directory / VALID_NAME).symlink_to(victim)
        filename = VALID_NAME
    elif name == "symlinked-folder":  # a link out one folder up: ab -> outside/, holding cd/<name>.val
        outside = tmp_path / "outside"
        (outside / "cd").mkdir(parents=True)
        os.link(victim, outside / "cd" / Path(VALID_NAME).name)  # the victim, reached through the link
        (directory / "ab").symlink_to(outside, target_is_directory=True)
        filename = VALID_NAME
    tamper(directory, "k", mode=MODE_BINARY, filename=filename)
    before = victim.read_bytes()

    assert store.stream_array("k") is None  # not the victim's (valid) array
    assert "k" not in rows(directory)
    assert victim.read_bytes() == before, "a file outside the cache folder was deleted or changed"
    if name == "symlinked-folder":
        assert (tmp_path / "outside" / "cd" / Path(VALID_NAME).name).exists()
    assert_damaged_row_dropped(store, directory)
    assert victim.read_bytes() == before


def test_a_new_value_whose_random_name_meets_a_planted_symlink_goes_under_another_name(tmp_path, monkeypatch):
    """diskcache draws value names at random: one write in 256 lands in "ab/". A symlink planted
    there must neither be followed nor make the write fail (a CI run once drew it)."""
    from analysis.pipeline.cache_disk import BytesDisk

    directory, outside = tmp_path / "c", tmp_path / "outside"
    (outside / "cd").mkdir(parents=True)
    store = EmbeddingStore(directory)
    (directory / "ab").symlink_to(outside, target_is_directory=True)
    drawn = iter(["ab/cd/" + "1" * 28 + ".val", "ab/cd/" + "2" * 28 + ".val", "ef/01/" + "3" * 28 + ".val"])
    monkeypatch.setattr(BytesDisk, "filename", lambda self, key=None, value=None: (next(drawn), ""))
    array = put_and_check(store)
    np.testing.assert_array_equal(store.get_array("k"), array)
    assert rows(directory)["k"][1] == "ef/01/" + "3" * 28 + ".val"
    assert list((outside / "cd").iterdir()) == [], "a value was written through the planted symlink"
    assert (directory / "ab").is_symlink()


def test_eviction_and_clear_never_delete_outside_the_folder(tmp_path, victim):
    directory = tmp_path / "c"
    store = EmbeddingStore(directory, size_limit=200_000)
    for key in ("a", "b"):
        put_and_check(store, key)
    tamper(directory, "a", mode=MODE_BINARY, filename=str(victim))
    tamper(directory, "b", mode=MODE_BINARY, filename="../victim")
    for i in range(8):  # over the size limit: diskcache culls the oldest rows, the tampered ones first
        put_and_check(store, f"more-{i}")
    assert "a" not in rows(directory) and "b" not in rows(directory)
    assert victim.exists()
    tamper(directory, "more-7", mode=MODE_BINARY, filename=str(victim))
    store.clear()
    assert rows(directory) == {} and victim.exists()


def test_a_fifo_as_value_file_is_damage_not_a_hang(tmp_path):
    directory = tmp_path / "c"
    store = EmbeddingStore(directory)
    put_and_check(store)
    (directory / "ab" / "cd").mkdir(parents=True)
    os.mkfifo(directory / VALID_NAME)
    tamper(directory, "k", mode=MODE_BINARY, filename=VALID_NAME)
    assert_damaged_row_dropped(store, directory)


def test_settings_rows_from_the_database_are_not_applied(tmp_path):
    """diskcache applies every Settings row on open: ``disk_*`` ones as attributes of its Disk
    (its folder!), ``sqlite_*`` ones as PRAGMA text, others as attributes of the Cache."""
    directory, elsewhere = tmp_path / "c", tmp_path / "elsewhere"
    elsewhere.mkdir()
    EmbeddingStore(directory).close()
    with contextlib.closing(sqlite3.connect(directory / "cache.db")) as db, db:
        db.executemany(
            "INSERT OR REPLACE INTO Settings VALUES (?, ?)",
            [
                ("disk__directory", str(elsewhere)),
                ("disk_min_file_size", 1 << 40),
                ("eviction_policy", "none"),
                ("sqlite_query_only", 1),
                ("_directory", str(elsewhere)),
                ("size", "lots"),
            ],
        )
    store = EmbeddingStore(directory)
    assert store.enabled and store.put_array("k", np.ones((300, 64), dtype=np.float32))
    assert rows(directory)["k"][0] == MODE_BINARY  # min_file_size is ours: the array has its own file
    assert list(directory.rglob("*.val")) and not list(elsewhere.iterdir())
    assert store.volume_bytes() > 0
    with contextlib.closing(sqlite3.connect(directory / "cache.db")) as db:
        settings = dict(db.execute("SELECT key, value FROM Settings"))
    assert "disk__directory" not in settings and "_directory" not in settings and "sqlite_query_only" not in settings
    assert settings["eviction_policy"] == "least-recently-used" and isinstance(settings["size"], int)


def test_keys_and_values_are_strings_and_bytes_only(tmp_path):
    from analysis.pipeline.cache_disk import BytesDisk

    disk = BytesDisk(str(tmp_path), min_file_size=10)
    with pytest.raises(TypeError):
        disk.put(("a", 1))  # diskcache would pickle it
    with pytest.raises(TypeError):
        disk.store({"a": 1}, read=False)  # diskcache would pickle it
    assert disk.store(b"small", read=False)[:2] == (0, 1)  # raw, in the row


def test_tampered_rows_are_recomputed_to_the_same_statistics(tiny_model_dir, tmp_path, victim):
    """The pipeline end to end on a real (tiny) model: every row of a filled cache tampered with."""
    from tests.tiny_models import tiny_corpus

    directory, marker = tmp_path / "c", tmp_path / "marker"
    store = EmbeddingStore(directory)
    model = resolve_model(str(tiny_model_dir))
    corpus = Corpus(name="tiny", texts=tuple(dict.fromkeys(tiny_corpus(600, seed=5))))
    first = pipeline.get_stats(model, corpus, store=store)
    assert first.dead_dims == [3, 17]
    store.close()
    stored = rows(directory)
    assert any(name for _, name in stored.values()), "the embeddings should be in a value file"
    outside = [str(victim), "../victim"]
    for i, (key, (_, name)) in enumerate(sorted(stored.items())):
        if name:  # value files point out of the folder
            tamper(directory, key, mode=MODE_BINARY, filename=outside[i % 2])
        else:  # records become pickles
            tamper(directory, key, mode=MODE_PICKLE, value=pickled(marker))
    before = victim.read_bytes()

    again = EmbeddingStore(directory)
    second = pipeline.get_stats(model, corpus, store=again)
    assert not second.from_cache
    assert second.dead_dims == first.dead_dims == [3, 17]
    np.testing.assert_allclose(second.normalized["std"], first.normalized["std"], atol=1e-6)
    assert not marker.exists() and victim.read_bytes() == before
    assert pipeline.get_stats(model, corpus, store=again).from_cache  # stored again, sound


@pytest.mark.slow
def test_cli_stats_over_a_tampered_cache_gives_the_same_dead_dimensions(tmp_path, fresh_cache_dir, victim):
    """The issue's check: ``python -m analysis stats`` (real model) fills the cache; then every
    statistics row holds a pickle and every other row points at a file outside the cache."""
    from tests.helpers import run_cli

    marker = tmp_path / "marker"
    first = run_cli("stats", "--quiet")
    assert first.returncode == 0, first.stderr
    dead = json.loads(first.stdout)["dead_dims"]
    assert dead == [127, 223, 319]  # all-MiniLM-L6-v2's known dead dimensions

    stored = rows(fresh_cache_dir)
    stats_keys = [key for key in stored if key.split("/")[1] == "stats"]
    others = [key for key in stored if key not in stats_keys]
    assert len(stats_keys) == 2 and others, stored  # raw and normalized, and the embeddings' rows
    for key in stats_keys:
        tamper(fresh_cache_dir, key, mode=MODE_PICKLE, value=pickled(marker))
    for i, key in enumerate(others):
        tamper(fresh_cache_dir, key, mode=MODE_BINARY, filename=[str(victim), "../victim"][i % 2])
    before = victim.read_bytes()

    second = run_cli("stats", "--quiet")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["dead_dims"] == dead
    assert "damaged" in second.stderr  # said, not silent
    assert not marker.exists(), "a pickle from the cache database ran"
    assert victim.read_bytes() == before, "a file outside the cache was deleted or changed"


@pytest.mark.parametrize("name", ["cache.db", "cache.db-wal"])
def test_a_database_symlinked_out_of_the_folder_is_not_followed(tmp_path, victim, name):
    """SQLite follows a symlinked database: it would read the victim, or initialise it as a database."""
    directory = tmp_path / "c"
    directory.mkdir()
    empty = tmp_path / "empty-victim"
    empty.write_bytes(b"")  # an empty file is a valid new database to SQLite: it would be written
    (directory / name).symlink_to(empty if name == "cache.db" else victim)
    before = victim.read_bytes()
    store = EmbeddingStore(directory)
    assert store.enabled and store.put_json("j", [1]) and store.get_json("j") == [1]
    assert empty.read_bytes() == b"" and victim.read_bytes() == before
    assert not (directory / name).is_symlink() and any("symlink" in w for w in store.warnings)


def test_locks_and_the_write_probe_never_write_outside_the_folder(tmp_path, victim):
    directory, outside = tmp_path / "c", tmp_path / "outside"
    directory.mkdir()
    outside.mkdir()
    before = victim.read_bytes()
    (directory / f".write-probe-{os.getpid()}").symlink_to(victim)  # the probe's name is predictable
    (directory / "locks").symlink_to(outside, target_is_directory=True)
    store = EmbeddingStore(directory)
    assert store.enabled and victim.read_bytes() == before
    with store.lock("k"):  # not followed: works on, unlocked, rather than create files outside
        assert store.put_array("k", np.ones((4, 4), dtype=np.float32))
    assert list(outside.iterdir()) == [] and victim.read_bytes() == before


def test_a_value_folder_symlinked_out_makes_a_write_uncached_not_a_crash(tmp_path, monkeypatch):
    directory, outside = tmp_path / "c", tmp_path / "outside"
    outside.mkdir()
    store = EmbeddingStore(directory)
    (directory / "ab").symlink_to(outside, target_is_directory=True)
    monkeypatch.setattr(store._cache.disk, "filename", lambda *a, **k: (VALID_NAME, str(directory / VALID_NAME)))
    assert store.put_array("k", np.ones((300, 64), dtype=np.float32)) is False
    assert any("not cached" in w for w in store.warnings) and list(outside.iterdir()) == []
