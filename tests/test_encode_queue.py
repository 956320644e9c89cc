"""The encode line (analysis.encoding.queue): order, places in line, fairness, leaving, no deadlock,
estimates from measured throughput, a bounded number of waiters, and the pipeline going through it
with a real model (waiting in line does not count against the time budget)."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

from analysis.encoding import queue as queue_module
from analysis.encoding.queue import EncodeQueue, QueueStatus
from analysis.errors import BusyError

JOIN_S = 30


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


class Holder:
    """Holds a slot in a background thread until released."""

    def __init__(self, line: EncodeQueue, work: int = 10, kind: str = "m") -> None:
        self.release = threading.Event()
        self.started = threading.Event()

        def run() -> None:
            with line.slot(work, kind=kind):
                self.started.set()
                self.release.wait(JOIN_S)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.started.wait(5)

    def done(self) -> None:
        self.release.set()
        self.thread.join(JOIN_S)
        assert not self.thread.is_alive()


def test_waiters_start_in_arrival_order_and_see_their_place():
    line = EncodeQueue(capacity=1, poll_s=0.01)
    holder = Holder(line)
    started: list[int] = []
    seen: dict[int, list[QueueStatus]] = {i: [] for i in range(5)}
    threads = []
    for i in range(5):

        def run(i=i) -> None:
            with line.slot(10, kind="m", on_wait=seen[i].append):
                started.append(i)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        wait_until(lambda i=i: line.waiting == i + 1)  # arrive one after the other
    for i in range(5):
        wait_until(lambda i=i: seen[i])
        first = seen[i][0]
        assert first.position == i + 1 and first.running == 1 and first.capacity == 1
    holder.done()
    for thread in threads:
        thread.join(JOIN_S)
    assert started == [0, 1, 2, 3, 4]
    # A place in line only ever moves forward.
    for statuses in seen.values():
        positions = [s.position for s in statuses]
        assert positions == sorted(positions, reverse=True)
    assert line.running == 0 and line.waiting == 0


def test_background_work_waits_behind_every_visitor_even_those_who_come_later():
    """auto's preparation (background) never delays a visitor: it runs when nobody else wants the slot."""
    line = EncodeQueue(capacity=1, max_waiting=1, poll_s=0.01)
    holder = Holder(line)
    started: list[str] = []
    seen: dict[str, list[QueueStatus]] = {"visitor": [], "background": []}

    def run(name: str, background: bool) -> None:
        with line.slot(10, kind=name, on_wait=seen[name].append, background=background):
            started.append(name)

    first = threading.Thread(target=run, args=("background", True), daemon=True)
    first.start()
    wait_until(lambda: seen["background"])
    assert seen["background"][0].position == 1
    later = threading.Thread(target=run, args=("visitor", False), daemon=True)
    later.start()  # arrives after the background work, goes ahead of it
    wait_until(lambda: seen["visitor"])
    assert seen["visitor"][0].position == 1
    wait_until(lambda: seen["background"][-1].position == 2)
    # Background work does not count against the waiters a server lets in: the one place is taken.
    with pytest.raises(BusyError, match="1 waiting"):
        with line.slot(10, kind="one too many"):
            pass
    holder.done()
    for thread in (first, later):
        thread.join(JOIN_S)
    assert started == ["visitor", "background"]
    assert line.running == 0 and line.waiting == 0


def test_background_work_starts_at_once_on_an_idle_line():
    line = EncodeQueue(capacity=1, poll_s=0.01)
    with line.slot(10, kind="prepare", background=True) as slot:
        assert line.running == 1 and slot.waited_s < 1.0


def test_capacity_bounds_concurrency_and_order_is_kept():
    line = EncodeQueue(capacity=2, poll_s=0.01)
    lock = threading.Lock()
    active, peak, order = [0], [0], []
    gate = threading.Event()

    def run(i: int) -> None:
        with line.slot(1, kind="m"):
            with lock:
                order.append(i)
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            gate.wait(JOIN_S)
            time.sleep(0.01)
            with lock:
                active[0] -= 1

    threads = []
    for i in range(8):
        thread = threading.Thread(target=run, args=(i,), daemon=True)
        thread.start()
        threads.append(thread)
        wait_until(lambda i=i: line.running + line.waiting == i + 1)
    assert line.running == 2 and line.waiting == 6
    gate.set()
    for thread in threads:
        thread.join(JOIN_S)
    assert peak[0] == 2
    assert order == list(range(8))  # first come, first served: nobody overtakes


