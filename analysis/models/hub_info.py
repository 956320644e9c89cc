"""What a model's download would weigh, asked of the hub once per process, never blocking for long.

The model picker shows "needs a download (91 MB)" before anyone chooses. The size is the sum of
the files a sentence-transformers load needs (:func:`~analysis.models.hub.needed_files`), from
``HfApi.model_info(..., files_metadata=True)`` against ``HF_ENDPOINT``. Each look-up runs in a
background thread with the hub timeout (``DIMSCOPE_HUB_TIMEOUT_S``); callers wait at most
``wait_s`` and get what is known by then, so a slow or silent hub costs a page at most that
long once. A failed look-up is retried after ``RETRY_AFTER_S``. Offline, nothing is asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from analysis import settings
from analysis.models.hub import needed_files

RETRY_AFTER_S = 300.0

_LOCK = threading.Lock()
_SIZES: dict[tuple[str, str], int] = {}  # (endpoint, hub id) -> bytes
_FAILED: dict[tuple[str, str], float] = {}  # (endpoint, hub id) -> when the look-up failed
_RUNNING: dict[tuple[str, str], threading.Event] = {}


def download_sizes(hub_ids: Iterable[str], *, wait_s: float = 1.0) -> dict[str, int]:
    """Hub id -> bytes its download would fetch, for those the hub has reported within ``wait_s``."""
    if settings.hub_offline():
        return {}
    endpoint = settings.hub_endpoint()
    keys = [(endpoint, hub_id) for hub_id in hub_ids]
    started: list[threading.Event] = []
    with _LOCK:
        for key in keys:
            if key in _SIZES or key in _RUNNING:
                continue
            if time.monotonic() - _FAILED.get(key, -RETRY_AFTER_S) < RETRY_AFTER_S:
                continue
            done = threading.Event()
            _RUNNING[key] = done
            started.append(done)
            threading.Thread(target=_look_up, args=(key, done), daemon=True, name=f"hub-size-{key[1]}").start()
    deadline = time.monotonic() + wait_s
    for done in started:  # only wait for look-ups started now: later calls never wait on a silent hub again
        done.wait(max(0.0, deadline - time.monotonic()))
    with _LOCK:
        return {key[1]: _SIZES[key] for key in keys if key in _SIZES}


def _look_up(key: tuple[str, str], done: threading.Event) -> None:
    endpoint, hub_id = key
    size: int | None = None
    try:
        from huggingface_hub import HfApi

        info = HfApi(endpoint=endpoint).model_info(hub_id, files_metadata=True, timeout=settings.hub_timeout_s())
        sizes = {s.rfilename: s.size for s in info.siblings or []}
        wanted = needed_files(sizes)
        if wanted and all(sizes[f] is not None for f in wanted):
            size = sum(int(sizes[f] or 0) for f in wanted)
    except Exception:  # offline, not found, gated, timeout: the picker then shows no size
        size = None
    with _LOCK:
        if size is None:
            _FAILED[key] = time.monotonic()
        else:
            _SIZES[key] = size
        _RUNNING.pop(key, None)
    done.set()
