"""The disk cache: keys, array round trips, corruption recovery, degraded folders, locks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from analysis.pipeline.cache import EmbeddingStore, build_key, decode_array, encode_array


def _value_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*.val")]


def test_keys_are_deterministic_sorted_strings():
    a = build_key("emb", model="sha256:1", corpus="abc", view="raw", prompt="")
    b = build_key("emb", view="raw", prompt="", corpus="abc", model="sha256:1")
    assert a == b and isinstance(a, str) and a.startswith("v2/emb/")
    # Free-text options are hashed, not pasted in.
    c = build_key("emb", prompt="clustering: ")
    assert " " not in c and c != build_key("emb", prompt="search_document: ")


def test_array_roundtrip_is_float32_not_pickle(tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    array = np.random.default_rng(0).normal(size=(500, 384)).astype(np.float32)
    assert store.put_array("k", array)
    back = store.get_array("k")
    assert back.dtype == np.float32 and np.array_equal(back, array)
    # Large values live in their own file, as header + raw bytes (no pickle protocol marker).
    files = _value_files(tmp_path / "c")
    assert len(files) == 1 and files[0].read_bytes().startswith(b"DIMSCOPE-ARRAY")


def test_streaming_yields_the_same_rows(tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    array = np.arange(1000 * 16, dtype=np.float32).reshape(1000, 16)
    store.put_array("k", array)
    stream = store.stream_array("k")
    rows = np.concatenate(list(stream.chunks(97)))
    assert stream.verified and np.array_equal(rows, array)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "empty"])
def test_damaged_value_file_is_a_miss_and_removed(tmp_path, damage):
    store = EmbeddingStore(tmp_path / "c")
    store.put_array("k", np.ones((300, 64), dtype=np.float32))
    (path,) = _value_files(tmp_path / "c")
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        path.write_bytes(b"")
    assert store.get_array("k") is None
    assert "k" not in store
    assert any("damaged" in w for w in store.warnings)


def test_damaged_stream_raises_before_claiming_verified(tmp_path):
    from analysis.pipeline.cache import CorruptEntry

    store = EmbeddingStore(tmp_path / "c")
    store.put_array("k", np.ones((300, 64), dtype=np.float32))
    (path,) = _value_files(tmp_path / "c")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    stream = store.stream_array("k")
    with pytest.raises(CorruptEntry):
        list(stream.chunks(50))
    assert not stream.verified


def test_deleted_value_file_is_a_miss(tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    store.put_array("k", np.ones((300, 64), dtype=np.float32))
    _value_files(tmp_path / "c")[0].unlink()
    assert store.get_array("k") is None


def test_json_records_roundtrip_and_detect_damage(tmp_path):
    store = EmbeddingStore(tmp_path / "c")
    store.put_json("j", {"a": [1.5, 2.0], "b": "x"})
    assert store.get_json("j") == {"a": [1.5, 2.0], "b": "x"}
    # Corrupt the stored bytes inside SQLite (small values live in the database).
    store._cache._sql("UPDATE Cache SET value = ? WHERE key = ?", (b'{"crc32": 1, "body": "[1]"}', "j"))
    assert store.get_json("j") is None and "j" not in store


def test_corrupt_database_file_is_moved_aside(tmp_path):
    directory = tmp_path / "c"
    store = EmbeddingStore(directory)
    store.put_array("k", np.ones((4, 4), dtype=np.float32))
    store.close()
    (directory / "cache.db").write_bytes(b"this is not sqlite" * 100)
    for suffix in ("-wal", "-shm"):
        (directory / f"cache.db{suffix}").unlink(missing_ok=True)
    again = EmbeddingStore(directory)
    assert again.enabled
    assert again.get_array("k") is None  # a fresh, empty, working cache
    assert list(directory.glob("cache.db.corrupt-*"))
    assert again.put_array("k", np.zeros((2, 2), dtype=np.float32))


def test_deleted_database_file_starts_empty(tmp_path):
    directory = tmp_path / "c"
    store = EmbeddingStore(directory)
    store.put_array("k", np.ones((300, 64), dtype=np.float32))
    store.close()
    for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
        (directory / name).unlink(missing_ok=True)
    again = EmbeddingStore(directory)
    assert again.enabled and again.get_array("k") is None


def test_unwritable_folder_works_uncached(tmp_path):
    # A path under a regular file can never be created, even by root.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = EmbeddingStore(blocker / "cache")
    assert not store.enabled
    assert "cannot be written" in store.warnings[0]
    assert store.put_array("k", np.ones((2, 2), dtype=np.float32)) is False
    assert store.get_array("k") is None and store.get_json("k") is None
    with store.lock("k"):
        pass


def test_write_failure_midway_is_a_warning(tmp_path, monkeypatch):
    store = EmbeddingStore(tmp_path / "c")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store._cache, "set", full_disk)
    assert store.put_array("k", np.ones((2, 2), dtype=np.float32)) is False
    assert "No space left" in store.warnings[0]


def test_encode_decode_reject_garbage():
    import io

    from analysis.pipeline.cache import CorruptEntry

    good = encode_array(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert decode_array(io.BytesIO(good)).shape == (2, 3)
    for bad in (b"", b"DIMSCOPE-ARRAY\x01", good[:-1], good + b"x", b"\x80\x04pickle"):
        with pytest.raises(CorruptEntry):
            decode_array(io.BytesIO(bad))


_WORKER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from analysis.pipeline.cache import EmbeddingStore
    store = EmbeddingStore(sys.argv[1])
    key = "shared-key"
    with store.lock(key):
        value = store.get_array(key)
        if value is None:
            with open(sys.argv[2], "a") as log:
                log.write("computed\\n")
            time.sleep(1.0)  # a slow computation, so that the other process must wait
            value = np.random.default_rng().normal(size=(200, 32)).astype(np.float32)
            store.put_array(key, value)
    print(float(value.sum()))
    """
)


def test_lock_makes_concurrent_processes_compute_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    log = tmp_path / "log.txt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "c"), str(log)], stdout=subprocess.PIPE, env=env, text=True
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert log.read_text().count("computed") == 1
    assert len(set(outputs)) == 1
