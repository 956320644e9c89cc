"""The core subcommands: models, corpora, embed and stats."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
from analysis.corpora import plural
from analysis.errors import OptionError

if TYPE_CHECKING:
    from analysis.pipeline import StatsResult


def _cmd_models(args: argparse.Namespace) -> int:
    from analysis import settings
    from analysis.models import list_models

    # Download sizes come from the hub; wait for them a bounded time (offline: not asked at all).
    rows = list_models(sizes=True, wait_s=min(settings.hub_timeout_s(), 10.0))
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
                        "status": a.status,
                        "download_bytes": a.download_bytes,
                        "where": a.where,
                    }
                    for a in rows
                ],
                indent=2,
            )
        )
        return EXIT_OK
    print(f"{'model':<62} {'dim':>5} {'params':>7}  {'family':<22} {'here'}")
    for a in rows:
        extra = " (trust_remote_code)" if a.info.needs_trust_remote_code else ""
        print(
            f"{a.info.hub_id:<62} {a.info.dimension:>5} {a.info.parameters_millions:>6.0f}M  "
            f"{a.info.family:<22} {a.label}: {a.where}{extra}"
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
    corpus = load_corpus_from_args(args, statistics=False)  # one text embeds fine
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    result = get_embeddings(model, corpus, options=options, progress=None if args.quiet else Progress("Encoding"))
    matrix = view_of(result.raw, args.view)
    source = "cache" if result.from_cache else f"encoded {result.n_encoded}, reused {result.n_reused}"
    print(
        f"{model.name}: {plural(matrix.shape[0], 'text')} x {matrix.shape[1]} dims ({args.view}; {source})",
        file=sys.stderr,
    )
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
    from analysis.encoding.backends import missing_runtimes_note
    from analysis.pipeline import get_stats

    allowed = {"json": (".json",), "csv": (".csv",), "parquet": (".parquet",), "text": (".txt",)}[args.format]
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
        if options.backend == "auto" and (missing := missing_runtimes_note()):
            print(f"note: {missing}", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(json_safe(result.to_json_dict()), indent=1)
        write_text(text, output)
        return EXIT_OK
    if args.format == "text":
        write_text(_stats_summary(result), output)
        return EXIT_OK
    import pandas as pd

    long = pd.concat([result.raw.assign(view="raw"), result.normalized.assign(view="normalized")], ignore_index=True)
    long["dead"] = long["dim"].isin(result.dead_dims)
    long = long[["view", *[c for c in long.columns if c != "view"]]]
    if args.format == "csv":
        write_text(_budget_comment(result) + long.to_csv(index=False), output)
    else:
        long.to_parquet(output, index=False)
    return EXIT_OK


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def _budget_comment(result: StatsResult) -> str:
    """The CSV's summary: ``#`` lines above the header, so ``pandas.read_csv(path, comment="#")``
    (or any reader told to skip ``#`` lines) still gets one row per view and dimension."""
    lines = [
        f"DimScope stats: {_one_line(result.model_name)} on {_one_line(result.corpus_name)}, "
        f"{result.n_texts} texts x {result.dimension} dims; dead_dims={' '.join(map(str, result.dead_dims))}",
        "variance budget of the normalized view, one key=value a line; "
        'read the rows with pandas.read_csv(path, comment="#")',
        *(f"{key}={'' if value != value else value}" for key, value in result.budget.to_dict().items()),
    ]
    return "".join(f"# {line}\n" for line in lines)


def _stats_summary(result: StatsResult) -> str:
    """``stats --format text``: a short human summary, one line of it the variance budget."""
    import numpy as np

    medians = {view: float(np.median(result.columns(view)["std"])) for view in ("raw", "normalized")}
    source = "from the cache" if result.from_cache else "computed"
    dead = ", ".join(map(str, result.dead_dims)) or "none"
    return "\n".join(
        [
            f"{result.model_name} on {result.corpus_name}: {result.n_texts:,} texts x {result.dimension} dims "
            f"({source})",
            f"dead dimensions (normalized std < 1% of the median std): {dead}",
            f"median std: raw {medians['raw']:.4g}, normalized {medians['normalized']:.4g}",
            result.budget.summary_line(),
        ]
    )


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
    p.add_argument(
        "--format",
        choices=["json", "csv", "parquet", "text"],
        default="json",
        help="json (with the variance budget beside dead_dims), csv (the budget as '#' lines above the rows), "
        "parquet, or text (a short summary)",
    )
    p.add_argument("--output", "-o", default=None, help="file to write (stdout for json/csv/text when omitted)")


#: Subcommand name -> handler.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "models": _cmd_models,
    "corpora": _cmd_corpora,
    "embed": _cmd_embed,
    "stats": _cmd_stats,
}
