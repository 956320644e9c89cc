"""Target 13: statistics read from a LanceDB table against the same vectors as Parquet shards.

The same 1,000,000 x 384 float32 vectors (three dead dimensions) are written once as uncompressed
Parquet shards (as target 8 writes them) and once as a LanceDB table (by lancedb itself, from the
shards' record batches). Fresh processes then run ``open_vectors(spec).moments()`` on each,
alternating Parquet, LanceDB, Parquet, LanceDB so both see the same load, and report the best
statistics time of each (the fingerprint's content hash is timed apart: it reads the same bytes
for both), the throughput ratio, and each process's peak RSS above its RSS before the read (after
``import lancedb``, whose own resident cost is reported beside it).
Targets: LanceDB at >= 0.5 of the Parquet path's throughput, <= 300 MB peak RSS.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from benchmarks.bench_vectors import RSS_BOUND_MB, write_shards
from benchmarks.common import INFO, PYTHON, Figure, base_env, check, run_process, verdict

DIMS = 384
THROUGHPUT_RATIO = 0.5
_CHILD = r"""
import json, sys, time
from analysis.vectors import open_vectors

def status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
import pandas, pyarrow.parquet  # both paths use them; imported before the clocks start, for both
imported = status_mb("VmRSS")
if sys.argv[1].startswith("lancedb:"):
    import lancedb  # its import (Rust library, ~200 MB resident) is reported apart from the read
before = status_mb("VmRSS")
start = time.perf_counter()
source = open_vectors(sys.argv[1])
opened = time.perf_counter()
moments = source.moments()
done = time.perf_counter()
print(json.dumps({"open_and_hash_s": opened - start, "stats_s": done - opened, "rows": moments["raw"].count,
                  "rss_before_mb": before, "library_import_mb": before - imported, "peak_rss_mb": status_mb("VmHWM"),
                  "dead": [int(d) for d in (moments["normalized"].columns()["std"] < 1e-6).nonzero()[0]]}))
"""


def write_lance_from_shards(shards: Path, folder: Path, table: str) -> None:
    """A LanceDB table holding the shards' rows in order, written a record batch at a time."""
    import lancedb
    import pyarrow.dataset as ds

    dataset = ds.dataset(shards, format="parquet")
    reader = dataset.scanner(batch_size=65_536).to_reader()
    lancedb.connect(str(folder)).create_table(table, data=reader)


def _read(spec: str, tmp: Path, run: int) -> dict:
    # A fresh fingerprint memo each time: every run hashes the bytes it reads.
    env = base_env(tmp / "cache", DIMSCOPE_MODELS_DIR=str(tmp / f"models-{run}"))
    child = check(run_process([PYTHON, "-c", _CHILD, spec], env, timeout=3600), f"stats of {spec}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Figure]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = 5_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="dimscope-stores-bench-") as name:
        tmp = Path(name)
        shards = tmp / "shards"
        written = write_shards(shards, rows * DIMS * 4, dims=DIMS)
        write_lance_from_shards(shards, tmp / "lance", "vectors")
        specs = {"parquet": str(shards), "lancedb": f"lancedb:{tmp / 'lance'}#vectors"}
        results: dict[str, list[dict]] = {"parquet": [], "lancedb": []}
        for attempt in range(2):
            for kind, spec in specs.items():
                results[kind].append(_read(spec, tmp, attempt * 2 + len(results[kind])))
    best = {kind: min(runs, key=lambda r: r["stats_s"]) for kind, runs in results.items()}
    peak = {kind: max(r["peak_rss_mb"] - r["rss_before_mb"] for r in runs) for kind, runs in results.items()}
    correct = all(r["rows"] == written and r["dead"] == [48, 128, 192] for runs in results.values() for r in runs)
    ratio = best["parquet"]["stats_s"] / best["lancedb"]["stats_s"]
    shape = f"{written:,} x {DIMS} float32"
    details = {"runs": results, "note": "both just written: in the OS page cache"}
    return [
        Figure(
            13,
            f"stats of both views from Parquet shards, {shape} (best of 2)",
            best["parquet"]["stats_s"],
            "s",
            "publish",
            INFO,
            details,
        ),
        Figure(
            13,
            f"stats of both views from a LanceDB table, {shape} (best of 2)",
            best["lancedb"]["stats_s"],
            "s",
            "publish",
            INFO,
            details,
        ),
        Figure(
            13,
            "LanceDB throughput / Parquet throughput (statistics)",
            ratio,
            "x",
            f">= {THROUGHPUT_RATIO}",
            verdict(ratio >= THROUGHPUT_RATIO and correct),
            details,
        ),
        Figure(
            13,
            "open + content hash (fingerprint) of the LanceDB table (Parquet: in the details)",
            best["lancedb"]["open_and_hash_s"],
            "s",
            "publish",
            INFO,
            {"parquet_s": best["parquet"]["open_and_hash_s"]},
        ),
        Figure(
            13,
            f"LanceDB stats peak RSS above start, {shape}",
            peak["lancedb"],
            "MB",
            f"<= {RSS_BOUND_MB} MB",
            verdict(peak["lancedb"] <= RSS_BOUND_MB and correct),
            {"parquet_peak_mb": peak["parquet"]},
        ),
        Figure(
            13,
            "  resident cost of import lancedb itself (not in the figure above)",
            max(r["library_import_mb"] for r in results["lancedb"]),
            "MB",
            "publish",
            INFO,
        ),
    ]
