"""Work started ahead of the page that shows it, once per key in this process.

A new upload is read on the Corpus page; its statistics are shown on the next page the user
opens. Starting the encode as soon as the file is read lets the page switch, and the user's
click, overlap the encode. The page that needs the result then waits for that same computation
(:meth:`AheadOfTime.running`) instead of starting a second one, and shows its progress.

Work here goes through the same encode line as a page's own (the pipeline takes a slot), so
work started ahead never overtakes the limits of a shared server; :meth:`Job.cancel` makes it
leave the line, or stop encoding, at its next progress report, as a page's own encode does when
its visitor leaves. Errors are kept, not raised: the page that needs the result computes it
again and says what went wrong.

>>> ahead = AheadOfTime(workers=1)
>>> job = ahead.start("k", lambda progress: progress(3, 3) or 42)
>>> job.wait(5), job.done, job.total
(True, 3, 3)
>>> ahead.running("k") is None  # finished work is forgotten: the cache holds its result
True
>>> ahead.shutdown()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from analysis import settings
from analysis.encoding.queue import QueueStatus

__all__ = ["AheadOfTime", "Cancelled", "Job", "ahead_of_time"]


class Cancelled(Exception):
    """Raised inside work started ahead once :meth:`Job.cancel` was called: nobody waits for it."""


class Job:
    """One computation started ahead: its future and the progress it reported so far.

    It is the ``progress`` callback handed to the work (``job(done, total)``, and
    ``job.waiting(status)`` while it waits in the encode line), so a page can draw it later.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.future: Future[Any] = Future()
        self.done = 0
        self.total = 0
        self.queue_status: QueueStatus | None = None
        self.notice = ""  # the library's word on how this work encodes (see note)
        self._cancelled = threading.Event()

    def __call__(self, done: int, total: int) -> None:
        if self._cancelled.is_set():
            raise Cancelled(f"{self.key}: cancelled while encoding")
        self.done, self.total = int(done), int(total)
        self.queue_status = None

    def waiting(self, status: QueueStatus) -> None:
        if self._cancelled.is_set():
            raise Cancelled(f"{self.key}: cancelled while waiting in line")  # leaves the encode line
        self.queue_status = status

    def note(self, text: str) -> None:
        """Keep the library's line on how this work encodes (auto preparing its faster path while
        torch encodes, :func:`analysis.pipeline.encode_options.concrete_options`) for the page to show."""
        self.notice = text

    def cancel(self) -> None:
        """Stop at the next progress report: leave the encode line, or stop encoding (the pipeline
        stores nothing partial). Work that has finished keeps its result."""
        self._cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the work has ended (with a result or an error) within ``timeout`` seconds."""
        try:
            self.future.exception(timeout=timeout)
        except TimeoutError:
            return False
        return True

    def describe(self) -> str:
        """Where the work stands, in words: its place in the encode line or how far it got."""
        if self.queue_status is not None:
            return self.queue_status.describe()
        if self.total <= 0 or self.done == 0:
            return "loading the model"
        return f"encoded {self.done:,} of {self.total:,} texts"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


class AheadOfTime:
    """At most one running :class:`Job` per key, run on a small pool of threads."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dimscope-ahead")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, key: str, work: Callable[[Job], Any]) -> Job:
        """Run ``work(job)`` in the background unless work under ``key`` is already running."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                return job
            job = self._jobs[key] = Job(key)

        def run() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = work(job)
            except BaseException as exc:  # noqa: BLE001 - kept for the page that waits; never raised here
                error = exc
            # Forgotten before it is seen to end: whoever sees the job done finds no job under key.
            with self._lock:
                if self._jobs.get(key) is job:
                    del self._jobs[key]
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)

        self._pool.submit(run)
        return job

    def running(self, key: str) -> Job | None:
        """The job under ``key`` if it is queued or running, else None."""
        with self._lock:
            return self._jobs.get(key)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


_AHEAD: AheadOfTime | None = None
_AHEAD_LOCK = threading.Lock()


def ahead_of_time() -> AheadOfTime:
    """This process's pool for work started ahead (shared by every session of a server).

    It has a thread for every place the encode line has (running and waiting), so each job
    reaches the line at once and its visitor sees the same place in line a page's own encode
    would get; the line, not this pool, decides what runs."""
    global _AHEAD
    with _AHEAD_LOCK:
        if _AHEAD is None:
            _AHEAD = AheadOfTime(workers=settings.max_concurrent_encodes() + settings.max_queued_encodes())
        return _AHEAD
