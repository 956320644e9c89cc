"""``python -m analysis``: the library from the command line, no dashboard needed.

Exit codes: 0 success, 2 bad input (one-line message on stderr, no traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from analysis.errors import DimScopeError, OptionError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see: python -m analysis {self.prog.split()[-1]} --help)\n")


class _Progress:
    """A one-line progress bar on stderr, fed by the library's (done, total) callback."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label, self.enabled, self.start, self.last = label, enabled, time.time(), -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.time()
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        rate = done / max(now - self.start, 1e-9)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{total} ({rate:.0f}/s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", default=None, help="catalog name, hub id or model folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow models that run their own code (nomic)")


def _add_corpus_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", "-c", default=None, help="built-in corpus name or a file (default: chatterbot-english)")
    parser.add_argument("--text-column", default=None, help="text column of a CSV/TSV/JSON/Parquet file")
    parser.add_argument("--label-column", default=None, help="optional label column")
    parser.add_argument("--language-column", default=None, help="optional language column")
    parser.add_argument("--max-texts", type=int, default=None, help="keep at most this many texts")
    parser.add_argument("--prompt", default=None, help="text prepended to every input (default: the model's analysis prompt)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backend", default="torch",
                        help="encoding backend: torch (the reference), onnx (fp32: faster, same statistics to ~1e-8) or "
                             "onnx-int8 (fastest, std within ~1e-3); see benchmarks/README.md")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m analysis", description="DimScope: per-dimension analysis of sentence embeddings.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("models", help="list the model catalog with availability here")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("corpora", help="list the built-in corpora")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("embed", help="compute embeddings into the cache, optionally export them")
    _add_model_args(p)
    _add_corpus_args(p)
    p.add_argument("--view", choices=["raw", "normalized"], default="raw")
    p.add_argument("--output", "-o", default=None, help="write the matrix to FILE.npy or FILE.parquet")

    p = sub.add_parser("stats", help="per-dimension statistics of both views and dead dimensions")
    _add_model_args(p)
    _add_corpus_args(p)
    p.add_argument("--format", choices=["json", "csv", "parquet"], default="json")
    p.add_argument("--output", "-o", default=None, help="file to write (stdout for json/csv when omitted)")

    for name, handler in _EXTRA_COMMANDS.items():
        handler["register"](sub)
    return parser


# Other modules (diagnose, geometry, selection...) register subcommands here.
_EXTRA_COMMANDS: dict[str, dict[str, Callable[..., Any]]] = {}


def register_command(name: str, register: Callable[[Any], None], run: Callable[[argparse.Namespace], int]) -> None:
    _EXTRA_COMMANDS[name] = {"register": register, "run": run}


def load_corpus_from_args(args: argparse.Namespace):
    from analysis.corpora import DEFAULT_CORPUS, load_corpus

    if args.max_texts is not None and args.max_texts < 1:
        raise OptionError(f"--max-texts must be at least 1, got {args.max_texts}.")
    options = {k: v for k, v in {
        "text_column": args.text_column,
        "label_column": args.label_column,
        "language_column": args.language_column,
        "max_texts": args.max_texts,
    }.items() if v is not None}
    return load_corpus(args.corpus or DEFAULT_CORPUS, **options)


def resolve_model_from_args(args: argparse.Namespace):
    from analysis.models import DEFAULT_MODEL, resolve_model

    return resolve_model(args.model or DEFAULT_MODEL, allow_trust_remote_code=args.trust_remote_code)


def encode_options_from_args(args: argparse.Namespace):
    from analysis.pipeline import EncodeOptions

    options = EncodeOptions(prompt=args.prompt, batch_size=args.batch_size, backend=args.backend)
    options.validate()
    return options


def _check_output_path(path: str | None, allowed: Sequence[str]) -> Path | None:
    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in allowed:
        raise OptionError(f"--output must end in {' or '.join(allowed)}, got '{out.name}'.")
    if out.is_dir():
        raise OptionError(f"--output '{path}' is a folder; give a file name.")
    if not out.parent.exists():
        raise OptionError(f"The folder of --output '{path}' does not exist.")
    return out


def _report_corpus(corpus, quiet: bool) -> None:
    if quiet:
        return
    for message in corpus.report.messages():
        print(f"note: {message}", file=sys.stderr)


def _cmd_models(args: argparse.Namespace) -> int:
    from analysis.models import list_models

    rows = list_models()
    if args.format == "json":
        print(json.dumps([
            {
                "hub_id": a.info.hub_id, "name": a.info.short_name, "dimension": a.info.dimension,
                "parameters_millions": a.info.parameters_millions, "family": a.info.family,
                "ends_with_normalize": a.info.ends_with_normalize, "trust_remote_code": a.info.needs_trust_remote_code,
                "prompts": a.info.prompts, "available": a.available, "where": a.where,
            } for a in rows
        ], indent=2))
        return EXIT_OK
    print(f"{'model':<62} {'dim':>5} {'params':>7}  {'family':<22} {'available here'}")
    for a in rows:
        flag = "yes" if a.available else "no"
        extra = " (trust_remote_code)" if a.info.needs_trust_remote_code else ""
        print(f"{a.info.hub_id:<62} {a.info.dimension:>5} {a.info.parameters_millions:>6.0f}M  {a.info.family:<22} {flag}: {a.where}{extra}")
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

    from analysis.embeddings import view_of
    from analysis.pipeline import get_embeddings

    output = _check_output_path(args.output, (".npy", ".parquet"))
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    _report_corpus(corpus, args.quiet)
    result = get_embeddings(
        model, corpus, options=options, progress=None if args.quiet else _Progress("Encoding")
    )
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
    output = _check_output_path(args.output, allowed)
    if args.format == "parquet" and output is None:
        raise OptionError("--format parquet needs --output FILE.parquet.")
    options = encode_options_from_args(args)
    corpus = load_corpus_from_args(args)
    model = resolve_model_from_args(args)
    _report_corpus(corpus, args.quiet)
    result = get_stats(model, corpus, options=options, progress=None if args.quiet else _Progress("Encoding"))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(_json_safe(result.to_json_dict()), indent=1)
        _write_text(text, output)
        return EXIT_OK
    import pandas as pd

    long = pd.concat(
        [result.raw.assign(view="raw"), result.normalized.assign(view="normalized")], ignore_index=True
    )
    long["dead"] = long["dim"].isin(result.dead_dims)
    long = long[["view", *[c for c in long.columns if c != "view"]]]
    if args.format == "csv":
        _write_text(long.to_csv(index=False), output)
    else:
        long.to_parquet(output, index=False)
    return EXIT_OK


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _write_text(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "models": _cmd_models,
    "corpora": _cmd_corpora,
    "embed": _cmd_embed,
    "stats": _cmd_stats,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of raising."""
    _register_builtin_extras()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors
        return int(exc.code or 0)
    handler = _COMMANDS.get(args.command) or _EXTRA_COMMANDS[args.command]["run"]
    try:
        return handler(args)
    except DimScopeError as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: say so in one line; the traceback is there on request
        if os.environ.get("DIMSCOPE_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with DIMSCOPE_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_INTERNAL


def _register_builtin_extras() -> None:
    """Subcommands that live beside their library modules."""
    import importlib

    for module in ("analysis.cli_extras",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
