"""``backend="auto"``: the fastest encoding path whose statistics stay those of torch fp32.

A path is *accurate enough* when, on the calibration texts, the per-dimension std of its
normalized vectors is within :data:`STD_TOLERANCE` (5e-4, about 1% of all-MiniLM-L6-v2's median
std) of torch fp32's everywhere, and it finds the same dead dimensions. Among those, auto takes
the one with the highest measured speedup over torch fp32.

* **Candidates by CPU features**: on a CPU with native bf16 (avx512_bf16, AMX) openvino bf16 and
  torch bf16 autocast join onnxruntime fp32, openvino f32 and torch fp32; elsewhere only the fp32
  paths run (bf16 is emulated there, and slow). int8 is lossy and never a candidate.
* **A one-off timed calibration** per machine and model: :data:`CALIBRATION_TEXTS` texts in chunks
  of :data:`CHUNK_TEXTS`; every candidate encodes each chunk, in an order that rotates from chunk
  to chunk, so all of them share the same stretch of machine load (on shared cores a single
  timing of a few hundred texts swung 0.6-1.8x). The speedup is the median over chunks of the
  per-chunk ratio of CPU time (all threads of the process): every candidate uses every core, and
  on shared cores CPU time kept its ratio (openvino bf16 2.5x torch at load 10) while wall time
  swung with the neighbours (1.2-2.6x). Wall-clock ratios are recorded beside it. After the first
  chunk, candidates far behind the fastest (:data:`DROP_FACTOR`) stop, which keeps it short.
* **The record**: ``<models_dir>/calibration/<machine id>/<model>.json``, keyed by the model
  fingerprint and :func:`~analysis.encoding.machine.machine_id` (CPU, flags, cores, runtime
  versions). It is read with nothing heavy imported, so a cached request resolves ``auto``
  without torch; it is written once, under a file lock, by whichever process calibrates first.

Usage::

    resolve_backend(resolve_model("all-MiniLM-L6-v2"), "auto")  # e.g. 'openvino-bf16' on a Zen 4
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis import settings
from analysis.encoding.backends import (
    AUTO,
    BF16_BACKENDS,
    LOSSY_BACKENDS,
    OFFERED_BACKENDS,
    available_backends,
    backend_label,
    encode_raw,
    files_to_make,
    loaded_backends,
    release,
    unavailable_reason,
)
from analysis.encoding.machine import has_bf16, machine_id, machine_summary
from analysis.encoding.runtime import StepCallback, StepCounter
from analysis.models.resolve import ResolvedModel
from analysis.wording import plural

log = logging.getLogger(__name__)

STD_TOLERANCE = 5e-4
CALIBRATION_TEXTS = 256
#: Requests with fewer texts do not start a calibration: they use torch fp32 until one exists.
MIN_TEXTS_TO_CALIBRATE = CALIBRATION_TEXTS
CHUNK_TEXTS = 64
DROP_FACTOR = 1.5
RECORD_FORMAT = 1
REFERENCE = "torch"
#: Candidates in the order expected fastest first (measured on Zen 4 and EPYC without bf16); the
#: order only breaks exact ties, the timing decides.
BF16_ORDER = ("openvino-bf16", "torch-bf16", "onnx", "openvino", REFERENCE)
FP32_ORDER = ("onnx", "openvino", REFERENCE)
#: torch fp32 and torch bf16 autocast run the same loaded model.
SHARES_MODEL = {REFERENCE: ("torch-bf16",), "torch-bf16": (REFERENCE,)}

Runner = Callable[[list[str]], np.ndarray]
Clock = Callable[[], float]
_MEMO: dict[tuple[str, str], Calibration] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Measurement:
    """One candidate on the calibration texts, against torch fp32."""

    backend: str
    speedup: float | None = None  # median over chunks of torch's CPU time / this backend's: decides
    wall_speedup: float | None = None  # the same in wall-clock time (noisier on shared cores)
    drift: float | None = None  # max abs difference of the normalized per-dimension std
    same_dead_dims: bool | None = None
    seconds: float | None = None  # wall-clock encode time over the chunks it ran
    cpu_seconds: float | None = None  # CPU time (all threads) over the same chunks
    load_seconds: float | None = None  # first use: load, export, convert, compile, warm up
    note: str = ""  # why it was not measured in full (an error, or dropped as too slow)

    @property
    def accurate(self) -> bool:
        return self.drift is not None and self.drift <= STD_TOLERANCE and self.same_dead_dims is True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        values: dict[str, Any] = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**values)


@dataclass(frozen=True)
class Calibration:
    """The outcome for one (machine, model): every candidate's numbers and the choice."""

    model: str
    fingerprint: str
    machine_id: str
    chosen: str
    measurements: dict[str, Measurement]
    n_texts: int = 0
    seconds: float = 0.0  # wall time of the whole calibration, loads included
    machine: dict[str, Any] = field(default_factory=dict)
    load_average: list[float] = field(default_factory=list)
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = RECORD_FORMAT
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        measurements = {name: Measurement.from_dict(m) for name, m in dict(data["measurements"]).items()}
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "measurements"}
        return cls(measurements=measurements, **values)


