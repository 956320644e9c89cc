"""CLI subcommands beyond embed/stats: diagnose, geometry, select, multilingual."""

from __future__ import annotations

import argparse
import json
import sys

from analysis.cli import (
    _add_corpus_args,
    _add_model_args,
    _json_safe,
    _Progress,
    _report_corpus,
    encode_options_from_args,
    load_corpus_from_args,
    register_command,
    resolve_model_from_args,
)
from analysis.errors import OptionError


def _print_json(value) -> None:
    sys.stdout.write(json.dumps(_json_safe(value), indent=1) + "\n")


# --- diagnose ------------------------------------------------------------------------------------


def _register_diagnose(sub) -> None:
    p = sub.add_parser("diagnose", help="find dead dimensions from the weights alone (no text)")
    _add_model_args(p)
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--relative-threshold", type=float, default=1e-3)
    p.add_argument("--compare-corpus", default=None, help="also compare with dead dims found on this corpus")


def _run_diagnose(args: argparse.Namespace) -> int:
    from analysis.diagnose import compare_with_corpus, diagnose_model_folder

    model = resolve_model_from_args(args)
    diagnosis = diagnose_model_folder(model.path, relative_threshold=args.relative_threshold)
    report = {"model": model.name, **diagnosis.to_dict()}
    if args.compare_corpus:
        from analysis.corpora import load_corpus
        from analysis.pipeline import get_stats

        stats = get_stats(model, load_corpus(args.compare_corpus))
        report["corpus_comparison"] = compare_with_corpus(diagnosis, sorted(set(stats.dead_dims) | set(stats.constant_dims)))
    if args.format == "json":
        _print_json(report)
        return 0
    print(f"{model.name} ({diagnosis.architecture})")
    print(diagnosis.message)
    for e in diagnosis.evidence:
        print(f"  dim {e.dim:>5}  {e.verdict:<8}  weight {e.weight: .3e}  bias {e.bias: .3e}  ({e.layer})")
    if "corpus_comparison" in report:
        print(report["corpus_comparison"]["explanation"])
    return 0


# --- geometry ------------------------------------------------------------------------------------


def _register_geometry(sub) -> None:
    p = sub.add_parser("geometry", help="anisotropy, IsoScore, effective rank, rogue dims, for both views")
    _add_model_args(p)
    _add_corpus_args(p)
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--postprocessing", choices=["none", "standardize", "all_but_the_top", "whiten"], default="none")


def _run_geometry(args: argparse.Namespace) -> int:
    from analysis.reports import geometry_report

    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    _report_corpus(corpus, args.quiet)
    report = geometry_report(
        model, corpus, postprocessing=args.postprocessing, options=options,
        progress=None if args.quiet else _Progress("Encoding"),
    )
    if args.format == "json":
        _print_json(report)
        return 0
    print(f"{report['model']} on {report['corpus']}: {report['n_texts']} texts x {report['dimension']} dims"
          f" (post-processing: {report['postprocessing']})")
    print(f"{'':<22}{'raw':>12}{'normalized':>12}")
    for name in ("anisotropy", "anisotropy_centered", "isoscore", "effective_rank", "effective_rank_ratio", "n_outlier_dims"):
        print(f"{name:<22}{report['raw'][name]:>12.4g}{report['normalized'][name]:>12.4g}")
    print(f"{'top rogue dims':<22}{str(report['raw']['top_rogue_dims']):>12}  {report['normalized']['top_rogue_dims']}")
    return 0


# --- select --------------------------------------------------------------------------------------


def _register_select(sub) -> None:
    p = sub.add_parser("select", help="top-variance vs PCA vs random dimensions on a labeled corpus")
    _add_model_args(p)
    _add_corpus_args(p)
    p.add_argument("--k", type=int, action="append", default=None, help="dimension counts to score (repeatable)")
    p.add_argument("--random-seeds", type=int, default=5)
    p.add_argument("--view", choices=["raw", "normalized"], default="normalized")
    p.add_argument("--format", choices=["json", "text"], default="text")
    p.add_argument("--export-dims", type=int, default=None, metavar="K",
                   help="print the K highest-variance dimensions (0-based), one line, comma-separated")


def _run_select(args: argparse.Namespace) -> int:
    from analysis.reports import selection_report

    if args.random_seeds < 1 or args.random_seeds > 50:
        raise OptionError(f"--random-seeds must be between 1 and 50, got {args.random_seeds}.")
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    _report_corpus(corpus, args.quiet)
    report = selection_report(
        model, corpus, ks=args.k, n_random_seeds=args.random_seeds, view=args.view, options=options,
        progress=None if args.quiet else _Progress("Scoring"),
    )
    if args.export_dims is not None:
        order = report["top_variance_order"]
        if not 1 <= args.export_dims <= len(order):
            raise OptionError(f"--export-dims must be between 1 and {len(order)}, got {args.export_dims}.")
        print(",".join(str(d) for d in order[: args.export_dims]))
        return 0
    if args.format == "json":
        _print_json(report)
        return 0
    print(report["verdict"])
    return 0


# --- multilingual --------------------------------------------------------------------------------


def _register_multilingual(sub) -> None:
    p = sub.add_parser("multilingual", help="per-language statistics and parallel-sentence cosines")
    _add_model_args(p)
    _add_corpus_args(p)
    p.add_argument("--format", choices=["json", "text"], default="text")


def _run_multilingual(args: argparse.Namespace) -> int:
    from analysis.multilingual import multilingual_report

    if args.corpus is None:
        args.corpus = "chatterbot-multilingual"
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    _report_corpus(corpus, args.quiet)
    report = multilingual_report(model, corpus, options=options, progress=None if args.quiet else _Progress("Encoding"))
    if args.format == "json":
        _print_json(report)
        return 0
    print(f"{report['model']} on {report['corpus']}")
    for row in report["languages"]:
        print(f"  {row['language']:<20} n={row['n_texts']:>6}  median std (normalized) {row['median_std_normalized']:.4f}"
              f"  dead {row['dead_dims']}")
    if report["parallel"]:
        p = report["parallel"]
        print(f"  parallel pairs: {p['n_pairs']}, mean cosine {p['mean_cosine']:.3f}")
    return 0


register_command("diagnose", _register_diagnose, _run_diagnose)
register_command("geometry", _register_geometry, _run_geometry)
register_command("select", _register_select, _run_select)
register_command("multilingual", _register_multilingual, _run_multilingual)
