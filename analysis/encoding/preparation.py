"""``backend="auto"`` made ready in the background, while a model's first request encodes with torch.

Before ``auto`` can choose, a model needs its ONNX export, its OpenVINO conversion and a timed
calibration on this machine: about a minute for all-mpnet-base-v2 on 2 shared cores, during which
a first visit used to see nothing but "loading the model…". torch fp32 is the reference every
choice of ``auto`` is measured against, so a first result encoded with it is exact; the faster
path is prepared after it, for the requests that follow.

* **Once per process and model** (:func:`request`): every session asking for the same new model
  shares one :class:`Preparation`. Across processes the calibration's file lock makes a second
  process wait for the first one's record instead of preparing again
  (:func:`~analysis.encoding.calibration.calibration_for`), without holding a slot meanwhile.
* **Behind the encode it serves**: a requested preparation starts when that encode holds its slot
  in the encode line (:func:`start_pending`, called by the pipeline), so it queues behind it; and it
  waits at background priority (``EncodeQueue.slot(background=True)``), so any visitor's encode that
  comes later goes first. It never delays a first chart.
* **Told as it goes**: :meth:`Preparation.describe` is one line for a page or the CLI ("auto is
  preparing a faster path for all-mpnet-base-v2 in the background: exporting the model to ONNX,
  step 1 of 11; until then all-mpnet-base-v2 encodes with torch fp32");
  :attr:`Preparation.steps` lists the steps started so far.
* **A failure** leaves torch fp32 for the model in this process, with a line saying why
  (:attr:`Preparation.error`); it is not retried until the process starts again.
* **A process that ends** while a preparation runs waits for it (the thread is not a daemon), so
  a script's next run finds the record; the CLI says so on stderr (:mod:`analysis.cli.background`).

Usage::

    prep = request(model)   # "auto" for a model never calibrated here: encode with torch now
    start_pending(model)    # the pipeline, once its encode holds a slot in the line
    prep.wait(120)          # (tests, the CLI at exit) then calibration.recorded(model) is set
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from analysis.encoding import calibration
from analysis.encoding.backends import AUTO, backend_label
from analysis.encoding.queue import encode_queue
from analysis.models.resolve import ResolvedModel

PENDING = "pending"  # requested: starts when the encode that asked for it holds its slot
WAITING = "waiting"  # its thread waits for the calibration lock or a slot in the encode line
RUNNING = "running"
DONE = "done"
FAILED = "failed"
#: What a preparation does, for the line shown before its steps are known.
WHAT = "ONNX export, OpenVINO conversion, a timed calibration"


@dataclass(frozen=True)
class Step:
    """One step as it started: what, and how many of how many steps were finished then."""

    what: str
    done: int
    total: int


class Preparation:
    """The background preparation of ``auto`` for one model on this machine (one per process)."""

    def __init__(self, model: ResolvedModel) -> None:
        self.model = model
        self.state = PENDING
        self.steps: list[Step] = []
        self.chosen: str | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.model.name.rsplit("/", 1)[-1]

    @property
    def active(self) -> bool:
        """Requested, waiting or running: not finished."""
        return self.state in (PENDING, WAITING, RUNNING)

    def start(self) -> bool:
        """Start the work on its own thread unless it was started before; True if this call did."""
        with self._lock:
            if self._thread is not None:
                return False
            self.state = WAITING
            # Not a daemon: a script that ends while it runs waits for it instead of stopping
            # onnxruntime's or openvino's threads mid-call (which aborts the process at exit).
            self._thread = threading.Thread(target=self._run, name="dimscope-prepare-auto", daemon=False)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """True once the preparation has ended (done or failed) within ``timeout`` seconds."""
        return self._finished.wait(timeout)

    def describe(self) -> str:
        """Where it stands, in one line for a page or the CLI."""
        name = self.name
        torch_now = f"until then {name} encodes with torch fp32"
        if self.state == PENDING:
            return (
                f"auto has not prepared {name} on this machine yet: this request encodes with torch fp32, the "
                f"reference, and a faster path ({WHAT}) is prepared in the background after it"
            )
        if self.state == WAITING:
            return f"auto will prepare a faster path for {name} ({WHAT}) once the encode line is free; {torch_now}"
        if self.state == RUNNING:
            step = self.steps[-1] if self.steps else None
            where = f"{step.what}, step {step.done + 1} of {step.total}" if step else "starting"
            return f"auto is preparing a faster path for {name} in the background: {where}; {torch_now}"
        if self.state == DONE:
            chosen = backend_label(self.chosen or calibration.REFERENCE)
            return f"auto's faster path for {name} is ready: {chosen}, used by the next encode"
        return f"auto could not prepare a faster path for {name} ({self.error}); {name} encodes with torch fp32"

    # -- the work ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            record = calibration.calibration_for(self.model, on_step=self._step, turn=self._turn)
        except BaseException as exc:  # noqa: BLE001 - kept for the line; torch stays in place
            text = str(exc).splitlines()[0][:200] if str(exc) else ""
            self.error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            self.state = FAILED
        else:
            self.chosen = record.chosen
            self.state = DONE
        finally:
            self._finished.set()

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """A slot in the encode line at background priority, entered only if this process calibrates."""
        kind = f"{self.model.fingerprint}/calibration"
        with encode_queue().slot(calibration.CALIBRATION_TEXTS, kind=kind, background=True):
            self.state = RUNNING
            yield

    def _step(self, what: str, done: int, total: int) -> None:
        self.steps.append(Step(what, done, total))


_PREPARATIONS: dict[str, Preparation] = {}
_LOCK = threading.Lock()


def _key(model: ResolvedModel) -> str:
    # The record it makes: the models folder, this machine and the exact weights.
    return str(calibration.record_path(model))


def request(model: ResolvedModel) -> Preparation:
    """This process's preparation of ``auto`` for ``model``: the one requested or running (or
    failed: not retried), else a new one, pending until :func:`start_pending`."""
    key = _key(model)
    with _LOCK:
        current = _PREPARATIONS.get(key)
        if current is None or current.state == DONE:  # done, yet asked again: its record is gone
            current = _PREPARATIONS[key] = Preparation(model)
        return current


def current(model: ResolvedModel) -> Preparation | None:
    """The preparation of ``model`` this process knows (any state), or None. Never starts one."""
    with _LOCK:
        return _PREPARATIONS.get(_key(model))


def start_pending(model: ResolvedModel) -> Preparation | None:
    """Start the preparation requested for ``model``, if one waits to start: the pipeline calls it
    while its encode holds a slot, so the preparation queues behind that encode."""
    prep = current(model)
    if prep is not None and prep.state == PENDING:
        prep.start()
    return prep


def status_line(model: ResolvedModel, requested: str, used: str) -> str | None:
    """The line for a result of ``model`` asked for with backend ``requested``, encoded with
    ``used``: for "auto" encoded with torch fp32, its preparation under way or failed; else None
    (another backend, nothing prepared in this process, or ready)."""
    if requested != AUTO or used != calibration.REFERENCE:
        return None
    prep = current(model)
    return prep.describe() if prep is not None and prep.state != DONE else None


def unfinished() -> list[Preparation]:
    """Preparations requested or running in this process (the CLI finishes them before it exits)."""
    with _LOCK:
        return [prep for prep in _PREPARATIONS.values() if prep.active]


def settle(timeout: float = 600.0) -> None:
    """Wait for the preparations under way (at most ``timeout`` seconds each), then forget them all,
    pending ones included: the end of a test, so that none runs on into the next one."""
    with _LOCK:
        preparations = list(_PREPARATIONS.values())
        _PREPARATIONS.clear()
    for prep in preparations:
        if prep.state in (WAITING, RUNNING):
            prep.wait(timeout)