def test_a_waiter_whose_session_goes_away_leaves_the_line():
    line = EncodeQueue(capacity=1, poll_s=0.01)
    holder = Holder(line)
    gone = threading.Event()
    outcome: dict[str, object] = {}

    class SessionGone(BaseException):  # like Streamlit's StopException
        pass

    def abandoned_wait(status: QueueStatus) -> None:
        if gone.is_set():
            raise SessionGone()

    def leaver() -> None:
        try:
            with line.slot(1000, on_wait=abandoned_wait):
                outcome["leaver"] = "ran"
        except SessionGone:
            outcome["leaver"] = "left"

    def stayer() -> None:
        with line.slot(10, on_wait=lambda s: outcome.setdefault("stayer_first", s.position)):
            outcome["stayer"] = "ran"

    first = threading.Thread(target=leaver, daemon=True)
    first.start()
    wait_until(lambda: line.waiting == 1)
    second = threading.Thread(target=stayer, daemon=True)
    second.start()
    wait_until(lambda: line.waiting == 2)
    gone.set()
    first.join(JOIN_S)
    assert outcome["leaver"] == "left" and line.waiting == 1  # its place is given up at once
    holder.done()
    second.join(JOIN_S)
    assert outcome["stayer"] == "ran" and outcome["stayer_first"] == 2
    assert line.running == 0 and line.waiting == 0


def test_an_error_inside_the_slot_frees_it_and_measures_nothing():
    line = EncodeQueue(capacity=1)
    with pytest.raises(RuntimeError):
        with line.slot(100, kind="m"):
            raise RuntimeError("encode failed")
    assert line.running == 0 and line.rate("m") is None
    with line.slot(1):
        assert line.running == 1


def test_too_many_waiting_is_refused_at_once():
    line = EncodeQueue(capacity=1, max_waiting=2, poll_s=0.01)
    holder = Holder(line)
    waiters = []
    for _ in range(2):

        def run() -> None:
            with line.slot(1):
                pass

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        waiters.append(thread)
    wait_until(lambda: line.waiting == 2)
    started = time.monotonic()
    with pytest.raises(BusyError, match="busy"):
        with line.slot(1):
            pass
    assert time.monotonic() - started < 1.0
    holder.done()
    for thread in waiters:
        thread.join(JOIN_S)
    assert line.waiting == 0


def test_estimate_comes_from_measured_throughput():
    now = [100.0]
    line = EncodeQueue(capacity=1, clock=lambda: now[0], poll_s=0.01)
    # Nothing measured yet: no estimate, and the text says so.
    with line.slot(100, kind="minilm"):
        now[0] += 2.0  # 100 texts in 2 s: 50 texts/s
    assert line.rate("minilm") == pytest.approx(50.0)
    assert line.rate("unknown model") == pytest.approx(50.0)  # the mean of what is known

    # One encode of 100 texts has run for 1 s; a waiter of 50 texts is first in line behind it,
    # a second waiter behind that one: 1 s left of the running one, then 1 s for the first waiter.
    entered = threading.Event()
    release = threading.Event()

    def running() -> None:
        with line.slot(100, kind="minilm"):
            entered.set()
            release.wait(JOIN_S)

    thread = threading.Thread(target=running, daemon=True)
    thread.start()
    assert entered.wait(5)
    now[0] += 1.0
    seen: dict[str, QueueStatus] = {}

    def waiter(name: str, work: int) -> None:
        with line.slot(work, kind="minilm", on_wait=lambda s: seen.setdefault(name, s)):
            pass

    a = threading.Thread(target=waiter, args=("a", 50), daemon=True)
    a.start()
    wait_until(lambda: "a" in seen)
    b = threading.Thread(target=waiter, args=("b", 50), daemon=True)
    b.start()
    wait_until(lambda: "b" in seen)
    status = seen["b"]
    assert seen["a"].estimate_s == pytest.approx(1.0) and seen["a"].position == 1
    assert status.estimate_s == pytest.approx(2.0) and status.position == 2 and status.waiting == 2
    assert status.rate == pytest.approx(50.0)
    assert "2nd of 2 waiting" in status.describe() and "starts in about 2 s" in status.describe()
    release.set()
    for t in (thread, a, b):
        t.join(JOIN_S)


