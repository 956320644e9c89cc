"""A bounded, first-come-first-served line for encodes: at most C run at once in a process.

On a 2-core server one torch encode already uses both cores; two at once take as long as one
after the other and hold two models' activations in memory. So every encode the pipeline starts
(:func:`analysis.pipeline.get_embeddings`, and through it every page, report and CLI command)
first takes a slot here. Callers beyond the C running ones wait in arrival order; while they
wait, an ``on_wait(status)`` callback is told their place in line and an estimate of when they
start, from the throughput of the encodes that finished (texts per second, per model).

Why here and not in the dashboard: the pipeline is the one door every encode goes through, so no
page or report can bypass the line; the library stays free of Streamlit because it only calls
back, and the dashboard decides how to show the wait. A waiter leaves the line when its callback
raises (Streamlit raises in a session's script thread once the session is gone or rerun), so an
abandoned place never blocks the others.

>>> line = EncodeQueue(capacity=1)
>>> with line.slot(100, kind="m") as slot:
...     slot.waited_s < 1.0
True
>>> line.running, line.waiting
(0, 0)
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from analysis import settings
from analysis.errors import BusyError

#: The weight of the newest encode in the running throughput estimate (an exponential average).
RATE_SMOOTHING = 0.5


@dataclass(frozen=True)
class QueueStatus:
    """Where one waiting encode stands. ``position`` 1 means next to start."""

    position: int
    waiting: int
    running: int
    capacity: int
    waited_s: float
    estimate_s: float | None  # until this encode starts; None before any encode has finished
    rate: float | None  # measured texts per second for this encode's model, if known

    def describe(self) -> str:
        """One line for a person: place in line, what runs, the estimate and how it was made.

        >>> QueueStatus(2, 3, 1, 1, 4.0, 30.0, 210.0).describe()
        'waiting in line: 2nd of 3 waiting, 1 encode running (at most 1 at a time); starts in about 30 s \
(measured 210 texts/s); waited 4 s so far'
        """
        running = f"{self.running} encode{'s' if self.running != 1 else ''} running (at most {self.capacity} at a time)"
        text = f"waiting in line: {ordinal(self.position)} of {self.waiting} waiting, {running}"
        if self.estimate_s is not None:
            text += f"; starts in about {format_seconds(self.estimate_s)}"
            if self.rate:
                text += f" (measured {self.rate:,.0f} texts/s)"
        else:
            text += "; no estimate until the first encode on this server finishes"
        return text + f"; waited {format_seconds(self.waited_s)} so far"


@dataclass(frozen=True)
class Slot:
    """A granted slot: how long its holder waited for it, and where it stood when it arrived."""

    waited_s: float
    position_on_arrival: int


@dataclass(eq=False)
class _Ticket:
    seq: int
    work: int
    kind: str
    arrived: float
    started: float | None = None
    position_on_arrival: int = 0
    background: bool = False


def ordinal(n: int) -> str:
    """>>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '101st']"""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def format_seconds(seconds: float) -> str:
    """>>> [format_seconds(s) for s in (0.2, 42.4, 95, 3600)]
    ['0 s', '42 s', '1 min 35 s', '60 min 0 s']"""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


class EncodeQueue:
    """At most ``capacity`` encodes at once; the rest wait first come, first served.

    At most ``max_waiting`` may wait: one more gets :class:`~analysis.errors.BusyError` at once,
    so a burst of visitors cannot pile up unbounded work and memory. Thread-safe.
    """

    def __init__(
        self,
        capacity: int = 1,
        *,
        max_waiting: int = 32,
        poll_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or max_waiting < 0:
            raise ValueError("capacity must be >= 1 and max_waiting >= 0")
        self.capacity = int(capacity)
        self.max_waiting = int(max_waiting)
        self.poll_s = float(poll_s)
        self._clock = clock
        self._cond = threading.Condition()
        self._line: collections.deque[_Ticket] = collections.deque()
        self._running: dict[int, _Ticket] = {}
        self._rates: dict[str, float] = {}
        self._numbers = itertools.count()

    # -- what a caller sees ------------------------------------------------------------------
    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    def rate(self, kind: str) -> float | None:
        """Measured texts per second for ``kind`` (else the mean over all kinds), or None."""
        with self._cond:
            return self._rate_for(kind)

    @contextlib.contextmanager
    def slot(
        self,
        work: int,
        *,
        kind: str = "",
        on_wait: Callable[[QueueStatus], None] | None = None,
        background: bool = False,
    ) -> Iterator[Slot]:
        """Hold one of the ``capacity`` slots for the body of the ``with``.

        ``work`` is the number of texts to encode and ``kind`` what encodes them (the model), for
        the throughput estimate. While waiting, ``on_wait(status)`` is called at least every
        ``poll_s`` seconds and whenever the line moves; if it raises, this caller leaves the line
        and the exception propagates.

        ``background`` work (``auto`` preparing a model, :mod:`analysis.encoding.preparation`)
        nobody is waiting for: every other caller that arrives while it waits goes ahead of it, so
        it runs when no visitor wants the slot. It is never counted against ``max_waiting``.
        """
        ticket = self._arrive(int(work), kind, background)
        try:
            self._wait_for_turn(ticket, on_wait)
        except BaseException:  # Streamlit's StopException is a BaseException
            self._leave(ticket)
            raise
        finished = False
        try:
            yield Slot(
                waited_s=(ticket.started or ticket.arrived) - ticket.arrived,
                position_on_arrival=ticket.position_on_arrival,
            )
            finished = True
        finally:
            self._finish(ticket, measured=finished)

    # -- the line ------------------------------------------------------------------------------
    def _arrive(self, work: int, kind: str, background: bool = False) -> _Ticket:
        with self._cond:
            ticket = _Ticket(next(self._numbers), max(0, work), kind, self._clock(), background=background)
            if not self._line and len(self._running) < self.capacity:
                self._start(ticket)
                return ticket
            waiting = sum(not t.background for t in self._line)
            if not background and waiting >= self.max_waiting:
                raise BusyError(
                    f"This server is busy: {len(self._running)} encode(s) running and {waiting} waiting, "
                    "the most it lets wait. Try again in a few minutes, or run DimScope locally."
                )
            # Background work waits behind every caller, including those who come after it.
            place = len(self._line) if background else waiting
            self._line.insert(place, ticket)
            ticket.position_on_arrival = place + 1
            self._cond.notify_all()  # a background ticket now first in line is no longer first
            return ticket

    def _wait_for_turn(self, ticket: _Ticket, on_wait: Callable[[QueueStatus], None] | None) -> None:
        while True:
            with self._cond:
                if self._try_start(ticket):
                    return
                status = self._status(ticket)
            if on_wait is not None:
                on_wait(status)  # outside the lock: it may be slow, or raise to leave the line
            with self._cond:
                if self._try_start(ticket):
                    return
                self._cond.wait(self.poll_s)

    def _try_start(self, ticket: _Ticket) -> bool:
        if ticket.started is not None:
            return True
        if self._line and self._line[0] is ticket and len(self._running) < self.capacity:
            self._line.popleft()
            self._start(ticket)
            self._cond.notify_all()  # the next in line may start too (capacity > 1), others moved up
            return True
        return False

    def _start(self, ticket: _Ticket) -> None:
        ticket.started = self._clock()
        self._running[ticket.seq] = ticket

    def _leave(self, ticket: _Ticket) -> None:
        with self._cond:
            if ticket.started is None:
                with contextlib.suppress(ValueError):
                    self._line.remove(ticket)
            else:
                self._running.pop(ticket.seq, None)
            self._cond.notify_all()

    def _finish(self, ticket: _Ticket, *, measured: bool) -> None:
        with self._cond:
            self._running.pop(ticket.seq, None)
            elapsed = self._clock() - (ticket.started or self._clock())
            if measured and ticket.work > 0 and elapsed > 0:
                rate = ticket.work / elapsed
                old = self._rates.get(ticket.kind)
                self._rates[ticket.kind] = rate if old is None else RATE_SMOOTHING * rate + (1 - RATE_SMOOTHING) * old
            self._cond.notify_all()

    # -- estimates -----------------------------------------------------------------------------
    def _rate_for(self, kind: str) -> float | None:
        if kind in self._rates:
            return self._rates[kind]
        return sum(self._rates.values()) / len(self._rates) if self._rates else None

    def _status(self, ticket: _Ticket) -> QueueStatus:
        now = self._clock()
        position = next(i for i, t in enumerate(self._line) if t is ticket) + 1
        rate = self._rate_for(ticket.kind)
        estimate: float | None = 0.0
        for other in [*self._running.values(), *itertools.islice(self._line, position - 1)]:
            other_rate = self._rate_for(other.kind)
            if other_rate is None or estimate is None:
                estimate = None
                break
            spent = now - other.started if other.started is not None else 0.0
            estimate += max(0.0, other.work / other_rate - spent)
        return QueueStatus(
            position=position,
            waiting=len(self._line),
            running=len(self._running),
            capacity=self.capacity,
            waited_s=now - ticket.arrived,
            estimate_s=None if estimate is None else estimate / self.capacity,
            rate=rate,
        )


_QUEUE: EncodeQueue | None = None
_QUEUE_LOCK = threading.Lock()


def encode_queue() -> EncodeQueue:
    """The process-wide line, sized by ``$DIMSCOPE_MAX_CONCURRENT_ENCODES`` and
    ``$DIMSCOPE_MAX_QUEUED_ENCODES`` when first used (see :mod:`analysis.settings`)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = EncodeQueue(settings.max_concurrent_encodes(), max_waiting=settings.max_queued_encodes())
        return _QUEUE
