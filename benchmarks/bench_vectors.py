"""Targets 8 and 9: your own vectors at scale, and the Ray engine against one process.

Target 8 writes at least 4 GB of float32 vectors as Parquet shards (384 dims, row groups of 65,536
rows, uncompressed, as a batch job would write them) and streams them through
``open_vectors(folder).moments()`` in a fresh process: the time (the content hash that fingerprints
the shards, then the statistics of both views) and the peak RSS above the process's RSS before the
read, which must stay within 300 MB whatever the size.

Target 9 runs, as whole processes on the same 4,000 short texts with all-MiniLM-L6-v2 (torch fp32),
``python -m analysis stats`` on one process (cold cache) and with ``--engine ray`` on a local cluster
with 1 and with 2 encoder actors: the wall-time ratios, the largest difference in any statistic,
and (from a run on 64 texts, nearly all fixed cost) Ray's fixed overhead and the per-worker
encoding throughput that benchmarks/README.md projects to 10 million texts from. A last figure is
Ray Data's cost per task: statistics over 256 shards of 256 vectors each, on an already running cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    INFO,
    PYTHON,
    SKIP,
    Figure,
    base_env,
    check,
    run_process,
    short_texts,
    verdict,
    write_lines,
)

RSS_BOUND_MB = 300
_STREAM_CHILD = r"""
import json, sys, time
from analysis.vectors import open_vectors

def status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
before = status_mb("VmRSS")
start = time.perf_counter()
source = open_vectors(sys.argv[1])  # reads the shards' metadata and hashes their bytes (the fingerprint)
opened = time.perf_counter()
moments = source.moments()
done = time.perf_counter()
print(json.dumps({"open_and_hash_s": opened - start, "stats_s": done - opened, "rows": moments["raw"].count,
                  "dims": moments["raw"].dimension, "rss_before_mb": before, "peak_rss_mb": status_mb("VmHWM"),
                  "dead": [int(d) for d in (moments["normalized"].columns()["std"] < 1e-6).nonzero()[0]]}))