# --- the choice (pure) ---------------------------------------------------------------------------------


def candidates(available: Iterable[str], bf16: bool) -> list[str]:
    """The backends auto times on this CPU, expected fastest first (torch fp32 always included).

    >>> candidates(["auto", "torch", "onnx", "onnx-int8", "openvino"], bf16=False)
    ['onnx', 'openvino', 'torch']
    """
    usable = set(available) | {REFERENCE}
    return [b for b in (BF16_ORDER if bf16 else FP32_ORDER) if b in usable]


def choose(measurements: Mapping[str, Measurement], order: Sequence[str] = BF16_ORDER) -> str:
    """The accurate candidate with the highest speedup (ties: earlier in ``order``); torch if none.

    >>> fast = Measurement("onnx", speedup=1.4, drift=1e-8, same_dead_dims=True)
    >>> lossy = Measurement("openvino-bf16", speedup=2.5, drift=9e-4, same_dead_dims=True)
    >>> choose({"onnx": fast, "openvino-bf16": lossy})
    'onnx'
    """
    ranked = [m for m in measurements.values() if m.accurate and m.speedup is not None]
    if not ranked:
        return REFERENCE
    rank = {name: i for i, name in enumerate(order)}
    best = max(ranked, key=lambda m: (m.speedup or 0.0, -rank.get(m.backend, len(rank))))
    return best.backend


def compare_to_reference(reference: np.ndarray, vectors: np.ndarray) -> tuple[float, bool]:
    """(max abs difference of the normalized per-dimension std, same dead dimensions?)."""
    from analysis.measures.matrix import l2_normalize
    from analysis.measures.stats import dead_dimensions

    ref_std = l2_normalize(reference).astype(np.float64).std(axis=0)
    std = l2_normalize(vectors).astype(np.float64).std(axis=0)
    return float(np.max(np.abs(std - ref_std))), dead_dimensions(std) == dead_dimensions(ref_std)


@dataclass
class Timings:
    """Per-chunk seconds of each runner, in CPU time (the process's, all threads) and wall time."""

    cpu: dict[str, list[float]]
    wall: dict[str, list[float]]