@pytest.mark.parametrize("capacity", [1, 3])
def test_no_deadlock_under_random_arrivals_leavings_and_errors(capacity):
    line = EncodeQueue(capacity=capacity, max_waiting=40, poll_s=0.005)
    rng = random.Random(capacity)
    lock = threading.Lock()
    active, peak, finished = [0], [0], []

    def run(i: int, plan: str, pause: float, work: int) -> None:
        leave_after = time.monotonic() + pause

        def on_wait(status: QueueStatus) -> None:
            if plan == "leave" and time.monotonic() > leave_after:
                raise KeyboardInterrupt  # any BaseException leaves the line

        try:
            with line.slot(work, kind=f"m{i % 3}", on_wait=on_wait):
                with lock:
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
                time.sleep(pause)
                with lock:
                    active[0] -= 1
                if plan == "fail":
                    raise ValueError("encode failed")
        except (KeyboardInterrupt, ValueError):
            pass
        finished.append(i)

    plans = [(rng.choice(["ok", "ok", "leave", "fail"]), rng.uniform(0.0, 0.02), rng.randint(1, 50)) for _ in range(40)]
    threads = [threading.Thread(target=run, args=(i, *p), daemon=True) for i, p in enumerate(plans)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_S)
    assert not any(t.is_alive() for t in threads), "a waiter never got its slot"
    assert sorted(finished) == list(range(40))
    assert peak[0] <= capacity and line.running == 0 and line.waiting == 0


def test_settings_size_the_process_wide_line(monkeypatch):
    monkeypatch.setattr(queue_module, "_QUEUE", None)
    monkeypatch.setenv("DIMSCOPE_MAX_CONCURRENT_ENCODES", "3")
    monkeypatch.setenv("DIMSCOPE_MAX_QUEUED_ENCODES", "5")
    line = queue_module.encode_queue()
    assert (line.capacity, line.max_waiting) == (3, 5) and queue_module.encode_queue() is line
    monkeypatch.setattr(queue_module, "_QUEUE", None)
    monkeypatch.setenv("DIMSCOPE_MAX_CONCURRENT_ENCODES", "zero")
    monkeypatch.delenv("DIMSCOPE_MAX_QUEUED_ENCODES")
    assert queue_module.encode_queue().capacity >= 1 and queue_module.encode_queue().max_waiting == 32
    monkeypatch.setattr(queue_module, "_QUEUE", None)


# --- the pipeline goes through the line, with a real model --------------------------------------------


class RecordingProgress:
    def __init__(self) -> None:
        self.statuses: list[QueueStatus] = []
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def waiting(self, status: QueueStatus) -> None:
        self.statuses.append(status)


@pytest.mark.slow
def test_pipeline_waits_in_line_and_the_wait_does_not_count_against_the_budget(tiny_model_dir, monkeypatch):
    from analysis import pipeline
    from analysis.corpora import Corpus
    from analysis.models import resolve_model
    from analysis.pipeline.cache import EmbeddingStore
    from tests.tiny_models import tiny_corpus

    line = EncodeQueue(capacity=1, poll_s=0.05)
    monkeypatch.setattr(queue_module, "_QUEUE", line)
    monkeypatch.setenv("DIMSCOPE_BACKEND", "torch")  # the line alone: no auto preparing in the background
    model = resolve_model(str(tiny_model_dir))
    corpus = Corpus(name="queued", texts=tuple(dict.fromkeys(tiny_corpus(700, seed=11))))
    assert len(corpus) > 512  # progress is reported mid-encode (chunks of 256), where the budget is checked
    expected = pipeline.get_embeddings(model, corpus, store=EmbeddingStore()).raw
    assert line.rate(f"{model.fingerprint}/torch") is not None  # the first encode was measured

    outcome: dict[str, object] = {}
    holder = Holder(line, work=500, kind="another model")
    progress = RecordingProgress()

    def visitor() -> None:
        from analysis.pipeline.memory_cache import MemoryStore

        try:
            outcome["result"] = pipeline.get_embeddings(
                model, corpus, store=MemoryStore(), progress=progress, time_limit_s=1.0
            )
        except Exception as exc:  # reported below with its message
            outcome["error"] = exc

    thread = threading.Thread(target=visitor, daemon=True)
    thread.start()
    wait_until(lambda: progress.statuses)
    time.sleep(1.5)  # longer in line than the whole budget
    assert line.waiting == 1 and not progress.calls  # not a single text encoded yet
    holder.done()
    thread.join(JOIN_S)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert not result.from_cache and result.n_encoded == len(corpus)
    np.testing.assert_allclose(result.raw, expected, atol=1e-5)
    assert progress.statuses[0].position == 1 and progress.statuses[-1].waited_s >= 1.4
    assert progress.calls[-1] == (len(corpus), len(corpus))