"""


def write_shards(folder: Path, total_bytes: int, dims: int = 384, rows_per_shard: int = 196_608) -> int:
    """Random float32 vectors (three near-constant dims) as Parquet shards; returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rows = -(-total_bytes // (4 * dims))
    rng = np.random.default_rng(0)
    schema = pa.schema([("embedding", pa.list_(pa.float32(), dims))])
    step = 65_536
    written = 0
    for shard in range(-(-rows // rows_per_shard)):
        with pq.ParquetWriter(folder / f"part-{shard:05d}.parquet", schema, compression="none") as writer:
            for _ in range(rows_per_shard // step):
                if written >= rows:
                    break
                n = min(step, rows - written)
                block = rng.standard_normal((n, dims), dtype=np.float32)
                block[:, [dims // 8, dims // 3, dims // 2]] = 0.0  # dead
                flat = pa.array(block.reshape(-1))
                writer.write_table(
                    pa.table({"embedding": pa.FixedSizeListArray.from_arrays(flat, dims)}, schema=schema)
                )
                written += n
    return written


def _streamed_shards(quick: bool) -> list[Figure]:
    total = (64 << 20) if quick else (4200 << 20)
    with tempfile.TemporaryDirectory(prefix="dimscope-shards-") as tmp:
        folder = Path(tmp) / "shards"
        rows = write_shards(folder, total)
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        env = base_env(Path(tmp) / "cache", DIMSCOPE_MODELS_DIR=str(Path(tmp) / "models"))  # a cold fingerprint memo
        child = check(run_process([PYTHON, "-c", _STREAM_CHILD, str(folder)], env, timeout=3600), "streaming shards")
        result = json.loads(child.stdout.strip().splitlines()[-1])
    extra = result["peak_rss_mb"] - result["rss_before_mb"]
    total_s = result["open_and_hash_s"] + result["stats_s"]
    shards = -(-rows // 196_608)
    shape = f"{rows:,} x 384 float32 in {shards} Parquet shards ({size_mb / 1024:.2f} GB)"
    details = {**result, "size_mb": size_mb, "shards": shards, "note": "shards just written: in the OS page cache"}
    return [
        Figure(8, f"streamed stats time (hash + both views), {shape}", total_s, "s", "publish", INFO, details),
        Figure(
            8,
            "  of which: statistics of both views (GB/s)",
            size_mb / 1024 / result["stats_s"],
            "GB/s",
            "publish",
            INFO,
            details,
        ),
        Figure(
            8,
            f"streamed stats peak RSS above start, {shape}",
            extra,
            "MB",
            f"<= {RSS_BOUND_MB} MB",
            verdict(extra <= RSS_BOUND_MB and result["rows"] == rows and result["dead"] == [48, 128, 192]),
            details,
        ),
    ]


def _cli_stats(corpus: Path, cache: Path, ray_tmp: Path, extra: list[str]) -> tuple[float, dict]:
    # Torch fp32 on both sides: the figure compares the engines. With "auto" (bf16 on a bf16 CPU)
    # the two batch the texts differently, and bf16's batch-dependent rounding moves raw minima and
    # maxima by ~2e-4 whatever the engine does (auto's own drift is reported by target 11).
    args = [PYTHON, "-m", "analysis", "stats", "--model", "all-MiniLM-L6-v2", "--corpus", str(corpus), "-q"]
    args += ["--backend", "torch"]
    env = base_env(cache, DIMSCOPE_RAY_TEMP_DIR=str(ray_tmp))
    run = check(run_process(args + extra, env, timeout=3600), " ".join(["stats", *extra]) or "stats")
    return run.wall_s, json.loads(run.stdout)


def _max_difference(a: dict, b: dict) -> float:
    return max(
        abs(x[c] - y[c])
        for view in ("raw", "normalized")
        for x, y in zip(a[view], b[view], strict=True)
        for c in ("mean", "std", "min", "max", "abs_mean")
    )


def _ray_overhead_per_task() -> Figure:
    """Statistics over many tiny shards on a running cluster: the cost Ray Data adds per task."""
    from analysis.engines import ray_data
    from analysis.vectors import open_vectors

    n_shards = 256
    with tempfile.TemporaryDirectory(prefix="dimscope-tasks-") as tmp:
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = Path(tmp) / "tiny"
        folder.mkdir()
        rng = np.random.default_rng(1)
        for i in range(n_shards):
            block = rng.standard_normal((256, 384), dtype=np.float32)
            flat = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), 384)
            pq.write_table(pa.table({"embedding": flat}), folder / f"t-{i:04d}.parquet")
        source = open_vectors(folder)
        ray_tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
        try:
            with ray_data.ray_session(temp_dir=ray_tmp):
                ray_data.stats_of_shards(open_vectors(folder, max_rows=256))  # warm: workers started
                start = time.perf_counter()
                run = ray_data.stats_of_shards(source)
                elapsed = time.perf_counter() - start
        finally:
            shutil.rmtree(ray_tmp, ignore_errors=True)
        local_start = time.perf_counter()
        source.moments()
        local = time.perf_counter() - local_start
    per_task = (elapsed - local) / n_shards
    return Figure(
        9,
        f"Ray Data cost per task: stats over {n_shards} shards of 256 vectors, minus the same work in one process",
        per_task * 1000,
        "ms",
        "publish",
        INFO,
        {"ray_s": elapsed, "local_s": local, "rows": run.n_rows, "tasks": n_shards},
    )


def _ray_against_one_process(quick: bool) -> list[Figure]:
    n_texts = 200 if quick else 4000
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="dimscope-ray-bench-") as tmp:
        corpus = write_lines(Path(tmp) / "texts.txt", short_texts(n_texts))
        tiny = write_lines(Path(tmp) / "tiny.txt", short_texts(64))
        ray_tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # short: Ray's socket paths
        try:
            single_s, single = _cli_stats(corpus, Path(tmp) / "cache-single", ray_tmp, [])
            runs = {}
            for workers in (1,) if quick else (1, 2):
                runs[workers] = _cli_stats(
                    corpus, Path(tmp) / f"cache-ray{workers}", ray_tmp, ["--engine", "ray", "--workers", str(workers)]
                )
            # The fixed cost (nearly all of a 64-text run); the quick run leaves it out to stay short.
            fixed_s = (
                None
                if quick
                else _cli_stats(tiny, Path(tmp) / "cache-tiny", ray_tmp, ["--engine", "ray", "--workers", "1"])[0]
            )
        finally:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    for workers, (wall, report) in runs.items():
        difference = _max_difference(report, single)
        same_dead = report["dead_dims"] == single["dead_dims"]
        figures.append(
            Figure(
                9,
                f"Ray, {workers} worker{'s' if workers > 1 else ''}, {n_texts:,} texts: wall time / one process",
                wall / single_s,
                "x",
                "report",
                INFO,
                {"ray_wall_s": wall, "single_wall_s": single_s, "same_dead_dims": same_dead},
            )
        )
        figures.append(
            Figure(
                9,
                f"Ray, {workers} worker{'s' if workers > 1 else ''}: max difference in any statistic (same dead dims)",
                difference,
                "",
                "<= 1e-4",
                verdict(difference <= 1e-4 and same_dead),
                {"dead_dims": report["dead_dims"]},
            )
        )
    one_wall = runs[1][0]
    per_worker = None if fixed_s is None else (n_texts - 64) / max(one_wall - fixed_s, 1e-9)
    shown = INFO if fixed_s is not None else SKIP
    figures.append(
        Figure(
            9,
            "Ray fixed cost per run (start, actor and model load, shutdown: 64 texts, 1 worker)",
            fixed_s,
            "s",
            "publish",
            shown,
        )
    )
    figures.append(
        Figure(
            9,
            "Ray encoding throughput per worker (1 worker, fixed cost removed)",
            per_worker,
            "texts/s",
            "publish",
            shown,
            {"single_process_texts_per_s_incl_load": n_texts / single_s},
        )
    )
    if 2 in runs:
        figures.append(
            Figure(9, "Ray speedup from 1 to 2 workers (2 cores)", runs[1][0] / runs[2][0], "x", "report", INFO)
        )
    return figures


def run(quick: bool = False) -> list[Figure]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    per_task = (
        Figure(9, "Ray Data cost per task (left out of the quick run)", None, "ms", "publish", SKIP)
        if quick
        else _ray_overhead_per_task()
    )
    return _streamed_shards(quick) + _ray_against_one_process(quick) + [per_task]
