"""Optional step timings, for profiling and the upload benchmark.

With ``DIMSCOPE_TIMINGS=<file>`` set, every :func:`step` appends one JSON line (step name, start
and end as Unix seconds, thread, and any details) to that file; unset, a step costs one
environment lookup. Steps may overlap (a model loading in the background while a file parses).

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
from typing import Any, TypeVar

ENV = "DIMSCOPE_TIMINGS"
_WRITE_LOCK = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def step(name: str, **details: Any) -> Iterator[dict[str, Any]]:
    """Time the block as step ``name``; the yielded dict may receive more details."""
    path = os.environ.get(ENV, "").strip()
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
