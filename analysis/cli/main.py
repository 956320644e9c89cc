"""``python -m analysis`` (or ``dimscope``): the library from the command line, no dashboard needed.

Exit codes: 0 success, 2 bad input (one-line message on stderr, no traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from analysis import settings
from analysis.cli import commands, compress_command, export_command, report_commands, share_command
from analysis.cli.background import EXIT_INTERRUPTED, finish_background_work
from analysis.cli.common import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, Parser
from analysis.errors import DimScopeError

#: Subcommand name -> handler, in the order ``--help`` lists them.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    **commands.COMMANDS,
    **report_commands.COMMANDS,
    **compress_command.COMMANDS,
    **share_command.COMMANDS,
    **export_command.COMMANDS,
}


CACHE_RULE = (
    "Results are cached in one folder per user, wherever you run DimScope from (the dashboard, "
    "python -m analysis, dimscope): $XDG_CACHE_HOME/dimscope, by default ~/.cache/dimscope, or "
    "$DIMSCOPE_CACHE_DIR when set. Here: {cache}. -v prints it on every run."
)
VERBOSE_HELP = "print where results are cached (and why there) on stderr"


def build_parser(prog: str = "python -m analysis") -> argparse.ArgumentParser:
    """The whole command line: one subcommand per entry of :data:`COMMANDS`."""
    parser = Parser(
        prog=prog,
        description="DimScope: per-dimension analysis of sentence embeddings.",
        epilog=CACHE_RULE.format(cache=settings.cache_dir()),
    )
    parser.add_argument("--verbose", "-v", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    commands.register(sub)
    report_commands.register(sub)
    compress_command.register(sub)
    share_command.register(sub)
    export_command.register(sub)
    for command in sub.choices.values():  # before or after the subcommand: `dimscope stats -v` works too
        command.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m analysis") -> int:
    """Run the CLI; returns the exit code instead of raising."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors
        return int(exc.code or 0)
    if args.verbose:
        print(f"cache: {settings.cache_dir()} ({settings.cache_dir_origin()})", file=sys.stderr)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # the output is complete before any background work is finished
    except DimScopeError as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = EXIT_OK
    except Exception as exc:  # a bug: say so in one line; the traceback is there on request
        if os.environ.get("DIMSCOPE_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with DIMSCOPE_DEBUG=1 for details)", file=sys.stderr)
        code = EXIT_INTERNAL
    finish_background_work(quiet=getattr(args, "quiet", False), interrupted=code == EXIT_INTERRUPTED)
    return code


def console_main() -> None:
    """The ``dimscope`` console script."""
    sys.exit(main(prog="dimscope"))
