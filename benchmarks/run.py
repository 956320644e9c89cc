"""The runner: every benchmark, a table on stdout, JSON in benchmarks/results/.

    python -m benchmarks              # full sizes (about 15-30 minutes on 2 shared cores)
    python -m benchmarks --quick      # small sizes, for the smoke test (well under a minute idle)
    python -m benchmarks --only 4 7   # some targets only (8: vectors at scale, 9: Ray against one process,
                                      #   10: upload to first chart, 11: backend auto,
                                      #   12: a new model's first auto request,
                                      #   13: a LanceDB table against Parquet shards)
    python -m benchmarks --update-readme   # also rewrite the tables in benchmarks/README.md and README.md

A benchmark that raises is reported as ERROR with its message; the others still run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import ERROR, RESULTS_DIR, Figure, json_dump, load_average, machine

READMES = (Path(__file__).resolve().parent / "README.md", Path(__file__).resolve().parent.parent / "README.md")
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"


def _groups() -> list[tuple[tuple[int, ...], str, Callable[[bool], list[Figure]]]]:
    # Order matters: numpy-only work first, whole processes next, torch in this process last
    # (so that loading torch here cannot slow the figures measured before it).
    from benchmarks import (
        bench_app,
        bench_auto,
        bench_encode,
        bench_first_auto,
        bench_pipeline,
        bench_stats,
        bench_stores,
        bench_vectors,
    )

    return [
        ((4,), "statistics at scale", bench_stats.run),
        ((1, 2), "cold and warm whole processes", bench_pipeline.run),
        ((8, 9), "your own vectors at scale, and the Ray engine", bench_vectors.run),
        ((13,), "a LanceDB table against Parquet shards", bench_stores.run),
        ((5, 6), "dashboard payloads and start", bench_app.run),
        ((10,), "upload to first chart", bench_app.run_upload),
        ((3, 7), "incremental corpora and encoding backends", bench_encode.run),
        ((12,), "a new model's first auto request", bench_first_auto.run),
        ((11,), "backend auto against torch fp32", bench_auto.run),
    ]


def format_table(figures: Sequence[Figure], *, markdown: bool = False) -> str:
    rows = [("#", "figure", "value", "target", "verdict")]
    for f in sorted(figures, key=lambda f: f.target):
        rows.append((str(f.target), f.name, f.shown_value(), f.target_text or "-", f.verdict))
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def machine_line(info: dict) -> str:
    v = info["versions"]
    return (
        f"{info['cpu']}, {info['cores']} cores ({' '.join(info['simd']) or 'no AVX'}), {info['memory_gb']} GB; "
        f"Python {info['python']}, numpy {v.get('numpy')}, torch {v.get('torch')}, "
        f"onnxruntime {v.get('onnxruntime')}; load average {info.get('load_before')} -> {info.get('load_after')}"
    )


def update_readme(text_table: str, info: dict, command: str, when: str) -> None:
    """Rewrite the results table between the markers of benchmarks/README.md and README.md."""
    block = f"{TABLE_START}\nMeasured {when} with `{command}` on: {machine_line(info)}.\n\n{text_table}\n{TABLE_END}"
    for readme in READMES:
        content = readme.read_text(encoding="utf-8") if readme.is_file() else ""
        if TABLE_START not in content or TABLE_END not in content:
            continue
        head, rest = content.split(TABLE_START, 1)
        _, tail = rest.split(TABLE_END, 1)
        readme.write_text(head + block + tail, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="DimScope's benchmark suite.")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test); verdicts are not meaningful")
    parser.add_argument("--only", type=int, nargs="+", metavar="TARGET", help="run only these targets (1-13)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    parser.add_argument(
        "--update-readme", action="store_true", help="rewrite the tables in benchmarks/README.md and README.md"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    info = machine()
    info["load_before"] = load_average()
    started = time.time()
    figures: list[Figure] = []
    for targets, title, bench in _groups():
        if args.only and not set(targets) & set(args.only):
            continue
        t0 = time.perf_counter()
        print(f"[{', '.join(map(str, targets))}] {title} ...", file=sys.stderr, flush=True)
        try:
            got = bench(args.quick)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other benchmarks
            got = [
                Figure(
                    targets[0],
                    title,
                    None,
                    "",
                    "",
                    ERROR,
                    {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]},
                )
            ]
        if args.only:
            got = [f for f in got if f.target in args.only]
        figures.extend(got)
        print(f"    done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    info["load_after"] = load_average()
    info["duration_s"] = round(time.time() - started, 1)

    table = format_table(figures)
    print(("QUICK RUN (small sizes: verdicts are not meaningful)\n" if args.quick else "") + table)
    print(f"\nmachine: {machine_line(info)}; {info['duration_s']} s")
    for f in figures:
        if f.verdict == ERROR:
            print(f"\nERROR in target {f.target} ({f.name}): {f.details.get('error')}", file=sys.stderr)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    command = (
        "python -m benchmarks"
        + (" --quick" if args.quick else "")
        + (" --only " + " ".join(map(str, args.only)) if args.only else "")
    )
    payload = {
        "timestamp": stamp,
        "quick": args.quick,
        "command": command,
        "machine": info,
        "figures": [f.as_dict() for f in figures],
    }
    out_dir = args.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    json_dump(payload, out_dir / f"{stamp}{'-quick' if args.quick else ''}.json")
    written = out_dir / f"{stamp}{'-quick' if args.quick else ''}.json"
    if not args.only:  # a partial run must not replace the last complete record
        written = out_dir / ("latest-quick.json" if args.quick else "latest.json")
        json_dump(payload, written)
    print(f"wrote {written}", file=sys.stderr)
    if args.update_readme and not args.quick:
        update_readme(format_table(figures, markdown=True), info, command, stamp)
    # Exit 0 even when a target is missed: the verdicts are the report. Errors are not.
    return 1 if any(f.verdict == ERROR for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
