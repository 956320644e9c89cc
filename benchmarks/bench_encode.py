"""Targets 3 and 7, in this process with the model loaded once.

Target 3: a corpus that extends a cached one by 10% against a full encode of the same corpus,
both through ``pipeline.get_embeddings`` with the model already in memory (so the ratio is about
encoding work, not start-up).

Target 7: the torch backend (sentence-transformers) against onnxruntime on the locally exported
Transformer (fp32) and its int8 dynamically quantized variant, on the same texts, with the
resulting per-dimension statistics compared.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import INFO, PASS, Figure, median, short_texts, verdict

SPEEDUP_BAR = 1.3


def _model(quick: bool, tmp: Path):
    from analysis.models import resolve_model

    if not quick:
        return resolve_model("all-MiniLM-L6-v2")
    from tests.tiny_models import build_tiny_model

    return resolve_model(str(build_tiny_model(tmp / "tiny-bert", dead_dims=(3, 17))))


def incremental(quick: bool, tmp: Path) -> list[Figure]:
    from analysis import encoding as embeddings
    from analysis import pipeline
    from analysis.corpora import Corpus
    from analysis.pipeline.cache import EmbeddingStore

    model = _model(quick, tmp)
    n = 200 if quick else 2000
    texts = short_texts(n)
    n_base = round(n / 1.1)
    base = Corpus(name="base", texts=tuple(texts[:n_base]))
    extended = Corpus(name="extended", texts=tuple(texts))
    embeddings.encode_raw(model, texts[:32])  # load and warm the model: not part of either figure
    ratios, fulls, incs, diffs = [], [], [], []
    for rep in range(1 if quick else 2):
        full_store = EmbeddingStore(tmp / f"full-{rep}")
        start = time.perf_counter()
        full = pipeline.get_embeddings(model, extended, store=full_store)
        full_s = time.perf_counter() - start
        inc_store = EmbeddingStore(tmp / f"inc-{rep}")
        pipeline.get_embeddings(model, base, store=inc_store)
        start = time.perf_counter()
        inc = pipeline.get_embeddings(model, extended, store=inc_store)
        inc_s = time.perf_counter() - start
        assert inc.n_reused == n_base and inc.n_encoded == n - n_base, (inc.n_reused, inc.n_encoded)
        diffs.append(float(np.max(np.abs(inc.raw - full.raw))))
        fulls.append(full_s)
        incs.append(inc_s)
        ratios.append(inc_s / full_s)
        full_store.close()
        inc_store.close()
    ratio = median(ratios)
    return [
        Figure(
            3,
            f"incremental: +10% texts ({n - n_base} new of {n}) / full encode",
            ratio,
            "ratio",
            "<= 0.20",
            verdict(ratio <= 0.20),
            {"full_s": fulls, "incremental_s": incs, "max_abs_diff_vs_full_encode": max(diffs), "model": model.name},
        )
    ]


def _dead(std: np.ndarray) -> list[int]:
    from analysis.measures.stats import dead_dimensions

    return dead_dimensions(std)


def onnx_speed(quick: bool, tmp: Path) -> list[Figure]:
    from analysis import encoding as embeddings
    from analysis.encoding import onnx_backend
    from analysis.encoding.backends import onnxruntime_installed
    from analysis.measures.stats import iter_row_chunks, stats_columns

    if not onnxruntime_installed():
        return [
            Figure(
                7, "ONNX backend", None, "", ">= 1.3x to be offered", "skip", {"reason": "onnxruntime not installed"}
            )
        ]
    model = _model(quick, tmp)
    n = 64 if quick else 2000
    texts = short_texts(n)
    start = time.perf_counter()
    onnx_backend.ensure_exported(model, quantized=True)
    export_s = time.perf_counter() - start
    backends = ("torch", "onnx", "onnx-int8")
    for backend in backends:  # load and warm every backend first
        embeddings.encode_raw(model, texts[:32], backend=backend)
    times: dict[str, list[float]] = {b: [] for b in backends}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(1 if quick else 2):
        for backend in backends:  # interleaved, so all three see the same machine load
            start = time.perf_counter()
            vectors[backend] = embeddings.encode_raw(model, texts, backend=backend)
            times[backend].append(time.perf_counter() - start)
    columns = {b: stats_columns(iter_row_chunks(v, 8192), v.shape[1]) for b, v in vectors.items()}
    torch_s = median(times["torch"])
    figures = [
        Figure(
            7,
            f"torch encode, {n} texts ({model.name})",
            torch_s,
            "s",
            "",
            INFO,
            {"runs_s": times["torch"], "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
        )
    ]
    for backend in ("onnx", "onnx-int8"):
        speedup = torch_s / median(times[backend])
        ref, got = columns["torch"], columns[backend]
        norm_ref = ref["normalized"]["std"]
        a = vectors[backend] / np.linalg.norm(vectors[backend], axis=1, keepdims=True)
        b = vectors["torch"] / np.linalg.norm(vectors["torch"], axis=1, keepdims=True)
        details = {
            "runs_s": times[backend],
            "max_abs_diff_std_normalized": float(np.max(np.abs(got["normalized"]["std"] - norm_ref))),
            "max_abs_diff_std_raw": float(np.max(np.abs(got["raw"]["std"] - ref["raw"]["std"]))),
            "max_rel_diff_std_normalized": float(
                np.max(np.abs(got["normalized"]["std"] - norm_ref) / np.maximum(norm_ref, 1e-12))
            ),
            "dead_dims_torch": _dead(norm_ref),
            "dead_dims_backend": _dead(got["normalized"]["std"]),
            "same_dead_dims": _dead(norm_ref) == _dead(got["normalized"]["std"]),
            "min_cosine_vs_torch": float(np.min(np.sum(a * b, axis=1))),
            "max_abs_diff_normalized_embeddings": float(np.max(np.abs(a - b))),
            "export_and_quantize_s": export_s,
            "offered": backend in embeddings.OFFERED_BACKENDS,
        }
        if backend in embeddings.OFFERED_BACKENDS:
            ok = speedup >= SPEEDUP_BAR and details["same_dead_dims"]
            figures.append(
                Figure(7, f"{backend} speedup vs torch (offered)", speedup, "x", ">= 1.3x", verdict(ok), details)
            )
        else:
            note = "could be offered" if speedup >= SPEEDUP_BAR else "not offered: below 1.3x"
            figures.append(
                Figure(
                    7,
                    f"{backend} speedup vs torch (not offered)",
                    speedup,
                    "x",
                    ">= 1.3x to offer",
                    INFO,
                    {**details, "note": note},
                )
            )
        figures.append(
            Figure(
                7,
                f"{backend}: max abs diff in normalized std; same dead dims",
                details["max_abs_diff_std_normalized"],
                "",
                "report",
                PASS if details["same_dead_dims"] else "FAIL",
                {"same_dead_dims": details["same_dead_dims"], "dead_dims": details["dead_dims_backend"]},
            )
        )
    return figures


def run(quick: bool = False) -> list[Figure]:
    from analysis import encoding as embeddings

    embeddings.prefer_passive_openmp()  # what the CLI and the app get: set before torch loads
    saved = os.environ.get("DIMSCOPE_MODELS_DIR")
    with tempfile.TemporaryDirectory(prefix="dimscope-encode-") as tmp_name:
        tmp = Path(tmp_name)
        if quick:  # tiny models: keep their exports out of the shared models folder
            os.environ["DIMSCOPE_MODELS_DIR"] = str(tmp / "models")
        try:
            return incremental(quick, tmp) + onnx_speed(quick, tmp)
        finally:
            if quick:
                if saved is None:
                    os.environ.pop("DIMSCOPE_MODELS_DIR", None)
                else:
                    os.environ["DIMSCOPE_MODELS_DIR"] = saved
