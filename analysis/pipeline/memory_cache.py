"""Stores that keep what they are given in memory: for data that must not outlive its owner.

A public demo must not write anything derived from a visitor's upload (embeddings, statistics,
reports, text hashes) to the cache shared by every session and by later CLI processes. The
dashboard gives each such session a :class:`SessionStore`: it *reads* the shared disk cache (so
rows already encoded for identical built-in texts are reused) but *writes* only to a bounded
:class:`MemoryStore` that disappears with the session.

Both are :class:`~analysis.pipeline.cache.EmbeddingStore` subclasses, so the pipeline and the reports
take them unchanged, and values go through the same encoding: checksums and the key binding
hold in memory too.

>>> import numpy as np
>>> store = MemoryStore(max_bytes=1_000_000)
>>> store.put_array("k", np.ones((2, 3), dtype=np.float32))
True
>>> store.get_array("k").shape, store.volume_bytes() > 0
((2, 3), True)
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analysis.pipeline.cache import EmbeddingStore

DEFAULT_SESSION_BYTES = 64 * 1024 * 1024  # the largest public upload (5,000 x 1,024 float32) is 20 MB


class MemoryStore(EmbeddingStore):
    """An :class:`EmbeddingStore` in this process's memory, least recently used first out above
    ``max_bytes``. Thread-safe; nothing touches the disk, and ``lock`` is an in-process lock."""

    def __init__(self, *, max_bytes: int = DEFAULT_SESSION_BYTES) -> None:
        # Not EmbeddingStore.__init__: there is no folder to open.
        self.directory = Path("<memory>")
        self.size_limit = int(max_bytes)
        self.warnings: list[str] = []
        self.warnings_total = 0
        self._reopen_lock = threading.Lock()
        self._reopens_left = 0
        self._cache = None
        self._values: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._guard = threading.RLock()
        self._key_locks: dict[str, threading.Lock] = {}

    @property
    def enabled(self) -> bool:
        return True

    def _get_handle(self, key: str, _retry: bool = True) -> io.BytesIO | None:
        with self._guard:
            value = self._values.get(key)
            if value is None:
                return None
            self._values.move_to_end(key)
        return io.BytesIO(value)

    def _set(self, key: str, value: bytes, _retry: bool = True) -> bool:
        if len(value) > self.size_limit:
            self.warn(
                f"A result of {len(value) / 1e6:.0f} MB is larger than this session's memory cache "
                f"({self.size_limit / 1e6:.0f} MB); it is not kept."
            )
            return False
        with self._guard:
            self._drop(key)
            self._values[key] = value
            self._bytes += len(value)
            while self._bytes > self.size_limit:
                self._drop(next(iter(self._values)))
        return True

    def _drop(self, key: str) -> None:
        old = self._values.pop(key, None)
        if old is not None:
            self._bytes -= len(old)

    def delete(self, key: str) -> None:
        with self._guard:
            self._drop(key)

    def __contains__(self, key: str) -> bool:
        with self._guard:
            return key in self._values

    def keys(self) -> list[str]:
        """The keys held, least recently used first."""
        with self._guard:
            return list(self._values)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        with self._guard:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            yield

    def volume_bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._guard:
            self._values.clear()
            self._bytes = 0

    def close(self) -> None:
        self.clear()


class SessionStore(MemoryStore):
    """Reads this session's memory first, then the ``shared`` store; writes to memory only.

    ``delete`` (called for damaged or malformed entries) removes the entry from both: deleting
    never writes anything derived from the session to the shared store.
    """

    def __init__(self, shared: EmbeddingStore, *, max_bytes: int = DEFAULT_SESSION_BYTES) -> None:
        super().__init__(max_bytes=max_bytes)
        self.shared = shared

    def _get_handle(self, key: str, _retry: bool = True) -> Any:
        own = super()._get_handle(key)
        return own if own is not None else self.shared._get_handle(key)

    def delete(self, key: str) -> None:
        super().delete(key)
        self.shared.delete(key)

    def __contains__(self, key: str) -> bool:
        return super().__contains__(key) or key in self.shared
