"""Target 11: ``backend="auto"`` against torch fp32 on 2,000 texts.

* in this process, both loaded: chunks of 250 texts, each encoded by torch and by auto's choice in
  an order that alternates from chunk to chunk (both see the same machine load); the ratio is the
  median over rounds of torch's summed time / auto's. The bar is 1.5x, or 2.5x on a CPU with bf16.
* the statistics of the two: max abs difference of the normalized per-dimension std (<= 5e-4) and
  the dead dimensions;
* whole processes: ``python -m analysis stats`` with a cold cache, ``--backend torch`` and
  ``--backend auto`` alternating (the calibration recorded, as after the first run on a machine),
  and once in an empty models folder, where auto encodes with torch and then exports, converts
  and calibrates before the process exits (target 12 times the first result);
* the calibration itself, timed in this process with the models loaded.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    INFO,
    PYTHON,
    Figure,
    base_env,
    check,
    load_average,
    median,
    run_process,
    short_texts,
    verdict,
    write_lines,
)

CHUNK = 250
STD_BAR = 5e-4


def _model(quick: bool, tmp: Path):
    from analysis.models import resolve_model

    if not quick:
        return resolve_model("all-MiniLM-L6-v2")
    from tests.tiny_models import build_tiny_model

    return resolve_model(str(build_tiny_model(tmp / "tiny-bert", dead_dims=(3, 17))))


def _interleaved(model, texts: list[str], backends: tuple[str, str], rounds: int) -> dict:
    """Per round, the summed wall and CPU seconds of each backend over alternating chunks."""
    from analysis.encoding import encode_raw

    wall = {b: [] for b in backends}
    cpu = {b: [] for b in backends}
    vectors = {b: np.empty((len(texts), 0), dtype=np.float32) for b in backends}
    for r in range(rounds):
        spent = {b: [0.0, 0.0] for b in backends}
        parts: dict[str, list[np.ndarray]] = {b: [] for b in backends}
        for c, start in enumerate(range(0, len(texts), CHUNK)):
            chunk = texts[start : start + CHUNK]
            order = backends if (c + r) % 2 == 0 else backends[::-1]
            for b in order:
                w0, c0 = time.perf_counter(), time.process_time()
                parts[b].append(encode_raw(model, chunk, backend=b, chunk_size=len(chunk)))
                spent[b][0] += time.perf_counter() - w0
                spent[b][1] += time.process_time() - c0
        for b in backends:
            wall[b].append(spent[b][0])
            cpu[b].append(spent[b][1])
            vectors[b] = np.concatenate(parts[b])
    return {"wall": wall, "cpu": cpu, "vectors": vectors}


def _cli(corpus: Path, out: Path, backend: str, model: str) -> list[str]:
    return [PYTHON, "-m", "analysis", "stats", "--model", model, "--corpus", str(corpus), "-q", "--backend", backend]


def run(quick: bool = False) -> list[Figure]:
    from analysis.encoding import calibration, machine, prefer_passive_openmp
    from analysis.encoding.calibration import compare_to_reference
    from analysis.measures.stats import dead_dimensions

    prefer_passive_openmp()
    saved = os.environ.get("DIMSCOPE_MODELS_DIR")
    with tempfile.TemporaryDirectory(prefix="dimscope-auto-") as tmp_name:
        tmp = Path(tmp_name)
        if quick:  # tiny models: keep their exports and calibrations out of the shared models folder
            os.environ["DIMSCOPE_MODELS_DIR"] = str(tmp / "models")
        try:
            return _run(quick, tmp, calibration, machine, compare_to_reference, dead_dimensions)
        finally:
            if quick:
                if saved is None:
                    os.environ.pop("DIMSCOPE_MODELS_DIR", None)
                else:
                    os.environ["DIMSCOPE_MODELS_DIR"] = saved


def _run(quick, tmp, calibration, machine, compare_to_reference, dead_dimensions) -> list[Figure]:
    model = _model(quick, tmp)
    n = 64 if quick else 2000
    texts = short_texts(n)
    summary = machine.machine_summary()
    bf16 = bool(summary["bf16"])
    cpu_text = f"{summary['cpu']}, {summary['cores']} cores, bf16 {'yes' if bf16 else 'no'}"

    start = time.perf_counter()
    was_recorded = calibration.recorded(model) is not None
    record = calibration.calibration_for(model)
    resolve_s = time.perf_counter() - start
    chosen = record.chosen
    figures = [
        Figure(
            11,
            f"auto chose {chosen} ({cpu_text})",
            None,
            "",
            "",
            INFO,
            {
                "machine": summary,
                "calibration_record": str(calibration.record_path(model)),
                "calibrated_in_this_run": not was_recorded,
                "resolve_s": resolve_s,
                "measurements": {k: vars(v) for k, v in record.measurements.items()},
                "calibration_load_average": record.load_average,
            },
        )
    ]

    from analysis.encoding import encode_raw

    for backend in ("torch", chosen):  # load and warm both: not part of the ratio
        encode_raw(model, texts[:32], backend=backend)
    backends = ("torch", chosen)
    load_before = load_average()
    got = _interleaved(model, texts, backends, rounds=1 if quick else 2)
    ratios = [t / a for t, a in zip(got["wall"]["torch"], got["wall"][chosen], strict=True)]
    cpu_ratios = [t / a for t, a in zip(got["cpu"]["torch"], got["cpu"][chosen], strict=True)]
    ratio = median(ratios)
    bar = 2.5 if bf16 else 1.5
    figures.append(
        Figure(
            11,
            f"auto ({chosen}) vs torch fp32 encode, {n} texts (in-process, alternating chunks)",
            ratio,
            "x",
            f">= {bar}x ({'bf16 CPU' if bf16 else 'no bf16'})",
            verdict(ratio >= bar),
            {
                "cpu": cpu_text,
                "round_ratios": ratios,
                "cpu_time_ratios": cpu_ratios,
                "wall_s": got["wall"],
                "cpu_s": got["cpu"],
                "load_average": [load_before, load_average()],
                "model": model.name,
            },
        )
    )
    reference, vectors = got["vectors"]["torch"], got["vectors"][chosen]
    drift, same = compare_to_reference(reference, vectors)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ref_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    figures.append(
        Figure(
            11,
            "auto: max abs diff in normalized std vs torch fp32; same dead dims",
            drift,
            "",
            f"<= {STD_BAR:g}, same dead dims",
            verdict(drift <= STD_BAR and same),
            {
                "dead_dims_torch": dead_dimensions(ref_unit.astype(np.float64).std(0)),
                "dead_dims_auto": dead_dimensions(unit.astype(np.float64).std(0)),
                "min_cosine_vs_torch": float(np.min(np.sum(unit * ref_unit, axis=1))),
            },
        )
    )

    # The calibration alone, models loaded (what a first request pays beyond loading and exporting).
    start = time.perf_counter()
    fresh = calibration.calibrate(model)
    figures.append(
        Figure(
            11,
            f"calibration, {fresh.n_texts} texts, models loaded (in-process)",
            time.perf_counter() - start,
            "s",
            "",
            INFO,
            {"chosen_again": fresh.chosen, "measurements": {k: vars(v) for k, v in fresh.measurements.items()}},
        )
    )
    figures += _whole_processes(quick, tmp, texts, model)
    return figures


def _whole_processes(quick: bool, tmp: Path, texts: list[str], model) -> list[Figure]:
    corpus = write_lines(tmp / "texts.txt", texts)
    spec = str(model.path) if quick else "sentence-transformers/all-MiniLM-L6-v2"
    reps = 1 if quick else 3
    runs: dict[str, list] = {"torch": [], "auto": []}
    for rep in range(reps):
        order = ("torch", "auto") if rep % 2 == 0 else ("auto", "torch")
        for backend in order:
            cache = tmp / f"cache-{backend}-{rep}"  # a cold cache for every run
            run = check(run_process(_cli(corpus, tmp / "out.json", backend, spec), base_env(cache)), f"CLI {backend}")
            runs[backend].append(run)
    torch_s = median([r.wall_s for r in runs["torch"]])
    auto_s = median([r.wall_s for r in runs["auto"]])
    ratio = torch_s / auto_s
    figures = [
        Figure(
            11,
            f"CLI stats, cold cache, {len(texts)} texts: torch / auto whole process (median of {reps})",
            ratio,
            "x",
            ">= 1.3x",
            verdict(ratio >= 1.3),
            {
                "torch_wall_s": [r.wall_s for r in runs["torch"]],
                "auto_wall_s": [r.wall_s for r in runs["auto"]],
                "torch_cpu_s": [r.cpu_s for r in runs["torch"]],
                "auto_cpu_s": [r.cpu_s for r in runs["auto"]],
                "calibration": "recorded in the models folder (as after the first run on a machine)",
                "load_average_after": load_average(),
            },
        )
    ]
    # The very first auto run on a machine: an empty models folder (export, conversion, calibration).
    empty = tmp / "empty-models"
    env = base_env(tmp / "cache-first", DIMSCOPE_MODELS_DIR=str(empty))
    first = check(run_process(_cli(corpus, tmp / "out.json", "auto", spec), env), "CLI auto, empty models folder")
    figures.append(
        Figure(
            11,
            "first auto run in an empty models folder (torch encode, then export + convert + calibrate) / torch run",
            first.wall_s / torch_s,
            "ratio",
            "report",
            INFO,
            {"first_auto_wall_s": first.wall_s, "first_auto_cpu_s": first.cpu_s, "torch_wall_s": torch_s},
        )
    )
    return figures
