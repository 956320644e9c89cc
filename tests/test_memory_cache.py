"""In-memory stores (analysis.pipeline.memory_cache): bounded, checked like the disk cache, and a session
overlay that reads the shared disk cache but never writes to it."""

from __future__ import annotations

import numpy as np

from analysis.pipeline.cache import EmbeddingStore
from analysis.pipeline.memory_cache import MemoryStore, SessionStore


def test_memory_store_round_trips_and_evicts_least_recently_used_first():
    store = MemoryStore(max_bytes=3 * 400 * 4 + 600)  # three 100x4 float32 arrays with headers
    arrays = {f"k{i}": np.full((100, 4), i, dtype=np.float32) for i in range(4)}
    for key in ("k0", "k1", "k2"):
        assert store.put_array(key, arrays[key])
    assert store.get_array("k0") is not None  # k0 is now the most recently used
    store.put_array("k3", arrays["k3"])
    assert store.keys() == ["k2", "k0", "k3"] and "k1" not in store
    assert store.volume_bytes() <= store.size_limit
    np.testing.assert_array_equal(store.get_array("k3"), arrays["k3"])
    assert store.put_json("j", {"a": [1, 2]}) and store.get_json("j") == {"a": [1, 2]}


def test_memory_store_checks_the_key_like_the_disk_cache():
    store = MemoryStore()
    store.put_array("a", np.ones((3, 2), dtype=np.float32))
    store.put_array("b", np.zeros((3, 2), dtype=np.float32))
    store._values["a"], store._values["b"] = store._values["b"], store._values["a"]  # a swap in memory
    assert store.get_array("a") is None and "a" not in store
    assert any("another key" in w for w in store.warnings)


def test_a_value_larger_than_the_session_budget_is_refused_with_a_warning():
    store = MemoryStore(max_bytes=1000)
    assert not store.put_array("big", np.ones((100, 100), dtype=np.float32))
    assert "big" not in store and "larger than this session's memory cache" in store.warnings[0]


def test_session_store_reads_the_shared_cache_and_writes_only_to_memory(tmp_path):
    shared = EmbeddingStore(tmp_path / "shared")
    shared.put_array("built-in", np.arange(6, dtype=np.float32).reshape(3, 2))
    session = SessionStore(shared)
    np.testing.assert_array_equal(session.get_array("built-in"), np.arange(6, dtype=np.float32).reshape(3, 2))
    assert session.put_array("upload", np.ones((3, 2), dtype=np.float32))
    assert session.put_json("upload-stats", {"std": [1.0]})
    assert "upload" in session and "upload" not in shared and shared.get_json("upload-stats") is None
    # A fresh handle on the same folder (another process) sees nothing of the session either.
    other = EmbeddingStore(tmp_path / "shared")
    assert other.get_array("upload") is None and "upload-stats" not in other
    # The session's own copy shadows the shared one; deleting a damaged entry removes it from both.
    session.put_array("built-in", np.zeros((3, 2), dtype=np.float32))
    assert session.get_array("built-in").sum() == 0 and shared.get_array("built-in").sum() == 15
    session.delete("built-in")
    assert "built-in" not in shared and session.get_array("built-in") is None
    shared.close()
    other.close()
