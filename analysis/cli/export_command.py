"""``export``: the compress report's chosen variant as a model folder that stock sentence-transformers loads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.cli.common import (
    EXIT_OK,
    Progress,
    add_encoding_args,
    add_model_args,
    add_task_args,
    cli_store,
    encode_options_from_args,
    report_corpus,
    resolve_model_from_args,
)
from analysis.cli.compress_command import DEFAULT_TASK
from analysis.errors import OptionError

if TYPE_CHECKING:
    from analysis.corpora import Corpus, RetrievalTask

VARIANT_HELP = (
    "drop-dead (the dead dimensions removed), top-variance-K (the K dimensions of largest variance), "
    "prefix-K (the first K: sentence-transformers' truncate_dim) or pca-K (the top K principal axes), "
    "fitted on --corpus exactly as the compress report fits them"
)


def _register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write the chosen variant as a sentence-transformers model folder (Dense + Normalize), with a model card",
        description="Export a model with a variant of the compress report applied: the original modules, then a "
        "Dense layer that keeps or projects the variant's dimensions, then Normalize. The folder loads with "
        "SentenceTransformer(DIR), no DimScope needed; its README.md is a model card with the measured figures.",
    )
    add_model_args(p)
    add_task_args(
        p,
        corpus_help="the retrieval task the variant is fitted and measured on, as for compress "
        "(default: chatterbot-pairs), or a .txt file of texts to fit it on (then nothing is measured)",
    )
    p.add_argument("--variant", required=True, help=VARIANT_HELP)
    p.add_argument(
        "--precision",
        choices=["float32", "int8", "binary"],
        default="float32",
        help="int8: also write quantization.json with the calibration ranges; binary: the sign-bit rule",
    )
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="a new or empty folder")
    add_encoding_args(p)


def _run(args: argparse.Namespace) -> int:
    from analysis.corpora import load_retrieval_task
    from analysis.export import export_model
    from analysis.export.folder import check_output_folder
    from analysis.export.variants import parse_variant

    # Everything the arguments alone can refuse is refused before a model is loaded or a note printed.
    parse_variant(args.variant)
    check_output_folder(args.output)
    if args.max_pairs is not None and args.max_pairs < 1:
        raise OptionError(f"--max-pairs must be at least 1, got {args.max_pairs}.")
    if args.model and Path(args.model).expanduser().is_file():
        raise OptionError(
            f"--model '{args.model}' is a file: vectors given as a file have no model to export. "
            "Give the model that made them (a catalog name, hub id or model folder)."
        )
    options = encode_options_from_args(args)
    model = resolve_model_from_args(args)
    parse_variant(args.variant, model.info.dimension if model.info else None)
    spec = args.corpus or DEFAULT_TASK
    task: RetrievalTask | Corpus
    if Path(spec).suffix.lower() == ".txt" and Path(spec).is_file():  # plain texts: fitted on, not measured
        from analysis.corpora import load_corpus

        task = load_corpus(spec, **({"max_texts": args.max_pairs} if args.max_pairs else {}))
        report_corpus(task, args.quiet)
    else:
        task = load_retrieval_task(
            spec,
            query_column=args.query_column,
            document_column=args.document_column,
            text_column=args.text_column,
            label_column=args.label_column,
            max_pairs=args.max_pairs,
        )
        if not args.quiet:
            for message in task.messages():
                print(f"note: {message}", file=sys.stderr)
    result = export_model(
        model,
        task,
        args.variant,
        args.output,
        precision=args.precision,
        revision=args.revision,
        options=options,
        store=cli_store(),
        progress=None if args.quiet else Progress("Encoding"),
    )
    p = result.provenance
    how = "truncate_dim in its config" if result.method == "truncate_dim" else "Dense + Normalize"
    if p["measured"]:
        exported = p["measured"][1]
        retention = "n/a" if exported["retention"] is None else f"{exported['retention']:.2%}"
        figures = f"recall@10 {exported['recall_at_10']:.4f}, retention {retention} on {p['corpus']['task']}"
    else:
        figures = f"fitted on {p['corpus']['n_documents']:,} texts of {p['corpus']['task']} (not measured: no pairs)"
    print(
        f"wrote {result.path}: {p['source_model']['name']} with {p['variant']['name']} ({how}), "
        f"{p['output_dimension']} of {p['input_dimension']} dims, {figures}"
    )
    return EXIT_OK


def register(sub: Any) -> None:
    """Add export to the subcommand parsers ``sub``."""
    _register(sub)


#: Subcommand name -> handler.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"export": _run}
