"""Loaded encoders kept per process: a small bounded table shared by the ONNX and OpenVINO backends.

A loaded session or compiled model holds hundreds of MB; keeping the two most recent per backend
serves a page that switches between two models without reloading, and bounds the memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from analysis.settings import step

T = TypeVar("T")


class LoadedEncoders(Generic[T]):
    """At most ``capacity`` loaded encoders, the oldest dropped first; loads are serialized.

    >>> table = LoadedEncoders[str](capacity=2)
    >>> [table.get(k, lambda k=k: k.upper(), backend="demo") for k in ("a", "b", "c")]
    ['A', 'B', 'C']
    >>> "a" in table, "c" in table
    (False, True)
    """

    def __init__(self, capacity: int = 2) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: dict[Hashable, T] = {}

    def get(self, key: Hashable, load: Callable[[], T], *, backend: str) -> T:
        """The encoder under ``key``, loaded by ``load`` (timed as the "model load" step) if absent."""
        with self._lock:
            encoder = self._entries.get(key)
            if encoder is None:
                with step("model load", backend=backend):
                    encoder = load()
                while len(self._entries) >= self._capacity:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = encoder
            return encoder

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)
