"""The report subcommands: diagnose, geometry, select and multilingual."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from analysis.cli.common import (
    Progress,
    add_corpus_args,
    add_model_args,
    cli_store,
    encode_options_from_args,
    load_corpus_from_args,
    print_json,
    report_corpus,
    resolve_model_from_args,
)
from analysis.errors import OptionError
from analysis.wording import plural

# --- diagnose ------------------------------------------------------------------------------------


def _register_diagnose(sub) -> None:
    p = sub.add_parser("diagnose", help="find dead dimensions from the weights alone (no text)")
    add_model_args(p)
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--relative-threshold", type=float, default=1e-3)
    p.add_argument("--compare-corpus", default=None, help="also compare with dead dims found on this corpus")


def _run_diagnose(args: argparse.Namespace) -> int:
    from analysis.reports.diagnosis import diagnosis_report

    model = resolve_model_from_args(args)
    corpus_dead = None
    if args.compare_corpus:  # the corpus side needs the pipeline; the scan alone reads only weights
        from analysis.corpora import load_corpus
        from analysis.pipeline import get_stats

        stats = get_stats(model, load_corpus(args.compare_corpus), store=cli_store())
        corpus_dead = sorted(set(stats.dead_dims) | set(stats.constant_dims))
    report = diagnosis_report(model, corpus_dead, relative_threshold=args.relative_threshold)
    if args.format == "json":
        print_json(report.to_dict())
        return 0
    print(f"{model.name} ({report.architecture})")
    print(report.message)
    for e in report.evidence:
        print(f"  dim {e.dim:>5}  {e.verdict:<8}  weight {e.weight: .3e}  bias {e.bias: .3e}  ({e.layer})")
    if report.corpus_comparison is not None:
        print(report.corpus_comparison.explanation)
    return 0


# --- geometry ------------------------------------------------------------------------------------


def _register_geometry(sub) -> None:
    p = sub.add_parser("geometry", help="anisotropy, IsoScore, effective rank, rogue dims, for both views")
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--postprocessing", choices=["none", "standardize", "all_but_the_top", "whiten"], default="none")


def _run_geometry(args: argparse.Namespace) -> int:
    from analysis.reports.geometry import geometry_report

    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    report = geometry_report(
        model,
        corpus,
        postprocessing=args.postprocessing,
        options=options,
        store=cli_store(),
        progress=None if args.quiet else Progress("Encoding"),
    )
    if args.format == "json":
        print_json(report.to_dict())
        return 0
    print(
        f"{report.model} on {report.corpus}: {plural(report.n_texts, 'text')} x {report.dimension} dims"
        f" (post-processing: {report.postprocessing})"
    )
    print(f"{'':<22}{'raw':>12}{'normalized':>12}")
    for name in (
        "anisotropy",
        "anisotropy_centered",
        "isoscore",
        "effective_rank",
        "effective_rank_ratio",
        "n_outlier_dims",
    ):
        print(f"{name:<22}{getattr(report.raw, name):>12.4g}{getattr(report.normalized, name):>12.4g}")
    print(f"{'top rogue dims':<22}{str(report.raw.top_rogue_dims):>12}  {report.normalized.top_rogue_dims}")
    return 0


# --- select --------------------------------------------------------------------------------------


def _register_select(sub) -> None:
    p = sub.add_parser("select", help="top-variance vs PCA vs random dimensions on a labeled corpus")
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument("--k", type=int, action="append", default=None, help="dimension counts to score (repeatable)")
    p.add_argument("--random-seeds", type=int, default=5)
    p.add_argument(
        "--neighbors",
        type=int,
        default=None,
        metavar="N",
        help="nearest neighbours of the kNN accuracy and neighbour overlap (default: 10, or half of the "
        "other texts on a corpus of fewer than 21; the output says which)",
    )
    p.add_argument("--view", choices=["raw", "normalized"], default="normalized")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument(
        "--export-dims",
        type=int,
        default=None,
        metavar="K",
        help="print the K highest-variance dimensions (0-based), one line, comma-separated",
    )


def _run_select(args: argparse.Namespace) -> int:
    from analysis.reports.selection import selection_report

    if args.random_seeds < 1 or args.random_seeds > 50:
        raise OptionError(f"--random-seeds must be between 1 and 50, got {args.random_seeds}.")
    if args.neighbors is not None and args.neighbors < 1:
        raise OptionError(f"--neighbors must be a whole number of at least 1, got {args.neighbors}.")
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    report = selection_report(
        model,
        corpus,
        ks=args.k,
        n_random_seeds=args.random_seeds,
        n_neighbors=args.neighbors,
        view=args.view,
        options=options,
        store=cli_store(),
        progress=None if args.quiet else Progress("Scoring"),
    )
    if args.export_dims is not None:
        order = report.top_variance_order
        if not 1 <= args.export_dims <= len(order):
            raise OptionError(f"--export-dims must be between 1 and {len(order)}, got {args.export_dims}.")
        print(",".join(str(d) for d in order[: args.export_dims]))
        return 0
    if args.format == "json":
        print_json(report.to_dict())
        return 0
    print(report.verdict)
    return 0


# --- multilingual --------------------------------------------------------------------------------


def _register_multilingual(sub) -> None:
    p = sub.add_parser("multilingual", help="per-language statistics and parallel-sentence cosines")
    add_model_args(p)
    add_corpus_args(p)
    p.add_argument(
        "--max-per-language",
        default=None,
        metavar="N",
        help="analyse at most N texts of each language, translated ones first, as the Languages page does "
        "(default 300; 'all' for every text)",
    )
    p.add_argument("--format", choices=["json", "text"], default="text")


def _max_per_language(value: str | None) -> int | None:
    from analysis.reports.multilingual import MAX_PER_LANGUAGE

    if value is None:
        return MAX_PER_LANGUAGE
    if value.strip().lower() == "all":
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise OptionError(f"--max-per-language takes a whole number of at least 1, or 'all'; got {value!r}.")
    return int(value)


def _run_multilingual(args: argparse.Namespace) -> int:
    from analysis.reports.multilingual import multilingual_report

    max_per_language = _max_per_language(args.max_per_language)
    if args.corpus is None:
        args.corpus = "chatterbot-multilingual"
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    report_corpus(corpus, args.quiet)
    report = multilingual_report(
        model,
        corpus,
        max_per_language=max_per_language,
        options=options,
        store=cli_store(),
        progress=None if args.quiet else Progress("Encoding"),
    )
    if args.format == "json":
        print_json(report.to_dict())
        return 0
    print(f"{report.model} on {report.corpus}")
    if report.n_texts < report.n_texts_in_corpus:
        print(
            f"  at most {report.max_per_language} texts per language (translated ones first): "
            f"{report.n_texts:,} of {report.n_texts_in_corpus:,} texts; --max-per-language all for every text"
        )
    for row in report.languages:
        print(
            f"  {row.language:<20} n={row.n_texts:>6}  median std (normalized) {row.median_std_normalized:.4f}"
            f"  dead {row.dead_dims}"
        )
    if report.parallel is not None:
        print(f"  parallel pairs: {report.parallel.n_pairs}, mean cosine {report.parallel.mean_cosine:.3f}")
    return 0


def register(sub: Any) -> None:
    """Add diagnose, geometry, select and multilingual to the subcommand parsers ``sub``."""
    _register_diagnose(sub)
    _register_geometry(sub)
    _register_select(sub)
    _register_multilingual(sub)


#: Subcommand name -> handler.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "diagnose": _run_diagnose,
    "geometry": _run_geometry,
    "select": _run_select,
    "multilingual": _run_multilingual,
}