def run_interleaved(
    runners: Mapping[str, Runner],
    texts: Sequence[str],
    *,
    chunk: int = CHUNK_TEXTS,
    clocks: tuple[Clock, Clock] = (time.process_time, time.perf_counter),
    drop_factor: float = DROP_FACTOR,
    drop_after: int = 1,
    on_chunk: Callable[[int, int, int], None] | None = None,
) -> tuple[Timings, dict[str, np.ndarray], dict[str, str]]:
    """Time every runner on every chunk of ``texts``, rotating the order from chunk to chunk.

    Returns (per-chunk timings, vectors of the runners that ran every chunk, notes on the dropped
    ones). After ``drop_after`` chunks the runners that cannot win stop (:func:`_drop_early`; never
    the reference): CPU time is steady enough from chunk to chunk (within ~15% at load 10) for
    one chunk to tell 2x apart from 1.2x. ``clocks`` are (CPU, wall) clocks, replaceable in tests.
    ``on_chunk(chunk, chunks, runners)`` is told each chunk (0-based) before it runs.
    """
    cpu_clock, wall_clock = clocks
    chunks = [list(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    active = list(runners)
    timings = Timings(cpu={name: [] for name in runners}, wall={name: [] for name in runners})
    parts: dict[str, list[np.ndarray]] = {name: [] for name in runners}
    notes: dict[str, str] = {}
    for c, chunk_texts in enumerate(chunks):
        if on_chunk is not None:
            on_chunk(c, len(chunks), len(active))
        shift = c % len(active)
        for name in active[shift:] + active[:shift]:
            cpu_start, wall_start = cpu_clock(), wall_clock()
            parts[name].append(runners[name](chunk_texts))
            timings.cpu[name].append(cpu_clock() - cpu_start)
            timings.wall[name].append(wall_clock() - wall_start)
        if c + 1 == drop_after and c + 1 < len(chunks):
            _drop_early(active, timings, parts, notes, drop_factor, f"after {c + 1} of {len(chunks)} chunks")
    vectors = {name: np.concatenate(parts[name]) for name in active}
    return timings, vectors, notes


def _drop_early(
    active: list[str],
    timings: Timings,
    parts: Mapping[str, list[np.ndarray]],
    notes: dict[str, str],
    drop_factor: float,
    when: str,
) -> None:
    """Stop the runners that cannot win: clearly inaccurate on the texts so far (drift over twice
    the tolerance, or other dead dimensions), or ``drop_factor`` slower than the fastest runner
    that still looks accurate (so a fast but lossy path cannot push the accurate ones out)."""
    reference = np.concatenate(parts[REFERENCE])
    speedups, plausible = {}, {REFERENCE}
    for name in active:
        speedups[name] = _median_speedup(timings.cpu[REFERENCE], timings.cpu[name])
        if name != REFERENCE:
            drift, same = compare_to_reference(reference, np.concatenate(parts[name]))
            if same and drift <= 2 * STD_TOLERANCE:
                plausible.add(name)
            else:
                notes[name] = f"stopped {when}: normalized std off by {drift:.1e}" + (
                    "" if same else ", other dead dims"
                )
    best = max(speedups[name] for name in plausible)
    for name in list(active):
        if name not in plausible:
            active.remove(name)
        elif name != REFERENCE and speedups[name] < best / drop_factor:
            active.remove(name)
            notes[name] = f"stopped {when}: {speedups[name]:.2f}x vs {best:.2f}x"


def _median_speedup(reference: Sequence[float], times: Sequence[float]) -> float:
    return float(statistics.median(r / max(t, 1e-9) for r, t in zip(reference, times, strict=False)))


def summarize(
    timings: Timings,
    vectors: Mapping[str, np.ndarray],
    notes: Mapping[str, str],
    load_seconds: Mapping[str, float] | None = None,
) -> dict[str, Measurement]:
    """Per-candidate measurements from :func:`run_interleaved`'s output (``REFERENCE`` included)."""
    reference = vectors[REFERENCE]
    out = {}
    for name, runs in timings.cpu.items():
        drift = same = None
        if name in vectors:
            drift, same = compare_to_reference(reference, vectors[name])
        wall = timings.wall[name]
        out[name] = Measurement(
            backend=name,
            speedup=_median_speedup(timings.cpu[REFERENCE], runs) if runs else None,
            wall_speedup=_median_speedup(timings.wall[REFERENCE], wall) if wall else None,
            drift=drift,
            same_dead_dims=same,
            seconds=float(sum(wall)) if wall else None,
            cpu_seconds=float(sum(runs)) if runs else None,
            load_seconds=(load_seconds or {}).get(name),
            note=notes.get(name, ""),
        )
    return out


# --- running it on a real model -------------------------------------------------------------------


def calibration_texts(n: int = CALIBRATION_TEXTS) -> list[str]:
    """``n`` fixed texts: pairs of chatterbot-english lines (shipped with the app), so that their
    lengths (median ~60 characters) resemble sentences rather than chat turns."""
    from analysis.corpora import load_builtin_corpus

    lines = list(load_builtin_corpus("chatterbot-english").texts)
    random.Random(0).shuffle(lines)
    return [f"{a} {b}" for a, b in zip(lines[0::2], lines[1::2], strict=False)][:n]


def _excluded_by_layout(resolved: ResolvedModel) -> str | None:
    """Why the ONNX/OpenVINO paths cannot encode this model faithfully, or None."""
    from analysis.encoding.onnx_backend import supported_layout
    from analysis.errors import ModelUnavailableError

    try:
        layout = supported_layout(resolved.path)
    except ModelUnavailableError as exc:
        return str(exc)
    if not layout.include_prompt:
        return "its pooling leaves prompt tokens out, which only torch implements"
    return None


def load_runners(
    resolved: ResolvedModel,
    names: Sequence[str],
    texts: Sequence[str],
    *,
    on_step: Callable[[str], None] | None = None,
) -> tuple[dict[str, Runner], dict[str, float], dict[str, str]]:
    """Load and warm each candidate; (runners, load seconds, notes on the ones that failed).

    ``on_step(what)`` is told each step as it starts: the ONNX export and the OpenVINO conversion
    (first use of a model on this machine, the long steps), then loading each candidate."""
    prompt = resolved.analysis_prompt
    runners: dict[str, Runner] = {}
    loads: dict[str, float] = {}
    notes: dict[str, str] = {}
    layout_problem = _excluded_by_layout(resolved)
    for name in names:
        if name not in (REFERENCE, "torch-bf16") and layout_problem:
            notes[name] = f"not used: {layout_problem}"
            continue

        def run(chunk: list[str], backend: str = name) -> np.ndarray:
            return encode_raw(resolved, chunk, prompt=prompt, backend=backend, chunk_size=max(1, len(chunk)))

        start = time.perf_counter()
        try:
            for what, prepare in files_to_make(resolved, name):  # timed as part of the load
                if on_step is not None:
                    on_step(what)
                prepare()
            if on_step is not None:
                on_step(f"loading {backend_label(name)}")
            run(list(texts[:8]))
        except Exception as exc:  # noqa: BLE001 - an optional path that fails here is just not a candidate
            if name == REFERENCE:
                raise
            notes[name] = f"failed to load: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            continue
        loads[name] = time.perf_counter() - start
        runners[name] = run
    return runners, loads, notes


def calibrate(
    resolved: ResolvedModel,
    *,
    runners: Mapping[str, Runner] | None = None,
    texts: Sequence[str] | None = None,
    clocks: tuple[Clock, Clock] = (time.process_time, time.perf_counter),
    on_step: StepCallback | None = None,
) -> Calibration:
    """Time the candidates on this machine and choose (not cached: see :func:`calibration_for`).

    ``runners`` (backend -> texts -> vectors) replaces the real encoders, e.g. in tests.
    ``on_step(what, done, total)`` is told every step as it starts (:data:`StepCallback`).
    """
    started = time.perf_counter()
    texts = list(texts) if texts is not None else calibration_texts()
    bf16 = has_bf16()
    order = candidates(available_backends(), bf16)
    loads: dict[str, float] = {}
    notes: dict[str, str] = {}
    was_loaded = loaded_backends(resolved)
    steps = StepCounter(on_step)
    n_chunks = math.ceil(len(texts) / CHUNK_TEXTS)
    if runners is None:
        files = [] if _excluded_by_layout(resolved) else [files_to_make(resolved, name) for name in order]
        steps.total = len(order) + n_chunks + len({what for made in files for what, _ in made})
        runners, loads, notes = load_runners(resolved, order, texts, on_step=steps.start)
    steps.finish()
    steps.total = steps.done + n_chunks  # a failed or skipped candidate has no steps left
    if REFERENCE not in runners:
        raise ValueError("a calibration needs the torch fp32 reference among its runners")
    ordered = {name: runners[name] for name in order if name in runners} | dict(runners)

    def on_chunk(chunk: int, chunks: int, active: int) -> None:
        steps.start(f"timing {plural(active, 'candidate')} on {len(texts)} texts: chunk {chunk + 1} of {chunks}")

    timings, vectors, dropped = run_interleaved(ordered, texts, clocks=clocks, on_chunk=on_chunk)
    steps.finish()
    measurements = summarize(timings, vectors, {**notes, **dropped}, loads)
    for name, note in notes.items():
        measurements.setdefault(name, Measurement(backend=name, note=note))
    for name in OFFERED_BACKENDS:  # the record says why a path was not tried (a CPU without bf16, ...)
        if name not in (AUTO, *LOSSY_BACKENDS) and (reason := unavailable_reason(name)):
            measurements.setdefault(name, Measurement(backend=name, note=f"not a candidate: {reason}"))
    chosen = choose(measurements, order)
    for name in loaded_backends(resolved) - was_loaded:  # loaded only to compare: free the memory
        if name not in (chosen, *SHARES_MODEL.get(chosen, ())):
            release(resolved, name)
    return Calibration(
        model=resolved.name,
        fingerprint=resolved.fingerprint,
        machine_id=machine_id(),
        chosen=chosen,
        measurements=measurements,
        n_texts=len(texts),
        seconds=round(time.perf_counter() - started, 3),
        machine=machine_summary(),
        load_average=_load_average(),
        created=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


# --- the record ------------------------------------------------------------------------------------


def record_path(resolved: ResolvedModel) -> Path:
    """``<models_dir>/calibration/<machine id>/<model>-<fingerprint digest>.json``."""
    from analysis.encoding.onnx_backend import export_dir

    return settings.models_dir() / "calibration" / machine_id() / f"{export_dir(resolved).name}.json"


def _read_record(path: Path, resolved: ResolvedModel, machine: str | None) -> Calibration | None:
    """A valid record of this model at ``path`` (of ``machine`` when given), else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = Calibration.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if (
        data.get("format") != RECORD_FORMAT
        or record.fingerprint != resolved.fingerprint
        or (machine is not None and record.machine_id != machine)
        or record.chosen not in available_backends()
    ):
        return None
    return record


def recorded(resolved: ResolvedModel) -> Calibration | None:
    """This machine's calibration of the model, if there is a valid one. Never calibrates."""
    key = (machine_id(), resolved.fingerprint)
    cached = _MEMO.get(key)
    if cached is not None:
        return cached
    record = _read_record(record_path(resolved), resolved, key[0])
    if record is not None:
        _MEMO[key] = record
    return record


def recorded_elsewhere(resolved: ResolvedModel) -> list[Calibration]:
    """Valid calibrations of the model made on other machines (e.g. the one that built a Docker
    image), newest first. Their choices were accurate there, and accuracy does not depend on the
    machine: enough to serve a result cached under them, never to pick a backend to encode with."""
    path = record_path(resolved)
    records = []
    for other in sorted(path.parent.parent.glob(f"*/{path.name}")):
        if other.parent.name != path.parent.name:
            record = _read_record(other, resolved, None)
            if record is not None and record.measurements.get(record.chosen, Measurement(record.chosen)).accurate:
                records.append(record)
    return sorted(records, key=lambda r: r.created, reverse=True)


def calibration_for(
    resolved: ResolvedModel,
    *,
    on_step: StepCallback | None = None,
    turn: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
) -> Calibration:
    """The recorded calibration, or a new one (run once across processes, then recorded).

    ``turn()`` is entered only when this call really calibrates, after the locks that make a
    second caller wait for the first one's record: the encode line's slot (a calibration encodes
    on every core), so that a caller who finds the record made meanwhile never holds a slot.
    ``on_step`` is told the calibration's steps (:func:`calibrate`)."""
    record = recorded(resolved)
    if record is not None:
        return record
    from analysis.encoding.onnx_backend import file_lock

    path = record_path(resolved)
    with _LOCK, contextlib.ExitStack() as stack:
        try:
            stack.enter_context(file_lock(path.with_name(f".{path.name}.lock")))
        except OSError as exc:  # an unwritable models folder: calibrate for this process only
            log.warning("no calibration lock in %s: %s", path.parent, exc)
        record = recorded(resolved)  # another process may have finished it while we waited
        if record is not None:
            return record
        with turn() if turn is not None else contextlib.nullcontext():
            record = calibrate(resolved, on_step=on_step)
        _MEMO[(machine_id(), resolved.fingerprint)] = record
        try:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record.to_dict(), indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # keep it for this process only
            log.warning("could not record the backend calibration in %s: %s", path, exc)
    log.info("backend calibration for %s: %s in %.1f s", resolved.name, record.chosen, record.seconds)
    return record


def forget(resolved: ResolvedModel) -> None:
    """Drop this process's memory of the model's calibration (the record on disk stays)."""
    _MEMO.pop((machine_id(), resolved.fingerprint), None)


def resolve_backend(resolved: ResolvedModel, backend: str, *, calibrate: bool = True) -> str | None:
    """``backend`` itself, or for ``"auto"`` this machine's choice for the model. Without
    ``calibrate``, None when the model has not been calibrated here yet (nothing is loaded)."""
    if backend != AUTO:
        return backend
    record = calibration_for(resolved) if calibrate else recorded(resolved)
    return record.chosen if record is not None else None


def backend_facts(resolved: ResolvedModel, backend: str) -> tuple[float | None, float | None]:
    """(drift, speedup) of a concrete backend for this model, from this machine's calibration;
    torch fp32 is the reference (0, 1). Measured only on another machine: (drift, None), as speed
    does not carry over. (None, None) when it was never measured."""
    if backend == REFERENCE:
        return 0.0, 1.0
    record = recorded(resolved)
    measurement = record.measurements.get(backend) if record is not None else None
    if measurement is not None and measurement.drift is not None:
        return measurement.drift, measurement.speedup
    for other in recorded_elsewhere(resolved):
        elsewhere = other.measurements.get(backend)
        if elsewhere is not None and elsewhere.drift is not None:
            return elsewhere.drift, None
    return (measurement.drift, measurement.speedup) if measurement is not None else (None, None)


def describe(backend: str, drift: float | None, speedup: float | None) -> str:
    """One line for a page or the CLI.

    >>> describe("openvino-bf16", 5.04e-05, 2.31)
    'encoded with openvino bf16, 2.3x faster than torch, std within 6e-5 of torch fp32'
    >>> describe("torch", 0.0, 1.0)
    'encoded with torch fp32, the reference'
    """
    label = backend_label(backend)
    if backend == REFERENCE:
        return f"encoded with {label}, the reference"
    parts = [f"encoded with {label}"]
    if speedup is not None:
        if speedup >= 1.05:
            parts.append(f"{speedup:.1f}x faster than torch")
        elif speedup > 0.95:
            parts.append("as fast as torch")
        else:
            parts.append(f"{speedup:.1f}x the speed of torch")
    if drift is not None:
        parts.append(f"std within {_short(drift)} of torch fp32" if drift > 0 else "same std as torch fp32")
    if backend in BF16_BACKENDS and speedup is None:
        parts.append("not calibrated on this machine")
    return ", ".join(parts)


def _short(value: float) -> str:
    """One significant digit, rounded up so that "within" stays true.

    >>> _short(5.04e-05), _short(4e-09), _short(9.5e-4)
    ('6e-5', '4e-9', '1e-3')
    """
    exponent = math.floor(math.log10(value))
    mantissa = math.ceil(round(value / 10**exponent, 9))
    if mantissa == 10:
        mantissa, exponent = 1, exponent + 1
    return f"{mantissa}e{exponent}"
