"""The core subcommands: models, corpora, embed and stats."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from analysis.cli.common import (
    EXIT_OK,
    Progress,
    add_corpus_args,
    add_model_args,
    check_output_path,
    encode_options_from_args,
    json_safe,
    load_corpus_from_args,
    report_corpus,
    resolve_model_from_args,
    write_text,
)
from analysis.errors import OptionError


def _cmd_models(args: argparse.Namespace) -> int:
    from analysis.models import list_models

    rows = list_models()
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "hub_id": a.info.hub_id,
                        "name": a.info.short_name,
                        "dimension": a.info.dimension,
                        "parameters_millions": a.info.parameters_millions,
                        "family": a.info.family,
                        "ends_with_normalize": a.info.ends_with_normalize,
                        "trust_remote_code": a.info.needs_trust_remote_code,
                        "prompts": a.info.prompts,
                        "available": a.available,
                        "where": a.where,
                    }
                    for a in rows
                ],
                indent=2,
            )
        )
        return EXIT_OK
    print(f"{'model':<62} {'dim':>5} {'params':>7}  {'family':<22} {'available here'}")
    for a in rows:
        flag = "yes" if a.available else "no"
        extra = " (trust_remote_code)" if a.info.needs_trust_remote_code else ""
        print(
            f"{a.info.hub_id:<62} {a.info.dimension:>5} {a.info.parameters_millions:>6.0f}M  "
            f"{a.info.family:<22} {flag}: {a.where}{extra}"
        )
    return EXIT_OK


def _cmd_corpora(args: argparse.Namespace) -> int:
    from analysis.corpora import builtin_corpora

    rows = builtin_corpora()
    if args.format == "json":
        print(json.dumps([r.__dict__ for r in rows], indent=2))
        return EXIT_OK
    for r in rows:
        status = "available" if r.available else f"unavailable: {r.reason}"
        print(f"{r.name:<28} {r.title} ({status})")
    return EXIT_OK


def _cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from analysis.encoding import view_of
    from analysis.pipeline import get_embeddings

    output = check_output_path(args.output, (".npy", ".parquet"))
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    result = get_embeddings(model, corpus, options=options, progress=None if args.quiet else Progress("Encoding"))
    matrix = view_of(result.raw, args.view)
    source = "cache" if result.from_cache else f"encoded {result.n_encoded}, reused {result.n_reused}"
    print(f"{model.name}: {matrix.shape[0]} texts x {matrix.shape[1]} dims ({args.view}; {source})", file=sys.stderr)
    if output is not None:
        if output.suffix.lower() == ".npy":
            np.save(output, matrix)
        else:
            import pandas as pd

            frame = pd.DataFrame(matrix, columns=[f"e{j}" for j in range(matrix.shape[1])])
            frame.insert(0, "text", list(corpus.texts))
            if corpus.labels is not None:
                frame.insert(1, "label", list(corpus.labels))
            frame.to_parquet(output, index=False)
        print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


def _cmd_stats(args: argparse.Namespace) -> int:
    from analysis.pipeline import get_stats

    allowed = {"json": (".json",), "csv": (".csv",), "parquet": (".parquet",)}[args.format]
    output = check_output_path(args.output, allowed)
    if args.format == "parquet" and output is None:
        raise OptionError("--format parquet needs --output FILE.parquet.")
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    result = get_stats(model, corpus, options=options, progress=None if args.quiet else Progress("Encoding"))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(f"note: {result.backend_summary}", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(json_safe(result.to_json_dict()), indent=1)
        write_text(text, output)
        return EXIT_OK
    import pandas as pd

    long = pd.concat([result.raw.assign(view="raw"), result.normalized.assign(view="normalized")], ignore_index=True)
    long["dead"] = long["dim"].isin(result.dead_dims)
    long = long[["view", *[c for c in long.columns if c != "view"]]]
    if args.format == "csv":
        write_text(long.to_csv(index=False), output)
    else:
        long.to_parquet(output, index=False)
    return EXIT_OK


def register(sub: Any) -> None:
    """Add models, corpora, embed and stats to the subcommand parsers ``sub``."""
    p = sub.add_parser("models", help="list the model catalog with availability here")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("corpora", help="list the built-in corpora")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("embed", help="compute embeddings into the cache, optionally export them")
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument("--view", choices=["raw", "normalized"], default="raw")
    p.add_argument("--output", "-o", default=None, help="write the matrix to FILE.npy or FILE.parquet")

    p = sub.add_parser("stats", help="per-dimension statistics of both views and dead dimensions")
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument("--format", choices=["json", "csv", "parquet"], default="json")
    p.add_argument("--output", "-o", default=None, help="file to write (stdout for json/csv when omitted)")


#: Subcommand name -> handler.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "models": _cmd_models,
    "corpora": _cmd_corpora,
    "embed": _cmd_embed,
    "stats": _cmd_stats,
}
