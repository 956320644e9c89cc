"""Predicted against measured in the stores: ``compress --write`` on a held-out task, one row per point.

all-MiniLM-L6-v2 on the built-in ``wordnet-pairs`` task (the tests use chatterbot pairs, so this
task is held out from them), at every dimension and at top-variance-128, in int8, binary and
binary-rescore (float32 as the reference), written into a new LanceDB table, a new FAISS index and
a new Qdrant Edge shard in a temporary folder and searched there with the task's queries; the
float32 point also into a new Chroma collection (Chroma stores float32 only). Prints a Markdown
table of DimScope's predicted recall@10 and MRR@10 beside the store's measured ones, and the
median latency of one query. Run: ``python -m benchmarks.bench_sinks [STORE ...]`` (default: all).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from analysis.corpora import load_retrieval_task
from analysis.export.store_check import check_in_store
from analysis.export.store_sinks import parse_sink
from analysis.models import resolve_model
from analysis.pipeline.cache import default_store

TASK = "wordnet-pairs"
POINTS = [(None, p) for p in ("float32", "int8", "binary", "binary-rescore")] + [
    ("top-variance-128", p) for p in ("int8", "binary", "binary-rescore")
]


STORES = {
    "lancedb": lambda folder, n: f"lancedb:{folder / 'db'}#t{n}",
    "faiss": lambda folder, n: f"faiss:{folder / f't{n}.faiss'}",
    "chroma": lambda folder, n: f"chroma:{folder / 'chroma'}#point{n}",  # Chroma names: 3+ characters
    "qdrant": lambda folder, n: f"qdrant:{folder}#q{n}",
}
FLOAT32_ONLY = {"chroma"}  # no quantization in Chroma


def main(chosen: list[str]) -> None:
    model = resolve_model("all-MiniLM-L6-v2")
    task = load_retrieval_task(TASK)
    print(f"{model.name} on {TASK}: {len(task.relevant or ()):,} queries, {len(task.documents):,} documents\n")
    print("| store | point | recall@10 predicted | measured | MRR@10 predicted | measured | median ms/query |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for n, (variant, precision) in enumerate(POINTS):
            for name in chosen:
                if name in FLOAT32_ONLY and precision != "float32":
                    continue
                where = STORES[name](Path(folder), n)
                r = check_in_store(
                    model,
                    task,
                    parse_sink(where),
                    variant=variant,
                    precision=precision,
                    replace=False,
                    store=default_store(),
                )
                recall, mrr, ms = r["recall_at_10"], r["mrr_at_10"], r["latency"]["measured"]["median_ms"]
                print(
                    f"| {r['store']} | {r['variant']} {precision} | {recall['predicted']:.4f} "
                    f"| {recall['measured']:.4f} | {mrr['predicted']:.4f} | {mrr['measured']:.4f} | {ms:.2f} |"
                )


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(STORES)
    if set(chosen) - set(STORES):
        sys.exit(f"name stores from {', '.join(STORES)}; got {' '.join(chosen)}")
    main(chosen)
