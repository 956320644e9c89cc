"""Work started ahead of the page that shows it: one job per key, errors kept for the page, and
the upload path: the Corpus page starts an upload's statistics, Explore waits for that job
instead of encoding the same texts a second time."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from analysis.encoding.queue import QueueStatus
from analysis.pipeline.ahead import AheadOfTime


@pytest.fixture
def ahead():
    pool = AheadOfTime(workers=2)
    yield pool
    pool.shutdown()


def test_a_second_start_under_the_same_key_joins_the_running_job(ahead):
    release = threading.Event()
    runs: list[str] = []

    def work(job):
        runs.append(threading.current_thread().name)
        release.wait(10)
        return "result"

    first = ahead.start("key", work)
    second = ahead.start("key", work)
    assert second is first
    assert ahead.running("key") is first
    assert not first.wait(timeout=0.05)  # still running
    release.set()
    assert first.wait(timeout=10)
    assert first.future.result() == "result"
    assert len(runs) == 1 and runs[0].startswith("dimscope-ahead")
    assert ahead.running("key") is None  # forgotten once finished
    third = ahead.start("key", lambda job: "again")  # a later start runs again
    assert third is not first and third.wait(10) and third.future.result() == "again"


def test_an_error_is_kept_for_the_page_not_raised_in_the_pool(ahead):
    def broken(job):
        raise ValueError("the model cannot load")

    job = ahead.start("bad", broken)
    assert job.wait(timeout=10)
    assert isinstance(job.future.exception(), ValueError)
    assert ahead.running("bad") is None
    ok = ahead.start("other", lambda job: 1)  # the pool still works
    assert ok.wait(10) and ok.future.result() == 1


def test_different_keys_run_side_by_side(ahead):
    both_running = threading.Barrier(2, timeout=10)

    def work(job):
        both_running.wait()  # would time out if the two jobs ran one after the other
        return True

    jobs = [ahead.start(key, work) for key in ("a", "b")]
    assert all(job.wait(10) and job.future.result() for job in jobs)


def test_a_job_says_where_it_stands():
    from analysis.pipeline.ahead import Job

    job = Job("k")
    assert job.describe() == "loading the model" and job.fraction == 0.0
    job.waiting(QueueStatus(position=2, waiting=3, running=1, capacity=1, waited_s=4.0, estimate_s=30.0, rate=None))
    assert job.describe().startswith("waiting in line: 2nd of 3 waiting")
    job(500, 2000)
    assert job.describe() == "encoded 500 of 2,000 texts" and job.fraction == 0.25


def test_an_upload_is_encoded_once_ahead_and_explore_waits_for_it(monkeypatch):
    """The Corpus page starts the upload's statistics in the background; Explore, opened while
    that encode runs, waits for it (one encode in all), then draws from the cache."""
    import analysis.pipeline.embeddings
    from analysis.measures.stats import dead_dimensions
    from tests.helpers import charts, metrics, ok, open_page, texts

    real_encode = analysis.pipeline.embeddings.encode_raw
    calls: list[tuple[str, int]] = []

    def slow_encode(model, texts, **kwargs):
        calls.append((threading.current_thread().name, len(texts)))
        time.sleep(1.5)  # long enough for Explore to open while it runs
        return real_encode(model, texts, **kwargs)

    monkeypatch.setattr("analysis.pipeline.embeddings.encode_raw", slow_encode)
    tag = uuid.uuid4().hex[:8]  # texts no cache has seen
    rows = [f"Upload {tag} text {i} about topic {i % 5} and the weather on day {i}.,t{i % 5}" for i in range(60)]
    at = open_page("pages/corpus.py")
    ok(at)
    calls.clear()  # the overview's default corpus, on this test's empty cache
    csv = ("text,label\n" + "\n".join(rows)).encode()
    at.file_uploader(key="corpus_upload").set_value(("ahead.csv", csv, "text/csv"))
    at.run()
    ok(at)
    assert any("is the corpus every page analyses now" in s.value for s in at.success)
    deadline = time.monotonic() + 60
    while not calls and time.monotonic() < deadline:  # the job resolves the backend, then encodes
        time.sleep(0.02)
    assert calls and calls[0][0].startswith("dimscope-ahead")  # started without waiting for a page
    at.switch_page("pages/explore.py").run()
    ok(at)
    assert len(calls) == 1, calls  # Explore waited for the job ahead instead of encoding again
    assert any("on ahead.csv" in c for c in texts(at.caption))
    assert len(charts(at)) >= 2
    # What Explore shows is what the encoder gives for these texts (an independent reduction).
    from analysis.encoding import l2_normalize
    from analysis.models import resolve_model

    corpus = at.session_state["ds_uploads"]["ahead.csv"]
    raw = real_encode(resolve_model("all-MiniLM-L6-v2"), list(corpus.texts), backend="torch")
    expected = dead_dimensions(np.std(l2_normalize(raw), axis=0))
    assert metrics(at)["Dead dimensions"] == str(len(expected))


def test_a_rerun_of_the_corpus_page_does_not_start_finished_work_again(monkeypatch):
    """Every rerun of the Corpus page passes the adopted upload again: once its statistics are
    computed, no further job starts."""
    import dashboard.compute
    from tests.helpers import ok, open_page

    pool = dashboard.compute.ahead_of_time()
    real_start, jobs = pool.start, []
    monkeypatch.setattr(pool, "start", lambda key, work: jobs.append(real_start(key, work)) or jobs[-1])
    at = open_page("pages/corpus.py")
    ok(at)
    tag = uuid.uuid4().hex[:8]
    rows = [f"Rerun {tag} text {i} on subject {i % 4}.,s{i % 4}" for i in range(40)]
    csv = ("text,label\n" + "\n".join(rows)).encode()
    at.file_uploader(key="corpus_upload").set_value(("rerun.csv", csv, "text/csv"))
    at.run()
    ok(at)
    assert len(jobs) == 1 and jobs[0].wait(120) and jobs[0].future.exception() is None
    at.run()  # the same upload, adopted again
    ok(at)
    assert any("is the corpus every page analyses now" in s.value for s in at.success)
    assert len(jobs) == 1


def test_a_cancelled_job_leaves_the_encode_line_and_the_next_one_moves_up():
    """Like a page's own encode when its visitor leaves: a job ahead that nobody waits for any
    more gives up its place in line, and never encodes."""
    from analysis.encoding.queue import EncodeQueue
    from analysis.pipeline.ahead import Cancelled

    line = EncodeQueue(1, poll_s=0.02)
    pool = AheadOfTime(workers=3)
    release = threading.Event()
    encoded: list[str] = []

    def work(name):
        def run(job):
            with line.slot(10, kind="m", on_wait=job.waiting):
                encoded.append(name)
                release.wait(10) if name == "holder" else None
                job(10, 10)
            return name

        return run

    try:
        holder = pool.start("holder", work("holder"))
        deadline = time.monotonic() + 10
        while not encoded and time.monotonic() < deadline:
            time.sleep(0.01)
        first, second = pool.start("first", work("first")), pool.start("second", work("second"))
        while (first.queue_status is None or second.queue_status is None) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.queue_status.position == 1 and second.queue_status.position == 2
        first.cancel()
        while second.queue_status.position != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert second.queue_status.position == 1  # moved up while the holder still encodes
        assert first.wait(10) and isinstance(first.future.exception(), Cancelled)
        release.set()
        assert holder.wait(10) and second.wait(10) and second.future.result() == "second"
        assert encoded == ["holder", "second"]  # the cancelled job never encoded
    finally:
        release.set()
        pool.shutdown()
