"""``compress``: what each storage choice (fewer dimensions, int8, binary) keeps of retrieval quality."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from analysis.cli.common import (
    EXIT_OK,
    Progress,
    add_encoding_args,
    add_model_args,
    add_task_args,
    cli_store,
    encode_options_from_args,
    print_json,
    resolve_model_from_args,
    write_text,
)
from analysis.errors import OptionError

DEFAULT_TASK = "chatterbot-pairs"
_K_LIST = re.compile(r"^\s*\d{1,6}\s*(,\s*\d{1,6}\s*)*$")


def _register(sub: Any) -> None:
    p = sub.add_parser(
        "compress",
        help="what fewer dimensions, int8 and binary keep of retrieval quality, and their bytes per vector",
        description="Score every storage variant (float32, drop-dead, top-variance-k, prefix-k, pca-k, random-k, "
        "int8, binary, binary-rescore, binary-drop-dead) on query -> document retrieval, against full float32.",
    )
    add_model_args(p)
    add_task_args(
        p,
        corpus_help="a built-in task (chatterbot-pairs, wordnet-pairs, translation-pairs), a built-in corpus "
        "(same label = relevant) or a file (default: chatterbot-pairs)",
    )
    p.add_argument(
        "--k", default=None, help="kept-dimension counts, comma-separated (default: 8,16,32,64,128,256 and all)"
    )
    p.add_argument("--draws", type=int, default=5, help="random-k draws behind each mean and std (1 to 50)")
    p.add_argument("--format", choices=["json", "csv", "text"], default="text")
    p.add_argument(
        "--write",
        default=None,
        metavar="STORE",
        help="write the documents at one point into a NEW vector store, lancedb:FOLDER#TABLE, faiss:FILE or "
        "chroma:FOLDER#COLLECTION or qdrant:FOLDER#COLLECTION (a Qdrant Edge shard), search it with the task's "
        "queries and print predicted against measured recall@10, MRR@10 and latency (JSON)",
    )
    p.add_argument(
        "--variant",
        default=None,
        help="with --write: drop-dead, top-variance-K, prefix-K or pca-K, fitted as the report fits it "
        "(default: all dimensions)",
    )
    p.add_argument(
        "--precision",
        choices=["float32", "int8", "binary", "binary-rescore"],
        default=None,
        help="with --write: how the store keeps the vectors (default: float32; chroma: float32 only)",
    )
    p.add_argument(
        "--replace", action="store_true", help="with --write: overwrite an existing table, index file or collection"
    )
    add_encoding_args(p)


def parse_ks(text: str | None) -> list[int] | None:
    """``"8,16,64"`` -> ``[8, 16, 64]``; None stays None (the default ladder)."""
    if text is None:
        return None
    if not _K_LIST.match(text):
        raise OptionError(f"--k must be comma-separated whole numbers such as 8,16,64; got {text!r}.")
    ks = sorted({int(part) for part in text.split(",")})
    if ks[0] < 1:
        raise OptionError("--k values must be at least 1 (dimensions kept).")
    return ks


def _store_point(args: argparse.Namespace) -> Any:
    """The checked ``--write`` target, refused before any model loads; None without ``--write``."""
    if args.write is None:
        if args.variant is not None or args.precision is not None or args.replace:
            raise OptionError("--variant, --precision and --replace go with --write STORE.")
        return None
    from analysis.export.store_sinks import check_sink, check_width, parse_sink
    from analysis.export.variants import parse_variant

    if args.k is not None:
        raise OptionError("--k sets the report's ladder; with --write, name the one point with --variant.")
    chosen = None if args.variant is None else parse_variant(args.variant)
    sink = parse_sink(args.write)
    if sink.scheme == "chroma":  # float32 only, Chroma's name rules and folder
        from analysis.export.chroma_sink import check_chroma_sink

        check_chroma_sink(sink, args.precision or "float32", args.replace)
    else:
        check_sink(sink, args.precision or "float32", args.replace)
    if chosen is not None and chosen.k is not None:  # the width is known before any model loads
        check_width(sink, args.precision or "float32", chosen.k)
    return sink


def _run(args: argparse.Namespace) -> int:
    from analysis.corpora import load_retrieval_task
    from analysis.reports.compress import check_draws, compress_report

    sink = _store_point(args)
    ks = parse_ks(args.k)
    check_draws(args.draws)
    if args.max_pairs is not None and args.max_pairs < 1:
        raise OptionError(f"--max-pairs must be at least 1, got {args.max_pairs}.")
    options = encode_options_from_args(args)
    task = load_retrieval_task(
        args.corpus or DEFAULT_TASK,
        query_column=args.query_column,
        document_column=args.document_column,
        text_column=args.text_column,
        label_column=args.label_column,
        max_pairs=args.max_pairs,
    )
    model = resolve_model_from_args(args)
    if not args.quiet:
        for message in task.messages():
            print(f"note: {message}", file=sys.stderr)
    if sink is not None:
        from analysis.export.store_check import check_in_store

        print_json(
            check_in_store(
                model,
                task,
                sink,
                variant=args.variant,
                precision=args.precision or "float32",
                replace=args.replace,
                options=options,
                store=cli_store(),
                progress=None if args.quiet else Progress("Encoding"),
            )
        )
        return EXIT_OK
    report = compress_report(
        model,
        task,
        ks=ks,
        n_draws=args.draws,
        options=options,
        store=cli_store(),
        progress=None if args.quiet else Progress("Encoding"),
    )
    if args.format == "json":
        print_json(report.to_dict())
        return EXIT_OK
    if args.format == "csv":
        from analysis.figures.compress import variant_table
        from analysis.figures.downloads import safe_csv_bytes

        write_text(safe_csv_bytes(variant_table(report.variants)).decode("utf-8"), None)
        return EXIT_OK
    print(
        f"{report.model} on {report.task}: {report.n_queries:,} queries, {report.n_documents:,} documents, "
        f"{report.dimension} dims; dead dims: {', '.join(map(str, report.dead_dims)) or 'none'}"
    )
    print(f"{'variant':<20}{'bytes':>7}{'recall@1':>10}{'recall@10':>11}{'MRR':>8}{'nDCG@10':>9}{'retention':>11}")
    for v in report.variants:
        retention = "n/a" if v.retention is None else f"{v.retention:.2%}"
        print(
            f"{v.name:<20}{v.bytes_per_vector:>7}{v.recall_at_1:>10.3f}{v.recall_at_10:>11.3f}{v.mrr:>8.3f}"
            f"{v.ndcg_at_10:>9.3f}{retention:>11}"
        )
    print(report.verdict)
    print(f"Matryoshka: {report.matryoshka}")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add compress to the subcommand parsers ``sub``."""
    _register(sub)


#: Subcommand name -> handler.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"compress": _run}
